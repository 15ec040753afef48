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

Tokens are cached per (registry host, realm, service) and scope with their expiry minus a margin;
one fetch per scope set is in flight at a time (others wait for it). A token is only ever sent to
the host whose challenge asked for it, credentials only over HTTPS or to a loopback registry.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

import anyio
import httpx

import regimage.http.responses as _http
from regimage._concurrency import gather_limited
from regimage.errors import (
    InvalidChallenge,
    InvalidDocument,
    RegImageError,
    RegistryError,
)
from regimage.model._json import loads_object
from regimage.model.challenge import Challenge, parse_challenges
from regimage.model.ratelimit import RateLimit, RateLimits
from regimage.model.reference import is_loopback_host
from regimage.registry.credentials import Credentials, CredentialStore
from regimage.registry.realm import check_realm, netloc

__all__ = [
    "CLIENT_ID",
    "DEFAULT_EXPIRES_IN",
    "EXPIRY_MARGIN_SECONDS",
    "SCOPE_BATCH_SIZE",
    "RegistryAuth",
    "Token",
    "scopes_for_path",
]

logger = logging.getLogger("regimage")

#: Seconds a token lives when the server does not say (Docker token spec; Quay omits it).
DEFAULT_EXPIRES_IN = 60.0
#: A token is renewed this long before it expires (at most a tenth of its life).
EXPIRY_MARGIN_SECONDS = 10.0
#: Scopes per token request in :meth:`RegistryAuth.authorize`: a 200-scope token makes a 20 KB
#: Authorization header and was slower than four 50-scope ones (DESIGN.md §10).
SCOPE_BATCH_SIZE = 50
#: Token requests in flight at once in :meth:`RegistryAuth.authorize`.
_AUTHORIZE_CONCURRENCY = 4
#: ``client_id`` sent with OAuth2 POST token requests, as the Docker token spec asks.
CLIENT_ID = "regimage"
#: Status codes after which an OAuth2 POST is retried as a GET: GCR answered 404 (2017),
#: Artifactory 401 (2018), ACR 400; 405 from servers with no POST route at all.
_POST_FALLBACK_STATUSES = frozenset({400, 401, 404, 405})
#: The operations whose URLs carry a repository name: /v2/<name>/<endpoint>/<reference>.
_REPOSITORY_ENDPOINTS = frozenset({"manifests", "blobs", "referrers"})
_CATALOG_SCOPE = "registry:catalog:*"
#: What a storage host answers to a HEAD on a URL signed for GET: 403 (S3, the old GHCR
#: backend: containerd/stargz-snapshotter#167), 400 or 405 from others.
_HEAD_REFUSED_STATUSES = frozenset({400, 403, 405})


@dataclass(frozen=True, slots=True, repr=False)
class Token:
    """A bearer token, the scopes it was asked for, and when we stop using it (clock seconds)."""

    value: str = field(repr=False)
    scopes: frozenset[str]
    expires_at: float
    with_credentials: bool = False
    refresh_token: str | None = field(default=None, repr=False)
    #: The server's ``issued_at``, kept as sent; expiry counts from our own clock (no clock skew).
    issued_at: str | None = None

    def __repr__(self) -> str:
        scopes = " ".join(sorted(self.scopes))
        return f"<Token([secure], scopes={scopes!r}, expires_at={self.expires_at:.0f})>"


@dataclass(frozen=True, slots=True)
class _Sent:
    """What authorization went with a request."""

    kind: str  # "none", "basic", "bearer", "registry-token"
    credentials: bool = False
    token: Token | None = None


_NOTHING = _Sent("none")

#: Where a token is valid: (registry host, realm, service).
_Base = tuple[str, str, str]


def scopes_for_path(path: str) -> tuple[str, tuple[str, ...]]:
    """The repository a registry API path is about, and the pull scope it needs.

    ``/v2/library/ubuntu/manifests/latest`` → ``("library/ubuntu",
    ("repository:library/ubuntu:pull",))``; ``/v2/_catalog`` → ``("", ("registry:catalog:*",))``;
    anything else (``/v2/``) → ``("", ())``.
    """
    if not path.startswith("/v2/"):
        return "", ()
    rest = path[4:]
    if rest == "_catalog":
        return "", (_CATALOG_SCOPE,)
    parts = rest.split("/")
    name = ""
    if len(parts) >= 3 and (parts[-2] in _REPOSITORY_ENDPOINTS or parts[-2:] == ["tags", "list"]):
        name = "/".join(parts[:-2])
    if not name:
        return "", ()
    return name, (f"repository:{name}:pull",)


