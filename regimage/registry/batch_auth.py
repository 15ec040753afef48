"""Batch authorization: tokens for many repositories of one registry in a few token requests.

An audit of a thousand images would otherwise meet a thousand 401s and ask for a thousand tokens.
Scopes are asked for ~50 at a time (grouped by the credentials that apply to each repository),
a few requests in flight. Some registries grant only part of a many-scope token: such a host is
asked one scope per token from then on.
"""

from __future__ import annotations

import logging
from functools import partial

import httpx

from regimage._concurrency import gather_limited
from regimage.errors import NetworkError, RegImageError
from regimage.model.challenge import Challenge
from regimage.registry.credentials import Credentials, CredentialStore
from regimage.registry.scopes import scope_repository
from regimage.registry.tokens import TokenStore, token_base

__all__ = ["SCOPE_BATCH_SIZE", "BatchAuthorizer"]

logger = logging.getLogger("regimage")

#: Scopes per token request in :meth:`BatchAuthorizer.authorize`: a 200-scope token makes a 20 KB
#: Authorization header and was slower than four 50-scope ones (DESIGN.md §10).
SCOPE_BATCH_SIZE = 50
#: Token requests in flight at once in :meth:`BatchAuthorizer.authorize`.
_AUTHORIZE_CONCURRENCY = 4


class BatchAuthorizer:
    """Fills ``tokens`` ahead of the requests, ``batch_size`` scopes per token request;
    ``credentials`` says what to authenticate each repository with."""

    def __init__(
        self,
        tokens: TokenStore,
        credentials: CredentialStore,
        *,
        batch_size: int = SCOPE_BATCH_SIZE,
    ) -> None:
        self._tokens = tokens
        self._credentials = credentials
        self._batch_size = max(1, batch_size)
        self._no_batch: set[str] = set()

    def refuse_batches(self, host: str) -> None:
        """``host`` does not honour many-scope tokens: ask it one scope per token from now on."""
        self._no_batch.add(host)

    async def authorize(
        self, host: str, url: httpx.URL, challenge: Challenge, scopes: list[str]
    ) -> None:
        """Fetch the tokens of ``scopes`` (sorted, distinct) that are not cached yet, for the
        Bearer ``challenge`` of ``host`` (reached at ``url``). Failures are only logged."""
        base = token_base(host, challenge)
        groups: dict[Credentials | None, list[str]] = {}
        for scope in scopes:
            if self._tokens.lookup(base, [scope]) is None:
                creds = await self._credentials.get(host, scope_repository(scope))
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
            await self._tokens.get(host, url, challenge, scopes, creds)
        except RegImageError as exc:
            if len(scopes) == 1 or isinstance(exc, NetworkError):
                # No answer at all (a token server that is down, or stalls past the deadline):
                # asking again one scope at a time would only wait as long once per repository.
                asked = scopes[0] if len(scopes) == 1 else f"{len(scopes)} scopes"
                logger.debug("authorize %s: token for %s failed: %s", host, asked, exc)
                return
            logger.debug("authorize %s: a %d-scope token was refused: %s", host, len(scopes), exc)
            self._no_batch.add(host)
        else:
            return
        for scope in scopes:
            try:
                await self._tokens.get(host, url, challenge, [scope], creds)
            except RegImageError as exc:
                logger.debug("authorize %s: token for %s failed: %s", host, scope, exc)
