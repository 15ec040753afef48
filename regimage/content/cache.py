"""Caches: verified content in memory (:class:`MemoryCache`) and on disk (:class:`DiskCache`).

Content is addressed by digest, so it never goes stale: a manifest or config read once need never
be read again. The disk cache also keeps what makes a repeat run cheap: the authentication
challenge each registry answered (so the first request already carries a token), the scheme a
loopback registry speaks (so a warm run does not try TLS first), and tokens until they expire.

Layout under ``${XDG_CACHE_HOME:-~/.cache}/regimage`` (directories 0700, files 0600)::

    v1/content/<sha256(host/repository)[:32]>/<algorithm>/<encoded>   verified on every read
    v1/hosts/<sha256(host)[:32]>.json                                 challenge, scheme
    v1/tokens/<sha256(realm, service, identity)[:32]>/<scopes key>    token, expiry (wall clock)
    v1/tokens/<…>/s-<sha256(scope)[:32]>                              which token file has a scope

Safe under concurrent processes: every file is written to a temporary file in its directory and
renamed over the old one (``os.replace``), and checked when read: content against its digest,
metadata as JSON of the expected shape. A file that fails the check is deleted and treated as
missing. Tokens are secrets: they are never logged, and their files are created 0600 in 0700
directories (a cache directory that other users can enter gets no tokens written to it). The cache
is a cache: any file may be deleted at any time, and I/O errors only make it miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import stat
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from regimage.errors import DigestMismatch, InvalidDigest
from regimage.model.digest import Digest

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "MAX_DISK_ITEM_BYTES",
    "CachedToken",
    "ContentCache",
    "DiskCache",
    "MemoryCache",
    "default_cache_directory",
]

logger = logging.getLogger("regimage")

MIB = 1024 * 1024
#: Verified content kept in memory by the default cache.
DEFAULT_CACHE_BYTES = 64 * MIB
#: Content larger than this is not written to disk (manifests and configs are far smaller).
MAX_DISK_ITEM_BYTES = 4 * MIB
#: A metadata file larger than this is not read (a token file is a few KB).
_MAX_META_BYTES = 1 * MIB
#: Numbers for this process's temporary files (with its pid, a name no other writer uses).
_TEMPORARY_NUMBERS = itertools.count()
#: How long a learned challenge is trusted (a loopback registry may be another one next time).
CHALLENGE_SECONDS = 7 * 24 * 3600.0
LOOPBACK_CHALLENGE_SECONDS = 3600.0
#: A cached token is not handed out when it has less than this left (seconds).
TOKEN_MARGIN_SECONDS = 15.0
_VERSION = "v1"


class ContentCache(Protocol):
    """Where verified content is kept between requests, keyed by ``host/repository@digest``."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes) -> None: ...


