"""The token cache layer: token requests answered from the disk cache while the token lives.

A CLI run is one process: without the cache every run would ask the token server again.
"""

from __future__ import annotations

import hashlib
import json

import httpx

from regimage.content.disk_cache import DiskCache
from regimage.http.bounded import MAX_TOKEN_BODY_BYTES, body_too_large
from regimage.http.extensions import FROM_CACHE, OPERATION

__all__ = ["TokenCacheTransport"]


def _token_request_key(request: httpx.Request) -> tuple[str, str, str, list[str]] | None:
    """(realm, service, identity, scopes) of a cacheable token request: a GET that auth made."""
    if request.method != "GET" or request.extensions.get(OPERATION) != "token":
        return None
    url = request.url
    params = url.params
    others = sorted((k, v) for k, v in params.multi_items() if k not in ("scope", "service"))
    realm = str(url.copy_with(query=None, fragment=None))
    if others:
        realm += "?" + "&".join(f"{k}={v}" for k, v in others)
    authorization = request.headers.get("authorization")
    identity = (
        hashlib.sha256(authorization.encode("utf-8", "surrogateescape")).hexdigest()
        if authorization
        else "anonymous"
    )
    return realm, params.get("service", ""), identity, params.get_list("scope")


def _bearer(request: httpx.Request) -> str | None:
    value = request.headers.get("authorization", "")
    return value[7:] if value[:7].lower() == "bearer " else None


class TokenCacheTransport(httpx.AsyncBaseTransport):
    """Answers token requests from a :class:`~regimage.content.disk_cache.DiskCache` while the token lives,
    and keeps the tokens the token server hands out.

    It sits outermost, so that an answer from the cache is no request in :class:`RequestStats`.
    Only anonymous or Basic-authenticated GET token requests (Docker token spec) are cached, keyed
    by realm, service, a digest of the ``Authorization`` header and the scopes; an answer from the
    cache says how long the token has left (``expires_in``), so the auth layer expires it in time.
    A registry that answers 401 to a token this layer saw has the token dropped from the cache,
    so asking again reaches the token server.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, cache: DiskCache) -> None:
        self._inner = inner
        self._cache = cache
        self._seen: set[str] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = _token_request_key(request)
        if key is None:
            response = await self._inner.handle_async_request(request)
            if response.status_code == 401 and self._seen:
                refused = _bearer(request)
                if refused is not None and refused in self._seen:
                    self._seen.discard(refused)
                    self._cache.forget_token(refused)
            return response
        realm, service, identity, scopes = key
        cached = self._cache.token(realm, service, identity, scopes)
        if cached is not None:
            self._seen.add(cached.value)
            body = {
                "token": cached.value,
                "expires_in": max(1, int(cached.expires_at - self._cache.now())),
            }
            if cached.issued_at:
                body["issued_at"] = cached.issued_at
            return httpx.Response(
                200,
                json=body,
                request=request,
                extensions={FROM_CACHE: True},
            )
        response = await self._inner.handle_async_request(request)
        if response.status_code != 200:
            return response
        raw = await self._read(response, request.url)
        kept = httpx.Response(
            response.status_code,
            headers=response.headers,
            content=raw,
            request=request,
            extensions=response.extensions,
        )
        self._keep(kept.content, realm, service, identity, scopes)
        return kept

    @staticmethod
    async def _read(response: httpx.Response, url: httpx.URL) -> bytes:
        chunks: list[bytes] = []
        total = 0
        try:
            async for chunk in response.aiter_raw():
                total += len(chunk)
                if total > MAX_TOKEN_BODY_BYTES:
                    raise body_too_large(url, MAX_TOKEN_BODY_BYTES, "token response")
                chunks.append(chunk)
        finally:
            await response.aclose()
        return b"".join(chunks)

    def _keep(
        self, data: bytes, realm: str, service: str, identity: str, scopes: list[str]
    ) -> None:
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(obj, dict):
            return
        value = obj.get("token") or obj.get("access_token")
        if not isinstance(value, str) or not value:
            return
        expires_in = obj.get("expires_in")
        lifetime = 60.0  # the Docker token spec's default
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            lifetime = float(expires_in) if expires_in > 0 else lifetime
        issued_at = obj.get("issued_at")
        self._seen.add(value)
        self._cache.put_token(
            realm,
            service,
            identity,
            scopes,
            value,
            lifetime,
            issued_at if isinstance(issued_at, str) else None,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
