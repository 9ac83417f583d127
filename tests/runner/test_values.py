"""Typed command-line values, JSON and YAML files, templates and interface checks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from connector import InputValueError, TaskInterface
from connector.cli._values import (
    build_template,
    coerce_to_interface,
    load_mapping,
    parse_assignments,
    parse_value,
    split_assignments,
)
from connector.runner._documents import template_from_document, template_to_document


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("+5", 5),
        ("-12", -12),
        ("007", 7),
        ("1.5", 1.5),
        ("-.5", -0.5),
        ("3.", 3.0),
        ("1e-3", 0.001),
        ("2.5E2", 250.0),
        ("true", True),
        ("FALSE", False),
        ("null", None),
        ("{}", {}),
        ('{"a": {"b": [1, null]}}', {"a": {"b": [1, None]}}),
        ("[]", []),
        ('"quoted"', "quoted"),
        ('"42"', "42"),
        ("plain text", "plain text"),
        ("", ""),
        ("nan", "nan"),
        ("inf", "inf"),
        ("1_000", "1_000"),
        ("0x10", "0x10"),
        ("yes", "yes"),
        ("None", "None"),
        ("@@x", "@x"),
        ("@@", "@"),
        ("a@b", "a@b"),
    ],
)
def test_parse_value(text: str, value: object) -> None:
    parsed = parse_value(text)
    assert parsed == value
    assert type(parsed) is type(value)


def test_at_file(tmp_path: Path) -> None:
    path = tmp_path / "body.txt"
    path.write_text("héllo\n", encoding="utf-8")
    assert parse_value(f"@{path}") == "héllo\n"
    binary = tmp_path / "data.bin"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputValueError, match=r"^x: file '.*data\.bin' is not UTF-8 text$"):
        parse_value(f"@{binary}", option="x")
    with pytest.raises(InputValueError, match=r"^x: '.*' is a directory, not a file$"):
        parse_value(f"@{tmp_path}", option="x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{",
            "v: '{' looks like JSON but is not valid JSON (Expecting property name enclosed in double quotes "
            "at column 2)",
        ),
        ("[1,", "v: '[1,' looks like JSON but is not valid JSON (Expecting value at column 4)"),
        (
            '"open',
            "v: '\"open' looks like JSON but is not valid JSON (Unterminated string starting at column 1)",
        ),
    ],
)
def test_malformed_json_values(text: str, message: str) -> None:
    with pytest.raises(InputValueError) as info:
        parse_value(text, option="v")
    assert str(info.value) == message + _NOT_JSON
    assert info.value.option == "v"


_NOT_JSON = "; fix it, or pass text that starts with '{', '[' or '\"' as a quoted JSON string"
_TOO_LARGE = "is too large; pass it as a quoted JSON string"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Python's json module accepts these, but no JSON printer (--json included) can write them back.
        ("[NaN]", f"v: '[NaN]' looks like JSON but is not valid JSON (NaN is not a JSON value){_NOT_JSON}"),
        (
            '{"a": -Infinity}',
            f"v: '{{\"a\": -Infinity}}' looks like JSON but is not valid JSON "
            f"(-Infinity is not a JSON value){_NOT_JSON}",
        ),
        ("1e999", f"v: the number '1e999' {_TOO_LARGE}"),
        ("-1e400", f"v: the number '-1e400' {_TOO_LARGE}"),
        # int() converts at most sys.get_int_max_str_digits() digits (4300 by default).
        ("9" * 5000, f"v: the number '99999999999999999999'...(5000 characters) {_TOO_LARGE}"),
    ],
)
def test_values_that_json_cannot_hold(text: str, message: str) -> None:
    with pytest.raises(InputValueError) as info:
        parse_value(text, option="v")
    assert str(info.value) == message
    assert info.value.option == "v"


def test_assignments() -> None:
    assert parse_assignments(["a=1", " b =x", "c=k=v", "d="], option="--input") == {
        "a": 1,
        "b": "x",
        "c": "k=v",
        "d": "",
    }
    assert split_assignments([" a =007", "b="], option="--input") == {"a": "007", "b": ""}
    with pytest.raises(InputValueError, match=r"^--input 'a' is given twice$"):
        parse_assignments(["a=1", " a=1"], option="--input")


def test_json_and_yaml_files(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"n": 1, "s": "x"}')
    (tmp_path / "a.yaml").write_text("n: 1\nlist: [1, 2]\nnested:\n  k: true\n")
    (tmp_path / "a.conf").write_text("n: 2\n")  # not JSON: read as YAML
    (tmp_path / "empty.yml").write_text("")
    (tmp_path / "bad.yaml").write_text("a: [1\nb: 2\n")
    (tmp_path / "scalar.yaml").write_text("just text\n")
    (tmp_path / "intkeys.yaml").write_text("1: a\n")
    assert load_mapping(str(tmp_path / "a.json"), option="--inputs") == {"n": 1, "s": "x"}
    assert load_mapping(str(tmp_path / "a.yaml"), option="--inputs") == {
        "n": 1,
        "list": [1, 2],
        "nested": {"k": True},
    }
    assert load_mapping(str(tmp_path / "a.conf"), option="--inputs") == {"n": 2}
    assert load_mapping(str(tmp_path / "empty.yml"), option="--inputs") == {}
    with pytest.raises(InputValueError) as info:
        load_mapping(str(tmp_path / "bad.yaml"), option="--inputs")
    assert str(info.value) == (
        f"--inputs: {str(tmp_path / 'bad.yaml')!r} is not valid YAML: expected ',' or ']', but got ':' "
        "at line 2 column 2"
    )
    with pytest.raises(InputValueError, match=r"must hold a mapping of names to values, not a string$"):
        load_mapping(str(tmp_path / "scalar.yaml"), option="--inputs")
    with pytest.raises(InputValueError, match=r"has keys that are not strings: 1$"):
        load_mapping(str(tmp_path / "intkeys.yaml"), option="--inputs")


def test_yaml_without_pyyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The end-to-end tests check this in a venv without PyYAML; here a None entry in sys.modules
    # makes `import yaml` fail the same way, to cover the .yml spelling too.
    monkeypatch.setitem(sys.modules, "yaml", None)
    (tmp_path / "t.yml").write_text("a: 1\n")
    with pytest.raises(InputValueError) as info:
        load_mapping(str(tmp_path / "t.yml"), option="--template")
    assert str(info.value) == (
        f"--template: cannot read {str(tmp_path / 't.yml')!r}: reading YAML needs PyYAML, which is not "
        "installed; install it with: pip install 'connector-core[yaml]'"
    )


def test_template_documents() -> None:
    kwargs = template_from_document(
        {
            "custom": {"a": 1},
            "config": {"n": 1},
            "container_args": ["x", 2],
            "sql": "SELECT 1",
            "interface": {"inputs": {"n": "integer"}, "outputs": {"o": "string"}},
            "container_image": None,
        },
        source="t.json",
    )
    assert kwargs == {
        "custom": {"a": 1},
        "config": {"n": "1"},
        "container_args": ["x", "2"],
        "sql": "SELECT 1",
        "interface": TaskInterface(inputs={"n": "integer"}, outputs={"o": "string"}),
    }
    with pytest.raises(InputValueError, match=r"'task_type_version' must be a whole number, not a boolean$"):
        template_from_document({"task_type_version": True}, source="t.json")
    with pytest.raises(
        InputValueError, match=r"interface has unknown key\(s\) 'extra'; known keys: inputs, outputs"
    ):
        template_from_document({"interface": {"extra": {}}}, source="t.json")
    with pytest.raises(InputValueError, match=r"interface inputs must be a mapping of names to type names$"):
        template_from_document({"interface": {"inputs": [1]}}, source="t.json")


def test_build_template_merges_custom_and_round_trips() -> None:
    template = build_template(
        "sensor",
        1,
        document={"custom": {"a": 1, "b": 2}, "task_type_version": 1},
        source="t",
        custom={"b": 3},
    )
    assert (template.type, template.task_type_version, template.custom) == ("sensor", 1, {"a": 1, "b": 3})
    document = template_to_document(template)
    assert template_from_document(document, source="journal") == {
        "type": "sensor",
        "task_type_version": 1,
        "custom": {"a": 1, "b": 3},
        "config": {},
        "container_args": [],
        "metadata": {},
        "id": "",
    }
    with pytest.raises(InputValueError, match=r"task_type_version is 2 but the command runs sensor@1"):
        build_template("sensor", 1, document={"task_type_version": 2}, source="t")


def test_interface_coercion() -> None:
    interface = TaskInterface(
        inputs={"s": "string", "f": "float", "l": "list", "b": "boolean", "d": "datetime"}
    )
    raw = {"s": "007", "f": "2", "l": "[1]", "b": "true", "d": "2024-01-01"}
    values = {"s": 7, "f": 2, "l": [1], "b": True, "d": "2024-01-01"}
    assert coerce_to_interface(values, raw, interface) == {
        "s": "007",
        "f": 2.0,
        "l": [1],
        "b": True,
        "d": "2024-01-01",
    }
    # A value that is already text keeps it: a quoted JSON string loses its quotes, as without an interface.
    assert coerce_to_interface({"s": "007", "l": [1]}, {"s": '"007"', "l": "[1]"}, interface) == {
        "s": "007",
        "l": [1],
    }
    # Values from a file are not text: a declared string must be a string there.
    with pytest.raises(InputValueError, match=r"^input 's' is declared string but got 7 \(number\)$"):
        coerce_to_interface({"s": 7}, {}, interface)
    with pytest.raises(InputValueError, match=r"^input 'l' is declared list but got 'x' \(string\)$"):
        coerce_to_interface({"l": "x"}, {"l": "x"}, interface)
    assert coerce_to_interface({"anything": 1}, {}, None) == {"anything": 1}
    assert coerce_to_interface({"anything": 1}, {}, TaskInterface()) == {"anything": 1}
