"""Value types shared by connectors, the registry, the service and the runner."""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # typing_extensions costs ~3 ms to import; `connector list` need not pay it
    from typing_extensions import Self


class NameEnum(str, enum.Enum):
    """An enum of names: each member is its string value (``str()``, ``repr()``, hashing, ``==``).

    The closed sets of names (hooks, run event kinds, states) are these, so a typo is an
    AttributeError and not a silent mismatch, while plain strings from users still compare equal.
    """

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:  # messages quote names with !r: 'create', as for plain strings
        return repr(self.value)


@dataclasses.dataclass(frozen=True, order=True)
class TaskCategory:
    """A task type and its version: the key a connector is registered and found under.

    ``str()`` gives ``name@version``; the entry-point name drops ``@0`` (see ``entry_point_name``).
    """

    name: str
    version: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"task type must be a non-empty string, got {self.name!r}")
        if not isinstance(self.version, int) or isinstance(self.version, bool) or self.version < 0:
            raise ValueError(f"task type version must be an integer >= 0, got {self.version!r}")

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def entry_point_name(self) -> str:
        """The entry-point name that advertises this category: ``name``, or ``name@version`` if not 0."""
        return self.name if self.version == 0 else str(self)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse ``name`` or ``name@version`` (as in entry-point names and on the command line)."""
        name, sep, version = text.rpartition("@")
        if not sep:
            return cls(text.strip())
        if not re.fullmatch(r"[0-9]+", version.strip()):
            raise ValueError(f"bad task category {text!r}: the version after '@' must be a whole number")
        return cls(name.strip(), int(version))


@dataclasses.dataclass(frozen=True)
class ConnectorOrigin:
    """Where a connector came from: its entry point and distribution, or ``register()``.

    ``provider`` is the origin of the ``connector.providers`` entry point that bridges it, for a
    connector a provider provides (its ``target`` is then the provider's key for it, and
    ``distribution`` the distribution that brought it, such as an SDK plugin); None for a native one.
    """

    entry_point: str | None = None
    target: str | None = None
    distribution: str | None = None
    distribution_version: str | None = None
    provider: ConnectorOrigin | None = None

    def describe(self) -> str:
        """A short phrase naming the origin, for error messages."""
        if self.entry_point is None:
            return f"registered connector {self.target}" if self.target else "registered connector"
        dist = _claimant(self.distribution, self.distribution_version)
        provider = self.provider
        if provider is None:
            return f"{dist}, entry point {self.entry_point!r} ({self.target})"
        if self == dataclasses.replace(provider, provider=provider):  # the provider's own entry
            return f"{dist}, provider {self.entry_point!r} ({self.target})"
        # A connector has the provider's key as its target; a problem the provider reported has none.
        what = (
            f"task type {self.entry_point!r} ({self.target})"
            if self.target
            else f"entry point {self.entry_point!r}"
        )
        bridge = _claimant(provider.distribution, provider.distribution_version)
        return f"{dist}, {what}, bridged by provider {provider.entry_point!r} of {bridge}"

    def provider_dict(self) -> dict[str, str | None] | None:
        """The bridging provider as JSON-ready data (name, target, distribution, version); None if native."""
        provider = self.provider
        if provider is None:
            return None
        return {
            "name": provider.entry_point,
            "target": provider.target,
            "distribution": provider.distribution,
            "distribution_version": provider.distribution_version,
        }


def _claimant(distribution: str | None, version: str | None) -> str:
    if not distribution:
        return "unknown distribution"
    return f"{distribution} {version}" if version else distribution


class FromOrigin:
    """The fields of ``origin`` as read-only properties, for the types that carry one (records, entries)."""

    origin: ConnectorOrigin

    @property
    def entry_point(self) -> str:
        """The entry-point name (``sensor``, ``sensor@1``)."""
        return self.origin.entry_point or ""

    @property
    def target(self) -> str:
        """The entry point's ``module:attr`` value (or the registered object's name)."""
        return self.origin.target or ""

    @property
    def distribution(self) -> str | None:
        """The distribution that advertises it; None for a connector added with ``register()``."""
        return self.origin.distribution

    @property
    def distribution_version(self) -> str | None:
        """The version of ``distribution``."""
        return self.origin.distribution_version

    @property
    def provider(self) -> ConnectorOrigin | None:
        """The provider entry point that bridges it (see ``ConnectorOrigin.provider``); None if native."""
        return self.origin.provider


class Phase(enum.IntEnum):
    """The phase of a job, numbered as Flyte's ``TaskExecution.Phase``."""

    UNDEFINED = 0
    QUEUED = 1
    RUNNING = 2
    SUCCEEDED = 3
    ABORTED = 4
    FAILED = 5
    INITIALIZING = 6
    WAITING_FOR_RESOURCES = 7
    RETRYABLE_FAILED = 8

    @property
    def is_terminal(self) -> bool:
        """Whether a job in this phase is over (succeeded, aborted or failed, retryable or not)."""
        return self in _TERMINAL_PHASES

    @classmethod
    def from_state(cls, state: str) -> Phase:
        """Convert an external system's state string ("done", "cancelled", "pending", ...) to a phase.

        Case, spaces and dashes are ignored. Raises ``ValueError`` for a state it does not know.
        """
        key = re.sub(r"[\s\-]+", "_", state.strip().lower())
        if key.upper() in cls.__members__:
            return cls[key.upper()]
        try:
            return _STATE_TO_PHASE[key]
        except KeyError:
            raise ValueError(
                f"unknown job state {state!r}; known states: {', '.join(sorted(_STATE_TO_PHASE))}"
            ) from None


_TERMINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.ABORTED, Phase.FAILED, Phase.RETRYABLE_FAILED})

_STATE_TO_PHASE: dict[str, Phase] = {
    **dict.fromkeys(["pending", "queued", "submitted", "scheduled", "created", "accepted"], Phase.QUEUED),
    **dict.fromkeys(["initializing", "starting", "provisioning", "preparing"], Phase.INITIALIZING),
    **dict.fromkeys(["waiting", "waiting_for_resources", "blocked"], Phase.WAITING_FOR_RESOURCES),
    **dict.fromkeys(
        ["running", "in_progress", "started", "active", "processing", "executing", "terminating"],
        Phase.RUNNING,
    ),
    **dict.fromkeys(
        ["done", "success", "successful", "succeeded", "complete", "completed", "finished", "ok"],
        Phase.SUCCEEDED,
    ),
    **dict.fromkeys(["cancelled", "canceled", "cancelling", "canceling", "aborted", "killed"], Phase.ABORTED),
    **dict.fromkeys(
        ["failed", "failure", "error", "errored", "internal_error", "timeout", "timed_out", "timedout"],
        Phase.FAILED,
    ),
    **dict.fromkeys(["retryable_failed", "retryable", "retrying"], Phase.RETRYABLE_FAILED),
}


def is_terminal_phase(phase: Phase | int) -> bool:
    """Return whether ``phase`` ends a job: SUCCEEDED, ABORTED, FAILED and RETRYABLE_FAILED do."""
    return Phase(phase) in _TERMINAL_PHASES


def convert_to_phase(state: str) -> Phase:
    """Convert an external system's state string to a ``Phase``; see ``Phase.from_state``."""
    return Phase.from_state(state)


@dataclasses.dataclass(frozen=True)
class TaskLog:
    """A link to a job's logs or console, shown by the workflow engine's UI."""

    uri: str
    name: str = ""
    show_while_pending: bool = False
    hide_once_finished: bool = False


@dataclasses.dataclass
class Resource:
    """The state of a job, returned by ``get`` (async connectors) and ``do`` (sync connectors).

    ``outputs`` holds native Python values by output name; the service encodes them as Flyte
    literals, typed by the task interface where the template has one. A connector with
    ``raw_literals = True`` may instead return the request protocol's literal map message
    (``flyteidl.core.literals_pb2.LiteralMap`` for v1, ``flyteidl2.task.common_pb2.Outputs`` for
    v2), which is sent as it is.
    """

    phase: Phase
    message: str = ""
    log_links: list[TaskLog] = dataclasses.field(default_factory=list)
    # `| Any`: a raw-literals connector's literal map message, typed by protobuf's own stubs.
    outputs: dict[str, Any] | Any | None = None
    custom_info: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if type(self.phase) is not Phase:  # Phase(member) is a Python call on every Resource made
            self.phase = Phase(self.phase)


