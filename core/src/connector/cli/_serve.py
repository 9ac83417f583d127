"""``connector serve``: run the Flyte-compatible gRPC connector service."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._settings import DEFAULT_CONNECTOR_ASYNC_CALLS, DEFAULT_MAX_ASYNC_CALLS

if TYPE_CHECKING:
    from ..registry._registry import ConnectorRegistry

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


def _configure_logging(level: str) -> None:
    # The server log is on by default (issue 3): full detail of every failure goes to stderr.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("connector")
    logger.addHandler(handler)
    logger.setLevel(level.upper())


def _print_connectors(registry: ConnectorRegistry) -> None:
    """The table of connectors being served (from metadata: nothing is imported yet).

    Plain columns, not rich: a server's stdout usually goes to a log, and rich costs about 20 ms of
    the cold start (issue 3).
    """
    from ._inspect import NO_CONNECTORS, bridged_by

    entries = registry.entries()
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


_existing_file = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


@click.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for all)."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="gRPC port; 0 picks a free one and prints it.",
)
@click.option(
    "--prometheus-port",
    type=_PortOrOff(),
    default="9090",
    show_default=True,
    help="Port of the /metrics endpoint; 0 picks a free one; 'off' turns metrics off.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Threads for plain-def hooks kept once started; more start on demand (async hooks run "
    "on the event loop)  [default: 10, or --max-workers if less]",
)
@click.option(
    "--max-workers",
    type=click.IntRange(min=1),
    default=None,
    help="Most threads for plain-def hooks, for all connectors together  "
    "[default: 128, or --workers if more]",
)
@click.option(
    "--connector-workers",
    type=click.IntRange(min=1),
    default=None,
    help="Most plain-def calls of one connector in flight at once; more wait in its queue  "
    "[default: half of --max-workers]",
)
@click.option(
    "--queue-size",
    type=click.IntRange(min=0),
    default=None,
    help="Plain-def calls of one connector that may wait for a thread; past that its calls are "
    "refused with RESOURCE_EXHAUSTED  [default: 4 x --connector-workers]",
)
@click.option(
    "--connector-async-calls",
    type=click.IntRange(min=1),
    default=DEFAULT_CONNECTOR_ASYNC_CALLS,
    show_default=True,
    help="Most async-def calls of one connector in flight; past that they are refused with "
    "RESOURCE_EXHAUSTED.",
)
@click.option(
    "--max-async-calls",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_ASYNC_CALLS,
    show_default=True,
    help="Most async-def calls in flight for all connectors together.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Limit on each connector call, in seconds (the client's deadline applies too).",
)
@click.option(
    "--drain-timeout",
    type=click.FloatRange(min=0),
    default=25.0,
    show_default=True,
    help="On SIGTERM/SIGINT, how long in-flight calls may take to finish, in seconds.",
)
@click.option("--tls-cert", type=_existing_file, default=None, help="PEM certificate chain of the server.")
@click.option("--tls-key", type=_existing_file, default=None, help="PEM private key of --tls-cert.")
@click.option(
    "--tls-client-ca",
    type=_existing_file,
    default=None,
    help="PEM CA bundle; clients must present a certificate it signed (mutual TLS).",
)
@click.option(
    "--modules",
    "modules",
    multiple=True,
    metavar="MODULE",
    help="Import MODULE and serve the connectors it defines (repeat, or separate with commas).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
    help="Server log level (the log goes to stderr).",
)
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
    log_level: str,
) -> None:
    """Serve the installed connectors over gRPC, speaking flyteidl v1 and flyteidl2.

    Prints the connectors and the bound addresses, then serves until SIGTERM or SIGINT, drains
    in-flight calls and exits 0. Needs the server extra.
    """
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together: give both, or neither")
    if tls_client_ca is not None and tls_cert is None:
        raise click.UsageError("--tls-client-ca needs --tls-cert and --tls-key")
    missing = _missing_server_module()
    if missing is not None:
        click.echo(
            f"Error: connector serve needs the server extra (module {missing!r} is missing). "
            f"Install it with: {INSTALL_HINT}",
            err=True,
        )
        raise SystemExit(2)
    module_names = [name.strip() for value in modules for name in value.split(",") if name.strip()]

    import asyncio

    from ..registry._registry import ConnectorRegistry
    from ..server import ConnectorService, ServiceOptions, register_modules
    from ..server._service import describe_addresses

    _configure_logging(log_level)
    registry = ConnectorRegistry.from_entry_points()
    if module_names:
        register_modules(registry, module_names)
    options = ServiceOptions(
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
    _print_connectors(registry)
    service = ConnectorService(registry, options)
    asyncio.run(service.serve(on_started=lambda s: click.echo(describe_addresses(s))))
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


def _busy_threads(grace: float = 0.2) -> list[threading.Thread]:
    """The non-daemon threads besides this one that are still running after ``grace`` seconds.

    The grace lets threads told to stop by the drain (a plugin's own) finish on their own.
    """
    deadline = time.monotonic() + grace
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    for thread in others:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t for t in others if t.is_alive()]
