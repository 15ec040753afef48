"""Registry credentials, found where users keep them (DESIGN.md §5).

Order, first match wins:

1. explicit arguments (``--username``/``--password-stdin``, or a mapping of registry keys);
2. ``$REGISTRY_AUTH_FILE``;
3. ``${XDG_RUNTIME_DIR}/containers/auth.json`` (podman, skopeo, buildah);
4. ``${XDG_CONFIG_HOME:-~/.config}/containers/auth.json``;
5. ``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``.

In each file ``credHelpers`` (per host) comes first, then ``auths`` (keys matched most specific
first: ``host/ns/repo`` → ``host/ns`` → ``host``; URL forms such as ``https://host/v1/`` count as
the host; Docker Hub's key is ``https://index.docker.io/v1/``), then ``credsStore``. Helpers run as
``docker-credential-<name> get`` with the server URL on stdin and answer JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from regimage.errors import AuthenticationError

__all__ = [
    "DOCKER_HUB_KEY",
    "HELPER_TIMEOUT_SECONDS",
    "CredentialStore",
    "Credentials",
    "basic_header",
    "registry_key",
]

logger = logging.getLogger("regimage")

#: The key Docker (and every tool after it) files Docker Hub credentials under.
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
#: Hosts that all mean Docker Hub.
_DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
#: How long a credential helper may take.
HELPER_TIMEOUT_SECONDS = 30.0
#: Auth files larger than this are refused (they hold a few entries).
_MAX_AUTH_FILE_BYTES = 4 * 1024 * 1024
#: What helpers print when they have nothing for a server (docker-credential-helpers).
_NOT_FOUND_MARKERS = ("credentials not found", "not found in native keychain", "no credentials")
_MASK = "[secure]"


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """What to authenticate with: a username and password, an identity (refresh) token, or a
    registry token sent as is. ``repr`` never shows a secret."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)
    registry_token: str | None = field(default=None, repr=False)

    @property
    def has_password(self) -> bool:
        return bool(self.username) and self.password is not None

    @property
    def is_empty(self) -> bool:
        return not (self.has_password or self.identity_token or self.registry_token)

    def __repr__(self) -> str:
        parts = [f"username={self.username!r}"]
        for name in ("password", "identity_token", "registry_token"):
            if getattr(self, name) is not None:
                parts.append(f"{name}={_MASK}")
        return f"Credentials({', '.join(parts)})"

    __str__ = __repr__


def basic_header(creds: Credentials) -> str:
    """The ``Authorization`` value of HTTP Basic authentication with ``creds``."""
    raw = f"{creds.username or ''}:{creds.password or ''}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def registry_key(key: str) -> str:
    """Normalise an auth-file key: URL forms to their host, Docker Hub aliases to ``docker.io``.

    ``https://index.docker.io/v1/`` → ``docker.io``; ``http://host:5000/v2/`` → ``host:5000``;
    ``quay.io/ns/repo/`` → ``quay.io/ns/repo``.
    """
    text = key.strip()
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")):
        text = text.split("://", 1)[1].split("/", 1)[0]
    text = text.rstrip("/")
    host, sep, rest = text.partition("/")
    host = host.lower()
    if host in _DOCKER_HUB_HOSTS:
        host = "docker.io"
    return f"{host}{sep}{rest}"


def _candidates(host: str, repository: str) -> list[str]:
    """Keys to try for a repository, most specific first."""
    base = registry_key(host)
    keys: list[str] = []
    parts = [p for p in repository.split("/") if p]
    for end in range(len(parts), 0, -1):
        keys.append(f"{base}/{'/'.join(parts[:end])}")
    keys.append(base)
    return keys


def _server_url(host: str) -> str:
    """What a credential helper is asked about: Docker Hub's legacy URL, else the host."""
    return DOCKER_HUB_KEY if registry_key(host) == "docker.io" else host


@dataclass(frozen=True, slots=True)
class _AuthFile:
    """One Docker config file, read: its stored logins, credential helpers and store."""

    path: Path
    auths: Mapping[str, Credentials]
    helpers: Mapping[str, str]
    store: str | None


