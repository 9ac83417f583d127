"""The sensor task type (issue 10): flytekit's FileSensor natively, other sensor classes only when allowed.

Templates are shaped as flytekit 1.16 serializes a ``BaseSensor``; the sensor classes under test are
plain classes with flytekit's protocol (``sensor_samples``), allowed through ``CONNECTOR_SENSORS``.
Calls go through the core's call layer (``LifecycleDriver``), as the service makes them; the gRPC
code of an error is the core's own mapping.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
import sensor_samples
from connector_sensor import (
    FILE_SENSOR_MODULE,
    FILE_SENSOR_NAME,
    AllowedSensors,
    PathNotAllowedError,
    Sensor,
    SensorLoadError,
    SensorMetadata,
    SensorNotAllowedError,
    SensorPokeError,
    SensorRequestError,
)
from touched import Touched

import connector
from connector.registry._imports import DaemonCall
from connector.server._status import status_for
from connector.testing import LifecycleDriver

Phase = connector.Phase
SAMPLES = ",".join(
    f"sensor_samples:{name}"
    for name in (
        "MarkerSensor",
        "AsyncMarkerSensor",
        "AnswerSensor",
        "FailingSensor",
        "TransientSensor",
        "RefusingSensor",
        "BrokenConstructorSensor",
        "NOT_A_SENSOR",
    )
)


def flytekit_custom(
    module: str = FILE_SENSOR_MODULE, name: str = FILE_SENSOR_NAME, config: Any = None
) -> Any:
    """The custom fields flytekit 1.16 writes for a BaseSensor (``inputs`` is always None there)."""
    return {"sensor_module": module, "sensor_name": name, "sensor_config": config, "inputs": None}


def template(module: str = FILE_SENSOR_MODULE, name: str = FILE_SENSOR_NAME, config: Any = None) -> Any:
    return connector.TaskTemplate("sensor", custom=flytekit_custom(module, name, config))


def raises_exactly(kind: type[BaseException], message: str) -> pytest.RaisesExc[Any]:
    return pytest.raises(kind, match=f"^{re.escape(message)}$")


def status(exc: BaseException, operation: str = "get") -> tuple[str, str]:
    """The code and message the service answers ``exc`` with, through the core's one mapping."""
    answer = status_for(exc, operation=operation, target="task type sensor@0")
    return str(answer.code.name), answer.message


def not_allowed(pair: str) -> str:
    return (
        f"sensor: the sensor {pair!r} is not allowed, so it is not imported; to allow it, install a "
        "distribution that registers it (module:ClassName) in the entry point group 'connector.sensors', "
        "or add it to CONNECTOR_SENSORS (module:ClassName, separated by ',')"
    )


def outside(path: str) -> str:
    return (
        f"sensor: the path {path!r} is outside the roots it may watch; to allow it, add a directory or URL "
        "prefix that contains it to CONNECTOR_SENSOR_ROOTS"
    )


@pytest.fixture
def driver(
    connector_lifecycle: Callable[..., LifecycleDriver], monkeypatch: pytest.MonkeyPatch
) -> LifecycleDriver:
    """A driver of ``Sensor()`` from the environment: the tmp dir's roots, the sample sensors allowed."""
    monkeypatch.setenv("CONNECTOR_SENSORS", SAMPLES)
    return connector_lifecycle(Sensor())


@pytest.fixture(autouse=True)
def seen() -> Iterator[list[Any]]:
    sensor_samples.SEEN.clear()
    yield sensor_samples.SEEN
    sensor_samples.SEEN.clear()


def again(meta: connector.ResourceMeta) -> SensorMetadata:
    """The meta as another replica sees it: encoded, then decoded."""
    return SensorMetadata.decode(meta.encode())


@dataclasses.dataclass
class Module:
    """A module written for one test: importing it appends a line to ``imports``."""

    name: str
    imports: Path

    @property
    def imported(self) -> int:
        """How many times the module ran (0: never imported)."""
        return len(self.imports.read_text().splitlines()) if self.imports.exists() else 0


@pytest.fixture
def make_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Module]]:
    """``make_module(body)``: a fresh, uniquely named module on sys.path (outside the sensor's roots)."""
    folder = tmp_path.parent / f"{tmp_path.name}-modules"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    made: list[str] = []

    def make(body: str) -> Module:
        name = f"sensor_test_module_{uuid.uuid4().hex}"
        imports = folder / f"{name}.imports"
        source = f"with open({str(imports)!r}, 'a') as _f:\n    _f.write('imported\\n')\n\n{body}\n"
        (folder / f"{name}.py").write_text(source)
        made.append(name)
        return Module(name, imports)

    yield make
    for name in made:
        sys.modules.pop(name, None)


