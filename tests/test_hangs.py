"""Hangs and time: registries that take the connection and then stall, drip, or ask us to wait.

Every case runs against a loopback server of ours (:mod:`tests.faults.stalls`,
:class:`~tests.faults.server.ScriptedServer`) over real sockets, on asyncio and trio, with
deadlines of a fraction of a second, and under an outer ``anyio.fail_after`` so that a regression
fails instead of hanging. What regimage must do: give up within the bound it promised, with an
error that names the request, and leave the provider working.

- A document (manifest, index, config, token answer) has a deadline for its whole exchange,
  ``RegistryProvider(document_timeout=...)``, on top of the socket timeouts: a server that drips
  one byte within each read timeout cannot keep a request going for ever. Blob streams have none.
- A loopback registry whose TLS handshake does not complete within a short bound is asked over
  plain HTTP, as one that answers TLS with garbage is; a stalled handshake is not retried.
- A wait the retry layer would make past the caller's deadline is not made.
- ``authorize`` asks each registry at the same time: a dead one holds back no other.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from regimage.errors import NetworkError, RateLimited, RegistryError
from regimage.http.pool import PoolTransport
from regimage.http.retry import RetryPolicy, RetryTransport
from regimage.http.timeouts import TLSHandshakeTimeout
from regimage.http.tls import insecure_context
from regimage.model import mediatypes
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.registry import schemes
from regimage.registry.client import DEFAULT_DOCUMENT_TIMEOUT_SECONDS, RegistryProvider
from regimage.registry.credentials import CredentialStore
from regimage.registry.schemes import Schemes
from tests.faults.documents import Blob, MiniRegistry, config_blob, manifest_blob
from tests.faults.server import Reply, Request, ScriptedServer
from tests.faults.stalls import (
    SlowTLSServer,
    TLSDeafServer,
    drip,
    dripping_head_listener,
    silent_listener,
)
from tests.lab.tls import create_pki

pytestmark = pytest.mark.anyio

#: Seconds between dripped bytes: well within every read timeout below.
DRIP = 0.02
#: The outer bound of each case: only reached when regimage fails to give up by itself.
GUARD = 5.0


async def no_sleep(delay: float) -> None:
    """Retries in these tests never wait."""


def provider(**kw: object) -> RegistryProvider:
    options: dict[str, object] = {
        "credentials": CredentialStore(env={}, use_files=False),
        "retry": RetryPolicy(sleep=no_sleep),
        "plain_http": True,
        "timeout": 0.5,
        **kw,
    }
    return RegistryProvider(**options)  # type: ignore[arg-type]


def _image(registry_script: MiniRegistry, tag: str = "v1") -> Blob:
    config = registry_script.add(config_blob("amd64"))
    return registry_script.add(manifest_blob(config), tag=tag)


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    """Set at the end of a test: dripping bodies stop."""
    event = threading.Event()
    yield event
    event.set()


def test_the_document_deadline_has_a_documented_default() -> None:
    assert DEFAULT_DOCUMENT_TIMEOUT_SECONDS == 60.0


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf")])
def test_a_document_deadline_must_be_a_positive_number_of_seconds(value: float) -> None:
    with pytest.raises(ValueError, match="document_timeout"):
        RegistryProvider(document_timeout=value)


# ── a deadline for the whole exchange of a document ────────────────────────────────────────────────


async def test_a_manifest_dripped_within_each_read_timeout_meets_the_document_deadline(
    stop: threading.Event,
) -> None:
    """One byte every 20 ms never trips the 0.5 s read timeout: the 0.3 s deadline of the whole
    request ends it, the error names the URL, and the provider goes on working."""
    registry_script = MiniRegistry()
    manifest = _image(registry_script)
    registry_script.overrides["/v2/evil/app/manifests/slow"] = lambda _: Reply(
        200,
        {"Content-Type": mediatypes.OCI_MANIFEST, "Docker-Content-Digest": manifest.digest},
        drip(manifest.data, DRIP, stop),
    )
    with ScriptedServer(registry_script) as server:
        async with provider(document_timeout=0.3) as registry:
            started = anyio.current_time()
            with anyio.fail_after(GUARD), pytest.raises(NetworkError) as caught:
                await registry.resolve(server.ref("evil/app:slow"))
            assert anyio.current_time() - started < 2.0
            message = str(caught.value)
            assert f"http://{server.host}/v2/evil/app/manifests/slow" in message, message
            assert "0.3 s" in message, message
            assert caught.value.url == f"http://{server.host}/v2/evil/app/manifests/slow"
            assert server.listener.wait_idle(5), "the half-read connection was kept"
            with anyio.fail_after(GUARD):
                found = await registry.resolve(server.ref("evil/app:v1"))
            assert str(found.digest) == manifest.digest


async def test_a_response_head_dripped_within_each_read_timeout_meets_the_deadline() -> None:
    """The next thing to drip: the status line and headers, whose bytes h11 holds back."""
    with dripping_head_listener(DRIP) as listener:
        async with provider(document_timeout=0.3) as registry:
            with anyio.fail_after(GUARD), pytest.raises(NetworkError) as caught:
                await registry.resolve(f"{listener.host}/evil/app:v1")
    assert f"http://{listener.host}/v2/evil/app/manifests/v1" in str(caught.value)


async def test_a_config_dripped_is_cut_off_but_a_blob_stream_is_not(
    stop: threading.Event,
) -> None:
    """fetch_blob reads a bounded document (a config): the deadline applies. stream_blob is
    open-ended (a layer of gigabytes): only the socket timeouts apply, however long it takes."""
    blob = Blob("application/octet-stream", b"0123456789" * 3)  # 30 bytes: 0.6 s dripped
    registry_script = MiniRegistry([blob])
    registry_script.overrides[f"/v2/evil/app/blobs/{blob.digest}"] = lambda _: Reply(
        200, {"Content-Type": "application/octet-stream"}, drip(blob.data, DRIP, stop)
    )
    descriptor = Descriptor(blob.media_type, Digest.parse(blob.digest), blob.size)
    with ScriptedServer(registry_script) as server:
        reference = server.ref("evil/app:v1")
        async with provider(document_timeout=0.2) as registry:
            with anyio.fail_after(GUARD), pytest.raises(NetworkError, match=r"0\.2 s"):
                await registry.fetch_blob(reference, descriptor)
            received = b""
            with anyio.fail_after(GUARD):
                async with registry.stream_blob(reference, descriptor) as chunks:
                    async for chunk in chunks:
                        received += chunk
    assert received == blob.data


async def test_a_token_answer_dripped_meets_the_deadline(stop: threading.Event) -> None:
    """A token realm that drips its answer: the request that needed the token gives up in time."""

    def script(request: Request) -> Reply:
        if request.path.startswith("/token"):
            return Reply(200, {"Content-Type": "application/json"}, drip(b" " * 1000, DRIP, stop))
        challenge = f'Bearer realm="http://{request.headers["host"]}/token",service="evil"'
        return Reply(401, {"WWW-Authenticate": challenge}, b"")

    with ScriptedServer(script) as server:
        async with provider(document_timeout=0.3) as registry:
            started = anyio.current_time()
            with anyio.fail_after(GUARD), pytest.raises(NetworkError, match=r"0\.3 s"):
                await registry.resolve(server.ref("evil/app:v1"))
            assert anyio.current_time() - started < 2.0


async def test_a_stalled_token_server_costs_a_batch_one_deadline_not_one_per_repository(
    stop: threading.Event,
) -> None:
    """A batch token request that got no answer is not asked again one repository at a time
    (that is for a realm that refuses many scopes): authorize gives up after one deadline."""

    def script(request: Request) -> Reply:
        if request.path.startswith("/token"):
            return Reply(200, {"Content-Type": "application/json"}, drip(b" " * 1000, DRIP, stop))
        challenge = f'Bearer realm="http://{request.headers["host"]}/token",service="evil"'
        return Reply(401, {"WWW-Authenticate": challenge}, b"")

    with ScriptedServer(script) as server:
        refs = [server.ref(f"evil/app-{i}:v1") for i in range(3)]
        async with provider(document_timeout=0.3) as registry:
            started = anyio.current_time()
            with anyio.fail_after(GUARD):
                await registry.authorize(refs)  # best effort: nothing raised
            assert anyio.current_time() - started < 1.5
        token_requests = [r for r in server.requests if r.path.startswith("/token")]
    assert len(token_requests) == 1


# ── a loopback registry that says nothing to a TLS ClientHello ─────────────────────────────────────


async def test_a_loopback_registry_deaf_to_tls_is_asked_over_plain_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README's promise: a loopback registry that does not speak TLS is reached over plain
    HTTP, also when it neither answers nor refuses the ClientHello. The stalled handshake is
    given a short bound, once (not retried), then plain HTTP goes."""
    monkeypatch.setattr(schemes, "LOOPBACK_HANDSHAKE_SECONDS", 0.3)
    registry_script = MiniRegistry()
    manifest = _image(registry_script)
    with TLSDeafServer(registry_script) as server:
        async with provider(plain_http=False, timeout=10.0) as registry:
            started = anyio.current_time()
            with anyio.fail_after(GUARD):
                found = await registry.resolve(server.ref("evil/app:v1"))
            assert anyio.current_time() - started < 2.0
            assert registry.base_url(server.host) == f"http://{server.host}"
    assert str(found.digest) == manifest.digest
    assert server.handshakes == 1


