"""Hostile registries: answers built to exhaust, confuse or abuse the client.

Each case is served by a tiny loopback registry of ours (:class:`~tests.faults.server.
ScriptedServer`) over real sockets, or, where a host other than loopback must appear, by an
``httpx.MockTransport`` given as the provider's innermost transport (nothing leaves the machine).
What regimage must do: refuse with the error class that says why, having read no more than its
caps allow, sent nothing it should not, and followed nothing it should not.
"""

from __future__ import annotations

import functools
import gzip
import logging
import re
import threading
import tracemalloc
from collections.abc import Iterator

import anyio
import httpx
import pytest

from regimage.errors import (
    AuthenticationError,
    DigestMismatch,
    InvalidDocument,
    NetworkError,
    RateLimited,
    RegImageError,
    RegistryError,
    RootFSMismatch,
    SizeLimitExceeded,
    WalkLimitExceeded,
)
from regimage.http.retry import RetryPolicy
from regimage.image.image import Image
from regimage.model import mediatypes
from regimage.model.digest import Digest
from regimage.model.platform import Platform
from regimage.registry.client import MAX_MANIFEST_BYTES, RegistryProvider
from regimage.registry.credentials import Credentials, CredentialStore
from tests.faults.documents import (
    Blob,
    MiniRegistry,
    config_blob,
    index_blob,
    json_bytes,
    manifest_blob,
)
from tests.faults.server import Reply, Request, ScriptedServer

pytestmark = pytest.mark.anyio

USER, PASSWORD = "auditor", "hostile-test-password-5c1f"
CHUNK = 64 * 1024
#: A received-bytes count in the transport's DEBUG line: "GET URL 200 123 B 1.0 ms".
_RECEIVED = re.compile(r"^GET (\S+) (\d+) (\d+) B ")


async def no_sleep(delay: float) -> None:
    """Retries in these tests never wait."""


def provider(
    *, credentials: bool = False, transport: httpx.AsyncBaseTransport | None = None, **kw: object
) -> RegistryProvider:
    store = (
        CredentialStore(Credentials(USER, PASSWORD), env={}, use_files=False)
        if credentials
        else CredentialStore(env={}, use_files=False)
    )
    return RegistryProvider(
        credentials=store,
        plain_http=transport is None,
        retry=RetryPolicy(sleep=no_sleep),
        transport=transport,
        **{"timeout": 10.0, **kw},  # type: ignore[arg-type]
    )


def endless(chunk: bytes = b" " * CHUNK, limit: int = 1024 * 1024 * 1024) -> Iterator[bytes]:
    """A body that never ends (1 GiB, so that a client that never stops still ends the test)."""
    for _ in range(limit // len(chunk)):
        yield chunk


def received(caplog: pytest.LogCaptureFixture, path_part: str) -> list[int]:
    """Bytes the client read for each answered request whose URL contains ``path_part``."""
    found = []
    for record in caplog.records:
        match = _RECEIVED.match(record.getMessage())
        if match and path_part in match[1]:
            found.append(int(match[3]))
    return found


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="regimage")
    return caplog


# ── bodies over their caps ─────────────────────────────────────────────────────────────────────────


async def test_an_endless_manifest_is_refused_while_streaming(
    debug_log: pytest.LogCaptureFixture,
) -> None:
    registry_script = MiniRegistry(
        overrides={
            "/v2/evil/app/manifests/v1": lambda _: Reply(
                200, {"Content-Type": mediatypes.OCI_MANIFEST}, endless()
            )
        }
    )
    with ScriptedServer(registry_script) as server:
        async with provider() as registry:
            with pytest.raises(SizeLimitExceeded) as caught:
                await registry.resolve(server.ref("evil/app:v1"))
        assert server.listener.wait_idle(5)
    assert caught.value.limit == MAX_MANIFEST_BYTES
    assert "larger than the 4194304-byte limit; stopped reading" in str(caught.value)
    # What the client read: the cap and at most one chunk more. What the server could write
    # besides sits in the sockets' buffers, nowhere near the gigabyte it offered.
    [read] = received(debug_log, "/manifests/v1")
    assert MAX_MANIFEST_BYTES < read <= MAX_MANIFEST_BYTES + CHUNK
    assert server.sent < MAX_MANIFEST_BYTES + 32 * 1024 * 1024


