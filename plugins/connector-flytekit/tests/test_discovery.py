"""Discovery against the real flytekit installed here, and fake flytekit plugins from real wheels.

The plugin wheels (``flytekit_wheels.py``) are pip-installed with ``--target`` into a directory that
a fresh interpreter gets on ``PYTHONPATH``, beside this environment's real flytekit: the provider
runs there (as the core runs it, in a process of its own), and so does ``python -m connector``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flytekit_wheels as wheels
import pytest

import connector

FLYTEKIT_VERSION = __import__("importlib.metadata").metadata.version("flytekit")

SENSOR = {
    "kind": "ProvidedConnector",
    "task_type": "sensor",
    "task_type_version": 0,
    "name": "Sensor",
    "distribution": "flytekit",
    "distribution_version": FLYTEKIT_VERSION,
    "key": "flytekit",
    "is_sync": False,
}
WEBHOOK = {
    "kind": "ProvidedConnector",
    "task_type": "webhook",
    "task_type_version": 0,
    "name": "Webhook Connector",
    "distribution": "flytekit",
    "distribution_version": FLYTEKIT_VERSION,
    "key": "flytekit.extras.webhook",
    "is_sync": True,
}
BROKEN_PROBLEM = (
    "the flytekit plugin flytekitplugins-broken 0.3 (entry point 'broken' = 'flytekitplugins.broken' in "
    "flytekit.plugins) failed to import: ImportError: No module named warehouse_sdk: install "
    "warehouse-sdk>=2; its connectors are not served. To fix it, fix or upgrade flytekitplugins-broken, "
    "or uninstall it (pip uninstall flytekitplugins-broken)"
)


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """flytekitplugins-sample 1.2, flytekitplugins-rival 2.0 (claims sample_echo too) and -broken 0.3."""
    built = tmp_path_factory.mktemp("wheels")
    target = tmp_path_factory.mktemp("site")
    wheels.pip_install_into(
        target,
        wheels.flytekit_plugin(built, "sample", "1.2", wheels.SAMPLE),
        wheels.flytekit_plugin(built, "rival", "2.0", wheels.RIVAL),
        wheels.flytekit_plugin(built, "broken", "0.3", wheels.BROKEN),
    )
    return target


def by_category(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: (item.get("task_type", ""), item.get("distribution") or ""))


def test_flytekits_own_webhook_and_sensor_are_provided_when_opted_in(tmp_path: Path) -> None:
    items = wheels.provided_in_subprocess(None, tmp_path, CONNECTOR_FLYTEKIT_BUILTINS="sensor,webhook")
    assert [item for item in items if item.get("distribution") == "flytekit"] == [SENSOR, WEBHOOK]
    items = wheels.provided_in_subprocess(None, tmp_path, CONNECTOR_FLYTEKIT_BUILTINS="webhook")
    assert [item for item in items if item.get("distribution") == "flytekit"] == [WEBHOOK]


def test_each_plugin_is_loaded_on_its_own(plugins: Path, tmp_path: Path) -> None:
    """The broken plugin is one problem; the others provide, both claims of sample_echo included."""
    items = wheels.provided_in_subprocess(plugins, tmp_path, CONNECTOR_FLYTEKIT_BUILTINS="sensor,webhook")
    problems = [item for item in items if item["kind"] == "ProviderProblem"]
    assert problems == [
        {
            "kind": "ProviderProblem",
            "problem": BROKEN_PROBLEM,
            "distribution": "flytekitplugins-broken",
            "distribution_version": "0.3",
            "entry_point": "flytekit.plugins: broken",
        }
    ]
    plugin_items = [
        item for item in items if (item.get("distribution") or "").startswith("flytekitplugins-s")
    ]
    plugin_items += [item for item in items if item.get("distribution") == "flytekitplugins-rival"]
    assert by_category(plugin_items) == [
        {
            "kind": "ProvidedConnector",
            "task_type": "sample_echo",
            "task_type_version": 0,
            "name": "Rival Echo Connector",
            "distribution": "flytekitplugins-rival",
            "distribution_version": "2.0",
            "key": "flytekit.plugins: rival = flytekitplugins.rival",
            "is_sync": True,
        },
        {
            "kind": "ProvidedConnector",
            "task_type": "sample_echo",
            "task_type_version": 0,
            "name": "Sample Echo Connector",
            "distribution": "flytekitplugins-sample",
            "distribution_version": "1.2",
            "key": "flytekit.plugins: sample = flytekitplugins.sample",
            "is_sync": True,
        },
        {
            "kind": "ProvidedConnector",
            "task_type": "sample_job",
            "task_type_version": 2,
            "name": "Sample Job Connector",
            "distribution": "flytekitplugins-sample",
            "distribution_version": "1.2",
            "key": "flytekit.plugins: sample = flytekitplugins.sample",
            "is_sync": False,
        },
    ]
    assert [item for item in items if item.get("distribution") == "flytekit"] == [SENSOR, WEBHOOK]


def test_connector_check_names_the_broken_plugin_and_the_conflict(plugins: Path, tmp_path: Path) -> None:
    done = wheels.run_connector(["check"], plugins, tmp_path, CONNECTOR_FLYTEKIT_BUILTINS="sensor,webhook")
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        "BROKEN flytekit.plugins: broken: flytekitplugins-broken 0.3, entry point "
        "'flytekit.plugins: broken', bridged by provider 'flytekit' of connector-flytekit 0.1.0: "
        + BROKEN_PROBLEM,
        "CONFLICT sample_echo@0: task type sample_echo@0 is claimed by flytekitplugins-rival 2.0 and "
        "flytekitplugins-sample 1.2; neither is served. Uninstall one, or pin one with "
        "CONNECTOR_PIN='sample_echo=flytekitplugins-rival'",
        "3 connector(s) loaded, 0 disabled, 2 problem(s).",
    ]


def test_without_the_opt_in_flytekits_builtins_are_not_claimed(tmp_path: Path) -> None:
    """Not provided at all, so they conflict with nothing (connector-http's and connector-sensor's)."""
    items = wheels.provided_in_subprocess(None, tmp_path)
    assert [item for item in items if item.get("distribution") == "flytekit"] == []
    done = wheels.run_connector(["check"], None, tmp_path)
    assert (done.returncode, done.stdout) == (0, "0 connector(s) loaded, 0 disabled, 0 problem(s).\n")
    # Opting in later is seen at once: the provider names the variable its answer depends on.
    opted = wheels.run_connector(["check"], None, tmp_path, CONNECTOR_FLYTEKIT_BUILTINS="sensor,webhook")
    assert (opted.returncode, opted.stdout.splitlines()[-1]) == (
        0,
        "2 connector(s) loaded, 0 disabled, 0 problem(s).",
    )


@pytest.mark.parametrize(
    ("pinned", "answer"), [("flytekitplugins-rival", "rival"), ("flytekitplugins-sample", "echo")]
)
def test_a_pinned_claim_runs_in_a_fresh_process(
    plugins: Path, tmp_path: Path, pinned: str, answer: str
) -> None:
    """``connector run`` loads the pinned plugin from its key, beside the broken one, and runs its ``do``."""
    done = wheels.run_connector(
        ["run", "sample_echo"], plugins, tmp_path, CONNECTOR_PIN=f"sample_echo={pinned}"
    )
    assert (done.returncode, done.stdout) == (0, f'o = "{answer}"\n'), done.stderr


def test_an_async_plugin_connector_runs_with_the_journal(plugins: Path, tmp_path: Path) -> None:
    done = wheels.run_connector(["run", "sample_job@2", "--json"], plugins, tmp_path)
    assert done.returncode == 0, done.stderr
    result = __import__("json").loads(done.stdout)
    assert (result["state"], result["message"], result["outputs"]) == ("succeeded", "done job-0", {})
    assert result["journal"] == str(tmp_path / "jobs.sqlite3")


def test_an_unsupported_flytekit_is_one_problem(tmp_path: Path) -> None:
    """A flytekit 1.15 distribution first on the path (its metadata only): nothing of it is imported."""
    target = tmp_path / "site"
    info = target / "flytekit-1.15.4.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: flytekit\nVersion: 1.15.4\n")
    assert wheels.provided_in_subprocess(target, tmp_path) == [
        {
            "kind": "ProviderProblem",
            "problem": "flytekit 1.15.4 is installed, but connector-flytekit supports flytekit>=1.16,<2 (the "
            "releases with flytekit.extend.backend.base_connector); install one: "
            "pip install 'flytekit[connector]>=1.16,<2'",
            "distribution": "flytekit",
            "distribution_version": "1.15.4",
            "entry_point": None,
        }
    ]


def test_a_missing_flytekit_is_one_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    from connector_flytekit import FlytekitProvider, _flytekit

    monkeypatch.setattr(_flytekit, "flytekit_version", lambda: None)
    assert list(FlytekitProvider().provided()) == [
        connector.ProviderProblem(
            "flytekit is not installed, so connector-flytekit has no connectors to serve; it needs "
            "flytekit>=1.16,<2: pip install 'flytekit[connector]>=1.16,<2'"
        )
    ]


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        ("1.16.0", True),
        ("1.16.0b0", True),
        ("1.16.31", True),
        ("1.17.2", True),
        ("1.15.4", False),
        ("2.0.0", False),
    ],
)
def test_supported_versions(version: str, supported: bool) -> None:
    from connector_flytekit._flytekit import is_supported

    assert is_supported(version) is supported


def test_importing_the_package_imports_no_flytekit(tmp_path: Path) -> None:
    """The core imports the provider's module to resolve it; flytekit's import waits for provided or load."""
    done = wheels.run_python(
        "import sys, connector_flytekit; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flytekit', 'flyteidl', 'grpc', 'google')))",
        None,
        tmp_path,
    )
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr


def test_a_key_of_a_plugin_no_longer_installed_says_so(tmp_path: Path) -> None:
    from connector_flytekit import FlytekitConnectorGoneError, FlytekitProvider

    provided = connector.ProvidedConnector(
        "gone_job", 0, "Gone", "flytekitplugins-gone", "1.0", "flytekit.plugins: gone = flytekitplugins.gone"
    )
    with pytest.raises(FlytekitConnectorGoneError) as info:
        FlytekitProvider().load(provided)
    assert str(info.value) == (
        "the flytekit plugin flytekitplugins-gone 1.0 (entry point 'gone' = 'flytekitplugins.gone' in "
        "flytekit.plugins) is no longer installed; reinstall flytekitplugins-gone, or run `connector check` "
        "to see what is installed now"
    )


def test_load_returns_the_adapter_of_flytekits_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    from connector_flytekit import FlytekitProvider, FlytekitSyncConnector

    monkeypatch.setenv("CONNECTOR_FLYTEKIT_BUILTINS", "webhook")
    provided = connector.ProvidedConnector(**{k: v for k, v in WEBHOOK.items() if k != "kind"})
    adapter = FlytekitProvider().load(provided)
    assert isinstance(adapter, FlytekitSyncConnector)
    assert (type(adapter).name, adapter.task_type_name, adapter.task_type_version) == (
        "Webhook Connector",
        "webhook",
        0,
    )
    assert type(adapter.flytekit_connector).__module__ == "flytekit.extras.webhook.connector"