# flytekit's FileSensor, served natively.


def test_a_flytekit_file_sensor_runs_until_the_file_appears(driver: LifecycleDriver, tmp_path: Path) -> None:
    target = tmp_path / "ready"
    meta = driver.create(template(), inputs={"path": str(target)})
    assert meta == SensorMetadata(FILE_SENSOR_MODULE, FILE_SENSOR_NAME, None, {"path": str(target)})
    running = driver.get(again(meta))
    # As flytekit's service answers: the phase alone, no message, no outputs.
    assert (running.phase, running.message, running.outputs) == (Phase.RUNNING, "", None)
    target.write_text("")
    done = driver.get(again(meta))
    assert (done.phase, done.message, done.outputs, done.custom_info) == (Phase.SUCCEEDED, "", None, None)


def test_a_flytekit_file_sensor_runs_to_the_end_through_the_lifecycle(
    driver: LifecycleDriver, tmp_path: Path
) -> None:
    (tmp_path / "a b").write_text("")
    lifecycle = driver.run(template(), inputs={"path": f"file://{tmp_path}/a%20b"})
    assert [r.phase for r in lifecycle.resources] == [Phase.SUCCEEDED]
    assert lifecycle.deleted


def test_a_meta_written_by_flytekits_service_decodes() -> None:
    """The bytes of flytekit's SensorEngine: ``json.dumps(asdict(meta))``, no envelope."""
    data = (
        b'{"sensor_module": "flytekit.sensor.file_sensor", "sensor_name": "FileSensor", '
        b'"sensor_config": null, "inputs": {"path": "/data/x"}}'
    )
    assert SensorMetadata.accepts_plain_json
    assert SensorMetadata.decode(data) == SensorMetadata(
        FILE_SENSOR_MODULE, FILE_SENSOR_NAME, None, {"path": "/data/x"}
    )


def test_the_meta_has_exactly_flytekits_fields() -> None:
    assert [field.name for field in dataclasses.fields(SensorMetadata)] == [
        "sensor_module",
        "sensor_name",
        "sensor_config",
        "inputs",
    ]


@pytest.mark.parametrize("path", ["/etc/shadow", "/etc/no-such-file-for-the-sensor"])
def test_a_path_outside_the_roots_is_refused_at_create_whether_it_exists_or_not(
    driver: LifecycleDriver, touched: Touched, path: str
) -> None:
    with touched.recording(), raises_exactly(PathNotAllowedError, outside(path)) as info:
        driver.create(template(), inputs={"path": path})
    assert info.value.field == "inputs.path"
    assert status(info.value, "create") == ("INVALID_ARGUMENT", outside("…/" + path.rsplit("/", 1)[1]))
    assert touched.paths == []


def test_a_forged_meta_outside_the_roots_is_refused_at_get(
    driver: LifecycleDriver, touched: Touched, tmp_path: Path
) -> None:
    forged = SensorMetadata(FILE_SENSOR_MODULE, FILE_SENSOR_NAME, None, {"path": "/etc/shadow"})
    with touched.recording(), raises_exactly(PathNotAllowedError, outside("/etc/shadow")) as info:
        driver.get(forged)
    assert info.value.field == "resource_meta.inputs.path"
    assert touched.outside(tmp_path) == []


def test_a_symlink_out_of_the_roots_is_refused_at_create_and_at_get(
    driver: LifecycleDriver, tmp_path: Path, touched: Touched
) -> None:
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret").write_text("")
    (tmp_path / "link").symlink_to(elsewhere)
    asked = str(tmp_path / "link" / "secret")
    with touched.recording(), raises_exactly(PathNotAllowedError, outside(asked)):
        driver.create(template(), inputs={"path": asked})
    # Created while the name was a plain directory, then swapped for a link out: get refuses it.
    (tmp_path / "dir").mkdir()
    meta = driver.create(template(), inputs={"path": str(tmp_path / "dir" / "secret")})
    (tmp_path / "dir").rmdir()
    (tmp_path / "dir").symlink_to(elsewhere)
    with touched.recording(), raises_exactly(PathNotAllowedError, outside(str(tmp_path / "dir" / "secret"))):
        driver.get(meta)
    assert touched.outside(tmp_path) == []


