"""The security review of issue 11: each attack fails closed, and each opt-in lets the old behaviour back.

Pickled inputs, flytekit's sensor importing what a request names, its built-in sensor and webhook
served without an opt-in, unsigned pickled metas, a deeply nested meta, and unrelated plugins'
failures at load. Each attack's payload, if it ran, would leave a marker file behind.
"""

from __future__ import annotations

import pickle
import sys
import threading
from pathlib import Path
from typing import Any

import cloudpickle
import flytekit_samples as samples
import pytest
from connector_flytekit import (
    FlytekitBuiltinDisabledError,
    FlytekitMeta,
    FlytekitPluginError,
    FlytekitProvider,
    FlytekitRequestError,
    FlytekitSensorNotAllowedError,
    _flytekit,
    bridge,
)
from flyteidl.core import interface_pb2, literals_pb2, tasks_pb2, types_pb2
from flytekit.sensor.sensor_engine import SensorEngine
from google.protobuf import struct_pb2

import connector
from connector.registry._calls import run_blocking
from connector.testing import registry_of

PICKLE_BLOB = types_pb2.BlobType(format="PythonPickle", dimensionality=types_pb2.BlobType.SINGLE)
FILE_SENSOR = {"sensor_module": "flytekit.sensor.file_sensor", "sensor_name": "FileSensor"}


class Payload:
    """Unpickling it writes ``path``: what an attacker's pickle would do, harmlessly."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.path, "ran"))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "ran"


@pytest.fixture
def pickle_file(tmp_path: Path, marker: Path) -> Path:
    path = tmp_path / "payload.pkl"
    path.write_bytes(pickle.dumps(Payload(marker)))
    return path


@pytest.fixture(autouse=True)
def no_opt_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (
        "CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_INPUTS",
        "CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_META",
        "CONNECTOR_FLYTEKIT_BUILTINS",
        "CONNECTOR_SENSORS",
    ):
        monkeypatch.delenv(variable, raising=False)


def calls_of(flytekit_connector: Any, signer: connector.MetaSigner | None = None) -> connector.ConnectorCalls:
    adapter = bridge(flytekit_connector)
    return connector.ConnectorCalls(registry_of(adapter).get(adapter.task_category), signer=signer)


def sensor_template(inputs: dict[str, types_pb2.LiteralType], **custom: Any) -> connector.TaskTemplate:
    body = struct_pb2.Struct()
    body.update(custom or FILE_SENSOR)
    interface = interface_pb2.TypedInterface(
        inputs=interface_pb2.VariableMap(
            variables={name: interface_pb2.Variable(type=kind) for name, kind in inputs.items()}
        )
    )
    raw = tasks_pb2.TaskTemplate(type="sensor", custom=body, interface=interface)
    return connector.TaskTemplate("sensor", raw=raw)


def blob(path: Path, form: str = "PythonPickle") -> literals_pb2.Literal:
    metadata = literals_pb2.BlobMetadata(type=types_pb2.BlobType(format=form, dimensionality=0))
    return literals_pb2.Literal(
        scalar=literals_pb2.Scalar(blob=literals_pb2.Blob(metadata=metadata, uri=str(path)))
    )


# 1. Pickled inputs.


def test_a_pickle_typed_input_is_refused_before_flytekits_sensor_unpickles_it(
    pickle_file: Path, marker: Path
) -> None:
    template = sensor_template({"path": types_pb2.LiteralType(blob=PICKLE_BLOB)})
    inputs = literals_pb2.LiteralMap(literals={"path": blob(pickle_file)})
    with pytest.raises(FlytekitRequestError) as info:
        run_blocking(calls_of(SensorEngine()).create(template, inputs=inputs))
    assert str(info.value) == (
        "input 'path' of task type sensor@0 is declared in the task template's interface as a blob of "
        "format 'PythonPickle', which flytekit's FlytePickleTransformer loads with cloudpickle.load from "
        "the path the request names: that runs whatever code the file holds in this service. Send the input "
        "as another type, or set CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_INPUTS=1 if every caller may run code here"
    )
    assert info.value.field == "inputs"
    assert not marker.exists()


def test_pickle_types_nested_in_lists_maps_and_unions_are_found(pickle_file: Path, marker: Path) -> None:
    union = types_pb2.LiteralType(
        union_type=types_pb2.UnionType(
            variants=[
                types_pb2.LiteralType(simple=types_pb2.STRING),
                types_pb2.LiteralType(blob=PICKLE_BLOB),
            ]
        )
    )
    nested = types_pb2.LiteralType(
        collection_type=types_pb2.LiteralType(map_value_type=union),
    )
    template = sensor_template({"a": types_pb2.LiteralType(simple=types_pb2.STRING), "deep": nested})
    with pytest.raises(FlytekitRequestError) as info:
        run_blocking(calls_of(SensorEngine()).create(template, inputs=literals_pb2.LiteralMap()))
    assert str(info.value).startswith(
        "input 'deep[*][*]<variant 1>' of task type sensor@0 is declared in the task template's interface "
        "as a blob of format 'PythonPickle'"
    )
    assert not marker.exists()


def test_a_pickle_literal_is_refused_whatever_the_interface_says(pickle_file: Path, marker: Path) -> None:
    """A connector may convert with its own Python types; a pickle blob deep in a literal is refused too."""
    literal = literals_pb2.Literal(
        map=literals_pb2.LiteralMap(
            literals={
                "k": literals_pb2.Literal(
                    collection=literals_pb2.LiteralCollection(literals=[blob(pickle_file)])
                )
            }
        )
    )
    template = sensor_template({})
    with pytest.raises(FlytekitRequestError) as info:
        run_blocking(
            calls_of(SensorEngine()).create(template, inputs=literals_pb2.LiteralMap(literals={"x": literal}))
        )
    assert str(info.value).startswith(
        "input \"x['k'][0]\" of task type sensor@0 is a blob of format 'PythonPickle', which flytekit's "
        "FlytePickleTransformer loads with cloudpickle.load"
    )


def test_joblib_and_torch_blobs_are_pickles_too(pickle_file: Path) -> None:
    template = connector.TaskTemplate("fk_echo", raw=tasks_pb2.TaskTemplate(type="fk_echo"))
    inputs = literals_pb2.LiteralMap(literals={"model": blob(pickle_file, "SklearnEstimator")})
    with pytest.raises(FlytekitRequestError) as info:
        run_blocking(calls_of(samples.EchoConnector()).do(template, inputs=inputs))
    assert "flytekit's sklearn transformer loads with joblib.load" in str(info.value)


def test_pickled_inputs_are_unpickled_with_the_opt_in(
    pickle_file: Path, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As flytekit's own service does: the operator took the risk."""
    monkeypatch.setenv("CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_INPUTS", "1")
    template = sensor_template({"path": types_pb2.LiteralType(blob=PICKLE_BLOB)})
    inputs = literals_pb2.LiteralMap(literals={"path": blob(pickle_file)})
    run_blocking(calls_of(SensorEngine()).create(template, inputs=inputs))
    assert marker.read_text() == "ran"


