"""Registry authentication: an ``httpx.Auth`` that answers Basic and Bearer challenges.

The flow (DESIGN.md §5), per request:

1. send with what we already have for this host and scope: a cached token, a token fetched now
   because this host's challenge is remembered (no 401 round trip for a second repository), Basic
   credentials for a Basic host, or nothing;
2. on a 401, read the ``WWW-Authenticate`` challenge, remember it for the host, get a token (or use
   Basic) and send once more. A token that was refused is dropped from the cache first, so an
   expired or revoked token is renewed transparently; one re-authentication per request at most;
3. when the host the registry redirected to (S3, Azure Blob, a CDN) refuses the signed URL, ask
   again once: a refused HEAD as a GET, a refused GET (an expired URL) for a fresh redirect.

Every answer from the registry host is also read for the budget it states (``RateLimit-*``
headers, Docker Hub's pull limit): :attr:`RegistryAuth.rate_limits` keeps the last one per host,
and the answer carries it in its ``regimage.rate_limit`` extension for error messages.

Tokens come from :mod:`regimage.registry.tokens` (cached per scope, one fetch in flight),
which asks :mod:`regimage.registry.token_server`; :mod:`regimage.registry.batch_auth` fills the
cache for many repositories at once. A token is only ever sent to the host whose challenge asked
for it, credentials only over HTTPS or to a loopback registry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from dataclasses import dataclass

import httpx

from regimage.errors import InvalidChallenge, RegImageError
from regimage.http.error_mapping import transport_errors
from regimage.http.extensions import (
    CREDENTIALS_SENT,
    CREDENTIALS_WITHHELD,
    OPERATION,
    RATE_LIMIT,
)
from regimage.model.challenge import Challenge, parse_challenges
from regimage.model.host import is_loopback_host
from regimage.model.ratelimit import RateLimit, RateLimits
from regimage.registry.batch_auth import SCOPE_BATCH_SIZE, BatchAuthorizer
from regimage.registry.credentials import Credentials, CredentialStore, basic_header
from regimage.registry.realm import netloc
from regimage.registry.scopes import scopes_for_path
from regimage.registry.token_server import TokenServer
from regimage.registry.tokens import Token, TokenStore

__all__ = ["RegistryAuth"]

logger = logging.getLogger("regimage")

#: What a storage host answers to a HEAD on a URL signed for GET: 403 (S3, the old GHCR
#: backend: containerd/stargz-snapshotter#167), 400 or 405 from others.
_HEAD_REFUSED_STATUSES = frozenset({400, 403, 405})


@dataclass(frozen=True, slots=True)
class _Sent:
    """What authorization went with a request."""

    kind: str  # "none", "basic", "bearer", "registry-token"
    credentials: bool = False
    token: Token | None = None


_NOTHING = _Sent("none")
#: What :meth:`RegistryAuth._answer` gives when it will not send the credentials it has (plain HTTP
#: to a host that is not loopback): nothing is sent again, and the answer says why.
_WITHHELD = _Sent("withheld")


def _is_batch(refused: Token | None, replacement: Token | None) -> bool:
    """Whether a refused token covered more scopes than the one that replaced it."""
    return (
        refused is not None
        and replacement is not None
        and len(refused.scopes) > 1
        and len(replacement.scopes) < len(refused.scopes)
    )


def _is_blob(request: httpx.Request) -> bool:
    return "/blobs/" in request.url.path


def _as_get(request: httpx.Request) -> httpx.Request:
    """The same request as a GET (its answer is read for headers only)."""
    extensions = dict(request.extensions)
    operation = extensions.get(OPERATION)
    if isinstance(operation, str) and operation.endswith("-head"):
        extensions[OPERATION] = operation.removesuffix("-head")
    return httpx.Request("GET", request.url, headers=request.headers, extensions=extensions)


def _pick(challenges: Sequence[Challenge]) -> Challenge | None:
    """Bearer over Basic; unknown schemes are ignored."""
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    return None


class RegistryAuth(httpx.Auth):
    """Basic and Bearer authentication for every registry a client talks to.

    ``client`` sends the token requests (without this auth, through the same transports);
    ``credentials`` finds credentials per host and repository. ``clock`` (monotonic seconds) is
    injectable so tests can expire tokens. ``oauth_password`` sends username and password as an
    OAuth2 ``grant_type=password`` POST instead of Basic credentials on a GET.

    Bodies of 401 answers are read through httpx (it reads them before re-sending): bound them in
    the transport, as :class:`~regimage.http.request_log.LoggingTransport` does.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        credentials: CredentialStore | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        oauth_password: bool = False,
        scope_batch_size: int = SCOPE_BATCH_SIZE,
    ) -> None:
        self._client = client
        self._credentials = credentials if credentials is not None else CredentialStore()
        server = TokenServer(client, clock=clock, oauth_password=oauth_password)
        self._tokens = TokenStore(server.fetch, clock)
        self._batches = BatchAuthorizer(
            self._tokens, self._credentials, batch_size=scope_batch_size
        )
        self._challenges: dict[str, Challenge] = {}
        self._open_hosts: set[str] = set()
        self._head_refused: set[str] = set()
        self._withheld_from: set[str] = set()
        #: The request budget each registry host last stated (Docker Hub's pull limit).
        self.rate_limits = RateLimits()

    def __repr__(self) -> str:
        return f"<RegistryAuth(hosts={sorted(self._challenges)!r}, tokens={len(self._tokens)})>"

    def challenge_for(self, host: str) -> Challenge | None:
        """The challenge remembered for ``host`` (``host:port``), if any."""
        return self._challenges.get(host)

    # ── the httpx.Auth flow ───────────────────────────────────────────────────────────────────────

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        host = netloc(request.url)
        repository, scopes = scopes_for_path(request.url.path)
        creds = await self._credentials.get(host, repository)
        if request.method == "HEAD" and host in self._head_refused and _is_blob(request):
            request = _as_get(request)  # this host's storage refuses HEAD: skip the round trips
        sent = await self._authorize(request, host, scopes, creds)
        response = yield request
        self._settle(host, response, sent)
        challenge = self._challenge_to_answer(host, response)
        if challenge is not None:
            self._challenges[host] = challenge
            self._open_hosts.discard(host)
            # Read (bounded by the transport) and release the connection before asking for a
            # token: the token server may share the registry's per-host capacity.
            await response.aread()
            if challenge.error == "invalid_token" and sent.token is not None:
                self._tokens.forget(host, challenge, sent.token)
            retry = await self._answer(request, host, scopes, creds, challenge, sent)
            if retry is None or retry is _WITHHELD:
                response.extensions[CREDENTIALS_WITHHELD] = retry is _WITHHELD
                return
            response = yield request
            self._settle(host, response, retry)
            if response.status_code == 401 and retry.token is not None:
                refused = self._challenge_of(response)
                if refused is not None and refused.error == "invalid_token":
                    self._tokens.forget(host, refused, retry.token)
            elif (
                response.is_success
                and challenge.error == "insufficient_scope"
                and _is_batch(sent.token, retry.token)
            ):
                # A many-scope token was refused where a one-scope token works: this registry
                # honours only part of a batch (it answered insufficient_scope).
                logger.debug("%s does not honour many-scope tokens; fetching one per scope", host)
                self._batches.refuse_batches(host)
            sent = retry
        follow_up = self._after_refused_redirect(request, host, response)
        if follow_up is not None:
            response = yield follow_up
            self._settle(host, response, sent)

    def _settle(self, host: str, response: httpx.Response, sent: _Sent) -> None:
        """Note on an answer what went with its request, and the host's budget it states."""
        response.extensions[CREDENTIALS_SENT] = sent.credentials
        before = self.rate_limits.get(host)
        for answer in (*response.history, response):
            if "ratelimit-limit" in answer.headers and netloc(answer.request.url) == host:
                self.rate_limits.observe(host, answer.headers.multi_items())
        budget = self.rate_limits.get(host)
        if budget is not None and budget != before:
            logger.debug("%s budget: %s", host, budget.summary())
        if budget is not None:
            response.extensions[RATE_LIMIT] = budget

    def _challenge_to_answer(self, host: str, response: httpx.Response) -> Challenge | None:
        """The challenge of a 401 from the registry itself (not from a host it redirected to)."""
        if response.status_code != 401 or netloc(response.request.url) != host:
            return None
        return self._challenge_of(response)

    def _after_refused_redirect(
        self, request: httpx.Request, host: str, response: httpx.Response
    ) -> httpx.Request | None:
        """What to send after the host a registry redirected to refused the request, or None.

        Signed storage URLs are made for one method and live minutes (containerd/stargz-snapshotter
        #167, 2020: GHCR's storage answered 403 to HEAD, and 403 once its URL expired after
        ~300 s). A refused HEAD is sent again as GET (whose answer carries the same headers; the
        body is not read), and this host's blob HEADs go as GET from then on; a refused GET asks
        the registry once more, for a fresh URL.
        """
        if not response.history or netloc(response.request.url) == host:
            return None
        target = netloc(response.request.url)
        status = response.status_code
        if request.method == "HEAD" and status in _HEAD_REFUSED_STATUSES:
            logger.debug(
                "%s (redirected from %s) refused HEAD with %d; asking with GET",
                target,
                host,
                status,
            )
            if _is_blob(request):
                self._head_refused.add(host)
            return _as_get(request)
        if request.method == "GET" and status == 403:
            logger.debug(
                "%s (redirected from %s) refused a signed URL with 403; asking %s for a fresh one",
                target,
                host,
                host,
            )
            return request
        return None

    def rate_limit(self, host: str) -> RateLimit | None:
        """The budget ``host`` (``host:port`` as requested) last stated, or None."""
        return self.rate_limits.get(host)

    async def _authorize(
        self,
        request: httpx.Request,
        host: str,
        scopes: tuple[str, ...],
        creds: Credentials | None,
    ) -> _Sent:
        """Authorize a request before it is sent, from what this host is known to want."""
        if creds is not None and creds.registry_token:
            if self._secure(request.url):
                request.headers["Authorization"] = f"Bearer {creds.registry_token}"
                return _Sent("registry-token", credentials=True)
            self._withhold(host)
            return _WITHHELD
        challenge = self._challenges.get(host)
        if challenge is None:
            return _NOTHING
        if challenge.scheme == "basic":
            if creds is not None and creds.has_password and self._secure(request.url):
                request.headers["Authorization"] = basic_header(creds)
                return _Sent("basic", credentials=True)
            return _NOTHING
        if not scopes:
            return _NOTHING
        token = await self._tokens.get(host, request.url, challenge, scopes, creds)
        request.headers["Authorization"] = f"Bearer {token.value}"
        return _Sent("bearer", credentials=token.with_credentials, token=token)

    async def _answer(
        self,
        request: httpx.Request,
        host: str,
        scopes: tuple[str, ...],
        creds: Credentials | None,
        challenge: Challenge,
        sent: _Sent,
    ) -> _Sent | None:
        """Authorize the request again after a 401, or None when trying again cannot help."""
        if sent.kind == "registry-token":
            return None
        if challenge.scheme == "basic":
            if sent.kind == "basic" or creds is None or not creds.has_password:
                return None
            if not self._secure(request.url):
                self._withhold(host)
                return _WITHHELD
            request.headers["Authorization"] = basic_header(creds)
            return _Sent("basic", credentials=True)
        wanted = tuple(dict.fromkeys([*scopes, *(challenge.scope or "").split()]))
        if not wanted:
            wanted = ("",)
        refused = sent.token
        if refused is not None:
            if challenge.error != "insufficient_scope":
                self._tokens.forget(
                    host, challenge, refused
                )  # expired or revoked: useless everywhere
            elif refused.scopes == frozenset(wanted):
                return None  # a fresh token for the same scopes would be refused the same way
        token = await self._tokens.get(host, request.url, challenge, wanted, creds, refuse=refused)
        request.headers["Authorization"] = f"Bearer {token.value}"
        return _Sent("bearer", credentials=token.with_credentials, token=token)

    def _challenge_of(self, response: httpx.Response) -> Challenge | None:
        headers = response.headers.get_list("www-authenticate")
        if not headers:
            return None
        try:
            return _pick(parse_challenges(headers))
        except InvalidChallenge as exc:
            logger.debug("ignoring an unreadable WWW-Authenticate from %s: %s", response.url, exc)
            return None

    def _withhold(self, host: str) -> None:
        """Say once per host (not once per request) that its credentials stay here."""
        if host not in self._withheld_from:
            self._withheld_from.add(host)
            logger.warning(
                "not sending credentials for %s over plain HTTP to a non-loopback host", host
            )

    @staticmethod
    def _secure(url: httpx.URL) -> bool:
        return url.scheme == "https" or is_loopback_host(netloc(url))

    # ── challenges and batches ────────────────────────────────────────────────────────────────────

    def observe(self, response: httpx.Response) -> Challenge | None:
        """Learn from an unauthenticated answer (a ``/v2/`` ping): a 401's challenge is remembered
        for its host, a 2xx marks the host as needing no auth."""
        host = netloc(response.request.url)
        if response.status_code == 401:
            challenge = self._challenge_of(response)
            if challenge is not None:
                self._challenges[host] = challenge
            return challenge
        if response.is_success:
            self._open_hosts.add(host)
        return None

    async def ping(self, base_url: str | httpx.URL) -> Challenge | None:
        """``GET /v2/`` on a registry to learn (and remember) its challenge; None if it has none."""
        url = httpx.URL(str(base_url)).join("/v2/")
        request = self._client.build_request("GET", url, extensions={OPERATION: "ping"})
        with transport_errors(url):
            response = await self._client.send(request, auth=None, stream=True)
        try:
            return self.observe(response)
        finally:
            await response.aclose()

    async def authorize(self, base_url: str | httpx.URL, scopes: Iterable[str]) -> None:
        """Fetch tokens for many scopes of one registry ahead of time, ~50 scopes per request.

        Best effort: a registry that needs no token, refuses a batch (then one token per scope
        is fetched), or fails, leaves the requests themselves to authenticate and report errors.
        """
        url = httpx.URL(str(base_url))
        host = netloc(url)
        wanted = sorted({s for s in scopes if s})
        if not wanted or host in self._open_hosts:
            return
        try:
            challenge = self._challenges.get(host) or await self.ping(url)
        except RegImageError as exc:
            logger.debug("authorize %s: ping failed: %s", host, exc)
            return
        if challenge is None or challenge.scheme != "bearer":
            return
        await self._batches.authorize(host, url, challenge, wanted)