async def test_a_dead_loopback_registry_fails_within_the_short_bound_and_one_read_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Silent to TLS and to plain HTTP: one short handshake, one plain request that meets its
    read timeout, and a NetworkError; not four handshakes of the full connect timeout."""
    monkeypatch.setattr(schemes, "LOOPBACK_HANDSHAKE_SECONDS", 0.2)
    with silent_listener() as listener:
        async with provider(plain_http=False, timeout=0.4) as registry:
            started = anyio.current_time()
            with anyio.fail_after(GUARD), pytest.raises(NetworkError):
                await registry.resolve(f"{listener.host}/evil/app:v1")
            assert anyio.current_time() - started < 1.5
    assert listener.accepted == 2  # one TLS attempt, one plain-HTTP request


async def test_a_stalled_tls_handshake_is_named_and_not_retried() -> None:
    """Off the fall-back path (any host), a handshake that stalls is a TLSHandshakeTimeout, and
    the retry layer does not try it again: like every TLS failure, it does not heal by itself."""
    with silent_listener() as listener:
        transport = RetryTransport(PoolTransport(insecure_context), RetryPolicy(sleep=no_sleep))
        async with httpx.AsyncClient(transport=transport, timeout=0.3) as client:
            with anyio.fail_after(GUARD), pytest.raises(TLSHandshakeTimeout, match="TLS handshake"):
                await client.get(f"https://{listener.host}/v2/")
    assert listener.accepted == 1


async def test_a_loopback_tls_registry_slow_to_shake_hands_is_asked_over_https_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The short bound mistakes a slow TLS registry for a plain one: the plain request that
    follows meets a TLS server's "HTTP request to an HTTPS server", and HTTPS goes again, with the
    full connect timeout; the scheme learned is HTTPS."""
    monkeypatch.setattr(schemes, "LOOPBACK_HANDSHAKE_SECONDS", 0.3)
    pki = create_pki(tmp_path / "pki")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    registry_script = MiniRegistry()
    manifest = _image(registry_script)
    with SlowTLSServer(registry_script, context) as server:
        async with provider(plain_http=False, timeout=10.0, ca_file=pki.ca_file) as registry:
            with anyio.fail_after(GUARD):
                found = await registry.resolve(server.ref("evil/app:v1"))
            assert registry.base_url(server.host) == f"https://{server.host}"
    assert str(found.digest) == manifest.digest
    assert server.handshakes == 2