@dataclasses.dataclass(frozen=True)
class TaskInterface:
    """The declared inputs and outputs of a task: name to a simple type name.

    Type names are ``integer``, ``float``, ``string``, ``boolean``, ``datetime``, ``duration``,
    ``none``, ``struct``, ``blob``, ``structured_dataset``, ``list``, ``map``, ``union`` or ``unknown``.
    """

    inputs: Mapping[str, str] = dataclasses.field(default_factory=dict)
    outputs: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class TaskTemplate:
    """A plain view of the task a connector is asked to run.

    ``custom`` is the template's custom fields as a dict; ``raw`` is the IDL message the view was
    made from, when there is one (a flyteidl or flyteidl2 ``TaskTemplate``).
    """

    type: str
    task_type_version: int = 0
    custom: dict[str, Any] = dataclasses.field(default_factory=dict)
    config: dict[str, str] = dataclasses.field(default_factory=dict)
    container_image: str | None = None
    container_args: list[str] = dataclasses.field(default_factory=list)
    sql: str | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    interface: TaskInterface | None = None
    id: str = ""
    raw: Any = None

    @property
    def category(self) -> TaskCategory:
        """The task category this template asks for."""
        return TaskCategory(self.type, self.task_type_version)

    if not TYPE_CHECKING:  # for mypy, a __getattr__ would make every attribute name valid

        def __getattr__(self, name: str) -> Any:
            # Reached only for an attribute not set: on a view of ``lazy_task_template``, the
            # fields it makes on first read. A field set meanwhile keeps its value. `_fill` goes
            # only once they are in: a thread reading at the same time fills them too, never fails.
            fill = self.__dict__.get("_fill")
            if fill is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            for field, value in fill().items():
                self.__dict__.setdefault(field, value)
            self.__dict__.pop("_fill", None)
            return getattr(self, name)


def lazy_task_template(fill: Callable[[], dict[str, Any]], **fields: Any) -> TaskTemplate:
    """A ``TaskTemplate`` with ``fields`` set now and the others from ``fill()`` when one is first read.

    ``fill`` makes only fields without a plain default (those with a ``default_factory``): a field
    with one is found on the class when the instance lacks it, so ``fields`` must hold them all.

    The service's view of a request's template (issue 13): its dicts and lists are copies made per
    call, since connector code may change them, and a connector that reads only ``raw`` or
    ``type`` (a bridge) or nothing at all never pays for them. It is a plain ``TaskTemplate`` in
    every other way (``==``, ``repr``, ``dataclasses.replace`` read every field).
    """
    view = object.__new__(TaskTemplate)
    view.__dict__.update(fields, _fill=fill)
    return view


def render_task_template(task_template: TaskTemplate, file_prefix: str) -> TaskTemplate:
    """Return a copy of the template whose container args have Flyte's placeholders filled in.

    ``{{.input}}``, ``{{.outputPrefix}}`` and ``{{.rawOutputDataPrefix}}`` become paths under
    ``file_prefix``; other text is left as it is.
    """
    prefix = file_prefix.rstrip("/")
    replacements = {
        "{{.input}}": f"{prefix}/inputs.pb",
        "{{.outputPrefix}}": f"{prefix}/output",
        "{{.rawOutputDataPrefix}}": f"{prefix}/raw_output",
    }
    args = []
    for arg in task_template.container_args:
        for placeholder, value in replacements.items():
            arg = arg.replace(placeholder, value)
        args.append(arg)
    return dataclasses.replace(task_template, container_args=args)


# repr=False: the class has its own __repr__, which dataclass would not replace but would still
# compile one for, on every import (issue 13).
@dataclasses.dataclass(repr=False)
class TaskExecutionMetadata:
    """Where and how the workflow engine runs this task execution.

    ``repr()`` names the environment variables but never shows their values (they often carry
    credentials), and leaves out ``raw``, the IDL message, which carries them too.
    """

    task_execution_id: str = ""
    namespace: str = ""
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)
    k8s_service_account: str = ""
    environment_variables: dict[str, str] = dataclasses.field(default_factory=dict)
    max_attempts: int = 0
    interruptible: bool = False
    raw: Any = None

    def __repr__(self) -> str:
        shown = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "environment_variables":
                value = dict.fromkeys(value, "***")
            if field.name != "raw":
                shown.append(f"{field.name}={value!r}")
        return f"TaskExecutionMetadata({', '.join(shown)})"


# repr=False: the class has its own __repr__, which dataclass would not replace but would still
# compile one for, on every import (issue 13).
@dataclasses.dataclass(frozen=True, repr=False)
class Connection:
    """Secrets and configuration for reaching the external system, sent with a request (flyteidl2).

    ``repr()`` names the secrets but never shows their values, so a trace, a log line or a
    traceback cannot leak them.
    """

    secrets: Mapping[str, str] = dataclasses.field(default_factory=dict)
    configs: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:
        hidden = dict.fromkeys(self.secrets, "***")
        return f"Connection(secrets={hidden!r}, configs={dict(self.configs)!r})"


@dataclasses.dataclass(frozen=True)
class LogsChunk:
    """One piece of a job's logs, as returned by ``get_logs``; ``token`` fetches the next one."""

    lines: Sequence[str] = ()
    token: str = ""


@dataclasses.dataclass(frozen=True)
class MetricPoint:
    """One sample of a metric time series."""

    timestamp: float
    value: float


@dataclasses.dataclass(frozen=True)
class MetricSeries:
    """A named time series returned by ``get_metrics``."""

    metric: str
    points: Sequence[MetricPoint] = ()
