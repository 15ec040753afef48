"""``regimage audit`` against the registry lab: hundreds of references, one process, one record each.

The batch repositories (``public/batch-000``…``199``, seeded by the ``lab_batch`` fixture) are
audited by tag on the token registry and by digest on the anonymous one, with the corpus, the
``many-tags`` repository and a few bad references among them: a missing tag, a reference that does
not parse, a private repository without credentials, a repository that does not exist.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from regimage.cli.status import ExitStatus
from tests.lab.expected import ExpectedImage
from tests.lab.lab import Lab

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def lab_batch(lab: Lab) -> Lab:
    """The lab with the batch seeded (tests.lab.fixtures.lab_batch; conftest.py exports only
    ``lab``). Seeding is idempotent: a seeded lab costs nothing."""
    lab.seed(batch=True)
    return lab


SUMMARY = re.compile(r"audited (\d+) references: (\d+) ok, (\d+) failed in \d+\.\d+ s")


@dataclass(frozen=True, slots=True)
class Case:
    """One input line and what its record must say (``image`` None: a failure of ``kind``)."""

    reference: str
    image: ExpectedImage | None = None
    kind: str | None = None
    code: int = 0


def cases(lab: Lab) -> list[Case]:
    token, anonymous = lab.token, lab.anonymous
    out = [Case(token.ref(i.reference), i) for i in lab.batch.values()]
    out += [Case(anonymous.ref(i.by_digest), i) for i in lab.batch.values()]
    out += [Case(token.ref(i.reference), i) for i in lab.corpus.values()]
    out += [
        Case(token.ref(f"{i.repository}:{i.tag}"), i) for i in list(lab.many_tags.values())[:40]
    ]
    bad = [
        Case(token.ref("public/batch-007:no-such-tag"), kind="NotFound", code=4),
        Case("Not//A Reference", kind="InvalidReference", code=3),
        Case(token.ref("private/secret:v1"), kind="AuthenticationError", code=5),
        Case(anonymous.ref("public/no-such-repository:v1"), kind="NotFound", code=4),
    ]
    # spread the bad ones through the input
    for position, case in zip((3, 150, 260, len(out) - 5), bad, strict=True):
        out.insert(position, case)
    return out


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGIMAGE_", "DOCKER_"))}
    env.pop("REGISTRY_AUTH_FILE", None)
    env.update(HOME=str(tmp_path), DOCKER_CONFIG=str(tmp_path / "docker"), PYTHONWARNINGS="error")
    return env


def audit(
    tmp_path: Path, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "regimage", "audit", *args],
        input=stdin,
        capture_output=True,
        timeout=300,
        env=_env(tmp_path),
        check=False,
    )


def check_record(record: dict[str, Any], case: Case, index: int) -> None:
    assert record["schema"] == 1
    assert record["index"] == index
    if case.image is None:
        assert set(record) == {"schema", "index", "reference", "ok", "error"}
        assert record["ok"] is False
        assert set(record["error"]) == {"kind", "message", "exitCode"}
        assert (record["error"]["kind"], record["error"]["exitCode"]) == (case.kind, case.code), (
            record
        )
        assert record["error"]["message"]
        return
    image = case.image
    want = image.default
    assert record["ok"] is True, record
    assert record["reference"] == case.reference
    assert record["digest"] == image.digest, record
    assert record["manifestDigest"] == want.manifest_digest, record
    assert record["size"] == want.size, record
    assert record["config"] == want.config_digest, record
    assert record["platform"] == (want.platform if image.is_index else None), record


def test_audit_hundreds_from_stdin(lab_batch: Lab, tmp_path: Path) -> None:
    all_cases = cases(lab_batch)
    assert len(all_cases) >= 400
    lines = ["# the lab, audited", ""] + [c.reference for c in all_cases] + ["   ", "# end"]
    result = audit(tmp_path, "--jobs", "24", stdin="\n".join(lines).encode())
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    failures = [r for r in records if not r["ok"]]
    assert len(failures) == 4, failures  # the four bad references, nothing else
    assert len(records) == len(all_cases), result.stderr.decode()
    for index, (record, case) in enumerate(zip(records, all_cases, strict=True)):
        check_record(record, case, index)
    assert result.returncode == ExitStatus.AUTH  # the most severe of 3, 4 and 5
    err = result.stderr.decode()
    assert len(err.splitlines()) == 1, err  # no progress line: stderr is not a terminal
    match = SUMMARY.fullmatch(err.strip())
    assert match is not None, err
    assert match.groups() == (str(len(all_cases)), str(len(all_cases) - 4), "4")


def test_audit_csv_from_file(lab_batch: Lab, tmp_path: Path) -> None:
    good = [c for c in cases(lab_batch) if c.image is not None][:420]
    refs = tmp_path / "refs.txt"
    refs.write_text("\n".join(c.reference for c in good) + "\n", encoding="utf-8")
    result = audit(tmp_path, "--csv", "--file", str(refs))
    assert result.returncode == 0, result.stderr.decode()
    rows = list(csv.DictReader(io.StringIO(result.stdout.decode())))
    assert len(rows) == len(good)
    for index, (row, case) in enumerate(zip(rows, good, strict=True)):
        assert case.image is not None
        assert row["index"] == str(index)
        assert row["reference"] == case.reference
        assert row["ok"] == "true"
        assert row["digest"] == case.image.digest
        assert row["size"] == str(case.image.default.size)
        assert row["config"] == case.image.default.config_digest
        assert (row["errorKind"], row["errorMessage"], row["exitCode"]) == ("", "", "")
    assert SUMMARY.fullmatch(result.stderr.decode().strip())


def test_audit_asks_the_tokens_of_many_repositories_in_few_requests(
    lab_batch: Lab, tmp_path: Path
) -> None:
    """200 repositories, 50 scopes per token request: 4 token requests, as the library makes.

    The references are read ahead of the workers, so the authorizer sees them all before the
    first batch goes (with only the reorder window to look at, it sent 7 or 8 smaller ones).
    """
    batch = list(lab_batch.batch.values())
    assert len(batch) == 200
    refs = tmp_path / "refs.txt"
    refs.write_text("".join(lab_batch.token.ref(i.reference) + "\n" for i in batch))
    lab_batch.token_server.reset()
    result = audit(tmp_path, "--no-cache", "--file", str(refs))
    assert result.returncode == 0, result.stderr.decode()
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [r["digest"] for r in records] == [i.digest for i in batch]
    requests = lab_batch.token_server.requests()
    asked = [scope for r in requests for scope in r.scopes]
    assert sorted(asked) == sorted(f"repository:{i.repository}:pull" for i in batch)
    assert len(requests) == 4, [len(r.scopes) for r in requests]


def test_audit_with_credentials(lab_batch: Lab, tmp_path: Path) -> None:
    secret = lab_batch.private["secret"]
    refs = tmp_path / "refs.txt"
    refs.write_text(
        f"{lab_batch.token.ref(secret.reference)}\n{lab_batch.token.ref('public/batch-001:v1')}\n",
        encoding="utf-8",
    )
    result = audit(
        tmp_path,
        "--username",
        lab_batch.username,
        "--password-stdin",
        "--file",
        str(refs),
        stdin=lab_batch.password.encode(),
    )
    assert result.returncode == 0, result.stderr.decode()
    first, second = (json.loads(line) for line in result.stdout.decode().splitlines())
    assert first["digest"] == secret.digest
    assert second["digest"] == lab_batch.batch["batch-001"].digest
    assert lab_batch.password not in result.stderr.decode()


def test_audit_streams(lab_batch: Lab, tmp_path: Path) -> None:
    """Records come out while the input is still open: nothing waits for the end of the input."""
    batch = list(lab_batch.batch.values())
    process = subprocess.Popen(
        [sys.executable, "-m", "regimage", "audit", "--jobs", "4"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(tmp_path),
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        first = [lab_batch.token.ref(i.reference) for i in batch[:10]]
        process.stdin.write(("\n".join(first) + "\n").encode())
        process.stdin.flush()
        early = _read_lines(process.stdout, count=10, timeout=60)
        assert [json.loads(line)["digest"] for line in early] == [i.digest for i in batch[:10]]
        rest = [lab_batch.token.ref(i.reference) for i in batch[10:30]]
        process.stdin.write(("\n".join(rest) + "\n").encode())
        process.stdin.close()
        tail = process.stdout.read().decode().splitlines()
        assert [json.loads(line)["index"] for line in tail] == list(range(10, 30))
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()


def _read_lines(stream: Any, *, count: int, timeout: float) -> list[str]:
    """``count`` lines from a pipe, failing (not hanging) when they do not come in time."""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    data = b""
    try:
        while data.count(b"\n") < count:
            remaining = deadline - time.monotonic()
            got = data.count(b"\n")
            assert remaining > 0, f"only {got} of {count} records while the input is still open"
            if selector.select(remaining):
                chunk = os.read(stream.fileno(), 65536)
                assert chunk, "audit closed its output early"
                data += chunk
    finally:
        selector.close()
    return data.decode().splitlines()[:count]
