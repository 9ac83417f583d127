"""The error hierarchy of connector.

ConnectorError
├── ConnectorNotFound           (also LookupError) no connector serves a task category
├── ConnectorUnavailable        a connector exists but cannot be served
│   ├── ConnectorLoadError      its import or constructor raised, or its import did not finish in time
│   ├── ConnectorValidationError  it breaks a rule of the hook contract
│   ├── ConnectorConflictError  two distributions claim its category, or a pin matches neither
│   └── ConnectorDisabledError  the allow/deny lists exclude it
├── ConfigurationError          (also ValueError) a setting cannot be used as given
├── MissingExtraError           (also ImportError) a feature needs an extra that is not installed
├── DuplicateConnectorError     (also ValueError) register() of a category already registered
├── HookNotImplementedError     an optional hook (get_logs, get_metrics) is missing
├── HookResultError             (also TypeError) a hook returned something the contract does not allow
├── HookCrashError              a hook raised what must never leave it (KeyboardInterrupt, SystemExit, ...)
├── CallTimeoutError            a hook ran past the server-side time limit: DEADLINE_EXCEEDED
├── ServiceOverloadedError      a limit of the service or of a connector is reached: RESOURCE_EXHAUSTED
├── TransientError              a connector's call failed in a way that may pass: retried, then UNAVAILABLE
├── BadRequestError             (also ValueError) a request cannot be served as sent: INVALID_ARGUMENT
│   └── CustomFieldError        a template's custom fields do not match the connector's declared fields
├── LiteralConversionError      (also ValueError) a Flyte literal and a Python value do not convert
├── ResourceMetaError           (also ValueError) resource-meta bytes cannot be encoded or decoded
├── InputValueError             (also ValueError) a `connector run` value or file cannot be read
├── JobFailedError              a job run locally ended without succeeding
├── JobNotFoundError            (also LookupError) the job journal has no such job
├── JobStateError               a journal job's state does not allow the action (resume a cancelled job)
└── JournalError                the job journal cannot be opened or written

ConnectorWarning                (a UserWarning) the base of every warning connector emits
└── WrapperWarning              a wrapper plugin surrounds an ``async def`` hook it cannot wrap
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._model import ConnectorOrigin, TaskCategory


class ConnectorError(Exception):
    """Base class of every error raised by connector."""


class ConnectorNotFound(ConnectorError, LookupError):
    """Raised when no installed or registered connector serves a task category (or has a name).

    ``installed`` lists the categories installed for the same task type (other versions), or every
    connector name for a lookup by name, so the message can say what is there instead.
    """

    def __init__(
        self, category: TaskCategory | None, installed: Sequence[object] = (), *, name: str | None = None
    ) -> None:
        self.category = category
        self.name = name
        self.installed = tuple(installed)
        if category is None:
            known = ", ".join(repr(str(n)) for n in self.installed) or "none"
            message = f"no connector is named {name!r} (connector names: {known})"
        elif self.installed:
            versions = ", ".join(str(c) for c in self.installed)
            message = (
                f"no connector for task type {category.name!r} version {category.version} "
                f"(installed versions of {category.name!r}: {versions})"
            )
        else:
            message = f"no connector for task type {category.name!r} version {category.version} is installed"
        super().__init__(message)


class ConfigurationError(ConnectorError, ValueError):
    """Raised when a setting (an environment variable or option) has a value that cannot be used."""


class MissingExtraError(ConnectorError, ImportError):
    """Raised when a feature needs an optional extra that is not installed.

    ``extra`` names the extra (``server``), ``module`` the module found missing; the message says
    how to install it. ``connector run`` of a raw-literals connector needs the server extra.
    """

    def __init__(self, message: str, *, extra: str, module: str) -> None:
        self.extra = extra
        self.module = module
        super().__init__(message, name=module)


class ConnectorUnavailable(ConnectorError):
    """Raised when a connector is known but cannot be served; ``reason`` says why.

    ``origin`` is where the connector at fault came from (None when several are, as in a
    conflict); ``entry_point`` and ``distribution`` are read from it.
    """

    def __init__(
        self, message: str, *, category: TaskCategory | None = None, origin: ConnectorOrigin | None = None
    ) -> None:
        self.category = category
        self.origin = origin
        self.reason = message
        super().__init__(message)

    @property
    def entry_point(self) -> str | None:
        """The entry point of the connector at fault, if one is."""
        return self.origin.entry_point if self.origin is not None else None

    @property
    def distribution(self) -> str | None:
        """The distribution of the connector at fault, if one is."""
        return self.origin.distribution if self.origin is not None else None


class ConnectorLoadError(ConnectorUnavailable):
    """Raised when importing a connector's entry point, or constructing the connector, raised or hung.

    Anything raised counts, KeyboardInterrupt and SystemExit included; hung means it did not finish
    within ``CONNECTOR_IMPORT_TIMEOUT`` seconds.
    """


class ConnectorValidationError(ConnectorUnavailable):
    """Raised when a connector breaks a rule of the hook contract; ``rule`` names the rule."""

    def __init__(
        self,
        message: str,
        *,
        rule: str,
        category: TaskCategory | None = None,
        origin: ConnectorOrigin | None = None,
    ) -> None:
        self.rule = rule
        super().__init__(message, category=category, origin=origin)


class ConnectorConflictError(ConnectorUnavailable):
    """Raised when two or more distributions claim one category and no pin chooses between them,
    or when ``CONNECTOR_PIN`` names a distribution that does not provide the category.

    ``distributions`` holds ``(name, version)`` pairs of every claimant; ``pin`` the pinned
    distribution, if any.
    """

    def __init__(
        self, category: TaskCategory, distributions: Sequence[tuple[str, str]], *, pin: str | None = None
    ) -> None:
        self.distributions = tuple(distributions)
        self.pin = pin
        claimants = " and ".join(f"{name} {version}".rstrip() for name, version in self.distributions)
        names = sorted({name for name, _ in self.distributions})
        example = f"CONNECTOR_PIN='{category.entry_point_name}={names[0]}'"
        if pin is not None:
            message = (
                f"CONNECTOR_PIN chose {pin} for task type {category}, but it is provided by {claimants}; "
                f"it is not served. Pin one of these, for example {example}"
            )
        else:
            none = "neither" if len(self.distributions) == 2 else "none"
            message = (
                f"task type {category} is claimed by {claimants}; {none} is served. "
                f"Uninstall one, or pin one with {example}"
            )
        super().__init__(message, category=category)


class ConnectorDisabledError(ConnectorUnavailable):
    """Raised when CONNECTOR_ALLOW or CONNECTOR_DENY excludes a connector."""


class DuplicateConnectorError(ConnectorError, ValueError):
    """Raised by ``register()`` when the category is already registered and ``override`` is false."""

    def __init__(self, category: TaskCategory, existing: str) -> None:
        self.category = category
        super().__init__(
            f"a connector for task type {category} is already registered ({existing}); "
            "pass override=True to replace it"
        )


class HookNotImplementedError(ConnectorError):
    """Raised when an optional hook (``get_logs``, ``get_metrics``) is called on a connector without it."""

    def __init__(self, category: TaskCategory, hook: str) -> None:
        self.category = category
        self.hook = hook
        super().__init__(f"connector for task type {category} does not implement {hook}")


class LiteralConversionError(ConnectorError, ValueError):
    """Raised when an input literal cannot become a Python value, or an output value cannot become a literal.

    ``name`` is the input or output at fault, ``kind`` says which (``"input"`` or ``"output"``) and
    ``reason`` says what was expected and what was found instead.
    """

    def __init__(self, name: str, reason: str, *, kind: str = "input") -> None:
        self.name = name
        self.kind = kind
        self.reason = reason
        super().__init__(f"{kind} {name!r}: {reason}")


class ResourceMetaError(ConnectorError, ValueError):
    """Raised when resource-meta bytes cannot be decoded, or a value cannot be encoded."""


class InputValueError(ConnectorError, ValueError):
    """Raised when a ``connector run`` value (``KEY=VALUE``, ``@file``) or input/template file cannot be read.

    ``option`` names the option or file at fault.
    """

    def __init__(self, message: str, *, option: str | None = None) -> None:
        self.option = option
        super().__init__(message)


class HookResultError(ConnectorError, TypeError):
    """Raised by the call layer when a hook's result breaks the contract.

    ``create`` that returns no instance of the connector's ``metadata_type`` (or one that does not
    encode), ``do`` that returns a phase that is not terminal, ``get``/``do`` that return no
    ``Resource`` (or one with a bad field), logs or metrics of the wrong shape. ``problem`` says
    what was wrong; the message also names the task type, the connector's origin and the hook.
    """

    def __init__(
        self, problem: str, *, category: TaskCategory, hook: str, origin: ConnectorOrigin | None = None
    ) -> None:
        self.category = category
        self.hook = hook
        self.origin = origin
        self.problem = problem
        super().__init__(f"{_who(category, origin)}: {hook} {problem}")


class HookCrashError(ConnectorError):
    """Raised by the call layer in place of what a hook must never raise, so the process goes on.

    ``KeyboardInterrupt``, ``SystemExit``, ``GeneratorExit``, a ``StopIteration`` that escapes a
    plain ``def`` hook, the hook's own ``CancelledError`` and any other ``BaseException`` that is
    not an ``Exception`` would stop the server or leave the call unanswered. Also raised for any
    exception of a connector's ``custom_fields_apply``, which must only answer True or False
    (``hook`` is then ``"custom_fields_apply"``). ``raised`` is the original exception (also the
    ``__cause__``); ``rule`` ends the message, saying what the code must do instead.
    """

    def __init__(
        self,
        raised: BaseException,
        *,
        category: TaskCategory,
        hook: str,
        origin: ConnectorOrigin | None = None,
        rule: str | None = None,
    ) -> None:
        self.category = category
        self.hook = hook
        self.origin = origin
        self.raised = raised
        detail = str(raised)
        what = f"{type(raised).__name__}: {detail}" if detail else type(raised).__name__
        rule = rule or "which a hook must not raise (raise an Exception to fail the call)"
        super().__init__(f"{_who(category, origin)}: {hook} raised {what}, {rule}")


def _who(category: TaskCategory, origin: ConnectorOrigin | None) -> str:
    """``task type x@0 from <origin>``: how hook errors name the connector at fault."""
    return f"task type {category}" + (f" from {origin.describe()}" if origin is not None else "")


class CallTimeoutError(ConnectorError):
    """Raised when a connector call runs past the server-side time limit (``timeout`` of the service)."""

    def __init__(self, operation: str, category: object, seconds: float) -> None:
        self.operation = operation
        self.category = category
        self.seconds = seconds
        super().__init__(f"{operation} for task type {category} did not finish within {seconds:g}s")


class ServiceOverloadedError(ConnectorError):
    """Raised when the service refuses a call because a configured limit is reached (issue 13).

    ``limit`` is the ``connector serve`` option whose value is reached (``"--queue-size"``,
    ``"--connector-async-calls"``, ``"--max-async-calls"``), ``value`` that value, and ``category``
    the task type whose call was refused (None when it is not known). The service answers
    RESOURCE_EXHAUSTED with the message, which names both and how to get out of it.
    """

    def __init__(self, message: str, *, limit: str, value: int, category: object | None = None) -> None:
        self.limit = limit
        self.value = value
        self.category = category
        super().__init__(message)


class TransientError(ConnectorError):
    """Raise it from a hook when the failure may pass on its own (the remote API is briefly down).

    The service retries a ``get`` that raises it, with backoff, inside the call's deadline, and
    answers UNAVAILABLE only when every try failed: the workflow engine counts each failed GetTask
    toward failing the task for good and never resets the count, so a blip must not reach it.
    ``retry_after`` (seconds) asks for a longer wait before the next try. Other hooks are not
    retried (a ``create`` may have started a job); they answer UNAVAILABLE at once.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        if retry_after is not None and (
            isinstance(retry_after, bool)
            or not isinstance(retry_after, (int, float))
            or not 0 <= retry_after < float("inf")
        ):
            raise TypeError(f"retry_after must be a number of seconds, at least 0; got {retry_after!r}")
        self.retry_after = retry_after
        super().__init__(message)


