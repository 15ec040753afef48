"""Connections through an HTTP proxy: a ``CONNECT`` tunnel for HTTPS, the proxy itself for HTTP.

For an ``https://`` origin the proxy is asked ``CONNECT host:port`` (with ``Proxy-Authorization``
when its URL carries credentials) and TLS with the registry runs through the tunnel, end to end:
the proxy sees neither the requests nor the credentials sent to the registry. For an ``http://``
origin the connection goes to the proxy, and the pool sends each request in absolute form
(``GET http://host:port/v2/``) with ``Proxy-Authorization`` added below every layer that logs.
An ``https://`` proxy is spoken to over TLS first (verified with the shared trust store).

Every failure names the proxy (never its credentials): one that cannot be reached, that asks for
credentials (407: :class:`~regimage.http.connect_errors.ProxyAuthenticationRequired`), or that
refuses the tunnel; never a silent direct connection.
"""

from __future__ import annotations

import contextlib
import math
import ssl
from collections.abc import Callable

import anyio
import anyio.abc
import h11
import httpx

from regimage.http.connect_errors import ProxyAuthenticationRequired, ProxyFailure
from regimage.http.connection import (
    MAX_HEAD_BYTES,
    READ_BYTES,
    Connect,
    Connection,
    connect_tcp,
    start_tls,
)
from regimage.http.proxy import Proxy

__all__ = ["open_proxied", "proxy_refusal"]

#: What a socket that broke raises (as in :mod:`regimage.http.connection`).
_BROKEN = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


async def open_proxied(
    proxy: Proxy,
    host: str,
    port: int,
    *,
    origin: str,
    tls: Callable[[], ssl.SSLContext] | None,
    proxy_tls: Callable[[], ssl.SSLContext],
    server_hostname: str | None,
    connect_limit: float | None,
    keepalive_expiry: float,
    connect: Connect = connect_tcp,
) -> Connection:
    """A connection to ``host``:``port`` through ``proxy``: a verified TLS tunnel with ``tls``,
    else the connection to the proxy itself (for absolute-form requests). Each step (connecting,
    the proxy's TLS, ``CONNECT``, the registry's TLS) gets ``connect_limit`` seconds."""
    tunnelled = False  # past the proxy's part: a timeout now is the registry's
    with anyio.CancelScope(deadline=_deadline(connect_limit)) as scope:
        try:
            stream = await connect(proxy.host, proxy.port)
        except (OSError, anyio.BrokenResourceError) as exc:
            raise ProxyFailure(
                f"cannot connect to {proxy.described}: {_reason(exc)}", proxy=proxy.url
            ) from exc
        if proxy.scheme == "https":
            scope.deadline = _deadline(connect_limit)
            try:
                stream = await start_tls(stream, proxy_tls, proxy.host)
            except httpx.ConnectError as exc:
                raise ProxyFailure(
                    f"TLS with {proxy.described} failed: {_first_line(exc)}", proxy=proxy.url
                ) from exc
        if tls is None:
            return Connection(stream, origin, keepalive_expiry=keepalive_expiry)
        scope.deadline = _deadline(connect_limit)
        try:
            await _tunnel(stream, proxy, _authority(host, port))
        except BaseException:
            await _close(stream)
            raise
        scope.deadline = _deadline(connect_limit)
        tunnelled = True
        stream = await start_tls(stream, tls, server_hostname or host)
        return Connection(stream, origin, keepalive_expiry=keepalive_expiry)
    if tunnelled:
        raise httpx.ConnectTimeout(f"timed out in the TLS handshake with {origin}")
    raise ProxyFailure(f"{proxy.described} did not answer in time", proxy=proxy.url)


async def _tunnel(stream: anyio.abc.ByteStream, proxy: Proxy, authority: bytes) -> None:
    """Ask the proxy for a tunnel to ``authority``; return once it answered 2xx."""
    h = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
    headers = [(b"Host", authority)]
    credentials = proxy.authorization()
    if credentials is not None:
        headers.append((b"Proxy-Authorization", credentials))
    request = h.send(h11.Request(method=b"CONNECT", target=authority, headers=headers))
    try:
        await stream.send((request or b"") + (h.send(h11.EndOfMessage()) or b""))
        response = await _response(stream, h)
    except h11.RemoteProtocolError as exc:
        raise ProxyFailure(
            f"{proxy.described} broke the HTTP protocol answering CONNECT: {exc}",
            proxy=proxy.url,
        ) from None
    except _BROKEN as exc:
        raise ProxyFailure(
            f"{proxy.described} closed the connection: {_reason(exc)}", proxy=proxy.url
        ) from exc
    if 200 <= response.status_code < 300:
        if h.trailing_data[0]:  # a server speaks only after our TLS hello: nothing may come first
            raise ProxyFailure(
                f"{proxy.described} sent bytes into the tunnel before TLS", proxy=proxy.url
            )
        return
    shown = authority.decode("ascii", "replace")
    raise proxy_refusal(proxy, response.status_code, response.reason, f"a tunnel to {shown}")


async def _response(stream: anyio.abc.ByteStream, h: h11.Connection) -> h11.Response:
    """The head of the proxy's answer (1xx ones skipped)."""
    while True:
        event = h.next_event()
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive(READ_BYTES)
            except anyio.EndOfStream:
                data = b""
            h.receive_data(data)
        elif isinstance(event, h11.Response):
            return event
        elif not isinstance(event, h11.InformationalResponse):  # closed, or paused: no answer
            raise anyio.BrokenResourceError("no answer to CONNECT")


def proxy_refusal(proxy: Proxy, status: int, reason: bytes, what: str) -> ProxyFailure:
    """The error for a proxy that answered ``status`` instead of doing ``what``."""
    text = reason.decode("ascii", "replace").strip()[:100]
    answer = f"{status} {text}".strip()
    # 407, or (tinyproxy, as of 1.11, for credentials it refuses) 401: to CONNECT, only the
    # proxy can answer that, the registry's answers being inside the tunnel.
    if status in (401, 407):
        if proxy.username is None:
            hint = "put the user and password in the proxy URL (http://USER:PASSWORD@host:port)"
        else:
            hint = "it refused the user and password of the proxy URL"
        return ProxyAuthenticationRequired(
            f"{proxy.described} asks for credentials ({answer}): {hint}", proxy=proxy.url
        )
    return ProxyFailure(f"{proxy.described} refused {what}: {answer}", proxy=proxy.url)


def _authority(host: str, port: int) -> bytes:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}".encode("ascii")


def _deadline(timeout: float | None) -> float:
    return math.inf if timeout is None else anyio.current_time() + timeout


def _reason(exc: BaseException) -> str:
    while not str(exc) and exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


async def _close(stream: anyio.abc.AsyncResource) -> None:
    with anyio.CancelScope(shield=True), contextlib.suppress(*_BROKEN):
        await stream.aclose()
