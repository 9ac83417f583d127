"""The real parts the compatibility tests run side by side.

``Driver``: a driver script (``drivers/``) running in a peer's virtualenv, asked one JSON line at a
time. ``FlytekitService``: flytekit's own ``pyflyte serve connector`` process. ``connector_serve``:
our ``python -m connector serve`` from the test's own environment. ``Recorder``: a loopback HTTP
server that records every request it gets and answers by path.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
from flyteidl.service import agent_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.compat.venvs import CachedVenv
from tests.server.served import Served, environ_for

DRIVERS = Path(__file__).parent / "drivers"

#: A key the services sign metas with (at least 32 characters), so no test writes a local key file.
META_KEYS = "compat=compat-tests-meta-key-0123456789abcdef"


def _peer_environ(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a peer's process: no proxy (httpx would use one), no CONNECTOR_ settings."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CONNECTOR_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    environ.pop("PYTHONPATH", None)
    environ.update(overrides or {})
    return environ


class DriverError(AssertionError):
    """A driver answered with an error (its traceback is in the message)."""


class Driver:
    """One driver script running in a peer's virtualenv; ``ask(op, **fields)`` returns its answer."""

    def __init__(self, venv: CachedVenv, script: str) -> None:
        self.script = script
        self.process = subprocess.Popen(
            [str(venv.python), str(DRIVERS / script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_peer_environ(),
            cwd=str(DRIVERS),
        )
        self.stderr: list[str] = []
        self._pump = threading.Thread(target=self._read_stderr, daemon=True)
        self._pump.start()
        ready = self._line()
        if json.loads(ready) != {"ready": True}:
            raise DriverError(f"{script} did not start: {ready!r}\n" + "\n".join(self.stderr))

    def ask(self, op: str, **fields: Any) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self._line())
        if "error" in answer:
            raise DriverError(f"{self.script} {op}: {answer['error']}\n{answer['traceback']}")
        return answer["ok"]

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(30)
            raise DriverError(f"{self.script} exited ({self.process.returncode}):\n" + "\n".join(self.stderr))
        return line

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line.rstrip("\n"))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)
        self._pump.join(30)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def b64decode(text: str) -> bytes:
    return base64.b64decode(text)


def free_port() -> int:
    """A port nothing listens on right now (flytekit's service cannot pick one itself)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class FlytekitService:
    """flytekit's own ``pyflyte serve connector`` (its webhook and sensor connectors), on a free port."""

    def __init__(self, venv: CachedVenv, env: Mapping[str, str] | None = None) -> None:
        self.venv = venv
        self.log = Path(os.environ.get("CONNECTOR_HOME", ".")) / f"pyflyte-serve-{os.getpid()}-{id(self)}.log"
        for _ in range(3):  # the free port may be taken between the probe and the bind
            self.port = free_port()
            if self._start(env):
                break
        else:
            raise AssertionError("pyflyte serve connector never served:\n" + self.log.read_text())
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.v1 = agent_pb2_grpc.AsyncAgentServiceStub(self.channel)
        self.v1_sync = agent_pb2_grpc.SyncAgentServiceStub(self.channel)

    def _start(self, env: Mapping[str, str] | None) -> bool:
        command = [
            str(self.venv.bin / "pyflyte"),
            "serve",
            "connector",
            "--port",
            str(self.port),
            "--prometheus_port",
            "0",
        ]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_peer_environ(env),
                cwd=str(self.log.parent),
            )
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    status = health.Check(health_pb2.HealthCheckRequest(), timeout=2).status
                except grpc.RpcError:
                    time.sleep(0.2)
                    continue
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return True
        self.stop()
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)

    def close(self) -> None:
        self.channel.close()
        self.stop()


def connector_serve(**env: str) -> Served:
    """``python -m connector serve`` from this environment, on free ports, with ``env`` set."""
    command = [sys.executable, "-m", "connector", "serve", "--port", "0", "--prometheus-port", "0"]
    return Served(command, environ_for(None, CONNECTOR_META_KEYS=META_KEYS, **env))


@dataclass(frozen=True)
class Recorded:
    """One request as the loopback server got it."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ", ".join(values) if values else None

    def header_map(self) -> dict[str, str]:
        merged: dict[str, list[str]] = {}
        for key, value in self.headers:
            merged.setdefault(key.lower(), []).append(value)
        return {key: ", ".join(values) for key, values in merged.items()}


#: What the loopback server answers: a JSON body with a non-ASCII character (text decoding is compared).
ANSWER_BODY = '{"ok": true, "note": "caf\u00e9 \u2713"}'
SLOW_SECONDS = 2.0


@dataclass
class Recorder:
    """A loopback HTTP server recording every request; ``take()`` returns those since the last call.

    Paths choose the answer: ``/status/<code>/...`` answers ``code``, ``/slow/...`` answers 200
    after ``SLOW_SECONDS`` (for the timeout case), ``/redirect/...`` 302 to ``/landing``, anything
    else 200; the body is ``ANSWER_BODY`` as ``application/json``.
    """

    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except (BrokenPipeError, ConnectionResetError):  # a client that timed out went away
                    self.close_connection = True

            def _any(self) -> None:
                recorder._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.origin = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = _read_body(handler)
        parts = urlsplit(handler.path)
        with self._lock:
            self.requests.append(
                Recorded(handler.command, parts.path, parts.query, tuple(handler.headers.items()), body)
            )
        segments = parts.path.strip("/").split("/")
        status, location = 200, None
        if segments[0] == "status" and len(segments) > 1:
            status = int(segments[1])
        elif segments[0] == "slow":
            time.sleep(SLOW_SECONDS)
        elif segments[0] == "redirect":
            status, location = 302, f"{self.origin}/landing"
        answer = ANSWER_BODY.encode()
        handler.send_response(status)
        if location is not None:
            handler.send_header("Location", location)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        handler.wfile.write(answer)

    def take(self) -> list[Recorded]:
        with self._lock:
            taken, self.requests = self.requests, []
        return taken

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(30)


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
            chunk = handler.rfile.read(size)
            handler.rfile.readline()
            if size == 0:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""
