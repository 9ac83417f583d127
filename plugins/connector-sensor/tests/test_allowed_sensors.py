"""Which sensor classes the sensor task type may import: CONNECTOR_SENSORS and connector.sensors entry points.

Entry points are tested twice: with ``importlib.metadata.EntryPoint`` values for the malformed
ones, and with a real wheel installed by pip for the path a user takes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import connector_sensor
import pytest
from connector_sensor import (
    FILE_SENSOR_MODULE,
    AllowedSensor,
    AllowedSensors,
    Sensor,
    SensorMetadata,
    SensorSettingsError,
)
from sensor_wheels import build_wheel, pip_install_into

import connector
from connector.server._status import status_for
from connector.testing import LifecycleDriver, registry_of

Phase = connector.Phase


def raises_exactly(kind: type[BaseException], message: str) -> pytest.RaisesExc[Any]:
    return pytest.raises(kind, match=f"^{re.escape(message)}$")


def not_module_class(entry: str) -> str:
    return (
        f"CONNECTOR_SENSORS: {entry!r} is not module:ClassName; list sensor classes as pkg.module:ClassName "
        "separated by ',' (the module where the class is defined)"
    )


def test_the_setting_lists_module_class_pairs() -> None:
    sensors = AllowedSensors.from_environment(
        {"CONNECTOR_SENSORS": " pkg.sensors:Ready , other:Other"}, entry_points=[]
    )
    assert list(sensors) == [
        AllowedSensor("pkg.sensors", "Ready", "CONNECTOR_SENSORS"),
        AllowedSensor("other", "Other", "CONNECTOR_SENSORS"),
    ]
    assert sensors.find("pkg.sensors", "Ready") == AllowedSensor("pkg.sensors", "Ready", "CONNECTOR_SENSORS")
    assert sensors.find("pkg", "sensors:Ready") is None


@pytest.mark.parametrize(("environ", "limit"), [({}, 60.0), ({"CONNECTOR_IMPORT_TIMEOUT": " 2.5 "}, 2.5)])
def test_an_import_may_take_as_long_as_the_cores_import_timeout(
    environ: dict[str, str], limit: float
) -> None:
    assert AllowedSensors.from_environment(environ, entry_points=[]).import_timeout == limit
    assert AllowedSensors().import_timeout == 60.0


def test_a_bad_import_timeout_is_the_cores_configuration_error() -> None:
    with raises_exactly(
        connector.ConfigurationError,
        "CONNECTOR_IMPORT_TIMEOUT: '0' is not a positive number of seconds (for example "
        "CONNECTOR_IMPORT_TIMEOUT=120)",
    ):
        AllowedSensors.from_environment({"CONNECTOR_IMPORT_TIMEOUT": "0"}, entry_points=[])
    with raises_exactly(
        connector.ConfigurationError, "import_timeout must be a positive number of seconds, got -1"
    ):
        AllowedSensors(import_timeout=-1)


def test_the_import_timeout_setting_is_the_cores() -> None:
    from connector._settings import IMPORT_TIMEOUT_VARIABLE

    assert connector_sensor.IMPORT_TIMEOUT_VARIABLE == IMPORT_TIMEOUT_VARIABLE


@pytest.mark.parametrize("value", [None, "", "  "])
def test_unset_or_blank_allows_nothing(value: str | None) -> None:
    environ = {} if value is None else {"CONNECTOR_SENSORS": value}
    assert len(AllowedSensors.from_environment(environ, entry_points=[])) == 0


@pytest.mark.parametrize(
    ("value", "entry"),
    [
        ("pkg.sensors", "pkg.sensors"),
        ("pkg.sensors:", "pkg.sensors:"),
        (":Ready", ":Ready"),
        ("pkg-x:Ready", "pkg-x:Ready"),
        ("pkg.sensors:Outer.Inner", "pkg.sensors:Outer.Inner"),
        ("pkg..x:Ready", "pkg..x:Ready"),
        (".pkg:Ready", ".pkg:Ready"),
        ("a:B,,c:D", ""),
        ("a:B,", ""),
    ],
)
def test_an_entry_that_is_not_module_class_is_a_settings_error(value: str, entry: str) -> None:
    with raises_exactly(SensorSettingsError, not_module_class(entry)) as info:
        AllowedSensors.from_environment({"CONNECTOR_SENSORS": value}, entry_points=[])
    assert (info.value.variable, info.value.entry) == ("CONNECTOR_SENSORS", entry)


def test_a_bad_setting_makes_the_connector_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_SENSORS", "os.system")
    registry = registry_of(entry_points={"sensor": Sensor})
    with pytest.raises(connector.ConnectorLoadError) as info:
        registry.get("sensor")
    assert info.value.reason.endswith(
        f"constructing Sensor raised SensorSettingsError: {not_module_class('os.system')}"
    )
    answer = status_for(info.value, operation="create", target="task type sensor@0")
    assert answer.code.name == "FAILED_PRECONDITION"


def test_flytekits_file_sensor_cannot_be_allowed_as_a_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_SENSORS", f"{FILE_SENSOR_MODULE}:FileSensor")
    with raises_exactly(
        SensorSettingsError,
        "CONNECTOR_SENSORS allows 'flytekit.sensor.file_sensor:FileSensor', which connector-sensor serves "
        "itself (paths under CONNECTOR_SENSOR_ROOTS only); remove it from there",
    ):
        Sensor()


def test_an_entry_point_allows_its_value_and_its_name_is_free_text() -> None:
    entry_point = EntryPoint(
        name="Ready when the table lands!", value="pkg.sensors:Ready", group="connector.sensors"
    )
    sensors = AllowedSensors.from_environment({}, entry_points=[entry_point])
    assert list(sensors) == [
        AllowedSensor("pkg.sensors", "Ready", "entry point 'Ready when the table lands!'")
    ]


def test_the_setting_names_a_pair_an_entry_point_also_allows() -> None:
    entry_point = EntryPoint(name="ready", value="pkg.sensors:Ready", group="connector.sensors")
    sensors = AllowedSensors.from_environment(
        {"CONNECTOR_SENSORS": "pkg.sensors:Ready"}, entry_points=[entry_point]
    )
    assert list(sensors) == [AllowedSensor("pkg.sensors", "Ready", "CONNECTOR_SENSORS")]


@pytest.mark.parametrize("value", ["pkg.sensors", "pkg.sensors:Outer.Inner", "pkg.sensors:Ready [extra]"])
def test_an_entry_point_that_is_not_module_class_is_a_settings_error(value: str) -> None:
    entry_point = EntryPoint(name="ready", value=value, group="connector.sensors")
    with raises_exactly(
        SensorSettingsError,
        f"connector.sensors: the entry point 'ready' is {value!r}, not module:ClassName; its value must name "
        "the module that defines the sensor class and the class (pkg.module:ClassName): fix the distribution "
        "or uninstall it",
    ) as info:
        AllowedSensors.from_environment({}, entry_points=[entry_point])
    assert (info.value.entry_point, info.value.variable, info.value.distribution) == ("ready", None, None)


# A real distribution, installed by pip.

SENSOR_MODULE = '''
"""A sensor with flytekit's protocol, shipped by a distribution."""

