"""The template view: its interface (described once per interface) and metadata (same as MessageToDict)."""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st

from connector import TaskTemplate, render_task_template
from connector.server._adapters import V1Adapter, V2Adapter, message_to_dict

IDLS = {"v1": "flyteidl", "v2": "flyteidl2"}


def _expected(message: Any) -> dict[str, Any]:
    return dict(json_format.MessageToDict(message, preserving_proto_field_name=True))


def _tasks(idl: str) -> Any:
    return importlib.import_module(f"{IDLS[idl]}.core.tasks_pb2")


texts = st.text(max_size=8)


@st.composite
def task_metadata(draw: st.DrawFn, idl: str) -> Any:
    tasks = _tasks(idl)
    message = tasks.TaskMetadata()
    if draw(st.booleans()):
        message.discoverable = draw(st.booleans())
    if draw(st.booleans()):
        # 0-1 are RuntimeType's names; a larger number is an unknown enum value (open enum).
        message.runtime.type = draw(st.integers(min_value=0, max_value=7))
        message.runtime.version = draw(texts)
        message.runtime.flavor = draw(texts)
    if draw(st.booleans()):
        message.timeout.seconds = draw(st.integers(min_value=0, max_value=10**6))
        message.timeout.nanos = draw(st.sampled_from([0, 1, 500_000_000, 999_999_999]))
    if draw(st.booleans()):
        message.retries.retries = draw(st.integers(min_value=0, max_value=2**32 - 1))
    message.discovery_version = draw(texts)
    if draw(st.booleans()):
        message.interruptible = draw(st.booleans())
    message.cache_serializable = draw(st.booleans())
    message.tags.update(draw(st.dictionaries(texts, texts, max_size=3)))
    message.pod_template_name = draw(texts)
    message.cache_ignore_input_vars.extend(draw(st.lists(texts, max_size=3)))
    if draw(st.booleans()):
        message.generates_deck.value = draw(st.booleans())
    if draw(st.booleans()):
        message.metadata.labels.update(draw(st.dictionaries(texts, texts, max_size=2)))
        message.metadata.annotations.update(draw(st.dictionaries(texts, texts, max_size=2)))
    if idl == "v2":
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            message.log_links.add(uri=draw(texts), name=draw(texts), ShowWhilePending=draw(st.booleans()))
        if draw(st.booleans()):
            message.cache_max_age.seconds = draw(st.integers(min_value=0, max_value=10**6))
    return message


@pytest.mark.parametrize("idl", ["v1", "v2"])
@given(data=st.data())
def test_task_metadata_equals_message_to_dict(idl: str, data: st.DataObject) -> None:
    message = data.draw(task_metadata(idl))
    assert message_to_dict(message) == _expected(message)


def test_json_rules_for_other_field_kinds() -> None:
    literals = importlib.import_module("flyteidl.core.literals_pb2")
    cases = [
        literals.Primitive(integer=-(2**63)),  # int64: a string in JSON
        literals.Primitive(float_value=2.5),
        literals.Primitive(float_value=float("inf")),  # "Infinity": left to json_format
        literals.Primitive(float_value=float("nan")),
        literals.Primitive(boolean=False),  # a oneof member set to its default is still set
        literals.Binary(value=b"\x00\xffbytes", tag="t"),  # bytes: base64
        literals.Scalar(primitive=literals.Primitive(datetime={"seconds": 5})),  # Timestamp
        literals.LiteralMap(
            literals={"a": literals.Literal(scalar=literals.Scalar(primitive=literals.Primitive(integer=1)))}
        ),
    ]
    for message in cases:
        assert message_to_dict(message) == _expected(message), message


