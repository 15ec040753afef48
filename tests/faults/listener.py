"""A threaded HTTP/1.1 listener on 127.0.0.1 that stops itself and leaves nothing behind.

Each client connection gets a thread (``BaseHTTPRequestHandler`` with keep-alive). The listener
tracks its connections so that :meth:`Listener.stop` can cut the ones a client left open and join
every thread, and :meth:`Listener.wait_idle` can tell a test when the client side has let go of
all of them (the fd count of the test process includes the listener's own sockets).
Everything is bounded: an idle connection is dropped after ``IDLE_TIMEOUT_SECONDS``, bodies read
are capped, and stop() joins for at most a few seconds.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["IDLE_TIMEOUT_SECONDS", "MAX_REQUEST_BODY_BYTES", "Handler", "Listener"]

#: A keep-alive connection with no request for this long is closed by the listener.
IDLE_TIMEOUT_SECONDS = 30.0
#: Request bodies (token POST forms) read by the listeners.
MAX_REQUEST_BODY_BYTES = 1024 * 1024
#: Backlog: the default 5 overflows under load and the kernel retries SYNs after 1 s.
LISTEN_BACKLOG = 512


class Listener(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` bound to 127.0.0.1 on a free port, serving from its own thread."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = LISTEN_BACKLOG
    allow_reuse_address = True

    def __init__(self, handler: type[Handler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.stopping = threading.Event()
        self._lock = threading.Condition()
        self._connections: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        self._serving: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> None:
        self._serving = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._serving.start()

    # ── connection tracking ──────────────────────────────────────────────────────────────────────

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address), daemon=True
        )
        with self._lock:
            self._connections.add(request)
            self._workers.add(thread)
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: S110 - a broken client connection is what these tests cause
            pass
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._connections.discard(request)
                self._workers.discard(threading.current_thread())
                self._lock.notify_all()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client connections break on purpose here: nothing to print."""

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every client connection is closed; False if some are still open."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._connections:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    # ── stopping ─────────────────────────────────────────────────────────────────────────────────

    def stop(self) -> None:
        """Stop accepting, cut open connections, join every thread (bounded). Idempotent."""
        self.stopping.set()
        if self._serving is not None:
            self.shutdown()
            self._serving.join(timeout=5)
            self._serving = None
        self.server_close()
        with self._lock:
            connections = list(self._connections)
            threads = list(self._workers)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 5
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> Listener:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class Handler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 with raw helpers for misbehaving: reset, stall, partial bodies."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_SECONDS
    server: Listener

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read the records instead."""

    def read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = 0
        if length <= 0:
            return b""
        return self.rfile.read(min(length, MAX_REQUEST_BODY_BYTES))

    def send_raw(
        self, status: int, headers: list[tuple[str, str]], body: bytes, *, length: int | None = None
    ) -> None:
        """Status line, headers (``Content-Length`` = ``length`` or the body's), then ``body``."""
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), nothing sent."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def client_gone(self, wait: float) -> bool:
        """Wait up to ``wait`` seconds; True as soon as the client closed or the listener stops."""
        deadline = time.monotonic() + wait
        while True:
            if self.server.stopping.is_set():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    return True
            except OSError:
                return True

    def stall(
        self, status: int, headers: list[tuple[str, str]], body: bytes, interval: float
    ) -> None:
        """Headers at once, then the body one byte per ``interval`` seconds while the client waits."""
        self.close_connection = True
        try:
            self.send_response_only(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            for i in range(len(body)):
                if self.client_gone(interval):
                    return
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
        except OSError:
            return

    def hang(self, limit: float) -> None:
        """Say nothing at all until the client gives up (or ``limit`` seconds)."""
        self.close_connection = True
        self.client_gone(limit)
