"""The pool's proxied connections, against servers of the suite's own on loopback: what goes to the
proxy, what a refusing or dead proxy ends in, and that a route is decided once per origin.
(A real proxy, tinyproxy, is in tests/registry/test_proxy_lab.py.)"""

from __future__ import annotations

import base64
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
import anyio.abc
import httpx
import pytest
from anyio.streams.tls import TLSListener

from regimage.errors import NetworkError
from regimage.http.error_mapping import map_transport_error
from regimage.http.pool import PoolTransport
from regimage.http.proxy import ProxySettings
from tests.faults.server import Reply, Request, ScriptedServer
from tests.lab.tls import create_pki

pytestmark = pytest.mark.anyio

TLS = httpx.create_ssl_context


async def test_plain_http_goes_to_the_proxy_in_absolute_form() -> None:
    with ScriptedServer(lambda request: Reply(200, body=b"ok")) as proxy:
        settings = ProxySettings.explicit_proxy(f"http://alice:s3cret@{proxy.host}")
        async with httpx.AsyncClient(transport=PoolTransport(TLS, proxies=settings)) as http:
            with anyio.fail_after(10):
                first = await http.get("http://registry.example/v2/")
                second = await http.get("http://registry.example:5000/v2/x?n=1")
        seen = proxy.requests
    assert (first.text, second.text) == ("ok", "ok")
    assert [r.path for r in seen] == [
        "http://registry.example:80/v2/",
        "http://registry.example:5000/v2/x?n=1",
    ]
    assert seen[0].headers["host"] == "registry.example"
    credentials = base64.b64encode(b"alice:s3cret").decode()
    assert seen[0].headers["proxy-authorization"] == f"Basic {credentials}"
    # Added below httpx: no layer above the pool (logging included) ever holds it.
    assert "proxy-authorization" not in first.request.headers


async def test_a_server_that_is_no_proxy_refuses_the_tunnel() -> None:
    """``HTTPS_PROXY`` pointing at a web server: its 501 to CONNECT, naming the proxy."""
    with ScriptedServer(lambda request: Reply(200)) as server:
        settings = ProxySettings.from_environ({"HTTPS_PROXY": server.base_url})
        async with httpx.AsyncClient(transport=PoolTransport(TLS, proxies=settings)) as http:
            with pytest.raises(httpx.ProxyError) as caught, anyio.fail_after(10):
                await http.get("https://registry.example/v2/")
    error = map_transport_error(caught.value, "https://registry.example/v2/")
    assert isinstance(error, NetworkError)
    assert str(error) == (
        f"the proxy {server.base_url} (HTTPS_PROXY) refused a tunnel to registry.example:443: "
        "501 Unsupported method ('CONNECT') (for registry.example)"
    )


async def test_a_dead_proxy_is_never_bypassed() -> None:
    dialled: list[tuple[str, int]] = []

    async def refused(host: str, port: int) -> anyio.abc.ByteStream:
        dialled.append((host, port))
        raise ConnectionRefusedError(111, "Connection refused")

    settings = ProxySettings.from_environ({"https_proxy": "proxy.corp:3128"})
    transport = PoolTransport(TLS, proxies=settings, connect=refused)
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.ProxyError) as caught, anyio.fail_after(10):
            await http.get("https://registry.example/v2/")
    assert dialled == [("proxy.corp", 3128)]  # the proxy only: the registry never
    assert str(caught.value) == (
        "cannot connect to the proxy http://proxy.corp:3128 (https_proxy): "
        "[Errno 111] Connection refused"
    )


async def test_the_route_is_decided_once_per_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, str, int]] = []
    decide = ProxySettings.for_origin

    def counting(self: ProxySettings, scheme: str, host: str, port: int) -> object:
        asked.append((scheme, host, port))
        return decide(self, scheme, host, port)

    monkeypatch.setattr(ProxySettings, "for_origin", counting)
    settings = ProxySettings.from_environ({"HTTP_PROXY": "http://proxy.corp:3128"})

    def answer(request: Request) -> Reply:
        return Reply(200, body=b"ok")

    with ScriptedServer(answer) as server:
        async with httpx.AsyncClient(transport=PoolTransport(TLS, proxies=settings)) as http:
            with anyio.fail_after(10):
                for _ in range(5):  # loopback: direct
                    assert (await http.get(f"{server.base_url}/v2/")).text == "ok"
    assert asked == [("http", "127.0.0.1", server.listener.port)]
    assert len(server.requests) == 5


# ── an https:// proxy: TLS to the proxy, and the registry's TLS inside it ────────────────────────


async def _relay(source: anyio.abc.ByteStream, sink: anyio.abc.ByteStream) -> None:
    with contextlib.suppress(
        anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError
    ):
        while True:
            await sink.send(await source.receive())


@contextlib.asynccontextmanager
async def tls_server(
    context: ssl.SSLContext, handle: Callable[[anyio.abc.ByteStream], Awaitable[None]]
) -> AsyncIterator[int]:
    """A TLS listener on 127.0.0.1 running ``handle`` per connection; yields its port."""
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
    listener = TLSListener(tcp, context, standard_compatible=False)
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, handle)
        yield tcp.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 - not Django
        group.cancel_scope.cancel()


async def test_an_https_proxy_carries_a_tunnel_inside_its_own_tls(tmp_path: Path) -> None:
    pki = create_pki(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(pki.server_cert, pki.server_key)
    tunnels: list[bytes] = []

    async def registry(stream: anyio.abc.ByteStream) -> None:
        await stream.receive()
        await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    async def proxy(stream: anyio.abc.ByteStream) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += await stream.receive()
        target = head.split(b" ")[1]
        tunnels.append(target)
        host, _, port = target.decode().rpartition(":")
        async with await anyio.connect_tcp(host, int(port)) as upstream:
            await stream.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
            async with anyio.create_task_group() as group:
                group.start_soon(_relay, upstream, stream)
                await _relay(stream, upstream)
                group.cancel_scope.cancel()

    client = ssl.create_default_context(cafile=str(pki.ca_file))
    with anyio.fail_after(10):
        async with (
            tls_server(server, registry) as registry_port,
            tls_server(server, proxy) as proxy_port,
        ):
            settings = ProxySettings.explicit_proxy(f"https://127.0.0.1:{proxy_port}")
            transport = PoolTransport(lambda: client, proxies=settings)
            async with httpx.AsyncClient(transport=transport) as http:
                answer = await http.get(f"https://127.0.0.1:{registry_port}/v2/")
    assert answer.text == "ok"
    assert tunnels == [f"127.0.0.1:{registry_port}".encode()]
