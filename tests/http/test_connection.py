"""One HTTP/1.1 connection on h11: framing, keep-alive, timeouts, errors, TLS; through PoolTransport.

Every case talks to a loopback server of the test's own (anyio): a handler per accepted connection
that reads requests with h11 and writes whatever raw bytes the case needs, well-formed or not. What
the client did is checked from the server's side too (connections accepted, bytes received).
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import h11
import httpx
import pytest
from anyio.streams.tls import TLSAttribute, TLSListener

from regimage.http.connection import MAX_HEAD_BYTES
from regimage.http.error_mapping import is_tls_protocol_error
from regimage.http.pool import PoolTransport
from tests.lab.tls import create_pki

pytestmark = pytest.mark.anyio

SECRET = "s3cret-7f1d"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def plain_tls() -> ssl.SSLContext:
    return httpx.create_ssl_context()


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class Peer:
    """The server's end of one connection: reads requests (h11), writes raw bytes."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self._buffer = b""

    async def request(self) -> Received | None:
        """The next request, or None when the client closed the connection."""
        parser = h11.Connection(h11.SERVER)
        if self._buffer:
            parser.receive_data(self._buffer)  # (b"" would tell h11 the client closed)
        head: h11.Request | None = None
        body = b""
        while True:
            event = parser.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = await self.stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    data = b""
                parser.receive_data(data)
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                self._buffer = parser.trailing_data[0]
                return Received(
                    head.method.decode(),
                    head.target.decode(),
                    {k.decode(): v.decode() for k, v in head.headers},
                    body,
                )
            else:  # ConnectionClosed
                return None

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)


@dataclass
class Server:
    url: str
    port: int
    accepted: int = 0
    requests: list[Received] = field(default_factory=list)


