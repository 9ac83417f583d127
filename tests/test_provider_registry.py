"""Provided connectors in the registry: conflicts with native ones and pins, allow/deny, loading, listing.

Records are made from learned outcomes directly (``provider_records``), with a provider that lives in
this process (``tests/support/providers.py``): nothing is installed and nothing is learned here.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from connector import (
    ConnectorConflictError,
    ConnectorLoadError,
    ConnectorOrigin,
    ConnectorRecord,
    ConnectorRegistry,
    ConnectorState,
    ConnectorValidationError,
    Phase,
    ProvidedConnector,
    ProviderProblem,
    RegistrySettings,
    Resource,
    SyncConnector,
)
from connector.cli import _inspect, cli
from connector.registry._provided import item_to_json
from connector.registry._provider_discovery import ProviderEntry, provider_records
from tests.support.records import fake_record

FLYTEKIT = ProviderEntry(
    "flytekit", "tests.support.providers:in_process_provider", "connector-flytekit", "0.1"
)
FLYTE = ProviderEntry("flyte", "tests.support.providers:in_process_provider", "connector-flyte", "0.2")


class Webhook(SyncConnector):
    task_type_name = "webhook"

    def do(self) -> Resource:
        return Resource(Phase.SUCCEEDED, message="native")


class NativeEcho(SyncConnector):
    task_type_name = "echo"

    def do(self) -> Resource:
        return Resource(Phase.SUCCEEDED)


def provided(
    task_type: str, distribution: str | None = "flytekit", version: str | None = "1.16.0", **kw: object
) -> ProvidedConnector:
    fields: dict[str, object] = {"key": f"{task_type}-key", "is_sync": True, **kw}
    return ProvidedConnector(task_type, 0, f"Bridged {task_type}", distribution, version, **fields)  # type: ignore[arg-type]


def records_of(entry: ProviderEntry, *items: ProvidedConnector | ProviderProblem) -> list[ConnectorRecord]:
    return provider_records([(entry, {"provided": [item_to_json(item) for item in items]})])


def native_webhook() -> ConnectorRecord:
    return fake_record(
        "webhook", Webhook, distribution="connector-http", version="0.1", value="connector_http:Webhook"
    )


def states(registry: ConnectorRegistry) -> list[tuple[str | None, str, str | None]]:
    return [(e.distribution, e.state.value, e.error) for e in registry.entries()]


CONFLICT = (
    "task type webhook@0 is claimed by connector-http 0.1 and flytekit 1.16.0; neither is served. "
    "Uninstall one, or pin one with CONNECTOR_PIN='webhook=connector-http'"
)


def test_a_provided_and_a_native_connector_of_one_task_type_conflict_like_two_natives() -> None:
    registry = ConnectorRegistry([native_webhook(), *records_of(FLYTEKIT, provided("webhook"))])
    assert states(registry) == [
        ("connector-http", "conflict", CONFLICT),
        ("flytekit", "conflict", CONFLICT),
    ]
    with pytest.raises(ConnectorConflictError) as caught:
        registry.get("webhook")
    assert caught.value.distributions == (("connector-http", "0.1"), ("flytekit", "1.16.0"))


@pytest.mark.parametrize(
    ("pin", "served", "message"),
    [
        ("webhook=flytekit", "webhook-key", "CONNECTOR_PIN chose flytekit 1.16.0"),
        ("webhook=connector-http", None, "CONNECTOR_PIN chose connector-http 0.1"),
    ],
)
def test_a_pin_names_the_distribution_that_brought_it(pin: str, served: str | None, message: str) -> None:
    settings = RegistrySettings.from_environ({"CONNECTOR_PIN": pin})
    registry = ConnectorRegistry(
        [native_webhook(), *records_of(FLYTEKIT, provided("webhook"))], settings=settings
    )
    loaded = registry.get("webhook")
    if served is None:
        assert isinstance(loaded.connector, Webhook)
        assert states(registry)[1] == ("flytekit", "disabled", message)
    else:
        assert loaded.origin.provider == FLYTEKIT.origin
        assert loaded.name == "Bridged webhook"
        assert states(registry)[0] == ("connector-http", "disabled", message)


def test_two_providers_providing_one_task_type_conflict() -> None:
    def sensors() -> list[ConnectorRecord]:
        return [
            *records_of(FLYTEKIT, provided("sensor")),
            *records_of(FLYTE, provided("sensor", "flyte", "2.0.1")),
        ]

    message = (
        "task type sensor@0 is claimed by flyte 2.0.1 and flytekit 1.16.0; neither is served. "
        "Uninstall one, or pin one with CONNECTOR_PIN='sensor=flyte'"
    )
    assert states(ConnectorRegistry(sensors())) == [
        ("flyte", "conflict", message),
        ("flytekit", "conflict", message),
    ]
    pinned = ConnectorRegistry(
        sensors(), settings=RegistrySettings.from_environ({"CONNECTOR_PIN": "sensor=flyte"})
    )
    assert pinned.get("sensor").origin.provider == FLYTE.origin


def test_denying_the_provider_distribution_leaves_out_everything_it_bridges() -> None:
    settings = RegistrySettings.from_environ({"CONNECTOR_DENY": "connector-flytekit"})
    problem = ProviderProblem("boom", "flytekitplugins-bad", "1.0", "flytekit.plugins: bad")
    registry = ConnectorRegistry(
        [native_webhook(), *records_of(FLYTEKIT, provided("webhook"), problem)], settings=settings
    )
    assert states(registry) == [
        (
            "flytekitplugins-bad",
            "disabled",
            "entry point 'flytekit.plugins: bad' from flytekitplugins-bad 1.0 is excluded by CONNECTOR_DENY "
            "('connector-flytekit')",
        ),
        ("connector-http", "available", None),
        (
            "flytekit",
            "disabled",
            "task type webhook@0 from flytekit 1.16.0 is excluded by CONNECTOR_DENY ('connector-flytekit')",
        ),
    ]
    assert isinstance(registry.get("webhook").connector, Webhook)


@pytest.mark.parametrize(
    ("variable", "pattern", "served"),
    [
        ("CONNECTOR_DENY", "flytekit", ["echo"]),  # the SDK plugin's distribution
        ("CONNECTOR_ALLOW", "connector-flytekit", ["echo", "webhook"]),
        ("CONNECTOR_ALLOW", "flytekitplugins-*", ["echo"]),
        ("CONNECTOR_ALLOW", "connector-http", []),
    ],
)
def test_allow_and_deny_lists_match_both_distributions(
    variable: str, pattern: str, served: list[str]
) -> None:
    settings = RegistrySettings.from_environ({variable: pattern})
    items = (provided("webhook"), provided("echo", "flytekitplugins-echo", "3.0"))
    registry = ConnectorRegistry(records_of(FLYTEKIT, *items), settings=settings)
    loaded = [e.entry_point for e in registry.load_all() if e.state is ConnectorState.LOADED]
    assert loaded == served


def test_a_provided_connector_without_a_distribution_is_the_providers() -> None:
    (record,) = records_of(FLYTEKIT, provided("echo", None, None))
    assert (record.distribution, record.distribution_version) == ("connector-flytekit", "0.1")
    assert record.origin.describe() == (
        "connector-flytekit 0.1, task type 'echo' (echo-key), bridged by provider 'flytekit' of "
        "connector-flytekit 0.1"
    )


# Loading through the provider.


def test_a_load_that_raises_is_that_connectors_error_only() -> None:
    registry = ConnectorRegistry(records_of(FLYTEKIT, provided("echo", key="raise"), provided("other")))
    with pytest.raises(ConnectorLoadError) as caught:
        registry.get("echo")
    assert str(caught.value) == (
        "flytekit 1.16.0, task type 'echo' (raise), bridged by provider 'flytekit' of connector-flytekit "
        "0.1: provider 'flytekit' could not load it: PermissionError: no credentials for echo"
    )
    assert isinstance(caught.value.__cause__, PermissionError)
    assert registry.get("other").name == "Bridged other"


def test_a_provider_that_cannot_be_imported_here_breaks_each_of_its_connectors() -> None:
    entry = ProviderEntry("flytekit", "tests.support.no_such_module:provider", "connector-flytekit", "0.1")
    registry = ConnectorRegistry(records_of(entry, provided("echo"), provided("other")))
    entries = registry.load_all()
    assert [e.error for e in entries] == [
        f"flytekit 1.16.0, task type '{name}' ({name}-key), bridged by provider 'flytekit' of "
        "connector-flytekit 0.1: provider 'flytekit' cannot be loaded: importing "
        "tests.support.no_such_module:provider raised ModuleNotFoundError: No module named "
        "'tests.support.no_such_module'"
        for name in ("echo", "other")
    ]


def test_a_connector_of_another_task_type_than_listed_is_refused() -> None:
    registry = ConnectorRegistry(records_of(FLYTEKIT, provided("echo", key="other-type")))
    with pytest.raises(ConnectorValidationError) as caught:
        registry.get("echo")
    assert caught.value.rule == "category-mismatch"
    assert str(caught.value) == (
        "flytekit 1.16.0, task type 'echo' (other-type), bridged by provider 'flytekit' of "
        "connector-flytekit 0.1: declares task type other@0 but its provider lists it as echo@0; the "
        "provider's provided() and load() must agree on the task type and version"
    )


def test_the_connectors_own_name_wins_over_the_listed_one() -> None:
    registry = ConnectorRegistry(records_of(FLYTEKIT, provided("echo", key="named")))
    assert registry.get("echo").name == "Its own name"


# What connector list and show say.


@pytest.fixture
def bridged(monkeypatch: pytest.MonkeyPatch) -> ConnectorRegistry:
    problem = ProviderProblem("boom; reinstall it", "flytekitplugins-bad", "1.0", "flytekit.plugins: bad")
    registry = ConnectorRegistry(
        [
            fake_record(
                "echo", NativeEcho, distribution="connector-echo", version="1.0", value="connector_echo:E"
            ),
            *records_of(FLYTEKIT, provided("webhook"), problem),
        ]
    )
    monkeypatch.setattr(_inspect, "_registry", lambda: registry)
    return registry


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner(env={"COLUMNS": "160", "TTY_COMPATIBLE": "0"}).invoke(
        cli, list(args), catch_exceptions=False
    )
    return result.exit_code, result.output


def test_list_shows_who_bridges_a_connector(bridged: ConnectorRegistry) -> None:
    code, output = invoke("list")
    assert code == 0
    # Piped (as CliRunner's output is): tab-separated; nothing after the target where nothing bridges.
    assert output.splitlines() == [
        "CATEGORY\tSTATE\tDISTRIBUTION\tTARGET\tBRIDGED BY",
        "flytekit.plugins: bad\tbroken\tflytekitplugins-bad 1.0\t\tconnector-flytekit 0.1",
        "echo@0\tavailable\tconnector-echo 1.0\tconnector_echo:E",
        "webhook@0\tavailable\tflytekit 1.16.0\twebhook-key\tconnector-flytekit 0.1",
        "",
        "flytekit.plugins: bad: flytekitplugins-bad 1.0, entry point 'flytekit.plugins: bad', bridged by "
        "provider 'flytekit' of connector-flytekit 0.1: boom; reinstall it",
    ]


def test_list_json_names_the_provider(bridged: ConnectorRegistry) -> None:
    import json

    code, output = invoke("list", "--json")
    providers = [entry["provider"] for entry in json.loads(output)]
    bridge = {
        "name": "flytekit",
        "target": "tests.support.providers:in_process_provider",
        "distribution": "connector-flytekit",
        "distribution_version": "0.1",
    }
    assert (code, providers) == (0, [bridge, None, bridge])


def test_show_says_bridged_by(bridged: ConnectorRegistry) -> None:
    assert invoke("show", "webhook") == (
        0,
        "Category:      webhook@0\n"
        "Name:          Bridged webhook\n"
        "Kind:          sync\n"
        "Hooks:         do\n"
        "Distribution:  flytekit\n"
        "Version:       1.16.0\n"
        "Target:        webhook-key\n"
        "Bridged by:    provider 'flytekit' of connector-flytekit 0.1\n"
        "State:         loaded\n",
    )


def test_check_counts_a_provider_problem(bridged: ConnectorRegistry) -> None:
    code, output = invoke("check")
    assert code == 1
    assert output.splitlines()[-1] == "2 connector(s) loaded, 0 disabled, 1 problem(s)."


def test_an_origin_describes_its_provider() -> None:
    provider = ConnectorOrigin("fk", "m:p", "connector-fk", "1")
    assert (
        ConnectorOrigin("fk", "m:p", "connector-fk", "1", provider).describe()
        == "connector-fk 1, provider 'fk' (m:p)"
    )
    assert ConnectorOrigin("x", "k", "d", None, provider).describe() == (
        "d, task type 'x' (k), bridged by provider 'fk' of connector-fk 1"
    )