import os


class TableLanded:
    def __init__(self, name, config=None):
        self.marker = config["marker"]

    async def poke(self, table):
        return os.path.exists(os.path.join(self.marker, table))
'''


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """``install(name, files, entry_points)``: build a wheel and pip-install it where sys.path looks."""
    site = tmp_path.parent / f"{tmp_path.name}-site"
    wheels = tmp_path.parent / f"{tmp_path.name}-wheels"
    wheels.mkdir()
    monkeypatch.syspath_prepend(str(site))
    packages: list[str] = []

    def run(name: str, files: dict[str, str], entry_points: dict[str, str]) -> None:
        pip_install_into(build_wheel(wheels, name, "1.0", files, entry_points), site)
        packages.extend(path.split("/")[0] for path in files)

    yield run
    for module in list(sys.modules):
        if module.split(".")[0] in packages:
            del sys.modules[module]


def test_a_sensor_of_an_installed_distribution_is_served(
    install: Callable[..., None], connector_lifecycle: Callable[..., LifecycleDriver], tmp_path: Path
) -> None:
    install(
        "sensor-pack",
        {"sensor_pack/__init__.py": "", "sensor_pack/tables.py": SENSOR_MODULE},
        {"table landed": "sensor_pack.tables:TableLanded"},
    )
    sensor = Sensor()  # reads the installed entry points, imports nothing
    assert list(sensor.sensors) == [
        AllowedSensor("sensor_pack.tables", "TableLanded", "entry point 'table landed' of sensor-pack 1.0")
    ]
    assert "sensor_pack.tables" not in sys.modules
    driver = connector_lifecycle(sensor)
    custom = {
        "sensor_module": "sensor_pack.tables",
        "sensor_name": "TableLanded",
        "sensor_config": {"marker": str(tmp_path)},
        "inputs": None,
    }
    meta = driver.create(connector.TaskTemplate("sensor", custom=custom), inputs={"table": "orders"})
    assert "sensor_pack.tables" in sys.modules
    assert driver.get(SensorMetadata.decode(meta.encode())).phase is Phase.RUNNING
    (tmp_path / "orders").write_text("")
    assert driver.get(SensorMetadata.decode(meta.encode())).phase is Phase.SUCCEEDED


def test_a_malformed_entry_point_of_an_installed_distribution_names_it(
    install: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    install("bad-pack", {"bad_pack/__init__.py": ""}, {"broken": "bad_pack"})
    registry = registry_of(entry_points={"sensor": Sensor})
    with pytest.raises(connector.ConnectorLoadError) as info:
        registry.get("sensor")
    assert info.value.reason.endswith(
        "constructing Sensor raised SensorSettingsError: connector.sensors: the entry point 'broken' of "
        "bad-pack 1.0 is 'bad_pack', not module:ClassName; its value must name the module that defines the "
        "sensor class and the class (pkg.module:ClassName): fix the distribution or uninstall it"
    )
