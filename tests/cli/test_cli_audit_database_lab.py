"""``regimage audit --db`` against the registry lab (issue #19, items 2 and 5): the database on disk.

Real registries, a real process, a real SQLite file: the corpus recorded and checked against the
lab's own expectations (platforms, blobs, diff IDs and chain IDs, the family images' lineage); an
audit killed with SIGKILL in the middle of its input, the file then checked and the audit resumed;
an audit interrupted with SIGINT, every record it wrote found in the file. Each on asyncio and trio.
"""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from regimage.cli.status import ExitStatus
from regimage.model.platform import Platform
from tests.cli.test_cli_audit import _env, _read_lines
from tests.lab.lab import Lab

pytestmark = pytest.mark.integration

#: Seconds any one wait on the audit process may take before the test fails.
WAIT = 60


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _environment(tmp_path: Path, backend: str) -> dict[str, str]:
    return {**_env(tmp_path), "REGIMAGE_BACKEND": backend}


def audit(
    tmp_path: Path, backend: str, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "regimage", "audit", "--no-cache", *args],
        input=stdin,
        capture_output=True,
        timeout=300,
        env=_environment(tmp_path, backend),
        check=False,
    )


def start(tmp_path: Path, backend: str, *args: str) -> subprocess.Popen[bytes]:
    """An audit reading its references from a pipe the test writes as it goes."""
    return subprocess.Popen(
        [sys.executable, "-m", "regimage", "audit", "--no-cache", "--jobs", "4", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_environment(tmp_path, backend),
        # SIGINT as a terminal's Ctrl-C sends it, whatever this test runner ignores
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def feed(process: subprocess.Popen[bytes], reference: str) -> dict[str, Any]:
    """Write one reference and read its record."""
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(f"{reference}\n".encode())
    process.stdin.flush()
    (line,) = _read_lines(process.stdout, count=1, timeout=WAIT)
    record: dict[str, Any] = json.loads(line)
    return record


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=WAIT)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def rows(path: Path, query: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(query, args).fetchall()
    finally:
        db.close()


def test_the_corpus_in_the_database(lab: Lab, tmp_path: Path, backend: str) -> None:
    """Every corpus image recorded as the lab built it; --built-on's question answered exactly."""
    images = lab.corpus
    refs = [lab.token.ref(i.reference) for i in images.values()]
    refs.append(lab.token.ref("public/no-such-repository:v1"))
    path = tmp_path / "audit.db"
    result = audit(tmp_path, backend, "--db", str(path), "--config", *refs)
    assert result.returncode == ExitStatus.NOT_FOUND, result.stderr.decode()

    runs = rows(path, "SELECT id, with_config, complete, audited, skipped, failed FROM runs")
    assert runs == [(1, 1, 1, len(refs), 0, 1)]
    recorded = rows(path, "SELECT position, reference, registry, repository, tag, digest FROM refs")
    want = [
        (i, ref, lab.token.host, image.repository, image.tag, image.digest)
        for i, (ref, image) in enumerate(zip(refs, images.values(), strict=False))
    ]
    assert sorted(recorded)[:-1] == want
    assert sorted(recorded)[-1][5] is None  # the missing repository: no digest

    documents = {
        r[0]: r[1:] for r in rows(path, "SELECT digest, platform, attestation FROM documents")
    }
    diff_ids = rows(path, "SELECT config, position, diff_id, chain_id FROM diff_ids")
    blobs = dict(rows(path, "SELECT digest, size FROM blobs"))
    for image in images.values():
        for p in image.platforms.values():
            platform, attestation = documents[p.manifest_digest]
            assert attestation == int(p.attestation)
            if image.name != "artifact":
                assert platform == str(Platform(p.os, p.architecture, p.variant).normalized())
            assert blobs[p.config_digest] == p.config_size
            assert all(blobs[layer.digest] == layer.size for layer in p.layers)
            if not p.attestation and image.name != "artifact":
                chains = sorted(r[1:] for r in diff_ids if r[0] == p.config_digest)
                assert chains == [
                    (i, d, c) for i, (d, c) in enumerate(zip(p.diff_ids, p.chain_ids, strict=True))
                ]

    # --built-on family-base: every manifest whose chain IDs begin with the base's, exactly.
    base = images["family-base"].default
    top = base.chain_ids[-1]
    built_on = rows(
        path,
        "SELECT DISTINCT e.parent FROM diff_ids d JOIN edges e ON e.child = d.config "
        "AND e.role = 'config' WHERE d.chain_id = ? AND d.position = ?",
        top,
        len(base.chain_ids) - 1,
    )
    expected = {
        p.manifest_digest
        for image in images.values()
        for p in image.platforms.values()
        if p.chain_ids[: len(base.chain_ids)] == base.chain_ids
    }
    assert {r[0] for r in built_on} == expected
    assert len(expected) >= 4  # the family: the base, its apps, their index platforms


def test_an_audit_killed_mid_run_is_resumed(lab_batch: Lab, tmp_path: Path, backend: str) -> None:
    """SIGKILL while the input is still open: the file is consistent, holds every batch written
    before (each reference with its graph), and --resume walks only what it does not hold."""
    images = list(lab_batch.batch.values()) + list(lab_batch.many_tags.values())
    refs = [lab_batch.token.ref(i.reference) for i in images]
    path = tmp_path / "audit.db"
    process = start(tmp_path, backend, "--db", str(path))
    try:
        fed = 0
        # One reference at a time, until a batch is in the file (within BATCH_SECONDS of the
        # first): paced by the audit's own records, no sleeping.
        while fed < len(refs) and not (path.exists() and rows(path, "SELECT 1 FROM refs")):
            assert feed(process, refs[fed])["ok"] is True
            fed += 1
        assert fed < len(refs), "no batch was written while the audit ran"
        process.kill()
        assert process.wait(timeout=WAIT) == -signal.SIGKILL
    finally:
        stop(process)

    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    assert rows(path, "SELECT finished, complete FROM runs") == [(None, 0)]
    held = rows(path, "SELECT reference, digest, ok FROM refs WHERE run_id = 1")
    assert 0 < len(held) <= fed
    by_reference = dict(zip(refs, images, strict=True))
    assert all(ok == 1 and by_reference[ref].digest == digest for ref, digest, ok in held)
    orphans = rows(
        path,
        "SELECT r.reference FROM refs r LEFT JOIN documents d ON d.digest = r.digest "
        "WHERE d.digest IS NULL OR NOT EXISTS (SELECT 1 FROM edges WHERE parent = r.digest)",
    )
    assert orphans == []  # every reference in the file has its graph there too

    listing = tmp_path / "refs.txt"
    listing.write_text("".join(f"{ref}\n" for ref in refs))
    result = audit(tmp_path, backend, "--db", str(path), "--resume", "--file", str(listing))
    assert result.returncode == 0, result.stderr.decode()
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [r["digest"] for r in records] == [i.digest for i in images]
    skipped = {r["reference"] for r in records if r.get("skipped")}
    assert skipped == {ref for ref, _, _ in held}
    assert all(
        set(r) == {"schema", "index", "reference", "ok", "digest", "skipped"}
        for r in records
        if r.get("skipped")
    )
    summary = result.stderr.decode().strip()
    assert summary.endswith(f"; {len(held)} unchanged since an earlier run, skipped (--resume)")
    runs = rows(path, "SELECT id, complete, audited, skipped, failed FROM runs ORDER BY id")
    assert runs[1] == (2, 1, len(refs) - len(held), len(held), 0)
    assert rows(path, "SELECT count(*), sum(ok) FROM refs WHERE run_id = 2") == [
        (len(refs), len(refs))
    ]
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]


def test_an_interrupted_audit_keeps_every_record_it_wrote(
    lab_batch: Lab, tmp_path: Path, backend: str
) -> None:
    """Ctrl-C (SIGINT) in the middle of a run: exit 130, every record written to stdout is in the
    file, and the run is marked finished and not complete. The run is held in its middle by a
    registry that accepts connections and never answers (the last reference)."""
    images = list(lab_batch.batch.values())[:30]
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel accepts; nobody ever reads or answers
        host, port = silent.getsockname()
        listing = tmp_path / "refs.txt"
        listing.write_text(
            "".join(f"{lab_batch.token.ref(i.reference)}\n" for i in images)
            + f"{host}:{port}/silent/x:v1\n"
        )
        path = tmp_path / "audit.db"
        process = start(tmp_path, backend, "--db", str(path), "--file", str(listing))
        try:
            assert process.stdout is not None
            lines = _read_lines(process.stdout, count=len(images), timeout=WAIT)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=WAIT) == ExitStatus.INTERRUPTED
            assert process.stderr is not None
            assert process.stderr.read().decode().endswith("regimage: error: interrupted\n")
        finally:
            stop(process)
    written = [json.loads(line) for line in lines]
    assert [r["digest"] for r in written] == [i.digest for i in images]
    held = rows(path, "SELECT position, reference, digest FROM refs ORDER BY position")
    assert held == [(r["index"], r["reference"], r["digest"]) for r in written]
    assert rows(path, "SELECT finished IS NOT NULL, complete, audited FROM runs") == [(1, 0, 30)]
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]


def test_a_database_of_another_version_is_refused(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE schema (version INTEGER); INSERT INTO schema VALUES (2);")
    db.close()
    result = audit(tmp_path, "asyncio", "--db", str(path), lab.token.ref("public/oci-single:v1"))
    assert result.returncode == ExitStatus.USAGE
    assert result.stdout == b""
    err = result.stderr.decode()
    assert err.count("\n") == 1
    assert "schema version 2" in err
    assert "upgrade regimage" in err
