"""Importing flytekit and what registers its connectors, one source at a time (flytekit: all at once).

``import flytekit`` loads every entry point of the group ``flytekit.plugins``, and one that raises
makes ``import flytekit`` itself raise, for every connector. So flytekit is imported with that
group hidden, and each plugin is then loaded on its own (``load_source``): one that raises is that
plugin's problem only. Each load runs against an empty ``ConnectorRegistry``, so what it registers
is known by source, and two plugins claiming one task type are both seen (flytekit's ``register``
would raise for the second one); afterwards flytekit's registry holds the first of each.

What a source registers is captured per thread (``ConnectorRegistry.register`` is wrapped once, and
records into the capture of the thread that calls it), never by swapping flytekit's global
registry: a plugin imported in the background meanwhile registers into the global registry as
usual, and its own capture, whichever thread imports it.

flytekit keeps its context in a ContextVar set when flytekit is imported, in the importing thread
only; anywhere it is unset, flytekit's ``current_context()`` builds it again (``initialize``), which
also installs flytekit's SIGINT handler when that is the main thread. The context built at import
is kept (``flytekit_context``) and the adapters set it where it is unset (``enter_flytekit_context``).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from ._exceptions import FlytekitPluginError, FlytekitUnavailableError

logger = logging.getLogger("connector.flytekit")

#: The flytekit releases this bridge supports: those with ``flytekit.extend.backend.base_connector``.
SUPPORTED_FLYTEKIT = ">=1.16,<2"
_LOWEST, _BELOW = (1, 16), (2, 0)
#: How to install a supported flytekit (every message about flytekit's version says it).
INSTALL_FLYTEKIT = f"pip install 'flytekit[connector]{SUPPORTED_FLYTEKIT}'"
#: The entry-point group flytekit loads its plugins from (``flytekit.load_implicit_plugins``).
PLUGIN_GROUP = "flytekit.plugins"
#: The module ``pyflyte serve connector`` imports to register flytekit's webhook connector.
WEBHOOK_MODULE = "flytekit.extras.webhook"

# One import or registry swap at a time: flytekit's registry is one global of its process.
_LOCK = threading.RLock()


@dataclasses.dataclass(frozen=True)
class Source:
    """What registers connectors in flytekit's registry when it is imported.

    ``kind`` is ``"flytekit"`` (``import flytekit``: its sensor), ``"module"`` (a module of flytekit's
    that ``pyflyte serve connector`` imports: its webhook) or ``"entry_point"`` (a plugin in
    ``flytekit.plugins``: ``name = value``, shipped by ``distribution``).
    """

    kind: str
    name: str = ""
    value: str = ""
    distribution: str | None = None
    distribution_version: str | None = None

    @property
    def key(self) -> str:
        """The ``key`` of its ``ProvidedConnector``s (shown as their target).

        ``flytekit``, ``flytekit.extras.webhook`` or ``flytekit.plugins: NAME = VALUE``.
        """
        if self.kind == "entry_point":
            return f"{PLUGIN_GROUP}: {self.name} = {self.value}"
        return self.value or self.kind

    def describe(self) -> str:
        """A phrase naming the source, for messages."""
        if self.kind == "flytekit":
            return "flytekit's own connectors (import flytekit)"
        if self.kind == "module":
            return f"flytekit's module {self.value}"
        shipped = (
            f"{self.distribution} {self.distribution_version}" if self.distribution else "a distribution"
        )
        return f"the flytekit plugin {shipped} (entry point {self.name!r} = {self.value!r} in {PLUGIN_GROUP})"


FLYTEKIT_SOURCE = Source("flytekit")
WEBHOOK_SOURCE = Source("module", value=WEBHOOK_MODULE)

#: What each source registered, by (task type, version), once loaded in this process.
_loaded: dict[Source, dict[tuple[str, int], Any]] = {}
#: The error of each source that failed to load in this process (not tried again).
_failed: dict[Source, FlytekitPluginError] = {}


def flytekit_version() -> str | None:
    """The installed flytekit's version, from its metadata (nothing imported); None if not installed."""
    try:
        return importlib.metadata.version("flytekit")
    except importlib.metadata.PackageNotFoundError:
        return None


def is_supported(version: str) -> bool:
    """Whether a flytekit version is in ``SUPPORTED_FLYTEKIT`` (pre-releases of 1.16 included)."""
    parts = []
    for piece in version.split(".")[:2]:
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        parts.append(int(digits or 0))
    major, minor = [*parts, 0, 0][:2]
    return _LOWEST <= (major, minor) < _BELOW