def test_a_symlink_that_stays_inside_the_roots_is_followed(driver: LifecycleDriver, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "done").write_text("")
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    assert (
        driver.run(template(), inputs={"path": str(tmp_path / "alias" / "done")}).final.phase
        is Phase.SUCCEEDED
    )


def test_a_glob_character_is_part_of_the_name_as_in_flytekit(driver: LifecycleDriver, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("")
    asked = str(tmp_path / "*.csv")
    meta = driver.create(template(), inputs={"path": asked})
    assert driver.get(meta).phase is Phase.RUNNING  # a.csv does not count: '*' is no wildcard here
    (tmp_path / "*.csv").write_text("")
    assert driver.get(meta).phase is Phase.SUCCEEDED


def test_a_glob_may_not_reach_outside_the_roots_either(driver: LifecycleDriver, tmp_path: Path) -> None:
    asked = f"{tmp_path}/../*"
    with raises_exactly(PathNotAllowedError, outside(asked)):
        driver.create(template(), inputs={"path": asked})


@pytest.fixture
def memory_fs() -> Iterator[fsspec.AbstractFileSystem]:
    fs = fsspec.filesystem("memory")
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")
    yield fs
    fs.store.clear()


def test_an_fsspec_url_under_a_prefix_is_polled(
    driver: LifecycleDriver, memory_fs: fsspec.AbstractFileSystem
) -> None:
    meta = driver.create(template(), inputs={"path": "memory://bucket/out/[1].json"})
    memory_fs.pipe("/bucket/out/1.json", b"{}")  # would match the glob; the name is literal
    assert driver.get(again(meta)).phase is Phase.RUNNING
    memory_fs.pipe("/bucket/out/[1].json", b"{}")
    assert driver.get(again(meta)).phase is Phase.SUCCEEDED


def test_an_fsspec_url_outside_the_prefixes_is_refused_before_fsspec_sees_it(
    driver: LifecycleDriver, touched: Touched
) -> None:
    for url in ("memory://other/x", "ftp://127.0.0.1:21/x"):
        with touched.recording(), raises_exactly(PathNotAllowedError, outside(url)):
            driver.get(SensorMetadata(FILE_SENSOR_MODULE, FILE_SENSOR_NAME, None, {"path": url}))
    assert (touched.urls, touched.connections) == ([], [])


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "sensor: flytekit's FileSensor needs the input 'path'"),
        (
            {"path": "/x", "mode": "r"},
            "sensor: flytekit's FileSensor takes one input, 'path'; got also 'mode'",
        ),
        ({"path": 5}, "sensor: the path must be a non-empty string; got 5"),
        (
            {"path": "data/x"},
            "sensor: the path 'data/x' is relative; give an absolute path, ~/..., a file:// URL or a URL "
            "of a filesystem fsspec knows",
        ),
    ],
)
def test_file_sensor_inputs_are_checked_at_create_and_at_get(
    driver: LifecycleDriver, inputs: dict[str, Any], message: str
) -> None:
    with raises_exactly(SensorRequestError, message):
        driver.create(template(), inputs=inputs)
    with raises_exactly(SensorRequestError, message):
        driver.get(SensorMetadata(FILE_SENSOR_MODULE, FILE_SENSOR_NAME, None, inputs))


def test_a_meta_without_inputs_is_refused(driver: LifecycleDriver) -> None:
    with raises_exactly(SensorRequestError, "sensor: flytekit's FileSensor needs the input 'path'"):
        driver.get(SensorMetadata(FILE_SENSOR_MODULE, FILE_SENSOR_NAME))


@pytest.mark.parametrize(
    ("custom", "message"),
    [
        ({}, "sensor: the custom field 'sensor_module' is required"),
        (
            {"sensor_module": FILE_SENSOR_MODULE, "sensor_name": 3.0},
            "sensor: the custom field 'sensor_name' must be a string; got a number",
        ),
        (
            {"sensor_module": FILE_SENSOR_MODULE, "sensor_name": FILE_SENSOR_NAME, "sensor_config": [1]},
            "sensor: the custom field 'sensor_config' must be an object; got an array of 1 item",
        ),
        (
            {"sensor_module": FILE_SENSOR_MODULE, "sensor_name": FILE_SENSOR_NAME, "sensor_confg": {}},
            "sensor: unknown custom field 'sensor_confg'; did you mean 'sensor_config'?",
        ),
    ],
)
def test_custom_fields_are_checked(driver: LifecycleDriver, custom: dict[str, Any], message: str) -> None:
    # The declared fields (issue 12), checked by the core before create.
    with raises_exactly(connector.CustomFieldError, message):
        driver.create(connector.TaskTemplate("sensor", custom=custom), inputs={"path": "/x"})


