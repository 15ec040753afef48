"""The command line against registries that take the connection and then stall or drip.

In process (``main()``), with the real RegistryProvider against loopback servers of ours
(:mod:`tests.faults.stalls`) on asyncio and on trio. Each run goes in a thread that the test
waits for a bounded time, so that a regression fails (and says how long it ran) instead of
hanging the suite. What the command line must do: give every record, or its one error line,
within the limits the user set (``--timeout``) and the ones regimage documents.
"""

from __future__ import annotations

import functools
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from regimage.cli.core import main
from regimage.cli.parser import build_parser
from regimage.cli.status import ExitStatus
from regimage.model import mediatypes
from regimage.registry import client, schemes
from tests.faults.documents import Blob, MiniRegistry, config_blob, manifest_blob
from tests.faults.server import Reply, Request, ScriptedServer
from tests.faults.stalls import TLSDeafServer, drip, silent_listener

#: Wall-clock slack on top of the bound a run promises (a loaded machine, two event loops); less
#: than a --timeout of 1 s, so that a phase left out of it (the wait for a token batch, counted
#: apart) shows.
SLACK = 0.75
#: The most a run may take before the test stops waiting for it and fails.
GUARD = 15.0


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The command line's event loop (REGIMAGE_BACKEND), each test on both."""
    monkeypatch.setenv("REGIMAGE_BACKEND", str(request.param))
    return str(request.param)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache directory of the test's own, and no credentials from the environment."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("REGIMAGE_USERNAME", raising=False)
    monkeypatch.delenv("REGIMAGE_PASSWORD", raising=False)


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    """Set at the end of a test: dripping bodies stop."""
    event = threading.Event()
    yield event
    event.set()


@dataclass
class Run:
    status: int
    out: str
    err: str
    seconds: float

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]


def run(*argv: str) -> Run:
    """``regimage ARGV`` in a thread, waited for at most :data:`GUARD` seconds."""
    stdout, stderr = io.StringIO(), io.StringIO()
    result: list[int] = []

    def target() -> None:
        result.append(main(list(argv), stdout=stdout, stderr=stderr, stdin=io.StringIO("")))

    started = time.monotonic()
    thread = threading.Thread(target=target, name="regimage-cli", daemon=True)
    thread.start()
    thread.join(GUARD)
    seconds = time.monotonic() - started
    assert not thread.is_alive(), f"regimage {' '.join(argv)} still running after {GUARD:g} s"
    return Run(result[0], stdout.getvalue(), stderr.getvalue(), seconds)


def healthy_registry() -> tuple[MiniRegistry, Blob]:
    registry_script = MiniRegistry()
    config = registry_script.add(config_blob("amd64"))
    return registry_script, registry_script.add(manifest_blob(config), tag="v1")


def assert_timed_out(record: dict[str, Any], seconds: str) -> None:
    assert record["ok"] is False, record
    assert record["error"] == {
        "kind": "Timeout",
        "message": f"timed out after {seconds} s",
        "exitCode": 8,
    }


def test_the_deadline_of_a_document_is_documented_as_it_is() -> None:
    """--help and the README name the library's default (the parser cannot import it)."""
    shown = f"{client.DEFAULT_DOCUMENT_TIMEOUT_SECONDS:g} s"
    assert f"within {shown}" in " ".join(build_parser("size").format_help().split())
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"`document_timeout=...`, default {shown}" in readme


# ── audit: every phase within --timeout ────────────────────────────────────────────────────────────


def test_audit_a_dead_registry_holds_back_no_record(backend: str) -> None:
    """The /v2/ ping and the token batch come before a reference's own requests: a registry
    that takes the connection and never answers used to hold every record of the batch for its
    read timeout and retries. Now the dead one's record says it timed out after --timeout, and
    the healthy one's follows at once."""
    registry_script, manifest = healthy_registry()
    with silent_listener() as dead, ScriptedServer(registry_script) as healthy:
        result = run(
            "audit",
            "--plain-http",
            "--no-cache",
            "--timeout",
            "1",
            f"{dead.host}/evil/app:v1",
            healthy.ref("evil/app:v1"),
        )
    dead_record, healthy_record = result.records
    assert_timed_out(dead_record, "1")
    assert healthy_record["ok"] is True, healthy_record
    assert healthy_record["manifestDigest"] == manifest.digest
    assert result.status == ExitStatus.REGISTRY
    assert result.seconds < 1 + SLACK, result.seconds


