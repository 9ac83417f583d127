"""``connector list/show/check/run`` with the bridge and real wheels installed, as a user runs them.

Each command runs in a process of its own with the sample distributions on ``PYTHONPATH``, so the
core learns what connector-flyte provides in its own learning process and caches it, as it does
after ``pip install``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_runs import connector
from flyte_wheels import BROKEN_MESSAGE

PROVIDER = {
    "name": "flyte",
    "target": "connector_flyte:FlyteProvider",
    "distribution": "connector-flyte",
    "distribution_version": "0.1.0",
}
BROKEN_ERROR = (
    "acme-flyte-broken 0.3, entry point 'flyte.connectors: broken', bridged by provider 'flyte' of "
    "connector-flyte 0.1.0: importing the Flyte 2 connector module acme_broken:BrokenConnector raised "
    f"ImportError: {BROKEN_MESSAGE}; install what it needs or upgrade acme-flyte-broken, or uninstall "
    "acme-flyte-broken"
)
CONFLICT = (
    "task type acme_job@0 is claimed by acme-flyte 1.0 and other-flyte 2.0; neither is served. "
    "Uninstall one, or pin one with CONNECTOR_PIN='acme_job=acme-flyte'"
)


def listed(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def entry(
    category: str, dist: str, version: str, target: str, state: str, error: str | None = None
) -> dict[str, Any]:
    name, _, number = category.partition("@")
    return {
        "category": category,
        "task_type": name,
        "task_type_version": int(number),
        "entry_point": name if number == "0" else category,
        "target": target,
        "distribution": dist,
        "distribution_version": version,
        "provider": PROVIDER,
        "state": state,
        "error": error,
    }


ACME = "acme=acme_flyte.connector:AcmeConnector"


def test_list_shows_each_connector_bridged_and_the_broken_package(
    sites: dict[str, Path], tmp_path: Path
) -> None:
    result = connector(["list", "--json"], [sites["acme"], sites["broken"]], tmp_path)
    assert listed(result) == [
        {
            "category": None,
            "task_type": None,
            "task_type_version": None,
            "entry_point": "flyte.connectors: broken",
            "target": "",
            "distribution": "acme-flyte-broken",
            "distribution_version": "0.3",
            "provider": PROVIDER,
            "state": "broken",
            "error": BROKEN_ERROR,
        },
        entry("acme_job@0", "acme-flyte", "1.0", ACME, "available"),
        entry("acme_report@1", "acme-flyte", "1.0", ACME, "available"),
    ]


def test_check_names_the_broken_package_and_exits_1(sites: dict[str, Path], tmp_path: Path) -> None:
    result = connector(["check"], [sites["acme"], sites["broken"]], tmp_path)
    assert result.returncode == 1, result.stderr
    assert f"BROKEN flyte.connectors: broken: {BROKEN_ERROR}" in result.stdout.splitlines()
    assert result.stdout.splitlines()[-1] == "2 connector(s) loaded, 0 disabled, 1 problem(s)."


def test_check_passes_without_it(sites: dict[str, Path], tmp_path: Path) -> None:
    result = connector(["check"], [sites["acme"]], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_two_packages_claiming_one_task_type_are_a_conflict(sites: dict[str, Path], tmp_path: Path) -> None:
    result = connector(["check"], [sites["acme"], sites["other"]], tmp_path)
    assert result.returncode == 1
    assert f"CONFLICT acme_job@0: {CONFLICT}" in result.stdout.splitlines()
    assert "1 connector(s) loaded, 0 disabled, 1 problem(s)." in result.stdout


@pytest.mark.parametrize(("pin", "name"), [("acme-flyte", "Acme Connector"), ("other-flyte", "Other Acme")])
def test_a_pin_chooses_either(sites: dict[str, Path], tmp_path: Path, pin: str, name: str) -> None:
    result = connector(
        ["show", "acme_job", "--json"],
        [sites["acme"], sites["other"]],
        tmp_path,
        CONNECTOR_PIN=f"acme_job={pin}",
    )
    shown = json.loads(result.stdout)
    assert (shown["state"], shown["name"], shown["distribution"]) == ("loaded", name, pin), result.stderr


def test_run_a_bridged_connector(sites: dict[str, Path], tmp_path: Path) -> None:
    """``connector run``: the template's interface types the inputs; Flyte 2's outputs come back typed."""
    state = tmp_path / "state"
    state.mkdir()
    template = tmp_path / "acme.json"
    template.write_text(
        json.dumps(
            {
                "interface": {
                    "inputs": {"n": "integer", "name": "string"},
                    "outputs": {
                        "total": "integer",
                        "greeting": "string",
                        "signed": "boolean",
                        "info": "struct",
                    },
                }
            }
        )
    )
    prefix = str(tmp_path / "out")
    job = json.dumps(["wh-1", {"n": 4, "name": "bo"}, prefix], sort_keys=True)
    (state / f"{hashlib.sha256(job.encode()).hexdigest()[:12]}.done").write_text("")
    result = connector(
        ["run", "acme_job", "--template", str(template), "--custom", "warehouse=wh-1", "--input", "n=4",
         "--input", "name=bo", "--output-prefix", prefix, "--json"],
        [sites["acme"]],
        tmp_path,
        ACME_STATE_DIR=str(state),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert (document["phase"], document["message"]) == ("SUCCEEDED", "done")
    assert document["outputs"] == {
        "total": 8,
        "greeting": "hello bo",
        "weight_sum": 0.0,
        "signed": False,
        "info": {"warehouse": "wh-1", "rows": 3},
    }
