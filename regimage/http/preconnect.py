"""Open a registry's TCP connection in a thread while the program is still starting.

A command-line run spends its first few hundred milliseconds importing httpx and anyio. The DNS
lookup and TCP handshake to the registry it is about to ask (one round trip or more) can happen
during that time instead of after it, and so can the TLS handshake (one more round trip): pass
``tls=True`` (with the same ``ca_file`` and ``verify`` as the RegistryProvider's). :func:`start`
begins them in a daemon thread. The first connection regimage's pool opens to that host and port,
with or without TLS as started, then takes the socket (:func:`claim`) instead of connecting again.
Without a probe (below), no request is sent before then: the connection is the one the pool would
have opened itself. A handshake that fails here is simply done again by the pool, which reports
the failure.

With ``probe``, the thread also asks the registry ``GET /v2/`` on that connection, once it is
open: the request regimage's provider makes to learn what a registry wants (its 401 challenge),
here made while the program is still importing. The answer (:class:`Answer`) is taken by the
provider that first asks the registry something (:func:`take_answer`), so its first request
already carries a token instead of drawing the 401. When the challenge names a token realm on
another host, the thread opens a connection to that host too, for the token request to come.
Nothing is sent with the probe but ``Host``, ``User-Agent`` and ``Accept``: no credentials.

A socket that is not claimed within :data:`MAX_AGE_SECONDS` of connecting is closed rather than
used (a server may have dropped it). :func:`discard` closes whatever is left. This module imports
only the standard library (and h11 and regimage's pure challenge parser, in the thread, for a
probe), so it costs a program nothing to start it before its heavy imports.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Callable

__all__ = [
    "CONNECT_TIMEOUT",
    "MAX_AGE_SECONDS",
    "PROBE_TIMEOUT",
    "WAIT_SECONDS",
    "Answer",
    "Pending",
    "claim",
    "discard",
    "start",
    "take_answer",
]

#: Seconds the thread gives the DNS lookup and the TCP handshake together.
CONNECT_TIMEOUT = 10.0
#: Seconds the thread gives the registry to answer its ``GET /v2/``.
PROBE_TIMEOUT = 5.0
#: The longest a caller waits for the thread (connection and probe) before doing without it.
WAIT_SECONDS = CONNECT_TIMEOUT + PROBE_TIMEOUT
#: Seconds a connected socket may wait to be claimed before it is no longer trusted to be open.
MAX_AGE_SECONDS = 10.0
#: The most of a probe's answer read: its head, then its body (a short JSON error). A longer one
#: is not read: the socket is closed instead of handed over.
MAX_PROBE_HEAD_BYTES = 100 * 1024
MAX_PROBE_BODY_BYTES = 64 * 1024

_lock = threading.Lock()
_pending: dict[tuple[str, int], Pending] = {}
#: Probes by (host, port, tls), until a provider takes their answer (claim() leaves them here).
_probes: dict[tuple[str, int, bool], Pending] = {}


class Answer:
    """What a registry answered the thread's ``GET /v2/``: its status and ``WWW-Authenticate``
    values (a 401's challenges)."""

    __slots__ = ("challenges", "status")

    def __init__(self, status: int, challenges: tuple[str, ...]) -> None:
        self.status = status
        self.challenges = challenges

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.challenges!r})"


class Pending:
    """A connection being opened in a thread: :meth:`result` waits for it."""

    __slots__ = (
        "_connected_at",
        "_done",
        "_socket",
        "answer",
        "host",
        "port",
        "probe",
        "tls",
        "trust",
    )

    def __init__(
        self,
        host: str,
        port: int,
        tls: bool = False,
        trust: _Trust | None = None,
        probe: Callable[[], bool] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.trust = trust or _Trust(None, True)
        self.probe = probe
        #: The registry's answer to the probe, once done (None: no probe, or no answer).
        self.answer: Answer | None = None
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
            if self.tls:  # (a bad --ca-file fails here too: the provider says so)
                context = self.trust.context()
                sock = context.wrap_socket(sock, server_hostname=self.host)  # handshakes
        except (OSError, ValueError):  # ssl.SSLError (a certificate, a plain-HTTP port) included
            sock.close()
            self._done.set()
            return
        try:
            if self.probe is not None and _wanted(self.probe):
                kept = self._ask(sock)
                if not kept:
                    sock.close()
                    self._done.set()
                    return
            sock.setblocking(False)
        except OSError:
            sock.close()
            self._done.set()
            return
        self._socket = sock
        self._connected_at = time.monotonic()
        self._done.set()

    def _ask(self, sock: socket.socket) -> bool:
        """Run in the thread: ``GET /v2/`` on ``sock``; keep the answer, start connecting to the
        token realm it names. True if the connection can serve the next request."""
        answer, reusable = _get_v2(sock, self._host_header())
        self.answer = answer
        if answer is not None and answer.status == 401:
            realm = _realm_origin(answer.challenges)
            if realm is not None and realm != (self.host.lower(), self.port, self.tls):
                host, port, tls = realm
                _start(host, port, tls, self.trust, None, CONNECT_TIMEOUT)
        return reusable

    def _host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == (443 if self.tls else 80) else f"{host}:{self.port}"

    def wait_answer(self, timeout: float | None = None) -> Answer | None:
        """The probe's answer, once the thread is done (None: no probe, no answer, or not done
        within ``timeout`` seconds)."""
        if not self._done.wait(timeout):
            return None
        return self.answer

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
    probe: Callable[[], bool] | None = None,
) -> None:
    """Begin opening a connection to ``host``:``port``, TLS included with ``tls`` (verified as a
    RegistryProvider with the same ``ca_file`` and ``verify`` would), once per pair until
    claimed. Nothing is raised: a connection that cannot be made here is made by the pool.

    With ``probe``, a function called in the thread once connected (True: ask), the registry is
    asked ``GET /v2/`` on the new connection; its answer waits for :func:`take_answer`. Pass a
    probe only for a registry the program is about to ask, and whose challenge it does not know
    yet (a disk cache may remember it): otherwise the request is one more than needed.
    """
    _start(host, port, tls, _Trust(ca_file, verify), probe, timeout)


