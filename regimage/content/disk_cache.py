"""The disk cache: content, challenges, schemes and tokens kept for every process of the user.

What makes a repeat run cheap: content (addressed by digest, so it never goes stale), the
authentication challenge each registry answered (so the first request already carries a token),
the scheme a loopback registry speaks (so a warm run does not try TLS first), and tokens until they
expire.

Layout under ``${XDG_CACHE_HOME:-~/.cache}/regimage`` (directories 0700, files 0600)::

    v1/content/<sha256(host/repository)[:32]>/<algorithm>/<encoded>   verified on every read
    v1/hosts/<sha256(host)[:32]>.json                                 challenge, scheme
    v1/tokens/<sha256(realm, service, identity)[:32]>/<scopes key>    token, expiry (wall clock)
    v1/tokens/<…>/s-<sha256(scope)[:32]>                              which token file has a scope

Files are replaced atomically and checked when read (see
:mod:`regimage.content.cache_directory`): content against its digest, metadata as JSON of the
expected shape. A file that fails the check is deleted and treated as missing. Tokens are secrets:
they are never logged, and are written only to a cache directory private to the user. The cache
is a cache: any file may be deleted at any time, and no I/O error is raised: a directory the user
cannot use (one root wrote into with the same HOME, say) turns it off for the run, said once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regimage.content.cache_directory import CacheDirectory
from regimage.content.memory_cache import DEFAULT_CACHE_BYTES, MemoryCache
from regimage.errors import DigestMismatch, InvalidDigest
from regimage.model.digest import Digest

__all__ = [
    "MAX_DISK_ITEM_BYTES",
    "CachedToken",
    "DiskCache",
    "default_cache_directory",
]

logger = logging.getLogger("regimage")

#: Content larger than this is not written to disk (manifests and configs are far smaller).
MAX_DISK_ITEM_BYTES = 4 * 1024 * 1024
#: How long a learned challenge is trusted (a loopback registry may be another one next time).
CHALLENGE_SECONDS = 7 * 24 * 3600.0
LOOPBACK_CHALLENGE_SECONDS = 3600.0
#: A cached token is not handed out when it has less than this left (seconds).
TOKEN_MARGIN_SECONDS = 15.0
_VERSION = "v1"


def default_cache_directory(environ: Mapping[str, str] | None = None) -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/regimage`` (a relative XDG_CACHE_HOME is ignored, as the
    XDG spec asks). Raises RuntimeError when there is no absolute home directory to fall back
    on: no HOME and none in the user database (a container's arbitrary uid), or a relative HOME."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME", "")
    if base and os.path.isabs(base):
        return Path(base) / "regimage"
    home = Path.home()
    if not home.is_absolute():
        raise RuntimeError(f"the home directory {str(home)!r} is not an absolute path")
    return home / ".cache" / "regimage"


@dataclass(frozen=True, slots=True, repr=False)
class CachedToken:
    """A token read back from the cache: its value, the scopes it was asked for, when it expires
    (epoch seconds), and the server's ``issued_at`` as sent."""

    value: str
    scopes: frozenset[str]
    expires_at: float
    issued_at: str | None = None

    def __repr__(self) -> str:  # the value is a secret
        return (
            f"<CachedToken([secure], scopes={len(self.scopes)}, expires_at={self.expires_at:.0f})>"
        )


def _hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