def import_flytekit() -> Any:
    """``import flytekit`` without its plugins; else ``FlytekitUnavailableError`` saying how to fix it."""
    with _LOCK:
        version = flytekit_version()
        if version is None:
            raise FlytekitUnavailableError(
                f"flytekit is not installed, so connector-flytekit has no connectors to serve; "
                f"it needs flytekit{SUPPORTED_FLYTEKIT}: {INSTALL_FLYTEKIT}"
            )
        if not is_supported(version):
            raise FlytekitUnavailableError(
                f"flytekit {version} is installed, but connector-flytekit supports "
                f"flytekit{SUPPORTED_FLYTEKIT} (the releases with flytekit.extend.backend.base_connector); "
                f"install one: {INSTALL_FLYTEKIT}",
                version,
            )
        module = sys.modules.get("flytekit")
        if module is None:
            try:
                module = _import_without_plugins()
            except Exception as exc:
                raise FlytekitUnavailableError(
                    f"flytekit {version} failed to import: {_one_line(exc)}; reinstall it with its "
                    f"dependencies: pip install --force-reinstall 'flytekit[connector]=={version}'",
                    version,
                ) from exc
        _keep_context()
        _wrap_register()
        if FLYTEKIT_SOURCE not in _loaded:
            # What `import flytekit` registered: its sensor (the webhook is a module of its own).
            _loaded[FLYTEKIT_SOURCE] = _owned_by("flytekit", but=WEBHOOK_MODULE)
        return module


def _import_without_plugins() -> Any:
    """``import flytekit`` while ``importlib.metadata.entry_points`` answers nothing for flytekit's plugins.

    flytekit binds ``entry_points`` from ``importlib.metadata`` when its ``__init__`` runs and calls
    it at the end of that same import (``load_implicit_plugins``); only that group is hidden, and only
    during the import. flytekit's rich traceback hook is undone: this process's errors are its own.
    So is the SIGINT handler flytekit installs when imported in the main thread (its handler exits 1
    at once): the handler before the import is put back.
    """
    original = importlib.metadata.entry_points
    excepthook = sys.excepthook
    in_main = threading.current_thread() is threading.main_thread()
    sigint = signal.getsignal(signal.SIGINT) if in_main else None

    def entry_points(**params: Any) -> Any:
        if params.get("group") == PLUGIN_GROUP:
            return importlib.metadata.EntryPoints(())
        return original(**params)

    importlib.metadata.entry_points = entry_points
    try:
        module = importlib.import_module("flytekit")
    finally:
        importlib.metadata.entry_points = original
        sys.excepthook = excepthook
        if in_main and sigint is not None and signal.getsignal(signal.SIGINT) is not sigint:
            signal.signal(signal.SIGINT, sigint)
    if getattr(module, "entry_points", None) is entry_points:
        setattr(module, "entry_points", original)  # noqa: B010 - flytekit's own global
    return module


def plugin_sources() -> list[Source]:
    """One source per entry point in ``flytekit.plugins``, in metadata order, without duplicates."""
    seen: set[tuple[str, str]] = set()
    sources = []
    for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        if (ep.name, ep.value) in seen:
            continue
        seen.add((ep.name, ep.value))
        dist = getattr(ep, "dist", None)
        name = dist.metadata["Name"] if dist is not None else None
        version = dist.version if dist is not None else None
        sources.append(Source("entry_point", ep.name, ep.value, name, version))
    return sources


def load_source(source: Source) -> dict[tuple[str, int], Any]:
    """The connectors ``source`` registers, by (task type, version); loaded once per process.

    Raises ``FlytekitUnavailableError`` when flytekit cannot be imported and ``FlytekitPluginError``
    (with the plugin's own message and how to fix it) when the source raises on import.
    """
    import_flytekit()
    with _LOCK:
        if source in _loaded:
            return _loaded[source]
        if source in _failed:
            raise _failed[source]
        if source.kind == "module":
            action: Callable[[], object] = lambda: importlib.import_module(source.value)  # noqa: E731
        elif source.kind == "entry_point":
            action = _entry_point_loader(source)
        else:  # FLYTEKIT_SOURCE is filled in by import_flytekit
            return _loaded.get(source, {})
        try:
            registered = _captured_of(source, action)
        except FlytekitPluginError as error:
            raise _failed.setdefault(source, error) from error.__cause__
        # setdefault: the background import may have recorded it meanwhile (the same registrations).
        return _loaded.setdefault(source, registered)


def _captured_of(source: Source, action: Callable[[], object]) -> dict[tuple[str, int], Any]:
    """What ``action`` (importing ``source``) registers; ``FlytekitPluginError`` if it raises.

    When it registers nothing but its module is imported (before, by another plugin or the code
    that runs this one, or meanwhile by another thread, whose import this one waited for), its
    registrations were made then, into flytekit's registry, by classes of its modules.
    """
    module_name = source.value.partition(":")[0].strip()
    try:
        registered = _captured(action)
    except BaseException as exc:  # KeyboardInterrupt and SystemExit too: the plugin's, not ours
        raise _plugin_error(source, exc) from exc
    if not registered and module_name and module_name in sys.modules:
        registered = _owned_by(module_name)
    return registered


