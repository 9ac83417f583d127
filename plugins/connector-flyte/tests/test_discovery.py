"""FlyteProvider.provided against the real installed flyte and real wheels of Flyte 2 connector packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import flyte
import pytest
from connector_flyte import INSTALL_COMMAND, SUPPORTED_FLYTE, FlyteProvider
from connector_flyte._flyte import flyte_version, is_supported, version_problem
from flyte_wheels import BROKEN_MESSAGE

from connector import ProvidedConnector, ProviderProblem

ACME_JOB = ProvidedConnector(
    task_type="acme_job",
    task_type_version=0,
    name="Acme Connector",
    distribution="acme-flyte",
    distribution_version="1.0",
    key="acme=acme_flyte.connector:AcmeConnector",
    is_sync=False,
)
ACME_REPORT = ProvidedConnector(
    task_type="acme_report",
    task_type_version=1,
    name="Acme Connector",
    distribution="acme-flyte",
    distribution_version="1.0",
    key="acme=acme_flyte.connector:AcmeConnector",
    is_sync=False,
)
BROKEN = ProviderProblem(
    problem=(
        "importing the Flyte 2 connector module acme_broken:BrokenConnector raised ImportError: "
        f"{BROKEN_MESSAGE}; install what it needs or upgrade acme-flyte-broken, or uninstall "
        "acme-flyte-broken"
    ),
    distribution="acme-flyte-broken",
    distribution_version="0.3",
    entry_point="flyte.connectors: broken",
)


def test_one_provided_connector_per_registered_task_type(install: Callable[..., None]) -> None:
    install("acme")
    assert list(FlyteProvider().provided()) == [ACME_JOB, ACME_REPORT]


def test_an_entry_point_that_raises_is_a_problem_and_the_others_provide(install: Callable[..., None]) -> None:
    install("acme", "broken")
    assert sorted(FlyteProvider().provided(), key=repr) == sorted([ACME_JOB, ACME_REPORT, BROKEN], key=repr)


def test_two_distributions_claiming_one_task_type_are_both_provided(install: Callable[..., None]) -> None:
    """Flyte 2's own service would refuse the second to import (its duplicate check), depending on the
    order the entry points come in; here both are listed, and the core reports the conflict."""
    install("acme", "other")
    provided = list(FlyteProvider().provided())
    claims = sorted(
        (p.task_type, p.distribution, p.name) for p in provided if isinstance(p, ProvidedConnector)
    )
    assert claims == [
        ("acme_job", "acme-flyte", "Acme Connector"),
        ("acme_job", "other-flyte", "Other Acme"),
        ("acme_report", "acme-flyte", "Acme Connector"),
    ]


def test_discovery_leaves_flyte2s_registry_as_flyte_would_have_it(install: Callable[..., None]) -> None:
    from flyte.connectors import ConnectorRegistry

    install("acme")
    list(FlyteProvider().provided())
    assert type(ConnectorRegistry.get_connector("acme_job")).__name__ == "AcmeConnector"
    assert type(ConnectorRegistry.get_connector("acme_report", 1)).__name__ == "AcmeReportConnector"


def test_nothing_installed_provides_nothing() -> None:
    assert list(FlyteProvider().provided()) == []


def test_the_installed_flyte_is_supported() -> None:
    assert flyte_version() == flyte.__version__
    assert is_supported(flyte.__version__)


@pytest.mark.parametrize(
    ("version", "supported"),
    [("2.4.0", True), ("2.12.1", True), ("2.99", True), ("2.3.9", False), ("2.0.0", False), ("3.0.0", False),
     ("1.16.8", False), ("2.5.0b1", True), ("garbage", False)],
)  # fmt: skip
def test_supported_range(version: str, supported: bool) -> None:
    assert is_supported(version) is supported
    assert SUPPORTED_FLYTE == ">=2.4,<3"


def test_missing_flyte_is_one_problem_with_the_install_command() -> None:
    assert version_problem(None) == (
        "connector-flyte: flyte is not installed, so no Flyte 2 connector can be served; "
        "install it: pip install 'flyte[connector]>=2.4,<3'"
    )
    assert INSTALL_COMMAND == "pip install 'flyte[connector]>=2.4,<3'"


def test_an_unsupported_flyte_is_one_problem(sites: dict[str, Path]) -> None:
    """A real flyte 3.0.0 distribution first on the path: provided() says so, once, and imports nothing."""
    script = (
        "import json, sys; from connector_flyte import FlyteProvider; "
        "print(json.dumps([repr(item) for item in FlyteProvider().provided()])); "
        "print(json.dumps('flyte.connectors' in sys.modules))"
    )
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(sites["flyte3"]), str(sites["acme"])])}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=environ
    ).stdout.splitlines()
    problem = ProviderProblem(
        problem=(
            "connector-flyte: flyte 3.0.0 is installed, but connector-flyte supports flyte >=2.4,<3; "
            "install a supported release: pip install 'flyte[connector]>=2.4,<3'"
        ),
        distribution="flyte",
        distribution_version="3.0.0",
    )
    assert json.loads(out[0]) == [repr(problem)]
    assert json.loads(out[1]) is False
