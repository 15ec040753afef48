"""RegistryProvider.read_blob_range against loopback registries of our own: one ranged GET, the
206 checked, redirects followed without Authorization, and a registry that ignores Range cut off
after a small bound (the layer unknown, never downloaded)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator

import pytest

from regimage.errors import DigestMismatch, SizeLimitExceeded, SizeMismatch
from regimage.http.retry import RetryPolicy
from regimage.image.image import Image
from regimage.model import mediatypes
from regimage.model.byte_range import ByteRange
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.layer_size import ESTIMATE, UNKNOWN
from regimage.registry.client import RANGE_FALLBACK_BYTES, RegistryProvider
from regimage.registry.credentials import Credentials, CredentialStore
from tests.faults.documents import Blob, MiniRegistry
from tests.faults.server import Reply, Request, ScriptedServer
from tests.lab import builder as b

pytestmark = pytest.mark.anyio

USER, PASSWORD = "ranger", "range-test-password-7d2e"
CHUNK = 64 * 1024
BIG = 64 * 1024 * 1024
LAYER = b.layer([("etc/hello", b"hello\n" * 100)])
LAYER_DESCRIPTOR = Descriptor(
    LAYER.blob.media_type, Digest.parse(LAYER.blob.digest), LAYER.blob.size
)
_RECEIVED = re.compile(r"^GET (\S+) (\d+) (\d+) B ")


async def no_sleep(delay: float) -> None:
    """Retries never wait here."""


def provider(*, credentials: bool = False) -> RegistryProvider:
    store = CredentialStore(
        Credentials(USER, PASSWORD) if credentials else None, env={}, use_files=False
    )
    return RegistryProvider(
        credentials=store, plain_http=True, retry=RetryPolicy(sleep=no_sleep), timeout=10.0
    )


def endless(prefix: bytes = b"") -> Iterator[bytes]:
    """A body of 1 GiB, made only as far as it is read."""
    yield prefix
    for _ in range(1024 * 1024 * 1024 // CHUNK):
        yield b"\0" * CHUNK


def ranged(data: bytes) -> Callable[[Request], Reply]:
    """A blob answer that honours ``Range`` (206 + Content-Range), as Distribution does."""

    def answer(request: Request) -> Reply:
        header = request.headers.get("range")
        if header is None:
            return Reply(200, {"Content-Type": "application/octet-stream"}, data)
        byte_range = ByteRange.parse(header)
        first, end = byte_range.bounds(len(data))
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"bytes {first}-{end - 1}/{len(data)}",
        }
        return Reply(206, headers, data[first:end])

    return answer


def blob_path(descriptor: Descriptor) -> str:
    return f"/v2/ns/app/blobs/{descriptor.digest}"


def received(caplog: pytest.LogCaptureFixture, path_part: str) -> list[int]:
    return [
        int(match[3])
        for record in caplog.records
        if (match := _RECEIVED.match(record.getMessage())) and path_part in match[1]
    ]


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="regimage")
    return caplog


# ── ranges answered ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "byte_range", [ByteRange.last(4), ByteRange.first(64), ByteRange.first(18, start=20)]
)
async def test_a_range_is_one_request_and_its_bytes(byte_range: ByteRange) -> None:
    script = MiniRegistry(overrides={blob_path(LAYER_DESCRIPTOR): ranged(LAYER.blob.data)})
    with ScriptedServer(script) as server:
        async with provider() as registry:
            got = await registry.read_blob_range(server.ref("ns/app"), LAYER_DESCRIPTOR, byte_range)
            assert registry.stats.as_dict() == {"blob-range": 1}
    assert got == byte_range.slice(LAYER.blob.data)
    [request] = [r for r in server.requests if "/blobs/" in r.path]
    assert request.headers["range"] == byte_range.header()
    assert request.headers["accept-encoding"] == "identity"


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (416, {"Content-Range": f"bytes */{LAYER.blob.size}"}),
        (206, {}),  # no Content-Range: which bytes are these?
        (206, {"Content-Range": f"bytes 0-3/{LAYER.blob.size}"}),  # not the range asked
        (206, {"Content-Range": "bytes 0-3/4", "Content-Encoding": "gzip"}),
    ],
)
async def test_an_answer_that_is_not_the_range_asked_gives_none(
    status: int, headers: dict[str, str]
) -> None:
    script = MiniRegistry(
        overrides={blob_path(LAYER_DESCRIPTOR): lambda _: Reply(status, headers, b"\0\0\0\0")}
    )
    with ScriptedServer(script) as server:
        async with provider() as registry:
            got = await registry.read_blob_range(
                server.ref("ns/app"), LAYER_DESCRIPTOR, ByteRange.last(4)
            )
    assert got is None


async def test_a_content_range_of_another_size_is_a_size_mismatch() -> None:
    headers = {"Content-Range": f"bytes 96-99/{LAYER.blob.size + 1}"}
    script = MiniRegistry(
        overrides={blob_path(LAYER_DESCRIPTOR): lambda _: Reply(206, headers, b"\0\0\0\0")}
    )
    with ScriptedServer(script) as server:
        async with provider() as registry:
            with pytest.raises(SizeMismatch, match=r"\(Content-Range\) but its descriptor says"):
                await registry.read_blob_range(
                    server.ref("ns/app"), LAYER_DESCRIPTOR, ByteRange.last(4)
                )


async def test_a_206_longer_than_the_range_is_refused() -> None:
    headers = {"Content-Range": f"bytes {LAYER.blob.size - 4}-{LAYER.blob.size - 1}/*"}
    script = MiniRegistry(
        overrides={blob_path(LAYER_DESCRIPTOR): lambda _: Reply(206, headers, endless())}
    )
    with ScriptedServer(script) as server:
        async with provider() as registry:
            with pytest.raises(SizeLimitExceeded, match="larger than the 4-byte limit"):
                await registry.read_blob_range(
                    server.ref("ns/app"), LAYER_DESCRIPTOR, ByteRange.last(4)
                )
    assert server.sent < 32 * 1024 * 1024


# ── a registry that ignores Range ──────────────────────────────────────────────────────────────────


async def test_a_whole_small_blob_is_read_verified_and_sliced() -> None:
    script = MiniRegistry([Blob(LAYER.blob.media_type, LAYER.blob.data)])  # 200, Range ignored
    with ScriptedServer(script) as server:
        async with provider() as registry:
            got = await registry.read_blob_range(
                server.ref("ns/app"), LAYER_DESCRIPTOR, ByteRange.last(4)
            )
    assert got == LAYER.blob.data[-4:]


async def test_a_whole_small_blob_is_checked_against_its_digest() -> None:
    lying = Descriptor(LAYER.blob.media_type, Digest.of(b"other"), LAYER.blob.size)
    script = MiniRegistry(overrides={blob_path(lying): lambda _: Reply(200, {}, LAYER.blob.data)})
    with ScriptedServer(script) as server:
        async with provider() as registry:
            with pytest.raises(DigestMismatch):
                await registry.read_blob_range(server.ref("ns/app"), lying, ByteRange.last(4))


async def test_the_last_bytes_of_a_big_layer_are_never_downloaded(
    debug_log: pytest.LogCaptureFixture,
) -> None:
    big = Descriptor(mediatypes.OCI_LAYER_GZIP, Digest.of(b"big layer"), BIG)
    script = MiniRegistry(overrides={blob_path(big): lambda _: Reply(200, {}, endless())})
    with ScriptedServer(script) as server:
        async with provider() as registry:
            got = await registry.read_blob_range(server.ref("ns/app"), big, ByteRange.last(4))
        assert server.listener.wait_idle(5)
    assert got is None
    assert all(n <= RANGE_FALLBACK_BYTES + CHUNK for n in received(debug_log, "/blobs/"))
    assert server.sent < 32 * 1024 * 1024  # what the sockets buffered, of 1 GiB offered


async def test_the_first_bytes_of_a_big_layer_are_read_and_the_rest_left(
    debug_log: pytest.LogCaptureFixture,
) -> None:
    big = Descriptor(mediatypes.OCI_LAYER_ZSTD, Digest.of(b"big layer"), BIG)
    head = bytes(range(64))
    script = MiniRegistry(overrides={blob_path(big): lambda _: Reply(200, {}, endless(head))})
    with ScriptedServer(script) as server:
        async with provider() as registry:
            got = await registry.read_blob_range(server.ref("ns/app"), big, ByteRange.first(64))
            later = await registry.read_blob_range(
                server.ref("ns/app"), big, ByteRange.first(64, start=RANGE_FALLBACK_BYTES)
            )
        assert server.listener.wait_idle(5)
    assert got == head
    assert later is None  # past the bound: not read
    assert all(n <= RANGE_FALLBACK_BYTES + CHUNK for n in received(debug_log, "/blobs/"))
    assert server.sent < 32 * 1024 * 1024


# ── redirects ──────────────────────────────────────────────────────────────────────────────────────


async def test_a_range_follows_a_redirect_to_storage_without_authorization() -> None:
    storage = ScriptedServer(ranged(LAYER.blob.data))

    def registry_script(request: Request) -> Reply:
        if request.authorization is None:
            return Reply(401, {"WWW-Authenticate": 'Basic realm="range-test"'}, b"")
        if "/blobs/" in request.path:
            location = f"{storage.base_url}/store/layer?X-Amz-Signature=sig"
            return Reply(307, {"Location": location}, b"")
        return Reply(200, {"Content-Type": "application/json"}, b"{}")

    with storage, ScriptedServer(registry_script) as server:
        async with provider(credentials=True) as registry:
            got = await registry.read_blob_range(
                server.ref("ns/app"), LAYER_DESCRIPTOR, ByteRange.last(4)
            )
    assert got == LAYER.blob.data[-4:]
    [to_storage] = storage.requests
    assert to_storage.authorization is None
    assert to_storage.headers["range"] == "bytes=-4"
    assert any(r.authorization and "/blobs/" in r.path for r in server.requests)


# ── Image.unpacked_size over a registry that ignores Range ────────────────────────────────────────


def _incompressible(size: int) -> bytes:
    out = b""
    seed = b"regimage"
    while len(out) < size:
        seed = Digest.of(seed).encoded.encode()
        out += bytes.fromhex(seed.decode())
    return out[:size]


async def test_unpacked_size_over_a_registry_that_ignores_range(
    debug_log: pytest.LogCaptureFixture,
) -> None:
    big_gzip = b.layer([("opt/big.bin", _incompressible(200_000))])
    big_zstd = b.zstd_layer([("opt/big.bin", _incompressible(200_000))])
    small = b.layer([("etc/small", b"small\n")])
    layers = [big_gzip, big_zstd, small]
    history = [(f"ADD {i}", False) for i in range(3)]
    config = b.config_blob(b.image_config(b.Platform("linux", "amd64"), layers, history))
    manifest = b.manifest(config, layers, platform=b.Platform("linux", "amd64"))
    blobs = [Blob(x.media_type, x.data) for x in (manifest.doc, config, *(y.blob for y in layers))]
    script = MiniRegistry(blobs, {"v1": manifest.doc.digest})  # every blob: 200, Range ignored
    assert big_gzip.blob.size > RANGE_FALLBACK_BYTES
    with ScriptedServer(script) as server:
        async with provider() as registry:
            image = await Image.resolve(server.ref("ns/app:v1"), registry)
            result = await image.unpacked_size()
        assert server.listener.wait_idle(5)
    assert [x.status for x in result.layers] == [UNKNOWN, ESTIMATE, ESTIMATE]
    assert "ignores Range" in result.layers[0].note
    assert [x.unpacked for x in result.layers[1:]] == [big_zstd.unpacked_size, small.unpacked_size]
    assert (result.unknown, result.total) == (
        1,
        (big_zstd.unpacked_size or 0) + (small.unpacked_size or 0),
    )
    for layer in (big_gzip, big_zstd):  # neither read whole
        [read] = received(debug_log, layer.blob.digest)
        assert read <= RANGE_FALLBACK_BYTES + CHUNK < layer.blob.size
