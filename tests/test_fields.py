"""Declared connector fields (issue 12): the declaration, the checks before create and do, defaults."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

import connector
from connector import Field
from connector._fields import FieldSet
from connector.testing import LifecycleDriver, registry_of

#: The custom fields each hook below was given, in call order.
seen: list[dict[str, Any]] = []


@pytest.fixture(autouse=True)
def _clear_seen() -> None:
    seen.clear()


DEPLOY_FIELDS = (
    Field("service", str, required=True, help="The service to deploy."),
    Field("replicas", int, default=1, help="How many copies run."),
    Field("ratio", float, help="The share of traffic the new copies get."),
    Field("dry_run", bool, default=False),
    Field("labels", dict, default={"team": "core"}),
    Field("submit", dict, help="Where the deployment is sent."),
    Field("submit.url", str, required=True, help="The URL the deployment is sent to."),
    Field("submit.method", str, default="POST"),
    Field("timeout", (float, str), help="Seconds, or a duration like '5m'."),
)


class Deploy(connector.SyncConnector):
    """Deploys a service (a sync connector that declares its fields)."""

    task_type_name = "deploy"
    custom_fields = DEPLOY_FIELDS
    input_fields = (Field("version", str, help="The version to deploy."),)
    output_fields = (Field("url", str, help="Where the service answers."),)

    def do(self, task_template: connector.TaskTemplate) -> connector.Resource:
        seen.append(task_template.custom)
        return connector.Resource(connector.Phase.SUCCEEDED, outputs={"url": "http://svc"})


@dataclasses.dataclass
class DeployMeta(connector.ResourceMeta):
    service: str


class AsyncDeploy(connector.AsyncConnector):
    """The same fields on an async connector."""

    task_type_name = "async-deploy"
    metadata_type = DeployMeta
    custom_fields = DEPLOY_FIELDS

    def create(self, task_template: connector.TaskTemplate) -> DeployMeta:
        seen.append(task_template.custom)
        return DeployMeta(task_template.custom["service"])

    def get(self, resource_meta: DeployMeta) -> connector.Resource:
        return connector.Resource(connector.Phase.SUCCEEDED)

    def delete(self, resource_meta: DeployMeta) -> None:
        pass


class Undeclared(connector.SyncConnector):
    """Declares no fields: its templates pass unchecked, as before issue 12."""

    task_type_name = "undeclared"

    def do(self, task_template: connector.TaskTemplate) -> connector.Resource:
        seen.append(task_template.custom)
        return connector.Resource(connector.Phase.SUCCEEDED)


class TwoSchemas(connector.SyncConnector):
    """Checks only templates without a 'legacy' config entry (as webhook skips flytekit's schema)."""

    task_type_name = "two-schemas"
    custom_fields = (Field("url", str, required=True),)

    def custom_fields_apply(self, task_template: connector.TaskTemplate) -> bool:
        return "legacy" not in task_template.config

    def do(self, task_template: connector.TaskTemplate) -> connector.Resource:
        seen.append(task_template.custom)
        return connector.Resource(connector.Phase.SUCCEEDED)


class CrashingApply(connector.SyncConnector):
    """Its custom_fields_apply raises: a connector bug, reported as a hook crash."""

    task_type_name = "crashing-apply"
    custom_fields = (Field("url", str, required=True),)

    def custom_fields_apply(self, task_template: connector.TaskTemplate) -> bool:
        raise KeyError("legacy")

    def do(self, task_template: connector.TaskTemplate) -> connector.Resource:
        seen.append(task_template.custom)
        return connector.Resource(connector.Phase.SUCCEEDED)


GOOD = {"service": "api", "submit": {"url": "http://deploy"}}


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


# The checks, with their exact messages.


@pytest.mark.parametrize(
    ("custom", "message", "field"),
    [
        ({}, "deploy: the custom field 'service' is required", "service"),
        ({**GOOD, "service": None}, "deploy: the custom field 'service' is required", "service"),
        (
            {**GOOD, "service": 7},
            "deploy: the custom field 'service' must be a string; got an integer",
            "service",
        ),
        (
            {**GOOD, "replicas": "three"},
            "deploy: the custom field 'replicas' must be an integer; got a string of 5 characters",
            "replicas",
        ),
        (
            {**GOOD, "replicas": 2.5},
            "deploy: the custom field 'replicas' must be an integer; got a number",
            "replicas",
        ),
        (
            {**GOOD, "ratio": True},
            "deploy: the custom field 'ratio' must be a number; got a boolean",
            "ratio",
        ),
        (
            {**GOOD, "dry_run": "yes"},
            "deploy: the custom field 'dry_run' must be a boolean; got a string of 3 characters",
            "dry_run",
        ),
        (
            {**GOOD, "labels": ["a"]},
            "deploy: the custom field 'labels' must be an object; got an array of 1 item",
            "labels",
        ),
        (
            {**GOOD, "timeout": [5]},
            "deploy: the custom field 'timeout' must be a number or string; got an array of 1 item",
            "timeout",
        ),
        (
            {**GOOD, "servce": "api"},
            "deploy: unknown custom field 'servce'; did you mean 'service'?",
            "servce",
        ),
        (
            {**GOOD, "colour": "blue"},
            "deploy: unknown custom field 'colour'; the custom fields are: service, replicas, ratio, "
            "dry_run, labels, submit, timeout",
            "colour",
        ),
        (
            {"service": "api", "submit": {}},
            "deploy: the custom field 'submit.url' is required",
            "submit.url",
        ),
        (
            {"service": "api", "submit": "http://deploy"},
            "deploy: the custom field 'submit' must be an object; got a string of 13 characters",
            "submit",
        ),
        (
            {"service": "api", "submit": {"url": "http://deploy", "methd": "PUT"}},
            "deploy: unknown custom field 'submit.methd'; did you mean 'submit.method'?",
            "submit.methd",
        ),
        (
            {"service": "api", "submit": {"url": 1}},
            "deploy: the custom field 'submit.url' must be a string; got an integer",
            "submit.url",
        ),
    ],
)
def test_a_template_that_breaks_the_declaration_is_refused_before_the_hook(
    custom: dict[str, Any], message: str, field: str
) -> None:
    driver = LifecycleDriver(Deploy())
    with pytest.raises(connector.CustomFieldError, match=exactly(message)) as info:
        driver.do(driver.template(custom))
    assert info.value.field == field
    assert isinstance(info.value, connector.BadRequestError)
    assert seen == []


def test_defaults_are_filled_in_and_whole_numbers_become_ints_so_the_hook_sees_them() -> None:
    driver = LifecycleDriver(Deploy())
    labels = Deploy.custom_fields[4].default
    driver.do(driver.template({**GOOD, "replicas": 3.0, "ratio": 1, "timeout": "5m"}))
    driver.do(driver.template(GOOD))
    assert seen == [
        {
            "service": "api",
            "submit": {"url": "http://deploy", "method": "POST"},
            "replicas": 3,
            "ratio": 1,
            "timeout": "5m",
            "dry_run": False,
            "labels": {"team": "core"},
        },
        {
            "service": "api",
            "submit": {"url": "http://deploy", "method": "POST"},
            "replicas": 1,
            "dry_run": False,
            "labels": {"team": "core"},
        },
    ]
    assert type(seen[0]["replicas"]) is int
    seen[0]["labels"]["team"] = "changed"  # each template gets its own copy of a default
    assert labels == {"team": "core"}
    assert seen[1]["labels"] == {"team": "core"}


def test_an_optional_group_left_out_is_not_checked_and_gets_no_defaults() -> None:
    driver = LifecycleDriver(Deploy())
    driver.do(driver.template({"service": "api"}))
    assert seen == [{"service": "api", "replicas": 1, "dry_run": False, "labels": {"team": "core"}}]


def test_null_gets_the_default_and_stays_null_only_for_a_field_without_one() -> None:
    # flytekit's asdict writes null for every unset field: null means "not given" (issue 12).
    driver = LifecycleDriver(Deploy())
    driver.do(driver.template({**GOOD, "replicas": None, "ratio": None, "labels": None}))
    assert seen[0]["replicas"] == 1
    assert seen[0]["labels"] == {"team": "core"}
    assert seen[0]["ratio"] is None


def test_a_group_filled_from_its_default_gets_its_own_checks_and_defaults() -> None:
    fields = FieldSet(
        (
            Field("opts", dict, default={}),
            Field("opts.level", int, default=3.0),
            Field("opts.name", str, required=True),
        ),
        task="t",
    )
    with pytest.raises(
        connector.CustomFieldError, match=exactly("t: the custom field 'opts.name' is required")
    ):
        fields.check({})
    with pytest.raises(
        connector.CustomFieldError, match=exactly("t: the custom field 'opts.name' is required")
    ):
        fields.check({"opts": None})
    checked = fields.check({"opts": {"name": "x"}})
    assert checked == {"opts": {"name": "x", "level": 3}}
    assert type(checked["opts"]["level"]) is int  # a whole float default reaches the hook as an int


def test_an_int_default_given_as_a_whole_float_reaches_the_hook_as_an_int() -> None:
    fields = FieldSet((Field("n", int, default=3.0),), task="t")
    assert fields.check({}) == {"n": 3}
    assert type(fields.check({})["n"]) is int
    assert type(fields.check({"n": None})["n"]) is int


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_number_is_refused_without_being_quoted(value: float) -> None:
    fields = FieldSet((Field("ratio", float), Field("count", int), Field("any", (float, str))), task="t")
    for name, wanted in (("ratio", "a number"), ("count", "an integer"), ("any", "a number or string")):
        with pytest.raises(
            connector.CustomFieldError,
            match=exactly(f"t: the custom field '{name}' must be {wanted}; got a non-finite number"),
        ):
            fields.check({name: value})


@pytest.mark.parametrize(
    ("value", "described"),
    [
        ("Authorization: Bearer s3cr3t-token", "a string of 34 characters"),
        ("s", "a string of 1 character"),
        (["Authorization: Bearer s3cr3t-token", "x"], "an array of 2 items"),
        ({"token": "s3cr3t-token"}, "an object of 1 key"),
        (b"s3cr3t", "a bytes"),
    ],
)
def test_a_refused_value_is_named_by_kind_and_size_never_quoted(value: Any, described: str) -> None:
    fields = FieldSet((Field("headers", dict), Field("url", str)), task="t")
    name = "url" if isinstance(value, dict) else "headers"
    wanted = "a string" if name == "url" else "an object"
    with pytest.raises(connector.CustomFieldError) as info:
        fields.check({name: value})
    assert str(info.value) == f"t: the custom field {name!r} must be {wanted}; got {described}"
    assert "s3cr3t" not in str(info.value)


def test_a_huge_unknown_key_is_cut_in_the_message_and_never_handed_to_difflib(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import difflib

    asked: list[str] = []
    real = difflib.get_close_matches
    monkeypatch.setattr(
        difflib, "get_close_matches", lambda word, *a, **k: asked.append(word) or real(word, *a, **k)
    )
    key = "servic" + "e" * 1_000_000
    driver = LifecycleDriver(Deploy())
    with pytest.raises(connector.CustomFieldError) as info:
        driver.do(driver.template({**GOOD, key: 1}))
    shown = key[:59] + "…"
    assert str(info.value) == (
        f"deploy: unknown custom field {shown!r}; the custom fields are: service, replicas, ratio, dry_run, "
        "labels, submit, timeout"
    )
    assert info.value.field == shown
    assert asked == []  # far longer than any declared name: it cannot be close to one
    with pytest.raises(connector.CustomFieldError, match="did you mean 'service'"):
        driver.do(driver.template({**GOOD, "servic": 1}))
    assert asked == ["servic"]


def test_an_async_connector_is_checked_before_create() -> None:
    driver = LifecycleDriver(AsyncDeploy())
    with pytest.raises(
        connector.CustomFieldError,
        match=exactly("async-deploy: unknown custom field 'servic'; did you mean 'service'?"),
    ):
        driver.create(driver.template({**GOOD, "servic": "x"}))
    assert seen == []
    meta = driver.create(driver.template(GOOD))
    assert meta == DeployMeta("api")
    assert seen[0]["replicas"] == 1


def test_a_connector_that_declares_nothing_gets_its_template_unchanged() -> None:
    driver = LifecycleDriver(Undeclared())
    driver.do(driver.template({"anything": {"at": ["all"]}, "urll": 1}))
    assert seen == [{"anything": {"at": ["all"]}, "urll": 1}]


def test_custom_fields_apply_false_leaves_a_template_unchecked() -> None:
    driver = LifecycleDriver(TwoSchemas())
    driver.do(driver.template({"legacy_url": 1}, config={"legacy": "1"}))
    assert seen == [{"legacy_url": 1}]
    with pytest.raises(
        connector.CustomFieldError,
        match=exactly("two-schemas: unknown custom field 'legacy_url'; the custom fields are: url"),
    ):
        driver.do(driver.template({"legacy_url": 1}))


def test_a_version_other_than_0_is_named_with_it() -> None:
    class DeployV2(Deploy):
        task_type_version = 2

    driver = LifecycleDriver(DeployV2())
    with pytest.raises(
        connector.CustomFieldError, match=exactly("deploy@2: the custom field 'service' is required")
    ):
        driver.do(driver.template({}))


# The declaration itself.


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"name": ""}, "a field's name must be a non-empty string of dotted parts; got ''"),
        ({"name": "a..b"}, "a field's name must be a non-empty string of dotted parts; got 'a..b'"),
        (
            {"name": "when", "type": bytes},
            "field 'when': type <class 'bytes'> is not one of str, int, float, bool, dict, list, object, "
            "or a tuple of them",
        ),
        (
            {"name": "url", "required": True, "default": "http://x"},
            "field 'url' is required and has a default; give it one or the other",
        ),
        ({"name": "n", "type": int, "default": "1"}, "field 'n': its default '1' is not an integer"),
    ],
)
def test_a_bad_field_is_refused_when_declared(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=exactly(message)):
        Field(**arguments)