def test_template_view_carries_the_metadata_dict() -> None:
    v1_tasks = _tasks("v1")
    template = v1_tasks.TaskTemplate(
        type="echo",
        metadata=v1_tasks.TaskMetadata(
            runtime=v1_tasks.RuntimeMetadata(type=v1_tasks.RuntimeMetadata.FLYTE_SDK, version="1.16"),
            timeout={"seconds": 90},
            tags={"team": "data"},
            interruptible=True,
        ),
    )
    assert V1Adapter().template(template).metadata == {
        "runtime": {"type": "FLYTE_SDK", "version": "1.16"},
        "timeout": "90s",
        "interruptible": True,
        "tags": {"team": "data"},
    }
    v2_tasks = _tasks("v2")
    assert V2Adapter().template(v2_tasks.TaskTemplate(type="echo")).metadata == {}
    assert V2Adapter().template(v2_tasks.TaskTemplate(type="echo", metadata={})).metadata == {}


def _typed_interface(idl: str, **inputs: str) -> Any:
    interface = importlib.import_module(f"{IDLS[idl]}.core.interface_pb2")
    types = importlib.import_module(f"{IDLS[idl]}.core.types_pb2")
    message = interface.TypedInterface()
    for name, simple in inputs.items():
        literal_type = types.LiteralType(simple=types.SimpleType.Value(simple))
        variables = message.inputs.variables
        if idl == "v1":
            variables[name].type.CopyFrom(literal_type)
        else:
            variables.add(key=name).value.type.CopyFrom(literal_type)
    return message


@pytest.mark.parametrize(("idl", "adapter_type"), [("v1", V1Adapter), ("v2", V2Adapter)])
def test_interface_is_described_once_and_every_view_is_new(idl: str, adapter_type: Any) -> None:
    adapter = adapter_type()
    tasks = _tasks(idl)
    first = adapter.template(tasks.TaskTemplate(type="echo", interface=_typed_interface(idl, x="INTEGER")))
    assert first.interface is not None
    assert dict(first.interface.inputs) == {"x": "integer"}
    first.interface.inputs["x"] = "changed by a connector"  # type: ignore[index]
    again = tasks.TaskTemplate(type="echo", interface=_typed_interface(idl, x="INTEGER"))
    second = adapter.template(again)
    assert second.interface is not None
    assert dict(second.interface.inputs) == {"x": "integer"}
    assert second.interface is not first.interface
    # Another interface is another entry; the declared types still type the inputs.
    other = tasks.TaskTemplate(type="echo", interface=_typed_interface(idl, x="FLOAT", y="STRING"))
    assert dict(adapter.template(other).interface.inputs) == {"x": "float", "y": "string"}
    assert adapter.variables(other, "inputs")["x"].simple == _types(idl).SimpleType.Value("FLOAT")
    assert adapter.variables(again, "outputs") == {}
    assert adapter.variables(tasks.TaskTemplate(type="echo"), "inputs") is None


def test_interface_cache_is_bounded() -> None:
    adapter = V1Adapter()
    tasks = _tasks("v1")
    for index in range(300):
        adapter.template(
            tasks.TaskTemplate(type="echo", interface=_typed_interface("v1", **{f"x{index}": "INTEGER"}))
        )
        assert len(adapter._interfaces) <= 256


def _types(idl: str) -> Any:
    return importlib.import_module(f"{IDLS[idl]}.core.types_pb2")


@pytest.mark.parametrize(("idl", "adapter_type"), [("v1", V1Adapter), ("v2", V2Adapter)])
def test_a_template_is_converted_once_and_a_connectors_changes_stay_in_its_view(
    idl: str, adapter_type: Any
) -> None:
    adapter = adapter_type()
    tasks = _tasks(idl)

    def template() -> Any:
        message = tasks.TaskTemplate(type="echo", config={"k": "v"}, metadata=tasks.TaskMetadata(retries={}))
        message.custom.update({"nested": {"items": [1, {"deep": "x"}]}, "url": "http://a"})
        message.metadata.runtime.version = "1.0"
        message.container.args.extend(["a", "b"])
        return message

    first = adapter.template(template())
    assert len(adapter._templates) == 1
    # What a connector may do to its view: none of it reaches the next call's view.
    first.custom["nested"]["items"][1]["deep"] = "changed"
    first.custom["url"] = "changed"
    first.config["k"] = "changed"
    first.container_args.append("c")
    first.metadata["runtime"]["version"] = "changed"
    message = template()
    second = adapter.template(message)
    assert len(adapter._templates) == 1
    assert second.custom == {"nested": {"items": [1, {"deep": "x"}]}, "url": "http://a"}
    assert second.config == {"k": "v"}
    assert second.container_args == ["a", "b"]
    assert second.metadata["runtime"]["version"] == "1.0"
    assert second.raw is message


