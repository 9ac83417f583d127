"""Declared fields on the command line (issue 12): show, run --help-fields, exit 2, dotted --custom keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import connector
from connector import ConnectorRegistry
from connector.cli import _inspect, _run, cli
from connector.cli._values import custom_over
from connector.testing import registry_of
from tests.test_fields import CRASH, CrashingApply, Deploy, Undeclared, seen


class Refuses(connector.SyncConnector):
    """Refuses every template in its own code, as connector-http does a URL it cannot send."""

    task_type_name = "refuses"

    def do(self) -> connector.Resource:
        raise connector.BadRequestError("refuses: the custom field 'url' must be an http:// URL", field="url")


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> ConnectorRegistry:
    fresh = registry_of(Deploy, Undeclared, Refuses, CrashingApply)
    monkeypatch.setattr(_inspect, "_registry", lambda: fresh)
    monkeypatch.setattr(_run, "_registry", lambda: fresh)
    seen.clear()
    return fresh


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


CUSTOM_FIELDS_TEXT = (
    "Custom fields:\n"
    "FIELD\tTYPE\tHELP\n"
    "service\tstring, required\tThe service to deploy.\n"
    "replicas\tinteger, default 1\tHow many copies run.\n"
    "ratio\tnumber\tThe share of traffic the new copies get.\n"
    "dry_run\tboolean, default false\n"
    'labels\tobject, default {"team": "core"}\n'
    "submit\tobject\tWhere the deployment is sent.\n"
    "submit.url\tstring, required\tThe URL the deployment is sent to.\n"
    'submit.method\tstring, default "POST"\n'
    "timeout\tnumber or string\tSeconds, or a duration like '5m'.\n"
    "Inputs:\n"
    "FIELD\tTYPE\tHELP\n"
    "version\tstring\tThe version to deploy.\n"
    "Outputs:\n"
    "FIELD\tTYPE\tHELP\n"
    "url\tstring\tWhere the service answers.\n"
)


def test_show_lists_the_declared_fields_inputs_and_outputs(registry: ConnectorRegistry) -> None:
    assert invoke("show", "deploy") == (
        0,
        "Category:      deploy@0\n"
        "Name:          Deploy\n"
        "Kind:          sync\n"
        "Hooks:         do\n"
        "Target:        Deploy\n"
        "State:         loaded\n"
        "\n"
        f"{CUSTOM_FIELDS_TEXT}"
        "\n"
        "Deploys a service (a sync connector that declares its fields).\n",
    )


def test_show_json_has_the_declarations(registry: ConnectorRegistry) -> None:
    code, output = invoke("show", "deploy", "--json")
    assert code == 0
    document = json.loads(output)
    assert [f["name"] for f in document["custom_fields"]] == [
        "service",
        "replicas",
        "ratio",
        "dry_run",
        "labels",
        "submit",
        "submit.url",
        "submit.method",
        "timeout",
    ]
    assert document["custom_fields"][1] == {
        "name": "replicas",
        "type": "integer",
        "required": False,
        "default": 1,
        "help": "How many copies run.",
    }
    assert document["input_fields"] == [
        {
            "name": "version",
            "type": "string",
            "required": False,
            "default": None,
            "help": "The version to deploy.",
        }
    ]
    assert document["output_fields"] == [
        {
            "name": "url",
            "type": "string",
            "required": False,
            "default": None,
            "help": "Where the service answers.",
        }
    ]


def test_show_of_a_connector_without_declarations_is_unchanged(registry: ConnectorRegistry) -> None:
    assert invoke("show", "undeclared") == (
        0,
        "Category:      undeclared@0\n"
        "Name:          Undeclared\n"
        "Kind:          sync\n"
        "Hooks:         do\n"
        "Target:        Undeclared\n"
        "State:         loaded\n"
        "\n"
        "Declares no fields: its templates pass unchecked, as before issue 12.\n",
    )
    document = json.loads(invoke("show", "undeclared", "--json")[1])
    assert (document["custom_fields"], document["input_fields"], document["output_fields"]) == (None, [], [])


def test_run_help_fields_prints_the_declarations_and_exits_0(registry: ConnectorRegistry) -> None:
    assert invoke("run", "deploy", "--help-fields") == (0, f"Deploy (deploy@0):\n{CUSTOM_FIELDS_TEXT}")
    assert seen == []  # nothing ran


def test_run_help_fields_of_a_connector_without_declarations(registry: ConnectorRegistry) -> None:
    assert invoke("run", "undeclared", "--help-fields") == (
        0,
        "Undeclared (undeclared@0):\n"
        "Custom fields: none declared (custom fields are passed on unchecked)\n"
        "Inputs: none declared\n"
        "Outputs: none declared\n",
    )


def test_run_help_fields_of_an_unknown_type_exits_2(registry: ConnectorRegistry) -> None:
    assert invoke("run", "deplo", "--help-fields") == (
        2,
        "Error: no connector for task type 'deplo' version 0 is installed. Installed task types: "
        "crashing-apply@0, deploy@0, refuses@0, undeclared@0\n",
    )


@pytest.mark.parametrize(
    ("custom", "message"),
    [
        (["servce=api"], "deploy: unknown custom field 'servce'; did you mean 'service'?"),
        (
            ["service=api", "colour=blue"],
            "deploy: unknown custom field 'colour'; the custom fields are: service, replicas, ratio, "
            "dry_run, labels, submit, timeout",
        ),
        ([], "deploy: the custom field 'service' is required"),
        (
            ["service=api", "replicas=many"],
            "deploy: the custom field 'replicas' must be an integer; got a string of 4 characters",
        ),
        (["service=api", "submit.method=PUT"], "deploy: the custom field 'submit.url' is required"),
        (
            ["service=api", "submit.url=http://h", "submit.methd=PUT"],
            "deploy: unknown custom field 'submit.methd'; did you mean 'submit.method'?",
        ),
    ],
)
def test_run_exits_2_naming_the_field(registry: ConnectorRegistry, custom: list[str], message: str) -> None:
    arguments = [item for value in custom for item in ("--custom", value)]
    assert invoke("run", "deploy", *arguments) == (2, f"Error: {message}\n")
    assert seen == []


def test_run_exits_2_when_the_connector_refuses_the_template_itself(registry: ConnectorRegistry) -> None:
    # A BadRequestError of the hook is the caller's mistake too; it exited 1 before issue 12.
    code, output = invoke("run", "refuses")
    assert code == 2
    assert output.endswith(
        "Error: task refuses@0 error: refuses: the custom field 'url' must be an http:// URL\n"
    )


def test_dotted_custom_keys_set_fields_of_an_object(registry: ConnectorRegistry) -> None:
    code, output = invoke(
        "run",
        "deploy",
        "--custom",
        "service=api",
        "--custom",
        "submit.url=http://h",
        "--custom",
        "labels.team=web",
    )
    assert code == 0, output
    assert seen == [
        {
            "service": "api",
            "submit": {"url": "http://h", "method": "POST"},
            "labels": {"team": "web"},
            "replicas": 1,
            "dry_run": False,
        }
    ]


def test_a_dotted_key_replaces_one_field_of_the_template_files_object(
    registry: ConnectorRegistry, tmp_path: Path
) -> None:
    template = tmp_path / "template.json"
    template.write_text(
        json.dumps({"custom": {"service": "api", "submit": {"url": "http://a", "method": "PUT"}}})
    )
    code, output = invoke("run", "deploy", "--template", str(template), "--custom", "submit.url=http://b")
    assert code == 0, output
    assert seen[0]["submit"] == {"url": "http://b", "method": "PUT"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"submit": 1, "submit.url": 2},
            "--custom 'submit' and 'submit.url': give the object or its fields, not both",
        ),
        ({"a..b": 1}, "--custom 'a..b': a dotted key has an empty part"),
        ({".a": 1}, "--custom '.a': a dotted key has an empty part"),
    ],
)
def test_bad_dotted_keys_are_usage_errors(values: dict[str, object], message: str) -> None:
    with pytest.raises(connector.InputValueError) as info:
        custom_over({}, values, dotted=True)
    assert str(info.value) == message


def test_dotted_keys_nest_at_any_depth() -> None:
    assert custom_over({}, {"a.b.c": 1, "a.b.d": 2, "a.e": 3, "f": 4}, dotted=True) == {
        "a": {"b": {"c": 1, "d": 2}, "e": 3},
        "f": 4,
    }


def test_only_dotted_keys_merge_into_the_files_objects_a_whole_key_replaces() -> None:
    base = {"headers": {"A": "1"}, "submit": {"url": "u", "method": "PUT"}, "n": 1}
    assert custom_over(base, {"headers": {}, "submit.url": "v"}, dotted=True) == {
        "headers": {},
        "submit": {"url": "v", "method": "PUT"},
        "n": 1,
    }
    assert custom_over(base, {"submit": {"url": "w"}}, dotted=True)["submit"] == {"url": "w"}
    assert custom_over(base, {"n.x": 2}, dotted=True)["n"] == {"x": 2}  # a dotted key makes its object
    assert base == {"headers": {"A": "1"}, "submit": {"url": "u", "method": "PUT"}, "n": 1}


def test_without_declared_fields_a_dot_is_part_of_the_key() -> None:
    assert custom_over({"a": {"b": 1}}, {"a.b": 2, "a..b": 3}, dotted=False) == {
        "a": {"b": 1},
        "a.b": 2,
        "a..b": 3,
    }


def test_a_whole_custom_object_on_the_command_line_clears_the_files(
    registry: ConnectorRegistry, tmp_path: Path
) -> None:
    template = tmp_path / "template.json"
    template.write_text(json.dumps({"custom": {"service": "api", "labels": {"team": "a", "tier": "b"}}}))
    code, output = invoke("run", "deploy", "--template", str(template), "--custom", "labels={}")
    assert code == 0, output
    assert seen[0]["labels"] == {}


def test_an_undeclared_connector_gets_a_dotted_key_as_it_is(registry: ConnectorRegistry) -> None:
    code, output = invoke("run", "undeclared", "--custom", "spark.conf=1", "--custom", "a..b=2")
    assert code == 0, output
    assert seen == [{"spark.conf": 1, "a..b": 2}]


def test_run_json_prints_a_refused_template_as_one_json_line(registry: ConnectorRegistry) -> None:
    result = CliRunner().invoke(cli, ["run", "deploy", "--json", "--custom", "servce=api"])
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        json.dumps(
            {
                "error": "deploy: unknown custom field 'servce'; did you mean 'service'?",
                "kind": "usage",
                "exit_code": 2,
            }
        )
    ]
    assert seen == []


def test_help_fields_json_prints_the_declarations(registry: ConnectorRegistry) -> None:
    result = CliRunner().invoke(cli, ["run", "deploy", "--help-fields", "--json"])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert (document["name"], document["category"]) == ("Deploy", "deploy@0")
    assert [f["name"] for f in document["custom_fields"]][:2] == ["service", "replicas"]
    assert document["custom_fields"][0] == {
        "name": "service",
        "type": "string",
        "required": True,
        "default": None,
        "help": "The service to deploy.",
    }
    assert document["input_fields"] == [
        {
            "name": "version",
            "type": "string",
            "required": False,
            "default": None,
            "help": "The version to deploy.",
        }
    ]


@pytest.mark.parametrize("as_json", [False, True])
def test_a_raising_custom_fields_apply_exits_1_as_a_crashing_hook_without_a_traceback(
    registry: ConnectorRegistry, as_json: bool
) -> None:
    result = CliRunner().invoke(
        cli, ["run", "crashing-apply", "--custom", "url=http://x", *(["--json"] if as_json else [])]
    )
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    if as_json:
        assert json.loads(result.stdout) == {"error": CRASH, "kind": "connector", "exit_code": 1}
    else:
        assert result.output == f"Error: {CRASH}\n"
    assert seen == []


def test_a_bad_dotted_key_on_the_command_line_exits_2(registry: ConnectorRegistry) -> None:
    assert invoke("run", "deploy", "--custom", "submit=1", "--custom", "submit.url=2") == (
        2,
        "Error: --custom 'submit' and 'submit.url': give the object or its fields, not both\n",
    )


class BadlyDeclared(connector.SyncConnector):
    task_type_name = "badly"
    custom_fields = (connector.Field("url"), connector.Field("url"))

    def do(self) -> connector.Resource:
        return connector.Resource(connector.Phase.SUCCEEDED)


def test_a_connector_with_a_bad_declaration_is_broken_and_help_fields_exits_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fresh = registry_of(entry_points={"badly": BadlyDeclared})
    monkeypatch.setattr(_inspect, "_registry", lambda: fresh)
    monkeypatch.setattr(_run, "_registry", lambda: fresh)
    code, output = invoke("run", "badly", "--help-fields")
    assert code == 1
    assert output.startswith("Error: task type badly@0 cannot be run: ")
    assert output.endswith(
        "custom_fields declares 'url' twice; see 'Declaring fields' in docs/authoring.md\n"
    )
    document = json.loads(CliRunner().invoke(cli, ["show", "badly", "--json"]).output)
    assert (document["state"], document["custom_fields"]) == ("broken", None)