async def test_an_endless_error_body_is_bounded_and_retried(
    debug_log: pytest.LogCaptureFixture,
) -> None:
    registry_script = MiniRegistry(
        overrides={
            "/v2/evil/app/manifests/v1": lambda _: Reply(
                503, {"Content-Type": "application/json"}, endless(b"[" * CHUNK)
            )
        }
    )
    with ScriptedServer(registry_script) as server:
        async with provider() as registry:
            with pytest.raises(RegistryError) as caught:
                await registry.resolve(server.ref("evil/app:v1"))
    assert "answered HTTP 503" in str(caught.value)
    assert "after 4 attempts" in str(caught.value)
    reads = received(debug_log, "/manifests/v1")
    assert len(reads) == 4
    assert all(read <= 1024 * 1024 + CHUNK for read in reads), reads


async def test_an_endless_token_answer_is_bounded() -> None:
    def script(request: Request) -> Reply:
        if request.path.startswith("/token"):
            return Reply(200, {"Content-Type": "application/json"}, endless(b" " * CHUNK))
        challenge = f'Bearer realm="http://{request.headers["host"]}/token",service="evil"'
        return Reply(401, {"WWW-Authenticate": challenge}, b"")

    with ScriptedServer(script) as server:
        async with provider() as registry:
            with pytest.raises(SizeLimitExceeded, match="token response") as caught:
                await registry.resolve(server.ref("evil/app:v1"))
    assert caught.value.limit == 1024 * 1024


@functools.cache
def gzip_bomb() -> bytes:
    """32 MiB of zeros in 32 KiB: one network read, which httpx would inflate whole."""
    return gzip.compress(bytes(32 * 1024 * 1024), 6)


async def test_a_gzip_bomb_is_not_inflated_past_the_cap() -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 64 * 1024
    limit = 1024 * 1024
    registry_script = MiniRegistry(
        overrides={
            "/v2/evil/app/manifests/v1": lambda _: Reply(
                200,
                {"Content-Type": mediatypes.OCI_MANIFEST, "Content-Encoding": "gzip"},
                bomb,
            )
        }
    )
    with ScriptedServer(registry_script) as server:
        async with provider(max_manifest_bytes=limit) as registry:
            tracemalloc.start()
            try:
                with pytest.raises(RegImageError) as caught:
                    await registry.resolve(server.ref("evil/app:v1"))
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    assert isinstance(caught.value, SizeLimitExceeded | RegistryError), repr(caught.value)
    # A 1 MiB cap must hold in memory too: no 32 MiB buffer because the bytes came compressed.
    assert peak < 4 * limit, f"peak {peak / 1024 / 1024:.0f} MiB for a 1 MiB cap"


async def test_a_header_flood_is_a_network_error() -> None:
    def script(request: Request) -> Reply:
        return Reply(200, {f"X-Flood-{i}": "x" * 1000 for i in range(200)}, b"{}")

    with ScriptedServer(script) as server:
        async with provider() as registry:
            with pytest.raises(NetworkError):
                await registry.resolve(server.ref("evil/app:v1"))
        # a header block over the 100 KiB head limit (regimage.http.connection) is refused each time
        assert len(server.requests) == 4


async def test_an_absurd_retry_after_is_not_waited_for() -> None:
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)

    def script(request: Request) -> Reply:
        return Reply(429, {"Retry-After": "9" * 30}, b"")

    with ScriptedServer(script) as server:
        async with RegistryProvider(
            credentials=CredentialStore(env={}, use_files=False),
            plain_http=True,
            retry=RetryPolicy(sleep=sleep),
        ) as registry:
            with pytest.raises(RateLimited):
                await registry.resolve(server.ref("evil/app:v1"))
        assert len(server.requests) == 1
    assert delays == []


# ── graphs built to loop, sink or sprawl ───────────────────────────────────────────────────────────


def _amd64_image(registry_script: MiniRegistry) -> Blob:
    config = registry_script.add(config_blob("amd64"))
    return registry_script.add(manifest_blob(config))


