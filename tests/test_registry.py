"""ConnectorRegistry: lazy loading, lookups, conflicts and pins, allow/deny, failure isolation, concurrency.

Every test builds its own registry from fake entry-point records: no global state, nothing installed.
"""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
import threading
from typing import Any

import pytest

from connector import (
    AsyncConnector,
    ConfigurationError,
    ConnectorCalls,
    ConnectorConflictError,
    ConnectorDisabledError,
    ConnectorEntry,
    ConnectorError,
    ConnectorLoadError,
    ConnectorMetadata,
    ConnectorNotFound,
    ConnectorOrigin,
    ConnectorRegistry,
    ConnectorState,
    ConnectorUnavailable,
    ConnectorValidationError,
    DuplicateConnectorError,
    LoadedConnector,
    Phase,
    RegistrySettings,
    Resource,
    ResourceMeta,
    SyncConnector,
    TaskCategory,
    default_registry,
)
from connector.registry._calls import run_blocking
from tests.support.records import CountingLoader, fake_record


class Echo(SyncConnector):
    """Echoes its inputs."""

    name = "Echo"

    def do(self, inputs: dict[str, Any]) -> Resource:
        return Resource(Phase.SUCCEEDED, outputs=dict(inputs))


@dataclasses.dataclass
class JobMeta(ResourceMeta):
    job_id: str


class Job(AsyncConnector):
    name = "Job"
    metadata_type = JobMeta

    def create(self) -> JobMeta:
        return JobMeta("j")

    def get(self) -> Resource:
        return Resource(Phase.RUNNING)

    def delete(self) -> None:
        return None


def entry_states(registry: ConnectorRegistry) -> list[tuple[str, str | None, str, str | None]]:
    return [(e.entry_point, e.distribution, e.state.value, e.error) for e in registry.entries()]


# Lookups.


def test_a_connector_is_imported_on_its_first_get_only() -> None:
    loader = CountingLoader(Echo)
    registry = ConnectorRegistry([fake_record("echo", loader)])
    assert [e.state for e in registry.entries()] == [ConnectorState.AVAILABLE]
    assert loader.calls == 0
    loaded = registry.get("echo")
    assert registry.get(TaskCategory("echo")) is loaded
    assert registry.get("echo@0") is loaded
    assert loader.calls == 1
    assert [e.state for e in registry.entries()] == [ConnectorState.LOADED]


def test_listing_imports_nothing() -> None:
    loaders = [CountingLoader(Echo), CountingLoader(RuntimeError("import fails"))]
    registry = ConnectorRegistry([fake_record("echo", loaders[0]), fake_record("broken", loaders[1])])
    registry.entries()
    registry.categories()
    registry.entry(TaskCategory("echo"))
    assert [loader.calls for loader in loaders] == [0, 0]


def test_versions_side_by_side() -> None:
    class EchoV1(Echo):
        task_type_version = 1

    registry = ConnectorRegistry([fake_record("echo@1", EchoV1), fake_record("echo", Echo)])
    assert registry.categories() == [TaskCategory("echo", 0), TaskCategory("echo", 1)]
    assert isinstance(registry.get("echo").connector, Echo)
    assert isinstance(registry.get("echo@1").connector, EchoV1)
    assert registry.get("echo") is not registry.get("echo@1")


def test_an_unknown_category_is_a_lookup_error_listing_the_installed_versions() -> None:
    registry = ConnectorRegistry(
        [fake_record("echo", Echo), fake_record("echo@1", Echo), fake_record("x", Job)]
    )
    with pytest.raises(ConnectorNotFound) as info:
        registry.get("echo@2")
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, ConnectorError)
    assert str(info.value) == (
        "no connector for task type 'echo' version 2 (installed versions of 'echo': echo@0, echo@1)"
    )
    assert info.value.category == TaskCategory("echo", 2)
    assert info.value.installed == (TaskCategory("echo", 0), TaskCategory("echo", 1))


def test_an_unknown_task_type_says_none_is_installed() -> None:
    with pytest.raises(ConnectorNotFound) as info:
        ConnectorRegistry([fake_record("echo", Echo)]).get("sensor")
    assert str(info.value) == "no connector for task type 'sensor' version 0 is installed"
    assert info.value.installed == ()


