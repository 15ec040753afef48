"""Credentials: where they are found, in which order, and that secrets never show."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from pathlib import Path

import pytest

from regimage.errors import AuthenticationError
from regimage.registry.credentials import (
    DOCKER_HUB_KEY,
    Credentials,
    CredentialStore,
    registry_key,
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_json(path: Path, obj: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def auths(**entries: str) -> dict[str, object]:
    """``{"auths": {key: {"auth": base64(user:pass)}}}`` from ``key="user:pass"`` pairs."""
    return {"auths": {k.replace("_", "."): {"auth": b64(v)} for k, v in entries.items()}}


def helper_script(directory: Path, name: str, body: str) -> Path:
    """A ``docker-credential-<name>`` shell script in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def store_for(home: Path, **env: str) -> CredentialStore:
    return CredentialStore(env={"HOME": str(home), "PATH": os.defpath, **env}, home=home)


# ── Credentials ────────────────────────────────────────────────────────────────────────────────────


def test_repr_masks_every_secret() -> None:
    creds = Credentials("bob", "hunter2", identity_token="idtok", registry_token="regtok")
    text = repr(creds) + str(creds) + f"{creds!r}"
    for secret in ("hunter2", "idtok", "regtok"):
        assert secret not in text
    assert repr(creds) == (
        "Credentials(username='bob', password=[secure], identity_token=[secure], "
        "registry_token=[secure])"
    )
    assert repr(Credentials("bob")) == "Credentials(username='bob')"


def test_kinds() -> None:
    assert Credentials("bob", "pw").has_password
    assert not Credentials("bob").has_password
    assert Credentials().is_empty
    assert not Credentials(identity_token="t").is_empty


