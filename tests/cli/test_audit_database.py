"""The audit database (``regimage audit --db``): its rows, its file, its thread, without a registry.

The lab's corpus images are read from memory (:mod:`tests.image.lab_memory`) and compared with
the corpus' own expectations; the file is a real SQLite file in ``tmp_path``. The audit against
the lab, interrupted and resumed, is in ``test_cli_audit_database_lab.py``.
"""

from __future__ import annotations

import argparse
import io
import re
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from regimage.cli.audit import database_writer
from regimage.cli.audit.database import AuditDatabase, open_database
from regimage.cli.audit.database_rows import collect_graph, ref_row
from regimage.cli.audit.database_schema import SCHEMA, SCHEMA_VERSION
from regimage.cli.core import main
from regimage.cli.status import ExitStatus, UsageError
from regimage.cli.streams import OutputFailed
from regimage.content.provider import MemoryProvider
from regimage.image.image import Image
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.mediatypes import OCI_MANIFEST
from regimage.model.platform import Platform
from tests.image.lab_memory import memory_of
from tests.lab.corpus import corpus
from tests.lab.expected import ExpectedImage, ExpectedPlatform

pytestmark = pytest.mark.anyio

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
#: Corpus images whose index entries name no platform (or that are a single manifest).
NO_DECLARED_PLATFORM = {"index-no-platform"}


# ── the graph's rows ───────────────────────────────────────────────────────────────────────────────


def _platform(p: ExpectedPlatform) -> str:
    return str(Platform(p.os, p.architecture, p.variant).normalized())


def _declares_platforms(image: ExpectedImage) -> bool:
    return image.is_index and image.name not in NO_DECLARED_PLATFORM


@pytest.mark.parametrize("configs", [False, True], ids=["manifests", "configs"])
@pytest.mark.parametrize("name", sorted(corpus().images))
async def test_graph_rows_match_the_corpus(name: str, configs: bool) -> None:
    image = corpus().images[name]
    memory, subject = memory_of(name, layers=False)
    rows = await collect_graph(subject, configs=configs)

    manifests = {p.manifest_digest: p for p in image.platforms.values()}
    indexes = {d for p in manifests.values() for d in p.index_digests}
    documents = {row[0]: row for row in rows.documents}
    assert set(documents) == set(manifests) | indexes
    assert len(documents) == len(rows.documents)
    for digest in indexes:
        assert documents[digest][3:] == ("index", None, 0, None)
    for digest, p in manifests.items():
        _, media_type, size, kind, platform, attestation, artifact = documents[digest]
        assert (media_type, size, kind) == (p.manifest_media_type, p.manifest_size, "manifest")
        assert attestation == int(p.attestation)
        assert (artifact is not None) == (name == "artifact")
        if (configs and not p.attestation and name != "artifact") or _declares_platforms(image):
            assert platform == _platform(p), digest
        else:
            assert platform is None, digest

    edges = set(rows.edges)
    assert len(edges) == len(rows.edges)
    links = {
        (path[i], path[i + 1])
        for p in manifests.values()
        for path in [(*p.index_digests, p.manifest_digest)]
        for i in range(len(path) - 1)
    }
    assert {(e[0], e[3]) for e in edges if e[1] == "manifest"} == links
    blobs = {row[0]: row for row in rows.blobs}
    for digest, p in manifests.items():
        assert (digest, "config", 0, p.config_digest) in edges
        assert blobs[p.config_digest] == (p.config_digest, p.config_media_type, p.config_size)
        for i, layer in enumerate(p.layers):
            assert (digest, "layer", i, layer.digest) in edges
            assert blobs[layer.digest] == (layer.digest, layer.media_type, layer.size)
    assert set(blobs) == {p.config_digest for p in manifests.values()} | {
        layer.digest for p in manifests.values() for layer in p.layers
    }

    wanted = set()
    if configs:
        for p in manifests.values():
            if not p.attestation and name != "artifact":
                wanted |= {
                    (p.config_digest, i, diff, chain)
                    for i, (diff, chain) in enumerate(zip(p.diff_ids, p.chain_ids, strict=True))
                }
    assert set(rows.diff_ids) == wanted
    configs_read = {str(d) for d in memory.fetched} & {p.config_digest for p in manifests.values()}
    assert bool(configs_read) == (configs and name != "artifact")  # without --config: none