def test_audit_a_stalled_token_server_holds_back_no_record(backend: str) -> None:
    """The next place to stall: the registry answers its 401 at once, its token realm never."""
    registry_script, _ = healthy_registry()
    with silent_listener() as realm:

        def challenge(_: Request) -> Reply:
            header = f'Bearer realm="http://{realm.host}/token",service="stalled"'
            return Reply(401, {"WWW-Authenticate": header}, b"")

        with ScriptedServer(challenge) as stalled, ScriptedServer(registry_script) as healthy:
            result = run(
                "audit",
                "--plain-http",
                "--no-cache",
                "--timeout",
                "1",
                stalled.ref("evil/one:v1"),
                healthy.ref("evil/app:v1"),
                stalled.ref("evil/two:v1"),
            )
    first, fine, second = result.records
    assert_timed_out(first, "1")
    assert_timed_out(second, "1")
    assert fine["ok"] is True, fine
    assert result.seconds < 1 + SLACK, result.seconds


def test_audit_a_dead_loopback_registry_without_plain_http(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case as users meet it: no --plain-http, so both loopback registries are tried
    over HTTPS first. The dead one stalls the handshake (a short bound, then plain HTTP, which
    stalls too); the healthy plain-HTTP one may refuse the ClientHello or sit on it."""
    monkeypatch.setattr(schemes, "LOOPBACK_HANDSHAKE_SECONDS", 0.2)
    registry_script, _ = healthy_registry()
    with silent_listener() as dead, ScriptedServer(registry_script) as healthy:
        result = run(
            "audit",
            "--no-cache",
            "--timeout",
            "1.5",
            f"{dead.host}/evil/app:v1",
            healthy.ref("evil/app:v1"),
        )
    dead_record, healthy_record = result.records
    assert_timed_out(dead_record, "1.5")
    assert healthy_record["ok"] is True, healthy_record
    assert result.seconds < 1.5 + SLACK, result.seconds


# ── size: a deadline per document, the loopback fall-back ─────────────────────────────────────────


def test_size_a_manifest_dripped_meets_the_document_deadline(
    backend: str, monkeypatch: pytest.MonkeyPatch, stop: threading.Event
) -> None:
    """One byte every 20 ms is within every read timeout: without --timeout, only the deadline
    of the request (60 s by default; 0.3 s here) ends it, exit 8, naming the URL."""
    real = client.RegistryProvider
    monkeypatch.setattr(client, "RegistryProvider", functools.partial(real, document_timeout=0.3))
    registry_script, manifest = healthy_registry()
    registry_script.overrides["/v2/evil/app/manifests/slow"] = lambda _: Reply(
        200,
        {"Content-Type": mediatypes.OCI_MANIFEST, "Docker-Content-Digest": manifest.digest},
        drip(manifest.data, 0.02, stop),
    )
    with ScriptedServer(registry_script) as server:
        result = run("size", "--plain-http", "--no-cache", server.ref("evil/app:slow"))
    assert result.status == ExitStatus.REGISTRY, result.err
    assert result.out == ""
    [line] = result.err.splitlines()[-1:]
    assert line.startswith("regimage: error: no complete answer from ")
    assert f"http://{server.host}/v2/evil/app/manifests/slow within 0.3 s" in line
    assert "Traceback" not in result.err
    assert result.seconds < 0.3 + SLACK, result.seconds


@pytest.mark.parametrize("preconnect", ["0", "1"])
def test_size_a_loopback_registry_deaf_to_tls_is_read_over_plain_http(
    backend: str, monkeypatch: pytest.MonkeyPatch, preconnect: str
) -> None:
    """A plain-HTTP loopback registry that neither answers nor refuses a ClientHello: the
    README's fall-back to plain HTTP, after a short handshake bound (0.3 s here, 3 s by
    default), with the start-up thread's handshake (REGIMAGE_PRECONNECT=1) as without it."""
    monkeypatch.setattr(schemes, "LOOPBACK_HANDSHAKE_SECONDS", 0.3)
    monkeypatch.setenv("REGIMAGE_PRECONNECT", preconnect)
    registry_script, manifest = healthy_registry()
    with TLSDeafServer(registry_script) as server:
        result = run("size", "--no-cache", "--json", server.ref("evil/app:v1"))
    assert result.status == 0, result.err
    assert json.loads(result.out)["manifestDigest"] == manifest.digest
    assert result.seconds < 2 * 0.3 + SLACK, result.seconds
