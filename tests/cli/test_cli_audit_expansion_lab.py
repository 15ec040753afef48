"""``regimage audit --all-tags`` and ``--catalog`` against the registry lab (issue #19, item 5).

Real Distribution registries: the 200 tags of ``public/many-tags`` expanded and streamed, catalogs
listed page by page (through Distribution's ``Link``) and filtered, the token registry's catalog
with credentials (its token server grants ``registry:catalog:*`` to users only) and without (a
clear refusal, exit 5), the TLS registry's Basic-auth catalog refused the same way.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from regimage.cli.audit import expansion, run as audit_run
from regimage.cli.core import main
from regimage.cli.status import ExitStatus
from tests.cli.test_cli_audit import SUMMARY, Case, _env, check_record
from tests.lab.lab import Lab

pytestmark = pytest.mark.integration


def audit(
    tmp_path: Path, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "regimage", "audit", "--no-cache", *args],
        input=stdin,
        capture_output=True,
        timeout=300,
        env=_env(tmp_path),
        check=False,
    )


def records_of(result: subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


@pytest.fixture(params=["asyncio", "trio"])
def in_process(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> str:
    """main() in this process against the lab, on each event loop, with no user configuration."""
    for name, value in _env(tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in ("REGIMAGE_USERNAME", "REGIMAGE_PASSWORD", "REGISTRY_AUTH_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("REGIMAGE_BACKEND", request.param)
    return str(request.param)


def test_all_tags_of_the_200_tag_repository(lab_batch: Lab, tmp_path: Path) -> None:
    """One repository argument, 200 records, each checked against the lab's expectations; the
    tags list and the manifests share one token request."""
    repository = lab_batch.token.ref("public/many-tags")
    lab_batch.token_server.reset()
    result = audit(tmp_path, "--all-tags", "--jobs", "16", repository)
    assert result.returncode == 0, result.stderr.decode()
    records = records_of(result)
    assert len(records) == len(lab_batch.many_tags) == 200
    by_tag = lab_batch.many_tags
    for index, record in enumerate(records):
        tag = record["reference"].rsplit(":", 1)[1]
        check_record(record, Case(f"{repository}:{tag}", by_tag[tag]), index)
    assert sorted(r["reference"] for r in records) == [f"{repository}:{t}" for t in sorted(by_tag)]
    assert len(lab_batch.token_server.requests()) == 1
    match = SUMMARY.fullmatch(result.stderr.decode().strip())
    assert match is not None, result.stderr.decode()
    assert match.groups() == ("200", "200", "0")


class Log(io.StringIO):
    """A stream whose lines go into ``events``, marked ``kind``: stdout's records and stderr's
    request log (-v), in the one order they were written."""

    def __init__(self, kind: str, events: list[str]) -> None:
        super().__init__()
        self.kind = kind
        self.events = events

    def write(self, text: str, /) -> int:
        self.events.extend(f"{self.kind} {line}" for line in text.splitlines())
        return super().write(text)


def test_the_first_record_comes_before_the_last_catalog_page(
    lab_batch: Lab, in_process: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Distribution pages its catalog (its ``Link``): pages of 7 repositories and a read-ahead
    of 5, and the request log (-v) and the records, in the order they were written, show the
    audit writing records while the catalog is still being read. (Distribution 2.8 sends a
    repository's whole tags list in one page, ``n`` or not: the tags list's paging is streamed
    over a server of ours, in test_cli_audit_expansion.py.)"""
    monkeypatch.setattr(expansion, "CATALOG_PAGE", 7)
    monkeypatch.setattr(audit_run, "READ_AHEAD", 5)
    events: list[str] = []
    out, err = Log("record", events), Log("stderr", events)
    registry = lab_batch.anonymous
    argv = ["audit", "-v", "--no-cache", "--jobs", "2", "--catalog", registry.host]
    argv += ["--include-repo", "public/batch-*"]
    status = main(argv, stdout=out, stderr=err, stdin=io.StringIO())
    assert status == 0, err.getvalue()[-2000:]
    assert len(out.getvalue().splitlines()) == 200
    pages = [i for i, event in enumerate(events) if "/v2/_catalog" in event]
    assert len(pages) > 200 // 7, [events[i] for i in pages]
    first_record = next(i for i, event in enumerate(events) if event.startswith("record "))
    assert first_record < pages[-1]
    written = sum(1 for event in events[: pages[-1]] if event.startswith("record "))
    assert written >= 150, written  # the audit ran while the catalog was read


