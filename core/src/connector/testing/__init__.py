"""The test kit for connector authors: a pytest plugin, fixtures, a lifecycle driver and the contract suite.

Installed with connector-core and registered with pytest through the ``pytest11`` entry point, so
its fixtures (``connector_registry``, ``connector_clock``, ``connector_lifecycle``) are available in
every test. Needs pytest.
"""

from __future__ import annotations

from ._clock import FakeClock as FakeClock
from ._contract import GARBLED_METAS as GARBLED_METAS
from ._contract import ConnectorContract as ConnectorContract
from ._exceptions import ContractViolation as ContractViolation
from ._lifecycle import Lifecycle as Lifecycle
from ._lifecycle import LifecycleDriver as LifecycleDriver
from ._registry import registry_of as registry_of

__all__ = [
    "GARBLED_METAS",
    "ConnectorContract",
    "ContractViolation",
    "FakeClock",
    "Lifecycle",
    "LifecycleDriver",
    "registry_of",
]
