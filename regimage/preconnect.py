"""Open a registry's TCP connection in a thread while the program is still starting.

A command-line run spends its first few hundred milliseconds importing httpx and anyio. The DNS
lookup and TCP handshake to the registry it is about to ask (one round trip or more) can happen
during that time instead of after it. :func:`start` begins them in a daemon thread. The first
connection regimage's pool opens to that host and port then takes the socket (:func:`claim`)
instead of connecting again; TLS and everything else happen on it as usual. Nothing is sent
before then: the socket is the one the pool would have opened itself.

A socket that is not claimed within :data:`MAX_AGE_SECONDS` of connecting is closed rather than
used (a server may have dropped it). :func:`discard` closes whatever is left. This module imports
only the standard library, so it costs a program nothing to start it before its heavy imports.
"""

from __future__ import annotations

import socket
import threading
import time

__all__ = ["CONNECT_TIMEOUT", "MAX_AGE_SECONDS", "Pending", "claim", "discard", "start"]

#: Seconds the thread gives the DNS lookup and the TCP handshake together.
CONNECT_TIMEOUT = 10.0
#: Seconds a connected socket may wait to be claimed before it is no longer trusted to be open.
MAX_AGE_SECONDS = 10.0

_lock = threading.Lock()
_pending: dict[tuple[str, int], Pending] = {}


class Pending:
    """A connection being opened in a thread: :meth:`result` waits for it."""

    __slots__ = ("_connected_at", "_done", "_socket", "host", "port")

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._done = threading.Event()
        self._socket: socket.socket | None = None
        self._connected_at = 0.0

    def __repr__(self) -> str:
        state = "connected" if self._socket is not None else "done" if self.done else "connecting"
        return f"<Pending({self.host}:{self.port}, {state})>"

    @property
    def done(self) -> bool:
        """Whether the attempt has ended (connected or failed)."""
        return self._done.is_set()

    def connect(self, timeout: float) -> None:
        """Run in the thread: connect, or leave no socket (the pool then connects itself and
        meets, and reports, the same failure)."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError:
            self._done.set()
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
        except OSError:
            sock.close()
            self._done.set()
            return
        self._socket = sock
        self._connected_at = time.monotonic()
        self._done.set()

    def result(self, timeout: float | None = None) -> socket.socket | None:
        """The connected socket (the caller owns it from then on), or None: failed, stale, or
        not connected within ``timeout`` seconds."""
        if not self._done.wait(timeout):
            return None
        sock, self._socket = self._socket, None
        if sock is not None and time.monotonic() - self._connected_at > MAX_AGE_SECONDS:
            sock.close()
            return None
        return sock

    def close(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()


def start(host: str, port: int, *, timeout: float = CONNECT_TIMEOUT) -> None:
    """Begin opening a TCP connection to ``host``:``port`` (once per pair until claimed)."""
    key = (host.lower(), port)
    with _lock:
        if key in _pending:
            return
        pending = _pending[key] = Pending(host, port)
    thread = threading.Thread(
        target=pending.connect, args=(timeout,), name=f"regimage-preconnect-{host}", daemon=True
    )
    thread.start()


def claim(host: str, port: int) -> Pending | None:
    """The connection started for ``host``:``port``, removed from the waiting ones (None when
    none was started). Only the first caller gets it."""
    with _lock:
        return _pending.pop((host.lower(), port), None)


def discard() -> None:
    """Close every connection started and not claimed (the sockets of attempts still running are
    closed as they finish)."""
    with _lock:
        left = list(_pending.values())
        _pending.clear()
    for pending in left:
        if pending.done:
            pending.close()
        else:
            threading.Thread(target=_close_when_done, args=(pending,), daemon=True).start()


def _close_when_done(pending: Pending) -> None:
    sock = pending.result(CONNECT_TIMEOUT + 1.0)  # waits for the attempt to end
    if sock is not None:
        sock.close()