async def test_graph_rows_reuse_what_the_answer_read() -> None:
    """The walk shares the image's document cache: what size() read is not read again."""
    memory, subject = memory_of("oci-index", layers=False)
    await subject.size()
    before = list(memory.fetched)
    await collect_graph(subject, configs=False)
    again = [d for d in memory.fetched[len(before) :] if d in before]
    assert again == []
    assert len(memory.fetched) == len(set(memory.fetched))


NO_ERROR = (None, None, None)
NOT_FOUND = ("NotFound", "tag 'v1' not found", 4)
NOT_LISTED = {"kind": "AccessDenied", "message": "no catalog", "exitCode": 5}
LISTED = ("AccessDenied", "no catalog", 5)


@pytest.mark.parametrize("name", ["oci-single", "oci-index"])
async def test_a_root_of_a_generic_type_is_read_once(name: str) -> None:
    """A root resolved as application/json (some registries, some layouts) is typed by its
    JSON, as Image does, without being read again under its real type."""
    memory, subject = memory_of(name, layers=False)
    subject = replace(subject, target=replace(subject.target, media_type="application/json"))
    await subject.size()
    rows = await collect_graph(subject, configs=False)
    assert memory.fetched.count(subject.target.digest) == 1
    root = next(row for row in rows.documents if row[0] == str(subject.target.digest))
    assert root[1] == corpus().images[name].media_type


REF_ROWS = [
    (
        {"index": 3, "reference": "docker.io/library/alpine:3", "ok": True, "digest": DIGEST},
        False,
        (
            3,
            "docker.io/library/alpine:3",
            "docker.io",
            "library/alpine",
            "3",
            DIGEST,
            1,
            0,
            *NO_ERROR,
        ),
    ),
    (
        {"index": 0, "reference": f"ghcr.io/a/b@{DIGEST}", "ok": True, "digest": DIGEST},
        True,
        (0, f"ghcr.io/a/b@{DIGEST}", "ghcr.io", "a/b", None, DIGEST, 1, 1, None, None, None),
    ),
    (
        {
            "index": 1,
            "reference": "localhost:5000/x:v1",
            "ok": False,
            "error": {"kind": "NotFound", "message": "tag 'v1' not found", "exitCode": 4},
        },
        False,
        (1, "localhost:5000/x:v1", "localhost:5000", "x", "v1", None, 0, 0, *NOT_FOUND),
    ),
    (
        {
            "index": 2,
            "reference": "Not//A Reference",
            "ok": False,
            "error": {"kind": "InvalidReference", "message": "invalid", "exitCode": 3},
        },
        False,
        (2, "Not//A Reference", None, None, None, None, 0, 0, "InvalidReference", "invalid", 3),
    ),
    (  # a repository --all-tags could not list
        {"index": 5, "reference": "127.0.0.1:5000/public/x", "ok": False, "error": NOT_LISTED},
        False,
        (5, "127.0.0.1:5000/public/x", "127.0.0.1:5000", "public/x", None, None, 0, 0, *LISTED),
    ),
    (  # a registry whose --catalog could not be listed: not a repository of Docker Hub
        {"index": 6, "reference": "localhost:5000", "ok": False, "error": NOT_LISTED},
        False,
        (6, "localhost:5000", None, None, None, None, 0, 0, *LISTED),
    ),
    (
        {"index": 7, "reference": "ghcr.io", "ok": False, "error": NOT_LISTED},
        False,
        (7, "ghcr.io", None, None, None, None, 0, 0, *LISTED),
    ),
    (
        {"index": 4, "reference": "oci:./layout:v1", "ok": True, "digest": DIGEST},
        False,
        (4, "oci:./layout:v1", None, None, None, DIGEST, 1, 0, None, None, None),
    ),
]


