"""Open a registry's connection in a thread while the program is still starting, then hand it over.

A command-line run spends its first hundred milliseconds or more importing httpx and anyio. The DNS
lookup and the TCP handshake to the registry it is about to ask (one round trip or more) can happen
during that time instead of after it, and so can the TLS handshake (one more round trip). On a
token registry that saves ~65 ms of a cold run.

The hand-over is explicit. The program makes a :class:`Preconnect` (with the TLS options the
provider will have), starts the registry's connection (:meth:`Preconnect.start`) before its heavy
imports, and passes the object to the provider it then opens (``RegistryProvider(preconnect=…)``).
The provider's pool takes the socket (:meth:`Preconnect.claim`) instead of connecting again; a
handshake that failed here is simply done again by the pool, which reports the failure. The program
closes what was not taken when the run ends (:meth:`Preconnect.close`).

With ``probe``, the thread also asks the registry ``GET /v2/`` on the new connection: the request
the provider makes to learn what a registry wants (its 401 challenge), here made while the program
is still importing. The provider's session takes the answer (:meth:`Preconnect.take_answer`), so
that its first request already carries a token. When the challenge names a token realm on another
host, that the authenticator would contact (:func:`regimage.registry.realm.check_realm`), the thread
opens a connection to it too, for the token request to come. Nothing is sent with the probe but
``Host``, ``User-Agent`` and ``Accept``: no credentials.

A socket that is not claimed within :data:`MAX_AGE_SECONDS` of connecting is closed rather than
used (a server may have dropped it). The module imports only light standard modules and regimage's
pure ones (ssl, h11 and httpx load in the thread, as it needs them), so that it costs a program
nothing to start it before its heavy imports.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from regimage.errors import RegImageError
from regimage.registry.probe import PROBE_TIMEOUT, Answer, bearer_realm, get_v2

if TYPE_CHECKING:
    import ssl

__all__ = [
    "CONNECT_TIMEOUT",
    "MAX_AGE_SECONDS",
    "WAIT_SECONDS",
    "Pending",
    "Preconnect",
]

#: Seconds the thread gives the DNS lookup and the TCP handshake together.
CONNECT_TIMEOUT = 10.0
#: The longest a caller waits for the thread (connection and probe) before doing without it.
WAIT_SECONDS = CONNECT_TIMEOUT + PROBE_TIMEOUT
#: Seconds a connected socket may wait to be claimed before it is no longer trusted to be open.
MAX_AGE_SECONDS = 10.0


class Pending:
    """A connection being opened in a thread: :meth:`result` waits for it."""

    __slots__ = (
        "_cancelled",
        "_connected_at",
        "_done",
        "_lock",
        "_socket",
        "answer",
        "host",
        "port",
        "probe",
        "tls",
    )

    def __init__(
        self, host: str, port: int, tls: bool = False, probe: Callable[[], bool] | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.probe = probe
        #: The registry's answer to the probe, once done (None: no probe, or no answer).
        self.answer: Answer | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._connected_at = 0.0
        self._cancelled = False

    def __repr__(self) -> str:
        state = "connected" if self._socket is not None else "done" if self.done else "connecting"
        return f"<Pending({self.host}:{self.port}, {state})>"

    @property
    def done(self) -> bool:
        """Whether the attempt has ended (connected or failed)."""
        return self._done.is_set()

    @property
    def authority(self) -> str:
        """``host[:port]`` as the ``Host`` header and registries name it (default port left out)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == (443 if self.tls else 80) else f"{host}:{self.port}"

    def finish(self, sock: socket.socket | None) -> None:
        """Run in the thread: the attempt ended, with ``sock`` connected, or without a socket (a
        socket that comes after :meth:`cancel` is closed)."""
        with self._lock:
            if sock is not None and not self._cancelled:
                self._socket, sock = sock, None
                self._connected_at = time.monotonic()
            self._done.set()
        if sock is not None:
            sock.close()

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
        with self._lock:
            sock, self._socket = self._socket, None
        if sock is not None and time.monotonic() - self._connected_at > MAX_AGE_SECONDS:
            sock.close()
            return None
        return sock

    def take(self) -> socket.socket | None:
        """The socket once the thread is done with it (at most :data:`WAIT_SECONDS`): what the
        pool adopts (:class:`regimage.http.connection.EarlyConnection`)."""
        return self.result(WAIT_SECONDS)

    def cancel(self) -> None:
        """Close the socket, now or as soon as the thread has it; whoever waits stops waiting
        (with no socket, and no answer if none came yet)."""
        with self._lock:
            self._cancelled = True
            sock, self._socket = self._socket, None
            self._done.set()
        if sock is not None:
            sock.close()


