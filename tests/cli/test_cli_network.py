"""The command line on the networks users have: proxy variables, ``--ca-file`` checked before any
connection, certs.d; each failure one line, naming the proxy, the variable or the file, with its
exit code. (In process, as tests/cli/test_cli.py; no host but 127.0.0.1 is ever contacted: a
proxied registry's name is the proxy's to resolve, and these proxies are dead or refuse first.)"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from regimage.cli import preconnect
from regimage.cli.core import main
from regimage.cli.parser import build_parser
from regimage.cli.session import Options
from regimage.cli.status import ExitStatus
from regimage.http import tls as _tls
from tests.lab.lab import Lab
from tests.lab.proxy import ForwardProxy
from tests.lab.registry import free_port

#: A registry that is never resolved here: every test that names it sends it through a proxy,
#: or stops before connecting.
ELSEWHERE = "registry.example/team/app:1.0"
PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)


@dataclass(frozen=True, slots=True)
class Result:
    status: int
    out: str
    err: str


def run(*argv: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err, stdin=io.StringIO())
    return Result(status, out.getvalue(), err.getvalue())


def assert_error(result: Result, status: ExitStatus, *parts: str) -> None:
    assert result.status == status, result.err
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("regimage: error: ")
    for part in parts:
        assert part in lines[0], lines[0]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No proxy, TLS or credential settings from the developer's shell; a HOME of its own."""
    for name in (*PROXY_VARIABLES, "NO_PROXY", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("REGIMAGE_USERNAME", "REGIMAGE_PASSWORD", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / "config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "home" / "run"))
    _tls.default_context.cache_clear()
    yield
    _tls.default_context.cache_clear()


# ── --ca-file ────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("missing.pem", "does not exist"),
        ("a-directory", "is a directory, not a PEM file"),
        ("not.pem", "holds no PEM certificate"),
    ],
)
def test_a_bad_ca_file_is_a_usage_error_before_any_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, problem: str
) -> None:
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "not.pem").write_text("hello")
    path = tmp_path / name
    # Through a dead proxy: a connection attempt would be an exit 8 (and no DNS lookup).
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")
    result = run("digest", "--ca-file", str(path), "--no-cache", ELSEWHERE)
    assert_error(result, ExitStatus.USAGE, "--ca-file: ", repr(str(path)), problem)


# ── proxies ──────────────────────────────────────────────────────────────────────────────────────


def test_an_unusable_proxy_variable_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://user:hunter2@proxy.corp:1080")
    result = run("digest", "--no-cache", ELSEWHERE)
    assert_error(result, ExitStatus.USAGE, "ALL_PROXY=", "SOCKS", "[secure]@proxy.corp:1080")
    assert "hunter2" not in result.err


def test_a_dead_proxy_is_exit_8_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HTTPS_PROXY", dead)
    result = run("digest", "--no-cache", ELSEWHERE)
    assert_error(
        result,
        ExitStatus.REGISTRY,
        f"cannot connect to the proxy {dead} (HTTPS_PROXY)",
        "registry.example",
        "list the registry in NO_PROXY",
    )
    assert "--plain-http" not in result.err  # the registry's advice does not fit a proxy


@pytest.mark.integration
def test_a_proxy_that_wants_credentials_is_exit_5(
    monkeypatch: pytest.MonkeyPatch, auth_proxy: ForwardProxy
) -> None:
    monkeypatch.setenv("https_proxy", auth_proxy.url)
    result = run("digest", "--no-cache", ELSEWHERE)
    assert_error(
        result,
        ExitStatus.AUTH,
        f"the proxy {auth_proxy.url} (https_proxy) asks for credentials",
        "http://USER:PASSWORD@host:port",
        "check the proxy",
    )
    assert "--username" not in result.err  # the registry's credentials are not the proxy's
    monkeypatch.setenv("https_proxy", auth_proxy.url_with(password="wrong-secret"))
    result = run("digest", "--no-cache", "-v", ELSEWHERE)
    assert result.status == ExitStatus.AUTH
    assert "refused the user and password" in result.err
    assert "wrong-secret" not in result.err  # not in the error, nor in the -v trace


def test_no_start_up_connection_to_a_proxied_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The start-up thread would connect directly: never where a proxy is to be used."""
    args = build_parser("digest").parse_args(["digest", ELSEWHERE])
    environ = {"HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,other.example"}
    assert preconnect.start(args, Options(cache=False), environ) is None
    local = build_parser("digest").parse_args(["digest", f"127.0.0.1:{free_port()}/x:y"])
    early = preconnect.start(local, Options(cache=False), environ)  # loopback: never proxied
    assert early is not None
    early.close()


# ── certs.d ──────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.integration
def test_the_users_certs_d_ca_is_trusted(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Podman's per-user certs.d (``~/.config/containers/certs.d/<host:port>/ca.crt``)."""
    assert lab.tls.ca_file is not None
    assert lab.username
    assert lab.password
    monkeypatch.setenv("REGIMAGE_USERNAME", lab.username)
    monkeypatch.setenv("REGIMAGE_PASSWORD", lab.password)
    image = lab.corpus["oci-single"]
    ref = lab.tls.ref(image.reference)
    refused = run("digest", "--no-cache", ref)
    assert_error(refused, ExitStatus.REGISTRY, "certificate verify failed")
    directory = tmp_path / "home" / ".config" / "containers" / "certs.d" / lab.tls.host
    directory.mkdir(parents=True)
    shutil.copy(lab.tls.ca_file, directory / "ca.crt")
    result = run("digest", "--no-cache", ref)
    assert result.status == ExitStatus.OK, result.err
    assert result.out.strip() == image.digest