# 2. flytekit's sensor: an allow-list of sensor classes.


def sensor_module(tmp_path: Path, marker: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module that, when imported, writes the marker: what a request could make flytekit import."""
    (tmp_path / "evil_sensor_module.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\nclass S: pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "evil_sensor_module", raising=False)
    return "evil_sensor_module"


def test_a_sensor_class_no_one_allowed_is_refused_at_create(
    tmp_path: Path, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = sensor_module(tmp_path, marker, monkeypatch)
    monkeypatch.setenv("CONNECTOR_SENSORS", "pkg.sensors:Mine, not-a-pair")
    template = sensor_template({}, sensor_module=module, sensor_name="S")
    with pytest.raises(FlytekitSensorNotAllowedError) as info:
        run_blocking(calls_of(SensorEngine()).create(template))
    assert str(info.value) == (
        "task type sensor@0: the sensor evil_sensor_module:S (sensor_module:sensor_name of the task "
        "template's custom) is not allowed, so flytekit's SensorEngine does not import it. Allowed are "
        "flytekit.sensor.file_sensor:FileSensor and the classes CONNECTOR_SENSORS lists (module:ClassName, "
        "separated by ',') (CONNECTOR_SENSORS entries that are not module:ClassName allow nothing: "
        "not-a-pair); connector-sensor serves sensors without importing what a request names"
    )
    assert (info.value.field, info.value.sensor) == ("template", "evil_sensor_module:S")


def test_a_meta_naming_a_sensor_no_one_allowed_is_refused_at_get_and_delete(
    tmp_path: Path, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The meta is checked again: while unsigned metas are accepted, a caller writes it."""
    from flytekit.sensor.base_sensor import SensorMetadata

    module = sensor_module(tmp_path, marker, monkeypatch)
    meta = FlytekitMeta(SensorMetadata(sensor_module=module, sensor_name="S").encode())
    calls = calls_of(SensorEngine())
    for call in (calls.get, calls.delete):
        with pytest.raises(FlytekitSensorNotAllowedError) as info:
            run_blocking(call(meta))
        assert info.value.field == "resource_meta"
        assert "(sensor_module:sensor_name of the resource meta) is not allowed" in str(info.value)
    assert not marker.exists()
    assert module not in sys.modules


def test_flytekits_file_sensor_and_listed_classes_are_allowed(
    tmp_path: Path, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = sensor_module(tmp_path, marker, monkeypatch)
    calls = calls_of(SensorEngine())
    created = run_blocking(calls.create(sensor_template({})))
    assert b"FileSensor" in created.flytekit_meta
    monkeypatch.setenv("CONNECTOR_SENSORS", f"other.mod:Other,{module}:S")
    run_blocking(calls.create(sensor_template({}, sensor_module=module, sensor_name="S")))


# 2. flytekit's built-in sensor and webhook: served only when opted in.


def provided(task_type: str, key: str) -> connector.ProvidedConnector:
    return connector.ProvidedConnector(
        task_type=task_type,
        task_type_version=0,
        name=task_type,
        distribution="flytekit",
        distribution_version="1.16",
        key=key,
    )


SENSOR_REFUSED = (
    "flytekit's own sensor connector (task type sensor@0) is not served unless the operator opts in: "
    "flytekit's SensorEngine imports the module a task template (and, at every poll, its resource meta) "
    "names and calls a class of it, so anyone who may create tasks runs code here; opted in, only "
    "flytekit's FileSensor and the classes CONNECTOR_SENSORS lists run. Serve connector-sensor's sensor "
    "instead (pip install connector-sensor), or set CONNECTOR_FLYTEKIT_BUILTINS=sensor to accept that risk"
)
WEBHOOK_REFUSED = (
    "flytekit's own webhook connector (task type webhook@0) is not served unless the operator opts in: "
    "flytekit's WebhookConnector sends a request to any URL a task template names, past connector-http's "
    "egress policy (private and metadata addresses included). Serve connector-http's webhook instead (pip "
    "install connector-http), or set CONNECTOR_FLYTEKIT_BUILTINS=webhook to accept that risk"
)


@pytest.mark.parametrize(
    ("task_type", "key", "message"),
    [("sensor", "flytekit", SENSOR_REFUSED), ("webhook", "flytekit.extras.webhook", WEBHOOK_REFUSED)],
)
def test_flytekits_builtins_are_not_loaded_without_the_opt_in(
    task_type: str, key: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_FLYTEKIT_BUILTINS", "sensor" if task_type == "webhook" else "webhook")
    with pytest.raises(FlytekitBuiltinDisabledError) as info:
        FlytekitProvider().load(provided(task_type, key))
    assert str(info.value) == message
    assert info.value.builtin == task_type
    monkeypatch.setenv("CONNECTOR_FLYTEKIT_BUILTINS", f" {task_type} ")
    adapter = FlytekitProvider().load(provided(task_type, key))
    assert adapter.task_category == connector.TaskCategory(task_type, 0)


def test_the_builtins_are_provided_only_when_opted_in(monkeypatch: pytest.MonkeyPatch) -> None:
    def builtins() -> set[tuple[str, str]]:
        found = FlytekitProvider().provided()
        return {(i.task_type, i.key) for i in found if isinstance(i, connector.ProvidedConnector)} & {
            ("sensor", "flytekit"),
            ("webhook", "flytekit.extras.webhook"),
        }

    monkeypatch.delenv("CONNECTOR_FLYTEKIT_BUILTINS", raising=False)
    assert builtins() == set()
    monkeypatch.setenv("CONNECTOR_FLYTEKIT_BUILTINS", "sensor,webhook")
    assert builtins() == {("sensor", "flytekit"), ("webhook", "flytekit.extras.webhook")}
    # The core learns the answer again when the setting changes.
    assert FlytekitProvider.environment == ("CONNECTOR_FLYTEKIT_BUILTINS",)


# 3. Unsigned metas: never sniffed.


def unsigned_calls(flytekit_connector: Any) -> connector.ConnectorCalls:
    """The call layer of a service that accepts unsigned metas (a switch-over)."""
    signer = connector.MetaSigner([connector.MetaKey("k1", b"k" * 32)], accept_unsigned=True)
    return calls_of(flytekit_connector, signer)


def test_an_unsigned_protocol_0_pickle_is_refused_for_a_pickling_connector(marker: Path) -> None:
    payload = pickle.dumps(Payload(marker), protocol=0)
    assert not payload.startswith(b"\x80")  # what the old check looked for
    with pytest.raises(connector.ResourceMetaError) as info:
        unsigned_calls(samples.PickleConnector()).decode_meta(payload)
    assert str(info.value) == (
        "the resource meta is not one task type fk_pickle@0 wrote: cannot decode FlytekitMeta: flytekit's "
        "PickleConnector (task type fk_pickle@0) decodes its metas with its own PickledMeta.decode (not "
        "flytekit's JSON one), which may unpickle them, and no signature of this service vouches for these "
        "bytes: any caller may have sent them, and decoding them could run its code here. Finish the "
        "switch-over and unset CONNECTOR_ACCEPT_UNSIGNED_META, or set "
        "CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_META=1 to accept that risk as flytekit's own service does"
    )
    assert not marker.exists()


def test_an_unsigned_pickle_is_decoded_with_the_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_META", "1")
    calls = unsigned_calls(samples.PickleConnector())
    meta = calls.decode_meta(pickle.dumps(samples.PickledMeta(openai_org="org", batch_id="b0"), protocol=0))
    assert run_blocking(calls.get(meta)).message == "batch b0 of org"


def test_an_unsigned_meta_of_flytekits_json_decode_is_accepted() -> None:
    """JSON runs no code: a job flytekit's own service started continues here."""
    calls = unsigned_calls(samples.JobConnector())
    samples.JOBS["fk_job-json"] = {"polls": 0, "deleted": False, "inputs": {}, "labels": {}}
    meta = calls.decode_meta(samples.JobMeta(job_id="fk_job-json", polls_to_finish=5).encode())
    assert run_blocking(calls.get(meta)).message == "poll 1"


def test_a_signed_pickle_always_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """This service's own meta: the setting is not read."""
    monkeypatch.setenv("CONNECTOR_ACCEPT_UNSIGNED_META", "1")
    calls = unsigned_calls(samples.PickleConnector())
    template = connector.TaskTemplate("fk_pickle", raw=tasks_pb2.TaskTemplate(type="fk_pickle"))
    signed = calls.encode_meta(run_blocking(calls.create(template)))
    assert run_blocking(calls.get(calls.decode_meta(signed))).message == "batch batch_1 of org"


def test_without_a_signer_every_meta_is_unsigned() -> None:
    """``connector run`` without keys: its own pickles too need the opt-in."""
    meta = cloudpickle.dumps(samples.PickledMeta(openai_org="o", batch_id="b"))
    with pytest.raises(connector.ResourceMetaError):
        calls_of(samples.PickleConnector()).decode_meta(FlytekitMeta(meta).encode())


def test_the_base_meta_reads_no_unsigned_bytes() -> None:
    with pytest.raises(connector.ResourceMetaError) as info:
        FlytekitMeta.decode_unsigned(b'{"job_id": "x"}')
    assert str(info.value) == (
        "cannot decode FlytekitMeta: unsigned bytes are read only by the meta of a bridged connector "
        "(connector_flytekit.bridge), which knows how flytekit decodes them"
    )


# 6. A meta nested too deeply.


def test_a_deeply_nested_meta_is_a_bad_meta_not_a_crash() -> None:
    data = b'{"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    with pytest.raises(connector.ResourceMetaError) as info:
        FlytekitMeta.decode(data[:65_000])
    assert (
        str(info.value) == "cannot decode FlytekitMeta: its JSON is nested too deeply to be a resource meta"
    )


# 4. One plugin cannot break the others at load.


def test_a_plugin_raising_keyboard_interrupt_is_that_plugins_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted() -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(_flytekit, "_entry_point_loader", lambda source: interrupted)
    source = _flytekit.Source("entry_point", "interrupting", "flytekitplugins.interrupting", "fk-int", "1.0")
    try:
        with pytest.raises(FlytekitPluginError) as info:
            _flytekit.load_source(source)
        assert str(info.value).startswith(
            "the flytekit plugin fk-int 1.0 (entry point 'interrupting' = 'flytekitplugins.interrupting' in "
            "flytekit.plugins) failed to import: KeyboardInterrupt; its connectors are not served."
        )
    finally:
        _flytekit._failed.pop(source, None)


def test_other_plugins_are_imported_outside_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin whose import hangs holds no lock: the lock stays free while it hangs."""
    started, release = threading.Event(), threading.Event()
    hanging = _flytekit.Source("entry_point", "hanging", "flytekitplugins.hanging", "fk-hang", "1.0")
    interrupting = _flytekit.Source("entry_point", "kb", "flytekitplugins.kb", "fk-kb", "1.0")

    def loader(source: _flytekit.Source) -> Any:
        def load() -> object:
            if source is interrupting:
                raise KeyboardInterrupt
            started.set()
            release.wait()
            return None

        return load

    monkeypatch.setattr(_flytekit, "plugin_sources", lambda: [interrupting, hanging])
    monkeypatch.setattr(_flytekit, "_entry_point_loader", loader)
    monkeypatch.setattr(_flytekit, "_others_started", False)
    try:
        _flytekit.load_other_plugins_in_background(but=_flytekit.FLYTEKIT_SOURCE)
        assert started.wait(60)
        free = []

        def check() -> None:
            acquired = _flytekit._LOCK.acquire(blocking=False)
            free.append(acquired)
            if acquired:
                _flytekit._LOCK.release()

        checker = threading.Thread(target=check)
        checker.start()
        checker.join()
        assert free == [True]
    finally:
        release.set()


# 5. Plain-def flytekit methods run in the core's worker pool.


def test_plain_methods_become_plain_hooks_and_async_ones_async() -> None:
    plain = registry_of(bridge(samples.PlainJobConnector())).get(samples.PLAIN_JOB_TYPE)
    assert [plain.is_async_hook(hook) for hook in ("create", "get", "delete", "get_logs", "get_metrics")] == [
        False
    ] * 5
    awaited = registry_of(bridge(samples.JobConnector())).get(samples.JOB_TYPE)
    assert all(awaited.is_async_hook(hook) for hook in ("create", "get", "delete", "get_logs", "get_metrics"))


def test_a_plain_job_runs_to_the_end_in_the_core_pool() -> None:
    samples.CALLS.clear()
    calls = calls_of(samples.PlainJobConnector())
    template = connector.TaskTemplate(
        samples.PLAIN_JOB_TYPE, raw=tasks_pb2.TaskTemplate(type=samples.PLAIN_JOB_TYPE)
    )
    x = literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=21)))
    meta = run_blocking(calls.create(template, inputs=literals_pb2.LiteralMap(literals={"x": x})))
    resource = run_blocking(calls.get(meta))
    assert resource.phase == connector.Phase.SUCCEEDED
    assert resource.outputs.literals["doubled"].scalar.primitive.integer == 42
    assert [(method, names["thread"]) for _, method, names in samples.CALLS] == [
        ("create", "worker"),
        ("get", "worker"),
    ]


# 6. Execution metadata in ``connector run``.


def test_execution_metadata_without_its_message_is_built_from_the_view() -> None:
    from connector_flytekit._adapter import _execution_metadata

    view = connector.TaskExecutionMetadata(
        task_execution_id="local-1",
        namespace="local",
        labels={"team": "a"},
        annotations={"note": "b"},
        k8s_service_account="sa",
        environment_variables={"K": "V"},
        max_attempts=3,
        interruptible=True,
    )
    made = _execution_metadata(view)
    assert (made.namespace, made.labels, made.annotations, made.k8s_service_account) == (
        "local",
        {"team": "a"},
        {"note": "b"},
        "sa",
    )
    assert made.environment_variables == {
        "K": "V"
    }  # flytekit's model keeps no max_attempts nor interruptible


def test_the_sensor_allow_list_follows_its_variable_and_no_caller_changes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Parsed once per value (issue 11's pairs/s), read at every call: a new value is seen at once."""
    from connector_flytekit._settings import DEFAULT_SENSOR, allowed_sensors

    monkeypatch.setenv("CONNECTOR_SENSORS", "pkg.a:A, bad")
    _, bad = allowed_sensors()
    bad.append("pkg.evil:Evil")
    assert allowed_sensors() == (frozenset({DEFAULT_SENSOR, ("pkg.a", "A")}), ["bad"])
    monkeypatch.setenv("CONNECTOR_SENSORS", "pkg.b:B")
    assert allowed_sensors() == (frozenset({DEFAULT_SENSOR, ("pkg.b", "B")}), [])