async def test_an_index_that_claims_to_contain_itself() -> None:
    # Real digests cannot form a cycle: a registry that serves the index for its child's digest
    # is caught by the digest check before any walk could loop.
    registry_script = MiniRegistry()
    manifest = _amd64_image(registry_script)
    fake_child = {**manifest.descriptor(), "mediaType": mediatypes.OCI_INDEX}
    bare = index_blob([fake_child], annotations={"pad": ""}).size
    padding = {"pad": "x" * (manifest.size - bare)}  # same size: only the digest can tell
    root = registry_script.add(index_blob([fake_child], annotations=padding), tag="v1")
    assert root.size == manifest.size
    registry_script.blobs[manifest.digest] = Blob(mediatypes.OCI_INDEX, root.data)
    with ScriptedServer(registry_script) as server:
        async with provider() as registry:
            image = await Image.resolve(server.ref("evil/app:v1"), registry)
            with pytest.raises(DigestMismatch) as caught:
                await image.manifest()
    assert caught.value.expected == manifest.digest
    assert caught.value.actual == root.digest


async def test_very_deep_index_nesting_stops_at_the_walk_limit() -> None:
    registry_script = MiniRegistry()
    child = _amd64_image(registry_script)
    entry = child.descriptor(platform={"os": "linux", "architecture": "amd64"})
    for _ in range(40):
        nested = registry_script.add(index_blob([entry]))
        entry = nested.descriptor()
    registry_script.tags["v1"] = nested.digest
    with ScriptedServer(registry_script) as server:
        async with provider() as registry:
            image = await Image.resolve(server.ref("evil/app:v1"), registry, platform="linux/amd64")
            with pytest.raises(WalkLimitExceeded, match="nested 11 levels deep"):
                await image.manifest()
            # the walk stops at the limit: the root and ten nested indexes, nothing more
            assert registry.stats["manifest"] == 11


async def test_an_index_of_ten_thousand_entries() -> None:
    registry_script = MiniRegistry()
    wanted = _amd64_image(registry_script)
    entries = [
        {
            **wanted.descriptor(),
            "digest": "sha256:" + f"{i:064x}",
            "platform": {"os": "linux", "architecture": "arm64", "os.version": str(i)},
        }
        for i in range(9_999)
    ]
    entries.append(wanted.descriptor(platform={"os": "linux", "architecture": "amd64"}))
    root = registry_script.add(index_blob(entries), tag="v1")
    assert 2 * 1024 * 1024 < root.size < MAX_MANIFEST_BYTES
    with ScriptedServer(registry_script) as server:
        async with provider() as registry:
            image = await Image.resolve(server.ref("evil/app:v1"), registry, platform="linux/amd64")
            selected = await image.manifest()
            platforms = await image.platforms()
            # the index once, the one manifest it selects: none of the 9,999 others
            assert registry.stats.as_dict() == {"manifest": 2}
    assert str(selected.digest) == wanted.digest
    assert len(platforms) == 10_000
    assert platforms[-1] == Platform("linux", "amd64")


# ── documents built to break parsers ───────────────────────────────────────────────────────────────


def _serve_manifest(data: bytes, media_type: str = mediatypes.OCI_MANIFEST) -> MiniRegistry:
    registry_script = MiniRegistry()
    registry_script.add(Blob(media_type, data), tag="v1")
    return registry_script


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("nesting-bomb", b'{"annotations":' + b"[" * 200_000 + b"]" * 200_000 + b"}", "nested"),
        ("nesting-bomb-unclosed", b'{"a":' + b"[" * 1_000_000, "nested"),
        (
            "duplicate-keys",
            b'{"schemaVersion":2,"config":{},"layers":[],"layers":[]}',
            "duplicate key 'layers'",
        ),
        ("invalid-utf8", b'{"schemaVersion":2,"mediaType":"\xc3\x28"}', "not valid UTF-8"),
        ("huge-integer", b'{"schemaVersion":' + b"9" * 100_000 + b"}", "integer longer"),
        ("lone-surrogate", b'{"schemaVersion":2,"annotations":{"a":"\\ud800"}}', "surrogate"),
        ("not-json", b"<html><body>portal</body></html>", "not valid JSON"),
    ],
)
async def test_hostile_manifest_documents(name: str, data: bytes, message: str) -> None:
    with ScriptedServer(_serve_manifest(data)) as server:
        async with provider() as registry:
            image = await Image.resolve(server.ref("evil/app:v1"), registry)
            assert str(image.target.digest) == str(Digest.of(data))
            with pytest.raises(InvalidDocument, match=message):
                await image.manifest()