def test_a_bad_category_string_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^bad task category 'echo@x'"):
        ConnectorRegistry([fake_record("echo", Echo)]).get("echo@x")


def test_an_entry_point_name_that_is_not_a_category_is_listed_as_broken() -> None:
    registry = ConnectorRegistry([fake_record("echo@beta", Echo), fake_record("echo", Echo)])
    assert registry.categories() == [TaskCategory("echo")]
    first = registry.entries()[0]
    assert (first.category, first.entry_point, first.state) == (None, "echo@beta", ConnectorState.BROKEN)
    assert first.error == (
        "the entry-point name is not a task type: "
        "bad task category 'echo@beta': the version after '@' must be a whole number"
    )
    assert first.is_problem
    assert registry.get("echo").category == TaskCategory("echo")


def test_an_entry_point_name_that_is_not_a_category_can_be_denied() -> None:
    registry = ConnectorRegistry(
        [fake_record("echo@beta", Echo, distribution="connector-beta", version="0.1")],
        settings=RegistrySettings(deny=("connector-beta",)),
    )
    (entry,) = registry.load_all()
    assert (entry.state, entry.error) == (
        ConnectorState.DISABLED,
        "entry point 'echo@beta' from connector-beta 0.1 is excluded by CONNECTOR_DENY ('connector-beta')",
    )
    assert not entry.is_problem
    registry = ConnectorRegistry(
        [fake_record("echo@beta", Echo)], settings=RegistrySettings(deny=("echo@*",))
    )
    assert registry.entries()[0].state is ConnectorState.DISABLED
    registry = ConnectorRegistry(
        [fake_record("echo@beta", Echo)], settings=RegistrySettings(allow=("other",))
    )
    assert (
        registry.entries()[0].error
        == "entry point 'echo@beta' from connector-x 1.0 is not in CONNECTOR_ALLOW"
    )


# Failure isolation.


def test_a_broken_connector_keeps_failing_with_the_same_error_while_others_work(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = CountingLoader(ImportError("No module named 'heavy_sdk'"))
    registry = ConnectorRegistry(
        [fake_record("broken", failing, value="connector_broken:C"), fake_record("echo", Echo)]
    )
    with caplog.at_level(logging.WARNING, logger="connector"), pytest.raises(ConnectorLoadError) as first:
        registry.get("broken")
    assert str(first.value) == (
        "connector-x 1.0, entry point 'broken' (connector_broken:C): importing connector_broken:C raised "
        "ImportError: No module named 'heavy_sdk'"
    )
    assert isinstance(first.value.__cause__, ImportError)
    assert (first.value.category, first.value.entry_point, first.value.distribution) == (
        TaskCategory("broken"),
        "broken",
        "connector-x",
    )
    with pytest.raises(ConnectorLoadError) as second:
        registry.get("broken")
    assert second.value is first.value
    assert failing.calls == 1  # not imported again
    assert run_blocking(ConnectorCalls(registry.get("echo")).do(inputs={"a": 1})).outputs == {"a": 1}
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", f"connector broken@0 is broken: {first.value}")
    ]
    assert entry_states(registry) == [
        ("broken", "connector-x", "broken", str(first.value)),
        ("echo", "connector-x", "loaded", None),
    ]


def test_sys_exit_at_import_is_recorded_not_obeyed() -> None:
    registry = ConnectorRegistry([fake_record("quitter", SystemExit(1)), fake_record("echo", Echo)])
    with pytest.raises(ConnectorLoadError, match=r"importing pkg.quitter:Target raised SystemExit: 1$"):
        registry.get("quitter")
    assert registry.get("echo")


def test_load_all_returns_every_final_state() -> None:
    class Bad(SyncConnector):
        def do(self, retries: int) -> Resource:
            return Resource(Phase.SUCCEEDED)

    registry = ConnectorRegistry(
        [fake_record("echo", Echo), fake_record("bad", Bad), fake_record("gone", ModuleNotFoundError("gone"))]
    )
    assert [(e.entry_point, e.state) for e in registry.load_all()] == [
        ("bad", ConnectorState.BROKEN),
        ("echo", ConnectorState.LOADED),
        ("gone", ConnectorState.BROKEN),
    ]
    assert [loaded.category.name for loaded in registry.list_connectors()] == ["echo"]


