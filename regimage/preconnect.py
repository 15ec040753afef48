"""Open a registry's TCP connection in a thread while the program is still starting.

A command-line run spends its first few hundred milliseconds importing httpx and anyio. The DNS
lookup and TCP handshake to the registry it is about to ask (one round trip or more) can happen
during that time instead of after it, and so can the TLS handshake (one more round trip): pass
``tls=True`` (with the same ``ca_file`` and ``verify`` as the RegistryProvider's). :func:`start`
begins them in a daemon thread. The first connection regimage's pool opens to that host and port,
with or without TLS as started, then takes the socket (:func:`claim`) instead of connecting again.
No request is sent before then: the connection is the one the pool would have opened itself, and
a handshake that fails here is simply done again by the pool, which reports the failure.

A socket that is not claimed within :data:`MAX_AGE_SECONDS` of connecting is closed rather than
used (a server may have dropped it). :func:`discard` closes whatever is left. This module imports
only the standard library, so it costs a program nothing to start it before its heavy imports.
"""

from __future__ import annotations

import os
import socket
import ssl
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

    __slots__ = ("_connected_at", "_done", "_socket", "host", "port", "tls")

    def __init__(self, host: str, port: int, tls: _Trust | None = None) -> None:
        self.host = host
        self.port = port
        self.tls = tls
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
            if self.tls is not None:  # (a bad --ca-file fails here too: the provider says so)
                context = self.tls.context()
                sock = context.wrap_socket(sock, server_hostname=self.host)  # handshakes
            sock.setblocking(False)
        except (OSError, ValueError):  # ssl.SSLError (a certificate, a plain-HTTP port) included
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


def start(
    host: str,
    port: int,
    *,
    tls: bool = False,
    ca_file: str | os.PathLike[str] | None = None,
    verify: bool = True,
    timeout: float = CONNECT_TIMEOUT,
) -> None:
    """Begin opening a connection to ``host``:``port``, TLS included with ``tls`` (verified as a
    RegistryProvider with the same ``ca_file`` and ``verify`` would), once per pair until
    claimed. Nothing is raised: a connection that cannot be made here is made by the pool."""
    key = (host.lower(), port)
    trust = _Trust(ca_file, verify) if tls else None
    with _lock:
        if key in _pending:
            return
        pending = _pending[key] = Pending(host, port, trust)
    thread = threading.Thread(
        target=pending.connect, args=(timeout,), name=f"regimage-preconnect-{host}", daemon=True
    )
    thread.start()


class _Trust:
    """How the TLS handshake verifies the server: what the context is made from, in the thread
    (loading CA certificates takes milliseconds the starting program should not wait for)."""

    __slots__ = ("ca_file", "verify")

    def __init__(self, ca_file: str | os.PathLike[str] | None, verify: bool) -> None:
        self.ca_file = ca_file
        self.verify = verify

    def context(self) -> ssl.SSLContext:
        from regimage import _tls

        context = _tls.new_context(ca_file=self.ca_file, verify=self.verify)
        context.set_alpn_protocols(["http/1.1"])  # as the pool's connections
        return context


def claim(
    host: str, port: int, *, tls: bool = False, server_hostname: str | None = None
) -> Pending | None:
    """The connection started for ``host``:``port``, removed from the waiting ones; None when
    none was started, or when it does not fit (TLS where plain TCP is wanted or the reverse,
    another TLS server name): that one is closed. Only the first caller gets it."""
    with _lock:
        pending = _pending.pop((host.lower(), port), None)
    if pending is None:
        return None
    fits = (pending.tls is not None) == tls and (
        not tls or (server_hostname or host).lower() == pending.host.lower()
    )
    if not fits:
        _drop(pending)
        return None
    return pending


def discard() -> None:
    """Close every connection started and not claimed (the sockets of attempts still running are
    closed as they finish)."""
    with _lock:
        left = list(_pending.values())
        _pending.clear()
    for pending in left:
        _drop(pending)


def _drop(pending: Pending) -> None:
    """Close ``pending``'s socket, now or (in a thread) once its attempt ends."""
    if pending.done:
        pending.close()
    else:
        threading.Thread(target=_close_when_done, args=(pending,), daemon=True).start()


def _close_when_done(pending: Pending) -> None:
    sock = pending.result(CONNECT_TIMEOUT + 1.0)  # waits for the attempt to end
    if sock is not None:
        sock.close()