async def test_a_hostile_config_is_refused() -> None:
    registry_script = MiniRegistry()
    config = registry_script.add(
        Blob(mediatypes.OCI_CONFIG, b'{"rootfs":{"diff_ids":[],"diff_ids":[]}}')
    )
    registry_script.add(manifest_blob(config), tag="v1")
    with ScriptedServer(registry_script) as server:
        async with provider() as registry:
            image = await Image.resolve(server.ref("evil/app:v1"), registry)
            with pytest.raises(InvalidDocument, match="duplicate key 'diff_ids'"):
                await image.rootfs()


async def test_a_hostile_tags_list_is_refused() -> None:
    bomb = b'{"name":"evil/app","tags":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    registry_script = MiniRegistry(
        overrides={
            "/v2/evil/app/tags/list": lambda _: Reply(
                200, {"Content-Type": "application/json"}, bomb
            )
        }
    )
    with ScriptedServer(registry_script) as server:
        async with provider() as registry:
            with pytest.raises(InvalidDocument, match="nested"):
                await registry.tags(f"{server.host}/evil/app")


async def test_a_tags_list_without_its_tags_field_is_refused() -> None:
    # A body that is JSON but not a tags list must not read as "no tags".
    registry_script = MiniRegistry(
        overrides={
            "/v2/evil/app/tags/list": lambda _: Reply(
                200, {"Content-Type": "application/json"}, json_bytes({"name": "evil/app"})
            )
        }
    )
    with ScriptedServer(registry_script) as server:
        async with provider() as registry:
            with pytest.raises(InvalidDocument, match="'tags'"):
                await registry.tags(f"{server.host}/evil/app")