@pytest.mark.parametrize(
    ("declared", "problem"),
    [
        ("url", "custom_fields must be a tuple of connector.Field; got str"),
        (("url",), "custom_fields must hold connector.Field objects only; got 'url'"),
        ((Field("url"), Field("url")), "custom_fields declares 'url' twice"),
        (
            (Field("submit", str), Field("submit.url", str)),
            "custom_fields declares 'submit.url' inside 'submit', whose type is string, not an object (dict)",
        ),
    ],
)
def test_a_connector_with_a_bad_declaration_is_refused_at_load(declared: object, problem: str) -> None:
    class Broken(connector.SyncConnector):
        task_type_name = "broken"
        custom_fields = declared  # type: ignore[assignment]

        def do(self) -> connector.Resource:
            return connector.Resource(connector.Phase.SUCCEEDED)

    with pytest.raises(connector.ConnectorValidationError) as info:
        registry_of(Broken)
    assert info.value.rule == "fields"
    assert str(info.value).endswith(f": {problem}; see 'Declaring fields' in docs/authoring.md")


def test_field_to_dict_is_what_show_json_prints() -> None:
    assert Field("timeout", (float, str), default=30.0, help="Seconds.").to_dict() == {
        "name": "timeout",
        "type": "number or string",
        "required": False,
        "default": 30.0,
        "help": "Seconds.",
    }