class DiskCache:
    """Content, challenges, schemes and tokens on disk, shared by every process of the user.

    ``directory`` defaults to :func:`default_cache_directory`. Content read in this process is
    also kept in a :class:`MemoryCache` of ``memory_bytes``. ``tokens=False`` keeps tokens out of
    the cache. ``clock`` gives epoch seconds (tests move it to expire tokens).

    Reads and writes are small synchronous file operations (a few KB, local disk) made from the
    event loop's thread; no failure is an error. A missing file is a miss; any other I/O error
    (no home directory, a directory the user may not enter or write, a file where a directory
    should be, a full disk) turns the disk cache off for the rest of the run: :attr:`unusable`
    says why, and ``on_unusable`` is told once (by default, a warning on the ``regimage`` logger).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        memory_bytes: int = DEFAULT_CACHE_BYTES,
        tokens: bool = True,
        clock: Callable[[], float] = time.time,
        on_unusable: Callable[[str], None] | None = None,
    ) -> None:
        homeless: RuntimeError | None = None
        if directory is None:
            try:
                directory = default_cache_directory()
            except RuntimeError as exc:  # nowhere to keep it: never touched (below)
                directory, homeless = Path("~", ".cache", "regimage"), exc
        self.directory = Path(directory)
        self._files = CacheDirectory(self.directory, _VERSION, on_unusable=on_unusable)
        if homeless is not None:
            self._files.give_up(
                f"cannot use the cache: no home directory to keep it in ({homeless}); set "
                "XDG_CACHE_HOME to a directory of yours; going on without it"
            )
        self._root = self._files.root
        self._memory = MemoryCache(memory_bytes)
        self._clock = clock
        self._tokens_enabled = tokens

    def __repr__(self) -> str:
        return f"<DiskCache({str(self.directory)!r})>"

    @property
    def unusable(self) -> str | None:
        """Why the disk cache is off for the rest of the run; None while it works."""
        return self._files.unusable

    def now(self) -> float:
        """The cache's clock: epoch seconds (token expiry is counted on it)."""
        return self._clock()

    # ── content ─────────────────────────────────────────────────────────────────────────────────

    def _content_path(self, key: str) -> tuple[Path, Digest] | None:
        where, at, digest_text = key.rpartition("@")
        if not at or not where:
            return None
        try:
            digest = Digest.parse(digest_text)
        except InvalidDigest:
            return None
        if not digest.is_verifiable:
            return None
        path = self._root / "content" / _hash(where) / digest.algorithm / digest.encoded
        return path, digest

    def get(self, key: str) -> bytes | None:
        """Content for ``host/repository@digest``, verified against the digest (a file that does
        not match is deleted)."""
        data = self._memory.get(key)
        if data is not None:
            return data
        found = self._content_path(key)
        if found is None:
            return None
        path, digest = found
        data = self._files.read(path, MAX_DISK_ITEM_BYTES)
        if data is None:
            return None
        try:
            digest.verify(data)
        except DigestMismatch:
            logger.debug("cache: %s does not match its digest; dropped", digest)
            self._files.drop(path)
            return None
        self._memory.put(key, data)
        return data

    def put(self, key: str, data: bytes) -> None:
        """Keep verified content (the caller verified it against the digest in ``key``)."""
        self._memory.put(key, data)
        if len(data) > MAX_DISK_ITEM_BYTES:
            return
        found = self._content_path(key)
        if found is None:
            return
        path, _ = found
        if not self._files.exists(path):
            self._files.write(path, data)

    # ── hosts: challenge and scheme ─────────────────────────────────────────────────────────────

    def _host_path(self, host: str) -> Path:
        return self._root / "hosts" / f"{_hash(host)}.json"

    def _host(self, host: str) -> dict[str, Any]:
        obj = self._files.read_json(self._host_path(host))
        if obj is None or obj.get("host") != host:
            return {}
        return obj

    def challenge(self, host: str, *, loopback: bool = False) -> tuple[str, dict[str, str]] | None:
        """The challenge ``host`` answered (scheme, params), while it is recent enough."""
        entry = self._host(host).get("challenge")
        if not isinstance(entry, dict):
            return None
        scheme, params, when = entry.get("scheme"), entry.get("params"), entry.get("at")
        lifetime = LOOPBACK_CHALLENGE_SECONDS if loopback else CHALLENGE_SECONDS
        if (
            not isinstance(scheme, str)
            or not isinstance(params, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
            or not isinstance(when, int | float)
            or not 0 <= self._clock() - when <= lifetime
        ):
            return None
        return scheme, params

    def set_challenge(self, host: str, scheme: str, params: Mapping[str, str]) -> None:
        obj = self._host(host)
        obj.update(
            host=host, challenge={"scheme": scheme, "params": dict(params), "at": self._clock()}
        )
        self._files.write_json(self._host_path(host), obj)

    def scheme(self, host: str) -> str | None:
        """``http`` or ``https``: what a loopback registry was last reached with."""
        value = self._host(host).get("scheme")
        return value if value in ("http", "https") else None

    def set_scheme(self, host: str, scheme: str | None) -> None:
        obj = self._host(host)
        if scheme is None:
            if "scheme" not in obj:
                return
            del obj["scheme"]
        else:
            obj["scheme"] = scheme
        obj["host"] = host
        self._files.write_json(self._host_path(host), obj)

    # ── tokens ──────────────────────────────────────────────────────────────────────────────────

    def _token_dir(self, realm: str, service: str, identity: str) -> Path:
        return self._root / "tokens" / _hash(realm, service, identity)

    def token(
        self, realm: str, service: str, identity: str, scopes: Iterable[str]
    ) -> CachedToken | None:
        """A cached token from ``realm`` for ``service`` that was asked for (at least) ``scopes``
        with credentials ``identity`` (a digest of them, never the credentials), with more than
        a margin of its life left."""
        if not self._tokens_enabled or not self._files.ensure_private():
            return None
        wanted = frozenset(scopes)
        directory = self._token_dir(realm, service, identity)
        candidates = [directory / _hash(*sorted(wanted))]
        if wanted:
            alias = self._files.read(directory / f"s-{_hash(min(wanted))}", 256)
            if alias is not None and alias.isascii() and alias.isalnum():
                candidates.append(directory / alias.decode("ascii"))
        for path in candidates:
            token = self._load_token(path)
            if token is not None and token.scopes >= wanted:
                return token
        return None

    def _load_token(self, path: Path) -> CachedToken | None:
        obj = self._files.read_json(path)
        if obj is None:
            return None
        value, scopes = obj.get("token"), obj.get("scopes")
        expires_at, issued_at = obj.get("expires_at"), obj.get("issued_at")
        if (
            not isinstance(value, str)
            or not value
            or not isinstance(scopes, list)
            or not all(isinstance(s, str) for s in scopes)
            or not isinstance(expires_at, int | float)
            or (issued_at is not None and not isinstance(issued_at, str))
        ):
            self._files.drop(path)
            return None
        if expires_at - self._clock() <= TOKEN_MARGIN_SECONDS:
            if expires_at <= self._clock():
                self._files.drop(path)
            return None
        return CachedToken(value, frozenset(scopes), float(expires_at), issued_at)

    def put_token(
        self,
        realm: str,
        service: str,
        identity: str,
        scopes: Iterable[str],
        value: str,
        expires_in: float,
        issued_at: str | None = None,
    ) -> None:
        """Keep a token until ``expires_in`` seconds from now (only in a private directory)."""
        if not self._tokens_enabled or not self._files.ensure_private() or expires_in <= 0:
            return
        wanted = sorted(set(scopes))
        directory = self._token_dir(realm, service, identity)
        name = _hash(*wanted)
        self._files.write_json(
            directory / name,
            {
                "token": value,
                "scopes": wanted,
                "expires_at": self._clock() + expires_in,
                "issued_at": issued_at,
            },
        )
        for scope in wanted:
            self._files.write(directory / f"s-{_hash(scope)}", name.encode("ascii"))

    def forget_token(self, value: str) -> None:
        """Delete every cached file holding the token ``value`` (a registry refused it)."""
        for directory in self._files.listing(self._root / "tokens"):
            files = self._files.listing(directory)  # nothing for a stray file
            for path in (f for f in files if not f.name.startswith(("s-", ".tmp"))):
                obj = self._files.read_json(path)
                if obj is not None and obj.get("token") == value:
                    self._files.drop(path)
