"""The sending side of :class:`~regimage.registry.client.RegistryProvider`: one httpx client for every
registry, and what it learns about each host so that requests go right the first time.

Per host it finds out the scheme (:mod:`regimage.registry.schemes`) and the challenge
(:mod:`regimage.registry.challenges`): from the answer to the ``GET /v2/`` that
:mod:`regimage.registry.preconnect` sent at start-up, from the disk cache, or from the first request's
own 401. The first request to a host goes alone; the others wait for its answer. The registry API
itself (manifests, blobs, lists, verification) is the provider's.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from http.cookiejar import CookieJar, DefaultCookiePolicy

import anyio
import httpx

from regimage._version import __version__
from regimage.content.disk_cache import DiskCache
from regimage.errors import InvalidReference, NetworkError, RegistryError
from regimage.http.error_mapping import map_transport_error
from regimage.http.extensions import EXCHANGE_TIMEOUT, OPERATION
from regimage.http.pool import ConnectionPool, PoolTransport
from regimage.http.proxy import ProxySettings
from regimage.http.redaction import redact_httpx_log, redact_url
from regimage.http.request_log import RequestStats
from regimage.http.retry import RetryPolicy
from regimage.http.transport import build_transport
from regimage.http.trust import HostCAFiles, HostTrust
from regimage.model.host import host_problem, split_host
from regimage.model.ratelimit import RateLimit
from regimage.registry.auth import RegistryAuth
from regimage.registry.challenges import Challenges
from regimage.registry.credentials import CredentialStore
from regimage.registry.preconnect import WAIT_SECONDS, Preconnect
from regimage.registry.schemes import Schemes

logger = logging.getLogger("regimage")

#: Redirects followed per request (blob GETs redirect to CDNs once or twice).
MAX_REDIRECTS = 10


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


def _proxies(proxy: str | None, trust_env: bool) -> ProxySettings | None:
    """The explicit ``proxy``'s settings, else the environment's (with ``trust_env``)."""
    if proxy is not None:
        return ProxySettings.explicit_proxy(proxy)
    return ProxySettings.from_environ(os.environ) if trust_env else None


class RegistrySession:
    """Sends the registry API requests of one provider: scheme, auth, first-request gating.

    ``plain_all``/``plain_hosts`` say which registries speak plain HTTP (loopback ones are found
    out); ``transport`` replaces the innermost httpx transport (then ``proxy``, ``trust_env``'s
    proxy variables, ``certs_d`` and ``host_ca_files`` are its business); ``disk`` keeps what was
    learned (schemes of loopback hosts, challenges, tokens) across processes; ``preconnect``
    holds what the program's start-up opened and asked (its connections go to the pool, its
    answers here). ``proxy`` sends every request through that proxy; otherwise, with
    ``trust_env``, the proxy variables decide (:mod:`regimage.http.proxy`). ``certs_d`` (None:
    the standard roots) and ``host_ca_files`` (e.g. containerd's ``hosts.toml`` ``ca``) give
    hosts CAs of their own (:mod:`regimage.http.trust`). ``document_timeout`` bounds the whole
    exchange of every request sent (token requests and redirects too) but a blob stream's.
    """

    def __init__(
        self,
        store: CredentialStore,
        *,
        plain_all: bool,
        plain_hosts: frozenset[str],
        ca_file: str | os.PathLike[str] | None,
        verify_tls: bool,
        transport: httpx.AsyncBaseTransport | None,
        max_connections_per_host: int,
        retry: RetryPolicy | None,
        timeout: float,
        disk: DiskCache | None,
        clock: Callable[[], float] | None,
        preconnect: Preconnect | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        certs_d: Sequence[str | os.PathLike[str]] | None = None,
        host_ca_files: HostCAFiles | None = None,
        document_timeout: float | None = None,
    ) -> None:
        self._early = preconnect
        self._timeout, self._document_timeout = timeout, document_timeout
        self._schemes = Schemes(plain_all=plain_all, plain_hosts=plain_hosts, disk=disk)
        self._contact: dict[str, anyio.Event] = {}  # set once a host has answered
        self._prepared: set[str] = set()
        self._ping_locks: dict[str, anyio.Lock] = {}
        self._probes_taken: set[str] = set()
        self.stats = RequestStats()
        if transport is None:
            trust = HostTrust(
                verify=verify_tls,
                ca_file=ca_file,
                trust_env=trust_env,
                certs_d=certs_d,
                extra=host_ca_files,
            )
            transport = PoolTransport(
                trust.shared,
                max_per_origin=max_connections_per_host,
                early=preconnect,
                host_tls=trust.for_host,
                proxies=_proxies(proxy, trust_env),
            )
        #: The connection pool (None when a ``transport`` was passed in).
        self.pool: ConnectionPool | None = (
            transport.pool if isinstance(transport, PoolTransport) else None
        )
        self._client = httpx.AsyncClient(
            transport=build_transport(
                transport,
                retry=retry,
                per_host=max_connections_per_host,
                stats=self.stats,
                token_cache=disk,
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
            event_hooks={"request": [self._bound_exchange]},
        )
        self._auth = RegistryAuth(self._client, store, clock=clock or time.monotonic)
        self._challenges = Challenges(self._auth, disk)
        redact_httpx_log()

    async def aclose(self) -> None:
        """Close every connection."""
        await self._client.aclose()

    def rate_limit(self, host: str) -> RateLimit | None:
        """The request budget ``host`` stated last (see ``RegistryProvider.rate_limit``)."""
        return self._auth.rate_limit(host)

    def rate_limits(self) -> dict[str, RateLimit]:
        """Every budget stated so far, by API host."""
        return self._auth.rate_limits.as_dict()

    def base_url(self, host: str) -> str:
        """``scheme://host`` as this provider currently reaches ``host``."""
        return f"{self._schemes.scheme(host)}://{host}"

    def _answered(self, request: httpx.Request, response: httpx.Response) -> None:
        """Every answer, as the transport receives it: the first from a host confirms its scheme
        and lets the requests held back for it go (see :meth:`open`)."""
        host = request.url.netloc.decode("ascii")
        if host in self._contact:
            self._schemes.confirm(host, request.url.scheme)
        event = self._contact.get(host)
        if event is not None and not event.is_set():
            event.set()

    async def _bound_exchange(self, request: httpx.Request) -> None:
        """Every request sent (registry, token server, redirect) is a document's, whose exchange
        has a deadline (enforced by the pool), unless it says otherwise: a blob stream's, None."""
        request.extensions.setdefault(EXCHANGE_TIMEOUT, self._document_timeout)

    def _prepare(self, host: str) -> None:
        """First use of ``host`` in this provider: take what the disk cache knows about it. A host
        no connection could use is refused first: the parser refuses it in references, but a
        :class:`~regimage.model.reference.Reference` built by hand is not checked."""
        problem = host_problem(host)
        if problem is not None:
            raise InvalidReference(f"invalid registry host {host!r}: {problem}")
        self._prepared.add(host)
        self._schemes.load_hint(host)
        self._challenges.load(host, self.base_url(host))

    async def _take_start_up_answer(self, host: str) -> None:
        """Learn what ``host`` answered to the ``GET /v2/`` that :mod:`regimage.registry.preconnect` sent
        while the program started (waiting for it if it is still on its way), as from this
        provider's own ping: its challenge, or that it needs none. Once per host; nothing when no
        probe was started for it."""
        if self._early is None or host in self._probes_taken:
            return
        self._probes_taken.add(host)
        scheme = self._schemes.scheme(host)
        try:
            name, port = split_host(host)
        except ValueError:  # a port out of range: the request itself says so
            return
        tls = scheme == "https"
        pending = self._early.take_answer(name, port or (443 if tls else 80), tls=tls)
        if pending is None:
            return
        if pending.done:
            answer = pending.answer
        else:  # (a loopback port deaf to TLS would keep the thread's handshake for ever)
            wait = self._schemes.handshake_limit(host, scheme, WAIT_SECONDS)
            answer = await anyio.to_thread.run_sync(
                pending.wait_answer, wait, abandon_on_cancel=True
            )
        if answer is None:
            return
        url = f"{scheme}://{host}/v2/"
        response = httpx.Response(
            answer.status,
            headers=[("WWW-Authenticate", value) for value in answer.challenges],
            request=httpx.Request("GET", url),
        )
        self._challenges.observe(host, response)
        if tls:  # a TLS handshake with it succeeded: no plain-HTTP fall-back to find out
            self._schemes.confirm(host, scheme)
        logger.debug("%s: answered %s at start-up (%d)", host, url, answer.status)

    def _settled(self, host: str) -> bool:
        """Whether requests to ``host`` may go at once: its scheme is known (or not in doubt) and
        so is what it wants (a challenge, or nothing)."""
        if self._schemes.in_doubt(host):
            return False
        return self._challenges.known(host)

    async def open(
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
        open_ended: bool = False,
    ) -> httpx.Response:
        """Send one registry API request and return its (streaming, unread) answer; an
        ``open_ended`` one (a blob stream) has no deadline for its whole exchange.

        The first request to a host goes alone; the others wait until the host has answered it
        (the answer's headers, not the whole exchange). It finds out whether a loopback registry
        speaks TLS, and what the registry wants (its 401 challenge), so that the requests held
        back go with the right scheme and a token, not all into the same 401.
        """
        extensions: dict[str, object] = {OPERATION: operation}
        if open_ended:
            extensions[EXCHANGE_TIMEOUT] = None
        if host not in self._prepared:
            self._prepare(host)
        event = self._contact.get(host)
        if event is None and not self._settled(host):
            event = self._contact[host] = anyio.Event()
            try:
                await self._take_start_up_answer(host)
                return await self._send(
                    method, host, target, extensions, reference, headers, params, authenticate
                )
            finally:
                event.set()
        if event is not None and not event.is_set():
            await event.wait()
        return await self._send(
            method, host, target, extensions, reference, headers, params, authenticate
        )

    async def _send(
        self,
        method: str,
        host: str,
        target: str,
        extensions: dict[str, object],
        reference: str | None,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str | int] | None,
        authenticate: bool,
    ) -> httpx.Response:
        while True:
            scheme = self._schemes.scheme(host)
            request = self._client.build_request(
                method,
                f"{scheme}://{host}{target}",
                headers=headers,
                params=params,
                extensions=extensions,
                timeout=self._schemes.timeout(host, scheme, self._timeout),
            )
            try:
                response = await self._client.send(
                    request, auth=self._auth if authenticate else None, stream=True
                )
            except httpx.InvalidURL as exc:  # httpx refused to follow a redirect
                raise RegistryError(
                    f"{host} redirected {redact_url(request.url)} to an invalid URL: "
                    f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}",
                    url=redact_url(request.url),
                    reference=reference,
                ) from exc
            except httpx.HTTPError as exc:
                if self._schemes.retry_on_error(host, scheme, exc):
                    continue
                raise map_transport_error(exc, request.url, reference=reference) from exc
            if await self._schemes.retry_on_answer(host, scheme, response):
                continue
            self._challenges.save(host)
            return response

    # ── batches ───────────────────────────────────────────────────────────────────────────────────

    async def authorize(self, host: str, scopes: Iterable[str]) -> None:
        """Pull tokens for ``scopes`` of ``host`` ahead of the requests, and connections opened
        meanwhile (see ``RegistryProvider.authorize``)."""
        wanted = set(scopes)
        if host not in self._prepared:
            self._prepare(host)
        if not await self._learn_challenge(host):
            return
        async with anyio.create_task_group() as group:
            if self.pool is not None:
                group.start_soon(self._preconnect, host, len(wanted))
            await self._auth.authorize(self.base_url(host), wanted)

    async def _learn_challenge(self, host: str) -> bool:
        """Make sure ``host``'s challenge (or that it needs none) is known; False when the
        registry cannot be reached."""
        if self._challenges.known(host):
            return True
        lock = self._ping_locks.get(host)
        if lock is None:
            lock = self._ping_locks[host] = anyio.Lock()
        async with lock:
            await self._take_start_up_answer(host)
            if self._challenges.known(host):
                return True
            try:
                response = await self.open(
                    "GET", host, "/v2/", operation="ping", reference=None, authenticate=False
                )
            except (NetworkError, RegistryError) as exc:
                logger.debug("authorize: cannot reach %s: %s", host, exc)
                return False
            try:
                self._challenges.observe(host, response)
            finally:
                await response.aclose()
            self._schemes.remember(host, self._schemes.scheme(host))
            self._challenges.save(host)
        return True

    async def _preconnect(self, host: str, count: int) -> None:
        if self.pool is None:  # pragma: no cover - callers check
            return
        opened = await self.pool.preconnect(self.base_url(host), count)
        if opened:
            logger.debug("opened %d connection(s) to %s ahead of the requests", opened, host)
