"""A real HTTP server on 127.0.0.1 in a thread, with routes each test sets, and a small jobs API on it."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclasses.dataclass
class Seen:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclasses.dataclass
class Answer:
    """What a route answers: a dict or list body is sent as JSON, bytes and strings as they are."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    hang: bool = False  # wait until the test ends before answering (for client timeouts)
    reason: str | None = None  # the status line's reason phrase, when not the standard one
    # A body made while it is sent, chunk by chunk, until the client stops reading; ``length`` is
    # then the Content-Length to announce (None: none, the body ends when the connection closes).
    stream: Callable[[], Iterator[bytes]] | None = None
    length: int | None = None
    delay: float = 0.0  # seconds to wait before answering (a slow remote)


Route = Callable[[Seen], Answer]


class _Server(ThreadingHTTPServer):
    # Room for a burst of connections (the pool tests open up to 100 at once); the default is 5.
    request_queue_size = 128
    owner: LocalServer


class _Handler(BaseHTTPRequestHandler):
    """Answers with the routes of the ``LocalServer`` that owns the server."""

    server: _Server

    def setup(self) -> None:
        super().setup()
        owner = self.server.owner
        self.protocol_version = "HTTP/1.1" if owner.keep_alive else "HTTP/1.0"
        with owner.count:
            owner.connections += 1

    def finish(self) -> None:
        super().finish()
        owner = self.server.owner
        with owner.count:
            owner.closed += 1

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = Seen(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            self.rfile.read(length),
        )
        self.server.owner.seen.append(request)
        route = self.server.owner.routes.get((self.command, self.path))
        answer = route(request) if route else Answer(404, {"error": f"no route {self.command} {self.path}"})
        if self._held(answer):
            return
        if answer.stream is not None:
            self._stream(answer)
            return
        body = answer.body
        headers = dict(answer.headers)
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        self.send_response(answer.status, answer.reason)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":  # HEAD announces the body's length, sends no body
            self.wfile.write(body)

    def _held(self, answer: Answer) -> bool:
        """Wait as ``answer`` says; True when it is never sent (``hang``)."""
        if answer.hang:
            self.close_connection = True
            self.server.owner.released.wait(30)
            return True
        if answer.delay:
            self.server.owner.released.wait(answer.delay)
        return False

    def _stream(self, answer: Answer) -> None:
        assert answer.stream is not None
        self.send_response(answer.status, answer.reason)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.length is not None:
            self.send_header("Content-Length", str(answer.length))
        self.end_headers()
        self.close_connection = True
        try:
            for chunk in answer.stream():
                self.wfile.write(chunk)
                self.server.owner.streamed += len(chunk)
        except OSError:  # the client closed the connection: it stopped reading
            pass

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean


class LocalServer:
    """``ThreadingHTTPServer`` on a free loopback port; ``routes[(METHOD, path)]`` answers requests.

    It closes each connection after one answer, as HTTP/1.0 does, unless ``keep_alive`` (HTTP/1.1:
    a connection serves request after request). ``connections`` counts the TCP connections
    accepted, ``closed`` those that ended.
    """

    def __init__(self, *, keep_alive: bool = False) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.seen: list[Seen] = []
        self.connections = 0
        #: Connections that ended (the client closed them, or the server after its answer).
        self.closed = 0
        self.count = threading.Lock()
        #: Bytes of streamed bodies the client's socket accepted before it stopped reading.
        self.streamed = 0
        self.released = threading.Event()
        self.keep_alive = keep_alive
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # A short poll interval: shutdown() waits up to one interval.
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def route(self, method: str, path: str, answer: Answer | Route) -> None:
        self.routes[(method, path)] = answer if callable(answer) else (lambda _request, a=answer: a)


class JobsApi:
    """A remote job system: POST /jobs, GET /jobs/{id} (one state per poll), DELETE /jobs/{id}."""

    def __init__(self, server: LocalServer, states: list[str]) -> None:
        self.server = server
        self.states = states
        self.jobs: dict[str, list[str]] = {}
        self.cancelled: list[str] = []
        server.route("POST", "/jobs", self.submit)

    def submit(self, request: Seen) -> Answer:
        job_id = f"job-{len(self.jobs) + 1}"
        self.jobs[job_id] = list(self.states)
        self.server.route("GET", f"/jobs/{job_id}", lambda r: self.status(job_id))
        self.server.route("DELETE", f"/jobs/{job_id}", lambda r: self.cancel(job_id))
        return Answer(201, {"job": {"id": job_id}})

    def status(self, job_id: str) -> Answer:
        states = self.jobs[job_id]
        state = states.pop(0) if len(states) > 1 else states[0]
        return Answer(200, {"status": state, "detail": f"{job_id} is {state}", "result": {"rows": 42}})

    def cancel(self, job_id: str) -> Answer:
        if job_id in self.cancelled:
            return Answer(404, {"error": "no such job"})
        self.cancelled.append(job_id)
        return Answer(204)

    def custom(self, **extra: Any) -> dict[str, Any]:
        """The http_job custom fields for this API."""
        return {
            "submit": {"url": f"{self.server.url}/jobs", "body": {"query": "select 1"}},
            "job_id_field": "job.id",
            "status": {"url": f"{self.server.url}/jobs/{{job_id}}"},
            "state_field": "status",
            "message_field": "detail",
            "outputs_field": "result",
            "cancel": {"url": f"{self.server.url}/jobs/{{job_id}}"},
            "log_url": "https://console.example/jobs/{job_id}",
            **extra,
        }