async def test_a_nesting_bomb_in_a_token_answer() -> None:
    def script(request: Request) -> Reply:
        if request.path.startswith("/token"):
            return Reply(200, {}, b'{"token":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
        challenge = f'Bearer realm="http://{request.headers["host"]}/token",service="evil"'
        return Reply(401, {"WWW-Authenticate": challenge}, b"")

    with ScriptedServer(script) as server:
        async with provider() as registry:
            with pytest.raises(RegistryError, match="not a JSON object"):
                await registry.resolve(server.ref("evil/app:v1"))


# ── realms and redirects that lead elsewhere ───────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "realm",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1:21/token",
        "javascript:alert(1)",
        "gopher://127.0.0.1:70/token",
        "//127.0.0.1/token",
        "",
    ],
)
async def test_a_realm_that_is_not_http_is_refused(realm: str) -> None:
    def script(request: Request) -> Reply:
        return Reply(401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="evil"'}, b"")

    with ScriptedServer(script) as server:
        async with provider(credentials=True) as registry:
            with pytest.raises(AuthenticationError) as caught:
                await registry.resolve(server.ref("evil/app:v1"))
        # only the registry was asked, and never with the credentials
        assert [r.path for r in server.requests] == ["/v2/evil/app/manifests/v1"]
        assert all(r.authorization is None for r in server.requests)
    assert PASSWORD not in str(caught.value)


class Recorder:
    """An innermost transport standing for hosts that are not loopback: nothing leaves."""

    def __init__(self, handler: httpx.MockTransport) -> None:
        self.requests: list[httpx.Request] = []
        self._handler = handler

    def transport(self) -> httpx.MockTransport:
        def record(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            response = self._handler.handle_request(request)
            assert isinstance(response, httpx.Response)
            return response

        return httpx.MockTransport(record)


def _challenging(realm: str) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "registry.test":
            return httpx.Response(
                401, headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="r"'}
            )
        return httpx.Response(200, json={"token": "t0k3n-from-elsewhere"})

    return httpx.MockTransport(answer)


async def test_credentials_never_go_to_a_plain_http_realm_on_another_host() -> None:
    recorder = Recorder(_challenging("http://auth.elsewhere.test/token"))
    async with provider(credentials=True, transport=recorder.transport()) as registry:
        with pytest.raises(AuthenticationError, match="plain-HTTP token realm"):
            await registry.resolve("registry.test/app:v1")
    assert [r.url.host for r in recorder.requests] == ["registry.test"]
    assert all("authorization" not in r.headers for r in recorder.requests)


async def test_credentials_go_to_an_https_realm_on_another_host_and_nowhere_else() -> None:
    # Docker Hub's realm (auth.docker.io) is another host than its registry: allowed over HTTPS.
    recorder = Recorder(_challenging("https://auth.elsewhere.test/token"))
    async with provider(credentials=True, transport=recorder.transport()) as registry:
        with pytest.raises(AuthenticationError):
            await registry.resolve("registry.test/app:v1")
    sent = [
        (r.url.scheme, r.url.host, r.headers.get("authorization", "")) for r in recorder.requests
    ]
    basic = [entry for entry in sent if entry[2].startswith("Basic ")]
    assert basic == [("https", "auth.elsewhere.test", basic[0][2])]
    assert all(host in ("registry.test", "auth.elsewhere.test") for _, host, _ in sent), sent
    assert all(not auth.startswith("Basic ") for _, host, auth in sent if host == "registry.test")


async def test_credentials_never_go_over_plain_http_to_a_remote_registry() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})

    recorder = Recorder(httpx.MockTransport(answer))
    async with RegistryProvider(
        credentials=CredentialStore(Credentials(USER, PASSWORD), env={}, use_files=False),
        plain_http=["registry.test"],
        transport=recorder.transport(),
    ) as registry:
        with pytest.raises(AuthenticationError):
            await registry.resolve("registry.test/app:v1")
    assert [str(r.url) for r in recorder.requests] == ["http://registry.test/v2/app/manifests/v1"]
    assert all("authorization" not in r.headers for r in recorder.requests)


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1:21/blob",
        "gopher://127.0.0.1:70/x",
        "javascript:alert(1)",
        "http://[::1",
        "http://127.0.0.1:0/x",
    ],
)
async def test_a_redirect_that_leads_nowhere_is_a_typed_error(location: str) -> None:
    registry_script = MiniRegistry(
        overrides={
            "/v2/evil/app/manifests/v1": lambda _: Reply(302, {"Location": location}, b""),
        }
    )
    with ScriptedServer(registry_script) as server:
        async with provider() as registry:
            with pytest.raises(RegImageError) as caught:
                await registry.resolve(server.ref("evil/app:v1"))
    assert isinstance(caught.value, RegistryError | NetworkError), repr(caught.value)


async def test_a_redirect_chain_is_cut_off() -> None:
    def script(request: Request) -> Reply:
        hop = int(request.path.rpartition("/")[2] or 0) if request.path.startswith("/hop/") else 0
        return Reply(302, {"Location": f"/hop/{hop + 1}"}, b"")

    with ScriptedServer(script) as server:
        async with provider() as registry:
            with pytest.raises(RegistryError, match="too many redirects"):
                await registry.resolve(server.ref("evil/app:v1"))
        assert len(server.requests) == 11  # the request and ten redirects


@pytest.mark.parametrize("location", ["javascript:alert(1)", "file:///etc/passwd", "http://[::1"])
async def test_a_token_realm_that_redirects_nowhere_is_a_typed_error(location: str) -> None:
    def script(request: Request) -> Reply:
        if request.path.startswith("/token"):
            return Reply(302, {"Location": location}, b"")
        challenge = f'Bearer realm="http://{request.headers["host"]}/token",service="evil"'
        return Reply(401, {"WWW-Authenticate": challenge}, b"")

    with ScriptedServer(script) as server:
        async with provider(credentials=True) as registry:
            with pytest.raises(RegImageError) as caught:
                await registry.resolve(server.ref("evil/app:v1"))
    assert isinstance(caught.value, RegistryError | NetworkError), repr(caught.value)