class MemoryCache:
    """A least-recently-used cache of verified content, bounded in bytes."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    def get(self, key: str) -> bytes | None:
        data = self._items.get(key)
        if data is not None:
            self._items.move_to_end(key)
        return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._size -= len(old)
        self._items[key] = data
        self._size += len(data)
        while self._size > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self._size -= len(evicted)

    def __len__(self) -> int:
        return len(self._items)


def default_cache_directory(environ: Mapping[str, str] | None = None) -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/regimage`` (a relative XDG_CACHE_HOME is ignored, as the
    XDG spec asks)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "regimage"


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
    event loop's thread; every failure is a cache miss, never an error.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        memory_bytes: int = DEFAULT_CACHE_BYTES,
        tokens: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_directory()
        self._root = self.directory / _VERSION
        self._memory = MemoryCache(memory_bytes)
        self._clock = clock
        self._tokens_enabled = tokens
        self._private: bool | None = None  # whether the directory is ours and 0700, once checked

    def __repr__(self) -> str:
        return f"<DiskCache({str(self.directory)!r})>"

    def now(self) -> float:
        """The cache's clock: epoch seconds (token expiry is counted on it)."""
        return self._clock()

    # ── files ───────────────────────────────────────────────────────────────────────────────────

    @staticmethod
    def _makedirs(path: Path) -> None:
        """``mkdir -p`` with every directory made here 0700, whatever the umask."""
        missing: list[Path] = []
        current = path
        while not current.is_dir():
            missing.append(current)
            if current.parent == current:
                break
            current = current.parent
        for directory in reversed(missing):
            try:
                directory.mkdir(mode=0o700)
            except FileExistsError:
                continue
            directory.chmod(0o700)

    def _ensure_private(self) -> bool:
        """Create the cache directory 0700 (tightening it if it is ours); False if it is not
        private to this user (then no token is written)."""
        if self._private is not None:
            return self._private
        try:
            self._makedirs(self._root)
            for path in (self.directory, self._root):
                info = path.stat()
                if info.st_uid != os.getuid():
                    self._private = False
                    return False
                if stat.S_IMODE(info.st_mode) & 0o077:
                    path.chmod(0o700)
            self._private = True
        except OSError as exc:
            logger.debug("cache: cannot use %s: %s", self.directory, exc)
            self._private = False
        return self._private

    def _write(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically: a 0600 temporary file renamed over it.

        The temporary name is this process's id and a counter (O_EXCL: never another's file), so
        the common case costs an open, a write and a rename, and no directory test."""
        if self._private is None:
            self._ensure_private()
        try:
            fd, temporary = self._temporary(path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(temporary, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as exc:
            logger.debug("cache: cannot write %s: %s", path.name, exc)

    def _temporary(self, directory: Path) -> tuple[int, str]:
        """A new 0600 file in ``directory`` (made if missing), opened for writing."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        for _ in range(100):
            name = os.path.join(directory, f".tmp-{os.getpid()}-{next(_TEMPORARY_NUMBERS)}")
            try:
                return os.open(name, flags, 0o600), name
            except FileExistsError:  # left by a crashed process that had our pid
                continue
            except FileNotFoundError:
                self._makedirs(directory)
        raise FileExistsError(f"no free temporary name in {directory}")

    @staticmethod
    def _read(path: Path, limit: int) -> bytes | None:
        try:
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
        except OSError:
            return None
        return data if len(data) <= limit else None

    @staticmethod
    def _drop(path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()

    def _read_json(self, path: Path) -> dict[str, Any] | None:
        data = self._read(path, _MAX_META_BYTES)
        if data is None:
            return None
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            obj = None
        if not isinstance(obj, dict):
            logger.debug("cache: dropping the unreadable %s", path.name)
            self._drop(path)
            return None
        return obj

    def _write_json(self, path: Path, obj: Mapping[str, Any]) -> None:
        self._write(path, json.dumps(obj, separators=(",", ":"), sort_keys=True).encode())

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
        data = self._read(path, MAX_DISK_ITEM_BYTES)
        if data is None:
            return None
        try:
            digest.verify(data)
        except DigestMismatch:
            logger.debug("cache: %s does not match its digest; dropped", digest)
            self._drop(path)
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
        if not path.exists():
            self._write(path, data)

    # ── hosts: challenge and scheme ─────────────────────────────────────────────────────────────

    def _host_path(self, host: str) -> Path:
        return self._root / "hosts" / f"{_hash(host)}.json"

    def _host(self, host: str) -> dict[str, Any]:
        obj = self._read_json(self._host_path(host))
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
        self._write_json(self._host_path(host), obj)

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
        self._write_json(self._host_path(host), obj)

    # ── tokens ──────────────────────────────────────────────────────────────────────────────────

    def _token_dir(self, realm: str, service: str, identity: str) -> Path:
        return self._root / "tokens" / _hash(realm, service, identity)

    def token(
        self, realm: str, service: str, identity: str, scopes: Iterable[str]
    ) -> CachedToken | None:
        """A cached token from ``realm`` for ``service`` that was asked for (at least) ``scopes``
        with credentials ``identity`` (a digest of them, never the credentials), with more than
        a margin of its life left."""
        if not self._tokens_enabled or not self._ensure_private():
            return None
        wanted = frozenset(scopes)
        directory = self._token_dir(realm, service, identity)
        candidates = [directory / _hash(*sorted(wanted))]
        if wanted:
            alias = self._read(directory / f"s-{_hash(min(wanted))}", 256)
            if alias is not None and alias.isascii() and alias.isalnum():
                candidates.append(directory / alias.decode("ascii"))
        for path in candidates:
            token = self._load_token(path)
            if token is not None and token.scopes >= wanted:
                return token
        return None

    def _load_token(self, path: Path) -> CachedToken | None:
        obj = self._read_json(path)
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
            self._drop(path)
            return None
        if expires_at - self._clock() <= TOKEN_MARGIN_SECONDS:
            if expires_at <= self._clock():
                self._drop(path)
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
        if not self._tokens_enabled or not self._ensure_private() or expires_in <= 0:
            return
        wanted = sorted(set(scopes))
        directory = self._token_dir(realm, service, identity)
        name = _hash(*wanted)
        self._write_json(
            directory / name,
            {
                "token": value,
                "scopes": wanted,
                "expires_at": self._clock() + expires_in,
                "issued_at": issued_at,
            },
        )
        for scope in wanted:
            self._write(directory / f"s-{_hash(scope)}", name.encode("ascii"))

    def forget_token(self, value: str) -> None:
        """Delete every cached file holding the token ``value`` (a registry refused it)."""
        tokens = self._root / "tokens"
        try:
            directories = [d for d in tokens.iterdir() if d.is_dir()]
        except OSError:
            return
        for directory in directories:
            try:
                files = [f for f in directory.iterdir() if not f.name.startswith(("s-", ".tmp"))]
            except OSError:
                continue
            for path in files:
                obj = self._read_json(path)
                if obj is not None and obj.get("token") == value:
                    self._drop(path)