def test_template_cache_is_bounded_and_keeps_no_large_template() -> None:
    adapter = V1Adapter()
    tasks = _tasks("v1")
    for index in range(300):
        adapter.template(tasks.TaskTemplate(type="echo", config={"i": str(index)}))
        assert len(adapter._templates) <= 256
    adapter._templates.clear()
    large = tasks.TaskTemplate(type="echo", config={"big": "x" * 20_000})
    assert adapter.template(large).config["big"] == "x" * 20_000
    assert adapter._templates == {}


def _custom_template(idl: str) -> Any:
    template = _tasks(idl).TaskTemplate(type="echo", task_type_version=2, config={"k": "v"})
    template.custom.update({"query": "select 1", "nested": {"rows": [1, 2]}})
    template.container.args.extend(["run", "{{.input}}"])
    return template


@pytest.mark.parametrize("idl", ["v1", "v2"])
def test_a_view_makes_its_copies_only_when_a_connector_reads_them(idl: str) -> None:
    adapter = V1Adapter() if idl == "v1" else V2Adapter()
    message = _custom_template(idl)
    unread = adapter.template(message)
    # type, version and raw are set; the dicts and lists are not made yet (issue 13).
    assert (unread.type, unread.task_type_version, unread.raw) == ("echo", 2, message)
    assert "custom" not in vars(unread)
    read = adapter.template(message)
    assert read.custom == {"query": "select 1", "nested": {"rows": [1, 2]}}
    assert "custom" in vars(read)
    assert "_fill" not in vars(read)
    assert (read.config, read.container_args, read.metadata) == ({"k": "v"}, ["run", "{{.input}}"], {})
    # Each view's copies are its own: a connector changing one changes neither the next nor the cache.
    read.custom["nested"]["rows"].append(3)
    read.config["k"] = "changed"
    again = adapter.template(message)
    assert again.custom == {"query": "select 1", "nested": {"rows": [1, 2]}}
    assert again.config == {"k": "v"}
    # A field the connector set before reading the others keeps its value.
    replaced = adapter.template(message)
    replaced.custom = {"set": "by the connector"}
    assert replaced.metadata == {}
    assert replaced.custom == {"set": "by the connector"}
    # It compares, prints and copies as a template made whole: dataclass code reads every field.
    whole = dataclasses.replace(adapter.template(message))
    assert vars(whole).keys() == {f.name for f in dataclasses.fields(TaskTemplate)}
    assert adapter.template(message) == whole
    assert repr(adapter.template(message)) == repr(whole)
    assert render_task_template(adapter.template(message), "s3://p").container_args == [
        "run",
        "s3://p/inputs.pb",
    ]


def test_a_lazy_view_sets_every_field_with_a_plain_default() -> None:
    # A field with a plain default is found on the class: a lazy view that left it to `fill` would
    # show the default instead of the template's value. The adapters set all of these.
    plain = {f.name for f in dataclasses.fields(TaskTemplate) if f.default is not dataclasses.MISSING}
    view = V1Adapter().template(_custom_template("v1"))
    assert plain <= vars(view).keys()


def test_an_attribute_a_template_does_not_have_is_an_attribute_error() -> None:
    view = V1Adapter().template(_custom_template("v1"))
    with pytest.raises(AttributeError, match="'TaskTemplate' object has no attribute 'nope'"):
        view.nope  # noqa: B018
    assert view.custom["query"] == "select 1"  # the view is still whole
    with pytest.raises(AttributeError, match="'TaskTemplate' object has no attribute 'nope'"):
        TaskTemplate("echo").nope  # noqa: B018