class CredentialStore:
    """Finds credentials for ``(host, repository)``; answers are cached per key.

    ``explicit`` is either :class:`Credentials` for every registry, or a mapping from registry
    keys (``host``, ``host/ns``…) to credentials. ``env`` and ``home`` default to the process's
    and exist so that tests can point the store anywhere.
    """

    def __init__(
        self,
        explicit: Credentials | Mapping[str, Credentials] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        home: Path | None = None,
        use_files: bool = True,
        helper_timeout: float = HELPER_TIMEOUT_SECONDS,
    ) -> None:
        self._explicit_all: Credentials | None = None
        self._explicit: dict[str, Credentials] = {}
        if isinstance(explicit, Credentials):
            self._explicit_all = explicit
        elif explicit is not None:
            self._explicit = {registry_key(k): v for k, v in explicit.items()}
        self._env = dict(os.environ if env is None else env)
        self._home = home
        self._use_files = use_files
        self._helper_timeout = helper_timeout
        self._files: list[_AuthFile] | None = None
        self._cache: dict[tuple[str, str], Credentials | None] = {}
        self._helper_answers: dict[tuple[str, str], Credentials | None] = {}
        self._missing_helpers: set[str] = set()  # said once each, not once per repository
        self._lock: anyio.Lock | None = None

    def __repr__(self) -> str:
        return f"<CredentialStore(explicit={bool(self._explicit_all or self._explicit)})>"

    def auth_files(self) -> list[Path]:
        """The files consulted, in order (those that do not exist are skipped when read)."""
        env = self._env
        home = self._home if self._home is not None else Path(env.get("HOME") or Path.home())
        files: list[Path] = []
        if env.get("REGISTRY_AUTH_FILE"):
            files.append(Path(env["REGISTRY_AUTH_FILE"]))
        if env.get("XDG_RUNTIME_DIR"):
            files.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
        config_home = (
            Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
        )
        files.append(config_home / "containers" / "auth.json")
        docker_dir = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else home / ".docker"
        files.append(docker_dir / "config.json")
        return files

    async def get(self, host: str, repository: str = "") -> Credentials | None:
        """Credentials for ``repository`` on ``host`` (the API host, with port), or None."""
        key = (host, repository)
        if key in self._cache:
            return self._cache[key]
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:  # one helper run at a time, and only once per key
            if key not in self._cache:
                self._cache[key] = await self._find(host, repository)
            return self._cache[key]

    async def _find(self, host: str, repository: str) -> Credentials | None:
        candidates = _candidates(host, repository)
        if self._explicit_all is not None:
            return self._explicit_all
        for candidate in candidates:
            if candidate in self._explicit:
                return self._explicit[candidate]
        if not self._use_files:
            return None
        if self._files is None:
            self._files = [f for f in [await _load(p) for p in self.auth_files()] if f]
        for auth_file in self._files:
            found = await self._from_file(auth_file, host, candidates)
            if found is not None:
                return found
        return None

    async def _from_file(
        self, auth_file: _AuthFile, host: str, candidates: list[str]
    ) -> Credentials | None:
        for candidate in candidates:
            helper = auth_file.helpers.get(candidate)
            if helper:
                return await self._run_helper(helper, host, auth_file.path)
        for candidate in candidates:
            creds = auth_file.auths.get(candidate)
            if creds is not None and not creds.is_empty:
                return creds
        if auth_file.store:
            return await self._run_helper(auth_file.store, host, auth_file.path)
        return None

    async def _run_helper(self, name: str, host: str, source: Path) -> Credentials | None:
        program = f"docker-credential-{name}"
        path = shutil.which(program, path=self._env.get("PATH"))
        if path is None:
            if program not in self._missing_helpers:
                self._missing_helpers.add(program)
                logger.warning(
                    "credential helper %s (named in %s) is not on PATH; continuing without it",
                    program,
                    source,
                )
            return None
        server = _server_url(host)
        if (program, server) not in self._helper_answers:
            self._helper_answers[program, server] = await self._ask_helper(program, path, server)
        return self._helper_answers[program, server]

    async def _ask_helper(self, program: str, path: str, server: str) -> Credentials | None:
        # The server URL goes in through a pipe filled before the helper starts: a helper that
        # exits without reading stdin then cannot break our write.
        read_end, write_end = os.pipe()
        try:
            os.write(write_end, server.encode("utf-8"))
            os.close(write_end)
            write_end = -1
            with anyio.fail_after(self._helper_timeout):
                result = await anyio.run_process(
                    [path, "get"], stdin=read_end, check=False, env=self._env
                )
        except TimeoutError:
            raise AuthenticationError(
                f"credential helper {program} did not answer for {server} within "
                f"{self._helper_timeout:g} s"
            ) from None
        except OSError as exc:
            raise AuthenticationError(
                f"credential helper {program} could not be run: {exc.strerror or type(exc).__name__}"
            ) from None
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)
        if result.returncode != 0:
            said = (result.stdout + result.stderr).decode("utf-8", "replace").lower()
            if any(marker in said for marker in _NOT_FOUND_MARKERS):
                return None
            raise AuthenticationError(
                f"credential helper {program} failed for {server} (exit status "
                f"{result.returncode}); run `{program} get` by hand to see why"
            )
        return _helper_answer(result.stdout, program, server)


