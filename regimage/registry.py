"""RegistryProvider: the OCI Distribution API client (resolve, manifests, blobs, tags, referrers).

One ``httpx.AsyncClient`` serves every registry. Below it sit the transport layers of
:mod:`regimage.transport` (retries, a per-host limit, logging and counting), beside it the auth of
:mod:`regimage.auth`. Everything read is bounded and verified: manifests against their digest (a tag
against ``Docker-Content-Digest`` when the registry sends one), blobs against descriptor size and
digest. The last manifests and blobs read are cached by digest, so that resolving a tag and then
reading its manifest costs one request.
"""

from __future__ import annotations

import json
import logging
import os
import re
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import TypeVar

import anyio
import httpx

import regimage._http as _http
import regimage._tls as _tls
import regimage.mediatypes as mediatypes
from regimage import preconnect
from regimage._json import loads_object
from regimage._pool import ConnectionPool, PoolTransport
from regimage._version import __version__
from regimage.auth import RegistryAuth
from regimage.cache import DEFAULT_CACHE_BYTES, ContentCache, DiskCache, MemoryCache
from regimage.challenge import Challenge
from regimage.credentials import Credentials, CredentialStore
from regimage.descriptor import Descriptor
from regimage.digest import Digest
from regimage.errors import (
    AuthenticationError,
    DigestMismatch,
    InvalidDigest,
    InvalidDocument,
    NetworkError,
    NotFound,
    RegImageError,
    RegistryError,
    SizeLimitExceeded,
    SizeMismatch,
    UnsupportedMediaType,
)
from regimage.manifest import Index, Schema1Manifest, parse_document
from regimage.ratelimit import RateLimit
from regimage.reference import (
    DEFAULT_DOMAIN,
    DOCKER_HUB_API_HOST,
    Reference,
    is_loopback_host,
    split_host,
)
from regimage.transport import RequestStats, RetryPolicy, build_transport

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
#: Redirects followed per request (blob GETs redirect to CDNs once or twice).
MAX_REDIRECTS = 10
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


class _NoCookies(CookieJar):
    """A jar that keeps nothing: registries do not need cookies, and CDNs should not set them.
    It does not even read ``Set-Cookie`` (httpx hands every response to its jar: parsing the
    headers for cookies that a policy then refuses cost more than the rest of a small answer)."""

    def __init__(self) -> None:
        super().__init__(policy=DefaultCookiePolicy(allowed_domains=[]))

    def extract_cookies(self, response: object, request: object) -> None:
        return None

    def set_cookie(self, cookie: object) -> None:
        return None


