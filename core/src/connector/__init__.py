"""connector: a plugin framework for workflow-engine connectors."""

from __future__ import annotations

from . import hookspecs
from ._base import AsyncConnector as AsyncConnector
from ._base import AsyncConnectorBase as AsyncConnectorBase
from ._base import ConnectorBase as ConnectorBase
from ._base import SyncConnector as SyncConnector
from ._base import SyncConnectorBase as SyncConnectorBase
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
from .runner._journal import JobJournal as JobJournal
from .runner._journal import JobRecord as JobRecord
from .runner._journal import JobState as JobState
from .runner._mixins import AsyncConnectorExecutorMixin as AsyncConnectorExecutorMixin
from .runner._mixins import SyncConnectorExecutorMixin as SyncConnectorExecutorMixin
from .runner._options import RunEvent as RunEvent
from .runner._options import RunEventKind as RunEventKind
from .runner._options import RunOptions as RunOptions
from .runner._options import RunResult as RunResult

__version__ = "0.1.0"

# Seed name: flytekit calls it FlyteConnectorNotFound.
FlyteConnectorNotFound = ConnectorNotFound
# Seed name: flytekit's connector utilities call it convert_to_flyte_phase.
convert_to_flyte_phase = convert_to_phase

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
    "DuplicateConnectorError",
    "ENTRY_POINT_GROUP",
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
