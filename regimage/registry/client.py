"""RegistryProvider: the OCI Distribution API client (resolve, manifests, blobs, tags, referrers).

What goes over the wire is :mod:`regimage.registry.session`'s: one ``httpx.AsyncClient`` for every
registry, the transport layers of :mod:`regimage.http.transport` below it (retries, a per-host limit,
logging and counting), the auth of :mod:`regimage.registry.auth` beside it. This module is the API on top.
Everything read is bounded and verified: manifests against their digest (a tag against
``Docker-Content-Digest`` when the registry sends one), blobs against descriptor size and digest.
The last manifests and blobs read are cached by digest, so that resolving a tag and then reading
its manifest costs one request.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TypeVar

import httpx

import regimage.http.responses as _http
import regimage.model.mediatypes as mediatypes
from regimage.content.cache import DEFAULT_CACHE_BYTES, ContentCache, DiskCache, MemoryCache
from regimage.errors import (
    AuthenticationError,
    DigestMismatch,
    InvalidDigest,
    InvalidDocument,
    NotFound,
    RegistryError,
    SizeLimitExceeded,
    SizeMismatch,
    UnsupportedMediaType,
)
from regimage.http.pool import ConnectionPool
from regimage.http.transport import RetryPolicy
from regimage.model._json import loads_object
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.manifest import Index, Schema1Manifest, parse_document
from regimage.model.ratelimit import RateLimit
from regimage.model.reference import (
    DEFAULT_DOMAIN,
    DOCKER_HUB_API_HOST,
    Reference,
)
from regimage.registry.credentials import Credentials, CredentialStore
from regimage.registry.session import RegistrySession

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "DEFAULT_CONNECTIONS_PER_HOST",
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_BLOB_BYTES",
    "MAX_LIST_PAGE_BYTES",
    "MAX_MANIFEST_BYTES",
    "ContentCache",
    "DiskCache",
    "MemoryCache",
    "RegistryProvider",
    "Repository",
]

logger = logging.getLogger("regimage")

T = TypeVar("T")

MIB = 1024 * 1024
#: Manifests and indexes are refused above 4 MiB (4,194,304 bytes; containerd's ``4*1048*1048``
#: is a typo for this).
MAX_MANIFEST_BYTES = 4 * MIB
#: Blobs read whole (configs, small artifacts) are refused above this by default.
MAX_BLOB_BYTES = 16 * MIB
#: One page of a tags list, catalog or referrers answer.
MAX_LIST_PAGE_BYTES = 4 * MIB
#: Pagination stops (with an error) after this many pages.
MAX_PAGES = 10_000
#: Requests in flight per registry host.
DEFAULT_CONNECTIONS_PER_HOST = 32
#: Connect and read timeout per socket operation; an overall budget is the caller's
#: ``anyio.fail_after``.
DEFAULT_TIMEOUT_SECONDS = 30.0
#: Characters a tag may not hold, replaced by ``-`` in referrers fallback tags (OCI
#: distribution-spec: "<alg>-<ref>").
_NOT_TAG_CHARS = re.compile(r"[^a-zA-Z0-9_.-]", re.ASCII)
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)

SCHEMA1_HINT = (
    "legacy schema1 manifest; regimage reads only Docker schema2 and OCI images: rebuild the "
    "image or copy it with a current tool (docker buildx, skopeo copy) to convert it"
)


def _base_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _as_reference(ref: Reference | str) -> Reference:
    return ref if isinstance(ref, Reference) else Reference.parse(ref)


def _subject(ref: Reference, identifier: str | None = None) -> str:
    """How a manifest request is named in messages: ``tag 'latest'`` or ``manifest sha256:…``."""
    identifier = identifier or ref.identifier
    if ":" in identifier:
        return f"manifest {identifier}"
    return f"tag {identifier!r}"


def _api_host(registry: str) -> str:
    host = registry.strip().rstrip("/").lower()
    for prefix in ("https://", "http://"):
        host = host.removeprefix(prefix)
    return DOCKER_HUB_API_HOST if host in (DEFAULT_DOMAIN, "index.docker.io") else host


class RegistryProvider:
    """Reads images from OCI Distribution registries; use as ``async with RegistryProvider() as r``.

    ``credentials`` is a :class:`CredentialStore` (default: the user's auth files), or
    :class:`Credentials` / a mapping of registry keys to them; ``username``/``password`` are
    explicit credentials for every registry. ``plain_http`` is True for every registry or a list
    of hosts; loopback registries are tried over HTTPS first and fall back to HTTP by themselves.
    ``transport`` replaces the innermost httpx transport (the retry, limit and logging layers stay
    around it). ``clock`` (monotonic seconds) is for tests that expire tokens.
    """

    def __init__(
        self,
        *,
        credentials: CredentialStore | Credentials | Mapping[str, Credentials] | None = None,
        username: str | None = None,
        password: str | None = None,
        plain_http: bool | Iterable[str] = False,
        ca_file: str | os.PathLike[str] | None = None,
        verify_tls: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        max_manifest_bytes: int = MAX_MANIFEST_BYTES,
        max_blob_bytes: int = MAX_BLOB_BYTES,
        max_connections_per_host: int = DEFAULT_CONNECTIONS_PER_HOST,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        cache: ContentCache | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if (username is None) != (password is None):
            raise AuthenticationError("a username needs a password, and a password a username")
        if username is not None:
            credentials = Credentials(username=username, password=password)
        if isinstance(credentials, CredentialStore):
            store = credentials
        else:
            store = CredentialStore(credentials)
        if isinstance(plain_http, str):
            plain_http = [plain_http]
        if isinstance(plain_http, bool):
            plain_all, plain_hosts = plain_http, frozenset[str]()
        else:
            plain_all, plain_hosts = False, frozenset(_api_host(h) for h in plain_http)
        self._max_manifest = max_manifest_bytes
        self._max_blob = max_blob_bytes
        self._cache: ContentCache = cache if cache is not None else MemoryCache()
        self._session = RegistrySession(
            store,
            plain_all=plain_all,
            plain_hosts=plain_hosts,
            ca_file=ca_file,
            verify_tls=verify_tls,
            transport=transport,
            max_connections_per_host=max_connections_per_host,
            retry=retry,
            timeout=timeout,
            disk=cache if isinstance(cache, DiskCache) else None,
            clock=clock,
        )
        self.stats = self._session.stats

    def __repr__(self) -> str:
        return f"<RegistryProvider(requests={self.stats.total})>"

    async def __aenter__(self) -> RegistryProvider:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection."""
        await self._session.aclose()

    def base_url(self, host: str) -> str:
        """``scheme://host`` as this provider currently reaches ``host``."""
        return self._session.base_url(host)

    # ── manifests ─────────────────────────────────────────────────────────────────────────────────

    @staticmethod
    def _accept(media_type: str | None = None) -> str:
        types = list(mediatypes.MANIFEST_ACCEPT)
        if media_type and media_type not in types:
            types.insert(0, media_type)
        return ", ".join(types)

    @staticmethod
    def _cache_key(ref: Reference, digest: Digest) -> str:
        return f"{ref.api_host}/{ref.path}@{digest}"

    async def resolve(self, ref: Reference | str, *, head: bool = False) -> Descriptor:
        """The descriptor of the manifest or index ``ref`` names (tag or digest).

        By default this GETs the document (and keeps it, so reading it next costs nothing) and
        checks its digest. ``head=True`` asks with HEAD when only the digest is wanted (falling
        back to GET when the registry cannot answer a HEAD fully); the digest is then the
        registry's word.
        """
        reference = _as_reference(ref)
        if head:
            found = await self._head_manifest(reference)
            if found is not None:
                return found
        descriptor, _ = await self._get_manifest(reference, None)
        return descriptor

    async def head_manifest(self, ref: Reference | str) -> Descriptor:
        """Resolve with a HEAD request (GET when HEAD cannot tell media type, digest and size)."""
        return await self.resolve(ref, head=True)

    async def _head_manifest(self, ref: Reference) -> Descriptor | None:
        response = await self._session.open(
            "HEAD",
            ref.api_host,
            f"/v2/{ref.path}/manifests/{ref.identifier}",
            operation="manifest-head",
            reference=str(ref),
            headers={"Accept": self._accept()},
        )
        try:
            if response.status_code in (400, 405, 501):
                return None  # no HEAD here: GET will do
            await _http.raise_for_status(
                response, subject=_subject(ref), repository=ref.name, reference=str(ref)
            )
        finally:
            await response.aclose()
        media_type = _base_type(response.headers.get("content-type"))
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

    async def _get_manifest(
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
            headers={"Accept": self._accept(expected.media_type if expected else None)},
        )
        try:
            await _http.raise_for_status(
                response, subject=subject, repository=ref.name, reference=str(ref)
            )
        except BaseException:
            await response.aclose()
            raise
        data = await _http.read_bounded(
            response,
            self._max_manifest,
            what=subject,
            expected_size=expected.size if expected is not None else None,
            reference=str(ref),
        )
        url = _http.redact_url(response.request.url)
        if expected is not None:
            _verify(expected.digest, data, f"{subject} of {ref.name}", url, str(ref))
            descriptor = expected
        else:
            media_type = self._media_type(data, response.headers.get("content-type"), ref)
            digest = self._digest_of(data, response, ref, subject, url)
            descriptor = Descriptor(media_type, digest, len(data))
        self._cache.put(self._cache_key(ref, descriptor.digest), data)
        return descriptor, data

    @staticmethod
    def _media_type(data: bytes, content_type: str | None, ref: Reference) -> str:
        """The document's media type: the Content-Type when it names one, else the JSON's."""
        declared = _base_type(content_type)
        if mediatypes.is_index(declared) or mediatypes.is_manifest(declared):
            _check_declared_type(data, declared, ref)
            return declared
        if mediatypes.is_schema1(declared):
            raise UnsupportedMediaType(f"{SCHEMA1_HINT} ({ref})", media_type=declared)
        document = parse_document(data, declared or None)
        if isinstance(document, Schema1Manifest):
            raise UnsupportedMediaType(f"{SCHEMA1_HINT} ({ref})", media_type=document.media_type)
        return document.media_type

    @staticmethod
    def _digest_of(
        data: bytes, response: httpx.Response, ref: Reference, subject: str, url: str
    ) -> Digest:
        """The digest of a manifest read by tag (or digest), checked against what was promised."""
        if ref.digest is not None:
            _verify(ref.digest, data, f"{subject} of {ref.name}", url, str(ref))
            return ref.digest
        header = response.headers.get("docker-content-digest")
        if header is None:
            return Digest.of(data)
        try:
            claimed = Digest.parse(header.strip())
        except InvalidDigest:
            actual = Digest.of(data)
            raise DigestMismatch(
                f"{subject} of {ref.name}: the registry's Docker-Content-Digest {header!r} is not "
                f"a valid digest; the content hashes to {actual}",
                expected=header,
                actual=str(actual),
                url=url,
                reference=str(ref),
            ) from None
        actual = Digest.of(data, claimed.algorithm) if claimed.is_verifiable else Digest.of(data)
        if claimed.is_verifiable and actual != claimed:
            raise DigestMismatch(
                f"{subject} of {ref.name} does not match the registry's Docker-Content-Digest: "
                f"header says {claimed}, content hashes to {actual}",
                expected=str(claimed),
                actual=str(actual),
                url=url,
                reference=str(ref),
            )
        return actual

    async def fetch_manifest(self, ref: Reference | str, descriptor: Descriptor) -> bytes:
        """The verified bytes of the manifest or index ``descriptor`` points at, in ``ref``'s
        repository (from the cache when it was just read)."""
        reference = _as_reference(ref)
        if mediatypes.is_schema1(descriptor.media_type):
            raise UnsupportedMediaType(
                f"{SCHEMA1_HINT} ({reference})", media_type=descriptor.media_type
            )
        _check_size(descriptor, self._max_manifest, str(reference))
        cached = self._cache.get(self._cache_key(reference, descriptor.digest))
        if cached is not None and len(cached) == descriptor.size:
            return cached
        _, data = await self._get_manifest(reference, descriptor)
        return data

    # ── blobs ─────────────────────────────────────────────────────────────────────────────────────

    async def fetch_blob(self, ref: Reference | str, descriptor: Descriptor) -> bytes:
        """The verified bytes of a blob (a config, a small artifact), bounded by the blob cap."""
        reference = _as_reference(ref)
        _check_size(descriptor, self._max_blob, str(reference))
        key = self._cache_key(reference, descriptor.digest)
        cached = self._cache.get(key)
        if cached is not None and len(cached) == descriptor.size:
            return cached
        subject = f"blob {descriptor.digest}"
        response = await self._open_blob("GET", reference, descriptor.digest)
        data = await _http.read_bounded(
            response,
            self._max_blob,
            what=subject,
            expected_size=descriptor.size,
            reference=str(reference),
        )
        url = _http.redact_url(response.request.url)
        _verify(descriptor.digest, data, f"{subject} of {reference.name}", url, str(reference))
        self._cache.put(key, data)
        return data

    async def _open_blob(self, method: str, ref: Reference, digest: Digest) -> httpx.Response:
        """GET or HEAD a blob; return the 2xx answer unread, or raise what the error means."""
        response = await self._session.open(
            method,
            ref.api_host,
            f"/v2/{ref.path}/blobs/{digest}",
            operation="blob" if method == "GET" else "blob-head",
            reference=str(ref),
        )
        try:
            await _http.raise_for_status(
                response, subject=f"blob {digest}", repository=ref.name, reference=str(ref)
            )
        except BaseException:
            await response.aclose()
            raise
        return response

    @asynccontextmanager
    async def stream_blob(
        self, ref: Reference | str, descriptor: Descriptor
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """``async with provider.stream_blob(ref, desc) as chunks: async for chunk in chunks``.

        No size cap beyond the descriptor's size. The digest can only be checked at the end: the
        iterator raises :class:`DigestMismatch` (or :class:`SizeMismatch`) after the last chunk
        when the content is wrong, so consume it to the end before trusting what it gave.
        """
        reference = _as_reference(ref)
        response = await self._open_blob("GET", reference, descriptor.digest)
        chunks = _verified_chunks(response, descriptor, reference)
        try:
            yield chunks
        finally:
            await chunks.aclose()
            await response.aclose()

    async def head_blob(self, ref: Reference | str, digest: Digest | str) -> Descriptor:
        """Whether a blob exists, and its size (media type as served, else octet-stream)."""
        reference = _as_reference(ref)
        wanted = digest if isinstance(digest, Digest) else Digest.parse(digest)
        response = await self._open_blob("HEAD", reference, wanted)
        await response.aclose()
        length = response.headers.get("content-length", "")
        url = _http.redact_url(response.request.url)
        if not length.isdigit():
            raise RegistryError(
                f"blob {wanted} of {reference.name}: the registry's answer has no Content-Length",
                url=url,
                reference=str(reference),
            )
        claimed = response.headers.get("docker-content-digest")
        if claimed is not None and claimed.strip() != str(wanted):
            raise DigestMismatch(
                f"blob {wanted} of {reference.name}: the registry answered for {claimed.strip()}",
                expected=str(wanted),
                actual=claimed.strip(),
                url=url,
                reference=str(reference),
            )
        media_type = _base_type(response.headers.get("content-type")) or "application/octet-stream"
        return Descriptor(media_type, wanted, int(length))

    # ── lists ─────────────────────────────────────────────────────────────────────────────────────

    async def _pages(
        self,
        host: str,
        target: str,
        *,
        operation: str,
        subject: str,
        repository: str,
        reference: str | None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        first: httpx.Response | None = None,
        parse: Callable[[bytes, str | None], list[T]],
    ) -> list[T]:
        """Every page of a paginated answer, following ``Link: <…>; rel="next"`` on one host;
        ``parse(body, content_type)`` turns each page into items."""
        items: list[T] = []
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            seen.add(target)
            response = first or await self._session.open(
                "GET",
                host,
                target,
                operation=operation,
                reference=reference,
                params=params,
                headers=headers,
            )
            first = None
            try:
                await _http.raise_for_status(
                    response, subject=subject, repository=repository, reference=reference
                )
            except BaseException:
                await response.aclose()
                raise
            data = await _http.read_bounded(
                response, MAX_LIST_PAGE_BYTES, what=subject, reference=reference
            )
            items.extend(parse(data, response.headers.get("content-type")))
            following = _next_link(response, host)
            if following is None:
                return items
            if following in seen:
                raise RegistryError(
                    f"{subject} of {repository}: the registry's Link header loops back to "
                    f"{following}",
                    url=_http.redact_url(response.request.url),
                    reference=reference,
                )
            target, params = following, None
        raise RegistryError(
            f"{subject} of {repository}: more than {MAX_PAGES} pages", reference=reference
        )

    async def tags(self, repo: Reference | str, *, page_size: int | None = None) -> list[str]:
        """Every tag of a repository, as the registry lists them (Distribution: unsorted)."""
        reference = repo if isinstance(repo, Reference) else Reference.parse_repository(repo)
        return await self._pages(
            reference.api_host,
            f"/v2/{reference.path}/tags/list",
            operation="tags",
            subject="tags list",
            repository=reference.name,
            reference=reference.name,
            params={"n": page_size} if page_size else None,
            parse=lambda data, _: _string_list(data, "tags", "tags list"),
        )

    async def catalog(self, registry: str, *, page_size: int = 1000) -> list[str]:
        """Every repository of a registry (``host[:port]``), when its catalog is open to us."""
        host = _api_host(registry)
        return await self._pages(
            host,
            "/v2/_catalog",
            operation="catalog",
            subject="catalog",
            repository=host,
            reference=None,
            params={"n": page_size} if page_size else None,
            parse=lambda data, _: _string_list(data, "repositories", "catalog"),
        )

    # ── referrers ─────────────────────────────────────────────────────────────────────────────────

    async def referrers(
        self,
        ref: Reference | str,
        subject: Descriptor | Digest | str,
        artifact_type: str | None = None,
    ) -> list[Descriptor]:
        """The manifests whose ``subject`` is ``subject`` (OCI 1.1 referrers), maybe filtered.

        Uses ``GET /v2/<name>/referrers/<digest>``; a registry without that API (404) is asked for
        the fallback tag ``<alg>-<hex>`` instead (OCI distribution-spec). No referrers gives ``[]``.
        """
        reference = _as_reference(ref)
        digest = _subject_digest(subject)
        params = {"artifactType": artifact_type} if artifact_type else None
        first = await self._session.open(
            "GET",
            reference.api_host,
            f"/v2/{reference.path}/referrers/{digest}",
            operation="referrers",
            reference=str(reference),
            params=params,
            headers={"Accept": mediatypes.OCI_INDEX},
        )
        if first.status_code in (404, 405):
            await first.aclose()
            found = await self._referrers_by_tag(reference, digest)
        else:
            found = await self._pages(
                reference.api_host,
                first.request.url.raw_path.decode("ascii"),
                operation="referrers",
                subject=f"referrers of {digest}",
                repository=reference.name,
                reference=str(reference),
                first=first,
                parse=_index_entries,
            )
        if artifact_type:
            found = [d for d in found if d.artifact_type == artifact_type]
        return found

    async def _referrers_by_tag(self, ref: Reference, digest: Digest) -> list[Descriptor]:
        tag = _NOT_TAG_CHARS.sub("-", f"{digest.algorithm[:32]}-{digest.encoded[:64]}")
        tagged = Reference(ref.domain, ref.path, tag, None)
        try:
            descriptor, data = await self._get_manifest(tagged, None)
        except NotFound as exc:
            if any(e.code.upper() == "NAME_UNKNOWN" for e in exc.errors):
                raise
            return []
        return _index_entries(data, descriptor.media_type)

    # ── batching and repositories ─────────────────────────────────────────────────────────────────

    async def authorize(self, refs: Iterable[Reference | str]) -> None:
        """Get pull tokens for many repositories at once (about 50 scopes per token request).

        Best effort, for batches: afterwards each repository's first request carries a token and
        skips the 401 round trip. A registry whose challenge is not known yet is asked with one
        ``GET /v2/``. While the tokens are fetched, connections to the registry are opened for
        the requests to come. Failures are left for the requests themselves to report.
        """
        by_host: dict[str, set[str]] = {}
        for ref in refs:
            reference = _as_reference(ref)
            by_host.setdefault(reference.api_host, set()).add(reference.scope("pull"))
        for host, scopes in by_host.items():
            await self._session.authorize(host, scopes)

    @property
    def pool(self) -> ConnectionPool | None:
        """The connection pool (None when a ``transport`` was passed in)."""
        return self._session.pool

    def rate_limit(self, registry: Reference | str) -> RateLimit | None:
        """The request budget ``registry`` stated in its last answer that carried one, or None.

        ``registry`` is a host (``docker.io``, ``ghcr.io``, ``host:port``) or a reference to an
        image on it. Docker Hub states its pull budget on manifest answers, HEADs included
        (which it does not count): ``76 of 100 pulls left in the 6 h window``. None means the
        registry has not stated one (yet): most registries never do, and Docker Hub does not for
        paid accounts.
        """
        host = registry.api_host if isinstance(registry, Reference) else _api_host(registry)
        return self._session.rate_limit(host)

    @property
    def rate_limits(self) -> dict[str, RateLimit]:
        """Every budget stated so far, by API host."""
        return self._session.rate_limits()

    def repository(self, ref: Reference | str) -> Repository:
        """A :class:`~regimage.content.provider.Provider` for content of ``ref``'s repository."""
        return Repository(self, _as_reference(ref))


class Repository:
    """One repository of a registry as a Provider: ``fetch(descriptor)`` reads manifests and
    indexes from ``/manifests/`` and everything else from ``/blobs/``."""

    def __init__(self, registry: RegistryProvider, reference: Reference) -> None:
        self.registry = registry
        self.reference = reference

    def __repr__(self) -> str:
        return f"<Repository({self.reference.name!r})>"

    async def fetch(self, descriptor: Descriptor) -> bytes:
        media_type = descriptor.media_type
        if (
            mediatypes.is_index(media_type)
            or mediatypes.is_manifest(media_type)
            or mediatypes.is_schema1(media_type)
        ):
            return await self.registry.fetch_manifest(self.reference, descriptor)
        return await self.registry.fetch_blob(self.reference, descriptor)

    async def resolve(self) -> Descriptor:
        return await self.registry.resolve(self.reference)

    async def referrers(
        self, subject: Descriptor | Digest | str, artifact_type: str | None = None
    ) -> list[Descriptor]:
        return await self.registry.referrers(self.reference, subject, artifact_type)


# ── helpers ────────────────────────────────────────────────────────────────────────────────────────


def _verify(digest: Digest, data: bytes, what: str, url: str, reference: str | None) -> None:
    actual = Digest.of(data, digest.algorithm) if digest.is_verifiable else None
    if actual is None:
        digest.verify(data)  # raises InvalidDigest naming the algorithm
        return
    if actual != digest:
        raise DigestMismatch(
            f"{what} does not match its digest: expected {digest}, got {actual}",
            expected=str(digest),
            actual=str(actual),
            url=url,
            reference=reference,
        )


def _check_size(descriptor: Descriptor, limit: int, reference: str) -> None:
    if descriptor.size > limit:
        raise SizeLimitExceeded(
            f"{descriptor.media_type} {descriptor.digest} declares {descriptor.size} bytes, over "
            f"the {limit}-byte limit; not fetching it",
            limit=limit,
            reference=reference,
        )


async def _verified_chunks(
    response: httpx.Response, descriptor: Descriptor, ref: Reference
) -> AsyncGenerator[bytes, None]:
    verifier = descriptor.digest.verifier()
    url = _http.redact_url(response.request.url)
    with _http.transport_errors(response.request.url, reference=str(ref)):
        async for chunk in response.aiter_bytes():
            verifier.update(chunk)
            if verifier.length > descriptor.size:
                raise SizeMismatch(
                    f"blob {descriptor.digest} of {ref.name} is longer than the "
                    f"{descriptor.size} bytes its descriptor says",
                    expected=descriptor.size,
                    actual=verifier.length,
                    url=url,
                    reference=str(ref),
                )
            yield chunk
    if verifier.length != descriptor.size:
        raise SizeMismatch(
            f"blob {descriptor.digest} of {ref.name} is {verifier.length} bytes but its "
            f"descriptor says {descriptor.size}",
            expected=descriptor.size,
            actual=verifier.length,
            url=url,
            reference=str(ref),
        )
    actual = verifier.digest()
    if actual != descriptor.digest:
        raise DigestMismatch(
            f"blob {descriptor.digest} of {ref.name} does not match its digest: got {actual}",
            expected=str(descriptor.digest),
            actual=str(actual),
            url=url,
            reference=str(ref),
        )


def _next_link(response: httpx.Response, host: str) -> str | None:
    """The path and query of the ``rel="next"`` link, refused if it leaves the registry."""
    for header in response.headers.get_list("link"):
        match = _LINK_NEXT.search(header)
        if match is None:
            continue
        try:
            url = response.request.url.join(match.group(1).strip())
        except httpx.InvalidURL:
            return None
        if url.netloc.decode("ascii") != host:
            raise RegistryError(
                f"the registry's Link header points to another host: {_http.redact_url(url)}",
                url=_http.redact_url(response.request.url),
            )
        return url.raw_path.decode("ascii")
    return None


def _string_list(data: bytes, field: str, what: str) -> list[str]:
    obj = loads_object(data, what=what)
    if field not in obj:
        raise InvalidDocument(f"{what} has no {field!r} field")
    value = obj[field]
    if value is None:  # some registries send null for an empty list
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidDocument(f"{what} field {field!r} must be a list of strings")
    return value


def _index_entries(data: bytes, content_type: str | None) -> list[Descriptor]:
    declared = _base_type(content_type)
    index = Index.parse(data, declared if mediatypes.is_index(declared) else None)
    return list(index.manifests)


def _check_declared_type(data: bytes, declared: str, ref: Reference) -> None:
    """Refuse a document whose own ``mediaType`` contradicts the Content-Type it came with (an
    index served as a manifest, or the reverse). A quick look, not the strict parse: documents
    that are not JSON objects are left for the parser to report."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return
    own = obj.get("mediaType") if isinstance(obj, dict) else None
    if not isinstance(own, str) or own == declared:
        return
    if mediatypes.is_index(own) != mediatypes.is_index(declared) or not (
        mediatypes.is_index(own) or mediatypes.is_manifest(own)
    ):
        raise InvalidDocument(
            f"{ref}: the registry served the document as {declared} but it says it is {own}"
        )


def _subject_digest(subject: Descriptor | Digest | str) -> Digest:
    if isinstance(subject, Descriptor):
        return subject.digest
    if isinstance(subject, Digest):
        return subject
    return Digest.parse(subject)
