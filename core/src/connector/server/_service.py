"""ConnectorService: one grpc.aio server with both protocols, health, reflection, metrics and draining."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from flyteidl.service import agent_pb2 as v1_service_pb2
from flyteidl2.connector import service_pb2 as v2_service_pb2
from grpc_health.v1 import health_pb2_grpc

from .._exceptions import ConfigurationError
from .._model import TaskCategory
from .._settings import (
    DEFAULT_CONNECTOR_ASYNC_CALLS,
    DEFAULT_MAX_ASYNC_CALLS,
    DEFAULT_MAX_WORKERS,
    DEFAULT_WORKERS,
)
from ..registry._imports import in_daemon_thread
from ..registry._registry import ConnectorEntry, ConnectorRegistry, ConnectorState
from ..registry._signing import MetaSigner
from ._adapters import V1Adapter, V2Adapter
from ._dispatch import Dispatcher
from ._event_loop import choose
from ._health import HEALTH_SERVICE_NAME, SERVING, HealthServicer
from ._heap import freeze_loaded_heap, unfreeze_heap
from ._lane_metrics import LaneCollector
from ._lanes import Lanes
from ._metrics import ErrorCodes, ServiceMetrics, error_codes_from_environ
from ._modules import register_modules
from ._operations import Operations
from ._pool import WorkerPool
from ._preflight import check_address, check_tls, host_for_grpc
from ._reflection import V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME, enable_reflection
from ._servicers import (
    AgentMetadataServicer,
    AsyncAgentServicer,
    AsyncConnectorServicer,
    ConnectorMetadataServicer,
    SyncAgentServicer,
)
from ._wire import add_to_server

logger = logging.getLogger("connector.server")

#: The full names of the services this server answers, as health checks and reflection name them.
SERVICE_NAMES: tuple[str, ...] = (
    v1_service_pb2.DESCRIPTOR.services_by_name["AsyncAgentService"].full_name,
    v1_service_pb2.DESCRIPTOR.services_by_name["SyncAgentService"].full_name,
    v1_service_pb2.DESCRIPTOR.services_by_name["AgentMetadataService"].full_name,
    v2_service_pb2.DESCRIPTOR.services_by_name["AsyncConnectorService"].full_name,
    v2_service_pb2.DESCRIPTOR.services_by_name["ConnectorMetadataService"].full_name,
)


@dataclasses.dataclass(frozen=True)
class ServiceOptions:
    """How a ``ConnectorService`` listens and runs calls (the ``connector serve`` options).

    ``port`` 0 picks a free port; ``prometheus_port`` None turns metrics off and 0 picks a free
    port. Plain-``def`` hooks run on threads started on demand up to ``max_workers`` (default 128,
    or ``workers`` when that is more); ``workers`` of them (default 10, or ``max_workers`` when
    that is less) are kept once started, the others retire after ``worker_idle_seconds`` idle.
    Each connector has at most ``connector_workers`` plain calls in flight (default: half of
    ``max_workers``), and ``queue_size`` more wait in its own queue (default: 4 per connector
    worker); past that its calls are refused. ``connector_async_calls`` and ``max_async_calls``
    limit the ``async def`` calls in flight per connector and in all (issue 13). ``timeout`` limits
    every connector call on the server side. ``tls_client_ca`` makes clients present a certificate
    signed by that CA. ``drain_seconds`` is how long a stop waits for calls.
    ``metrics_error_codes`` is how the failure counter writes ``error_code``: ``"grpc"`` (status
    names) or ``"http"`` (flytekit's HTTP numbers); None reads CONNECTOR_METRICS_ERROR_CODES.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    prometheus_port: int | None = 9090
    workers: int | None = None
    max_workers: int | None = None
    connector_workers: int | None = None
    queue_size: int | None = None
    connector_async_calls: int = DEFAULT_CONNECTOR_ASYNC_CALLS
    max_async_calls: int = DEFAULT_MAX_ASYNC_CALLS
    worker_idle_seconds: float = 60.0
    timeout: float | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    drain_seconds: float = 25.0
    metrics_error_codes: ErrorCodes | None = None

    def __post_init__(self) -> None:
        for label, value, least in (
            ("workers", self.workers, 1),
            ("max workers", self.max_workers, 1),
            ("connector workers", self.connector_workers, 1),
            ("queue size", self.queue_size, 0),
            ("connector async calls", self.connector_async_calls, 1),
            ("max async calls", self.max_async_calls, 1),
        ):
            if value is not None and value < least:
                raise ConfigurationError(f"{label} must be at least {least}, got {value}")
        if self.workers is not None and self.max_workers is not None and self.workers > self.max_workers:
            raise ConfigurationError(
                f"--workers ({self.workers}) must not be more than --max-workers ({self.max_workers}): "
                "--workers is how many threads are kept ready, --max-workers the most there may be"
            )
        if self.connector_workers is not None and self.connector_workers > self.thread_limit:
            raise ConfigurationError(
                f"--connector-workers ({self.connector_workers}) must not be more than --max-workers "
                f"({self.thread_limit})"
            )
        if not self.worker_idle_seconds > 0:
            raise ConfigurationError(
                f"worker idle seconds must be a positive number, got {self.worker_idle_seconds}"
            )
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigurationError(f"timeout must be a positive number of seconds, got {self.timeout}")
        for name, port in (("port", self.port), ("prometheus port", self.prometheus_port)):
            if port is not None and not 0 <= port <= 65535:
                raise ConfigurationError(f"{name} must be between 0 and 65535, got {port}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigurationError("TLS needs both a certificate and its key (--tls-cert and --tls-key)")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ConfigurationError("--tls-client-ca needs --tls-cert and --tls-key too")
        if self.metrics_error_codes not in (None, "grpc", "http"):
            raise ConfigurationError(
                f"metrics error codes must be 'grpc' or 'http', got {self.metrics_error_codes!r}"
            )

    @property
    def thread_limit(self) -> int:
        """The most worker threads: ``max_workers``, by default the larger of 128 and ``workers``."""
        if self.max_workers is not None:
            return self.max_workers
        return max(DEFAULT_MAX_WORKERS, self.workers or 0)

    @property
    def kept_threads(self) -> int:
        """The threads kept once started: ``workers``, by default the smaller of 10 and the maximum."""
        return self.workers if self.workers is not None else min(DEFAULT_WORKERS, self.thread_limit)

    @property
    def connector_thread_limit(self) -> int:
        """Plain calls in flight per connector: ``connector_workers``, by default half the threads."""
        if self.connector_workers is not None:
            return self.connector_workers
        return max(1, self.thread_limit // 2)

    @property
    def connector_queue_limit(self) -> int:
        """Plain calls waiting per connector: ``queue_size``, by default 4 per connector worker."""
        return self.queue_size if self.queue_size is not None else 4 * self.connector_thread_limit

    @property
    def tls(self) -> bool:
        """Whether the server speaks TLS."""
        return self.tls_cert is not None


class ConnectorService:
    """The Flyte-compatible connector service over a ``ConnectorRegistry``.

    ``await start()`` binds the ports (``port`` and ``metrics_port`` then hold the bound ones) and
    loads every connector in the background; health turns SERVING once that is done.
    ``await stop()`` drains; ``serve()`` does both around SIGTERM/SIGINT. ``run()`` is the seed API.
    """

    def __init__(
        self,
        registry: ConnectorRegistry | None = None,
        options: ServiceOptions | None = None,
        *,
        v1: V1Adapter | None = None,
        v2: V2Adapter | None = None,
        signer: MetaSigner | None = None,
    ) -> None:
        if registry is None:
            from ..registry._registry import default_registry

            registry = default_registry()
        self.registry = registry
        self.options = options or ServiceOptions()
        #: How failures are labelled in the metrics (CONNECTOR_METRICS_ERROR_CODES unless the options say).
        self.metrics_error_codes: ErrorCodes = self.options.metrics_error_codes or error_codes_from_environ()
        options = self.options
        #: The threads of plain hooks, shared by every connector's lane.
        self.pool = WorkerPool(
            options.thread_limit, min_workers=options.kept_threads, idle_seconds=options.worker_idle_seconds
        )
        #: Each connector's limits (issue 13): its lane is the executor and admission of its calls.
        self.lanes = Lanes(
            self.pool,
            connector_workers=options.connector_thread_limit,
            queue_size=options.connector_queue_limit,
            connector_async_calls=options.connector_async_calls,
            max_async_calls=options.max_async_calls,
        )
        #: The service's metrics, made by ``start`` once the port is bound (None when they are off).
        self.metrics: ServiceMetrics | None = None
        #: Signs the metas handed out and checks those that come back (default: the environment's).
        self.signer = signer if signer is not None else MetaSigner.from_environ()
        self.signer.on_unsigned = self._accepted_unsigned
        self._unsigned_seen: set[TaskCategory] = set()
        self.dispatcher = Dispatcher(registry, self.lanes, self.options.timeout, signer=self.signer)
        self.operations = Operations(self.dispatcher)
        self.v1 = v1 or V1Adapter()
        self.v2 = v2 or V2Adapter()
        # The health service's own name answers SERVING as soon as the port is bound: a liveness
        # probe can ask it while slow plugins import (issue 10; flytekit answers it SERVING too).
        self.health = HealthServicer(SERVICE_NAMES, serving_at_once=(HEALTH_SERVICE_NAME,))
        self.port: int | None = None
        self.metrics_port: int | None = None
        self.ready = asyncio.Event()
        self._server: grpc.aio.Server | None = None
        self._metrics_server: Any = None
        self._loader: asyncio.Task[list[ConnectorEntry]] | None = None
        #: The entries not loaded yet when the service started: a load decides what they become.
        self._loadable: set[tuple[object, str | None]] = set()
        #: Whether ``serve`` froze the heap (and so unfreezes it when it stops).
        self._froze_heap = False

    # Lifecycle.

    def _accepted_unsigned(self, category: TaskCategory) -> None:
        # Counted every time, logged once per task type: a migration polls the same jobs often.
        if self.metrics is not None:
            self.metrics.unsigned_meta(category)
        if category not in self._unsigned_seen:
            self._unsigned_seen.add(category)
            logger.warning(
                "accepted an unsigned resource meta for task type %s (CONNECTOR_ACCEPT_UNSIGNED_META); "
                "connector_unsigned_meta_total counts them",
                category,
            )

    async def start(self) -> None:
        """Bind and start serving; connectors load in the background (health says when they are ready)."""
        log = logger.warning if self.signer.accept_unsigned else logger.info
        log("%s", self.signer.describe())
        self._loadable = {_key(e) for e in self.registry.entries() if e.state is ConnectorState.AVAILABLE}
        # so_reuseport off: a second server on a busy port must fail, not share it silently.
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        v1_services = v1_service_pb2.DESCRIPTOR.services_by_name
        v2_services = v2_service_pb2.DESCRIPTOR.services_by_name
        for servicer, service in (
            (AsyncAgentServicer(self.operations, self.v1), v1_services["AsyncAgentService"]),
            (SyncAgentServicer(self.operations, self.v1), v1_services["SyncAgentService"]),
            (AgentMetadataServicer(self.operations, self.v1), v1_services["AgentMetadataService"]),
            (AsyncConnectorServicer(self.operations, self.v2), v2_services["AsyncConnectorService"]),
            (ConnectorMetadataServicer(self.operations, self.v2), v2_services["ConnectorMetadataService"]),
        ):
            add_to_server(server, servicer, service)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        enable_reflection((*SERVICE_NAMES, HEALTH_SERVICE_NAME), server)
        self.port = self._bind(server)
        await server.start()
        self._server = server
        self._loader = asyncio.create_task(self._load_all())
        if self.options.prometheus_port is not None:
            # In a thread, after the port is bound: importing prometheus_client takes longer than
            # answering the first calls, which go uncounted meanwhile (issue 3's cold start).
            try:
                metrics, self._metrics_server, self.metrics_port = await asyncio.to_thread(
                    self._serve_metrics, self.options.prometheus_port
                )
            except OSError as exc:
                self._loader.cancel()
                await server.stop(None)
                raise ConfigurationError(
                    f"cannot serve metrics on {host_for_grpc(self.options.host)}:"
                    f"{self.options.prometheus_port}: {exc.strerror or exc}"
                ) from exc
            self.metrics = self.operations.metrics = metrics

    def _serve_metrics(self, port: int) -> tuple[ServiceMetrics, Any, int]:
        metrics = ServiceMetrics(self.registry, error_codes=self.metrics_error_codes)
        metrics.collectors.register(LaneCollector(self.lanes))
        server, bound = metrics.serve(self.options.host, port)
        return metrics, server, bound

    def _bind(self, server: grpc.aio.Server) -> int:
        options = self.options
        address = f"{host_for_grpc(options.host)}:{options.port}"
        failure: RuntimeError | None = None
        try:
            if options.tls:
                port = server.add_secure_port(address, self._credentials())
            else:
                port = server.add_insecure_port(address)
        except RuntimeError as exc:
            port, failure = 0, exc
        if not port:
            # gRPC says only "Failed to bind"; a plain socket finds out why. `connector serve`
            # made the same check before printing anything, so this is reached from there only
            # when the port was taken in between (or from Python, ConnectorService.start), or
            # when gRPC refuses what the socket accepts (a key type its TLS library lacks).
            check_address(
                options.host,
                options.port,
                purpose="listen on",
                option="--port",
                free_hint="0 picks a free one",
            )
            cause = f": {failure}" if failure is not None else ""
            raise ConfigurationError(
                f"cannot listen on {address}: gRPC could not bind it{cause}"
            ) from failure
        return int(port)

    def _credentials(self) -> grpc.ServerCredentials:
        options = self.options
        assert options.tls_cert is not None
        assert options.tls_key is not None
        cert, key, client_ca = check_tls(options.tls_cert, options.tls_key, options.tls_client_ca)
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
        )

    async def _load_all(self) -> list[ConnectorEntry]:
        # Importing every plugin happens after the port is bound, off the event loop, so the
        # service answers while slow plugins import (ListAgents lists what is loaded and what
        # earlier loads learned: issue 10). In a daemon thread, not asyncio's default executor,
        # which asyncio.run joins at exit (issue 8).
        entries = await in_daemon_thread(self.registry.load_all)
        problems = [e for e in entries if e.state is not ConnectorState.LOADED]
        for entry in problems:
            # A load that fails is logged by the registry, with its traceback, when it fails (here,
            # or for a request that came first): logged again here it showed twice (issue 12).
            # What no load decided (a conflict, a deny list, a duplicate entry point) is logged here.
            if entry.state is ConnectorState.BROKEN and _key(entry) in self._loadable:
                continue
            logger.warning(
                "connector %s is %s: %s", entry.category or entry.entry_point, entry.state.value, entry.error
            )
        logger.info("%d connector(s) loaded, %d problem(s)", len(entries) - len(problems), len(problems))
        await self.health.set_all(SERVING)
        self.ready.set()
        return entries

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls, let in-flight ones finish for up to ``grace`` seconds, then stop."""
        if grace is None:
            grace = self.options.drain_seconds
        await self.health.drain()
        if self._server is not None:
            await self._server.stop(grace)
        if self._loader is not None and not self._loader.done():
            self._loader.cancel()
        if self._metrics_server is not None:
            # shutdown() waits for the HTTP server's poll loop (up to half a second): not on the loop.
            await asyncio.to_thread(self._metrics_server.shutdown)
            self._metrics_server.server_close()
        self.lanes.shutdown()

    async def serve(self, on_started: Callable[[ConnectorService], None] | None = None) -> None:
        """Start, call ``on_started``, serve until SIGTERM or SIGINT, then drain and return."""
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        # Before starting: a signal that arrives while the port is bound, or right after the
        # addresses are printed (a supervisor's first chance to send one), still drains and exits 0.
        signals = (signal.SIGTERM, signal.SIGINT)
        # Put back once served: asyncio's remove_signal_handler leaves its own defaults, which would
        # no longer ignore a SIGINT the process was started ignoring (a background job's).
        previous = {signum: signal.getsignal(signum) for signum in signals}
        for signum in signals:
            loop.add_signal_handler(signum, stopping.set)
        freezer: asyncio.Task[None] | None = None
        try:
            await self.start()
            if on_started is not None:
                on_started(self)
            freezer = asyncio.create_task(self._freeze_when_loaded())
            await stopping.wait()
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
                if previous[signum] is not None:  # None: set from outside Python, left as asyncio leaves it
                    signal.signal(signum, previous[signum])
            if stopping.is_set():
                # Logged once the signals are given back: a second one from now on is not lost.
                logger.info("draining: waiting up to %gs for in-flight calls", self.options.drain_seconds)
            if freezer is not None:
                freezer.cancel()
            try:
                await self.stop()
            finally:
                if self._froze_heap:
                    unfreeze_heap()
                    self._froze_heap = False
        logger.info("stopped")

    async def _freeze_when_loaded(self) -> None:
        # Once, when every connector has loaded: after the first answers, not on their way.
        await self.ready.wait()
        self._froze_heap = freeze_loaded_heap()

    # Seed API (flytekit and Flyte 2's ConnectorService.run).

    @classmethod
    def run(
        cls,
        port: int = 8000,
        prometheus_port: int | None = 9090,
        worker: int = 10,
        timeout: float | None = None,
        modules: Sequence[str] | None = None,
        *,
        host: str = "127.0.0.1",
    ) -> None:
        """Serve the installed connectors (and those of ``modules``) until SIGTERM or SIGINT.

        ``worker`` is the number of threads kept ready for plain hooks (more start on demand, up to
        ``ServiceOptions.max_workers``); ``timeout`` limits each call in seconds.
        ``host`` is the address to listen on: loopback by default, ``"0.0.0.0"`` in a container
        (flytekit's ``run`` always listened on every address).
        """
        registry = ConnectorRegistry.from_entry_points()
        if modules:
            register_modules(registry, modules)
        options = ServiceOptions(
            host=host, port=port, prometheus_port=prometheus_port, workers=worker, timeout=timeout
        )
        # On uvloop when it can be imported, as `connector serve` runs by default.
        choose("auto").run(
            cls(registry, options).serve(on_started=lambda s: print(describe_addresses(s), flush=True))
        )


def _key(entry: ConnectorEntry) -> tuple[object, str | None]:
    return (entry.category, entry.entry_point)


def describe_addresses(service: ConnectorService) -> str:
    """The lines that say where the service listens (``Serving gRPC on HOST:PORT`` is for scripts)."""
    options = service.options
    host = host_for_grpc(options.host)
    tls = "TLS with client certificates" if options.tls_client_ca else "TLS" if options.tls else "plaintext"
    lines = [f"Serving gRPC on {host}:{service.port} ({tls})"]
    if service.metrics_port is not None:
        lines.append(f"Serving metrics on http://{host}:{service.metrics_port}/metrics")
    else:
        lines.append("Metrics are off")
    return "\n".join(lines)


def _tls_mode(options: ServiceOptions) -> str:
    return "mutual-tls" if options.tls_client_ca else "tls" if options.tls else "plaintext"


def describe_listening(service: ConnectorService) -> dict[str, Any]:
    """Where the started service listens, as ``connector serve --json`` prints it (JSON-ready).

    ``grpc``: host, bound port, ``address`` (``HOST:PORT`` for a client) and ``tls``
    (``plaintext``, ``tls`` or ``mutual-tls``); ``metrics``: host, port and URL, or None when off;
    ``protocols`` and the full names of the ``services`` answered; the process's ``pid``.
    """
    options = service.options
    host = host_for_grpc(options.host)
    metrics = None
    if service.metrics_port is not None:
        metrics = {
            "host": options.host,
            "port": service.metrics_port,
            "url": f"http://{host}:{service.metrics_port}/metrics",
        }
    return {
        "grpc": {
            "host": options.host,
            "port": service.port,
            "address": f"{host}:{service.port}",
            "tls": _tls_mode(options),
        },
        "metrics": metrics,
        "protocols": ["flyteidl", "flyteidl2"],
        "services": [*SERVICE_NAMES, HEALTH_SERVICE_NAME, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME],
        "pid": os.getpid(),
    }