def test_a_catalog_listed_page_by_page_and_filtered(
    lab_batch: Lab, in_process: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(expansion, "CATALOG_PAGE", 7)
    registry = lab_batch.anonymous
    out, err = io.StringIO(), io.StringIO()
    status = main(
        [
            "audit",
            "-v",
            "--catalog",
            registry.host,
            "--include-repo",
            "public/batch-0[0-3]?",
            "--exclude-repo",
            "*-013",
            "--exclude-tag",
            "sha256-*",
        ],
        stdout=out,
        stderr=err,
        stdin=io.StringIO(),
    )
    assert status == 0, err.getvalue()[-2000:]
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    kept = [i for i in lab_batch.batch.values() if i.repository < "public/batch-040"]
    kept = [i for i in kept if i.repository != "public/batch-013"]
    assert len(kept) == 39
    assert len(records) == 39
    for index, (record, image) in enumerate(zip(records, kept, strict=True)):
        check_record(record, Case(registry.ref(image.reference), image), index)
    catalog_requests = [line for line in err.getvalue().splitlines() if "/v2/_catalog" in line]
    assert len(catalog_requests) > 200 // 7  # every page of the catalog, through its Link


def test_the_token_registry_lists_its_catalog_to_a_user(lab_batch: Lab, tmp_path: Path) -> None:
    secret = lab_batch.private["secret"]
    result = audit(
        tmp_path,
        "--username",
        lab_batch.username,
        "--password-stdin",
        "--catalog",
        lab_batch.token.host,
        "--include-repo",
        "private/*",
        "--include-tag",
        secret.tag,
        stdin=lab_batch.password.encode(),
    )
    assert result.returncode == 0, result.stderr.decode()
    (record,) = records_of(result)
    check_record(record, Case(lab_batch.token.ref(secret.reference), secret), 0)
    assert lab_batch.password not in result.stderr.decode()


def test_a_catalog_of_200_repositories_takes_a_few_token_requests(
    lab_batch: Lab, tmp_path: Path
) -> None:
    """Each catalog page's repositories go to the authorizer together: their tags lists and
    manifests share a few many-scope token requests, as a list of references does."""
    lab_batch.token_server.reset()
    result = audit(
        tmp_path,
        "--username",
        lab_batch.username,
        "--password-stdin",
        "--catalog",
        lab_batch.token.host,
        "--include-repo",
        "public/batch-*",
        stdin=lab_batch.password.encode(),
    )
    assert result.returncode == 0, result.stderr.decode()
    records = records_of(result)
    batch = sorted(lab_batch.batch.values(), key=lambda image: image.repository)
    assert [r["digest"] for r in records] == [image.digest for image in batch]
    requests = lab_batch.token_server.requests()
    # the catalog's scope, then the 200 repositories, 50 a request
    assert sorted(len(r.scopes) for r in requests) == [1, 50, 50, 50, 50]


@pytest.mark.parametrize("flavour", ["token", "tls"])
def test_a_registry_that_refuses_the_catalog(lab_batch: Lab, tmp_path: Path, flavour: str) -> None:
    """No credentials: the token server grants no ``registry:catalog:*``, and the TLS registry
    asks for Basic. One error record, one error line that says what it takes, exit 5, and the
    references before it audited."""
    registry = lab_batch.registry(flavour)
    one = lab_batch.corpus["oci-single"]
    args = ["--catalog", registry.host, lab_batch.anonymous.ref(one.reference)]
    if registry.ca_file is not None:
        args = ["--ca-file", str(registry.ca_file), *args]
    lab_batch.token_server.reset()
    result = audit(tmp_path, *args)
    assert result.returncode == ExitStatus.AUTH
    first, refused = records_of(result)
    assert first["ok"] is True
    assert refused["reference"] == registry.host
    assert (refused["error"]["kind"], refused["error"]["exitCode"]) == ("AuthenticationError", 5)
    message = refused["error"]["message"]
    assert f"{registry.host} refused to list its catalog" in message
    assert "needs credentials" in message
    assert "only administrators list the catalog" in message
    err = result.stderr.decode().splitlines()
    assert SUMMARY.fullmatch(err[0]), err
    assert err[1:] == [
        f"regimage: error: --catalog {registry.host}: {message}",
    ]
    if flavour == "token":  # Distribution asked for the catalog's scope, and was refused it
        asked = {scope for r in lab_batch.token_server.requests() for scope in r.scopes}
        assert "registry:catalog:*" in asked