def test_a_local_run_of_a_refused_template_is_an_error_result_with_exit_code_2(tmp_path: Path) -> None:
    registry = registry_of(Deploy, AsyncDeploy)
    for task_type in ("deploy", "async-deploy"):
        result = connector.run_connector(
            registry,
            task_type,
            custom={"servce": "api"},
            output_prefix=str(tmp_path),
            options=connector.RunOptions(journal=False),
        )
        assert (result.state, result.bad_request, result.exit_code) == (connector.JobState.ERROR, True, 2)
        assert result.message == f"{task_type}: unknown custom field 'servce'; did you mean 'service'?"
        assert result.job_id is None
    assert seen == []


CRASH = (
    "task type crashing-apply@0 from registered connector CrashingApply: custom_fields_apply raised "
    "KeyError: 'legacy', which it must not raise "
    "(return True or False)"
)


def test_a_raising_custom_fields_apply_is_a_hook_crash() -> None:
    driver = LifecycleDriver(CrashingApply())
    with pytest.raises(connector.HookCrashError, match=exactly(CRASH)) as info:
        driver.do(driver.template({"url": "http://x"}))
    assert info.value.hook == "custom_fields_apply"
    assert isinstance(info.value.raised, KeyError)
    assert seen == []


async def test_the_check_runs_after_admission_so_its_limits_cap_it() -> None:
    from connector.registry._calls import ConnectorCalls

    class Full:
        def enter(self, hook: str) -> None:
            raise connector.ServiceOverloadedError("full", limit="--queue-size", value=1)

        def leave(self, hook: str) -> None:
            raise AssertionError("never entered")

    loaded = registry_of(Deploy).get(connector.TaskCategory("deploy", 0))
    calls = ConnectorCalls(loaded, admission=Full())
    with pytest.raises(connector.ServiceOverloadedError, match=exactly("full")):
        await calls.do(connector.TaskTemplate("deploy", custom={"servce": 1}))