def _scope_repository(scope: str) -> str:
    """``repository:ns/name:pull`` → ``ns/name``; other scopes → ``""``."""
    kind, _, rest = scope.partition(":")
    if kind != "repository":
        return ""
    return rest.rpartition(":")[0]


def _basic_header(creds: Credentials) -> str:
    raw = f"{creds.username or ''}:{creds.password or ''}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


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
    operation = extensions.get(_http.OPERATION)
    if isinstance(operation, str) and operation.endswith("-head"):
        extensions[_http.OPERATION] = operation.removesuffix("-head")
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
    the transport, as :class:`~regimage.http.transport.LoggingTransport` does.
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
        self._clock = clock
        self._oauth_password = oauth_password
        self._batch_size = max(1, scope_batch_size)
        self._challenges: dict[str, Challenge] = {}
        self._open_hosts: set[str] = set()
        self._no_batch: set[str] = set()
        self._tokens: dict[tuple[_Base, str], Token] = {}
        self._locks: dict[tuple[_Base, frozenset[str]], anyio.Lock] = {}
        self._refresh_tokens: dict[tuple[str, str, str], str] = {}
        self._head_refused: set[str] = set()
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
                self._forget(host, challenge, sent.token)
            retry = await self._answer(request, host, scopes, creds, challenge, sent)
            if retry is None:
                return
            response = yield request
            self._settle(host, response, retry)
            if response.status_code == 401 and retry.token is not None:
                refused = self._challenge_of(response)
                if refused is not None and refused.error == "invalid_token":
                    self._forget(host, refused, retry.token)
            elif (
                response.is_success
                and challenge.error == "insufficient_scope"
                and _is_batch(sent.token, retry.token)
            ):
                # A many-scope token was refused where a one-scope token works: this registry
                # honours only part of a batch (it answered insufficient_scope).
                logger.debug("%s does not honour many-scope tokens; fetching one per scope", host)
                self._no_batch.add(host)
            sent = retry
        follow_up = self._after_refused_redirect(request, host, response)
        if follow_up is not None:
            response = yield follow_up
            self._settle(host, response, sent)

    def _settle(self, host: str, response: httpx.Response, sent: _Sent) -> None:
        """Note on an answer what went with its request, and the host's budget it states."""
        response.extensions[_http.CREDENTIALS_SENT] = sent.credentials
        before = self.rate_limits.get(host)
        for answer in (*response.history, response):
            if "ratelimit-limit" in answer.headers and netloc(answer.request.url) == host:
                self.rate_limits.observe(host, answer.headers.multi_items())
        budget = self.rate_limits.get(host)
        if budget is not None and budget != before:
            logger.debug("%s budget: %s", host, budget.summary())
        if budget is not None:
            response.extensions[_http.RATE_LIMIT] = budget

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
            request.headers["Authorization"] = f"Bearer {creds.registry_token}"
            return _Sent("registry-token", credentials=True)
        challenge = self._challenges.get(host)
        if challenge is None:
            return _NOTHING
        if challenge.scheme == "basic":
            if creds is not None and creds.has_password and self._secure(request.url):
                request.headers["Authorization"] = _basic_header(creds)
                return _Sent("basic", credentials=True)
            return _NOTHING
        if not scopes:
            return _NOTHING
        token = await self._token(host, request.url, challenge, scopes, creds)
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
                logger.warning(
                    "not sending credentials for %s over plain HTTP to a non-loopback host", host
                )
                return None
            request.headers["Authorization"] = _basic_header(creds)
            return _Sent("basic", credentials=True)
        wanted = tuple(dict.fromkeys([*scopes, *(challenge.scope or "").split()]))
        if not wanted:
            wanted = ("",)
        refused = sent.token
        if refused is not None:
            if challenge.error != "insufficient_scope":
                self._forget(host, challenge, refused)  # expired or revoked: useless everywhere
            elif refused.scopes == frozenset(wanted):
                return None  # a fresh token for the same scopes would be refused the same way
        token = await self._token(host, request.url, challenge, wanted, creds, refuse=refused)
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

    @staticmethod
    def _secure(url: httpx.URL) -> bool:
        return url.scheme == "https" or is_loopback_host(netloc(url))

    # ── the token cache ───────────────────────────────────────────────────────────────────────────

    def _lookup(
        self, base: _Base, scopes: Iterable[str], refuse: Token | None = None
    ) -> Token | None:
        wanted = list(scopes)
        token = self._tokens.get((base, wanted[0]))
        if token is None or token is refuse or token.expires_at <= self._clock():
            return None
        if not token.scopes.issuperset(wanted):
            return None
        return token

    def _store(self, base: _Base, token: Token) -> None:
        for scope in token.scopes or {""}:
            self._tokens[(base, scope)] = token

    def _forget(self, host: str, challenge: Challenge, token: Token) -> None:
        base = (host, challenge.realm or "", challenge.service or "")
        for scope in token.scopes or {""}:
            if self._tokens.get((base, scope)) is token:
                del self._tokens[(base, scope)]

    async def _token(
        self,
        host: str,
        registry_url: httpx.URL,
        challenge: Challenge,
        scopes: Sequence[str],
        creds: Credentials | None,
        *,
        refuse: Token | None = None,
    ) -> Token:
        """A valid token for ``scopes`` on ``host``: cached, or fetched once however many ask.

        ``refuse`` is a token the registry just turned down: it is not an answer.
        """
        base = (host, challenge.realm or "", challenge.service or "")
        wanted = list(scopes) or [""]
        token = self._lookup(base, wanted, refuse)
        if token is not None:
            return token
        key = (base, frozenset(wanted))
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = anyio.Lock()
        async with lock:
            token = self._lookup(base, wanted, refuse)
            if token is None:
                token = await self._fetch_token(host, registry_url, challenge, wanted, creds)
                self._store(base, token)
        return token

    # ── fetching tokens ───────────────────────────────────────────────────────────────────────────

    def _check_realm(
        self, host: str, registry_url: httpx.URL, challenge: Challenge, creds: bool
    ) -> httpx.URL:
        return check_realm(host, registry_url, challenge.realm, with_credentials=creds)

    async def _fetch_token(
        self,
        host: str,
        registry_url: httpx.URL,
        challenge: Challenge,
        scopes: Sequence[str],
        creds: Credentials | None,
    ) -> Token:
        usable = creds if creds is not None and not creds.is_empty else None
        realm = self._check_realm(host, registry_url, challenge, usable is not None)
        service = challenge.service or ""
        scope_list = [s for s in scopes if s]
        refresh_key = (host, str(realm), service)
        refresh = None
        if usable is not None:
            refresh = usable.identity_token or self._refresh_tokens.get(refresh_key)
        response: httpx.Response | None = None
        with_credentials = usable is not None
        if refresh or (self._oauth_password and usable is not None and usable.has_password):
            response = await self._post_token(realm, service, scope_list, usable, refresh)
            if response.status_code in _POST_FALLBACK_STATUSES:
                logger.debug(
                    "token POST to %s answered %d; falling back to GET",
                    _http.redact_url(realm),
                    response.status_code,
                )
                await response.aclose()
                response = None
        if response is None:
            basic = usable if usable is not None and usable.has_password else None
            if usable is not None and usable.identity_token and not usable.password:
                # The refresh POST was refused (GCR: 404): send the identity token as the Basic
                # password, as containerd's fallback does.
                basic = Credentials(username=usable.username, password=usable.identity_token)
            with_credentials = basic is not None
            response = await self._get_token(realm, service, scope_list, basic)
        await _http.raise_for_token_status(
            response, host=host, credentials_sent=with_credentials, scopes=scope_list
        )
        data = await _http.read_bounded(response, _http.MAX_TOKEN_BODY_BYTES, what="token response")
        token = self._parse_token(data, realm, host, frozenset(scopes), with_credentials)
        if token.refresh_token and with_credentials:
            self._refresh_tokens[refresh_key] = token.refresh_token
        logger.debug(
            "token for %s from %s: %d scope(s), valid %.0f s",
            host,
            _http.redact_url(realm),
            len(scope_list),
            token.expires_at - self._clock(),
        )
        return token

    async def _send_token_request(self, request: httpx.Request) -> httpx.Response:
        with _http.transport_errors(request.url):
            return await self._client.send(request, auth=None, stream=True)

    async def _get_token(
        self, realm: httpx.URL, service: str, scopes: list[str], creds: Credentials | None
    ) -> httpx.Response:
        params: list[tuple[str, str | int | float | bool | None]] = []
        if service:
            params.append(("service", service))
        params.extend(("scope", scope) for scope in scopes)
        headers = {}
        if creds is not None:
            headers["Authorization"] = _basic_header(creds)
        request = self._client.build_request(
            "GET",
            realm,
            params=params,
            headers=headers,
            extensions={_http.OPERATION: "token"},
        )
        return await self._send_token_request(request)

    async def _post_token(
        self,
        realm: httpx.URL,
        service: str,
        scopes: list[str],
        creds: Credentials | None,
        refresh: str | None,
    ) -> httpx.Response:
        form: dict[str, str] = {"client_id": CLIENT_ID}
        if service:
            form["service"] = service
        if scopes:
            form["scope"] = " ".join(scopes)
        if refresh:
            form["grant_type"] = "refresh_token"
            form["refresh_token"] = refresh
        else:
            form["grant_type"] = "password"
            form["username"] = (creds.username or "") if creds else ""
            form["password"] = (creds.password or "") if creds else ""
        request = self._client.build_request(
            "POST", realm, data=form, extensions={_http.OPERATION: "token"}
        )
        return await self._send_token_request(request)

    def _parse_token(
        self,
        data: bytes,
        realm: httpx.URL,
        host: str,
        scopes: frozenset[str],
        with_credentials: bool,
    ) -> Token:
        shown = _http.redact_url(realm)
        try:
            obj = loads_object(data, what="token response")
        except InvalidDocument as exc:
            raise RegistryError(
                f"the token server {shown} for {host} answered something that is not a JSON "
                f"object: {exc}",
                url=shown,
            ) from None
        value = obj.get("token") or obj.get("access_token")
        if not isinstance(value, str) or not value:
            raise RegistryError(
                f"the token server {shown} for {host} answered without a 'token' or 'access_token'",
                url=shown,
            )
        if not value.isascii() or not value.isprintable() or " " in value:
            raise RegistryError(
                f"the token server {shown} for {host} answered a token with characters that "
                "cannot go in a header",
                url=shown,
            )
        expires_in = obj.get("expires_in")
        lifetime = DEFAULT_EXPIRES_IN
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            lifetime = float(expires_in) if expires_in > 0 else DEFAULT_EXPIRES_IN
        margin = min(EXPIRY_MARGIN_SECONDS, lifetime / 10)
        refresh = obj.get("refresh_token")
        issued_at = obj.get("issued_at")
        return Token(
            value=value,
            scopes=scopes,
            expires_at=self._clock() + lifetime - margin,
            with_credentials=with_credentials,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            issued_at=issued_at if isinstance(issued_at, str) else None,
        )

    # ── batching ──────────────────────────────────────────────────────────────────────────────────

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
        request = self._client.build_request("GET", url, extensions={_http.OPERATION: "ping"})
        with _http.transport_errors(url):
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
        base = (host, challenge.realm or "", challenge.service or "")
        groups: dict[Credentials | None, list[str]] = {}
        for scope in wanted:
            if self._lookup(base, [scope]) is None:
                creds = await self._credentials.get(host, _scope_repository(scope))
                groups.setdefault(creds, []).append(scope)
        size = 1 if host in self._no_batch else self._batch_size
        jobs = [
            partial(self._authorize_chunk, host, url, challenge, group[i : i + size], creds)
            for creds, group in groups.items()
            for i in range(0, len(group), size)
        ]
        await gather_limited(jobs, _AUTHORIZE_CONCURRENCY)

    async def _authorize_chunk(
        self,
        host: str,
        url: httpx.URL,
        challenge: Challenge,
        scopes: list[str],
        creds: Credentials | None,
    ) -> None:
        try:
            await self._token(host, url, challenge, scopes, creds)
        except RegImageError as exc:
            if len(scopes) == 1:
                logger.debug("authorize %s: token for %s failed: %s", host, scopes[0], exc)
                return
            logger.debug("authorize %s: a %d-scope token was refused: %s", host, len(scopes), exc)
            self._no_batch.add(host)
        else:
            return
        for scope in scopes:
            try:
                await self._token(host, url, challenge, [scope], creds)
            except RegImageError as exc:
                logger.debug("authorize %s: token for %s failed: %s", host, scope, exc)
