"""RegistryProvider faults the real registry cannot produce on demand (pytest-httpx)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from contextlib import aclosing

import httpx
import pytest
from pytest_httpx import HTTPXMock

from regimage._version import __version__
from regimage.content.memory_cache import MemoryCache
from regimage.errors import (
    AuthenticationError,
    DigestMismatch,
    InvalidDocument,
    InvalidReference,
    NetworkError,
    NotFound,
    RateLimited,
    RegistryError,
    SizeLimitExceeded,
    SizeMismatch,
    UnsupportedMediaType,
)
from regimage.http.retry import RetryPolicy
from regimage.model import mediatypes
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.reference import Reference
from regimage.registry.client import MAX_MANIFEST_BYTES, RegistryProvider
from regimage.registry.credentials import Credentials, CredentialStore
from regimage.registry.preconnect import Pending, Preconnect
from regimage.registry.probe import Answer

pytestmark = pytest.mark.anyio

BASE = "https://r.test/v2/ns/app"
REF = "r.test/ns/app:v1"

MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {
            "mediaType": mediatypes.OCI_CONFIG,
            "digest": "sha256:" + "a" * 64,
            "size": 2,
        },
        "layers": [],
    },
    sort_keys=True,
).encode()
MANIFEST_DIGEST = Digest.of(MANIFEST)
BLOB = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
BLOB_DIGEST = Digest.of(BLOB)
BLOB_DESCRIPTOR = Descriptor(mediatypes.OCI_CONFIG, BLOB_DIGEST, len(BLOB))
SCHEMA1 = json.dumps({"schemaVersion": 1, "name": "ns/app", "tag": "v1", "fsLayers": []}).encode()


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class CountingStream(httpx.AsyncByteStream):
    def __init__(self, chunks: int, size: int = 64 * 1024) -> None:
        self.chunks = chunks
        self.size = size
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.read += self.size
            yield b" " * self.size


def make(
    sleep: SleepRecorder | None = None,
    credentials: Credentials | None = None,
    **kwargs: object,
) -> RegistryProvider:
    kwargs.setdefault("transport", httpx.AsyncHTTPTransport())  # what pytest-httpx mocks
    return RegistryProvider(
        credentials=CredentialStore(credentials, env={}, use_files=False),
        retry=RetryPolicy(sleep=sleep or SleepRecorder(), jitter=0.0),
        **kwargs,  # type: ignore[arg-type]
    )


def manifest_headers(
    digest: Digest | str | None = MANIFEST_DIGEST, media_type: str = mediatypes.OCI_MANIFEST
) -> dict[str, str]:
    headers = {"Content-Type": media_type}
    if digest is not None:
        headers["Docker-Content-Digest"] = str(digest)
    return headers


# ── resolve and manifests ──────────────────────────────────────────────────────────────────────────


async def test_resolve_then_fetch_is_one_request(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/manifests/v1", content=MANIFEST, headers=manifest_headers()
    )
    async with make() as registry:
        descriptor = await registry.resolve(REF)
        assert descriptor == Descriptor(mediatypes.OCI_MANIFEST, MANIFEST_DIGEST, len(MANIFEST))
        assert await registry.fetch_manifest(REF, descriptor) == MANIFEST
        assert await registry.repository(REF).fetch(descriptor) == MANIFEST
        assert registry.stats.as_dict() == {"manifest": 1}
    (request,) = httpx_mock.get_requests()
    assert request.headers["accept"] == ", ".join(mediatypes.MANIFEST_ACCEPT)
    assert request.headers["user-agent"] == f"regimage/{__version__}"


async def test_docker_hub_names_go_to_its_api_host(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url="https://registry-1.docker.io/v2/library/ubuntu/manifests/latest",
        content=MANIFEST,
        headers=manifest_headers(),
    )
    async with make() as registry:
        assert (await registry.resolve("ubuntu")).digest == MANIFEST_DIGEST


async def test_a_lying_docker_content_digest(httpx_mock: HTTPXMock) -> None:
    liar = "sha256:" + "b" * 64
    httpx_mock.add_response(
        url=f"{BASE}/manifests/v1", content=MANIFEST, headers=manifest_headers(liar)
    )
    async with make() as registry:
        with pytest.raises(DigestMismatch) as caught:
            await registry.resolve(REF)
    message = str(caught.value)
    assert f"header says {liar}, content hashes to {MANIFEST_DIGEST}" in message
    assert caught.value.expected == liar
    assert caught.value.actual == str(MANIFEST_DIGEST)


async def test_an_invalid_docker_content_digest(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/manifests/v1", content=MANIFEST, headers=manifest_headers("sha256:nope")
    )
    async with make() as registry:
        with pytest.raises(DigestMismatch, match="'sha256:nope' is not a valid digest"):
            await registry.resolve(REF)


async def test_a_missing_docker_content_digest_is_computed(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/manifests/v1", content=MANIFEST, headers=manifest_headers(None)
    )
    async with make() as registry:
        assert (await registry.resolve(REF)).digest == MANIFEST_DIGEST


async def test_by_digest_the_bytes_are_verified(httpx_mock: HTTPXMock) -> None:
    wanted = "sha256:" + "c" * 64
    httpx_mock.add_response(
        url=f"{BASE}/manifests/{wanted}", content=MANIFEST, headers=manifest_headers(None)
    )
    async with make() as registry:
        with pytest.raises(DigestMismatch) as caught:
            await registry.resolve(f"r.test/ns/app@{wanted}")
    assert f"expected {wanted}, got {MANIFEST_DIGEST}" in str(caught.value)


@pytest.mark.parametrize(
    "content_type",
    [mediatypes.DOCKER_SCHEMA1_SIGNED_MANIFEST, "application/json", "text/plain"],
)
async def test_schema1_is_refused_clearly(httpx_mock: HTTPXMock, content_type: str) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/manifests/v1", content=SCHEMA1, headers={"Content-Type": content_type}
    )
    async with make() as registry:
        with pytest.raises(UnsupportedMediaType, match=r"^legacy schema1 manifest; "):
            await registry.resolve(REF)


async def test_schema1_descriptors_are_refused_without_a_request() -> None:
    descriptor = Descriptor(mediatypes.DOCKER_SCHEMA1_MANIFEST, MANIFEST_DIGEST, 10)
    async with make() as registry:
        with pytest.raises(UnsupportedMediaType, match="legacy schema1"):
            await registry.fetch_manifest(REF, descriptor)


async def test_a_generic_content_type_lets_the_document_decide(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/manifests/v1",
        content=MANIFEST,
        headers=manifest_headers(None, "application/json"),
    )
    async with make() as registry:
        assert (await registry.resolve(REF)).media_type == mediatypes.OCI_MANIFEST


async def test_an_unknown_content_type_is_unsupported(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/manifests/v1", content=MANIFEST, headers={"Content-Type": "image/png"}
    )
    async with make() as registry:
        with pytest.raises(UnsupportedMediaType, match="image/png"):
            await registry.resolve(REF)


async def test_head_resolve(httpx_mock: HTTPXMock) -> None:
    headers = manifest_headers() | {"Content-Length": str(len(MANIFEST))}
    httpx_mock.add_response(method="HEAD", url=f"{BASE}/manifests/v1", headers=headers)
    async with make() as registry:
        descriptor = await registry.resolve(REF, head=True)
        assert descriptor == Descriptor(mediatypes.OCI_MANIFEST, MANIFEST_DIGEST, len(MANIFEST))
        assert registry.stats.as_dict() == {"manifest-head": 1}


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (405, {}),
        (200, {"Content-Type": mediatypes.OCI_MANIFEST, "Content-Length": "10"}),  # no digest
        (200, {"Docker-Content-Digest": str(MANIFEST_DIGEST), "Content-Length": "10"}),  # no type
    ],
)
async def test_head_falls_back_to_get(
    httpx_mock: HTTPXMock, status: int, headers: dict[str, str]
) -> None:
    httpx_mock.add_response(
        method="HEAD", url=f"{BASE}/manifests/v1", status_code=status, headers=headers
    )
    httpx_mock.add_response(
        method="GET", url=f"{BASE}/manifests/v1", content=MANIFEST, headers=manifest_headers()
    )
    async with make() as registry:
        descriptor = await registry.head_manifest(REF)
        assert descriptor.digest == MANIFEST_DIGEST
        assert registry.stats.as_dict() == {"manifest": 1, "manifest-head": 1}


async def test_head_404_is_not_found(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="HEAD", url=f"{BASE}/manifests/v1", status_code=404)
    async with make() as registry:
        with pytest.raises(NotFound, match=r"^tag 'v1' not found in r\.test/ns/app$"):
            await registry.resolve(REF, head=True)


async def test_not_found_names_tag_and_repository(httpx_mock: HTTPXMock) -> None:
    body = {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
    httpx_mock.add_response(url=f"{BASE}/manifests/v1", status_code=404, json=body)
    async with make() as registry:
        with pytest.raises(NotFound) as caught:
            await registry.resolve(REF)
    assert str(caught.value) == "tag 'v1' not found in r.test/ns/app"
    assert caught.value.reference == "r.test/ns/app:v1"
    assert caught.value.url == f"{BASE}/manifests/v1"


async def test_401_without_credentials(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/manifests/v1", status_code=401, headers={"WWW-Authenticate": 'Basic realm="r"'}
    )
    async with make() as registry:
        with pytest.raises(AuthenticationError) as caught:
            await registry.resolve(REF)
    assert "authentication required for r.test/ns/app" in str(caught.value)
    assert "--username/--password-stdin" in str(caught.value)


# ── retries ────────────────────────────────────────────────────────────────────────────────────────


async def test_429_retry_after_then_success(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/manifests/v1", status_code=429, headers={"Retry-After": "3"}
    )
    httpx_mock.add_response(
        url=f"{BASE}/manifests/v1", content=MANIFEST, headers=manifest_headers()
    )
    sleep = SleepRecorder()
    async with make(sleep) as registry:
        assert (await registry.resolve(REF)).digest == MANIFEST_DIGEST
        assert registry.stats.as_dict() == {"manifest": 2}
    assert sleep.delays == [3.0]


async def test_503_storm(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/manifests/v1", status_code=503, is_reusable=True)
    sleep = SleepRecorder()
    async with make(sleep) as registry:
        with pytest.raises(RegistryError) as caught:
            await registry.resolve(REF)
    assert str(caught.value) == (
        "r.test answered HTTP 503 Service Unavailable after 4 attempts for tag 'v1' in "
        "r.test/ns/app"
    )
    assert sleep.delays == [0.5, 1.0, 2.0]


async def test_429_storm_is_rate_limited(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/manifests/v1", status_code=429, headers={"Retry-After": "1"}, is_reusable=True
    )
    sleep = SleepRecorder()
    async with make(sleep) as registry:
        with pytest.raises(RateLimited) as caught:
            await registry.resolve(REF)
    assert "(HTTP 429 after 4 attempts)" in str(caught.value)
    assert caught.value.retry_after == 1.0
    assert sleep.delays == [1.0, 1.0, 1.0]


# ── bounded and verified reads ─────────────────────────────────────────────────────────────────────


async def test_a_truncated_manifest(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/manifests/v1",
        stream=CountingStream(chunks=1, size=100),
        headers=manifest_headers() | {"Content-Length": "5000"},
    )
    async with make() as registry:
        with pytest.raises(NetworkError, match="cut short: got 100 of the 5000 bytes"):
            await registry.resolve(REF)


async def test_an_oversized_manifest_is_not_read_whole(httpx_mock: HTTPXMock) -> None:
    body = CountingStream(chunks=1000)  # 64 MiB, no Content-Length
    httpx_mock.add_response(url=f"{BASE}/manifests/v1", stream=body, headers=manifest_headers())
    async with make() as registry:
        with pytest.raises(SizeLimitExceeded) as caught:
            await registry.resolve(REF)
    assert caught.value.limit == MAX_MANIFEST_BYTES == 4_194_304
    assert body.read <= MAX_MANIFEST_BYTES + body.size


async def test_a_declared_oversized_manifest_is_not_read_at_all(httpx_mock: HTTPXMock) -> None:
    body = CountingStream(chunks=100)
    httpx_mock.add_response(
        url=f"{BASE}/manifests/v1",
        stream=body,
        headers=manifest_headers() | {"Content-Length": str(100 * 64 * 1024)},
    )
    async with make(max_manifest_bytes=1024 * 1024) as registry:
        with pytest.raises(SizeLimitExceeded, match="over the 1048576-byte limit"):
            await registry.resolve(REF)
    assert body.read == 0


async def test_descriptors_over_the_cap_are_refused_without_a_request() -> None:
    big = Descriptor(mediatypes.OCI_MANIFEST, MANIFEST_DIGEST, MAX_MANIFEST_BYTES + 1)
    big_blob = Descriptor(mediatypes.OCI_CONFIG, BLOB_DIGEST, 17 * 1024 * 1024)
    async with make() as registry:
        with pytest.raises(SizeLimitExceeded):
            await registry.fetch_manifest(REF, big)
        with pytest.raises(SizeLimitExceeded):
            await registry.fetch_blob(REF, big_blob)


async def test_fetch_blob_verifies_and_caches(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/blobs/{BLOB_DIGEST}", content=BLOB)
    async with make() as registry:
        assert await registry.fetch_blob(REF, BLOB_DESCRIPTOR) == BLOB
        assert await registry.repository(REF).fetch(BLOB_DESCRIPTOR) == BLOB
        assert registry.stats.as_dict() == {"blob": 1}


@pytest.mark.parametrize(
    ("body", "error", "fragment"),
    [
        (BLOB[:-1] + b"!", DigestMismatch, "does not match its digest"),
        (BLOB + b" ", SizeMismatch, "but its descriptor says"),
        (BLOB[:-1], SizeMismatch, "but its descriptor says"),
    ],
)
async def test_fetch_blob_refuses_wrong_content(
    httpx_mock: HTTPXMock, body: bytes, error: type[Exception], fragment: str
) -> None:
    httpx_mock.add_response(url=f"{BASE}/blobs/{BLOB_DIGEST}", content=body)
    async with make() as registry:
        with pytest.raises(error, match=fragment):
            await registry.fetch_blob(REF, BLOB_DESCRIPTOR)


async def test_stream_blob(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/blobs/{BLOB_DIGEST}", content=BLOB)
    async with make() as registry, registry.stream_blob(REF, BLOB_DESCRIPTOR) as chunks:
        assert b"".join([chunk async for chunk in chunks]) == BLOB


async def test_stream_blob_raises_at_the_end_on_a_wrong_digest(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/blobs/{BLOB_DIGEST}", content=BLOB.upper())
    received = b""
    async with make() as registry, registry.stream_blob(REF, BLOB_DESCRIPTOR) as chunks:

        async def drain() -> None:
            nonlocal received
            async for chunk in chunks:
                received += chunk

        with pytest.raises(DigestMismatch, match="does not match its digest"):
            await drain()
    assert received == BLOB.upper()


async def test_head_blob(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="HEAD",
        url=f"{BASE}/blobs/{BLOB_DIGEST}",
        headers={"Content-Length": "77", "Docker-Content-Digest": str(BLOB_DIGEST)},
    )
    async with make() as registry:
        descriptor = await registry.head_blob(REF, str(BLOB_DIGEST))
        assert descriptor == Descriptor("application/octet-stream", BLOB_DIGEST, 77)
        assert registry.stats.as_dict() == {"blob-head": 1}


async def test_head_blob_not_found(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="HEAD", url=f"{BASE}/blobs/{BLOB_DIGEST}", status_code=404)
    async with make() as registry:
        with pytest.raises(NotFound, match=f"^blob {BLOB_DIGEST} not found in r.test/ns/app$"):
            await registry.head_blob(REF, BLOB_DIGEST)


# ── redirects ──────────────────────────────────────────────────────────────────────────────────────


async def test_a_cross_host_blob_redirect_carries_no_authorization(httpx_mock: HTTPXMock) -> None:
    cdn = "https://cdn.test/blobs/abc?X-Amz-Signature=sig-secret&X-Amz-Expires=300"
    httpx_mock.add_response(
        url=f"{BASE}/blobs/{BLOB_DIGEST}", status_code=307, headers={"Location": cdn}
    )
    httpx_mock.add_response(url=cdn, content=BLOB)
    async with make(credentials=Credentials(registry_token="registry-secret")) as registry:
        assert await registry.fetch_blob(REF, BLOB_DESCRIPTOR) == BLOB
        assert registry.stats.as_dict() == {"blob": 2}
    to_registry, to_cdn = httpx_mock.get_requests()
    assert to_registry.headers["authorization"] == "Bearer registry-secret"
    assert to_cdn.url.host == "cdn.test"
    assert "authorization" not in to_cdn.headers


async def test_a_cdn_error_does_not_show_the_signature(httpx_mock: HTTPXMock) -> None:
    cdn = "https://cdn.test/blobs/abc?X-Amz-Signature=sig-secret"
    httpx_mock.add_response(
        url=f"{BASE}/blobs/{BLOB_DIGEST}",
        status_code=307,
        headers={"Location": cdn},
        is_reusable=True,  # a 403 from the CDN is asked once more for a fresh signed URL
    )
    httpx_mock.add_response(
        url=cdn, status_code=403, text="AccessDenied sig-secret", is_reusable=True
    )
    async with make() as registry:
        with pytest.raises(AuthenticationError) as caught:
            await registry.fetch_blob(REF, BLOB_DESCRIPTOR)
    assert "sig-secret" not in str(caught.value)
    assert caught.value.url == "https://cdn.test/blobs/abc?X-Amz-Signature=[secure]"


async def test_a_redirect_loop(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/blobs/{BLOB_DIGEST}", status_code=302, headers={"Location": "/loop"}
    )
    httpx_mock.add_response(
        url="https://r.test/loop", status_code=302, headers={"Location": "/loop"}, is_reusable=True
    )
    async with make() as registry:
        with pytest.raises(RegistryError, match=r"too many redirects .* \(a redirect loop\?\)"):
            await registry.fetch_blob(REF, BLOB_DESCRIPTOR)


# ── lists ──────────────────────────────────────────────────────────────────────────────────────────


async def test_tags_follow_link_pagination(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/tags/list?n=2",
        json={"name": "ns/app", "tags": ["a", "b"]},
        headers={"Link": '</v2/ns/app/tags/list?last=b&n=2>; rel="next"'},
    )
    httpx_mock.add_response(
        url=f"{BASE}/tags/list?last=b&n=2", json={"name": "ns/app", "tags": ["c"]}
    )
    async with make() as registry:
        assert await registry.tags("r.test/ns/app", page_size=2) == ["a", "b", "c"]
        assert registry.stats.as_dict() == {"tags": 2}


async def test_tags_refuse_a_tag_in_the_repository_name() -> None:
    async with make() as registry:
        with pytest.raises(ValueError, match="without tag"):
            await registry.tags("r.test/ns/app:v1")


async def test_a_link_to_another_host_is_refused(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/tags/list",
        json={"tags": ["a"]},
        headers={"Link": '<https://evil.test/v2/ns/app/tags/list?last=a>; rel="next"'},
    )
    async with make() as registry:
        with pytest.raises(RegistryError, match="Link header points to another host"):
            await registry.tags("r.test/ns/app")


async def test_a_link_loop_is_refused(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/tags/list",
        json={"tags": ["a"]},
        headers={"Link": '</v2/ns/app/tags/list>; rel="next"'},
    )
    async with make() as registry:
        with pytest.raises(RegistryError, match="loops back"):
            await registry.tags("r.test/ns/app")


async def test_a_bad_tags_list(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/tags/list", json={"tags": "a"})
    async with make() as registry:
        with pytest.raises(InvalidDocument, match="must be a list of strings"):
            await registry.tags("r.test/ns/app")


async def test_catalog(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url="https://r.test/v2/_catalog?n=1000",
        json={"repositories": ["a", "b"]},
        headers={"Link": '</v2/_catalog?last=b&n=1000>; rel="next"'},
    )
    httpx_mock.add_response(
        url="https://r.test/v2/_catalog?last=b&n=1000", json={"repositories": None}
    )
    async with make() as registry:
        assert await registry.catalog("r.test") == ["a", "b"]
        assert registry.stats.as_dict() == {"catalog": 2}


async def test_tag_pages_and_catalog_pages_ask_for_a_page_when_it_is_taken(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/tags/list?n=2",
        json={"tags": ["a", "b"]},
        headers={"Link": '</v2/ns/app/tags/list?n=2&last=b>; rel="next"'},
    )
    httpx_mock.add_response(url=f"{BASE}/tags/list?n=2&last=b", json={"tags": ["c"]})
    httpx_mock.add_response(
        url="https://r.test/v2/_catalog?n=1",
        json={"repositories": ["x"]},
        headers={"Link": '</v2/_catalog?last=x&n=1>; rel="next"'},
    )
    async with make() as registry:
        async with aclosing(registry.tag_pages("r.test/ns/app", page_size=2)) as pages:
            assert await anext(pages) == ["a", "b"]
            assert registry.stats.as_dict() == {"tags": 1}  # the next page: not yet
            assert [page async for page in pages] == [["c"]]
            assert registry.stats.as_dict() == {"tags": 2}
        async with aclosing(registry.catalog_pages("r.test", page_size=1)) as names:
            assert await anext(names) == ["x"]
        # closed after the first page: the second was never asked for
        assert registry.stats.as_dict() == {"tags": 2, "catalog": 1}


# ── referrers ──────────────────────────────────────────────────────────────────────────────────────


def _referrer(artifact_type: str, digest: str) -> dict[str, object]:
    return {
        "mediaType": mediatypes.OCI_MANIFEST,
        "digest": digest,
        "size": 500,
        "artifactType": artifact_type,
    }


REFERRERS_INDEX = {
    "schemaVersion": 2,
    "mediaType": mediatypes.OCI_INDEX,
    "manifests": [
        _referrer("application/spdx+json", "sha256:" + "1" * 64),
        _referrer("application/vnd.dev.cosign", "sha256:" + "2" * 64),
    ],
}


async def test_referrers_api(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/referrers/{MANIFEST_DIGEST}",
        json=REFERRERS_INDEX,
        headers={"Content-Type": mediatypes.OCI_INDEX},
    )
    async with make() as registry:
        found = await registry.referrers(REF, MANIFEST_DIGEST)
        assert [d.artifact_type for d in found] == [
            "application/spdx+json",
            "application/vnd.dev.cosign",
        ]
        assert registry.stats.as_dict() == {"referrers": 1}
    (request,) = httpx_mock.get_requests()
    assert request.headers["accept"] == mediatypes.OCI_INDEX


async def test_referrers_api_filter(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/referrers/{MANIFEST_DIGEST}?artifactType=application%2Fspdx%2Bjson",
        json=REFERRERS_INDEX,  # a registry that ignores the filter: we apply it
    )
    async with make() as registry:
        found = await registry.referrers(REF, MANIFEST_DIGEST, "application/spdx+json")
    assert [str(d.digest) for d in found] == ["sha256:" + "1" * 64]


async def test_referrers_fall_back_to_the_tag(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/referrers/{MANIFEST_DIGEST}", status_code=404, text="404 page not found"
    )
    body = json.dumps(REFERRERS_INDEX).encode()
    httpx_mock.add_response(
        url=f"{BASE}/manifests/sha256-{MANIFEST_DIGEST.encoded}",
        content=body,
        headers={"Content-Type": mediatypes.OCI_INDEX},
    )
    async with make() as registry:
        found = await registry.referrers(REF, MANIFEST_DIGEST)
        assert len(found) == 2
        assert registry.stats.as_dict() == {"manifest": 1, "referrers": 1}


async def test_referrers_fallback_without_a_tag_is_empty(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/referrers/{MANIFEST_DIGEST}", status_code=404)
    httpx_mock.add_response(
        url=f"{BASE}/manifests/sha256-{MANIFEST_DIGEST.encoded}",
        status_code=404,
        json={"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]},
    )
    async with make() as registry:
        assert await registry.referrers(REF, MANIFEST_DIGEST) == []


async def test_referrers_of_a_missing_repository(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/referrers/{MANIFEST_DIGEST}", status_code=404)
    httpx_mock.add_response(
        url=f"{BASE}/manifests/sha256-{MANIFEST_DIGEST.encoded}",
        status_code=404,
        json={"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known"}]},
    )
    async with make() as registry:
        with pytest.raises(NotFound, match=r"^repository r\.test/ns/app not found$"):
            await registry.referrers(REF, MANIFEST_DIGEST)


async def test_the_fallback_tag_is_truncated(httpx_mock: HTTPXMock) -> None:
    digest = Digest.of(b"x", "sha512")
    httpx_mock.add_response(url=f"{BASE}/referrers/{digest}", status_code=404)
    httpx_mock.add_response(
        url=re.compile(re.escape(f"{BASE}/manifests/") + ".*"),
        status_code=404,
    )
    async with make() as registry:
        assert await registry.referrers(REF, digest) == []
    fallback = httpx_mock.get_requests()[1]
    assert fallback.url.path == f"/v2/ns/app/manifests/sha512-{digest.encoded[:64]}"


# ── schemes ────────────────────────────────────────────────────────────────────────────────────────


async def test_loopback_falls_back_to_plain_http_once(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(
        httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number"),
        url="https://127.0.0.1:5000/v2/ns/app/manifests/v1",
    )
    httpx_mock.add_response(
        url="http://127.0.0.1:5000/v2/ns/app/manifests/v1",
        content=MANIFEST,
        headers=manifest_headers(),
    )
    httpx_mock.add_response(
        url=f"http://127.0.0.1:5000/v2/ns/app/blobs/{BLOB_DIGEST}", content=BLOB
    )
    async with make() as registry:
        await registry.resolve("127.0.0.1:5000/ns/app:v1")
        await registry.fetch_blob("127.0.0.1:5000/ns/app", BLOB_DESCRIPTOR)
    assert [r.url.scheme for r in httpx_mock.get_requests()] == ["https", "http", "http"]


async def test_a_certificate_error_does_not_fall_back(httpx_mock: HTTPXMock) -> None:
    error = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    httpx_mock.add_exception(error, url="https://127.0.0.1:5000/v2/ns/app/manifests/v1")
    async with make() as registry:
        with pytest.raises(NetworkError, match="certificate verify failed; pass --ca-file"):
            await registry.resolve("127.0.0.1:5000/ns/app:v1")


async def test_no_fallback_for_other_hosts(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(
        httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number"),
        url=f"{BASE}/manifests/v1",
    )
    async with make() as registry:
        with pytest.raises(NetworkError, match="pass --plain-http"):
            await registry.resolve(REF)


@pytest.mark.parametrize("plain_http", [True, ["r.test"]])
async def test_plain_http_when_asked(httpx_mock: HTTPXMock, plain_http: object) -> None:
    httpx_mock.add_response(
        url="http://r.test/v2/ns/app/manifests/v1", content=MANIFEST, headers=manifest_headers()
    )
    async with make(plain_http=plain_http) as registry:
        assert (await registry.resolve(REF)).digest == MANIFEST_DIGEST


# ── odds and ends ──────────────────────────────────────────────────────────────────────────────────


def test_a_username_needs_a_password() -> None:
    with pytest.raises(AuthenticationError, match="a username needs a password"):
        RegistryProvider(username="bob")


def test_memory_cache_is_bounded_lru() -> None:
    cache = MemoryCache(max_bytes=10)
    cache.put("a", b"1234")
    cache.put("b", b"1234")
    assert cache.get("a") == b"1234"  # a is now the most recent
    cache.put("c", b"1234")  # evicts b
    assert cache.get("b") is None
    assert cache.get("a") == b"1234"
    cache.put("huge", b"x" * 11)
    assert cache.get("huge") is None
    assert len(cache) == 2


async def test_the_cache_is_per_repository(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/blobs/{BLOB_DIGEST}", content=BLOB)
    httpx_mock.add_response(url=f"https://r.test/v2/ns/other/blobs/{BLOB_DIGEST}", content=BLOB)
    async with make() as registry:
        await registry.fetch_blob(REF, BLOB_DESCRIPTOR)
        await registry.fetch_blob("r.test/ns/other:v1", BLOB_DESCRIPTOR)
        assert registry.stats["blob"] == 2


async def test_repr_and_digest_of_helpers() -> None:
    async with make() as registry:
        assert repr(registry) == "<RegistryProvider(requests=0)>"
        assert repr(registry.repository(REF)) == "<Repository('r.test/ns/app')>"
    assert hashlib.sha256(MANIFEST).hexdigest() == MANIFEST_DIGEST.encoded


async def test_cookies_are_never_kept_nor_sent(httpx_mock: HTTPXMock) -> None:
    """A registry (or its CDN) that sets a cookie gets nothing back: regimage keeps no state
    a server chose, and does not spend CPU parsing it."""
    digest = "sha256:" + hashlib.sha256(b"{}").hexdigest()
    httpx_mock.add_response(
        url="https://registry.test/v2/app/manifests/v1",
        headers={
            "Content-Type": "application/vnd.oci.image.manifest.v1+json",
            "Docker-Content-Digest": digest,
            "Set-Cookie": "session=abc; Path=/; Domain=registry.test",
        },
        content=b"{}",
        is_reusable=True,
    )
    async with RegistryProvider(
        transport=httpx.AsyncHTTPTransport(), credentials=CredentialStore(env={}, use_files=False)
    ) as registry:
        await registry.resolve("registry.test/app:v1")
        await registry.resolve("registry.test/app:v1")
    for request in httpx_mock.get_requests():
        assert "cookie" not in request.headers


# ── what the command line's start-up thread learned (regimage.registry.preconnect) ─────────────────────


def answered_at_start_up(status: int, *challenges: str) -> Preconnect:
    """As if preconnect's thread had asked ``GET https://r.test/v2/`` and been answered so."""
    early = Preconnect()
    pending = Pending("r.test", 443, tls=True)
    pending.answer = Answer(status, challenges)
    pending._done.set()
    early._probes[("r.test", 443, True)] = pending
    return early


