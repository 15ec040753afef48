"""One HTTP/1.1 connection: an anyio byte stream (TCP, or TLS over it) spoken to through h11.

h11 does the framing (Content-Length, chunked, HEAD, ``Connection: close``, keep-alive cycles);
this module does the I/O around it, as cheaply as it can: one cancel scope per request for sending
it and receiving the response head (its deadline moved before each socket operation, so that each
one has the full ``write`` or ``read`` timeout, as httpx means them), and none at all for body
chunks h11 already holds, which for a registry's small JSON answers is usually the whole body.

Failures leave as httpx's exceptions, chained to their cause (``raise httpx.ConnectError(msg) from
exc``: :mod:`regimage.http.error_mapping` walks ``__cause__`` to tell a certificate error). Messages never carry
the request's headers or query (timeouts name the origin). Cancellation passes untouched.
"""

from __future__ import annotations

import contextlib
import logging
import math
import select
import socket
import ssl
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping

import anyio
import anyio.abc
import h11
import httpx
from anyio.streams.tls import TLSStream

from regimage.http.early_connection import EarlyConnections, adopt
from regimage.http.timeouts import ExchangeTimeout, TLSHandshakeTimeout
from regimage.model.host import MAX_PORT

logger = logging.getLogger("regimage")

__all__ = [
    "MAX_HEAD_BYTES",
    "READ_BYTES",
    "Connect",
    "Connection",
    "connect_tcp",
    "open_connection",
    "start_tls",
]

#: Bytes asked of the socket per read.
READ_BYTES = 64 * 1024
#: The most a response head (status line and headers) may take: more is a protocol error, not
#: memory spent. (httpcore's bound, which regimage had until it spoke h11 itself.)
MAX_HEAD_BYTES = 100 * 1024

#: Opens a TCP connection to (host, port): :func:`connect_tcp`, or a test's stand-in.
Connect = Callable[[str, int], Awaitable[anyio.abc.ByteStream]]

#: What a socket that broke (reset, closed under us, refused by the TLS layer) raises.
_BROKEN = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


async def connect_tcp(host: str, port: int) -> anyio.abc.ByteStream:
    """A TCP connection (anyio's: happy eyeballs, ``TCP_NODELAY``)."""
    return await anyio.connect_tcp(host, port)


async def open_connection(
    host: str,
    port: int,
    *,
    origin: str,
    tls: Callable[[], ssl.SSLContext] | None,
    server_hostname: str | None,
    connect_limit: float | None,
    keepalive_expiry: float,
    connect: Connect = connect_tcp,
    early: EarlyConnections | None = None,
) -> Connection:
    """Connect (and with ``tls``, which makes the TLS context, start TLS: SNI
    ``server_hostname``) within ``connect_limit`` seconds for each step; ``origin`` names the
    server in messages. A connection ``early`` holds for this host, port and TLS is taken instead
    (then no context is made here). A handshake that does not end in time is a
    :class:`TLSHandshakeTimeout` (waiting for an early TLS connection counts as one)."""
    if not 0 < port <= MAX_PORT:
        # A URL a registry sent (a redirect, a token realm): httpx takes any port, and the socket's
        # OverflowError would leave anyio's connection attempts inside an ExceptionGroup. A URL no
        # transport can use, as httpx says of a missing scheme; not retried.
        raise httpx.UnsupportedProtocol(f"cannot connect to {origin}: port {port} is out of range")
    with anyio.CancelScope(deadline=_deadline(connect_limit)) as scope:
        claimed = (
            None
            if early is None
            else early.claim(host, port, tls=tls is not None, server_hostname=server_hostname)
        )
        handshaking = claimed is not None and tls is not None
        adopted = None if claimed is None else await adopt(claimed, origin)
        if adopted is not None:
            return Connection(adopted, origin, keepalive_expiry=keepalive_expiry)
        handshaking = False
        try:
            stream = await connect(host, port)
        except (OSError, anyio.BrokenResourceError) as exc:
            raise httpx.ConnectError(_reason(exc)) from exc
        if tls is not None:
            scope.deadline = _deadline(connect_limit)
            handshaking = True
            stream = await start_tls(stream, tls, server_hostname or host)
        return Connection(stream, origin, keepalive_expiry=keepalive_expiry)
    # Only reached when the scope's own deadline passed (a caller's cancellation propagates).
    if handshaking:
        raise TLSHandshakeTimeout(f"timed out in the TLS handshake with {origin}")
    raise httpx.ConnectTimeout(f"timed out connecting to {origin}")


