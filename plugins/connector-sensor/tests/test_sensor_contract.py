"""file_sensor keeps the connector contract: once with a file that exists, once timing out.

CONNECTOR_SENSOR_ROOTS is the test's tmp dir (conftest's autouse ``sensor_root``), set before the
contract builds the connector, which reads it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from connector_sensor import FileSensor

import connector
from connector.testing import ConnectorContract, FakeClock


class TestFileSensorFindsAFile(ConnectorContract):
    implementation = FileSensor

    @pytest.fixture(autouse=True)
    def roots(self, sensor_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Only the tmp dir: the contract's connector is built after this (autouse fixtures come first)."""
        monkeypatch.setenv("CONNECTOR_SENSOR_ROOTS", str(sensor_root))

    @pytest.fixture
    def contract_inputs(self, tmp_path: Path) -> dict[str, str]:
        (tmp_path / "ready").write_text("")
        return {"path": str(tmp_path / "ready")}


class TestFileSensorTimesOut(ConnectorContract):
    implementation = FileSensor
    custom = {"timeout": "10s"}
    expected_phase = connector.Phase.FAILED
    poll_interval = 2.0

    @pytest.fixture
    def contract_connector(self, contract_clock: FakeClock) -> FileSensor:
        return FileSensor(clock=contract_clock)

    @pytest.fixture
    def contract_inputs(self, tmp_path: Path) -> dict[str, str]:
        return {"path": str(tmp_path / "never")}
