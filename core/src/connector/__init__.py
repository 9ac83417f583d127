"""connector: a plugin framework for workflow-engine connectors.

Only the exceptions are imported with the package. Every other public name is imported from its
module when it is first used (PEP 562 ``__getattr__``), so a command pays only for what it uses:
``connector serve`` never imports the runner or the job journal (issue 13).
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from ._exceptions import BadRequestError as BadRequestError
from ._exceptions import CallTimeoutError as CallTimeoutError
from ._exceptions import ConfigurationError as ConfigurationError
from ._exceptions import ConnectorConflictError as ConnectorConflictError
from ._exceptions import ConnectorDisabledError as ConnectorDisabledError
from ._exceptions import ConnectorError as ConnectorError
from ._exceptions import ConnectorLoadError as ConnectorLoadError
from ._exceptions import ConnectorNotFound as ConnectorNotFound
from ._exceptions import ConnectorUnavailable as ConnectorUnavailable
from ._exceptions import ConnectorValidationError as ConnectorValidationError
from ._exceptions import ConnectorWarning as ConnectorWarning
from ._exceptions import CustomFieldError as CustomFieldError
from ._exceptions import DuplicateConnectorError as DuplicateConnectorError
from ._exceptions import HookCrashError as HookCrashError
from ._exceptions import HookNotImplementedError as HookNotImplementedError
from ._exceptions import HookResultError as HookResultError
from ._exceptions import InputValueError as InputValueError
from ._exceptions import JobFailedError as JobFailedError
from ._exceptions import JobNotFoundError as JobNotFoundError
from ._exceptions import JobStateError as JobStateError
from ._exceptions import JournalError as JournalError
from ._exceptions import LiteralConversionError as LiteralConversionError
from ._exceptions import MissingExtraError as MissingExtraError
from ._exceptions import ResourceMetaError as ResourceMetaError
from ._exceptions import ServiceOverloadedError as ServiceOverloadedError
from ._exceptions import TransientError as TransientError
from ._exceptions import WrapperWarning as WrapperWarning

if _typing.TYPE_CHECKING:  # the names __getattr__ imports, for type checkers and readers
    from . import hookspecs as hookspecs
    from ._base import AsyncConnector as AsyncConnector
    from ._base import AsyncConnectorBase as AsyncConnectorBase
    from ._base import ConnectorBase as ConnectorBase
    from ._base import SyncConnector as SyncConnector
    from ._base import SyncConnectorBase as SyncConnectorBase
    from ._fields import Field as Field
    from ._idempotency import idempotency_key as idempotency_key
    from ._model import Connection as Connection
    from ._model import ConnectorOrigin as ConnectorOrigin
    from ._model import LogsChunk as LogsChunk
    from ._model import MetricPoint as MetricPoint
    from ._model import MetricSeries as MetricSeries
    from ._model import Phase as Phase
    from ._model import Resource as Resource
    from ._model import TaskCategory as TaskCategory
    from ._model import TaskExecutionMetadata as TaskExecutionMetadata
    from ._model import TaskInterface as TaskInterface
    from ._model import TaskLog as TaskLog
    from ._model import TaskTemplate as TaskTemplate
    from ._model import convert_to_phase as convert_to_flyte_phase
    from ._model import convert_to_phase as convert_to_phase
    from ._model import is_terminal_phase as is_terminal_phase
    from ._model import render_task_template as render_task_template
    from ._refs import BlobRef as BlobRef
    from ._refs import StructuredDatasetRef as StructuredDatasetRef
    from ._resource_meta import ResourceMeta as ResourceMeta
    from ._secrets import get_connector_secret as get_connector_secret
    from ._settings import RegistrySettings as RegistrySettings
    from ._settings import connector_home as connector_home
    from .hookspecs import hookimpl as hookimpl
    from .hookspecs import hookspec as hookspec
    from .registry._calls import ConnectorCalls as ConnectorCalls
    from .registry._discovery import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
    from .registry._discovery import ConnectorRecord as ConnectorRecord
    from .registry._discovery import discover_connectors as discover_connectors
    from .registry._loaded import LoadedConnector as LoadedConnector
    from .registry._provided import PROVIDER_ENTRY_POINT_GROUP as PROVIDER_ENTRY_POINT_GROUP
    from .registry._provided import ConnectorProvider as ConnectorProvider
    from .registry._provided import ProvidedConnector as ProvidedConnector
    from .registry._provided import ProviderProblem as ProviderProblem
    from .registry._registry import ConnectorEntry as ConnectorEntry
    from .registry._registry import ConnectorMetadata as ConnectorMetadata
    from .registry._registry import ConnectorRegistry as ConnectorRegistry
    from .registry._registry import ConnectorState as ConnectorState
    from .registry._registry import default_registry as default_registry
    from .registry._signing import MetaKey as MetaKey
    from .registry._signing import MetaSigner as MetaSigner
    from .runner._api import cancel_job as cancel_job
    from .runner._api import prepare_resume as prepare_resume
    from .runner._api import prepare_run as prepare_run
    from .runner._api import resume_job as resume_job
    from .runner._api import run_connector as run_connector
    from .runner._api import run_connector_async as run_connector_async
    from .runner._handle import RunHandle as RunHandle
    from .runner._job_records import JobRecord as JobRecord
    from .runner._job_states import JobState as JobState
    from .runner._journal import JobJournal as JobJournal
    from .runner._mixins import AsyncConnectorExecutorMixin as AsyncConnectorExecutorMixin
    from .runner._mixins import SyncConnectorExecutorMixin as SyncConnectorExecutorMixin
    from .runner._options import RunEvent as RunEvent
    from .runner._options import RunEventKind as RunEventKind
    from .runner._options import RunOptions as RunOptions
    from .runner._options import RunResult as RunResult

__version__ = "0.1.0"

# Seed name: flytekit calls it FlyteConnectorNotFound.
FlyteConnectorNotFound = ConnectorNotFound

# Name -> (module, attribute; None for the module itself): the imports of the TYPE_CHECKING block
# above, which tests/test_exported_members.py keeps equal to this table.
_LAZY: dict[str, tuple[str, str | None]] = {
    "hookspecs": (".hookspecs", None),
    "AsyncConnector": ("._base", "AsyncConnector"),
    "AsyncConnectorBase": ("._base", "AsyncConnectorBase"),
    "ConnectorBase": ("._base", "ConnectorBase"),
    "SyncConnector": ("._base", "SyncConnector"),
    "SyncConnectorBase": ("._base", "SyncConnectorBase"),
    "Field": ("._fields", "Field"),
    "idempotency_key": ("._idempotency", "idempotency_key"),
    "Connection": ("._model", "Connection"),
    "ConnectorOrigin": ("._model", "ConnectorOrigin"),
    "LogsChunk": ("._model", "LogsChunk"),
    "MetricPoint": ("._model", "MetricPoint"),
    "MetricSeries": ("._model", "MetricSeries"),
    "Phase": ("._model", "Phase"),
    "Resource": ("._model", "Resource"),
    "TaskCategory": ("._model", "TaskCategory"),
    "TaskExecutionMetadata": ("._model", "TaskExecutionMetadata"),
    "TaskInterface": ("._model", "TaskInterface"),
    "TaskLog": ("._model", "TaskLog"),
    "TaskTemplate": ("._model", "TaskTemplate"),
    "convert_to_phase": ("._model", "convert_to_phase"),
    "is_terminal_phase": ("._model", "is_terminal_phase"),
    "render_task_template": ("._model", "render_task_template"),
    "BlobRef": ("._refs", "BlobRef"),
    "StructuredDatasetRef": ("._refs", "StructuredDatasetRef"),
    "ResourceMeta": ("._resource_meta", "ResourceMeta"),
    "get_connector_secret": ("._secrets", "get_connector_secret"),
    "RegistrySettings": ("._settings", "RegistrySettings"),
    "connector_home": ("._settings", "connector_home"),
    "hookimpl": (".hookspecs", "hookimpl"),
    "hookspec": (".hookspecs", "hookspec"),
    "ConnectorCalls": (".registry._calls", "ConnectorCalls"),
    "ENTRY_POINT_GROUP": (".registry._discovery", "ENTRY_POINT_GROUP"),
    "ConnectorRecord": (".registry._discovery", "ConnectorRecord"),
    "discover_connectors": (".registry._discovery", "discover_connectors"),
    "LoadedConnector": (".registry._loaded", "LoadedConnector"),
    "PROVIDER_ENTRY_POINT_GROUP": (".registry._provided", "PROVIDER_ENTRY_POINT_GROUP"),
    "ConnectorProvider": (".registry._provided", "ConnectorProvider"),
    "ProvidedConnector": (".registry._provided", "ProvidedConnector"),
    "ProviderProblem": (".registry._provided", "ProviderProblem"),
    "ConnectorEntry": (".registry._registry", "ConnectorEntry"),
    "ConnectorMetadata": (".registry._registry", "ConnectorMetadata"),
    "ConnectorRegistry": (".registry._registry", "ConnectorRegistry"),
    "ConnectorState": (".registry._registry", "ConnectorState"),
    "default_registry": (".registry._registry", "default_registry"),
    "MetaKey": (".registry._signing", "MetaKey"),
    "MetaSigner": (".registry._signing", "MetaSigner"),
    "cancel_job": (".runner._api", "cancel_job"),
    "prepare_resume": (".runner._api", "prepare_resume"),
    "prepare_run": (".runner._api", "prepare_run"),
    "resume_job": (".runner._api", "resume_job"),
    "run_connector": (".runner._api", "run_connector"),
    "run_connector_async": (".runner._api", "run_connector_async"),
    "RunHandle": (".runner._handle", "RunHandle"),
    "JobJournal": (".runner._journal", "JobJournal"),
    "JobRecord": (".runner._job_records", "JobRecord"),
    "JobState": (".runner._job_states", "JobState"),
    "AsyncConnectorExecutorMixin": (".runner._mixins", "AsyncConnectorExecutorMixin"),
    "SyncConnectorExecutorMixin": (".runner._mixins", "SyncConnectorExecutorMixin"),
    "RunEvent": (".runner._options", "RunEvent"),
    "RunEventKind": (".runner._options", "RunEventKind"),
    "RunOptions": (".runner._options", "RunOptions"),
    "RunResult": (".runner._options", "RunResult"),
    # Seed name: flytekit's connector utilities call it convert_to_flyte_phase.
    "convert_to_flyte_phase": ("._model", "convert_to_phase"),
}


def __getattr__(name: str) -> _typing.Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    module = _importlib.import_module(module_name, __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # later lookups find it without calling __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [  # noqa: RUF022 - plainly sorted, as tests/test_exported_members.py checks
    "AsyncConnector",
    "AsyncConnectorBase",
    "AsyncConnectorExecutorMixin",
    "BadRequestError",
    "BlobRef",
    "CallTimeoutError",
    "ConfigurationError",
    "Connection",
    "ConnectorBase",
    "ConnectorCalls",
    "ConnectorConflictError",
    "ConnectorDisabledError",
    "ConnectorEntry",
    "ConnectorError",
    "ConnectorLoadError",
    "ConnectorMetadata",
    "ConnectorNotFound",
    "ConnectorOrigin",
    "ConnectorProvider",
    "ConnectorRecord",
    "ConnectorRegistry",
    "ConnectorState",
    "ConnectorUnavailable",
    "ConnectorValidationError",
    "ConnectorWarning",
    "CustomFieldError",
    "DuplicateConnectorError",
    "ENTRY_POINT_GROUP",
    "Field",
    "FlyteConnectorNotFound",
    "HookCrashError",
    "HookNotImplementedError",
    "HookResultError",
    "InputValueError",
    "JobFailedError",
    "JobJournal",
    "JobNotFoundError",
    "JobRecord",
    "JobState",
    "JobStateError",
    "JournalError",
    "LiteralConversionError",
    "LoadedConnector",
    "LogsChunk",
    "MetaKey",
    "MetaSigner",
    "MetricPoint",
    "MetricSeries",
    "MissingExtraError",
    "PROVIDER_ENTRY_POINT_GROUP",
    "Phase",
    "ProvidedConnector",
    "ProviderProblem",
    "RegistrySettings",
    "Resource",
    "ResourceMeta",
    "ResourceMetaError",
    "RunEvent",
    "RunEventKind",
    "RunHandle",
    "RunOptions",
    "RunResult",
    "ServiceOverloadedError",
    "StructuredDatasetRef",
    "SyncConnector",
    "SyncConnectorBase",
    "SyncConnectorExecutorMixin",
    "TaskCategory",
    "TaskExecutionMetadata",
    "TaskInterface",
    "TaskLog",
    "TaskTemplate",
    "TransientError",
    "WrapperWarning",
    "cancel_job",
    "connector_home",
    "convert_to_flyte_phase",
    "convert_to_phase",
    "default_registry",
    "discover_connectors",
    "get_connector_secret",
    "hookimpl",
    "hookspec",
    "hookspecs",
    "idempotency_key",
    "is_terminal_phase",
    "prepare_resume",
    "prepare_run",
    "render_task_template",
    "resume_job",
    "run_connector",
    "run_connector_async",
]
