"""A real HTTP/2 server (hypercorn, TLS with ALPN) on 127.0.0.1 in a thread, for the pool tests.

Every request is answered 200 with a JSON body after ``delay`` seconds; ``seen`` records, for each,
the HTTP version and the client's port, which tells the TCP connections apart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import threading
from pathlib import Path
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config


@dataclasses.dataclass(frozen=True)
class H2Seen:
    """A request the server received: its HTTP version ("2", "1.1") and the client's port."""

    http_version: str
    client_port: int
    path: str


class H2Server:
    """hypercorn serving HTTPS with the certificate chain ``chain`` (key and certificate in one PEM)."""

    def __init__(self, chain: Path, *, delay: float = 0.0) -> None:
        self.delay = delay
        self.seen: list[H2Seen] = []
        listener = socket.create_server(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        self.url = f"https://localhost:{self.port}"
        self._config = Config()
        # hypercorn takes the listening socket over (and closes it when it stops).
        self._config.bind = [f"fd://{listener.detach()}"]
        self._config.certfile = str(chain)
        self._config.keyfile = str(chain)
        self._config.alpn_protocols = ["h2", "http/1.1"]
        self._config.accesslog = None
        self._config.errorlog = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.seen.append(H2Seen(scope["http_version"], scope["client"][1], scope["path"]))
        await asyncio.sleep(self.delay)
        body = json.dumps({"http_version": scope["http_version"]}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._started.set()
            await serve(self._app, self._config, shutdown_trigger=self._stop.wait)  # type: ignore[arg-type]

        asyncio.run(main())

    def start(self) -> H2Server:
        self._thread.start()
        self._started.wait(10)
        return self

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def connections(self) -> int:
        """How many TCP connections the requests came on."""
        return len({seen.client_port for seen in self.seen})
