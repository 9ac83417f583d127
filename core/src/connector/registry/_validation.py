"""Turning an entry point's target into a LoadedConnector, checking every rule of the hook contract."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from .._base import AsyncConnector, ConnectorBase, SyncConnector
from .._exceptions import ConnectorLoadError, ConnectorValidationError
from .._hooks import ALL_HOOKS, ASYNC_HOOKS, IMPL_MARKER
from .._model import ConnectorOrigin, TaskCategory
from .._resource_meta import ResourceMeta

# ._loaded (pluggy and the hook specifications) is imported when a connector is built: the service
# imports this module for describe_exception before its port is bound (issue 13).
if TYPE_CHECKING:
    from .._fields import Field, FieldSet
    from ._loaded import LoadedConnector


def build_connector(
    target: object,
    *,
    origin: ConnectorOrigin,
    expected: TaskCategory | None = None,
    wrappers: tuple[object, ...] = (),
    trace: bool = False,
    name: str | None = None,
) -> LoadedConnector:
    """Instantiate ``target`` if it is a class, validate it, and wrap it in a ``LoadedConnector``.

    ``expected`` is the category the entry point's name claims (or the provider listed); a
    connector that declares another one is refused. ``name`` is its name when it has no ``name``
    of its own (a provided connector's listed name), before the class name. Raises
    ``ConnectorLoadError`` when the constructor raises and ``ConnectorValidationError`` for a
    broken rule.
    """

    def fail(rule: str, message: str) -> NoReturn:
        raise ConnectorValidationError(
            f"{origin.describe()}: {message}",
            rule=rule,
            category=expected,
            origin=origin,
        )

    from ._loaded import LoadedConnector

    connector = _instantiate(target, origin, expected)
    functions = _hook_functions(connector, fail)
    if not functions:
        fail(
            "no-hooks",
            f"implements none of the hooks ({', '.join(ALL_HOOKS)}); subclass "
            "connector.AsyncConnector or connector.SyncConnector, or mark the functions with "
            "@connector.hookimpl",
        )
    for hook, fn in functions.items():
        _check_arguments(hook, fn, fail)
    _check_kind(connector, functions, fail)
    metadata_type = _check_metadata_type(connector, is_sync="do" in functions, fail=fail)
    category = _check_category(connector, expected, fail, provided=origin.provider is not None)
    raw_literals = _check_raw_literals(connector, fail)
    custom_fields, input_fields, output_fields = _check_fields(connector, category, fail)
    return LoadedConnector(
        category=category,
        connector=connector,
        name=_display_name(connector, name),
        functions=functions,
        metadata_type=metadata_type,
        origin=origin,
        doc=_own_doc(connector),
        wrappers=wrappers,
        trace=trace,
        raw_literals=raw_literals,
        custom_fields=custom_fields,
        input_fields=input_fields,
        output_fields=output_fields,
    )


def _instantiate(target: object, origin: ConnectorOrigin, expected: TaskCategory | None) -> object:
    if not inspect.isclass(target):
        return target
    try:
        return target()
    except BaseException as exc:  # anything, as for imports: see ConnectorRegistry._load (issue 8)
        raise ConnectorLoadError(
            f"{origin.describe()}: constructing {target.__qualname__} raised {describe_exception(exc)}",
            category=expected,
            origin=origin,
        ) from exc


def describe_exception(exc: BaseException) -> str:
    """``Type: message``, or ``Type`` alone when the message is empty (a bare ``KeyboardInterrupt``)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _hook_functions(connector: object, fail: Callable[[str, str], NoReturn]) -> dict[str, Callable[..., Any]]:
    """The connector's hook implementations by hook name: marked functions, and a base class's methods."""
    functions: dict[str, Callable[..., Any]] = {}
    for attr in dir(connector):
        value = _routine(connector, attr)
        marker = getattr(value, IMPL_MARKER, None)
        if value is None or marker is None:
            continue
        hook = marker.get("specname") or attr
        if hook not in ALL_HOOKS:
            fail(
                "unknown-hook",
                f"{attr!r} is marked @connector.hookimpl but no hook is named {hook!r}; "
                f"the hooks are: {', '.join(ALL_HOOKS)}",
            )
        functions[hook] = value
    if isinstance(connector, ConnectorBase):
        for hook in ALL_HOOKS:
            method = _routine(connector, hook)
            if method is not None and hook not in functions:
                functions[hook] = method
    return functions


def _routine(owner: object, attr: str) -> Callable[..., Any] | None:
    """``owner.attr`` if it is a function or method, looked up without running properties."""
    if attr.startswith("__"):
        return None
    if not inspect.isroutine(inspect.getattr_static(owner, attr, None)):
        return None
    value: Callable[..., Any] = getattr(owner, attr)
    return value


def _check_arguments(hook: str, fn: Callable[..., Any], fail: Callable[[str, str], NoReturn]) -> None:
    from ._loaded import HOOK_ARGUMENTS

    allowed = HOOK_ARGUMENTS[hook]
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        fail("signature", f"the signature of hook {hook!r} cannot be read")
    for parameter in parameters:
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            fail(
                "unknown-argument",
                f"hook {hook!r} takes {parameter.name!r} as positional-only; "
                "hooks are called with keyword arguments",
            )
        if parameter.name not in allowed:
            fail(
                "unknown-argument",
                f"hook {hook!r} takes an argument {parameter.name!r} that the "
                f"{hook!r} hookspec does not have; its arguments are: {', '.join(allowed)}",
            )


def _check_kind(
    connector: object, functions: dict[str, Callable[..., Any]], fail: Callable[[str, str], NoReturn]
) -> None:
    has_async = [h for h in ASYNC_HOOKS if h in functions]
    if "do" in functions and has_async:
        fail(
            "sync-and-async",
            f"implements both 'do' (sync) and {', '.join(repr(h) for h in has_async)} "
            "(async); a connector is one or the other",
        )
    if isinstance(connector, SyncConnector) and "do" not in functions:
        fail("missing-hook", "is a SyncConnector but does not implement 'do'")
    if "do" in functions and isinstance(connector, AsyncConnector):
        fail("sync-and-async", "is an AsyncConnector but implements 'do'; subclass SyncConnector instead")
    if "do" not in functions:
        missing = [h for h in ASYNC_HOOKS if h not in functions]
        if missing:
            fail(
                "missing-hook",
                f"is an async connector without {', '.join(repr(h) for h in missing)}; "
                "an async connector implements create, get and delete",
            )


def _check_metadata_type(
    connector: object, *, is_sync: bool, fail: Callable[[str, str], NoReturn]
) -> type[ResourceMeta] | None:
    metadata_type = getattr(connector, "metadata_type", None)
    if metadata_type is None:
        if is_sync:
            return None
        fail(
            "metadata-type",
            "is an async connector without a 'metadata_type'; set it to the ResourceMeta dataclass "
            "that create returns",
        )
    if not (inspect.isclass(metadata_type) and issubclass(metadata_type, ResourceMeta)):
        fail("metadata-type", f"metadata_type {metadata_type!r} is not a subclass of connector.ResourceMeta")
    if metadata_type is ResourceMeta:
        fail(
            "metadata-type",
            "metadata_type is connector.ResourceMeta itself, which has no fields; subclass it with the "
            "fields that find the job again",
        )
    # vars(), not is_dataclass() alone: an undecorated subclass inherits the base's dataclass fields
    # and would encode none of its own.
    if "__dataclass_fields__" not in vars(metadata_type):
        fail(
            "metadata-type",
            f"metadata_type {metadata_type.__qualname__} is not a dataclass; "
            "decorate it with @dataclasses.dataclass",
        )
    return metadata_type


def _check_category(
    connector: object, expected: TaskCategory | None, fail: Callable[[str, str], NoReturn], *, provided: bool
) -> TaskCategory:
    name = getattr(connector, "task_type_name", None) or None
    version = getattr(connector, "task_type_version", 0)
    if name is None:
        # No task_type_name: the connector serves the entry point's category. A version other than
        # the default 0 is still a declaration, and must match.
        if expected is None:
            fail("category", "declares no task_type_name; set it to the task type the connector serves")
        name = expected.name
        version = version or expected.version
    try:
        declared = TaskCategory(name, version)
    except ValueError as exc:
        fail("category", f"{exc}; fix task_type_name/task_type_version")
    if expected is not None and declared != expected and provided:
        fail(
            "category-mismatch",
            f"declares task type {declared} but its provider lists it as {expected}; the provider's "
            "provided() and load() must agree on the task type and version",
        )
    if expected is not None and declared != expected:
        fail(
            "category-mismatch",
            f"declares task type {declared} but its entry point is named "
            f"{expected.entry_point_name!r}; rename the entry point to {declared.entry_point_name!r} "
            "or fix task_type_name/task_type_version",
        )
    return declared


def _check_raw_literals(connector: object, fail: Callable[[str, str], NoReturn]) -> bool:
    value = getattr(connector, "raw_literals", False)
    if not isinstance(value, bool):
        fail("raw-literals", f"raw_literals is {value!r}; set it to True or False")
    return value


def _check_fields(
    connector: object, category: TaskCategory, fail: Callable[[str, str], NoReturn]
) -> tuple[FieldSet | None, tuple[Field, ...], tuple[Field, ...]]:
    """The declared custom fields (None when undeclared: templates pass unchecked), inputs and outputs."""
    from .._fields import FieldSet, declared_fields

    declared: list[tuple[Field, ...] | None] = []
    for attribute in ("custom_fields", "input_fields", "output_fields"):
        value = getattr(connector, attribute, None)
        if value is None:
            declared.append(None)
            continue
        try:
            declared.append(declared_fields(value, attribute=attribute))
        except TypeError as exc:
            fail("fields", f"{exc}; see 'Declaring fields' in docs/authoring.md")
    custom, inputs, outputs = declared
    applies = getattr(connector, "custom_fields_apply", None)
    if applies is not None and not callable(applies):
        fail("fields", f"custom_fields_apply is {applies!r}; make it a method taking the task template")
    task = category.name if category.version == 0 else str(category)
    fields = FieldSet(custom, task=task, applies=applies) if custom is not None else None
    return fields, inputs or (), outputs or ()


def _own_doc(connector: object) -> str:
    """The connector's own docstring (its module's or its class's), never one inherited from a base."""
    owner = connector if isinstance(connector, types.ModuleType) else type(connector)
    doc = vars(owner).get("__doc__")
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _display_name(connector: object, default: str | None) -> str:
    name = getattr(connector, "name", None)
    if isinstance(name, str) and name:
        return name
    if default:
        return default
    if isinstance(connector, types.ModuleType):
        return connector.__name__
    return type(connector).__qualname__