@pytest.mark.parametrize(
    ("key", "normalized"),
    [
        (DOCKER_HUB_KEY, "docker.io"),
        ("index.docker.io", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("docker.io/library", "docker.io/library"),
        ("https://quay.io/v2/", "quay.io"),
        ("http://127.0.0.1:5000", "127.0.0.1:5000"),
        ("Quay.IO/Org/Repo/", "quay.io/Org/Repo"),
        ("localhost:5000/ns", "localhost:5000/ns"),
    ],
)
def test_registry_key(key: str, normalized: str) -> None:
    assert registry_key(key) == normalized


# ── explicit credentials ───────────────────────────────────────────────────────────────────────────


@pytest.mark.anyio
async def test_explicit_credentials_win_over_files(home: Path) -> None:
    write_json(home / ".docker" / "config.json", auths(r_test="file:pw"))
    explicit = Credentials("cli", "pw2")
    store = CredentialStore(explicit, env={"HOME": str(home)}, home=home)
    assert await store.get("r.test", "a/b") == explicit


@pytest.mark.anyio
async def test_explicit_mapping_is_matched_most_specific_first() -> None:
    store = CredentialStore(
        {
            "r.test": Credentials("host", "1"),
            "r.test/team": Credentials("team", "2"),
            "https://other.test/v1/": Credentials("other", "3"),
        },
        env={},
        use_files=False,
    )
    assert (await store.get("r.test", "team/app")) == Credentials("team", "2")
    assert (await store.get("r.test", "else/app")) == Credentials("host", "1")
    assert (await store.get("other.test", "x")) == Credentials("other", "3")
    assert await store.get("nobody.test", "x") is None


# ── files, in order ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.anyio
async def test_file_order(tmp_path: Path, home: Path) -> None:
    registry_auth = write_json(tmp_path / "registry-auth.json", auths(r_test="first:1"))
    runtime = tmp_path / "run"
    write_json(runtime / "containers" / "auth.json", auths(r_test="second:2"))
    config_home = tmp_path / "config"
    write_json(config_home / "containers" / "auth.json", auths(r_test="third:3"))
    docker_config = tmp_path / "docker"
    write_json(docker_config / "config.json", auths(r_test="fourth:4"))
    env = {
        "REGISTRY_AUTH_FILE": str(registry_auth),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(config_home),
        "DOCKER_CONFIG": str(docker_config),
    }
    expected = ["first", "second", "third", "fourth"]
    for drop in (None, "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME"):
        if drop is not None:
            env.pop(drop)
            expected.pop(0)
            if drop == "XDG_CONFIG_HOME":  # falls back to ~/.config, which is empty
                pass
        creds = await store_for(home, **env).get("r.test", "ns/app")
        assert creds is not None
        assert creds.username == expected[0]


@pytest.mark.anyio
async def test_default_paths_under_home(home: Path) -> None:
    write_json(home / ".config" / "containers" / "auth.json", auths(a_test="podman:1"))
    write_json(home / ".docker" / "config.json", auths(b_test="docker:2"))
    store = store_for(home)
    assert store.auth_files() == [
        home / ".config" / "containers" / "auth.json",
        home / ".docker" / "config.json",
    ]
    assert (await store.get("a.test")) == Credentials("podman", "1")
    assert (await store.get("b.test")) == Credentials("docker", "2")
    assert await store.get("c.test") is None


@pytest.mark.anyio
async def test_keys_most_specific_first_and_url_forms(home: Path) -> None:
    write_json(
        home / ".config" / "containers" / "auth.json",
        {
            "auths": {
                "r.test": {"auth": b64("host:1")},
                "r.test/team": {"auth": b64("team:2")},
                "r.test/team/app": {"auth": b64("app:3")},
                "https://url.test/v1/": {"auth": b64("url:4")},
            }
        },
    )
    store = store_for(home)
    assert (await store.get("r.test", "team/app")) == Credentials("app", "3")
    assert (await store.get("r.test", "team/other")) == Credentials("team", "2")
    assert (await store.get("r.test", "solo")) == Credentials("host", "1")
    assert (await store.get("url.test", "x/y")) == Credentials("url", "4")


@pytest.mark.anyio
async def test_docker_hub_key(home: Path) -> None:
    write_json(
        home / ".docker" / "config.json", {"auths": {DOCKER_HUB_KEY: {"auth": b64("me:pw")}}}
    )
    store = store_for(home)
    assert (await store.get("registry-1.docker.io", "library/ubuntu")) == Credentials("me", "pw")


@pytest.mark.anyio
async def test_entry_forms(home: Path) -> None:
    write_json(
        home / ".docker" / "config.json",
        {
            "auths": {
                "plain.test": {"username": "u", "password": "p"},
                "identity.test": {"auth": b64("u:"), "identitytoken": "refresh-me"},
                "registry.test": {"registrytoken": "bearer-me"},
                "broken.test": {"auth": "not base64!"},
                "empty.test": {},
            }
        },
    )
    store = store_for(home)
    assert (await store.get("plain.test")) == Credentials("u", "p")
    identity = await store.get("identity.test")
    assert identity is not None
    assert identity.identity_token == "refresh-me"
    registry = await store.get("registry.test")
    assert registry is not None
    assert registry.registry_token == "bearer-me"
    assert await store.get("broken.test") is None
    assert await store.get("empty.test") is None


@pytest.mark.anyio
async def test_broken_files_are_skipped_with_a_warning(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (home / ".config" / "containers").mkdir(parents=True)
    (home / ".config" / "containers" / "auth.json").write_text("{nope")
    write_json(home / ".docker" / "config.json", auths(r_test="ok:1"))
    caplog.set_level(logging.WARNING, logger="regimage")
    assert (await store_for(home).get("r.test")) == Credentials("ok", "1")
    assert "not valid JSON" in caplog.text


# ── credential helpers ─────────────────────────────────────────────────────────────────────────────


@pytest.mark.anyio
async def test_cred_helper_per_host(tmp_path: Path, home: Path) -> None:
    bin_dir = tmp_path / "bin"
    log = tmp_path / "calls.log"
    helper_script(
        bin_dir,
        "labtest",
        f'read server\necho "$1 $server" >> {log}\n'
        'printf \'{"ServerURL":"%s","Username":"helper-user","Secret":"helper-pw"}\' "$server"\n',
    )
    write_json(
        home / ".docker" / "config.json",
        {"auths": {"r.test": {"auth": b64("file:pw")}}, "credHelpers": {"r.test": "labtest"}},
    )
    store = store_for(home, PATH=f"{bin_dir}:{os.defpath}")
    assert (await store.get("r.test", "a")) == Credentials("helper-user", "helper-pw")
    assert (await store.get("r.test", "b")) == Credentials("helper-user", "helper-pw")
    assert log.read_text() == "get r.test\n"  # asked once, with the host on stdin


@pytest.mark.anyio
async def test_creds_store_and_docker_hub_server_url(tmp_path: Path, home: Path) -> None:
    bin_dir = tmp_path / "bin"
    helper_script(
        bin_dir,
        "store",
        'read server\nif [ "$server" = "https://index.docker.io/v1/" ]; then\n'
        '  echo \'{"Username":"<token>","Secret":"identity-secret"}\'\n'
        "else\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
    )
    write_json(home / ".docker" / "config.json", {"credsStore": "store"})
    store = store_for(home, PATH=str(bin_dir))
    hub = await store.get("registry-1.docker.io", "library/ubuntu")
    assert hub == Credentials(identity_token="identity-secret")
    assert await store.get("other.test", "x") is None


@pytest.mark.anyio
async def test_a_failing_helper_does_not_leak_its_output(tmp_path: Path, home: Path) -> None:
    bin_dir = tmp_path / "bin"
    helper_script(bin_dir, "broken", "echo 'SECRET-OUTPUT hunter2' >&2\nexit 3\n")
    write_json(home / ".docker" / "config.json", {"credHelpers": {"r.test": "broken"}})
    with pytest.raises(AuthenticationError) as caught:
        await store_for(home, PATH=str(bin_dir)).get("r.test", "x")
    message = str(caught.value)
    assert "docker-credential-broken failed for r.test (exit status 3)" in message
    assert "SECRET-OUTPUT" not in message
    assert "hunter2" not in message


@pytest.mark.anyio
async def test_a_helper_answering_garbage(tmp_path: Path, home: Path) -> None:
    bin_dir = tmp_path / "bin"
    helper_script(bin_dir, "garbage", "echo 'secret-looking garbage'\n")
    write_json(home / ".docker" / "config.json", {"credHelpers": {"r.test": "garbage"}})
    with pytest.raises(AuthenticationError, match="not a JSON object") as caught:
        await store_for(home, PATH=str(bin_dir)).get("r.test")
    assert "garbage" not in str(caught.value).replace("docker-credential-garbage", "")


@pytest.mark.anyio
async def test_a_missing_helper_is_a_warning(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_json(home / ".docker" / "config.json", {"credsStore": "desktop"})
    caplog.set_level(logging.WARNING, logger="regimage")
    assert await store_for(home, PATH="/nonexistent").get("r.test") is None
    assert "docker-credential-desktop" in caplog.text


@pytest.mark.anyio
async def test_a_slow_helper_times_out(tmp_path: Path, home: Path) -> None:
    bin_dir = tmp_path / "bin"
    helper_script(bin_dir, "slow", "exec sleep 10\n")
    write_json(home / ".docker" / "config.json", {"credHelpers": {"r.test": "slow"}})
    store = CredentialStore(
        env={"HOME": str(home), "PATH": f"{bin_dir}:{os.defpath}"}, home=home, helper_timeout=0.2
    )
    with pytest.raises(AuthenticationError, match=r"did not answer for r\.test within 0\.2 s"):
        await store.get("r.test")