def _tls_factory(
    ca_file: str | os.PathLike[str] | None, verify: bool
) -> Callable[[], ssl.SSLContext]:
    """What makes the TLS context: the shared default (made on the first HTTPS connection), or
    one with ``ca_file`` added (loaded now, so that a bad file is reported at once)."""
    if not verify:
        return _tls.insecure_context
    if ca_file is None:
        return _tls.default_context
    try:
        context = _tls.new_context(ca_file=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise NetworkError(
            f"cannot load the CA file {os.fspath(ca_file)!r}: {exc.strerror or exc}"
        ) from exc
    return lambda: context


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
            self._plain_all, self._plain_hosts = plain_http, frozenset[str]()
        else:
            self._plain_all = False
            self._plain_hosts = frozenset(_api_host(h) for h in plain_http)
        self._max_manifest = max_manifest_bytes
        self._max_blob = max_blob_bytes
        self._cache: ContentCache = cache if cache is not None else MemoryCache()
        self._disk = cache if isinstance(cache, DiskCache) else None
        self._schemes: dict[str, str] = {}  # confirmed by an answer
        self._hints: dict[str, str] = {}  # from the disk cache, to be confirmed
        self._contact: dict[str, anyio.Event] = {}  # set once a host has answered
        self._prepared: set[str] = set()
        self._saved_challenges: dict[str, Challenge] = {}
        self._open_hosts: set[str] = set()
        self._ping_locks: dict[str, anyio.Lock] = {}
        self._probes_taken: set[str] = set()
        self.stats = RequestStats()
        if transport is None:
            transport = PoolTransport(
                _tls_factory(ca_file, verify_tls), max_per_origin=max_connections_per_host
            )
        self._pool = transport.pool if isinstance(transport, PoolTransport) else None
        self._client = httpx.AsyncClient(
            transport=build_transport(
                transport,
                retry=retry,
                per_host=max_connections_per_host,
                stats=self.stats,
                token_cache=self._disk,
                on_response=self._answered,
            ),
            trust_env=False,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            # Socket operations time out; waiting for a free connection does not (a batch may
            # queue thousands of requests: its caller bounds the whole with anyio.fail_after).
            timeout=httpx.Timeout(timeout, pool=None),
            headers={"User-Agent": f"regimage/{__version__}"},
            cookies=_NoCookies(),
        )
        self._auth = RegistryAuth(self._client, store, clock=clock or time.monotonic)
        _http.redact_httpx_log()

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
        await self._client.aclose()

    # ── sending ───────────────────────────────────────────────────────────────────────────────────

    def _scheme(self, host: str) -> str:
        known = self._schemes.get(host) or self._hints.get(host)
        if known is not None:
            return known
        return "http" if self._plain_all or host in self._plain_hosts else "https"

    def _may_fall_back(self, host: str) -> bool:
        """Whether ``host``'s scheme is still to be found out: loopback, not forced, not tried."""
        return (
            host not in self._schemes
            and not self._plain_all
            and host not in self._plain_hosts
            and is_loopback_host(host)
        )

    def base_url(self, host: str) -> str:
        """``scheme://host`` as this provider currently reaches ``host``."""
        return f"{self._scheme(host)}://{host}"

    def _answered(self, request: httpx.Request, response: httpx.Response) -> None:
        """Every answer, as the transport receives it: the first from a host confirms its scheme
        and lets the requests held back for it go (see :meth:`_open`)."""
        host = request.url.netloc.decode("ascii")
        if host not in self._schemes and host in self._contact:
            self._schemes[host] = request.url.scheme
        event = self._contact.get(host)
        if event is not None and not event.is_set():
            event.set()

    def _prepare(self, host: str) -> None:
        """First use of ``host`` in this provider: take what the disk cache knows about it."""
        self._prepared.add(host)
        disk = self._disk
        if disk is None:
            return
        loopback = is_loopback_host(host)
        if loopback and self._may_fall_back(host):
            scheme = disk.scheme(host)
            if scheme is not None:
                self._hints[host] = scheme
        if self._auth.challenge_for(host) is None:
            found = disk.challenge(host, loopback=loopback)
            if found is not None:
                challenge = Challenge(*found)
                self._saved_challenges[host] = challenge
                # RegistryAuth learns challenges from 401 answers: hand it the remembered one.
                remembered = httpx.Response(
                    401,
                    headers={"WWW-Authenticate": _challenge_header(challenge)},
                    request=httpx.Request("GET", f"{self._scheme(host)}://{host}/v2/"),
                )
                self._auth.observe(remembered)

    async def _take_start_up_answer(self, host: str) -> None:
        """Learn what ``host`` answered to the ``GET /v2/`` that :mod:`regimage.preconnect` sent
        while the program started (waiting for it if it is still on its way), as from this
        provider's own ping: its challenge, or that it needs none. Once per host; nothing when no
        probe was started for it."""
        if host in self._probes_taken:
            return
        self._probes_taken.add(host)
        scheme = self._scheme(host)
        try:
            name, port = split_host(host)
        except ValueError:  # a port out of range: the request itself says so
            return
        tls = scheme == "https"
        pending = preconnect.take_answer(name, port or (443 if tls else 80), tls=tls)
        if pending is None:
            return
        if pending.done:
            answer = pending.answer
        else:
            answer = await anyio.to_thread.run_sync(
                pending.wait_answer, preconnect.WAIT_SECONDS, abandon_on_cancel=True
            )
        if answer is None:
            return
        url = f"{scheme}://{host}/v2/"
        response = httpx.Response(
            answer.status,
            headers=[("WWW-Authenticate", value) for value in answer.challenges],
            request=httpx.Request("GET", url),
        )
        if self._auth.observe(response) is None and response.is_success:
            self._open_hosts.add(host)
        if tls:  # a TLS handshake with it succeeded: no plain-HTTP fall-back to find out
            self._schemes.setdefault(host, scheme)
        logger.debug("%s: answered %s at start-up (%d)", host, url, answer.status)

    def _settled(self, host: str) -> bool:
        """Whether requests to ``host`` may go at once: its scheme is known (or not in doubt) and
        so is what it wants (a challenge, or nothing)."""
        if self._may_fall_back(host) and host not in self._hints:
            return False
        return host in self._open_hosts or self._auth.challenge_for(host) is not None

    async def _open(
        self,
        method: str,
        host: str,
        target: str,
        *,
        operation: str,
        reference: str | None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        authenticate: bool = True,
    ) -> httpx.Response:
        """Send one registry API request and return its (streaming, unread) answer.

        The first request to a host goes alone; the others wait until the host has answered it
        (the answer's headers, not the whole exchange). It finds out whether a loopback registry
        speaks TLS, and what the registry wants (its 401 challenge), so that the requests held
        back go with the right scheme and a token, not all into the same 401.
        """
        if host not in self._prepared:
            self._prepare(host)
        event = self._contact.get(host)
        if event is None and not self._settled(host):
            event = self._contact[host] = anyio.Event()
            try:
                await self._take_start_up_answer(host)
                return await self._send(
                    method, host, target, operation, reference, headers, params, authenticate
                )
            finally:
                event.set()
        if event is not None and not event.is_set():
            await event.wait()
        return await self._send(
            method, host, target, operation, reference, headers, params, authenticate
        )

    async def _send(
        self,
        method: str,
        host: str,
        target: str,
        operation: str,
        reference: str | None,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str | int] | None,
        authenticate: bool,
    ) -> httpx.Response:
        while True:
            scheme = self._scheme(host)
            request = self._client.build_request(
                method,
                f"{scheme}://{host}{target}",
                headers=headers,
                params=params,
                extensions={_http.OPERATION: operation},
            )
            try:
                response = await self._client.send(
                    request, auth=self._auth if authenticate else None, stream=True
                )
            except httpx.InvalidURL as exc:  # httpx refused to follow a redirect
                raise RegistryError(
                    f"{host} redirected {_http.redact_url(request.url)} to an invalid URL: "
                    f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}",
                    url=_http.redact_url(request.url),
                    reference=reference,
                ) from exc
            except httpx.HTTPError as exc:
                hinted = self._hints.get(host) == scheme and host not in self._schemes
                if hinted:
                    self._drop_hint(host)  # the remembered scheme failed: find out again
                if (
                    scheme == "https"
                    and self._may_fall_back(host)
                    and _http.is_tls_protocol_error(exc)
                ):
                    logger.debug("%s does not speak TLS; using plain HTTP (loopback)", host)
                    self._schemes[host] = "http"
                    continue
                if hinted and scheme == "http" and isinstance(exc, httpx.TransportError):
                    continue  # maybe a TLS port now: try HTTPS first, as for a new host
                raise _http.map_transport_error(exc, request.url, reference=reference) from exc
            if (
                response.status_code == 400
                and scheme == "http"
                and self._hints.get(host) == "http"
                and await _speaks_tls(response)
            ):
                self._drop_hint(host)  # plain HTTP to a TLS port: the hint is stale
                self._schemes.pop(host, None)
                continue
            self._schemes.setdefault(host, scheme)
            if self._disk is not None:
                self._remember(host, scheme)
            return response

    def _drop_hint(self, host: str) -> None:
        self._hints.pop(host, None)
        if self._disk is not None:
            self._disk.set_scheme(host, None)

    def _remember(self, host: str, scheme: str) -> None:
        """Write what was learned about ``host`` to the disk cache (when it changed)."""
        disk = self._disk
        if disk is None:  # pragma: no cover - callers check
            return
        if (
            self._hints.get(host) != scheme
            and is_loopback_host(host)
            and not self._plain_all
            and host not in self._plain_hosts
        ):
            self._hints[host] = scheme
            disk.set_scheme(host, scheme)
        challenge = self._auth.challenge_for(host)
        if challenge is None:
            return
        kept = _lasting(challenge)
        if self._saved_challenges.get(host) != kept:
            self._saved_challenges[host] = kept
            disk.set_challenge(host, kept.scheme, kept.params)

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
        response = await self._open(
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
        response = await self._open(
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
        response = await self._open(
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
            response = first or await self._open(
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
        first = await self._open(
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
            if host not in self._prepared:
                self._prepare(host)
            if not await self._learn_challenge(host):
                continue
            async with anyio.create_task_group() as group:
                if self._pool is not None:
                    group.start_soon(self._preconnect, host, len(scopes))
                await self._auth.authorize(self.base_url(host), scopes)

    async def _learn_challenge(self, host: str) -> bool:
        """Make sure ``host``'s challenge (or that it needs none) is known; False when the
        registry cannot be reached."""
        if host in self._open_hosts or self._auth.challenge_for(host) is not None:
            return True
        lock = self._ping_locks.get(host)
        if lock is None:
            lock = self._ping_locks[host] = anyio.Lock()
        async with lock:
            await self._take_start_up_answer(host)
            if host in self._open_hosts or self._auth.challenge_for(host) is not None:
                return True
            try:
                response = await self._open(
                    "GET", host, "/v2/", operation="ping", reference=None, authenticate=False
                )
            except (NetworkError, RegistryError) as exc:
                logger.debug("authorize: cannot reach %s: %s", host, exc)
                return False
            try:
                if self._auth.observe(response) is None and response.is_success:
                    self._open_hosts.add(host)
            finally:
                await response.aclose()
            if self._disk is not None:
                self._remember(host, self._scheme(host))
        return True

    async def _preconnect(self, host: str, count: int) -> None:
        if self._pool is None:  # pragma: no cover - callers check
            return
        opened = await self._pool.preconnect(self.base_url(host), count)
        if opened:
            logger.debug("opened %d connection(s) to %s ahead of the requests", opened, host)

    @property
    def pool(self) -> ConnectionPool | None:
        """The connection pool (None when a ``transport`` was passed in)."""
        return self._pool

    def rate_limit(self, registry: Reference | str) -> RateLimit | None:
        """The request budget ``registry`` stated in its last answer that carried one, or None.

        ``registry`` is a host (``docker.io``, ``ghcr.io``, ``host:port``) or a reference to an
        image on it. Docker Hub states its pull budget on manifest answers, HEADs included
        (which it does not count): ``76 of 100 pulls left in the 6 h window``. None means the
        registry has not stated one (yet): most registries never do, and Docker Hub does not for
        paid accounts.
        """
        host = registry.api_host if isinstance(registry, Reference) else _api_host(registry)
        return self._auth.rate_limit(host)

    @property
    def rate_limits(self) -> dict[str, RateLimit]:
        """Every budget stated so far, by API host."""
        return self._auth.rate_limits.as_dict()

    def repository(self, ref: Reference | str) -> Repository:
        """A :class:`~regimage.provider.Provider` for content of ``ref``'s repository."""
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


def _lasting(challenge: Challenge) -> Challenge:
    """A challenge without what belongs to one request (``scope``, ``error``…): what a host
    answers every time."""
    params = {k: v for k, v in challenge.params.items() if k not in _REQUEST_PARAMS}
    return Challenge(challenge.scheme, params)


_REQUEST_PARAMS = frozenset({"scope", "error", "error_description", "error_uri"})


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _challenge_header(challenge: Challenge) -> str:
    """``Bearer realm="…",service="…"``: a challenge as a WWW-Authenticate value."""
    params = ",".join(f"{k}={_quote(v)}" for k, v in challenge.params.items())
    scheme = challenge.scheme.capitalize()
    return f"{scheme} {params}" if params else scheme


async def _speaks_tls(response: httpx.Response) -> bool:
    """Whether a 400 answer to plain HTTP is a TLS server's "HTTP request to an HTTPS server"."""
    try:
        body = await response.aread()  # an error body: bounded by the transport
    except (RegImageError, httpx.HTTPError):
        return False
    return b"https server" in body[:4096].lower()


def _subject_digest(subject: Descriptor | Digest | str) -> Digest:
    if isinstance(subject, Descriptor):
        return subject.digest
    if isinstance(subject, Digest):
        return subject
    return Digest.parse(subject)
