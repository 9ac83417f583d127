"""Issue 11's security review: a caller's bytes never reach a pickle loader unless the operator opts in."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from connector_flyte import PICKLED_INPUTS_VARIABLE, FlyteRequestError
from flyteidl2.core import interface_pb2, literals_pb2, tasks_pb2, types_pb2
from flyteidl2.task import common_pb2
from test_adapter import calls

from connector import ConfigurationError, TaskTemplate

BINARY = types_pb2.LiteralType(simple=types_pb2.BINARY)
PICKLE_BLOB = types_pb2.LiteralType(blob=types_pb2.BlobType(format="PythonPickle"))
STRING = types_pb2.LiteralType(simple=types_pb2.STRING)
STRUCT = types_pb2.LiteralType(simple=types_pb2.STRUCT)


def attack(made: Path) -> bytes:
    """A protocol-0 pickle that, unpickled, makes the directory ``made``: what the reviewer sent."""
    return f"cos\nmkdir\n(V{made}\ntR.".encode()


def template_of(**types: types_pb2.LiteralType) -> TaskTemplate:
    message = tasks_pb2.TaskTemplate(type="probe")
    for name, literal_type in types.items():
        message.interface.inputs.variables.add(key=name, value=interface_pb2.Variable(type=literal_type))
    return TaskTemplate("probe", raw=message)


def inputs_of(**literals: literals_pb2.Literal) -> common_pb2.Inputs:
    return common_pb2.Inputs(
        literals=[common_pb2.NamedLiteral(name=name, value=value) for name, value in literals.items()]
    )


def binary(data: bytes, tag: str = "") -> literals_pb2.Literal:
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(binary=literals_pb2.Binary(value=data, tag=tag)))


def refusal(name: str, verb: str, found: str) -> str:
    return (
        f"the input {name!r} of task type probe@0 {verb} a pickle ({found}), which Flyte 2's TypeEngine "
        "would unpickle, running whatever code the caller put in it; send the input in a type Flyte 2 "
        "serializes without pickle, or have the operator accept pickled inputs from every caller with "
        "CONNECTOR_FLYTE_ACCEPT_PICKLED_INPUTS=1"
    )


@pytest.fixture(autouse=True)
def _no_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default configuration, whatever the environment running the tests says."""
    monkeypatch.delenv(PICKLED_INPUTS_VARIABLE, raising=False)


async def test_a_pickle_in_a_binary_input_is_refused_and_never_runs(tmp_path: Path) -> None:
    made = tmp_path / "pwned"
    with pytest.raises(FlyteRequestError) as info:
        await calls().create(template_of(x=BINARY), inputs=inputs_of(x=binary(attack(made))))
    assert not made.exists()
    assert info.value.field == "inputs.x"
    assert str(info.value) == refusal("x", "declares", "simple type BINARY at x")


async def test_with_the_opt_in_flyte2_unpickles_as_its_own_service_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the refusal prevents: the same request runs the caller's code once the operator opts in."""
    monkeypatch.setenv(PICKLED_INPUTS_VARIABLE, "1")
    made = tmp_path / "pwned"
    await calls().create(template_of(x=BINARY), inputs=inputs_of(x=binary(attack(made))))
    assert made.is_dir()


@pytest.mark.parametrize(
    ("declared", "found"),
    [
        (PICKLE_BLOB, "a blob of format PythonPickle at x"),
        (types_pb2.LiteralType(collection_type=BINARY), "simple type BINARY at x[]"),
        (types_pb2.LiteralType(map_value_type=PICKLE_BLOB), "a blob of format PythonPickle at x{}"),
        (
            types_pb2.LiteralType(
                collection_type=types_pb2.LiteralType(
                    union_type=types_pb2.UnionType(
                        variants=[STRING, types_pb2.LiteralType(map_value_type=BINARY)]
                    )
                )
            ),
            "simple type BINARY at x[]|1{}",
        ),
    ],
)
async def test_pickle_types_are_refused_wherever_they_are_declared(
    declared: types_pb2.LiteralType, found: str
) -> None:
    with pytest.raises(FlyteRequestError) as info:
        await calls().create(template_of(x=declared), inputs=common_pb2.Inputs())
    assert str(info.value) == refusal("x", "declares", found)


def _in_a_list_in_a_map(literal: literals_pb2.Literal) -> literals_pb2.Literal:
    listed = literals_pb2.Literal(collection=literals_pb2.LiteralCollection(literals=[literal]))
    return literals_pb2.Literal(map=literals_pb2.LiteralMap(literals={"k": listed}))


@pytest.mark.parametrize(
    ("literal", "found"),
    [
        (binary(b"x"), "a binary scalar tagged '', not 'msgpack', at x"),
        (
            _in_a_list_in_a_map(binary(b"x", "pickle")),
            "a binary scalar tagged 'pickle', not 'msgpack', at x['k'][0]",
        ),
        (
            literals_pb2.Literal(
                scalar=literals_pb2.Scalar(
                    blob=literals_pb2.Blob(
                        metadata=literals_pb2.BlobMetadata(type=types_pb2.BlobType(format="PythonPickle")),
                        uri="/tmp/p",
                    )
                )
            ),
            "a blob of format PythonPickle at x",
        ),
        (
            literals_pb2.Literal(
                scalar=literals_pb2.Scalar(union=literals_pb2.Union(value=binary(b"x"), type=STRING))
            ),
            "a binary scalar tagged '', not 'msgpack', at x",
        ),
        (
            literals_pb2.Literal(
                scalar=literals_pb2.Scalar(generic={"pickle_file": "/tmp/p"}), metadata={"format": "pickle"}
            ),
            "a literal marked format: pickle at x",
        ),
        (
            literals_pb2.Literal(offloaded_metadata=literals_pb2.LiteralOffloadedMetadata(uri="s3://b/l.pb")),
            "an offloaded literal at x (Flyte 2 fetches it from 's3://b/l.pb', unchecked)",
        ),
    ],
)
async def test_pickle_literals_are_refused_whatever_the_template_declares(
    literal: literals_pb2.Literal, found: str
) -> None:
    with pytest.raises(FlyteRequestError) as info:
        await calls().create(template_of(x=STRUCT), inputs=inputs_of(x=literal))
    assert info.value.field == "inputs.x"
    assert str(info.value) == refusal("x", "holds", found)


async def test_msgpack_binaries_are_converted() -> None:
    """What Flyte 2 writes for a dict: a msgpack binary, read without pickle."""
    import msgpack

    meta = await calls().create(
        template_of(x=STRUCT), inputs=inputs_of(x=binary(msgpack.dumps({"a": 1}), "msgpack"))
    )
    assert meta.flyte_decoded().seen["inputs"] == "{'x': {'a': 1}}"


async def test_a_malformed_opt_in_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PICKLED_INPUTS_VARIABLE, "ture")
    with pytest.raises(ConfigurationError) as info:
        await calls().create(template_of(x=BINARY), inputs=inputs_of(x=binary(pickle.dumps(1))))
    assert str(info.value) == "CONNECTOR_FLYTE_ACCEPT_PICKLED_INPUTS: 'ture' is not a boolean (use 1 or 0)"