@pytest.mark.parametrize(("record", "skipped", "want"), REF_ROWS)
def test_ref_row(record: dict[str, Any], skipped: bool, want: tuple[Any, ...]) -> None:
    row = ref_row(7, record, skipped=skipped)
    assert row[0] == 7
    assert row[1:-1] == want
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row[-1])  # ISO 8601, UTC


# ── the file: created, checked, refused ────────────────────────────────────────────────────────────


def _sql(path: Path, script: str) -> None:
    db = sqlite3.connect(path)
    db.executescript(script)
    db.close()


def _file(contents: bytes) -> Any:
    def make(directory: Path) -> Path:
        path = directory / "audit.db"
        path.write_bytes(contents)
        return path

    return make


def _database(script: str) -> Any:
    def make(directory: Path) -> Path:
        path = directory / "audit.db"
        _sql(path, script)
        return path

    return make


def _versions(*versions: int) -> Any:
    rows = ", ".join(f"({v})" for v in versions)
    insert = f"INSERT INTO schema VALUES {rows};" if versions else ""  # noqa: S608 (ints)
    return _database(f"CREATE TABLE schema (version INTEGER); {insert}")


REFUSED = [
    ("not-sqlite", _file(b"not a database, though long enough for a header " * 4), "not an SQLite"),
    ("other-tables", _database("CREATE TABLE t (x);"), "not an audit database"),
    ("newer", _versions(2), "schema version 2, and regimage .* upgrade regimage"),
    ("older", _versions(0), "schema version 0, and regimage .* no migration exists"),
    ("no-version", _versions(), "schema version none"),
    ("two-versions", _versions(1, 1), "schema version 1, 1"),
    ("no-directory", lambda directory: directory / "no-such-directory" / "a.db", "cannot open it"),
]


