"""Token servers: a Bearer challenge's realm asked for a token (Docker token spec, OAuth2).

A token is asked for with a GET (Basic credentials, or none for anonymous pulls), or with an
OAuth2 POST when there is a refresh token (an identity token from ``docker login``, or one the
server handed out before) or when passwords go as ``grant_type=password``; a POST the server
refuses is asked again as a GET. Credentials go only to a realm :func:`check_realm` allows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import httpx

from regimage.errors import InvalidDocument, RegistryError
from regimage.http.bounded import MAX_TOKEN_BODY_BYTES, read_bounded
from regimage.http.error_mapping import transport_errors
from regimage.http.extensions import OPERATION
from regimage.http.redaction import redact_url
from regimage.http.status import raise_for_token_status
from regimage.model._json import loads_object
from regimage.model.challenge import Challenge
from regimage.registry.credentials import Credentials, basic_header
from regimage.registry.realm import check_realm
from regimage.registry.tokens import Token

__all__ = ["CLIENT_ID", "DEFAULT_EXPIRES_IN", "EXPIRY_MARGIN_SECONDS", "TokenServer"]

logger = logging.getLogger("regimage")

#: Seconds a token lives when the server does not say (Docker token spec; Quay omits it).
DEFAULT_EXPIRES_IN = 60.0
#: A token is renewed this long before it expires (at most a tenth of its life).
EXPIRY_MARGIN_SECONDS = 10.0
#: ``client_id`` sent with OAuth2 POST token requests, as the Docker token spec asks.
CLIENT_ID = "regimage"
#: Status codes after which an OAuth2 POST is retried as a GET: GCR answered 404 (2017),
#: Artifactory 401 (2018), ACR 400; 405 from servers with no POST route at all.
_POST_FALLBACK_STATUSES = frozenset({400, 401, 404, 405})


class TokenServer:
    """Fetches tokens through ``client`` (without registry auth, through the same transports).

    ``oauth_password`` sends username and password as an OAuth2 ``grant_type=password`` POST
    instead of Basic credentials on a GET. Refresh tokens the servers hand out are kept per
    (host, realm, service) and used for the next token.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        oauth_password: bool = False,
    ) -> None:
        self._client = client
        self._clock = clock
        self._oauth_password = oauth_password
        self._refresh_tokens: dict[tuple[str, str, str], str] = {}

    async def fetch(
        self,
        host: str,
        registry_url: httpx.URL,
        challenge: Challenge,
        scopes: Sequence[str],
        creds: Credentials | None,
    ) -> Token:
        """A new token for ``scopes`` from the realm of ``host``'s ``challenge``, asked with
        ``creds`` when there are any (``registry_url`` is the request that met the challenge)."""
        usable = creds if creds is not None and not creds.is_empty else None
        realm = check_realm(
            host, registry_url, challenge.realm, with_credentials=usable is not None
        )
        service = challenge.service or ""
        scope_list = [s for s in scopes if s]
        refresh_key = (host, str(realm), service)
        refresh = None
        if usable is not None:
            refresh = usable.identity_token or self._refresh_tokens.get(refresh_key)
        response: httpx.Response | None = None
        with_credentials = usable is not None
        if refresh or (self._oauth_password and usable is not None and usable.has_password):
            response = await self._post(realm, service, scope_list, usable, refresh)
            if response.status_code in _POST_FALLBACK_STATUSES:
                logger.debug(
                    "token POST to %s answered %d; falling back to GET",
                    redact_url(realm),
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
            response = await self._get(realm, service, scope_list, basic)
        await raise_for_token_status(
            response, host=host, credentials_sent=with_credentials, scopes=scope_list
        )
        data = await read_bounded(response, MAX_TOKEN_BODY_BYTES, what="token response")
        token = self._parse(data, realm, host, frozenset(scopes), with_credentials)
        if token.refresh_token and with_credentials:
            self._refresh_tokens[refresh_key] = token.refresh_token
        logger.debug(
            "token for %s from %s: %d scope(s), valid %.0f s",
            host,
            redact_url(realm),
            len(scope_list),
            token.expires_at - self._clock(),
        )
        return token

    async def _send(self, request: httpx.Request) -> httpx.Response:
        with transport_errors(request.url):
            return await self._client.send(request, auth=None, stream=True)

    async def _get(
        self, realm: httpx.URL, service: str, scopes: list[str], creds: Credentials | None
    ) -> httpx.Response:
        params: list[tuple[str, str | int | float | bool | None]] = []
        if service:
            params.append(("service", service))
        params.extend(("scope", scope) for scope in scopes)
        headers = {}
        if creds is not None:
            headers["Authorization"] = basic_header(creds)
        request = self._client.build_request(
            "GET",
            realm,
            params=params,
            headers=headers,
            extensions={OPERATION: "token"},
        )
        return await self._send(request)

    async def _post(
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
            "POST", realm, data=form, extensions={OPERATION: "token"}
        )
        return await self._send(request)

    def _parse(
        self,
        data: bytes,
        realm: httpx.URL,
        host: str,
        scopes: frozenset[str],
        with_credentials: bool,
    ) -> Token:
        shown = redact_url(realm)
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
