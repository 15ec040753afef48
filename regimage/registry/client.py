"""RegistryProvider: the OCI Distribution API client (resolve, manifests, blobs, tags, referrers).

What goes over the wire is :mod:`regimage.registry.session`'s: one ``httpx.AsyncClient`` for every
registry, the transport layers of :mod:`regimage.http.transport` below it (retries, a per-host limit,
logging and counting), the auth of :mod:`regimage.registry.auth` beside it. This module is the API on
top: it takes references as users write them and hands the work to :mod:`regimage.registry.fetch`
(manifests and blobs, verified and cached) and :mod:`regimage.registry.listing` (paginated lists).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from types import TracebackType

import httpx

import regimage.model.mediatypes as mediatypes
from regimage._concurrency import gather_limited
from regimage.content.cache import ContentCache
from regimage.content.disk_cache import DiskCache
from regimage.content.memory_cache import MemoryCache
from regimage.errors import AuthenticationError, RegImageError
from regimage.http.pool import ConnectionPool
from regimage.http.retry import RetryPolicy
from regimage.http.timeouts import positive_seconds
from regimage.model.byte_range import ByteRange
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.ratelimit import RateLimit
from regimage.model.reference import DEFAULT_DOMAIN, DOCKER_HUB_API_HOST, Reference
from regimage.registry.credentials import Credentials, CredentialStore
from regimage.registry.fetch import Fetcher
from regimage.registry.listing import Lister
from regimage.registry.mirrors import Mirrors
from regimage.registry.preconnect import Preconnect
from regimage.registry.routing import RoutedFetcher, Router
from regimage.registry.session import RegistrySession

__all__ = [
    "DEFAULT_CONNECTIONS_PER_HOST",
    "DEFAULT_DOCUMENT_TIMEOUT_SECONDS",
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_BLOB_BYTES",
    "MAX_MANIFEST_BYTES",
    "RANGE_FALLBACK_BYTES",
    "RegistryProvider",
    "Repository",
]

MIB = 1024 * 1024
#: Manifests and indexes are refused above 4 MiB (4,194,304 bytes; containerd's ``4*1048*1048``
#: is a typo for this).
MAX_MANIFEST_BYTES = 4 * MIB
#: Blobs read whole (configs, small artifacts) are refused above this by default.
MAX_BLOB_BYTES = 16 * MIB
#: A registry that ignores ``Range`` and sends a whole blob: read up to this much of it.
RANGE_FALLBACK_BYTES = 64 * 1024
#: Requests in flight per registry host.
DEFAULT_CONNECTIONS_PER_HOST = 32
#: Connect and read timeout per socket operation; an overall budget is the caller's
#: ``anyio.fail_after``.
DEFAULT_TIMEOUT_SECONDS = 30.0
#: The whole exchange of one request of a document (manifest, index, config, token answer, a
#: ``/v2/`` ping), from sending it to the last byte of its body: a server that drips its answer
#: within each read timeout is cut off here. Blob streams have no such bound.
DEFAULT_DOCUMENT_TIMEOUT_SECONDS = 60.0


def _as_reference(ref: Reference | str) -> Reference:
    return ref if isinstance(ref, Reference) else Reference.parse(ref)


def _api_host(registry: str) -> str:
    host = registry.strip().rstrip("/").lower()
    for prefix in ("https://", "http://"):
        host = host.removeprefix(prefix)
    return DOCKER_HUB_API_HOST if host in (DEFAULT_DOMAIN, "index.docker.io") else host


def _subject_digest(subject: Descriptor | Digest | str) -> Digest:
    if isinstance(subject, Descriptor):
        return subject.digest
    if isinstance(subject, Digest):
        return subject
    return Digest.parse(subject)


class RegistryProvider:
    """Reads images from OCI Distribution registries; use as ``async with RegistryProvider() as r``.

    ``credentials`` is a :class:`CredentialStore` (default: the user's auth files), or
    :class:`Credentials` / a mapping of registry keys to them; ``username``/``password`` are
    explicit credentials for every registry. ``plain_http`` is True for every registry or a list
    of hosts; loopback registries are tried over HTTPS first and fall back to HTTP by themselves.
    ``transport`` replaces the innermost httpx transport (the retry, limit and logging layers stay
    around it). ``timeout`` bounds each socket operation (connect, read, write) and
    ``document_timeout`` (None: no bound) the whole exchange of each request of a manifest,
    index, config or token, never a blob stream's; a call's overall budget is the caller's
    ``anyio.fail_after``. ``clock`` (monotonic seconds) is for tests that expire tokens. ``preconnect`` hands
    over the connections (and ``GET /v2/`` answers) a program opened while it started
    (:mod:`regimage.registry.preconnect`); the program still closes it. ``proxy`` (a URL, as
    httpx's) sends every request through that HTTP proxy, loopback included; without it
    ``trust_env`` reads ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (never for loopback) and
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``. ``certs_d``: the certs.d roots whose
    ``<host[:port]>/*.crt`` a registry's TLS certificate is also verified against (None: Docker's
    and Podman's, ``()``: none). ``mirrors`` (from
    :func:`~regimage.registry.mirror_files.load_mirrors`) sends pulls to mirrors first and to the
    registry last (:mod:`regimage.registry.routing`); lists (tags, catalog, referrers) always go to
    the registry itself.
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
        document_timeout: float | None = DEFAULT_DOCUMENT_TIMEOUT_SECONDS,
        cache: ContentCache | None = None,
        clock: Callable[[], float] | None = None,
        preconnect: Preconnect | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        certs_d: Sequence[str | os.PathLike[str]] | None = None,
        mirrors: Mirrors | None = None,
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
        if mirrors:
            plain_hosts |= mirrors.plain_http_hosts
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
            document_timeout=positive_seconds("document_timeout", document_timeout),
            disk=cache if isinstance(cache, DiskCache) else None,
            clock=clock,
            preconnect=preconnect,
            proxy=proxy,
            trust_env=trust_env,
            certs_d=certs_d,
            host_ca_files=mirrors.ca_files if mirrors else None,
        )
        self.stats = self._session.stats
        content = cache if cache is not None else MemoryCache()
        fetcher = Fetcher(
            self._session, content, max_manifest=max_manifest_bytes, max_blob=max_blob_bytes
        )
        self._router = Router(mirrors, clock or time.monotonic)
        self._fetcher = RoutedFetcher(fetcher, self._router, content)
        self._lister = Lister(self._session, fetcher)

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

    async def resolve(self, ref: Reference | str, *, head: bool = False) -> Descriptor:
        """The descriptor of the manifest or index ``ref`` names (tag or digest).

        By default this GETs the document (and keeps it, so reading it next costs nothing) and
        checks its digest. ``head=True`` asks with HEAD when only the digest is wanted (falling
        back to GET when the registry cannot answer a HEAD fully); the digest is then the
        registry's word.
        """
        return await self._fetcher.resolve(_as_reference(ref), head=head)

    async def head_manifest(self, ref: Reference | str) -> Descriptor:
        """Resolve with a HEAD request (GET when HEAD cannot tell media type, digest and size)."""
        return await self.resolve(ref, head=True)

    async def fetch_manifest(self, ref: Reference | str, descriptor: Descriptor) -> bytes:
        """The verified bytes of the manifest or index ``descriptor`` points at, in ``ref``'s
        repository (from the cache when it was just read)."""
        return await self._fetcher.fetch_manifest(_as_reference(ref), descriptor)

    # ── blobs ─────────────────────────────────────────────────────────────────────────────────────

    async def fetch_blob(self, ref: Reference | str, descriptor: Descriptor) -> bytes:
        """The verified bytes of a blob (a config, a small artifact), bounded by the blob cap."""
        return await self._fetcher.fetch_blob(_as_reference(ref), descriptor)

    @asynccontextmanager
    async def stream_blob(
        self, ref: Reference | str, descriptor: Descriptor
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """``async with provider.stream_blob(ref, desc) as chunks: async for chunk in chunks``.

        No size cap beyond the descriptor's size. The digest can only be checked at the end: the
        iterator raises :class:`DigestMismatch` (or :class:`SizeMismatch`) after the last chunk
        when the content is wrong, so consume it to the end before trusting what it gave.
        """
        async with self._fetcher.stream_blob(_as_reference(ref), descriptor) as chunks:
            yield chunks

    async def read_blob_range(
        self,
        ref: Reference | str,
        descriptor: Descriptor,
        byte_range: ByteRange,
        *,
        limit: int = RANGE_FALLBACK_BYTES,
    ) -> bytes | None:
        """Part of a blob: one ``GET`` with ``Range`` (``bytes=-4``, ``bytes=0-63``), following
        redirects to storage as blob reads do (``Authorization`` never crosses hosts).

        The ``206`` must carry the range asked in ``Content-Range``, of a blob of the
        descriptor's size (another size is a :class:`SizeMismatch`; another range gives None).
        A registry that ignores ``Range`` answers ``200`` with the whole blob: one within
        ``limit`` bytes is read and verified; of a larger one only a range of its first bytes
        within ``limit`` is read, then the connection is closed. Otherwise the answer is None:
        never a whole layer. A part cannot be checked against the digest.
        """
        return await self._fetcher.read_blob_range(
            _as_reference(ref), descriptor, byte_range, limit=limit
        )

    async def head_blob(self, ref: Reference | str, digest: Digest | str) -> Descriptor:
        """Whether a blob exists, and its size (media type as served, else octet-stream)."""
        wanted = digest if isinstance(digest, Digest) else Digest.parse(digest)
        return await self._fetcher.head_blob(_as_reference(ref), wanted)

    # ── lists ─────────────────────────────────────────────────────────────────────────────────────

    async def tags(self, repo: Reference | str, *, page_size: int | None = None) -> list[str]:
        """Every tag of a repository, as the registry lists them (Distribution: unsorted)."""
        return await self._lister.tags(self._listed(repo), page_size=page_size)

    def tag_pages(
        self, repo: Reference | str, *, page_size: int | None = None
    ) -> AsyncGenerator[list[str], None]:
        """The tags of a repository, page by page: each page asked for when the last is taken."""
        return self._lister.tag_pages(self._listed(repo), page_size=page_size)

    async def catalog(self, registry: str, *, page_size: int = 1000) -> list[str]:
        """Every repository of a registry (``host[:port]``), when its catalog is open to us."""
        return await self._lister.catalog(_api_host(registry), page_size=page_size)

    def catalog_pages(
        self, registry: str, *, page_size: int = 1000
    ) -> AsyncGenerator[list[str], None]:
        """The repositories of a registry's catalog page by page, as :meth:`tag_pages`."""
        return self._lister.catalog_pages(_api_host(registry), page_size=page_size)

    def _listed(self, repo: Reference | str) -> Reference:
        reference = repo if isinstance(repo, Reference) else Reference.parse_repository(repo)
        self._router.route(reference)  # a blocked registry is not asked
        return reference

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
        self._router.route(reference)  # a blocked registry is not asked
        return await self._lister.referrers(reference, _subject_digest(subject), artifact_type)

    # ── batching and repositories ─────────────────────────────────────────────────────────────────

    async def authorize(self, refs: Iterable[Reference | str]) -> None:
        """Get pull tokens for many repositories at once (about 50 scopes per token request).

        Best effort, for batches: afterwards each repository's first request carries a token and
        skips the 401 round trip. A registry whose challenge is not known yet is asked with one
        ``GET /v2/``. While the tokens are fetched, connections to the registry are opened for
        the requests to come. Failures are left for the requests themselves to report. With
        mirrors, every host that may answer the reference gets its tokens.
        """
        by_host: dict[str, set[str]] = {}
        for ref in refs:
            reference = _as_reference(ref)
            try:
                sources = self._router.sources(reference, by_digest=reference.digest is not None)
            except RegImageError:  # blocked, or no host may answer: the request says so
                continue
            for source in sources:
                scope = f"repository:{source.repository}:pull"
                by_host.setdefault(source.host, set()).add(scope)
        # Each registry at the same time: one that never answers holds back no other's tokens.
        jobs = [partial(self._session.authorize, host, scopes) for host, scopes in by_host.items()]
        await gather_limited(jobs, max(1, len(jobs)))

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
    indexes from ``/manifests/`` and everything else from ``/blobs/``; ``read_range`` reads part
    of a blob (a :class:`~regimage.content.provider.RangeReader`)."""

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

    async def read_range(self, descriptor: Descriptor, byte_range: ByteRange) -> bytes | None:
        return await self.registry.read_blob_range(self.reference, descriptor, byte_range)

    async def resolve(self) -> Descriptor:
        return await self.registry.resolve(self.reference)

    async def referrers(
        self, subject: Descriptor | Digest | str, artifact_type: str | None = None
    ) -> list[Descriptor]:
        return await self.registry.referrers(self.reference, subject, artifact_type)
