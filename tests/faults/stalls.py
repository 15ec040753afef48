"""Servers that stall on loopback: they take the connection and then say nothing, or drip.

- :func:`silent_listener`: accepts every connection, reads what comes and never answers (a
  registry that hangs; over HTTPS, a TLS handshake that never completes).
- :class:`TLSDeafServer`: a plain-HTTP :class:`~tests.faults.server.ScriptedServer` that neither
  answers nor rejects a TLS ClientHello (it waits for a request line that never comes), as many
  plain servers do.
- :class:`SlowTLSServer`: a TLS :class:`~tests.faults.server.ScriptedServer` whose first
  handshake never completes, and which answers plain HTTP as Go's TLS servers do (400, "Client
  sent an HTTP request to an HTTPS server.").
- :func:`dripping_head_listener`: answers every request with a status line, then one byte of an
  endless header every ``interval`` seconds.
- :func:`drip`: a chunked body that sends one byte every ``interval`` seconds.

Each one drains what the client sends (a peek-only wait would spin on the unread bytes), and
stops as soon as the client closes or the listener stops.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import cast

from tests.faults.listener import IDLE_TIMEOUT_SECONDS, Handler, Listener
from tests.faults.server import Script, ScriptedServer

__all__ = [
    "SilentListener",
    "SlowTLSServer",
    "TLSDeafServer",
    "drip",
    "dripping_head_listener",
    "silent_listener",
]

#: The first byte of a TLS record carrying a handshake message (a ClientHello).
_TLS_HANDSHAKE = b"\x16"


def _drain(handler: Handler, limit: float = IDLE_TIMEOUT_SECONDS) -> None:
    """Read and drop what the client sends, answer nothing, until it closes (or ``limit``)."""
    handler.close_connection = True
    connection = handler.connection
    waited = 0.0
    while waited < limit and not handler.server.stopping.is_set():
        readable, _, _ = select.select([connection], [], [], 0.05)
        waited += 0.05
        if not readable:
            continue
        try:
            if not connection.recv(64 * 1024):
                return  # the client closed
        except OSError:
            return


class SilentListener(Listener):
    """A listener that takes connections and never says a word; :attr:`accepted` counts them."""

    def __init__(self) -> None:
        super().__init__(_Silent)
        self.accepted = 0
        self._count_lock = threading.Lock()

    def count(self) -> None:
        with self._count_lock:
            self.accepted += 1

    def __enter__(self) -> SilentListener:
        self.start()
        return self


class _Silent(Handler):
    def handle(self) -> None:
        server = self.server
        if isinstance(server, SilentListener):
            server.count()
        _drain(self)


def silent_listener() -> SilentListener:
    """A listener (not started: use it as a context manager) that never answers."""
    return SilentListener()


class TLSDeafServer(ScriptedServer):
    """A plain-HTTP scripted server that keeps silent, rather than refusing, when a TLS
    ClientHello arrives; plain HTTP requests get ``script``'s answers. :attr:`handshakes` counts
    the ClientHellos it ignored."""

    def __init__(self, script: Script) -> None:
        super().__init__(script)
        self.handshakes = 0
        server = self
        scripted = cast("type[Handler]", self.listener.RequestHandlerClass)

        class Deaf(scripted):  # type: ignore[valid-type, misc]
            def handle(self) -> None:
                try:
                    first = self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    return
                if first == _TLS_HANDSHAKE:
                    server.handshakes += 1
                    _drain(self)
                    return
                super().handle()

        self.listener.RequestHandlerClass = Deaf

    def __enter__(self) -> TLSDeafServer:
        self.start()
        return self


#: What Go's TLS servers (Distribution among them) answer a plain HTTP request with.
_GO_PLAIN_HTTP_ANSWER = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)


class SlowTLSServer(ScriptedServer):
    """A TLS scripted server (``context``: its certificate) that sits on the first ClientHello
    it gets, completes the later ones, and answers plain HTTP as Go's TLS servers do.
    :attr:`handshakes` counts the ClientHellos."""

    def __init__(self, script: Script, context: ssl.SSLContext) -> None:
        super().__init__(script)
        self.handshakes = 0
        server = self
        scripted = cast("type[Handler]", self.listener.RequestHandlerClass)

        class Slow(scripted):  # type: ignore[valid-type, misc]
            mode = "plain"  # or "stall" (the first ClientHello), or "tls"
            request: socket.socket

            def setup(self) -> None:
                try:
                    first = self.request.recv(1, socket.MSG_PEEK)
                except OSError:
                    first = b""
                if first == _TLS_HANDSHAKE:
                    server.handshakes += 1
                    self.mode = "stall" if server.handshakes == 1 else "tls"
                    if self.mode == "tls":
                        self.request = context.wrap_socket(self.request, server_side=True)
                super().setup()

            def handle(self) -> None:
                if self.mode == "tls":
                    super().handle()
                elif self.mode == "stall":
                    _drain(self)
                else:
                    self.close_connection = True
                    self.wfile.write(_GO_PLAIN_HTTP_ANSWER)
                    self.wfile.flush()

        self.listener.RequestHandlerClass = Slow

    def __enter__(self) -> SlowTLSServer:
        self.start()
        return self


class _DrippingHead(Handler):
    interval = 0.05

    def handle(self) -> None:
        self.close_connection = True
        try:
            while self.rfile.readline(64 * 1024) not in (b"\r\n", b"\n", b""):
                pass  # the request's head, read whole: the wait below must find nothing unread
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            self.wfile.flush()
            while not self.client_gone(self.interval):
                self.wfile.write(b"a")
                self.wfile.flush()
        except OSError:
            return


def dripping_head_listener(interval: float) -> Listener:
    """A listener (not started) whose answers' heads never end: one byte each ``interval``."""

    class Bound(_DrippingHead):
        pass

    Bound.interval = interval
    return Listener(Bound)


def drip(data: bytes, interval: float, stop: threading.Event) -> Iterator[bytes]:
    """``data`` as a chunked body, one byte every ``interval`` seconds (until ``stop``)."""
    for i in range(len(data)):
        if stop.wait(interval):
            return
        yield data[i : i + 1]
