"""``connector serve``: run the Flyte-compatible gRPC connector service."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from .._exceptions import ConfigurationError
from .._settings import DEFAULT_CONNECTOR_ASYNC_CALLS, DEFAULT_MAX_ASYNC_CALLS
from ._errors import fail
from ._verbosity import set_base_level, verbosity_options

if TYPE_CHECKING:
    from ..registry._registry import ConnectorEntry
    from ..server import ConnectorService

#: What the server extra brings, by import name; ``serve`` checks them before anything else.
_SERVER_MODULES = (
    "grpc",
    "grpc_health",
    "grpc_reflection",
    "google.protobuf",
    "flyteidl",
    "flyteidl2",
    "prometheus_client",
)
INSTALL_HINT = 'pip install "connector-core[server]"'


class _PortOrOff(click.ParamType):  # type: ignore[type-arg]
    """A TCP port (0 picks a free one) or ``off``."""

    name = "PORT|off"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | None:
        if value is None or isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text in ("off", "none", "disabled"):
            return None
        try:
            port = int(text)
        except ValueError:
            self.fail(f"{value!r} is not a port number or 'off'", param, ctx)
        if not 0 <= port <= 65535:
            self.fail(f"{port} is not between 0 and 65535", param, ctx)
        return port


def _missing_server_module() -> str | None:
    # Looked up, not imported: the service imports what it needs when it needs it (prometheus_client
    # only once the gRPC port is bound), which keeps the cold start short (issue 3).
    for name in _SERVER_MODULES:
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except ImportError:  # a parent package is missing
            return name
    return None


def _print_connectors(entries: list[ConnectorEntry]) -> None:
    """The table of connectors being served (from metadata: nothing is imported yet).

    Plain columns, not rich: a server's stdout usually goes to a log, and rich costs about 20 ms of
    the cold start (issue 3).
    """
    from ._entries import NO_CONNECTORS, bridged_by

    if not entries:
        click.echo(NO_CONNECTORS)
        return
    bridged = any(entry.provider is not None for entry in entries)
    rows = [("CATEGORY", "STATE", "DISTRIBUTION", "TARGET", *(("BRIDGED BY",) if bridged else ()))]
    for entry in entries:
        distribution = (
            f"{entry.distribution} {entry.distribution_version or ''}".rstrip()
            if entry.distribution
            else "(registered)"
        )
        row = (str(entry.category or entry.entry_point), entry.state.value, distribution, entry.target)
        rows.append((*row, *((bridged_by(entry) or "",) if bridged else ())))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())
    sys.stdout.flush()


F = TypeVar("F", bound=Callable[..., Any])

#: Every option of ``serve`` reads CONNECTOR_SERVE_<OPTION> when not given (issue 12).
ENV_PREFIX = "CONNECTOR_SERVE_"


class _Option(click.Option):
    """A ``serve`` option set by its environment variable too; an error names the variable it came from."""

    def __init__(self, param_decls: list[str], **attrs: Any) -> None:
        long_name = next(d for d in param_decls if d.startswith("--"))
        attrs.setdefault("envvar", ENV_PREFIX + long_name[2:].upper().replace("-", "_"))
        attrs.setdefault("show_envvar", True)
        super().__init__(param_decls, **attrs)

    def get_error_hint(self, ctx: click.Context | None) -> str:
        # Built here rather than by click, whose later versions name the variable even when the
        # value came from the command line.
        hint = " / ".join(f"'{opt}'" for opt in self.opts)
        if (
            ctx is not None
            and self.name
            and ctx.get_parameter_source(self.name) is ParameterSource.ENVIRONMENT
        ):
            return f"{hint} (from {self.envvar})"
        return hint


def _option(*param_decls: str, **attrs: Any) -> Callable[[F], F]:
    return click.option(*param_decls, cls=_Option, **attrs)


_existing_file = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


@click.command()
@_option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for all).")
@_option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="gRPC port; 0 picks a free one and prints it.",
)
@_option(
    "--prometheus-port",
    type=_PortOrOff(),
    default="9090",
    show_default=True,
    help="Port of the /metrics endpoint; 0 picks a free one; 'off' turns metrics off.",
)
@_option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Threads for plain-def hooks kept once started; more start on demand (async hooks run "
    "on the event loop)  [default: 10, or --max-workers if less]",
)
@_option(
    "--max-workers",
    type=click.IntRange(min=1),
    default=None,
    help="Most threads for plain-def hooks, for all connectors together  "
    "[default: 128, or --workers if more]",
)
@_option(
    "--connector-workers",
    type=click.IntRange(min=1),
    default=None,
    help="Most plain-def calls of one connector in flight at once; more wait in its queue  "
    "[default: half of --max-workers]",
)
@_option(
    "--queue-size",
    type=click.IntRange(min=0),
    default=None,
    help="Plain-def calls of one connector that may wait for a thread; past that its calls are "
    "refused with RESOURCE_EXHAUSTED  [default: 4 x --connector-workers]",
)
@_option(
    "--connector-async-calls",
    type=click.IntRange(min=1),
    default=DEFAULT_CONNECTOR_ASYNC_CALLS,
    show_default=True,
    help="Most async-def calls of one connector in flight; past that they are refused with "
    "RESOURCE_EXHAUSTED.",
)
@_option(
    "--max-async-calls",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_ASYNC_CALLS,
    show_default=True,
    help="Most async-def calls in flight for all connectors together.",
)
@_option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Limit on each connector call, in seconds (the client's deadline applies too).",
)
@_option(
    "--drain-timeout",
    type=click.FloatRange(min=0),
    default=25.0,
    show_default=True,
    help="On SIGTERM/SIGINT, how long in-flight calls may take to finish, in seconds.",
)
@_option("--tls-cert", type=_existing_file, default=None, help="PEM certificate chain of the server.")
@_option("--tls-key", type=_existing_file, default=None, help="PEM private key of --tls-cert.")
@_option(
    "--tls-client-ca",
    type=_existing_file,
    default=None,
    help="PEM CA bundle; clients must present a certificate it signed (mutual TLS).",
)
@_option(
    "--modules",
    "modules",
    multiple=True,
    metavar="MODULE",
    help="Import MODULE and serve the connectors it defines (repeat, or separate with commas).",
)
@_option(
    "--event-loop",
    type=click.Choice(["auto", "uvloop", "asyncio"], case_sensitive=False),
    default="auto",
    show_default=True,
    help="asyncio event loop to serve on: auto is uvloop when installed (the server extra installs "
    "it, except on Windows), else asyncio's own.",
)
@_option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
    help="Server log level (the log goes to stderr); each -v or -q moves it one level.",
)
@_option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON line when serving (addresses, connectors, pid) instead of the table, and "
    "errors as JSON lines; the log stays on stderr.",
)
@verbosity_options
def serve(
    host: str,
    port: int,
    prometheus_port: int | None,
    workers: int | None,
    max_workers: int | None,
    connector_workers: int | None,
    queue_size: int | None,
    connector_async_calls: int,
    max_async_calls: int,
    timeout: float | None,
    drain_timeout: float,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    modules: tuple[str, ...],
    event_loop: str,
    log_level: str,
    as_json: bool,
) -> None:
    """Serve the installed connectors over gRPC, speaking flyteidl v1 and flyteidl2.

    Checks the TLS files and that the addresses can be bound, prints the connectors and the bound
    addresses (with --json: one JSON line), then serves until SIGTERM or SIGINT, drains in-flight
    calls and exits 0. Needs the server extra. Every option can be set by the environment variable
    shown with it; an option given on the command line wins.
    """
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together: give both, or neither")
    if tls_client_ca is not None and tls_cert is None:
        raise click.UsageError("--tls-client-ca needs --tls-cert and --tls-key")
    missing = _missing_server_module()
    if missing is not None:
        fail(
            f"connector serve needs the server extra (module {missing!r} is missing). "
            f"Install it with: {INSTALL_HINT}",
            as_json=as_json,
            kind="missing-extra",
        )
    set_base_level(click.get_current_context(), log_level)
    module_names = [name.strip() for value in modules for name in value.split(",") if name.strip()]
    try:
        service = _start(
            module_names,
            as_json=as_json,
            event_loop=event_loop.lower(),
            host=host,
            port=port,
            prometheus_port=prometheus_port,
            workers=workers,
            max_workers=max_workers,
            connector_workers=connector_workers,
            queue_size=queue_size,
            connector_async_calls=connector_async_calls,
            max_async_calls=max_async_calls,
            timeout=timeout,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_client_ca=tls_client_ca,
            drain_seconds=drain_timeout,
        )
    except ConfigurationError as exc:
        fail(str(exc), as_json=as_json)
    others = [t.name for t in _busy_threads()]  # after a short grace, which the workers get too
    busy = sorted([*service.pool.busy_threads(), *others])
    if busy:
        # The interpreter joins non-daemon threads at exit, so a plugin's thread that never ends
        # would keep a drained service from exiting (issue 8). Worker threads are daemons, but one
        # still running a hook is reported too: its call was cut short.
        logging.getLogger("connector.server").warning(
            "%d thread(s) still busy after the drain (%s); exiting anyway", len(busy), ", ".join(busy)
        )
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(0)


def _start(module_names: list[str], *, as_json: bool, event_loop: str, **settings: Any) -> ConnectorService:
    """Check, print what is served, serve until a signal; the stopped service.

    Everything that can be wrong with the settings is found before the first line is printed:
    the options, the TLS files, the addresses (resolved and bound with a plain socket, then
    released), the registry's settings and the modules (issue 12).
    """
    from ..registry._registry import ConnectorRegistry
    from ..server import ConnectorService, ServiceOptions, register_modules
    from ..server._event_loop import choose, running_loop_name
    from ..server._preflight import check_listening
    from ..server._service import describe_addresses, describe_listening

    options = ServiceOptions(**settings)
    loop = choose(event_loop)
    tls = (options.tls_cert, options.tls_key, options.tls_client_ca) if options.tls_cert else None
    check_listening(options.host, options.port, options.prometheus_port, tls=tls)  # type: ignore[arg-type]
    registry = ConnectorRegistry.from_entry_points()
    if module_names:
        register_modules(registry, module_names)
    service = ConnectorService(registry, options)
    entries = registry.entries()

    def started(service: ConnectorService) -> None:
        logging.getLogger("connector.server").info("serving on the %s event loop", loop.describe())
        if as_json:
            listening = {**describe_listening(service), "event_loop": running_loop_name()}
            connectors = [entry.to_dict() for entry in entries]
            click.echo(json.dumps({"event": "serving", **listening, "connectors": connectors}))
        else:
            click.echo(describe_addresses(service))

    if not as_json:
        _print_connectors(entries)
    loop.run(service.serve(on_started=started))
    return service


def _busy_threads(grace: float = 0.2) -> list[threading.Thread]:
    """The non-daemon threads besides this one that are still running after ``grace`` seconds.

    The grace lets threads told to stop by the drain (a plugin's own) finish on their own.
    """
    deadline = time.monotonic() + grace
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    for thread in others:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t for t in others if t.is_alive()]