def load_other_plugins_in_background(but: Source) -> None:
    """Import every plugin but ``but`` (for their type transformers) in a daemon thread, once per process.

    flytekit's service runs with every plugin imported; a connector's outputs or inputs may need a
    type another plugin registers with flytekit's TypeEngine. They are imported outside ``_LOCK``,
    so a plugin whose import hangs holds no lock the connectors being loaded need, and anything one
    raises (KeyboardInterrupt and SystemExit included) is logged and skipped. What each registers is
    captured in this thread (captures are per thread: a ``load_source`` meanwhile captures only its
    own) and recorded for its source, so a later ``load_source`` of it finds it.
    """
    global _others_started
    with _LOCK:
        if _others_started:
            return
        _others_started = True
        pending = [
            source
            for source in plugin_sources()
            if source != but and source not in _loaded and source not in _failed
        ]
    if pending:
        threading.Thread(
            target=_import_others, args=(pending,), name="connector-flytekit-plugins", daemon=True
        ).start()


_others_started = False


def _import_others(sources: list[Source]) -> None:
    for source in sources:
        if source in _loaded or source in _failed:  # not under _LOCK: a load holding it may wait for this
            continue
        try:
            registered = _captured_of(source, _entry_point_loader(source))
        except FlytekitPluginError as error:  # an unrelated plugin's failure is never this connector's
            logger.warning("%s", error)
            _failed.setdefault(source, error)
            continue
        # Recorded without _LOCK (setdefault is one step): a load holding it may be waiting for
        # this thread's import of its plugin to finish; a load of it meanwhile recorded the same.
        _loaded.setdefault(source, registered)


def _entry_point_loader(source: Source) -> Callable[[], object]:
    def load() -> object:
        for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP):
            if ep.name == source.name and ep.value == source.value:
                return ep.load()
        raise LookupError(f"the entry point {source.name!r} = {source.value!r} is no longer installed")

    return load


_capture = threading.local()
# flytekit's register of the global registry (check, then insert), one at a time across threads.
_REGISTER_LOCK = threading.RLock()


def _wrap_register() -> None:
    """Wrap ``ConnectorRegistry.register`` once: a thread that is capturing records what it registers.

    A capturing thread's registration is recorded in its capture (a task type registered twice by
    one source raises, as flytekit's own does) and goes into flytekit's registry at once unless
    another source registered that task type first (flytekit's would raise: the first is kept).
    Any other thread's registration is flytekit's own, unchanged.
    """
    from flytekit.extend.backend.base_connector import ConnectorRegistry

    original = ConnectorRegistry.register
    if getattr(original, "_connector_flytekit", False):
        return

    def register(connector: Any, override: bool = False) -> None:
        captured: dict[Any, Any] | None = getattr(_capture, "registered", None)
        with _REGISTER_LOCK:
            if captured is None:
                return original(connector, override)  # type: ignore[no-any-return]
            category = connector.task_category
            if category in captured and not override:
                raise ValueError(f"Duplicate connector for task type: {category}")
            captured[category] = connector
            if category not in ConnectorRegistry._REGISTRY:
                original(connector, override)
            return None

    register._connector_flytekit = True  # type: ignore[attr-defined]
    ConnectorRegistry.register = staticmethod(register)


def _captured(action: Callable[[], object]) -> dict[tuple[str, int], Any]:
    """Run ``action``, capturing what this thread registers meanwhile; in flytekit's registry too.

    If ``action`` raises, what it registered is taken out of flytekit's registry again.
    """
    from flytekit.extend.backend.base_connector import ConnectorRegistry

    _wrap_register()
    outer = getattr(_capture, "registered", None)
    captured: dict[Any, Any] = {}
    _capture.registered = captured
    try:
        action()
    except BaseException:
        with _REGISTER_LOCK:
            for category, connector in captured.items():
                if ConnectorRegistry._REGISTRY.get(category) is connector:
                    del ConnectorRegistry._REGISTRY[category]
        raise
    finally:
        _capture.registered = outer
    return {(category.name, int(category.version)): connector for category, connector in captured.items()}


#: flytekit's context as built when flytekit was imported (``flytekit_context``).
_context: Any = None


