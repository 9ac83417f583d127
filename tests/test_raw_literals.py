"""raw_literals: read from any connector object, validated, and honoured by the call layer's result checks."""

from __future__ import annotations

import types
from typing import Any

import pytest
from flyteidl.core import literals_pb2
from flyteidl2.task import common_pb2

from connector import (
    AsyncConnector,
    ConnectorCalls,
    ConnectorValidationError,
    HookResultError,
    Phase,
    Resource,
    SyncConnector,
    hookimpl,
)
from connector.registry._calls import run_blocking
from connector.testing import registry_of


class Raw(SyncConnector):
    task_type_name = "raw"
    raw_literals = True

    def __init__(self, outputs: Any = None) -> None:
        super().__init__()
        self.outputs = outputs

    def do(self) -> Resource:
        return Resource(Phase.SUCCEEDED, outputs=self.outputs)


class Plain(Raw):
    task_type_name = "plain"
    raw_literals = False


def test_the_base_classes_say_false() -> None:
    assert (AsyncConnector.raw_literals, SyncConnector.raw_literals) == (False, False)
    assert registry_of(Plain).get("plain").raw_literals is False


def test_a_class_instance_or_module_may_say_true() -> None:
    module = types.ModuleType("connector_rawmod")
    module.task_type_name = "rawmod"  # type: ignore[attr-defined]
    module.raw_literals = True  # type: ignore[attr-defined]
    module.do = hookimpl(lambda inputs: Resource(Phase.SUCCEEDED))  # type: ignore[attr-defined]
    registry = registry_of(Raw, module)
    assert (registry.get("raw").raw_literals, registry.get("rawmod").raw_literals) == (True, True)


class Vague(Raw):
    task_type_name = "vague"
    raw_literals = "yes"  # type: ignore[assignment]


def test_raw_literals_must_be_a_bool() -> None:
    with pytest.raises(ConnectorValidationError) as caught:
        registry_of(Vague)
    assert caught.value.rule == "raw-literals"
    assert str(caught.value) == "registered connector Vague: raw_literals is 'yes'; set it to True or False"


def _do(connector: object, category: str) -> Resource:
    return run_blocking(ConnectorCalls(registry_of(connector).get(category)).do())


@pytest.mark.parametrize("outputs", [literals_pb2.LiteralMap(), common_pb2.Outputs()])
def test_the_call_layer_passes_a_literal_map_of_either_protocol_through(outputs: Any) -> None:
    outputs_of = _do(Raw(outputs), "raw").outputs
    assert outputs_of is outputs  # the caller (service or runner) checks the protocol


def test_a_connector_without_raw_literals_may_not_return_one() -> None:
    with pytest.raises(HookResultError) as caught:
        _do(Plain(literals_pb2.LiteralMap()), "plain")
    assert caught.value.problem == (
        "returned outputs of type flyteidl.core.LiteralMap, a protocol message, which only a connector with "
        "raw_literals = True may return; return a dict of output names to values"
    )


def test_another_message_is_refused() -> None:
    with pytest.raises(HookResultError) as caught:
        _do(Raw(literals_pb2.Literal()), "raw")
    assert caught.value.problem == (
        "returned outputs of type flyteidl.core.Literal; a raw-literals connector returns a dict, a "
        "flyteidl.core.LiteralMap (flyteidl v1) or a flyteidl2.task.Outputs (flyteidl2)"
    )


def test_a_raw_connector_may_still_return_a_dict() -> None:
    assert _do(Raw({"y": 1}), "raw").outputs == {"y": 1}