# Conflicts and pins.


def claimants(**settings: Any) -> tuple[ConnectorRegistry, CountingLoader, CountingLoader]:
    first, second = CountingLoader(Echo), CountingLoader(Echo)
    registry = ConnectorRegistry(
        [
            fake_record(
                "echo", first, distribution="connector-echo", version="1.0", value="connector_echo:Echo"
            ),
            fake_record("echo", second, distribution="acme-echo", version="2.3", value="acme_echo:Echo"),
        ],
        settings=RegistrySettings(**settings),
    )
    return registry, first, second


CONFLICT = (
    "task type echo@0 is claimed by acme-echo 2.3 and connector-echo 1.0; neither is served. "
    "Uninstall one, or pin one with CONNECTOR_PIN='echo=acme-echo'"
)


def test_two_distributions_claiming_one_category_serve_neither() -> None:
    registry, first, second = claimants()
    assert entry_states(registry) == [
        ("echo", "acme-echo", "conflict", CONFLICT),
        ("echo", "connector-echo", "conflict", CONFLICT),
    ]
    with pytest.raises(ConnectorConflictError) as info:
        registry.get("echo")
    assert str(info.value) == CONFLICT
    assert info.value.distributions == (("acme-echo", "2.3"), ("connector-echo", "1.0"))
    assert (first.calls, second.calls) == (0, 0)
    assert registry.load_all()[0].is_problem
    assert registry.list_connectors() == []


def test_one_distribution_advertising_a_category_twice_is_broken_not_a_conflict() -> None:
    registry = ConnectorRegistry([fake_record("echo", Echo), fake_record("echo@0", Echo)])
    message = (
        "connector-x 1.0 advertises task type echo@0 under 2 entry points ('echo', 'echo@0'); "
        "keep one, named 'echo'"
    )
    assert entry_states(registry) == [
        ("echo", "connector-x", "broken", message),
        ("echo@0", "connector-x", "broken", message),
    ]
    with pytest.raises(ConnectorValidationError) as info:
        registry.get("echo")
    assert (str(info.value), info.value.rule) == (message, "duplicate-entry-point")


def test_the_conflict_does_not_depend_on_the_order_of_discovery() -> None:
    records = [fake_record("echo", Echo, distribution=d, version=v) for d, v in [("b", "1"), ("a", "2")]]
    messages = set()
    for order in (records, records[::-1]):
        registry = ConnectorRegistry(order)
        with pytest.raises(ConnectorConflictError) as info:
            registry.get("echo")
        messages.add((str(info.value), tuple(e.distribution for e in registry.entries())))
    assert messages == {
        (
            "task type echo@0 is claimed by a 2 and b 1; neither is served. "
            "Uninstall one, or pin one with CONNECTOR_PIN='echo=a'",
            ("a", "b"),
        )
    }


def test_three_claimants() -> None:
    registry = ConnectorRegistry(
        [fake_record("echo", Echo, distribution=f"d{i}", version="1") for i in range(3)]
    )
    with pytest.raises(ConnectorConflictError) as info:
        registry.get("echo")
    assert str(info.value) == (
        "task type echo@0 is claimed by d0 1 and d1 1 and d2 1; none is served. "
        "Uninstall one, or pin one with CONNECTOR_PIN='echo=d0'"
    )


@pytest.mark.parametrize("pinned", ["acme-echo", "Acme_Echo", "acme.echo"])
def test_a_pin_chooses_one_claimant(pinned: str) -> None:
    settings = RegistrySettings.from_environ({"CONNECTOR_PIN": f"echo={pinned}"})
    registry, first, second = claimants(pins=settings.pins)
    assert registry.get("echo") is registry.get("echo")
    assert (first.calls, second.calls) == (0, 1)
    assert entry_states(registry) == [
        ("echo", "acme-echo", "loaded", None),
        ("echo", "connector-echo", "disabled", "CONNECTOR_PIN chose acme-echo 2.3"),
    ]
    assert not any(e.is_problem for e in registry.entries())