class BadRequestError(ConnectorError, ValueError):
    """Raised when a request is malformed: a missing field, an undecodable resource meta, a bad input.

    ``field`` names the part of the request at fault (``resource_meta``, ``inputs.x``, ...).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class CustomFieldError(BadRequestError):
    """Raised before ``create`` or ``do`` when the template's custom fields break the connector's declaration.

    An unknown key (with a did-you-mean), a missing required field, or a value of the wrong type;
    ``field`` is the field's dotted name (``submit.url``). The service answers INVALID_ARGUMENT,
    ``connector run`` exits 2.
    """


class JobFailedError(ConnectorError):
    """Raised by the executor mixins when a job ends in any state but SUCCEEDED.

    ``result`` is the ``RunResult`` with the phase, message and journal id of the job.
    """

    def __init__(self, message: str, *, result: object) -> None:
        self.result = result
        super().__init__(message)


class JobNotFoundError(ConnectorError, LookupError):
    """Raised when the job journal has no job with the given id (or the id prefix is ambiguous)."""

    def __init__(self, message: str, *, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(message)


class JobStateError(ConnectorError):
    """Raised when a journal job's state does not allow what was asked; ``state`` is the state it is in.

    A resume of a finished or cancelling job, and any move the job state machine refuses
    (``JobJournal.update``: another process moved the job first).
    """

    def __init__(self, message: str, *, job_id: str, state: str) -> None:
        self.job_id = job_id
        self.state = state
        super().__init__(message)


class JournalError(ConnectorError):
    """Raised when the job journal's SQLite file cannot be opened, created or written; ``path`` says where."""

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path
        super().__init__(message)


class ConnectorWarning(UserWarning):
    """Base class of every warning connector emits."""


class WrapperWarning(ConnectorWarning):
    """Emitted at load when a wrapper plugin implements a hook the connector wrote as ``async def``.

    pluggy's wrappers are plain generators: around an ``async def`` hook they see the coroutine
    before it runs, not its result, so a wrapper that inspects or replaces the result misbehaves.
    """
