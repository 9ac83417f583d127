"""file_sensor and sensor keep the connector contract: file_sensor with a file that exists and timing out,
sensor with flytekit's FileSensor and with an allowed sensor class.

CONNECTOR_SENSOR_ROOTS is the test's tmp dir (conftest's autouse ``sensor_root``), set before the
contract builds the connector, which reads it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from connector_sensor import FILE_SENSOR_MODULE, FILE_SENSOR_NAME, FileSensor, Sensor

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


class TestSensorServesFlytekitsFileSensor(ConnectorContract):
    implementation = Sensor
    custom = {"sensor_module": FILE_SENSOR_MODULE, "sensor_name": FILE_SENSOR_NAME, "sensor_config": None}

    @pytest.fixture
    def contract_inputs(self, tmp_path: Path) -> dict[str, str]:
        (tmp_path / "ready").write_text("")
        return {"path": str(tmp_path / "ready")}


class TestSensorServesAnAllowedClass(ConnectorContract):
    implementation = Sensor
    custom = {
        "sensor_module": "sensor_samples",
        "sensor_name": "AsyncMarkerSensor",
        "sensor_config": {"k": 1},
    }

    @pytest.fixture
    def contract_connector(self, monkeypatch: pytest.MonkeyPatch) -> Sensor:
        monkeypatch.setenv("CONNECTOR_SENSORS", "sensor_samples:AsyncMarkerSensor")
        return Sensor()

    @pytest.fixture
    def contract_inputs(self, tmp_path: Path) -> dict[str, str]:
        (tmp_path / "marker").write_text("")
        return {"marker": str(tmp_path / "marker")}
