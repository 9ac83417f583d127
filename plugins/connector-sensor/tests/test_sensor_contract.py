"""file_sensor keeps the connector contract: once with a file that exists, once timing out."""

from __future__ import annotations

from pathlib import Path

import pytest
from connector_sensor import FileSensor

import connector
from connector.testing import ConnectorContract, FakeClock


class TestFileSensorFindsAFile(ConnectorContract):
    implementation = FileSensor

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