def test_the_pinned_out_claimant_says_so_even_when_the_pinned_one_is_broken() -> None:
    registry = ConnectorRegistry(
        [
            fake_record("echo", Echo, distribution="connector-echo", version="1.0"),
            fake_record(
                "echo", RuntimeError("boom"), distribution="acme-echo", version="2.3", value="acme:E"
            ),
        ],
        settings=RegistrySettings(pins={TaskCategory("echo"): "acme-echo"}),
    )
    registry.load_all()
    assert entry_states(registry) == [
        (
            "echo",
            "acme-echo",
            "broken",
            "acme-echo 2.3, entry point 'echo' (acme:E): importing acme:E raised RuntimeError: boom",
        ),
        ("echo", "connector-echo", "disabled", "CONNECTOR_PIN chose acme-echo 2.3"),
    ]


def test_a_pin_that_names_no_claimant_serves_nothing() -> None:
    registry, first, second = claimants(pins={TaskCategory("echo"): "other-echo"})
    message = (
        "CONNECTOR_PIN chose other-echo for task type echo@0, but it is provided by acme-echo 2.3 and "
        "connector-echo 1.0; it is not served. Pin one of these, for example CONNECTOR_PIN='echo=acme-echo'"
    )
    assert entry_states(registry) == [
        ("echo", "acme-echo", "conflict", message),
        ("echo", "connector-echo", "conflict", message),
    ]
    with pytest.raises(ConnectorConflictError) as info:
        registry.get("echo")
    assert (str(info.value), info.value.pin) == (message, "other-echo")
    assert (first.calls, second.calls) == (0, 0)


def test_a_pin_is_authoritative_even_over_a_single_claimant() -> None:
    registry = ConnectorRegistry(
        [fake_record("echo", Echo, distribution="connector-echo")],
        settings=RegistrySettings(pins={TaskCategory("echo"): "acme-echo"}),
    )
    with pytest.raises(
        ConnectorConflictError, match=r"^CONNECTOR_PIN chose acme-echo for task type echo@0, but"
    ):
        registry.get("echo")


def test_a_pin_for_another_version_leaves_this_one_alone() -> None:
    registry, _, _ = claimants(pins={TaskCategory("echo", 1): "acme-echo"})
    with pytest.raises(ConnectorConflictError, match=r"^task type echo@0 is claimed by"):
        registry.get("echo")


def test_denying_one_of_two_claimants_serves_the_other() -> None:
    registry, first, second = claimants(deny=("acme-*",))
    assert isinstance(registry.get("echo").connector, Echo)
    assert (first.calls, second.calls) == (1, 0)
    assert entry_states(registry) == [
        (
            "echo",
            "acme-echo",
            "disabled",
            "task type echo@0 from acme-echo 2.3 is excluded by CONNECTOR_DENY ('acme-*')",
        ),
        ("echo", "connector-echo", "loaded", None),
    ]


def test_a_conflict_outside_the_allow_list_is_not_a_problem() -> None:
    registry, first, second = claimants(allow=("other",))
    entries = registry.load_all()
    assert [(e.state, e.error) for e in entries] == [
        (ConnectorState.DISABLED, "task type echo@0 from acme-echo 2.3 is not in CONNECTOR_ALLOW"),
        (ConnectorState.DISABLED, "task type echo@0 from connector-echo 1.0 is not in CONNECTOR_ALLOW"),
    ]
    with pytest.raises(
        ConnectorDisabledError, match=r"^task type echo@0 from acme-echo 2.3 is not in CONNECTOR_ALLOW$"
    ):
        registry.get("echo")
    assert (first.calls, second.calls) == (0, 0)


def test_deny_wins_over_the_pin() -> None:
    registry, first, second = claimants(deny=("acme-echo",), pins={TaskCategory("echo"): "acme-echo"})
    assert entry_states(registry) == [
        (
            "echo",
            "acme-echo",
            "disabled",
            "task type echo@0 from acme-echo 2.3 is excluded by CONNECTOR_DENY ('acme-echo')",
        ),
        ("echo", "connector-echo", "disabled", "CONNECTOR_PIN chose acme-echo 2.3"),
    ]
    with pytest.raises(ConnectorDisabledError, match=r"excluded by CONNECTOR_DENY"):
        registry.get("echo")
    assert (first.calls, second.calls) == (0, 0)