async def test_a_trickling_registry_is_cut_off_by_the_callers_deadline() -> None:
    """One byte every 0.1 s never trips a 0.5 s read timeout: the caller's deadline ends it, and
    the half-read connection is dropped, not reused; the provider goes on working."""
    registry_script = MiniRegistry()
    manifest = _amd64_image(registry_script)
    registry_script.tags["v1"] = manifest.digest
    stop = threading.Event()

    def trickle(_: Request) -> Reply:
        def body() -> Iterator[bytes]:
            for i in range(manifest.size):
                if stop.wait(0.1):
                    return
                yield manifest.data[i : i + 1]

        headers = {
            "Content-Type": mediatypes.OCI_MANIFEST,
            "Docker-Content-Digest": manifest.digest,
        }
        return Reply(200, headers, body())

    registry_script.overrides["/v2/evil/app/manifests/slow"] = trickle
    with ScriptedServer(registry_script) as server:
        try:
            async with provider(timeout=0.5) as registry:
                with pytest.raises(TimeoutError), anyio.fail_after(0.8):
                    await registry.resolve(server.ref("evil/app:slow"))
                assert server.listener.wait_idle(5), "the trickling connection was kept"
                found = await registry.resolve(server.ref("evil/app:v1"))
                assert str(found.digest) == manifest.digest
        finally:
            stop.set()


async def test_a_huge_os_version_in_an_index_is_no_crash() -> None:
    """os.version is the registry's string: 5,000 digits must not reach int() (ValueError)."""
    registry_script = MiniRegistry()
    good = registry_script.add(manifest_blob(registry_script.add(config_blob("amd64", "windows"))))
    bad = registry_script.add(manifest_blob(registry_script.add(config_blob("amd64", "linux"))))
    windows = {"os": "windows", "architecture": "amd64"}
    entries = [
        bad.descriptor(platform={**windows, "os.version": "10.0." + "9" * 5000}),
        good.descriptor(platform={**windows, "os.version": "10.0.17763.1"}),
    ]
    registry_script.add(index_blob(entries), tag="v1")
    with ScriptedServer(registry_script) as server:
        async with provider() as registry:
            image = await Image.resolve(
                server.ref("evil/app:v1"), registry, platform="windows(10.0.17763)/amd64"
            )
            selected = await image.manifest()
    assert str(selected.digest) == good.digest


# ── a config and a manifest that disagree ─────────────────────────────────────────────────────────


@pytest.mark.parametrize(("layers", "diff_ids"), [(3, 1), (1, 3), (2, 0)])
async def test_a_config_whose_diff_ids_do_not_pair_with_the_layers_is_refused(
    layers: int, diff_ids: int
) -> None:
    registry_script = MiniRegistry()
    config = registry_script.add(config_blob("amd64", layers=diff_ids))
    manifest = registry_script.add(manifest_blob(config, layers=layers), tag="v1")
    with ScriptedServer(registry_script) as server:
        async with provider() as registry:
            image = await Image.resolve(server.ref("evil/app:v1"), registry)
            with pytest.raises(RootFSMismatch, match=f"lists {diff_ids} diff IDs for the {layers}"):
                await image.rootfs()
            with pytest.raises(RootFSMismatch):
                await image.chain_ids()
            size = await image.size()  # reads no config: unaffected
    assert size.layer_count == layers
    assert str(size.manifest_digest) == manifest.digest


async def test_every_platform_is_listed_when_none_is_this_machines() -> None:
    registry_script = MiniRegistry()
    entries = [
        registry_script.add(manifest_blob(registry_script.add(config_blob(arch)))).descriptor(
            platform={"os": "linux", "architecture": arch}
        )
        for arch in ("s390x", "ppc64le")
    ]
    registry_script.add(index_blob(entries), tag="v1")
    with ScriptedServer(registry_script) as server:
        async with provider() as registry:
            image = await Image.resolve(server.ref("evil/app:v1"), registry, platform="plan9/386")
            sizes = await image.platform_sizes()
    assert [str(e.platform) for e in sizes.platforms] == ["linux/s390x", "linux/ppc64le"]
    assert [str(e.digest) for e in sizes.platforms] == [e["digest"] for e in entries]