async def start_tls(
    stream: anyio.abc.ByteStream, tls: Callable[[], ssl.SSLContext], hostname: str
) -> anyio.abc.ByteStream:
    """TLS over ``stream`` (closed if the handshake fails), the server verified as ``hostname``
    with the context ``tls`` makes (on the first connection that needs it)."""
    try:
        context = tls()
        return await TLSStream.wrap(
            stream,
            hostname=hostname,
            ssl_context=context,
            standard_compatible=False,  # no close_notify round trip, as browsers do
        )
    except BaseException as exc:
        await _close_stream(stream)
        if isinstance(exc, anyio.EndOfStream):
            raise httpx.ConnectError(
                "the server closed the connection during the TLS handshake"
            ) from exc
        # ValueError: a host name the TLS layer refuses (an empty or dotted SNI).
        if isinstance(exc, (OSError, anyio.BrokenResourceError, ValueError)):
            raise httpx.ConnectError(_reason(exc)) from exc
        raise


class Connection:
    """One HTTP/1.1 connection: send a request, receive its head, stream its body, then serve
    again (keep-alive) or be closed. Not for concurrent use: the pool lends it to one request at
    a time."""

    __slots__ = (
        "_ends_at",
        "_exchange",
        "_expires_at",
        "_h11",
        "_keepalive",
        "_poll",
        "_read_timeout",
        "_stream",
        "closed",
        "origin",
        "served",
    )

    def __init__(
        self, stream: anyio.abc.ByteStream, origin: str, *, keepalive_expiry: float
    ) -> None:
        self._stream = stream
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._keepalive = keepalive_expiry
        # A fresh connection is idle too: one opened ahead of need expires like a used one.
        self._expires_at = time.monotonic() + keepalive_expiry
        self._read_timeout: float | None = None
        self._exchange: float | None = None  # seconds the current exchange may take in all
        self._ends_at = math.inf  # when it must be over (anyio's clock)
        self._poll: select.poll | None = None
        self.origin = origin
        self.served = 0
        self.closed = False

    def __repr__(self) -> str:
        state = "closed" if self.closed else self._h11.our_state.__name__.lower()
        return f"<Connection({self.origin}, {state}, served={self.served})>"

    # ── keep-alive ──────────────────────────────────────────────────────────────────────────────

    def usable(self) -> bool:
        """Whether this idle connection can take a request now: open, not expired, and not
        readable (an idle socket that has something to read was closed by the server)."""
        if self.closed or time.monotonic() > self._expires_at:
            return False
        # Only once it has served: a TLS 1.3 server sends its session tickets after the
        # handshake, so a fresh TLS connection may be readable and perfectly well.
        return self.served == 0 or not self._readable()

    def _readable(self) -> bool:
        poll = self._poll
        if poll is None:
            raw = anyio.abc.SocketAttribute.raw_socket
            sock: socket.socket | None = self._stream.extra(raw, None)  # noqa: S610 - not Django
            if sock is None:
                return False  # not a socket (a test's stream): nothing to ask
            if not hasattr(select, "poll"):  # pragma: no cover - Windows
                return bool(select.select([sock], [], [], 0)[0])
            poll = self._poll = select.poll()
            poll.register(sock, select.POLLIN)
        return bool(poll.poll(0))

    def finish(self) -> bool:
        """After the response was closed: True (and ready for the next request) when the
        exchange completed and both sides keep the connection; False when it must be closed.

        A response closed before its body was read keeps the connection only when the rest of
        the body is already buffered here (small answers): reading a body off the network just
        to save a connection could take longer than opening another one.
        """
        h = self._h11
        if self.closed:
            return False
        if h.their_state is h11.SEND_BODY:
            self._drain_buffered()
        if h.our_state is not h11.DONE or h.their_state is not h11.DONE:
            return False  # incomplete, an error, or a "Connection: close" from either side
        if h.trailing_data[0]:
            return False  # bytes past the response: nothing a next request should read
        h.start_next_cycle()
        self._expires_at = time.monotonic() + self._keepalive
        return True

    def _drain_buffered(self) -> None:
        """Consume what is left of the body from h11's buffer, without any I/O."""
        try:
            while isinstance(self._h11.next_event(), h11.Data):
                pass
        except h11.ProtocolError:
            pass  # the connection is in ERROR: finish() closes it

    async def aclose(self) -> None:
        """Close the socket, even from a cancelled task."""
        if not self.closed:
            self.closed = True
            await _close_stream(self._stream)

    # ── one exchange ────────────────────────────────────────────────────────────────────────────

    async def send_request(
        self,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: AsyncIterable[bytes],
        timeouts: Mapping[str, float | None],
        exchange: float | None = None,
    ) -> h11.Response:
        """Send a request and receive the head of its response (1xx ones are skipped).

        One cancel scope covers both: its deadline is moved before each socket operation (so
        producing the next chunk of ``body`` counts against the write timeout too). A write
        that fails is not reported at once: a server may answer (a 413, say) and close before
        reading the whole request, so its answer is read; without one, the read fails.
        ``exchange``: the seconds the whole exchange may take, to the body's last byte, on top of
        each operation's timeout (which a server that drips its answer never trips).
        """
        h = self._h11
        head = self._request_head(method, target, headers)
        self.served += 1
        self._read_timeout = read_timeout = timeouts.get("read")
        write_timeout = timeouts.get("write")
        self._exchange = exchange
        ends = self._ends_at = _deadline(exchange)
        stream = self._stream
        reading = False
        with anyio.CancelScope(deadline=min(_deadline(write_timeout), ends)) as scope:
            try:
                if head:
                    await stream.send(head)
                async for chunk in body:
                    if chunk:
                        data = h.send(h11.Data(data=chunk))
                        if data:
                            scope.deadline = min(_deadline(write_timeout), ends)
                            await stream.send(data)
                end = h.send(h11.EndOfMessage())
                if end:
                    scope.deadline = min(_deadline(write_timeout), ends)
                    await stream.send(end)
            except h11.LocalProtocolError as exc:  # a body longer or shorter than declared
                raise httpx.LocalProtocolError(str(exc)) from exc
            except _BROKEN:
                pass  # read the answer the server may have sent before closing (see above)
            reading = True
            while True:
                event = self._next_event()
                if event is h11.NEED_DATA:
                    scope.deadline = min(_deadline(read_timeout), ends)
                    await self._receive()
                elif isinstance(event, h11.Response):
                    return event
                # else an InformationalResponse (100 Continue, 103 Early Hints): wait on
        if anyio.current_time() >= ends:
            raise ExchangeTimeout(self.origin, exchange or 0.0)
        if reading:
            raise httpx.ReadTimeout(f"timed out waiting for the response from {self.origin}")
        raise httpx.WriteTimeout(f"timed out sending the request to {self.origin}")

    def _request_head(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]
    ) -> bytes | None:
        try:
            return self._h11.send(h11.Request(method=method, target=target, headers=headers))
        except h11.LocalProtocolError as exc:
            problem = _invalid_request(exc, headers)
        # Raised outside the handler: h11's message may quote a header's value (an
        # Authorization), so it must not stay attached, not even as __context__.
        raise httpx.LocalProtocolError(problem)

    async def receive_body(self) -> bytes | None:
        """The next chunk of the response body, or None at its end.

        Bytes h11 already holds are returned without I/O; only a read from the socket gets a
        cancel scope (the ``read`` timeout, and the exchange's deadline), and it ends before the
        chunk is handed on.
        """
        while True:
            event = self._next_event()
            if isinstance(event, h11.Data):
                return bytes(event.data)
            if event is not h11.NEED_DATA:
                return None  # EndOfMessage (a close-delimited body ends with the connection)
            timeout, ends = self._read_timeout, self._ends_at
            if timeout is None and ends == math.inf:
                await self._receive()
                continue
            with anyio.CancelScope(deadline=min(_deadline(timeout), ends)) as scope:
                await self._receive()
            if scope.cancelled_caught:
                if anyio.current_time() >= ends:
                    raise ExchangeTimeout(self.origin, self._exchange or 0.0)
                raise httpx.ReadTimeout(f"timed out reading the response from {self.origin}")

    def _next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        try:
            return self._h11.next_event()
        except h11.RemoteProtocolError as exc:
            # h11 tells what broke (a bad status line, a body cut short, a head over the bound);
            # what it quotes comes from the server, never from the request.
            raise httpx.RemoteProtocolError(str(exc)) from exc

    async def _receive(self) -> None:
        try:
            data = await self._stream.receive(READ_BYTES)
        except anyio.EndOfStream:
            data = b""
        except _BROKEN as exc:
            raise httpx.ReadError(f"connection broken: {_reason(exc)}") from exc
        if not data and self._h11.their_state is h11.SEND_RESPONSE:
            raise httpx.RemoteProtocolError("the server closed the connection without a response")
        self._h11.receive_data(data)


def _deadline(timeout: float | None) -> float:
    return math.inf if timeout is None else anyio.current_time() + timeout


def _reason(exc: BaseException) -> str:
    """What an OS or anyio error says, or what caused it (anyio's own often say nothing)."""
    while not str(exc) and exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__


def _invalid_request(exc: h11.LocalProtocolError, headers: list[tuple[bytes, bytes]]) -> str:
    """h11's complaint about a request it will not send, without a header's value: h11 quotes
    the value (an ``Authorization`` with a stray newline would end up in a log)."""
    message = str(exc)
    if not message.startswith("Illegal header value"):
        return message  # names, the method, the target's characters: no secret quoted
    for name, value in headers:
        try:
            h11.Response(status_code=200, headers=[(name, value)])  # no Host needed
        except h11.LocalProtocolError as probe:
            if not str(probe).startswith("Illegal header value"):
                continue
            shown = name.decode("ascii", "replace")
            return f"illegal characters in the value of the request header {shown!r}"
    return "illegal characters in a request header value"  # pragma: no cover - found above


async def _close_stream(stream: anyio.abc.AsyncResource) -> None:
    with anyio.CancelScope(shield=True):
        with contextlib.suppress(*_BROKEN):
            await stream.aclose()