def test_a_conflict_names_only_the_claimants_that_are_not_denied() -> None:
    registry = ConnectorRegistry(
        [fake_record("echo", Echo, distribution=d, version="1") for d in ("a", "b", "c")],
        settings=RegistrySettings(deny=("b",)),
    )
    with pytest.raises(ConnectorConflictError) as info:
        registry.get("echo")
    assert str(info.value) == (
        "task type echo@0 is claimed by a 1 and c 1; neither is served. "
        "Uninstall one, or pin one with CONNECTOR_PIN='echo=a'"
    )
    assert [e.state.value for e in registry.entries()] == ["conflict", "disabled", "conflict"]


# Allow and deny.


@pytest.mark.parametrize(
    ("variable", "pattern", "served"),
    [
        ("CONNECTOR_DENY", "echo", ["echo@1", "job"]),  # the entry-point name
        ("CONNECTOR_DENY", "echo*", ["job"]),  # a glob over entry-point names
        ("CONNECTOR_DENY", "echo@1", ["echo", "job"]),  # the category...
        ("CONNECTOR_DENY", "echo@0", ["echo@1", "job"]),  # ...also for version 0
        ("CONNECTOR_DENY", "connector-jobs", ["echo", "echo@1"]),  # the distribution
        ("CONNECTOR_DENY", "Connector_Jobs", ["echo", "echo@1"]),  # normalized as PEP 503 does
        ("CONNECTOR_DENY", "connector-j*", ["echo", "echo@1"]),
        ("CONNECTOR_DENY", "*", []),
        ("CONNECTOR_ALLOW", "job", ["job"]),
        ("CONNECTOR_ALLOW", "echo*, job", ["echo", "echo@1", "job"]),
        ("CONNECTOR_ALLOW", "connector-echo", ["echo", "echo@1"]),
        ("CONNECTOR_ALLOW", "", ["echo", "echo@1", "job"]),  # empty: everything
    ],
)
def test_allow_and_deny_lists(variable: str, pattern: str, served: list[str]) -> None:
    class EchoV1(Echo):
        task_type_version = 1

    loaders = {
        name: CountingLoader(target) for name, target in [("echo", Echo), ("echo@1", EchoV1), ("job", Job)]
    }
    registry = ConnectorRegistry(
        [
            fake_record("echo", loaders["echo"], distribution="connector-echo"),
            fake_record("echo@1", loaders["echo@1"], distribution="connector-echo"),
            fake_record("job", loaders["job"], distribution="connector-jobs"),
        ],
        settings=RegistrySettings.from_environ({variable: pattern}),
    )
    entries = registry.load_all()
    assert [e.entry_point for e in entries if e.state is ConnectorState.LOADED] == served
    disabled = [e for e in entries if e.state is ConnectorState.DISABLED]
    assert sorted(e.entry_point for e in disabled) == sorted(set(loaders) - set(served))
    assert not any(e.is_problem for e in entries)
    for entry in disabled:
        assert loaders[entry.entry_point].calls == 0  # never imported
        with pytest.raises(ConnectorDisabledError) as info:
            registry.get(entry.entry_point)
        assert str(info.value) == entry.error


def test_the_disabled_messages() -> None:
    registry = ConnectorRegistry(
        [
            fake_record("echo", Echo, distribution="connector-echo"),
            fake_record("job", Job, distribution="c-job"),
        ],
        settings=RegistrySettings(allow=("echo", "job"), deny=("ech?", "other")),
    )
    assert entry_states(registry) == [
        (
            "echo",
            "connector-echo",
            "disabled",
            "task type echo@0 from connector-echo 1.0 is excluded by CONNECTOR_DENY ('ech?')",
        ),
        ("job", "c-job", "available", None),
    ]
    registry = ConnectorRegistry([fake_record("echo", Echo)], settings=RegistrySettings(allow=("job",)))
    assert entry_states(registry) == [
        (
            "echo",
            "connector-x",
            "disabled",
            "task type echo@0 from connector-x 1.0 is not in CONNECTOR_ALLOW",
        ),
    ]


