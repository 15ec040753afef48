"""One origin's share of the connection pool: how it is reached, its idle connections, how many
exist, who waits.

Taking a connection, giving it back and handing it to the next waiter are O(1) (DESIGN.md §10):
idle connections are a stack (the most recently used is taken first), waiters a FIFO. How the
origin is reached (directly or through a proxy, and with which TLS context) is decided once, when
the pool first meets it (:meth:`Origin.route`), so that a request pays nothing for it.
"""

from __future__ import annotations

import logging
import ssl
from collections import deque
from collections.abc import Callable

import anyio
import httpx

from regimage.http.connect_errors import TrustStoreUnavailable
from regimage.http.connection import Connection
from regimage.http.proxy import Proxy, ProxySettings
from regimage.http.tls import TrustStoreError

__all__ = [
    "DEFAULT_PORTS",
    "HostTLS",
    "LazyContext",
    "Origin",
    "OriginKey",
    "Waiter",
    "origin_key",
]

logger = logging.getLogger("regimage")

DEFAULT_PORTS = {b"http": 80, b"https": 443}

#: Pools are keyed by (scheme, host, port), as httpx's URL gives them.
OriginKey = tuple[bytes, bytes, int]

#: What makes a host's own TLS context (its CAs), or None: the shared one serves it.
HostTLS = Callable[[str, int], Callable[[], ssl.SSLContext] | None]


def origin_key(url: httpx.URL) -> OriginKey:
    """``url``'s (scheme, host, port), the port filled in from the scheme."""
    scheme = url.raw_scheme
    return scheme, url.raw_host, url.port or DEFAULT_PORTS.get(scheme, 0)


class Waiter:
    """A request waiting for a connection: handed one (or leave to open one) by a release."""

    __slots__ = ("cancelled", "connection", "event", "granted")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.granted = False
        self.cancelled = False
        self.connection: Connection | None = None


class Origin:
    """The connections of one origin: idle ones (a stack), how many exist, who waits."""

    __slots__ = (
        "context",
        "count",
        "forward",
        "host",
        "idle",
        "label",
        "limit",
        "port",
        "proxy",
        "tls",
        "waiters",
    )

    def __init__(self, key: OriginKey, limit: int) -> None:
        #: The proxy its connections go through (decided once, by the pool), or None: direct.
        self.proxy: Proxy | None = None
        #: For plain HTTP through a proxy: the absolute-form prefix of request targets
        #: (``http://host:port``) and the headers added for the proxy; None when direct.
        self.forward: tuple[bytes, list[tuple[bytes, bytes]]] | None = None
        #: What makes its TLS context (the shared one, or the host's own CAs'); None: no TLS.
        self.context: Callable[[], ssl.SSLContext] | None = None
        scheme, host, port = key
        self.host = host.decode("ascii")
        self.port = port
        self.tls = scheme == b"https"
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.label = f"{scheme.decode('ascii')}://{shown}:{port}"
        self.limit = limit
        self.idle: list[Connection] = []
        self.count = 0  # open or being opened, idle or busy
        self.waiters: deque[Waiter] = deque()

    def route(
        self, proxies: ProxySettings | None, host_tls: HostTLS | None, shared: LazyContext
    ) -> None:
        """Decide how this origin is reached: its TLS context (``shared``, or the host's own from
        ``host_tls``), and whether it goes through one of ``proxies``."""
        if self.tls:
            own = None if host_tls is None else host_tls(self.host, self.port)
            self.context = shared if own is None else LazyContext(own)
        if proxies is None:
            return
        proxy = self.proxy = proxies.for_origin(
            "https" if self.tls else "http", self.host, self.port
        )
        if proxy is None:
            return
        logger.debug("%s: through %s", self.label, proxy.described)
        if not self.tls:
            credentials = proxy.authorization()
            headers = [] if credentials is None else [(b"Proxy-Authorization", credentials)]
            self.forward = (self.label.encode("ascii"), headers)

    def next_waiter(self) -> Waiter | None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.cancelled:
                return waiter
        return None

    def take_idle(self) -> tuple[Connection | None, list[Connection]]:
        """The most recently used idle connection still usable, and the dead ones found (no
        longer counted: the caller closes them)."""
        dead: list[Connection] = []
        while self.idle:
            connection = self.idle.pop()
            if connection.usable():
                return connection, dead
            dead.append(connection)
            self.count -= 1
        return None, dead

    def give(self, connection: Connection | None) -> None:
        """Pass a usable connection (or, with None, the right to open one) to the next waiter;
        with nobody waiting, keep the connection idle (or give the slot up)."""
        waiter = self.next_waiter()
        if waiter is not None:
            waiter.granted = True
            waiter.connection = connection
            waiter.event.set()
            return
        if connection is None:
            self.count -= 1
        else:
            self.idle.append(connection)


class LazyContext:
    """A TLS context made on first use (HTTP/1.1 offered by ALPN); a trust store that cannot be
    loaded leaves as httpx's kind of error, naming the file, and is tried again next time."""

    __slots__ = ("_context", "_factory")

    def __init__(self, factory: Callable[[], ssl.SSLContext]) -> None:
        self._factory = factory
        self._context: ssl.SSLContext | None = None

    def __call__(self) -> ssl.SSLContext:
        if self._context is None:
            try:
                context = self._factory()
            except TrustStoreError as exc:
                raise TrustStoreUnavailable(str(exc)) from None
            context.set_alpn_protocols(["http/1.1"])
            self._context = context
        return self._context
