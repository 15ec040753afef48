"""Bearer tokens, and the cache that keeps them per scope until shortly before they expire.

Tokens are cached per (registry host, realm, service) and scope: a token fetched for 50 scopes
answers for each of them. One fetch per scope set is in flight at a time (others wait for it and
take its token), so a burst of requests to a new repository costs one token request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import anyio
import httpx

from regimage.model.challenge import Challenge
from regimage.registry.credentials import Credentials

__all__ = ["FetchToken", "Token", "TokenBase", "TokenStore", "token_base"]


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


#: Where a token is valid: (registry host, realm, service).
TokenBase: TypeAlias = tuple[str, str, str]

#: Fetches a token from the realm of a challenge:
#: ``(host, registry_url, challenge, scopes, credentials) → Token``.
FetchToken: TypeAlias = Callable[
    [str, httpx.URL, Challenge, Sequence[str], Credentials | None], Awaitable[Token]
]


def token_base(host: str, challenge: Challenge) -> TokenBase:
    """Where the tokens of ``host``'s ``challenge`` are valid."""
    return (host, challenge.realm or "", challenge.service or "")


class TokenStore:
    """Tokens by base and scope; ``fetch`` gets the missing ones, ``clock`` tells expiry."""

    def __init__(self, fetch: FetchToken, clock: Callable[[], float]) -> None:
        self._fetch = fetch
        self._clock = clock
        self._tokens: dict[tuple[TokenBase, str], Token] = {}
        self._locks: dict[tuple[TokenBase, frozenset[str]], anyio.Lock] = {}

    def __len__(self) -> int:
        return len(self._tokens)

    def lookup(
        self, base: TokenBase, scopes: Iterable[str], refuse: Token | None = None
    ) -> Token | None:
        """A live cached token that covers every one of ``scopes`` (and is not ``refuse``)."""
        wanted = list(scopes)
        token = self._tokens.get((base, wanted[0]))
        if token is None or token is refuse or token.expires_at <= self._clock():
            return None
        if not token.scopes.issuperset(wanted):
            return None
        return token

    def _store(self, base: TokenBase, token: Token) -> None:
        for scope in token.scopes or {""}:
            self._tokens[(base, scope)] = token

    def forget(self, host: str, challenge: Challenge, token: Token) -> None:
        """Drop ``token`` (refused: expired or revoked) wherever it is cached."""
        base = token_base(host, challenge)
        for scope in token.scopes or {""}:
            if self._tokens.get((base, scope)) is token:
                del self._tokens[(base, scope)]

    async def get(
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
        base = token_base(host, challenge)
        wanted = list(scopes) or [""]
        token = self.lookup(base, wanted, refuse)
        if token is not None:
            return token
        key = (base, frozenset(wanted))
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = anyio.Lock()
        async with lock:
            token = self.lookup(base, wanted, refuse)
            if token is None:
                token = await self._fetch(host, registry_url, challenge, wanted, creds)
                self._store(base, token)
        return token