def _keep_context() -> None:
    """Keep the context flytekit built at import, if this thread has it; else build one (no SIGINT).

    Called right after ``import flytekit``, in the importing thread. If this thread has none (flytekit
    was imported by another thread), it is built once by flytekit's ``initialize`` in a thread of its
    own: flytekit installs its SIGINT handler only when ``initialize`` runs in the main thread.
    """
    global _context
    if _context is not None:
        return
    from flytekit.core.context_manager import FlyteContextManager, flyte_context_Var

    contexts = flyte_context_Var.get()
    if contexts:
        _context = contexts[0]
        return
    built: list[Any] = []

    def build() -> None:
        FlyteContextManager.initialize()
        built.append(flyte_context_Var.get()[0])

    thread = threading.Thread(target=build, name="connector-flytekit-context", daemon=True)
    thread.start()
    thread.join()
    if not built:
        raise FlytekitUnavailableError(
            "flytekit's context could not be built (FlyteContextManager.initialize raised)"
        )
    _context = built[0]


def flytekit_context() -> Any:
    """flytekit's context as built when it was imported (built once, never with flytekit's SIGINT handler)."""
    if _context is None:
        with _LOCK:
            import_flytekit()
            _keep_context()
    return _context


def enter_flytekit_context() -> None:
    """Set flytekit's context variable, in the current context, to the kept context where it is unset.

    Without it, every ``FlyteContextManager.current_context()`` there builds a new one
    (``initialize``: hundreds of microseconds, and flytekit's SIGINT handler in the main thread).
    A new list each time: flytekit pushes and pops contexts on the list the variable holds.
    """
    from flytekit.core.context_manager import flyte_context_Var

    if not flyte_context_Var.get():
        flyte_context_Var.set([flytekit_context()])


def _owned_by(package: str, but: str | None = None) -> dict[tuple[str, int], Any]:
    """The connectors in flytekit's registry whose classes are defined in ``package`` (not in ``but``)."""
    from flytekit.extend.backend.base_connector import ConnectorRegistry

    def inside(module: str, prefix: str) -> bool:
        return module == prefix or module.startswith(prefix + ".")

    owned = {}
    for category, connector in ConnectorRegistry._REGISTRY.items():
        module = type(connector).__module__
        if inside(module, package) and not (but and inside(module, but)):
            owned[(category.name, int(category.version))] = connector
    return owned


def _plugin_error(source: Source, exc: BaseException) -> FlytekitPluginError:
    if source.kind == "module":
        fix = f"install flytekit's connector extra: {INSTALL_FLYTEKIT}"
        what = f"flytekit's module {source.value} (which registers flytekit's webhook connector)"
    else:
        dist = source.distribution or "the distribution that ships it"
        fix = f"fix or upgrade {dist}, or uninstall it (pip uninstall {dist})"
        what = source.describe()
    return FlytekitPluginError(
        f"{what} failed to import: {_one_line(exc)}; its connectors are not served. To fix it, {fix}",
        entry_point=f"{PLUGIN_GROUP}: {source.name}" if source.kind == "entry_point" else None,
        distribution=source.distribution or ("flytekit" if source.kind == "module" else None),
        distribution_version=source.distribution_version
        or (flytekit_version() if source.kind == "module" else None),
    )


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    if len(line) > limit:
        line = line[: limit - 1] + "…"
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def distribution_of(module_name: str) -> tuple[str, str] | None:
    """The distribution (name, version) whose files hold ``module_name``'s source file, if one does.

    ``packages_distributions`` maps a top-level package to its distributions; a namespace package
    such as ``flytekitplugins`` has many, so the one whose RECORD lists the file is chosen.
    """
    module = sys.modules.get(module_name)
    filename = getattr(module, "__file__", None)
    top = module_name.split(".")[0]
    candidates = _packages_distributions().get(top, [])
    if filename:
        real = os.path.realpath(filename)
        for name in dict.fromkeys(candidates):
            try:
                dist = importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                continue
            for file in dist.files or ():
                if os.path.realpath(str(dist.locate_file(file))) == real:
                    return dist.metadata["Name"], dist.version
    unique = list(dict.fromkeys(candidates))
    if len(unique) == 1:
        try:
            return unique[0], importlib.metadata.version(unique[0])
        except importlib.metadata.PackageNotFoundError:
            return None
    return None


_packages: dict[str, list[str]] | None = None


def _packages_distributions() -> dict[str, list[str]]:
    global _packages
    if _packages is None:
        _packages = dict(importlib.metadata.packages_distributions())
    return _packages


def all_sources(plugins: Iterable[Source] | None = None) -> list[Source]:
    """flytekit's own sources (sensor, webhook), then each plugin: what ``pyflyte serve connector`` loads."""
    return [FLYTEKIT_SOURCE, WEBHOOK_SOURCE, *(plugin_sources() if plugins is None else plugins)]