def _start(
    host: str,
    port: int,
    tls: bool,
    trust: _Trust,
    probe: Callable[[], bool] | None,
    timeout: float,
) -> None:
    key = (host.lower(), port)
    with _lock:
        if key in _pending:
            return
        pending = _pending[key] = Pending(host, port, tls, trust, probe)
        if probe is not None:
            _probes[(host.lower(), port, tls)] = pending
    thread = threading.Thread(
        target=pending.connect, args=(timeout,), name=f"regimage-preconnect-{host}", daemon=True
    )
    thread.start()


class _Trust:
    """How the TLS handshake verifies the server: what the context is made from, in the thread
    (loading CA certificates takes milliseconds the starting program should not wait for)."""

    __slots__ = ("_context", "ca_file", "verify")

    def __init__(self, ca_file: str | os.PathLike[str] | None, verify: bool) -> None:
        self.ca_file = ca_file
        self.verify = verify
        self._context: ssl.SSLContext | None = None

    def context(self) -> ssl.SSLContext:
        """Made once (the registry's and its token server's connections share it)."""
        if self._context is None:
            from regimage.http import tls as _tls

            context = _tls.new_context(ca_file=self.ca_file, verify=self.verify)
            context.set_alpn_protocols(["http/1.1"])  # as the pool's connections
            self._context = context
        return self._context


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
    fits = pending.tls == tls and (
        not tls or (server_hostname or host).lower() == pending.host.lower()
    )
    if not fits:
        _drop(pending)
        return None
    return pending


def take_answer(host: str, port: int, *, tls: bool = False) -> Pending | None:
    """The probe started for ``host``:``port`` over TLS or not (its :meth:`Pending.wait_answer`
    gives the registry's answer), removed; None when no probe was started for them."""
    with _lock:
        return _probes.pop((host.lower(), port, tls), None)


def discard() -> None:
    """Close every connection started and not claimed (the sockets of attempts still running are
    closed as they finish), and forget the answers not taken."""
    with _lock:
        left = list(_pending.values())
        _pending.clear()
        _probes.clear()
    for pending in left:
        _drop(pending)


def _drop(pending: Pending) -> None:
    """Close ``pending``'s socket, now or (in a thread) once its attempt ends."""
    if pending.done:
        pending.close()
    else:
        threading.Thread(target=_close_when_done, args=(pending,), daemon=True).start()


def _close_when_done(pending: Pending) -> None:
    sock = pending.result(WAIT_SECONDS + 1.0)  # waits for the attempt to end
    if sock is not None:
        sock.close()


def _wanted(probe: Callable[[], bool]) -> bool:
    try:
        return bool(probe())
    except Exception:  # a probe that fails is a probe not made: the provider asks itself
        return False


def _get_v2(sock: socket.socket, host_header: str) -> tuple[Answer | None, bool]:
    """``GET /v2/`` on a connected blocking socket: the answer (None if there was none, or a
    broken one), and whether the connection is left ready for another request. The request is
    sent first: what reading the answer needs is imported while it travels."""
    from regimage._version import __version__

    request = (
        f"GET /v2/ HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: regimage/{__version__}\r\n"
        "Accept: */*\r\n\r\n"
    )
    try:
        sock.settimeout(PROBE_TIMEOUT)
        sock.sendall(request.encode("ascii"))
    except (OSError, UnicodeError):
        return None, False
    import h11

    import regimage.model.challenge  # noqa: F401  (for _realm_origin, while the answer travels)

    connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_PROBE_HEAD_BYTES)
    # The same request, told to h11 (its bytes already sent) so that it reads the answer to it.
    connection.send(h11.Request(method="GET", target="/v2/", headers=[("Host", host_header)]))
    connection.send(h11.EndOfMessage())
    answer: Answer | None = None
    body = 0
    try:
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(sock.recv(MAX_PROBE_BODY_BYTES))
            elif isinstance(event, h11.Response):
                values = (v.decode("latin-1") for k, v in event.headers if k == b"www-authenticate")
                answer = Answer(event.status_code, tuple(values))
            elif isinstance(event, h11.Data):
                body += len(event.data)
                if body > MAX_PROBE_BODY_BYTES:
                    return answer, False
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
    except (OSError, h11.ProtocolError):  # a timeout included
        return answer, False
    return answer, connection.our_state is h11.DONE and connection.their_state is h11.DONE


def _realm_origin(challenges: tuple[str, ...]) -> tuple[str, int, bool] | None:
    """(host, port, tls) of the token realm a Bearer challenge names, or None."""
    from urllib.parse import urlsplit

    from regimage.errors import RegImageError
    from regimage.model.challenge import parse_challenges

    for value in challenges:
        try:
            parsed = parse_challenges(value)
        except RegImageError:
            continue
        for challenge in parsed:
            if challenge.scheme != "bearer" or not challenge.realm:
                continue
            try:
                url = urlsplit(challenge.realm)
                host, port = url.hostname, url.port
            except ValueError:
                return None
            if url.scheme not in ("http", "https") or not host:
                return None
            tls = url.scheme == "https"
            return host, port or (443 if tls else 80), tls
    return None