class Preconnect:
    """Connections (and ``GET /v2/`` answers) opened in threads before the provider exists, for
    the provider that is handed this object.

    ``ca_file`` and ``verify`` are the provider's TLS options, and ``host_ca_files`` gives a
    host's own CAs as the provider's certs.d roots do (the thread verifies the server as it will). ``with_credentials``: whether the provider may send credentials to a token realm,
    which makes the realm rule stricter; when unsure, True (a realm then connected to is one the
    authenticator would contact in either case).
    """

    def __init__(
        self,
        *,
        ca_file: str | os.PathLike[str] | None = None,
        verify: bool = True,
        with_credentials: bool = True,
        host_ca_files: Callable[[str, int], Sequence[str]] | None = None,
    ) -> None:
        self._ca_file = ca_file
        self._verify = verify
        self._host_ca_files = host_ca_files
        self._with_credentials = with_credentials
        #: By the host's own CA files (none: the shared one).
        self._contexts: dict[tuple[str, ...], ssl.SSLContext] = {}
        self._context_lock = threading.Lock()
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], Pending] = {}
        #: Every attempt started, claimed or not: :meth:`close` stops whatever still waits on one.
        self._started: list[Pending] = []
        #: Probes by (host, port, tls), until the provider takes their answer.
        self._probes: dict[tuple[str, int, bool], Pending] = {}

    def __repr__(self) -> str:
        return f"<Preconnect({sorted(self._pending)})>"

    def start(
        self,
        host: str,
        port: int,
        *,
        tls: bool = False,
        timeout: float = CONNECT_TIMEOUT,
        probe: Callable[[], bool] | None = None,
    ) -> None:
        """Begin opening a connection to ``host``:``port`` (TLS included with ``tls``), once per
        pair until claimed. Nothing is raised: a connection that cannot be made here is made by
        the pool.

        With ``probe``, a function called in the thread once connected (True: ask), the registry
        is asked ``GET /v2/`` on the new connection. Pass a probe only for a registry the program
        is about to ask, and whose challenge it does not know yet (a disk cache may remember it):
        otherwise the request is one more than needed.
        """
        key = (host.lower(), port)
        with self._lock:
            if key in self._pending:
                return
            pending = self._pending[key] = Pending(host, port, tls, probe)
            self._started.append(pending)
            if probe is not None:
                self._probes[(host.lower(), port, tls)] = pending
        thread = threading.Thread(
            target=self._open,
            args=(pending, timeout),
            name=f"regimage-preconnect-{host}",
            daemon=True,
        )
        thread.start()

    def claim(
        self, host: str, port: int, *, tls: bool = False, server_hostname: str | None = None
    ) -> Pending | None:
        """The connection started for ``host``:``port``, removed from the waiting ones; None when
        none was started, or when it does not fit (TLS where plain TCP is wanted or the reverse,
        another TLS server name): that one is closed. Only the first caller gets it."""
        with self._lock:
            pending = self._pending.pop((host.lower(), port), None)
        if pending is None:
            return None
        fits = pending.tls == tls and (
            not tls or (server_hostname or host).lower() == pending.host.lower()
        )
        if not fits:
            pending.cancel()
            return None
        return pending

    def take_answer(self, host: str, port: int, *, tls: bool = False) -> Pending | None:
        """The probe started for ``host``:``port`` over TLS or not (its :meth:`Pending.wait_answer`
        gives the registry's answer), removed; None when no probe was started for them."""
        with self._lock:
            return self._probes.pop((host.lower(), port, tls), None)

    def close(self) -> None:
        """Close every connection not taken (those of attempts still running as they finish),
        forget the answers not taken, and let go whoever still waits for an attempt."""
        with self._lock:
            started, self._started = self._started, []
            self._pending.clear()
            self._probes.clear()
        for pending in started:
            pending.cancel()

    # ── in the thread ─────────────────────────────────────────────────────────────────────────

    def _open(self, pending: Pending, timeout: float) -> None:
        """Connect (and handshake, and probe), or leave no socket: the pool then connects itself
        and meets, and reports, the same failure."""
        try:
            sock = socket.create_connection((pending.host, pending.port), timeout=timeout)
        except OSError:
            pending.finish(None)
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if pending.tls:  # (a bad --ca-file fails here too: the provider says so)
                context = self._tls_context(pending.host, pending.port)
                sock = context.wrap_socket(sock, server_hostname=pending.host)
            if (
                pending.probe is not None
                and _wanted(pending.probe)
                and not self._ask(pending, sock)
            ):
                sock.close()
                pending.finish(None)
                return
            sock.setblocking(False)
        except (OSError, ValueError):  # ssl.SSLError (a certificate, a plain-HTTP port) included
            sock.close()
            pending.finish(None)
            return
        pending.finish(sock)

    def _tls_context(self, host: str, port: int) -> ssl.SSLContext:
        """Made once, in the thread (loading CA certificates takes milliseconds the starting
        program should not wait for); the registry's and its token server's connections share it,
        unless one has CAs of its own (certs.d), which are trusted for that host alone."""
        # Imported here, in the thread: ssl loads while the program imports the rest (and never
        # for a program that only prints its --help).
        from regimage.http.tls import new_context

        own: tuple[str, ...] = ()
        if self._verify and self._host_ca_files is not None:
            own = tuple(self._host_ca_files(host, port))  # a host's own CAs: for it alone
        with self._context_lock:
            context = self._contexts.get(own)
            if context is None:
                context = new_context(ca_file=self._ca_file, verify=self._verify)
                for path in own:
                    context.load_verify_locations(cafile=path)
                context.set_alpn_protocols(["http/1.1"])  # as the pool's connections
                self._contexts[own] = context
            return context

    def _ask(self, pending: Pending, sock: socket.socket) -> bool:
        """``GET /v2/`` on ``sock``; keep the answer, start connecting to the token realm it
        names. True if the connection can serve the next request."""
        answer, reusable = get_v2(sock, pending.authority)
        pending.answer = answer
        if answer is not None and answer.status == 401:
            realm = self._realm_origin(pending, answer.challenges)
            if realm is not None and realm != (pending.host.lower(), pending.port, pending.tls):
                host, port, tls = realm
                self.start(host, port, tls=tls)
        return reusable

    def _realm_origin(
        self, pending: Pending, challenges: tuple[str, ...]
    ) -> tuple[str, int, bool] | None:
        """(host, port, tls) of the token realm a Bearer challenge names, if the authenticator
        would contact it; else None."""
        realm = bearer_realm(challenges)
        if realm is None:
            return None
        # Imported in the thread: the realm rule needs httpx, which the program is importing
        # meanwhile; at the top, it would be imported before this thread even starts.
        import httpx

        from regimage.registry.realm import check_realm

        registry = f"{'https' if pending.tls else 'http'}://{pending.authority}/v2/"
        try:
            url = check_realm(
                pending.authority,
                httpx.URL(registry),
                realm,
                with_credentials=self._with_credentials,
            )
        except RegImageError:  # AuthenticationError: a realm the authenticator refuses
            return None
        tls = url.scheme == "https"
        return url.host, url.port or (443 if tls else 80), tls


def _wanted(probe: Callable[[], bool]) -> bool:
    try:
        return bool(probe())
    except Exception:  # a probe that fails is a probe not made: the provider asks itself
        return False
