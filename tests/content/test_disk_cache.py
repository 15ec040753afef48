"""The disk cache: content verified on read, tokens private and expiring, safe across processes;
and what it saves against the lab: a warm repeat of ``size`` on the token registry is 1 request."""

from __future__ import annotations

import builtins
import errno
import logging
import multiprocessing
import os
import stat
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from regimage.content.disk_cache import (
    MAX_DISK_ITEM_BYTES,
    TOKEN_MARGIN_SECONDS,
    DiskCache,
    default_cache_directory,
)
from regimage.image.image import Image
from regimage.model.digest import Digest
from regimage.registry.client import RegistryProvider
from regimage.registry.credentials import Credentials, CredentialStore
from tests.lab.lab import Lab, LabRegistry

DATA = b'{"schemaVersion":2}'
KEY = f"registry.test/ns/app@{Digest.of(DATA)}"
REALM = "https://auth.test/token"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def content_files(root: Path) -> list[Path]:
    return [p for p in (root / "v1" / "content").rglob("*") if p.is_file()]


def token_files(root: Path) -> list[Path]:
    """The token files (not the per-scope aliases)."""
    found = (root / "v1" / "tokens").rglob("*")
    return [p for p in found if p.is_file() and not p.name.startswith(("s-", ".tmp"))]


# ── content ────────────────────────────────────────────────────────────────────────────────────────


def test_content_round_trip(tmp_path: Path) -> None:
    DiskCache(tmp_path).put(KEY, DATA)
    fresh = DiskCache(tmp_path)  # another process, as far as memory goes
    assert fresh.get(KEY) == DATA
    assert fresh.get(KEY.replace("ns/app", "ns/other")) is None  # kept per repository
    (path,) = content_files(tmp_path)
    assert path.name == Digest.of(DATA).encoded
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_corrupt_content_is_dropped_and_missed(tmp_path: Path) -> None:
    DiskCache(tmp_path).put(KEY, DATA)
    (path,) = content_files(tmp_path)
    path.write_bytes(DATA.replace(b"2", b"3"))
    assert DiskCache(tmp_path).get(KEY) is None
    assert not path.exists()  # refetched next time, then written again
    DiskCache(tmp_path).put(KEY, DATA)
    assert DiskCache(tmp_path).get(KEY) == DATA


def test_truncated_content_is_missed(tmp_path: Path) -> None:
    DiskCache(tmp_path).put(KEY, DATA)
    (path,) = content_files(tmp_path)
    path.write_bytes(DATA[:5])
    assert DiskCache(tmp_path).get(KEY) is None


