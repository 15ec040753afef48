"""Reading content from a registry: manifests and indexes by tag or digest, and blobs by digest.

Everything read is bounded and verified (:mod:`regimage.registry.verify`): manifests against their
digest (a tag against ``Docker-Content-Digest`` when the registry sends one), blobs against
descriptor size and digest. The last manifests and blobs read are cached by digest, so that
resolving a tag and then reading its manifest costs one request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import cast

import httpx

import regimage.model.mediatypes as mediatypes
from regimage.content.cache import ContentCache
from regimage.errors import (
    DigestMismatch,
    InvalidDigest,
    RegistryError,
    SizeMismatch,
    UnsupportedMediaType,
)
from regimage.http.bounded import read_bounded
from regimage.http.error_mapping import transport_errors
from regimage.http.redaction import redact_url
from regimage.http.status import raise_for_status
from regimage.model.byte_range import ByteRange
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.reference import Reference
from regimage.registry.session import RegistrySession
from regimage.registry.verify import (
    SCHEMA1_HINT,
    base_type,
    check_size,
    claimed_digest,
    media_type_of,
    verified_chunks,
    verify_digest,
)

__all__ = ["Fetcher"]

logger = logging.getLogger("regimage")


def _accept(media_type: str | None = None) -> str:
    types = list(mediatypes.MANIFEST_ACCEPT)
    if media_type and media_type not in types:
        types.insert(0, media_type)
    return ", ".join(types)


def _cache_key(ref: Reference, digest: Digest) -> str:
    return f"{ref.api_host}/{ref.path}@{digest}"


def _subject(ref: Reference, identifier: str | None = None) -> str:
    """How a manifest request is named in messages: ``tag 'latest'`` or ``manifest sha256:…``."""
    identifier = identifier or ref.identifier
    if ":" in identifier:
        return f"manifest {identifier}"
    return f"tag {identifier!r}"


class Fetcher:
    """Reads manifests (at most ``max_manifest`` bytes) and blobs (``max_blob`` when read whole)
    through ``session``, keeping what it read in ``cache``."""

    def __init__(
        self, session: RegistrySession, cache: ContentCache, *, max_manifest: int, max_blob: int
    ) -> None:
        self._session = session
        self._cache = cache
        self._max_manifest = max_manifest
        self._max_blob = max_blob

    # ── manifests ─────────────────────────────────────────────────────────────────────────────────

    async def resolve(self, ref: Reference, *, head: bool = False) -> Descriptor:
        """See ``RegistryProvider.resolve``."""
        if head:
            found = await self._head_manifest(ref)
            if found is not None:
                return found
        descriptor, _ = await self.get_manifest(ref, None)
        return descriptor

    async def _head_manifest(self, ref: Reference) -> Descriptor | None:
        response = await self._session.open(
            "HEAD",
            ref.api_host,
            f"/v2/{ref.path}/manifests/{ref.identifier}",
            operation="manifest-head",
            reference=str(ref),
            headers={"Accept": _accept()},
        )
        try:
            if response.status_code in (400, 405, 501):
                return None  # no HEAD here: GET will do
            await raise_for_status(
                response, subject=_subject(ref), repository=ref.name, reference=str(ref)
            )
        finally:
            await response.aclose()
        media_type = base_type(response.headers.get("content-type"))
        digest_text = response.headers.get("docker-content-digest")
        length = response.headers.get("content-length")
        if not digest_text or not length or not length.isdigit():
            return None
        if not (mediatypes.is_index(media_type) or mediatypes.is_manifest(media_type)):
            return None  # generic or schema1: the body decides
        try:
            digest = Digest.parse(digest_text)
        except InvalidDigest:
            return None
        if ref.digest is not None and digest != ref.digest:
            return None  # inconsistent: fetch and verify
        return Descriptor(media_type, digest, int(length))

    async def get_manifest(
        self, ref: Reference, expected: Descriptor | None
    ) -> tuple[Descriptor, bytes]:
        """GET a manifest by tag, by digest, or as ``expected`` describes it; verify and cache."""
        identifier = str(expected.digest) if expected is not None else ref.identifier
        subject = _subject(ref, identifier)
        response = await self._session.open(
            "GET",
            ref.api_host,
            f"/v2/{ref.path}/manifests/{identifier}",
            operation="manifest",
            reference=str(ref),
            headers={"Accept": _accept(expected.media_type if expected else None)},
        )
        try:
            await raise_for_status(
                response, subject=subject, repository=ref.name, reference=str(ref)
            )
        except BaseException:
            await response.aclose()
            raise
        data = await read_bounded(
            response,
            self._max_manifest,
            what=subject,
            expected_size=expected.size if expected is not None else None,
            reference=str(ref),
        )
        url = redact_url(response.request.url)
        if expected is not None:
            verify_digest(expected.digest, data, f"{subject} of {ref.name}", url, str(ref))
            descriptor = expected
        else:
            media_type = media_type_of(data, response.headers.get("content-type"), ref)
            digest = claimed_digest(data, response, ref, subject, url)
            descriptor = Descriptor(media_type, digest, len(data))
        self._cache.put(_cache_key(ref, descriptor.digest), data)
        return descriptor, data

    async def fetch_manifest(self, ref: Reference, descriptor: Descriptor) -> bytes:
        """See ``RegistryProvider.fetch_manifest``."""
        if mediatypes.is_schema1(descriptor.media_type):
            raise UnsupportedMediaType(f"{SCHEMA1_HINT} ({ref})", media_type=descriptor.media_type)
        check_size(descriptor, self._max_manifest, str(ref))
        cached = self._cache.get(_cache_key(ref, descriptor.digest))
        if cached is not None and len(cached) == descriptor.size:
            return cached
        _, data = await self.get_manifest(ref, descriptor)
        return data

    # ── blobs ─────────────────────────────────────────────────────────────────────────────────────

    async def fetch_blob(self, ref: Reference, descriptor: Descriptor) -> bytes:
        """See ``RegistryProvider.fetch_blob``."""
        check_size(descriptor, self._max_blob, str(ref))
        key = _cache_key(ref, descriptor.digest)
        cached = self._cache.get(key)
        if cached is not None and len(cached) == descriptor.size:
            return cached
        subject = f"blob {descriptor.digest}"
        response = await self._open_blob("GET", ref, descriptor.digest)
        data = await read_bounded(
            response,
            self._max_blob,
            what=subject,
            expected_size=descriptor.size,
            reference=str(ref),
        )
        url = redact_url(response.request.url)
        verify_digest(descriptor.digest, data, f"{subject} of {ref.name}", url, str(ref))
        self._cache.put(key, data)
        return data

    async def _open_blob(
        self, method: str, ref: Reference, digest: Digest, *, open_ended: bool = False
    ) -> httpx.Response:
        """GET or HEAD a blob; return the 2xx answer unread, or raise what the error means.
        ``open_ended``: a stream, which the deadline of a document's exchange does not cut."""
        response = await self._session.open(
            method,
            ref.api_host,
            f"/v2/{ref.path}/blobs/{digest}",
            open_ended=open_ended,
            operation="blob" if method == "GET" else "blob-head",
            reference=str(ref),
        )
        try:
            await raise_for_status(
                response, subject=f"blob {digest}", repository=ref.name, reference=str(ref)
            )
        except BaseException:
            await response.aclose()
            raise
        return response

    @asynccontextmanager
    async def stream_blob(
        self, ref: Reference, descriptor: Descriptor
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """See ``RegistryProvider.stream_blob``."""
        response = await self._open_blob("GET", ref, descriptor.digest, open_ended=True)
        chunks = verified_chunks(response, descriptor, ref)
        try:
            yield chunks
        finally:
            await chunks.aclose()
            await response.aclose()

    async def head_blob(self, ref: Reference, wanted: Digest) -> Descriptor:
        """See ``RegistryProvider.head_blob``."""
        response = await self._open_blob("HEAD", ref, wanted)
        await response.aclose()
        length = response.headers.get("content-length", "")
        url = redact_url(response.request.url)
        if not length.isdigit():
            raise RegistryError(
                f"blob {wanted} of {ref.name}: the registry's answer has no Content-Length",
                url=url,
                reference=str(ref),
            )
        claimed = response.headers.get("docker-content-digest")
        if claimed is not None and claimed.strip() != str(wanted):
            raise DigestMismatch(
                f"blob {wanted} of {ref.name}: the registry answered for {claimed.strip()}",
                expected=str(wanted),
                actual=claimed.strip(),
                url=url,
                reference=str(ref),
            )
        media_type = base_type(response.headers.get("content-type")) or "application/octet-stream"
        return Descriptor(media_type, wanted, int(length))

    # ── parts of blobs ────────────────────────────────────────────────────────────────────────────

    async def read_blob_range(
        self, ref: Reference, descriptor: Descriptor, byte_range: ByteRange, *, limit: int
    ) -> bytes | None:
        """See ``RegistryProvider.read_blob_range``."""
        first, end = byte_range.bounds(descriptor.size)
        if first == end:
            return b""
        response = await self._session.open(
            "GET",
            ref.api_host,
            f"/v2/{ref.path}/blobs/{descriptor.digest}",
            operation="blob-range",
            reference=str(ref),
            headers={"Range": byte_range.header(), "Accept-Encoding": "identity"},
        )
        subject = f"blob {descriptor.digest}"
        try:
            if response.status_code == 416:  # Range Not Satisfiable: not the blob we think
                logger.debug("%s of %s: 416 for %s", subject, ref.name, byte_range)
                return None
            await raise_for_status(
                response, subject=subject, repository=ref.name, reference=str(ref)
            )
            if response.headers.get("content-encoding", "identity").strip() != "identity":
                return None  # a range of an encoded body is not a range of the blob
            if response.status_code == 206:
                return await self._partial(ref, descriptor, byte_range, response)
            if response.status_code == 200:
                return await self._whole(ref, descriptor, byte_range, response, limit)
            return None
        finally:
            await response.aclose()

    async def _partial(
        self,
        ref: Reference,
        descriptor: Descriptor,
        byte_range: ByteRange,
        response: httpx.Response,
    ) -> bytes | None:
        """A 206: its Content-Range must be the range asked, of a blob of the descriptor's size."""
        content_range = response.headers.get("content-range")
        stated = ByteRange.complete_length(content_range)
        url = redact_url(response.request.url)
        if stated is not None and stated != descriptor.size:
            raise SizeMismatch(
                f"blob {descriptor.digest} of {ref.name} is {stated} bytes (Content-Range) but "
                f"its descriptor says {descriptor.size}",
                expected=descriptor.size,
                actual=stated,
                url=url,
                reference=str(ref),
            )
        if not byte_range.answered_by(content_range, descriptor.size):
            logger.debug(
                "blob %s of %s: asked %s, answered Content-Range %r; not used",
                descriptor.digest,
                ref.name,
                byte_range,
                content_range,
            )
            return None
        first, end = byte_range.bounds(descriptor.size)
        return await read_bounded(
            response,
            end - first,
            what=f"blob {descriptor.digest} ({byte_range})",
            expected_size=end - first,
            reference=str(ref),
        )

    async def _whole(
        self,
        ref: Reference,
        descriptor: Descriptor,
        byte_range: ByteRange,
        response: httpx.Response,
        limit: int,
    ) -> bytes | None:
        """A 200: the registry ignored ``Range`` and sends the whole blob. A blob within
        ``limit`` is read (and verified); of a larger one, at most the first ``limit`` bytes,
        and only for a range of its first bytes: then the connection is closed."""
        subject = f"blob {descriptor.digest}"
        if descriptor.size <= limit:
            data = await read_bounded(
                response, limit, what=subject, expected_size=descriptor.size, reference=str(ref)
            )
            url = redact_url(response.request.url)
            verify_digest(descriptor.digest, data, f"{subject} of {ref.name}", url, str(ref))
            return byte_range.slice(data)
        first, end = byte_range.bounds(descriptor.size)
        logger.debug("%s of %s: Range ignored (200); %s", subject, ref.name, byte_range)
        if byte_range.is_suffix or end > limit:
            return None  # not downloading a layer for its last bytes
        received: list[bytes] = []
        count = 0
        with transport_errors(response.request.url, reference=str(ref)):
            async with aclosing(cast("AsyncGenerator[bytes, None]", response.aiter_raw())) as body:
                async for chunk in body:
                    received.append(chunk)
                    count += len(chunk)
                    if count >= end:
                        break
        return b"".join(received)[first:end]