def test_an_empty_sensor_module_is_refused_by_the_connector(driver: LifecycleDriver) -> None:
    custom = {"sensor_module": "", "sensor_name": FILE_SENSOR_NAME}
    with raises_exactly(SensorRequestError, _EMPTY_MODULE):
        driver.create(connector.TaskTemplate("sensor", custom=custom), inputs={"path": "/x"})


_EMPTY_MODULE = (
    "sensor: custom field 'sensor_module' must name the sensor class (flytekit writes sensor_module "
    "and sensor_name for every BaseSensor); got ''"
)


def test_inputs_too_large_for_a_meta_are_refused_at_create(driver: LifecycleDriver, tmp_path: Path) -> None:
    too_large = (
        r"^sensor: the inputs and sensor_config do not fit in a resource meta: encoded SensorMetadata is "
        r"\d+ bytes, over the limit of 65536"
    )
    with pytest.raises(SensorRequestError, match=too_large):
        driver.create(template("sensor_samples", "MarkerSensor"), inputs={"marker": "x" * 70_000})


# Sensors that are not allowed: never imported.


def test_an_unknown_sensor_is_refused_at_create_and_get_without_importing_it(
    driver: LifecycleDriver, make_module: Callable[[str], Module]
) -> None:
    sentinel = make_module(
        "class Sentinel:\n    def __init__(self, *a, **k): pass\n    def poke(self): return True"
    )
    pair = f"{sentinel.name}:Sentinel"
    with raises_exactly(SensorNotAllowedError, not_allowed(pair)) as info:
        driver.create(template(sentinel.name, "Sentinel"), inputs={})
    assert (info.value.sensor, info.value.field) == (pair, "sensor_module")
    assert status(info.value, "create") == ("INVALID_ARGUMENT", not_allowed(pair))
    forged = SensorMetadata(sentinel.name, "Sentinel", None, {})
    with raises_exactly(SensorNotAllowedError, not_allowed(pair)) as info:
        driver.get(forged)
    assert info.value.field == "resource_meta.sensor_module"
    driver.delete(forged)
    assert sentinel.name not in sys.modules
    assert sentinel.imported == 0


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("os", "system"),
        ("subprocess", "Popen"),
        ("builtins", "eval"),
        ("sensor_samples", "NotListed"),
        ("", ""),
    ],
)
def test_a_forged_meta_naming_any_module_fails_closed(
    driver: LifecycleDriver, module: str, name: str
) -> None:
    called: list[Any] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "system", lambda *args: called.append(args))
        with raises_exactly(SensorNotAllowedError, not_allowed(f"{module}:{name}")):
            driver.get(SensorMetadata(module, name, {"x": 1}, {"command": "id"}))
    assert called == []


