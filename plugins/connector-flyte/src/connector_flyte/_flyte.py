"""Flyte 2 itself: which releases are supported, and its parts the bridge calls, imported on first use."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import re
import threading
from typing import Any

from ._exceptions import FlyteUnavailableError

#: The flyte releases whose connector service the bridge calls connectors as (read: 2.4.0 to 2.12.1).
SUPPORTED_FLYTE = ">=2.4,<3"
#: How to install a supported flyte, as the messages say it.
INSTALL_COMMAND = "pip install 'flyte[connector]>=2.4,<3'"

_LOWEST = (2, 4)
_BELOW = (3,)
_RELEASE = re.compile(r"^\s*v?(\d+)(?:\.(\d+))?")


def flyte_version() -> str | None:
    """The installed flyte's version, from its metadata (nothing imported); None when it is not installed."""
    try:
        return importlib.metadata.version("flyte")
    except importlib.metadata.PackageNotFoundError:
        return None


def is_supported(version: str) -> bool:
    """Whether a flyte version is within ``SUPPORTED_FLYTE`` (its major and minor numbers decide)."""
    found = _RELEASE.match(version)
    if found is None:
        return False
    release = (int(found[1]), int(found[2] or 0))
    return _LOWEST <= release < _BELOW


def version_problem(version: str | None) -> str | None:
    """What is wrong with the installed flyte's version (None: nothing), with the fix."""
    if version is None:
        return (
            "connector-flyte: flyte is not installed, so no Flyte 2 connector can be served; "
            f"install it: {INSTALL_COMMAND}"
        )
    if not is_supported(version):
        return (
            f"connector-flyte: flyte {version} is installed, but connector-flyte supports flyte "
            f"{SUPPORTED_FLYTE}; install a supported release: {INSTALL_COMMAND}"
        )
    return None


@dataclasses.dataclass(frozen=True)
class FlyteSdk:
    """The parts of an imported flyte that its connector service uses, and the bridge with it.

    Attributes are flyte's own objects: ``AsyncConnector`` and ``ConnectorRegistry`` (of
    ``flyte.connectors``), ``Inputs`` and ``convert_from_inputs_to_native`` (its runtime's literal
    conversion), ``get_resource_proto`` (how its service turns a ``Resource`` into a message),
    ``NativeInterface`` and ``TypeEngine``, and the flyteidl2 messages ``TaskTemplate``,
    ``TaskExecutionMetadata`` and ``Inputs`` it was built with.
    """

    version: str
    AsyncConnector: Any
    ConnectorRegistry: Any
    Inputs: Any
    convert_from_inputs_to_native: Any
    get_resource_proto: Any
    NativeInterface: Any
    TypeEngine: Any
    TaskTemplateMessage: Any
    TaskExecutionMetadataMessage: Any
    InputsMessage: Any

    def implements(self, connector: object, hook: str) -> bool:
        """Whether a Flyte 2 connector overrides ``hook`` of ``flyte.connectors.AsyncConnector``."""
        return getattr(type(connector), hook, None) is not getattr(self.AsyncConnector, hook)


# Where each part lives in flyte (2.4 to 2.12 alike): module, attribute, the FlyteSdk field.
_PARTS = (
    ("flyte.connectors", "AsyncConnector", "AsyncConnector"),
    ("flyte.connectors", "ConnectorRegistry", "ConnectorRegistry"),
    ("flyte._internal.runtime.convert", "Inputs", "Inputs"),
    ("flyte._internal.runtime.convert", "convert_from_inputs_to_native", "convert_from_inputs_to_native"),
    ("flyte.connectors._connector", "get_resource_proto", "get_resource_proto"),
    ("flyte.models", "NativeInterface", "NativeInterface"),
    ("flyte.types", "TypeEngine", "TypeEngine"),
    ("flyteidl2.core.tasks_pb2", "TaskTemplate", "TaskTemplateMessage"),
    ("flyteidl2.connector.connector_pb2", "TaskExecutionMetadata", "TaskExecutionMetadataMessage"),
    ("flyteidl2.task.common_pb2", "Inputs", "InputsMessage"),
)

# flyte is imported once per process like any module; the parts found are kept with it.
_lock = threading.Lock()
_sdk: FlyteSdk | None = None


def flyte_sdk() -> FlyteSdk:
    """Import flyte (once per process) and return its parts; ``FlyteUnavailableError`` says why not.

    Not installed, a version outside ``SUPPORTED_FLYTE``, an import that raises, or a release
    that lacks a part (or whose ``ConnectorRegistry`` keeps connectors elsewhere) are refused
    with the fix.
    """
    global _sdk
    with _lock:
        if _sdk is None:
            _sdk = _import_sdk()
        return _sdk


def _import_sdk() -> FlyteSdk:
    version = flyte_version()
    problem = version_problem(version)
    if problem is not None:
        raise FlyteUnavailableError(problem, version=version)
    assert version is not None
    found: dict[str, Any] = {}
    for module_name, attribute, field in _PARTS:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise FlyteUnavailableError(
                f"connector-flyte: importing {module_name} of flyte {version} raised "
                f"{type(exc).__name__}: {exc}; reinstall it: {INSTALL_COMMAND}",
                version=version,
            ) from exc
        if not hasattr(module, attribute):
            raise _lacks(version, f"{module_name}.{attribute}")
        found[field] = getattr(module, attribute)
    registry = found["ConnectorRegistry"]
    for attribute in ("_REGISTRY", "_METADATA"):
        # What a connector module registers on import is read from these (see _entry_points.py).
        if not isinstance(vars(registry).get(attribute), dict):
            raise _lacks(version, f"flyte.connectors.ConnectorRegistry.{attribute}")
    return FlyteSdk(version=version, **found)


def _lacks(version: str, name: str) -> FlyteUnavailableError:
    return FlyteUnavailableError(
        f"connector-flyte: flyte {version} has no {name}, which connector-flyte calls as flyte's own "
        f"connector service does; install a release it supports: {INSTALL_COMMAND}",
        version=version,
    )
