"""The command line's mirrors: ``--mirror``, ``--no-mirrors``, the files it reads, ``-v``'s word on
which host answered, and the exit codes of a blocked registry (5) and a broken file (2).

In process against loopback registries of our own (:class:`~tests.faults.server.ScriptedServer`),
with HOME in a temporary directory (the user's registries.conf there replaces the system's); one
subprocess against the lab's real pull-through cache.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from regimage.cli.core import main
from regimage.cli.status import ExitStatus
from tests.faults.documents import MiniRegistry, config_blob, manifest_blob
from tests.faults.server import ScriptedServer
from tests.lab.lab import Lab, LabRegistry

CONFIG = config_blob("amd64")
MANIFEST = manifest_blob(CONFIG)


@dataclass
class Result:
    status: int
    out: str
    err: str


def run(*argv: str) -> Result:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = main(["--no-cache", *argv], stdout=stdout, stderr=stderr, stdin=io.StringIO())
    return Result(status, stdout.getvalue(), stderr.getvalue())


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of its own, whose registries.conf (when a test writes one) replaces the system's."""
    home = tmp_path / "home"
    (home / ".config/containers").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CONTAINERS_REGISTRIES_CONF", raising=False)
    return home


def registries_conf(home: Path, text: str) -> Path:
    path = home / ".config/containers/registries.conf"
    path.write_text(text)
    return path


@pytest.fixture
def upstream() -> Iterator[ScriptedServer]:
    with ScriptedServer(MiniRegistry([CONFIG, MANIFEST], {"v1": MANIFEST.digest})) as server:
        yield server


def test_mirror_answers_and_v_says_so(home: Path, upstream: ScriptedServer) -> None:
    with ScriptedServer(MiniRegistry([CONFIG, MANIFEST], {"v1": MANIFEST.digest})) as mirror:
        result = run(
            "-v", "digest", "--mirror", f"{upstream.host}={mirror.host}", upstream.ref("app:v1")
        )
        assert (result.status, result.out) == (0, f"{MANIFEST.digest}\n"), result.err
        assert upstream.requests == []
    assert f"answered by {mirror.host} (mirror, --mirror)" in result.err


def test_a_blocked_registry_exits_5_naming_the_file(home: Path, upstream: ScriptedServer) -> None:
    conf = registries_conf(home, f'[[registry]]\nlocation = "{upstream.host}"\nblocked = true\n')
    result = run("digest", upstream.ref("app:v1"))
    assert result.status == ExitStatus.AUTH
    assert result.out == ""
    assert result.err == (
        f"regimage: error: pulling {upstream.host}/app is blocked by {conf} ([[registry]] prefix "
        f"'{upstream.host}' has blocked = true) — edit {conf}, or pass --no-mirrors to read "
        "neither registries.conf nor hosts.toml\n"
    )
    assert upstream.requests == []
    # --no-mirrors reads no file: the registry is asked
    result = run("digest", "--no-mirrors", upstream.ref("app:v1"))
    assert (result.status, result.out) == (0, f"{MANIFEST.digest}\n"), result.err


def test_a_registries_conf_mirror_is_used(home: Path, upstream: ScriptedServer) -> None:
    with ScriptedServer(MiniRegistry([CONFIG, MANIFEST], {"v1": MANIFEST.digest})) as mirror:
        registries_conf(
            home,
            f'[[registry]]\nlocation = "{upstream.host}"\n'
            f'[[registry.mirror]]\nlocation = "{mirror.host}/cache"\n',
        )
        result = run("digest", upstream.ref("app:v1"))
        assert (result.status, result.out) == (0, f"{MANIFEST.digest}\n"), result.err
        assert upstream.requests == []
        assert [r.path for r in mirror.requests] == ["/v2/cache/app/manifests/v1"]


def test_a_broken_registries_conf_exits_2(home: Path) -> None:
    conf = registries_conf(home, "[[registry]\nlocation = 'x.example'\n")
    result = run("digest", "x.example/app:v1")
    assert result.status == ExitStatus.USAGE
    assert result.err.startswith(f"regimage: error: {conf}: not valid TOML: ")
    assert result.err.endswith(
        f" — edit {conf}, or pass --no-mirrors to read neither registries.conf nor hosts.toml\n"
    )


def test_an_invalid_mirror_exits_2(home: Path) -> None:
    result = run("digest", "--mirror", "mirror.example", "x.example/app:v1")
    assert result.status == ExitStatus.USAGE
    assert result.err == (
        "regimage: error: invalid mirror 'mirror.example': write REGISTRY=MIRROR, the registry "
        "as host[:port] (docker.io) and the mirror as [http://]host[:port][/namespace] — see "
        "regimage --help\n"
    )


@pytest.mark.integration
def test_the_labs_pull_through_cache_as_users_run_it(
    lab: Lab, lab_mirror: LabRegistry, tmp_path: Path
) -> None:
    image = lab.corpus["oci-index"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGIMAGE_")}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("CONTAINERS_REGISTRIES_CONF", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "regimage",
            "-v",
            "digest",
            "--mirror",
            f"{lab.anonymous.host}={lab_mirror.host}",
            lab.anonymous.ref(image.reference),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, f"{image.digest}\n"), result.stderr
    assert f"answered by {lab_mirror.host} (mirror, --mirror)" in result.stderr
    assert f"http://{lab.anonymous.host}/" not in result.stderr  # the registry was not asked