# Settings from the environment.


def test_settings_from_the_environment() -> None:
    settings = RegistrySettings.from_environ(
        {
            "CONNECTOR_ALLOW": " echo* , job,, ",
            "CONNECTOR_DENY": "connector-bad",
            "CONNECTOR_PIN": "echo=Acme_Echo, echo@1 = connector-echo",
            "CONNECTOR_TRACE": " Yes ",
            "CONNECTOR_IMPORT_TIMEOUT": " 2.5 ",
        }
    )
    assert settings == RegistrySettings(
        allow=("echo*", "job"),
        deny=("connector-bad",),
        pins={TaskCategory("echo"): "acme-echo", TaskCategory("echo", 1): "connector-echo"},
        trace=True,
        import_timeout=2.5,
    )
    assert RegistrySettings.from_environ({}) == RegistrySettings()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("ON", True), ("0", False), ("", False), ("no", False), ("off", False)],
)
def test_trace_values(value: str, expected: bool) -> None:
    assert RegistrySettings.from_environ({"CONNECTOR_TRACE": value}).trace is expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CONNECTOR_TRACE": "maybe"}, "CONNECTOR_TRACE: 'maybe' is not a boolean (use 1 or 0)"),
        (
            {"CONNECTOR_IMPORT_TIMEOUT": "0"},
            "CONNECTOR_IMPORT_TIMEOUT: '0' is not a positive number of seconds "
            "(for example CONNECTOR_IMPORT_TIMEOUT=120)",
        ),
        (
            {"CONNECTOR_IMPORT_TIMEOUT": "-1"},
            "CONNECTOR_IMPORT_TIMEOUT: '-1' is not a positive number of seconds "
            "(for example CONNECTOR_IMPORT_TIMEOUT=120)",
        ),
        (
            {"CONNECTOR_IMPORT_TIMEOUT": "soon"},
            "CONNECTOR_IMPORT_TIMEOUT: 'soon' is not a positive number of seconds "
            "(for example CONNECTOR_IMPORT_TIMEOUT=120)",
        ),
        (
            {"CONNECTOR_IMPORT_TIMEOUT": "nan"},
            "CONNECTOR_IMPORT_TIMEOUT: 'nan' is not a positive number of seconds "
            "(for example CONNECTOR_IMPORT_TIMEOUT=120)",
        ),
        (
            {"CONNECTOR_IMPORT_TIMEOUT": "inf"},
            "CONNECTOR_IMPORT_TIMEOUT: 'inf' is not a positive number of seconds "
            "(for example CONNECTOR_IMPORT_TIMEOUT=120)",
        ),
        (
            {"CONNECTOR_IMPORT_TIMEOUT": "1e999"},
            "CONNECTOR_IMPORT_TIMEOUT: '1e999' is not a positive number of seconds "
            "(for example CONNECTOR_IMPORT_TIMEOUT=120)",
        ),
        (
            {"CONNECTOR_PIN": "echo"},
            "CONNECTOR_PIN: 'echo' is not TYPE[@VERSION]=DISTRIBUTION "
            "(for example CONNECTOR_PIN='sensor=connector-sensor,sensor@1=connector-other')",
        ),
        (
            {"CONNECTOR_PIN": "echo="},
            "CONNECTOR_PIN: 'echo=' is not TYPE[@VERSION]=DISTRIBUTION "
            "(for example CONNECTOR_PIN='sensor=connector-sensor,sensor@1=connector-other')",
        ),
        (
            {"CONNECTOR_PIN": "=connector-echo"},
            "CONNECTOR_PIN: '=connector-echo' is not TYPE[@VERSION]=DISTRIBUTION "
            "(for example CONNECTOR_PIN='sensor=connector-sensor,sensor@1=connector-other')",
        ),
        (
            {"CONNECTOR_PIN": "echo@one=connector-echo"},
            "CONNECTOR_PIN: bad task category 'echo@one': the version after '@' must be a whole number",
        ),
        (
            {"CONNECTOR_PIN": "echo=a,echo@0=b"},
            "CONNECTOR_PIN: task type echo@0 is pinned twice, to a and to b; keep one",
        ),
    ],
)
def test_bad_settings_are_configuration_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        RegistrySettings.from_environ(environ)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(("value", "expected"), [("", 60.0), (" ", 60.0), ("0.5", 0.5), ("300", 300.0)])
def test_import_timeout_values(value: str, expected: float) -> None:
    assert RegistrySettings.from_environ({"CONNECTOR_IMPORT_TIMEOUT": value}).import_timeout == expected
    assert RegistrySettings().import_timeout == 60.0


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), True, "60"])
def test_a_bad_import_timeout_given_directly_is_a_configuration_error(value: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        RegistrySettings(import_timeout=value)
    assert str(info.value) == f"import_timeout must be a positive number of seconds, got {value!r}"


def test_the_same_pin_twice_is_fine() -> None:
    assert RegistrySettings.from_environ({"CONNECTOR_PIN": "echo=a,echo=A"}).pins == {
        TaskCategory("echo"): "a"
    }


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "CONNECTOR_PIN",
            "echo",
            "Error: CONNECTOR_PIN: 'echo' is not TYPE[@VERSION]=DISTRIBUTION "
            "(for example CONNECTOR_PIN='sensor=connector-sensor,sensor@1=connector-other')\n",
        ),
        ("CONNECTOR_TRACE", "maybe", "Error: CONNECTOR_TRACE: 'maybe' is not a boolean (use 1 or 0)\n"),
        (
            "CONNECTOR_IMPORT_TIMEOUT",
            "0",
            "Error: CONNECTOR_IMPORT_TIMEOUT: '0' is not a positive number of seconds "
            "(for example CONNECTOR_IMPORT_TIMEOUT=120)\n",
        ),
    ],
)
def test_connector_list_exits_2_on_a_bad_setting(variable: str, value: str, message: str) -> None:
    # A real process: the error travels from the settings through default_registry() to the command.
    env = {"PATH": "", "PYTHONPATH": "", variable: value}
    done = subprocess.run(
        [sys.executable, "-m", "connector", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (2, "", message)


# register() and the seed methods.


def test_register_adds_a_connector_validated_at_once() -> None:
    class Named(Echo):
        task_type_name = "named"

    registry = ConnectorRegistry([fake_record("echo", Echo)])
    loaded = registry.register(Named)
    assert isinstance(loaded, LoadedConnector)
    assert registry.get("named") is loaded
    assert registry.categories() == [TaskCategory("echo"), TaskCategory("named")]
    entry = registry.entry(TaskCategory("named"))
    assert (entry.distribution, entry.state, entry.target) == (
        None,
        ConnectorState.LOADED,
        "test_register_adds_a_connector_validated_at_once.<locals>.Named",
    )


def test_register_accepts_an_instance_and_a_module() -> None:
    import types

    from connector import hookimpl

    module = types.ModuleType("connector_mod")
    module.task_type_name = "mod"  # type: ignore[attr-defined]
    module.do = hookimpl(lambda inputs: Resource(Phase.SUCCEEDED, outputs=inputs))  # type: ignore[attr-defined]
    registry = ConnectorRegistry()
    registry.register(Echo(task_type_name="instance"))
    registry.register(module)
    assert registry.get_connector("mod") is module
    assert run_blocking(ConnectorCalls(registry.get("mod")).do(inputs={"a": 1})).outputs == {"a": 1}
    assert isinstance(registry.get_connector("instance"), Echo)


def test_register_refuses_a_taken_category_unless_overridden() -> None:
    class Mine(Echo):
        task_type_name = "echo"

    registry = ConnectorRegistry([fake_record("echo", Echo, distribution="connector-echo", version="1.0")])
    with pytest.raises(DuplicateConnectorError) as info:
        registry.register(Mine)
    assert str(info.value) == (
        "a connector for task type echo@0 is already registered (connector-echo 1.0); "
        "pass override=True to replace it"
    )
    assert isinstance(info.value, ValueError)
    assert info.value.category == TaskCategory("echo")
    replaced = registry.register(Mine, override=True)
    assert registry.get("echo") is replaced
    with pytest.raises(DuplicateConnectorError, match=r"already registered \(registered .*Mine\);"):
        registry.register(Mine)


def test_the_seed_lookups() -> None:
    class EchoV1(Echo):
        name = "Echo"
        task_type_version = 1

    registry = ConnectorRegistry(
        [
            fake_record("echo", Echo),
            fake_record("echo@1", EchoV1),
            fake_record("job", Job),
            fake_record("broken", ImportError("x")),
        ]
    )
    assert isinstance(registry.get_connector("echo"), Echo)
    assert isinstance(registry.get_connector("echo", 1), EchoV1)
    with pytest.raises(ConnectorNotFound, match=r"installed versions of 'echo': echo@0, echo@1"):
        registry.get_connector("echo", 5)
    assert [loaded.category for loaded in registry.list_connectors()] == [
        TaskCategory("echo"),
        TaskCategory("echo", 1),
        TaskCategory("job"),
    ]
    assert registry.list_metadata() == [
        ConnectorMetadata("Echo", True, (TaskCategory("echo"), TaskCategory("echo", 1))),
        ConnectorMetadata("Job", False, (TaskCategory("job"),)),
    ]
    assert registry.get_connector_metadata("Job") == ConnectorMetadata("Job", False, (TaskCategory("job"),))
    with pytest.raises(ConnectorNotFound) as info:
        registry.get_connector_metadata("Nope")
    assert str(info.value) == "no connector is named 'Nope' (connector names: 'Echo', 'Job')"
    assert info.value.name == "Nope"


def test_an_entry_serializes_to_json_ready_data() -> None:
    entry = ConnectorRegistry([fake_record("echo@2", Echo, value="connector_echo:Echo")]).entries()[0]
    assert entry.to_dict() == {
        "category": "echo@2",
        "task_type": "echo",
        "task_type_version": 2,
        "entry_point": "echo@2",
        "target": "connector_echo:Echo",
        "distribution": "connector-x",
        "distribution_version": "1.0",
        "provider": None,
        "state": "available",
        "error": None,
    }


@pytest.mark.parametrize(
    ("state", "is_problem"),
    [("available", False), ("loaded", False), ("disabled", False), ("broken", True), ("conflict", True)],
)
def test_which_states_are_problems(state: str, is_problem: bool) -> None:
    entry = ConnectorEntry(None, ConnectorOrigin("x", "m:X"), ConnectorState(state))
    assert entry.is_problem is is_problem


def test_the_default_registry_is_built_once() -> None:
    assert default_registry() is default_registry()


# Concurrent first use.


def test_concurrent_first_gets_import_and_construct_exactly_once() -> None:
    threads = 16
    constructed = []

    class Slow(Echo):
        def __init__(self) -> None:
            super().__init__()
            constructed.append(self)

    # All threads start together and the import takes a while, so they all ask while it runs. (The
    # pause only widens that window; nothing here measures time.)
    barrier = threading.Barrier(threads)
    loader = CountingLoader(Slow, before=lambda: threading.Event().wait(0.2))
    registry = ConnectorRegistry([fake_record("echo", loader)])
    results: list[LoadedConnector] = []

    def ask() -> None:
        barrier.wait()
        results.append(registry.get("echo"))

    workers = [threading.Thread(target=ask) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert len(results) == threads
    assert len({id(r) for r in results}) == 1
    assert loader.calls == 1
    assert len(constructed) == 1


def test_concurrent_first_gets_of_a_broken_connector_fail_alike() -> None:
    threads = 12
    barrier = threading.Barrier(threads)
    loader = CountingLoader(RuntimeError("boom"), before=lambda: threading.Event().wait(0.2))
    registry = ConnectorRegistry([fake_record("broken", loader), fake_record("echo", Echo)])
    errors: list[BaseException] = []
    served: list[LoadedConnector] = []

    def ask(category: str) -> None:
        barrier.wait()
        try:
            served.append(registry.get(category))
        except ConnectorUnavailable as exc:
            errors.append(exc)

    workers = [threading.Thread(target=ask, args=("broken" if i % 2 else "echo",)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert loader.calls == 1
    assert len(errors) == threads // 2
    assert len({id(e) for e in errors}) == 1
    assert len({id(s) for s in served}) == 1
    assert len(served) == threads // 2