def test_a_pair_allowed_as_another_pair_is_not_a_prefix_match(
    connector_lifecycle: Callable[..., LifecycleDriver], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_SENSORS", "sensor_samples:MarkerSensor")
    driver = connector_lifecycle(Sensor())
    for module, name in [
        ("sensor_samples", "AnswerSensor"),
        ("sensor_sample", "MarkerSensor"),
        ("sensor_samples.x", "MarkerSensor"),
    ]:
        with raises_exactly(SensorNotAllowedError, not_allowed(f"{module}:{name}")):
            driver.get(SensorMetadata(module, name, {"answer": True}, {}))


def test_delete_is_a_no_op(driver: LifecycleDriver, tmp_path: Path, touched: Touched) -> None:
    with touched.recording():
        for meta in (
            SensorMetadata(FILE_SENSOR_MODULE, FILE_SENSOR_NAME, None, {"path": "/etc/shadow"}),
            SensorMetadata("os", "system", None, None),
            SensorMetadata("sensor_samples", "FailingSensor", None, {"path": "x"}),
        ):
            driver.delete(meta)  # no error, whatever the meta names
    assert touched.paths == []


# Sensors allowed by CONNECTOR_SENSORS.


def test_an_allowed_sensor_with_a_plain_poke_runs_in_the_worker_thread(
    driver: LifecycleDriver, tmp_path: Path, seen: list[Any]
) -> None:
    marker = tmp_path / "marker"
    meta = driver.create(
        template("sensor_samples", "MarkerSensor", {"k": "v"}), inputs={"marker": str(marker)}
    )
    running = driver.get(again(meta))
    assert (running.phase, running.message, running.outputs) == (Phase.RUNNING, "", None)
    marker.write_text("")
    done = driver.get(again(meta))
    assert (done.phase, done.message, done.outputs) == (Phase.SUCCEEDED, "", None)
    assert [entry[:4] for entry in seen] == [
        ("MarkerSensor", "sensor", {"k": "v"}, {"marker": str(marker)})
    ] * 2
    thread, loop_running = seen[0][4], seen[0][5]
    assert thread is not threading.main_thread()
    assert not loop_running


def test_an_allowed_sensor_with_an_async_poke_is_awaited_on_the_event_loop(
    driver: LifecycleDriver, tmp_path: Path, seen: list[Any]
) -> None:
    marker = tmp_path / "marker"
    marker.write_text("")
    lifecycle = driver.run(template("sensor_samples", "AsyncMarkerSensor"), inputs={"marker": str(marker)})
    assert [(r.phase, r.message) for r in lifecycle.resources] == [(Phase.SUCCEEDED, "")]
    assert [entry[:4] for entry in seen] == [("AsyncMarkerSensor", "sensor", None, {"marker": str(marker)})]
    assert seen[0][5]  # poke's body ran where an event loop runs


@pytest.mark.parametrize(("answer", "phase"), [(True, Phase.SUCCEEDED), (False, Phase.RUNNING)])
def test_the_config_reaches_the_sensor(driver: LifecycleDriver, answer: bool, phase: Phase) -> None:
    meta = driver.create(template("sensor_samples", "AnswerSensor", {"answer": answer}), inputs={})
    assert driver.get(again(meta)).phase is phase


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        (None, "None (builtins.NoneType)"),
        (1, "1 (builtins.int)"),
        ("yes", "'yes' (builtins.str)"),
        ([], "[] (builtins.list)"),
    ],
)
def test_a_poke_that_returns_no_bool_fails_the_get(driver: LifecycleDriver, answer: Any, shown: str) -> None:
    meta = driver.create(template("sensor_samples", "AnswerSensor", {"answer": answer}), inputs={})
    message = (
        f"sensor: the sensor 'sensor_samples:AnswerSensor' returned {shown} from poke; poke must return True "
        "(the condition holds) or False (not yet): return bool(...)"
    )
    with raises_exactly(SensorPokeError, message) as info:
        driver.get(again(meta))
    assert status(info.value) == (
        "INTERNAL",
        f"get for task type sensor@0 failed: SensorPokeError: {message}",
    )


def test_a_poke_that_raises_fails_the_get_with_its_first_line(driver: LifecycleDriver) -> None:
    meta = driver.create(template("sensor_samples", "FailingSensor"), inputs={"path": "s3://b/k"})
    message = (
        "sensor: the sensor 'sensor_samples:FailingSensor' failed in its poke: ValueError: the bucket of "
        "s3://b/k is gone"
    )
    with raises_exactly(SensorPokeError, message) as info:
        driver.get(again(meta))
    assert isinstance(info.value.__cause__, ValueError)
    assert info.value.sensor == "sensor_samples:FailingSensor"
    assert status(info.value) == (
        "INTERNAL",
        f"get for task type sensor@0 failed: SensorPokeError: {message}",
    )


def test_a_constructor_that_raises_fails_the_get(driver: LifecycleDriver) -> None:
    meta = driver.create(template("sensor_samples", "BrokenConstructorSensor"), inputs={})
    with raises_exactly(
        SensorPokeError,
        "sensor: the sensor 'sensor_samples:BrokenConstructorSensor' failed in building it as "
        "BrokenConstructorSensor('sensor', config=...): RuntimeError: config needs a 'bucket'",
    ):
        driver.get(again(meta))


def test_a_transient_or_bad_request_error_of_poke_keeps_its_meaning(driver: LifecycleDriver) -> None:
    meta = driver.create(template("sensor_samples", "TransientSensor"), inputs={})
    with raises_exactly(connector.TransientError, "the metastore is restarting"):
        driver.get(again(meta))
    meta = driver.create(template("sensor_samples", "RefusingSensor"), inputs={"table": "t"})
    with raises_exactly(connector.BadRequestError, "no such table 't'") as info:
        driver.get(again(meta))
    assert status(info.value) == ("INVALID_ARGUMENT", "no such table 't'")


