"""What each registry host wants before it answers: a challenge (Basic, Bearer), or nothing.

Learned from a ``GET /v2/`` (at start-up or before a batch) or from a request's own 401, and
kept in the :class:`~regimage.content.disk_cache.DiskCache` across processes, without what
belongs to one request (``scope``, ``error``), so that the next process sends its first request
with a token instead of meeting the same 401.
"""

from __future__ import annotations

import httpx

from regimage.content.disk_cache import DiskCache
from regimage.model.challenge import Challenge
from regimage.model.host import is_loopback_host
from regimage.registry.auth import RegistryAuth

__all__ = ["Challenges"]

#: Challenge parameters that belong to one request, not to the host.
_REQUEST_PARAMS = frozenset({"scope", "error", "error_description", "error_uri"})


class Challenges:
    """The challenges ``auth`` answers, loaded from and saved to ``disk``, and the hosts known
    to need no authentication."""

    def __init__(self, auth: RegistryAuth, disk: DiskCache | None) -> None:
        self._auth = auth
        self._disk = disk
        self._saved: dict[str, Challenge] = {}
        self._open_hosts: set[str] = set()

    def known(self, host: str) -> bool:
        """Whether what ``host`` wants is known: a challenge, or that it needs none."""
        return host in self._open_hosts or self._auth.challenge_for(host) is not None

    def load(self, host: str, base_url: str) -> None:
        """Hand ``auth`` the challenge the disk cache remembers for ``host`` (at ``base_url``),
        unless it knows one already."""
        if self._disk is None or self._auth.challenge_for(host) is not None:
            return
        found = self._disk.challenge(host, loopback=is_loopback_host(host))
        if found is None:
            return
        challenge = Challenge(*found)
        self._saved[host] = challenge
        # RegistryAuth learns challenges from 401 answers: hand it the remembered one.
        remembered = httpx.Response(
            401,
            headers={"WWW-Authenticate": _challenge_header(challenge)},
            request=httpx.Request("GET", f"{base_url}/v2/"),
        )
        self._auth.observe(remembered)

    def observe(self, host: str, response: httpx.Response) -> None:
        """Learn from an unauthenticated answer of ``host`` to ``GET /v2/``."""
        if self._auth.observe(response) is None and response.is_success:
            self._open_hosts.add(host)

    def save(self, host: str) -> None:
        """Write ``host``'s challenge to the disk cache (when it changed)."""
        if self._disk is None:
            return
        challenge = self._auth.challenge_for(host)
        if challenge is None:
            return
        kept = _lasting(challenge)
        if self._saved.get(host) != kept:
            self._saved[host] = kept
            self._disk.set_challenge(host, kept.scheme, kept.params)


def _lasting(challenge: Challenge) -> Challenge:
    """A challenge without what belongs to one request (``scope``, ``error``…): what a host
    answers every time."""
    params = {k: v for k, v in challenge.params.items() if k not in _REQUEST_PARAMS}
    return Challenge(challenge.scheme, params)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _challenge_header(challenge: Challenge) -> str:
    """``Bearer realm="…",service="…"``: a challenge as a WWW-Authenticate value."""
    params = ",".join(f"{k}={_quote(v)}" for k, v in challenge.params.items())
    scheme = challenge.scheme.capitalize()
    return f"{scheme} {params}" if params else scheme