def _helper_answer(stdout: bytes, program: str, server: str) -> Credentials | None:
    try:
        obj = json.loads(stdout.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        obj = None
    if not isinstance(obj, dict):
        raise AuthenticationError(
            f"credential helper {program} answered something that is not a JSON object for {server}"
        )
    username = obj.get("Username")
    secret = obj.get("Secret")
    if not isinstance(secret, str) or not secret:
        return None
    if username == "<token>":
        return Credentials(identity_token=secret)
    if not isinstance(username, str) or not username:
        raise AuthenticationError(f"credential helper {program} gave no Username for {server}")
    return Credentials(username=username, password=secret)


async def _load(path: Path) -> _AuthFile | None:
    """Read one auth file; a missing file is None, a broken one is reported and skipped."""
    apath = anyio.Path(path)
    try:
        if not await apath.is_file():
            return None
        if (await apath.stat()).st_size > _MAX_AUTH_FILE_BYTES:
            logger.warning("ignoring %s: larger than %d bytes", path, _MAX_AUTH_FILE_BYTES)
            return None
        data = await apath.read_bytes()
    except OSError as exc:
        logger.warning("cannot read %s: %s", path, exc.strerror or type(exc).__name__)
        return None
    try:
        obj = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        logger.warning("ignoring %s: not valid JSON", path)
        return None
    if not isinstance(obj, dict):
        logger.warning("ignoring %s: not a JSON object", path)
        return None
    return _AuthFile(
        path=path,
        auths=_parse_auths(obj.get("auths"), path),
        helpers=_parse_helpers(obj.get("credHelpers")),
        store=obj["credsStore"] if isinstance(obj.get("credsStore"), str) else None,
    )


def _parse_helpers(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {registry_key(k): v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str)}


def _parse_auths(raw: Any, path: Path) -> dict[str, Credentials]:
    if not isinstance(raw, dict):
        return {}
    result: dict[str, Credentials] = {}
    for key, entry in raw.items():
        if not isinstance(key, str) or not isinstance(entry, dict):
            continue
        creds = _parse_entry(entry, key, path)
        normalized = registry_key(key)
        # An exact key wins over a URL form of the same host ("host" over "https://host/v1/").
        if normalized not in result or result[normalized].is_empty or key == normalized:
            result[normalized] = creds
    return result


def _parse_entry(entry: dict[str, Any], key: str, path: Path) -> Credentials:
    username = entry.get("username") if isinstance(entry.get("username"), str) else None
    password = entry.get("password") if isinstance(entry.get("password"), str) else None
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            logger.warning(
                "ignoring the 'auth' of %r in %s: not base64 of user:password", key, path
            )
        else:
            user, sep, secret = decoded.partition(":")
            if sep:
                username, password = user, secret
            else:
                logger.warning("ignoring the 'auth' of %r in %s: no ':' in it", key, path)
    identity = entry.get("identitytoken")
    registry_token = entry.get("registrytoken")
    return Credentials(
        username=username or None,
        password=password if username else None,
        identity_token=identity if isinstance(identity, str) and identity else None,
        registry_token=registry_token
        if isinstance(registry_token, str) and registry_token
        else None,
    )