def test_inputs_that_do_not_fit_poke_are_the_requests_mistake(driver: LifecycleDriver) -> None:
    meta = SensorMetadata("sensor_samples", "MarkerSensor", None, {"marker": "/x", "extra": 1})
    with raises_exactly(
        SensorRequestError,
        "sensor: the inputs do not fit poke(marker: 'str') -> 'bool' of the sensor "
        "'sensor_samples:MarkerSensor': got an unexpected keyword argument 'extra'",
    ) as info:
        driver.get(meta)
    assert info.value.field == "resource_meta.inputs"


def test_an_allowed_sensor_is_imported_once_on_first_use(
    connector_lifecycle: Callable[..., LifecycleDriver],
    monkeypatch: pytest.MonkeyPatch,
    make_module: Callable[[str], Module],
) -> None:
    module = make_module(
        "class Ready:\n    def __init__(self, name, config=None): pass\n    def poke(self): return True"
    )
    monkeypatch.setenv("CONNECTOR_SENSORS", f"{module.name}:Ready")
    driver = connector_lifecycle(Sensor())
    assert module.imported == 0  # building the connector reads the setting only
    meta = driver.create(template(module.name, "Ready"), inputs={})
    assert module.imported == 1
    sys.modules.pop(module.name)  # a second import would run the module again
    for _ in range(3):
        assert driver.get(again(meta)).phase is Phase.SUCCEEDED
    assert module.imported == 1


def test_an_allowed_sensor_that_fails_to_import_is_failed_precondition_and_not_retried(
    connector_lifecycle: Callable[..., LifecycleDriver],
    monkeypatch: pytest.MonkeyPatch,
    make_module: Callable[[str], Module],
) -> None:
    module = make_module("raise ImportError('needs the snowflake extra')")
    monkeypatch.setenv("CONNECTOR_SENSORS", f"{module.name}:Snow")
    driver = connector_lifecycle(Sensor())
    message = (
        f"sensor: the sensor '{module.name}:Snow' (allowed by CONNECTOR_SENSORS) cannot be imported "
        "(ImportError: needs the snowflake extra); install what it needs, or remove it from CONNECTOR_SENSORS"
    )
    with raises_exactly(SensorLoadError, message) as info:
        driver.create(template(module.name, "Snow"), inputs={})
    assert status(info.value, "create") == ("FAILED_PRECONDITION", message)
    with raises_exactly(SensorLoadError, message) as info:
        driver.get(SensorMetadata(module.name, "Snow", None, {}))
    assert isinstance(info.value.__cause__, ImportError)
    assert module.imported == 1


@pytest.mark.parametrize("name", ["NOT_A_SENSOR", "Missing"])
def test_an_allowed_name_that_is_no_sensor_class_is_failed_precondition(
    monkeypatch: pytest.MonkeyPatch, connector_lifecycle: Callable[..., LifecycleDriver], name: str
) -> None:
    monkeypatch.setenv("CONNECTOR_SENSORS", f"sensor_samples:{name}")
    driver = connector_lifecycle(Sensor())
    problem = (
        "is not a class with a poke method; a sensor class is built as cls(name, config=...) and its "
        "poke(**inputs) returns True or False; name a sensor class in CONNECTOR_SENSORS"
        if name == "NOT_A_SENSOR"
        else "cannot be imported (AttributeError: module 'sensor_samples' has no attribute 'Missing'); "
        "install what it needs, or remove it from CONNECTOR_SENSORS"
    )
    with raises_exactly(
        SensorLoadError,
        f"sensor: the sensor 'sensor_samples:{name}' (allowed by CONNECTOR_SENSORS) {problem}",
    ):
        driver.create(template("sensor_samples", name), inputs={})


def test_an_allowed_sensor_is_imported_once_when_many_jobs_need_it_at_once(
    monkeypatch: pytest.MonkeyPatch, make_module: Callable[[str], Module]
) -> None:
    # A failing import: Python's own import lock would let each waiting thread import it again.
    module = make_module("import time\ntime.sleep(0.2)\nraise ImportError('needs the snowflake extra')")
    monkeypatch.setenv("CONNECTOR_SENSORS", f"{module.name}:Slow")
    sensor = Sensor()
    (allowed,) = sensor.sensors
    start = threading.Barrier(8)
    failed: list[str] = []

    def load() -> None:
        start.wait()
        try:
            sensor.sensors.load(allowed)
        except SensorLoadError as exc:
            failed.append(str(exc))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(failed) == 8
    assert len(set(failed)) == 1
    assert module.imported == 1