@pytest.mark.parametrize(("make", "says"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
async def test_a_file_that_is_not_an_audit_database_is_refused(
    tmp_path: Path, make: Any, says: str
) -> None:
    path = make(tmp_path)
    before = path.read_bytes() if path.exists() else None
    with pytest.raises(UsageError, match=f"^--db {path}: .*{says}"):
        await AuditDatabase.open(str(path), with_config=False, resume=False, argv=[])
    assert (path.read_bytes() if path.exists() else None) == before  # left as it was


def test_a_refused_database_is_a_usage_error_on_one_line(tmp_path: Path) -> None:
    """Exit 2 and one line, before any reference is resolved."""
    path = tmp_path / "audit.db"
    _sql(path, "CREATE TABLE schema (version INTEGER); INSERT INTO schema VALUES (99);")
    out, err = io.StringIO(), io.StringIO()
    status = main(["audit", "--db", str(path), "localhost:1/x:v1"], stdout=out, stderr=err)
    assert status == ExitStatus.USAGE
    assert out.getvalue() == ""
    assert err.getvalue().count("\n") == 1
    assert err.getvalue().startswith(
        f"regimage: error: --db {path}: audit database schema version 99"
    )


@pytest.mark.parametrize("option", ["--config", "--resume"])
def test_config_and_resume_need_a_database(option: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["audit", option, "localhost:1/x:v1"], stdout=out, stderr=err) == 2
    assert (
        err.getvalue()
        == f"regimage: error: {option} works on the audit database: give it with --db FILE\n"
    )


async def test_a_new_file_gets_the_schema_and_a_run(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    database = await AuditDatabase.open(str(path), with_config=True, resume=False, argv=["audit"])
    await database.finish(complete=True)
    again = await AuditDatabase.open(str(path), with_config=False, resume=False, argv=["x"])
    await again.finish(complete=False)
    db = sqlite3.connect(path)
    assert db.execute("SELECT version FROM schema").fetchall() == [(SCHEMA_VERSION,)]
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    runs = db.execute("SELECT id, argv, with_config, complete, finished IS NOT NULL FROM runs")
    assert runs.fetchall() == [(1, '["audit"]', 1, 1, 1), (2, '["x"]', 0, 0, 1)]
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_every_table_and_column_is_commented() -> None:
    """The schema is documentation too: each table has a comment above it, each column one on
    its line."""
    lines = SCHEMA.splitlines()
    in_table = False
    for number, line in enumerate(lines):
        if line.startswith("CREATE TABLE"):
            assert lines[number - 1].startswith("--"), line
            in_table = True
        elif line.startswith(")"):
            in_table = False
        elif in_table and not line.lstrip().startswith(
            ("--", "PRIMARY KEY", "CHECK", "REFERENCES")
        ):
            assert "--" in line, line


# ── writes: batched, on their own thread, never in the event loop's way ────────────────────────────


def _record(index: int, digest: str = DIGEST, *, ok: bool = True) -> dict[str, Any]:
    if not ok:
        error = {"kind": "NotFound", "message": "no", "exitCode": 4}
        return {"index": index, "reference": f"r.example/x{index}:v1", "ok": False, "error": error}
    return {"index": index, "reference": f"r.example/x{index}:v1", "ok": True, "digest": digest}


class _Writes:
    """Wraps the thread's write: counts batches; ``gate`` (when set) holds each one back."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.batches: list[int] = []
        self.written = threading.Semaphore(0)
        self.gate: threading.Event | None = None
        original = database_writer._Connection.write

        def write(connection: Any, batch: Any) -> None:
            if self.gate is not None:
                self.gate.wait(10)
            original(connection, batch)
            self.batches.append(batch.refs)
            self.written.release()

        monkeypatch.setattr(database_writer._Connection, "write", write)

    async def wait(self) -> None:
        """Until one more batch is written (bounded: a regression fails, never hangs)."""
        assert await anyio.to_thread.run_sync(self.written.acquire, True, 10)


async def test_rows_are_written_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database_writer, "BATCH_REFS", 3)
    monkeypatch.setattr(database_writer, "BATCH_SECONDS", 60.0)
    writes = _Writes(monkeypatch)
    path = tmp_path / "audit.db"
    _, image = memory_of("oci-index", layers=False)
    with anyio.fail_after(20):
        database = await AuditDatabase.open(str(path), with_config=False, resume=False, argv=[])
        await database.collect(image)
        for index in range(7):
            await database.add(_record(index, ok=index != 5))
        await writes.wait()
        await writes.wait()
        reader = sqlite3.connect(path)  # WAL: a reader sees each batch while the run goes on
        assert reader.execute("SELECT count(*) FROM refs").fetchone() == (6,)
        assert reader.execute("SELECT count(*) FROM documents").fetchone() == (6,)
        await database.finish(complete=True)
    assert writes.batches == [3, 3, 1]
    runs = reader.execute("SELECT audited, skipped, failed, complete FROM runs").fetchall()
    assert runs == [(7, 0, 1, 1)]


async def test_a_manifest_met_alone_gets_its_platform_from_an_index_met_later(
    tmp_path: Path,
) -> None:
    """family-app is a single manifest (no platform without --config); family-index names the
    same manifest as linux/amd64 (another run, or later in this one): the row learns it."""
    path = tmp_path / "audit.db"
    app = corpus().images["family-app"]
    with anyio.fail_after(20):
        for name in ("family-app", "family-index"):
            database = await AuditDatabase.open(str(path), with_config=False, resume=False, argv=[])
            await database.collect(memory_of(name, layers=False)[1])
            await database.finish(complete=True)
    found = sqlite3.connect(path).execute(
        "SELECT platform FROM documents WHERE digest = ?", (app.digest,)
    )
    assert found.fetchall() == [("linux/amd64",)]


async def test_a_waiting_row_is_written_within_batch_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_writer, "BATCH_SECONDS", 0.0)  # the deadline is now
    writes = _Writes(monkeypatch)
    path = tmp_path / "audit.db"
    with anyio.fail_after(20):
        database = await AuditDatabase.open(str(path), with_config=False, resume=False, argv=[])
        await database.add(_record(0))
        await writes.wait()  # one reference: far below BATCH_REFS, written all the same
        assert sqlite3.connect(path).execute("SELECT count(*) FROM refs").fetchone() == (1,)
        await database.finish(complete=True)


async def test_the_audit_never_waits_for_a_slow_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a batch is held up on the thread, the event loop queues hundreds of rows at once."""
    monkeypatch.setattr(database_writer, "BATCH_REFS", 10)
    writes = _Writes(monkeypatch)
    writes.gate = threading.Event()
    path = tmp_path / "audit.db"
    database = await AuditDatabase.open(str(path), with_config=False, resume=False, argv=[])
    try:
        with anyio.fail_after(5):
            for index in range(database_writer.QUEUED_ITEMS // 2):
                await database.add(_record(index))
        assert writes.batches == []  # the first batch is still held up
    finally:
        writes.gate.set()
        with anyio.fail_after(20):
            await database.finish(complete=True)
    count = sqlite3.connect(path).execute("SELECT count(*) FROM refs").fetchone()
    assert count == (database_writer.QUEUED_ITEMS // 2,)


async def test_an_interrupted_run_keeps_what_it_queued(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    database = await AuditDatabase.open(str(path), with_config=False, resume=False, argv=[])
    for index in range(5):
        await database.add(_record(index))
    with anyio.fail_after(20), anyio.CancelScope() as scope:
        scope.cancel()  # as Ctrl-C cancels the audit: finish is shielded
        await database.finish(complete=False)
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM refs").fetchone() == (5,)
    assert db.execute("SELECT complete, finished IS NOT NULL FROM runs").fetchone() == (0, 1)


async def test_a_write_that_fails_stops_the_audit(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    database = await AuditDatabase.open(str(path), with_config=False, resume=False, argv=[])
    _sql(path, "DROP TABLE refs;")  # the file changed behind the audit's back
    with anyio.fail_after(20):
        await database.add(_record(0))
        with pytest.raises(OutputFailed, match=f"cannot write the audit database {path}: "):
            await database.finish(complete=True)


# ── --resume ───────────────────────────────────────────────────────────────────────────────────────


async def _run(path: Path, records: list[dict[str, Any]], *, config: bool = False) -> None:
    database = await AuditDatabase.open(str(path), with_config=config, resume=False, argv=[])
    for record in records:
        await database.add(record)
    await database.finish(complete=True)


RESUME = [
    # (earlier runs: [(records, with_config)], this run's --config, skipped?)
    ("same digest", [([_record(0)], False)], False, True),
    ("another digest", [([_record(0, OTHER)], False)], False, False),
    ("failed before", [([_record(0, ok=False)], False)], False, False),
    ("never seen", [([_record(1)], False)], False, False),
    ("--config needs a run with --config", [([_record(0)], False)], True, False),
    ("a run with --config serves --config", [([_record(0)], True)], True, True),
    ("a run with --config serves without", [([_record(0)], True)], False, True),
    (
        "any earlier run holds it",
        [([_record(0)], False), ([_record(0, OTHER)], False)],
        False,
        True,
    ),
]


@pytest.mark.parametrize(
    ("earlier", "config", "skipped"), [r[1:] for r in RESUME], ids=[r[0] for r in RESUME]
)
async def test_resume_skips_what_the_file_holds_at_the_same_digest(
    tmp_path: Path, earlier: list[tuple[list[dict[str, Any]], bool]], config: bool, skipped: bool
) -> None:
    path = tmp_path / "audit.db"
    for records, with_config in earlier:
        await _run(path, records, config=with_config)
    image = Image(
        "r.example/x0:v1", Descriptor(OCI_MANIFEST, Digest.parse(DIGEST), 1), MemoryProvider()
    )
    with anyio.fail_after(20):
        database = await AuditDatabase.open(str(path), with_config=config, resume=True, argv=[])
        assert await database.unchanged(image) is skipped
        assert database.skipped == int(skipped)
        await database.finish(complete=True)


async def test_without_resume_nothing_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    await _run(path, [_record(0)])
    _, image = memory_of("oci-single", layers=False)
    database = await AuditDatabase.open(str(path), with_config=False, resume=False, argv=[])
    assert await database.unchanged(image) is False
    await database.finish(complete=True)


async def test_no_database_without_db() -> None:
    assert await open_database(argparse.Namespace(db=None)) is None
