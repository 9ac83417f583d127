"""A loopback TCP listener that speaks the first line of FTP and records every connection it gets.

Forged ``ftp://`` URLs once reached an FTP server and echoed its banner back (issue 9): tests
point them here and assert that ``connections`` stays empty.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class FtpListener:
    """Accepts connections on 127.0.0.1, sends a ``220`` banner and closes; ``connections`` lists peers."""

    BANNER = b"220 internal-ftp ready (banner that must never reach a caller)\r\n"

    def __init__(self) -> None:
        self.connections: list[tuple[str, int]] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self.url = f"ftp://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(peer[:2])
            with conn, contextlib.suppress(OSError):
                conn.sendall(self.BANNER)

    def start(self) -> FtpListener:
        self.thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self._sock.close()