@pytest.mark.parametrize(
    ("host", "falls_back"),
    [
        ("127.0.0.1:5000", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("registry.example:5000", False),
        ("10.0.0.1:5000", False),
    ],
)
def test_only_loopback_registries_fall_back_after_a_stalled_handshake(
    host: str, falls_back: bool
) -> None:
    chosen = Schemes(plain_all=False, plain_hosts=frozenset(), disk=None)
    stalled = TLSHandshakeTimeout("timed out in the TLS handshake")
    assert chosen.retry_on_error(host, "https", stalled) is falls_back
    assert chosen.scheme(host) == ("http" if falls_back else "https")


# ── waits past the caller's deadline ───────────────────────────────────────────────────────────────


async def test_a_retry_after_past_the_callers_deadline_is_not_waited_for() -> None:
    """A 429 asking for 30 s under a 0.5 s deadline: the answer now (RateLimited, with the wait
    the registry asked for), not a real 30 s sleep the deadline cuts into a bare timeout."""
    with ScriptedServer(lambda _: Reply(429, {"Retry-After": "30"}, b"")) as server:
        async with provider(retry=RetryPolicy()) as registry:  # anyio's own sleep
            started = anyio.current_time()
            with anyio.fail_after(0.5), pytest.raises(RateLimited) as caught:
                await registry.resolve(server.ref("evil/app:v1"))
            assert anyio.current_time() - started < 0.5
        assert len(server.requests) == 1
    assert caught.value.retry_after == 30


async def test_a_broken_connection_is_not_retried_past_the_deadline() -> None:
    """The same for the backoff after a refused connection: the error itself, at once."""
    with silent_listener() as listener:  # stopped: a port that refuses connections
        pass
    async with provider(retry=RetryPolicy(base=5.0)) as registry:
        started = anyio.current_time()
        with anyio.fail_after(2.0), pytest.raises(NetworkError, match="cannot connect"):
            await registry.resolve(f"{listener.host}/evil/app:v1")
        assert anyio.current_time() - started < 1.0


async def test_a_retry_within_the_deadline_still_waits() -> None:
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)

    with ScriptedServer(lambda _: Reply(503, {"Retry-After": "1"}, b"")) as server:
        async with provider(retry=RetryPolicy(sleep=sleep)) as registry:
            with anyio.fail_after(GUARD), pytest.raises(RegistryError, match="503"):
                await registry.resolve(server.ref("evil/app:v1"))
        assert len(server.requests) == 4
    assert delays == [1, 1, 1]


# ── batches ────────────────────────────────────────────────────────────────────────────────────────


async def test_authorize_does_not_wait_for_a_dead_registry_before_the_others() -> None:
    """authorize asks each registry at once: the one that never answers holds back no token."""

    def script(request: Request) -> Reply:
        if request.path.startswith("/token"):
            return Reply(200, {"Content-Type": "application/json"}, b'{"token": "t-1"}')
        challenge = f'Bearer realm="http://{request.headers["host"]}/token",service="ok"'
        return Reply(401, {"WWW-Authenticate": challenge}, b"")

    with silent_listener() as dead, ScriptedServer(script) as healthy:
        async with provider(timeout=10.0) as registry:
            with anyio.move_on_after(1.0):
                await registry.authorize([f"{dead.host}/app:v1", healthy.ref("app:v1")])
            token_requests = [r for r in healthy.requests if r.path.startswith("/token")]
    assert len(token_requests) == 1