@asynccontextmanager
async def serving(
    handler: Callable[[Server, Peer], Awaitable[None]],
    *,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[Server]:
    listener: anyio.abc.Listener[Any] = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
    scheme = "http"
    if tls is not None:
        listener = TLSListener(listener, tls, standard_compatible=False)
        scheme = "https"
    server = Server(f"{scheme}://127.0.0.1:{port}", port)

    async def handle(stream: anyio.abc.ByteStream) -> None:
        server.accepted += 1
        try:
            await handler(server, Peer(stream))
        except (
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            anyio.EndOfStream,
            h11.RemoteProtocolError,  # what a client speaking TLS to a plain server sends
        ):
            pass
        finally:
            with anyio.CancelScope(shield=True):
                await stream.aclose()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(listener.serve, handle)
            try:
                yield server
            finally:
                group.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await listener.aclose()


def answering(
    answer: Callable[[Received], bytes | None],
) -> Callable[[Server, Peer], Awaitable[None]]:
    """Answer each request on a connection with ``answer(request)``; None closes it unanswered."""

    async def handler(server: Server, peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            server.requests.append(request)
            reply = answer(request)
            if reply is None:
                return
            await peer.send(reply)

    return handler


def ok(_: Received) -> bytes:
    return OK


def causes(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def assert_no_secret(exc: BaseException) -> None:
    for each in causes(exc):
        assert SECRET not in str(each), repr(each)
        assert SECRET not in repr(each), repr(each)


def client(transport: PoolTransport, **kw: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, **kw)


class Counting(anyio.abc.ByteStream):
    """A socket stream that counts the reads the client makes."""

    def __init__(self, inner: anyio.abc.ByteStream, counts: list[int]) -> None:
        self.inner = inner
        self.counts = counts

    async def receive(self, max_bytes: int = 65536) -> bytes:
        self.counts.append(max_bytes)
        return await self.inner.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        await self.inner.send(item)

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return self.inner.extra_attributes


# ── framing ────────────────────────────────────────────────────────────────────────────────────────


async def test_a_small_body_comes_with_its_head_in_one_read() -> None:
    reads: list[int] = []

    async def connect(host: str, port: int) -> anyio.abc.ByteStream:
        return Counting(await anyio.connect_tcp(host, port), reads)

    async with serving(answering(ok)) as server:
        transport = PoolTransport(plain_tls, connect=connect)
        async with client(transport) as http:
            response = await http.get(f"{server.url}/v2/")
            assert response.text == "ok"
            assert response.extensions["http_version"] == b"HTTP/1.1"
            assert response.extensions["reason_phrase"] == b"OK"
            assert reads == [64 * 1024]  # head and body together, then nothing more
            assert (await http.get(f"{server.url}/v2/")).text == "ok"  # reused
        assert transport.pool.stats.opened == 1
    assert server.accepted == 1


async def test_request_bodies_with_a_length_or_chunked() -> None:
    def echo(request: Received) -> bytes:
        body = request.body
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield b"part%d;" % i

    async with serving(answering(echo)) as server, client(PoolTransport(plain_tls)) as http:
        sized = await http.post(f"{server.url}/token", content=b"grant_type=password")
        streamed = await http.put(f"{server.url}/blob", content=chunks())
        empty = await http.post(f"{server.url}/empty")
    assert sized.content == b"grant_type=password"
    assert streamed.content == b"part0;part1;part2;"
    assert empty.content == b""
    assert server.requests[0].headers["content-length"] == "19"
    assert server.requests[1].headers["transfer-encoding"] == "chunked"


async def test_a_head_response_has_no_body_and_keeps_the_connection() -> None:
    def head(request: Received) -> bytes:
        assert request.method == "HEAD"
        return b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nDocker-Content-Digest: sha256:0\r\n\r\n"

    async with serving(answering(head)) as server:
        transport = PoolTransport(plain_tls)
        async with client(transport) as http:
            for _ in range(3):
                response = await http.head(f"{server.url}/v2/a/manifests/v1")
                assert response.headers["content-length"] == "1234"
                assert response.content == b""
        assert transport.pool.stats.reused == 2
    assert server.accepted == 1


async def test_a_large_chunked_body_is_streamed_whole() -> None:
    payload = os.urandom(1024 * 1024)

    async def handler(server: Server, peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(payload), 100_000):
                part = payload[i : i + 100_000]
                await peer.send(b"%x\r\n%s\r\n" % (len(part), part))
            await peer.send(b"0\r\n\r\n")

    async with serving(handler) as server:
        transport = PoolTransport(plain_tls)
        async with client(transport) as http:
            async with http.stream("GET", f"{server.url}/blob") as response:
                parts = [part async for part in response.aiter_raw()]
            assert b"".join(parts) == payload
            assert len(parts) > 1
            assert (await http.get(f"{server.url}/blob")).content == payload
        assert transport.pool.stats.reused == 1


async def test_informational_answers_are_skipped() -> None:
    def early_hints(_: Received) -> bytes:
        return b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + OK

    async with serving(answering(early_hints)) as server, client(PoolTransport(plain_tls)) as http:
        response = await http.get(f"{server.url}/")
    assert (response.status_code, response.text) == (200, "ok")


async def test_an_http_1_0_answer_is_read_to_the_close() -> None:
    async def handler(server: Server, peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")

    async with serving(handler) as server:
        transport = PoolTransport(plain_tls)
        async with client(transport) as http:
            response = await http.get(f"{server.url}/")
            assert response.text == "until the end"
            assert response.extensions["http_version"] == b"HTTP/1.0"
            assert transport.pool.connections() == 0


# ── keep-alive ─────────────────────────────────────────────────────────────────────────────────────


async def test_a_response_closed_early_closes_its_connection_unless_the_rest_is_buffered() -> None:
    big = b"x" * (4 * 1024 * 1024)

    def answer(request: Received) -> bytes:
        body = big if request.target == "/big" else b"small"
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async with serving(answering(answer)) as server:
        transport = PoolTransport(plain_tls)
        async with client(transport) as http:
            async with http.stream("GET", f"{server.url}/small"):
                pass  # not read: it came with the head, so the connection stays
            assert transport.pool.connections() == 1
            async with http.stream("GET", f"{server.url}/big") as response:
                async for _ in response.aiter_raw():
                    break  # most of 4 MiB still on the wire: not worth reading
            assert transport.pool.connections() == 0
            assert (await http.get(f"{server.url}/small")).text == "small"
        assert transport.pool.stats.opened == 2
    assert server.accepted == 2


async def test_connection_close_from_either_side_is_honoured() -> None:
    def answer(request: Received) -> bytes:
        if request.target == "/closing":
            return b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
        return OK

    async with serving(answering(answer)) as server:
        transport = PoolTransport(plain_tls)
        async with client(transport) as http:
            await http.get(f"{server.url}/", headers={"Connection": "close"})
            assert transport.pool.connections() == 0
            await http.get(f"{server.url}/closing")
            assert transport.pool.connections() == 0
            await http.get(f"{server.url}/")
            assert transport.pool.connections() == 1
        assert transport.pool.stats.opened == 3


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    closed = anyio.Event()

    async def one_and_close(server: Server, peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)  # keep-alive promised, then closed
        await peer.stream.aclose()
        closed.set()

    async with serving(one_and_close) as server:
        transport = PoolTransport(plain_tls)
        async with client(transport) as http:
            assert (await http.get(f"{server.url}/")).text == "ok"
            with anyio.fail_after(5):
                await closed.wait()
            await anyio.sleep(0.01)  # the server's FIN reaches the client's socket
            assert (await http.get(f"{server.url}/")).text == "ok"
        assert transport.pool.stats.opened == 2
        assert transport.pool.stats.reused == 0  # seen dead before the request was sent


async def test_a_reused_connection_found_dead_is_retried_once_for_idempotent_methods() -> None:
    async def forgetful(server: Server, peer: Peer) -> None:
        request = await peer.request()
        assert request is not None
        server.requests.append(request)
        await peer.send(OK)
        request = await peer.request()  # the next request on the kept connection: dropped
        assert request is not None
        server.requests.append(request)

    async with serving(forgetful) as server:
        transport = PoolTransport(plain_tls)
        async with client(transport) as http:
            await http.get(f"{server.url}/")
            assert (await http.get(f"{server.url}/again")).text == "ok"  # retried, fresh
            assert server.accepted == 2
            with pytest.raises(
                httpx.RemoteProtocolError, match="closed the connection without a response"
            ):
                await http.post(f"{server.url}/token", content=b"x")  # not idempotent
            assert transport.pool.connections() == 0


async def test_closing_the_pool_closes_busy_connections_when_their_response_closes() -> None:
    async with serving(answering(ok)) as server:
        transport = PoolTransport(plain_tls)
        async with client(transport) as http:
            async with http.stream("GET", f"{server.url}/") as response:
                await transport.aclose()
                assert await response.aread() == b"ok"
            assert transport.pool.connections() == 0
            with pytest.raises(httpx.ConnectError, match="closed"):
                await http.get(f"{server.url}/")


# ── timeouts and errors ────────────────────────────────────────────────────────────────────────────


async def silent(server: Server, peer: Peer) -> None:
    await peer.request()
    await anyio.sleep_forever()


async def test_read_timeouts_for_the_head_and_the_body() -> None:
    async def head_then_stall(server: Server, peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await anyio.sleep_forever()

    timeout = httpx.Timeout(5.0, read=0.05)
    for handler in (silent, head_then_stall):
        async with serving(handler) as server:
            transport = PoolTransport(plain_tls)
            async with client(transport, timeout=timeout) as http:
                with pytest.raises(httpx.ReadTimeout, match=r"127\.0\.0\.1"):
                    await http.get(f"{server.url}/")
                assert transport.pool.connections() == 0


async def test_a_server_that_reads_nothing_is_a_write_timeout() -> None:
    async def endless() -> AsyncIterator[bytes]:
        chunk = b"x" * (1024 * 1024)
        for _ in range(1024):
            yield chunk

    # A listening socket nobody accepts on: the kernel completes the handshake and takes bytes
    # until its buffers are full. (An anyio server on asyncio would read without bound.)
    with socket.socket() as deaf:
        deaf.bind(("127.0.0.1", 0))
        deaf.listen(1)
        port = deaf.getsockname()[1]
        transport = PoolTransport(plain_tls)
        timeout = httpx.Timeout(5.0, write=0.1)
        async with client(transport, timeout=timeout) as http:
            with pytest.raises(httpx.WriteTimeout):
                await http.put(f"http://127.0.0.1:{port}/blob", content=endless())
            assert transport.pool.connections() == 0


async def test_a_connect_that_hangs_is_a_connect_timeout() -> None:
    async def hanging(host: str, port: int) -> anyio.abc.ByteStream:
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    transport = PoolTransport(plain_tls, connect=hanging)
    async with client(transport, timeout=httpx.Timeout(5.0, connect=0.05)) as http:
        with pytest.raises(httpx.ConnectTimeout):
            await http.get("http://registry.test/v2/")
        assert transport.pool.connections() == 0


async def test_a_body_cut_short_is_a_remote_protocol_error() -> None:
    async def cut(server: Server, peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")

    async with serving(cut) as server:
        transport = PoolTransport(plain_tls)
        async with client(transport) as http:
            with pytest.raises(httpx.RemoteProtocolError, match=r"incomplete|complete message"):
                await http.get(f"{server.url}/")
            assert transport.pool.connections() == 0


async def test_a_head_over_the_bound_is_a_remote_protocol_error() -> None:
    flood = b"".join(b"X-Flood-%d: %s\r\n" % (i, b"x" * 1000) for i in range(200))
    assert len(flood) > MAX_HEAD_BYTES

    flooding = answering(lambda _: b"HTTP/1.1 200 OK\r\n" + flood + b"\r\n")
    async with serving(flooding) as server, client(PoolTransport(plain_tls)) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"{server.url}/")


async def test_garbage_is_a_remote_protocol_error() -> None:
    ssh = answering(lambda _: b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    async with serving(ssh) as server, client(PoolTransport(plain_tls)) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"{server.url}/")


async def test_messages_never_carry_the_authorization_or_the_query() -> None:
    headers = {"Authorization": f"Bearer {SECRET}"}
    timeout = httpx.Timeout(5.0, read=0.05)

    async def hang_up(server: Server, peer: Peer) -> None:
        await peer.request()

    for handler in (silent, hang_up):
        async with (
            serving(handler) as server,
            client(PoolTransport(plain_tls), timeout=timeout) as http,
        ):
            with pytest.raises(httpx.TransportError) as caught:
                await http.get(f"{server.url}/v2/?sig={SECRET}", headers=headers)
            assert_no_secret(caught.value)
    async with serving(answering(ok)) as server, client(PoolTransport(plain_tls)) as http:
        with pytest.raises(httpx.LocalProtocolError) as refused:
            await http.get(
                f"{server.url}/v2/", headers={"Authorization": f"Bearer {SECRET}\r\nX: y"}
            )
        assert "'Authorization'" in str(refused.value)
        assert_no_secret(refused.value)


async def test_cancellation_propagates_untouched_and_closes_the_connection() -> None:
    fds = _open_fds()
    async with serving(silent) as server:
        transport = PoolTransport(plain_tls)
        async with client(transport) as http:
            with anyio.move_on_after(0.05) as scope:
                await http.get(f"{server.url}/")
            assert scope.cancelled_caught
            assert transport.pool.connections() == 0
    assert _open_fds() == fds


async def test_failures_leave_no_file_descriptor_behind() -> None:
    fds = _open_fds()
    async with serving(answering(lambda r: OK if r.target == "/" else None)) as server:
        transport = PoolTransport(plain_tls)
        async with client(transport, timeout=httpx.Timeout(5.0, read=0.05)) as http:
            for _ in range(5):
                await http.get(f"{server.url}/")
                with pytest.raises(httpx.RemoteProtocolError):
                    await http.post(f"{server.url}/drop", content=b"x")
        assert transport.pool.connections() == 0
    assert _open_fds() == fds


def _open_fds() -> int:
    if not Path("/proc/self/fd").is_dir():  # pragma: no cover - not Linux
        return 0
    return len(os.listdir("/proc/self/fd"))


# ── TLS ────────────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return create_pki(tmp_path_factory.mktemp("pki"))


def server_tls(pki: Any, names: list[str | None]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.set_alpn_protocols(["http/1.1"])

    def record(_socket: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = record
    return context


async def test_tls_with_sni_alpn_and_a_lazily_made_context(pki: Any) -> None:
    names: list[str | None] = []
    made: list[ssl.SSLContext] = []
    alpn: list[str | None] = []

    def tls() -> ssl.SSLContext:
        context = httpx.create_ssl_context()
        context.load_verify_locations(cafile=pki.ca_file)
        made.append(context)
        return context

    async def handler(server: Server, peer: Peer) -> None:
        alpn.append(peer.stream.extra(TLSAttribute.alpn_protocol))  # noqa: S610
        await answering(ok)(server, peer)

    transport = PoolTransport(tls)
    async with serving(answering(ok)) as plain, client(transport) as http:
        await http.get(f"{plain.url}/")
        assert made == []  # no HTTPS yet: no context made
    async with serving(handler, tls=server_tls(pki, names)) as server:
        transport = PoolTransport(tls)
        async with client(transport) as http:
            assert (await http.get(f"{server.url}/")).text == "ok"
            await http.get(f"{server.url}/", headers={"Connection": "close"})
            await http.get(f"{server.url}/", extensions={"sni_hostname": "localhost"})
    assert len(made) == 1
    assert names == [None, "localhost"]  # no SNI for an address, as the standard says
    assert alpn == ["http/1.1"] * 2


async def test_tls_failures_are_connect_errors_that_keep_their_cause(pki: Any) -> None:
    async with (
        serving(answering(ok), tls=server_tls(pki, [])) as server,
        client(PoolTransport(httpx.create_ssl_context)) as http,
    ):
        with pytest.raises(httpx.ConnectError) as unverified:
            await http.get(f"{server.url}/")  # the lab's CA is not trusted
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in causes(unverified.value))
    async with (
        serving(answering(ok)) as plain,
        client(PoolTransport(httpx.create_ssl_context)) as http,
    ):
        with pytest.raises(httpx.ConnectError) as wrong:
            await http.get(f"https://127.0.0.1:{plain.port}/")  # TLS to plain HTTP
    assert is_tls_protocol_error(wrong.value)