def test_large_and_unverifiable_content_stays_in_memory_only(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    big = b"x" * (MAX_DISK_ITEM_BYTES + 1)
    cache.put(f"r.test/a@{Digest.of(big)}", big)
    cache.put("r.test/a@not-a-digest", DATA)
    assert content_files(tmp_path) == []
    assert cache.get(f"r.test/a@{Digest.of(big)}") == big


def test_directories_are_private(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    cache = DiskCache(root)
    cache.put(KEY, DATA)
    cache.put_token(REALM, "svc", "anonymous", ["repository:a:pull"], "tok", 300)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700  # tightened: it is ours
    for path in root.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path


def test_default_directory_follows_xdg(tmp_path: Path) -> None:
    assert default_cache_directory({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "regimage"
    home = default_cache_directory({"XDG_CACHE_HOME": "relative/path"})
    assert home == Path.home() / ".cache" / "regimage"


# ── a directory the user cannot use ───────────────────────────────────────────────────────────────


def every_use(cache: DiskCache) -> list[object]:
    """Every operation of the cache, once: what each answered (none may raise)."""
    cache.put(f"registry.test/ns/app@{Digest.of(b'put')}", b"put")
    cache.put_token(REALM, "svc", "anonymous", ["repository:a:pull"], "tok", 300)
    cache.set_challenge("registry.test", "bearer", {"realm": REALM})
    cache.set_scheme("registry.test", "http")
    cache.forget_token("tok")
    fresh = f"registry.test/ns/app@{Digest.of(b'fresh')}"
    return [
        cache.get(fresh),
        cache.token(REALM, "svc", "anonymous", ["repository:a:pull"]),
        cache.challenge("registry.test"),
        cache.scheme("registry.test"),
    ]


def refuse_under(directory: Path, monkeypatch: pytest.MonkeyPatch, error: int) -> list[str]:
    """Every OS call on a path inside ``directory`` fails with ``error``; returns the calls made."""
    inside = str(directory) + os.sep
    calls: list[str] = []

    def refusing(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def refused(path: Any = ".", *args: Any, **kwargs: Any) -> Any:
            if isinstance(path, str | os.PathLike) and os.fspath(path).startswith(inside):
                calls.append(name)
                raise OSError(error, os.strerror(error), os.fspath(path))
            return call(path, *args, **kwargs)

        return refused

    for name in ("stat", "lstat", "open", "mkdir", "listdir", "scandir", "unlink", "chmod"):
        monkeypatch.setattr(os, name, refusing(name, getattr(os, name)))
    monkeypatch.setattr(builtins, "open", refusing("builtins.open", builtins.open))
    return calls


@pytest.mark.parametrize("error", [errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO])
def test_a_directory_the_user_cannot_use_turns_the_cache_off_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: int
) -> None:
    """As root wrote it with the same HOME (the OS boundary refuses: root itself is never)."""
    DiskCache(tmp_path).put(KEY, DATA)  # a warm cache
    heard: list[str] = []
    cache = DiskCache(tmp_path, on_unusable=heard.append)
    calls = refuse_under(tmp_path, monkeypatch, error)
    assert every_use(cache) == [None, None, None, None]
    assert cache.get(KEY) is None  # on disk, but the disk says nothing more
    assert len(heard) == 1
    assert heard[0].startswith(f"cannot use the cache {tmp_path}: cannot ")
    assert os.strerror(error) in heard[0]
    assert cache.unusable == heard[0]
    made = len(calls)
    every_use(cache)
    assert len(calls) == made  # off: the disk is not tried again
    assert len(heard) == 1


def test_content_put_on_a_refusing_directory_stays_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    heard: list[str] = []
    cache = DiskCache(tmp_path, on_unusable=heard.append)
    refuse_under(tmp_path, monkeypatch, errno.EACCES)
    cache.put(KEY, DATA)
    assert cache.get(KEY) == DATA
    assert len(heard) == 1


def test_a_file_where_the_directory_should_be(tmp_path: Path) -> None:
    blocker = tmp_path / "regimage"
    blocker.write_bytes(b"not a directory")
    heard: list[str] = []
    cache = DiskCache(blocker, on_unusable=heard.append)
    assert every_use(cache) == [None, None, None, None]
    assert len(heard) == 1
    assert heard[0].startswith(f"cannot use the cache {blocker}: ")
    assert blocker.read_bytes() == b"not a directory"
    nested = DiskCache(blocker / "below", on_unusable=heard.append)  # a file on the way to it
    assert every_use(nested) == [None, None, None, None]
    assert len(heard) == 2


def test_a_full_disk_turns_the_cache_off_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_open = os.open

    def full(path: Any, flags: int, *args: Any) -> int:
        if flags & os.O_CREAT:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", full)
    cache = DiskCache(tmp_path)  # no on_unusable: one warning on the regimage logger
    with caplog.at_level(logging.WARNING, logger="regimage"):
        every_use(cache)
        every_use(cache)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "No space left on device" in warnings[0].getMessage()


def test_a_directory_removed_meanwhile_is_only_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process may delete any file, or the whole cache, at any time."""
    heard: list[str] = []
    cache = DiskCache(tmp_path, on_unusable=heard.append)
    real_replace = os.replace

    def removed(source: Any, target: Any) -> None:
        os.unlink(source)
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), source)

    monkeypatch.setattr(os, "replace", removed)
    cache.put(KEY, DATA)
    monkeypatch.setattr(os, "replace", real_replace)
    cache.put(f"registry.test/ns/app@{Digest.of(b'x')}", b"x")
    assert heard == []
    assert cache.unusable is None
    assert DiskCache(tmp_path).get(f"registry.test/ns/app@{Digest.of(b'x')}") == b"x"


@pytest.mark.parametrize("home", [None, "relative/home"])
def test_no_home_directory_to_keep_the_cache_in(
    monkeypatch: pytest.MonkeyPatch, home: str | None
) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    if home is None:  # no HOME, and no entry in the user database (a container's arbitrary uid)

        def nowhere() -> Path:
            raise RuntimeError("Could not determine home directory.")

        monkeypatch.setattr(Path, "home", staticmethod(nowhere))
    else:
        monkeypatch.setenv("HOME", home)
    with pytest.raises(RuntimeError):
        default_cache_directory()
    heard: list[str] = []
    cache = DiskCache(on_unusable=heard.append)
    assert every_use(cache) == [None, None, None, None]
    assert len(heard) == 1
    assert heard[0].startswith("cannot use the cache: no home directory")
    assert "XDG_CACHE_HOME" in heard[0]
    assert not Path("relative").exists()


# ── concurrent processes ───────────────────────────────────────────────────────────────────────────


def _hammer(directory: str, worker: int) -> list[str]:
    """Write and read the same entries as the other workers; report anything wrong read back."""
    problems = []
    for round_ in range(40):
        cache = DiskCache(directory)
        data = b'{"shared":true,"pad":"' + b"x" * 5000 + b'"}'
        key = f"r.test/shared@{Digest.of(data)}"
        cache.put(key, data)
        own = f'{{"worker":{worker},"round":{round_}}}'.encode()
        cache.put(f"r.test/own@{Digest.of(own)}", own)
        cache.put_token(REALM, "svc", "anonymous", ["repository:shared:pull"], f"t{worker}", 300)
        for reader in (cache, DiskCache(directory)):
            if reader.get(key) != data:
                problems.append(f"content read back wrong by worker {worker}")
            token = reader.token(REALM, "svc", "anonymous", ["repository:shared:pull"])
            if token is None or not token.value.startswith("t"):
                problems.append(f"token read back wrong by worker {worker}")
    return problems


def test_concurrent_processes_never_read_a_torn_file(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(4, mp_context=context) as pool:
        results = list(pool.map(_hammer, [str(tmp_path)] * 4, range(4)))
    assert results == [[], [], [], []]
    leftovers = list(tmp_path.rglob(".tmp-*"))
    assert leftovers == []


# ── tokens, challenges, schemes ────────────────────────────────────────────────────────────────────


def test_tokens_expire_with_a_margin(tmp_path: Path) -> None:
    clock = Clock()
    cache = DiskCache(tmp_path, clock=clock)
    scopes = ["repository:a:pull", "repository:b:pull"]
    cache.put_token(REALM, "svc", "anonymous", scopes, "secret-token", 100, "2024-01-01T00:00:00Z")
    token = cache.token(REALM, "svc", "anonymous", scopes)
    assert token is not None
    assert token.value == "secret-token"
    assert token.expires_at == clock.now + 100
    assert token.issued_at == "2024-01-01T00:00:00Z"
    assert "secret-token" not in repr(token)
    # one scope of a batch token is found through its scope's alias
    single = cache.token(REALM, "svc", "anonymous", ["repository:b:pull"])
    assert single is not None
    assert single.value == "secret-token"
    # other realm, service, credentials or scope: no
    assert cache.token(REALM, "other", "anonymous", scopes) is None
    assert cache.token(REALM, "svc", "sha256-of-credentials", scopes) is None
    assert cache.token(REALM, "svc", "anonymous", ["repository:c:pull"]) is None
    clock.now += 100 - TOKEN_MARGIN_SECONDS + 1  # inside the margin: not handed out
    assert cache.token(REALM, "svc", "anonymous", scopes) is None
    clock.now += TOKEN_MARGIN_SECONDS  # expired: deleted
    assert cache.token(REALM, "svc", "anonymous", scopes) is None
    assert token_files(tmp_path) == []


def test_tokens_can_be_kept_out(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, tokens=False)
    cache.put_token(REALM, "svc", "anonymous", ["repository:a:pull"], "tok", 300)
    assert cache.token(REALM, "svc", "anonymous", ["repository:a:pull"]) is None
    assert not (tmp_path / "v1" / "tokens").exists()


def test_a_refused_token_is_forgotten(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    cache.put_token(REALM, "svc", "anonymous", ["repository:a:pull"], "old", 300)
    cache.put_token(REALM, "svc", "anonymous", ["repository:b:pull"], "other", 300)
    cache.forget_token("old")
    assert cache.token(REALM, "svc", "anonymous", ["repository:a:pull"]) is None
    assert cache.token(REALM, "svc", "anonymous", ["repository:b:pull"]) is not None


def test_a_corrupt_token_file_is_dropped(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    cache.put_token(REALM, "svc", "anonymous", ["repository:a:pull"], "tok", 300)
    (path,) = token_files(tmp_path)
    path.write_text('{"token": 12')
    assert cache.token(REALM, "svc", "anonymous", ["repository:a:pull"]) is None
    assert not path.exists()


def test_challenges_and_schemes(tmp_path: Path) -> None:
    clock = Clock()
    cache = DiskCache(tmp_path, clock=clock)
    cache.set_challenge("r.test", "bearer", {"realm": REALM, "service": "svc"})
    cache.set_scheme("r.test", "http")
    again = DiskCache(tmp_path, clock=clock)
    assert again.challenge("r.test") == ("bearer", {"realm": REALM, "service": "svc"})
    assert again.scheme("r.test") == "http"
    assert again.challenge("other.test") is None
    clock.now += 3601
    assert again.challenge("r.test", loopback=True) is None  # a loopback port may be reused
    assert again.challenge("r.test") is not None
    again.set_scheme("r.test", None)
    assert again.scheme("r.test") is None
    assert again.challenge("r.test") is not None


# ── against the lab ────────────────────────────────────────────────────────────────────────────────


def provider(
    registry: LabRegistry, cache: DiskCache | None, *, credentials: bool = False
) -> RegistryProvider:
    store = (
        CredentialStore(Credentials(registry.username, registry.password), env={}, use_files=False)
        if credentials
        else CredentialStore(env={}, use_files=False)
    )
    return RegistryProvider(credentials=store, ca_file=registry.ca_file, cache=cache)


async def size_stats(
    registry: LabRegistry, ref: str, cache: DiskCache | None, *, rootfs: bool = False
) -> dict[str, int]:
    async with provider(registry, cache) as r:
        image = await Image.resolve(registry.ref(ref), r)  # this machine's platform
        await image.size()
        if rootfs:
            await image.rootfs()
        return r.stats.as_dict()


@pytest.mark.integration
@pytest.mark.anyio
async def test_round_trips_on_the_token_registry_cold_and_warm(lab: Lab, tmp_path: Path) -> None:
    single = lab.corpus["oci-single"].reference
    index = lab.corpus["oci-index"].reference
    cache = DiskCache(tmp_path)
    # cold: 401 + token + manifest; an index one more; rootfs one more (the config). No ping.
    assert await size_stats(lab.token, single, None) == {"manifest": 2, "token": 1}
    assert await size_stats(lab.token, index, None) == {"manifest": 3, "token": 1}
    assert await size_stats(lab.token, index, None, rootfs=True) == {
        "blob": 1,
        "manifest": 3,
        "token": 1,
    }
    # with the disk cache: the first run learns, every repeat is the tag's manifest alone
    assert await size_stats(lab.token, single, cache) == {"manifest": 2, "token": 1}
    assert await size_stats(lab.token, single, cache) == {"manifest": 1}
    assert await size_stats(lab.token, index, cache) == {"manifest": 2, "token": 1}
    assert await size_stats(lab.token, index, cache) == {"manifest": 1}
    assert await size_stats(lab.token, index, cache, rootfs=True) == {"blob": 1, "manifest": 1}
    assert await size_stats(lab.token, index, cache, rootfs=True) == {"manifest": 1}


@pytest.mark.integration
@pytest.mark.anyio
async def test_a_token_the_registry_refuses_is_replaced(lab: Lab, tmp_path: Path) -> None:
    image = lab.corpus["oci-single"]
    cache = DiskCache(tmp_path)
    await size_stats(lab.token, image.reference, cache)
    # The cache now holds the token; make it one the registry will refuse.
    assert lab.token.token_realm is not None
    scope = f"repository:{image.repository}:pull"
    service = lab.token.service or ""
    cache.put_token(lab.token.token_realm, service, "anonymous", [scope], "not.a.jwt", 300)
    stats = await size_stats(lab.token, image.reference, cache)
    assert stats == {"manifest": 2, "token": 1}  # refused (401), fresh token, manifest
    fresh = cache.token(lab.token.token_realm, service, "anonymous", [scope])
    assert fresh is not None
    assert fresh.value != "not.a.jwt"


@pytest.mark.integration
@pytest.mark.anyio
async def test_tokens_never_reach_the_logs(
    lab: Lab, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="regimage")
    cache = DiskCache(tmp_path)
    secret = lab.private["secret"]
    for _ in range(2):
        async with provider(lab.token, cache, credentials=True) as r:
            await r.resolve(lab.token.ref(secret.reference))
    (token_dir,) = (tmp_path / "v1" / "tokens").iterdir()
    values = [p.read_text() for p in token_dir.iterdir() if not p.name.startswith(("s-", ".tmp"))]
    assert values
    for text in values:
        token = text.split('"token":"', 1)[1].split('"', 1)[0]
        assert token not in caplog.text
    assert lab.password not in caplog.text
    assert lab.password not in "".join(values)  # credentials are never kept, only tokens


@pytest.mark.integration
@pytest.mark.anyio
async def test_the_scheme_of_a_loopback_registry_is_remembered(
    lab: Lab, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="regimage")
    cache = DiskCache(tmp_path)
    ref = lab.corpus["oci-single"].reference
    await size_stats(lab.anonymous, ref, cache)
    assert "does not speak TLS" in caplog.text  # cold: HTTPS first, then plain HTTP
    assert cache.scheme(lab.anonymous.host) == "http"
    caplog.clear()
    assert await size_stats(lab.anonymous, ref, cache) == {"manifest": 1}
    assert "does not speak TLS" not in caplog.text  # warm: straight to plain HTTP


@pytest.mark.integration
@pytest.mark.anyio
async def test_a_stale_scheme_is_found_out_again(lab: Lab, tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    ref = lab.corpus["oci-single"].reference
    cache.set_scheme(lab.anonymous.host, "https")  # wrong: it speaks plain HTTP
    cache.set_scheme(lab.tls.host, "http")  # wrong: it speaks TLS
    assert await size_stats(lab.anonymous, ref, cache) == {"manifest": 1}
    assert cache.scheme(lab.anonymous.host) == "http"
    async with provider(lab.tls, cache, credentials=True) as r:
        found = await r.resolve(lab.tls.ref(ref))
    assert str(found.digest) == lab.corpus["oci-single"].digest
    assert cache.scheme(lab.tls.host) == "https"


@pytest.mark.integration
@pytest.mark.anyio
async def test_concurrent_first_requests_wait_for_the_challenge(lab: Lab) -> None:
    refs = [lab.token.ref(lab.corpus[name].reference) for name in ("oci-single", "docker-schema2")]
    refs += [lab.token.ref(lab.corpus[name].reference) for name in ("many-layers", "dup-layer")]
    async with provider(lab.token, None) as r:
        import anyio

        async with anyio.create_task_group() as group:
            for ref in refs:
                group.start_soon(r.resolve, ref)
        # one 401 (the first request's), then one token per repository, no 401 for the others
        assert r.stats.as_dict() == {"manifest": len(refs) + 1, "token": len(refs)}


@pytest.mark.integration
@pytest.mark.anyio
async def test_authorize_uses_the_remembered_challenge(lab: Lab, tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    names = ["oci-single", "docker-schema2", "oci-index", "many-layers"]
    refs = [lab.token.ref(lab.corpus[name].reference) for name in names]
    async with provider(lab.token, cache) as r:
        await r.authorize(refs)
        assert r.stats.as_dict() == {"ping": 1, "token": 1}
        pool = r.pool
        assert pool is not None
        assert pool.stats.preconnected >= 1  # opened while the token was fetched
    async with provider(lab.token, cache) as r:
        await r.authorize(refs)  # challenge and batch token from the disk: nothing to ask
        assert r.stats.as_dict() == {}
        for ref in refs:
            await r.resolve(ref)
        assert r.stats.as_dict() == {"manifest": len(refs)}


def test_cache_files_are_not_world_readable_even_with_a_lax_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        cache = DiskCache(tmp_path / "lax")
        cache.put(KEY, DATA)
        cache.put_token(REALM, "svc", "anonymous", ["repository:a:pull"], "tok", 300)
        cache.set_challenge("r.test", "bearer", {"realm": REALM})
    finally:
        os.umask(old)
    for path in (tmp_path / "lax").rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