BEARER = 'Bearer realm="https://auth.r.test/token",service="r.test"'


async def resolve_with_a_token(httpx_mock: HTTPXMock, early: Preconnect) -> list[httpx.Request]:
    """Resolve REF where the token server gives ``t`` and the manifest then comes: the requests."""
    httpx_mock.add_response(url=re.compile(r"https://auth\.r\.test/token.*"), json={"token": "t"})
    httpx_mock.add_response(
        url=f"{BASE}/manifests/v1", content=MANIFEST, headers=manifest_headers()
    )
    try:
        async with make(preconnect=early) as registry:
            assert (await registry.resolve(REF)).digest == MANIFEST_DIGEST
    finally:
        early.close()
    return httpx_mock.get_requests()


async def test_a_challenge_learned_at_start_up_spares_the_401(httpx_mock: HTTPXMock) -> None:
    early = answered_at_start_up(401, BEARER)
    token, manifest = await resolve_with_a_token(httpx_mock, early)  # no 401 first
    assert token.url.host == "auth.r.test"
    assert manifest.headers["authorization"] == "Bearer t"


async def test_an_open_v2_at_start_up_still_meets_a_repository_that_wants_a_token(
    httpx_mock: HTTPXMock,
) -> None:
    early = answered_at_start_up(200)
    httpx_mock.add_response(
        url=f"{BASE}/manifests/v1", status_code=401, headers={"WWW-Authenticate": BEARER}
    )
    requests = await resolve_with_a_token(httpx_mock, early)
    assert [r.url.host for r in requests] == ["r.test", "auth.r.test", "r.test"]


async def test_a_port_out_of_range_is_reported_not_raised_by_the_start_up_lookup(
    httpx_mock: HTTPXMock,
) -> None:
    """The grammar lets a port have any digits; looking for a start-up answer must not trip.
    Since issue #17 such a reference is an invalid reference, refused before the lookup and
    before any request, whether parsed or built by hand (tests/test_hostile_hosts.py)."""
    async with make(preconnect=Preconnect()) as registry:
        with pytest.raises(InvalidReference, match="port 99999"):
            await registry.resolve("r.test:99999/ns/app:v1")
        with pytest.raises(InvalidReference, match="port 99999"):
            await registry.resolve(Reference("r.test:99999", "ns/app", "v1"))
    assert httpx_mock.get_requests() == []