# An import that hangs (issue 10 review, B4): it is waited for as long as CONNECTOR_IMPORT_TIMEOUT says.

HANGS = """
import sensor_samples

sensor_samples.IMPORT_GATE.wait()


class Hangs:
    def __init__(self, name, config=None):
        pass

    def poke(self):
        return True
"""


@pytest.fixture
def hanging_module(
    make_module: Callable[[str], Module], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Module, threading.Event]]:
    """A module whose import blocks until the returned Event is set (at teardown at the latest)."""
    gate = threading.Event()
    monkeypatch.setattr(sensor_samples, "IMPORT_GATE", gate, raising=False)
    try:
        yield make_module(HANGS), gate
    finally:
        gate.set()
        finish_imports()


def finish_imports() -> None:
    """Wait for the sensor imports under way: each thread's module is gone from sys.modules after the test."""
    for thread in threading.enumerate():
        if thread.name.startswith("connector-sensor import"):
            thread.join()


def unblocked(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, called in a daemon thread: a call still blocked after a minute fails the test.

    A bound against a hang, not a timing: before the fix such a call blocked until the import ended.
    """
    call = DaemonCall(functools.partial(fn, *args, **kwargs), name="test call")
    assert call.wait(60), f"the call is blocked:\n{call.stack()}"
    return call.result()


def hung(module: Module, limit: str = "0.1") -> str:
    return (
        f"sensor: the sensor '{module.name}:Hangs' (allowed by CONNECTOR_SENSORS) cannot be imported: its "
        f"import did not finish in {limit} s, and it is not tried again until the service restarts; fix the "
        "module's import, or raise the limit with CONNECTOR_IMPORT_TIMEOUT (seconds)"
    )


def test_an_import_that_hangs_fails_after_the_import_timeout_and_is_not_tried_again(
    connector_lifecycle: Callable[..., LifecycleDriver],
    monkeypatch: pytest.MonkeyPatch,
    hanging_module: tuple[Module, threading.Event],
    caplog: pytest.LogCaptureFixture,
) -> None:
    module, gate = hanging_module
    monkeypatch.setenv("CONNECTOR_SENSORS", f"{module.name}:Hangs")
    monkeypatch.setenv("CONNECTOR_IMPORT_TIMEOUT", "0.1")
    driver = connector_lifecycle(Sensor())
    with raises_exactly(SensorLoadError, hung(module)) as info:
        unblocked(driver.create, template(module.name, "Hangs"), inputs={})
    assert status(info.value, "create") == ("FAILED_PRECONDITION", hung(module))
    (record,) = [r for r in caplog.records if r.name == "connector.sensor"]
    assert record.getMessage().startswith(f"{hung(module)}\nits import thread is at:\n")
    assert "IMPORT_GATE.wait()" in record.getMessage()  # where the module's import hangs
    gate.set()  # the import ends now; what the service answered is kept until it restarts
    finish_imports()
    with raises_exactly(SensorLoadError, hung(module)):
        unblocked(driver.get, SensorMetadata(module.name, "Hangs", None, {}))
    assert module.imported == 1


def test_jobs_waiting_for_an_import_that_hangs_wait_until_its_time_limit_only(
    hanging_module: tuple[Module, threading.Event],
) -> None:
    module, _ = hanging_module
    environ = {"CONNECTOR_SENSORS": f"{module.name}:Hangs", "CONNECTOR_IMPORT_TIMEOUT": "0.25"}
    sensors = AllowedSensors.from_environment(environ, entry_points=[])
    (allowed,) = sensors
    start = threading.Barrier(8)

    def load() -> str:
        start.wait()
        with pytest.raises(SensorLoadError) as info:
            sensors.load(allowed)
        return str(info.value)

    waiters = [DaemonCall(load, name=f"job {index}") for index in range(8)]
    assert all(waiter.wait(60) for waiter in waiters), "a job is blocked by the import"
    assert [waiter.result() for waiter in waiters] == [hung(module, "0.25")] * 8
    assert module.imported == 1
