"""The audit database's thread: the one SQLite connection, opened, used and closed there only.

The audit hands it rows through a queue and never waits for SQLite (unless the queue is full).
The thread gathers them into batches and writes each batch in one transaction: when
:data:`BATCH_REFS` references are waiting, or when the oldest waiting row is
:data:`BATCH_SECONDS` old, and at the end. The file is in WAL mode, so a run killed at any point
leaves it consistent, holding every batch committed before; and a report may read it meanwhile.
Rows are written in the order they came: a reference's graph is queued before its ``refs`` row,
so a committed ``refs`` row always has its graph committed too (what ``--resume`` relies on).
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from concurrent.futures import Future
from typing import Any

from regimage._version import __version__
from regimage.cli.audit.database_rows import GraphRows, RefRow, utc_now
from regimage.cli.audit.database_schema import SCHEMA, SCHEMA_VERSION
from regimage.cli.status import UsageError

__all__ = ["BATCH_REFS", "BATCH_SECONDS", "QUEUED_ITEMS", "DatabaseThread"]

#: References per batch: a batch is written when this many are waiting.
BATCH_REFS = 200
#: Seconds the oldest waiting row waits at most before its batch is written.
BATCH_SECONDS = 0.5
#: Items (a graph or a ``refs`` row) queued for the thread before the audit waits for it.
QUEUED_ITEMS = 8 * BATCH_REFS


class DatabaseThread:
    """The thread that owns the connection, and its :attr:`queue` of requests, served in order:

    - ``("graph", GraphRows)``, ``("ref", RefRow)``: rows to write;
    - ``("holds", (reference, digest, with_config, Future[bool]))``: whether an ok row of a run
      that read as much (configs, for ``with_config``) records ``reference`` at ``digest``;
    - ``("finish", complete)``: write what waits, mark the run finished, close (:attr:`done`).

    :attr:`error` is the write that failed, if one did: the thread then drops the rows that come,
    and the audit reports it.
    """

    def __init__(self, path: str, argv: list[str], *, with_config: bool) -> None:
        self.path = path
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue(QUEUED_ITEMS)
        self.opened: Future[int] = Future()  # the run's id, or why the file cannot be used
        self.done: Future[None] = Future()  # set when the run is finished and the file closed
        self.error: sqlite3.Error | None = None
        self._args = (path, argv, with_config)
        # A daemon: a thread left waiting (a path that never called finish) never holds up exit.
        self._thread = threading.Thread(target=self._run, name="regimage-db", daemon=True)
        self._thread.start()

    # ── on the thread ───────────────────────────────────────────────────────────────────────────

    def _run(self) -> None:
        try:
            connection = _Connection(*self._args)
        except BaseException as exc:
            self.opened.set_exception(exc)
            return
        self.opened.set_result(connection.run_id)
        try:
            self._serve(connection)
        finally:
            connection.close()
            self.done.set_result(None)

    def _serve(self, connection: _Connection) -> None:
        batch = _Batch()
        deadline: float | None = None  # when the oldest waiting row must be written
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                kind, value = self.queue.get(timeout=wait)
            except queue.Empty:
                kind, value = "flush", None
            if kind == "holds":
                reference, digest, with_config, answer = value
                try:
                    held = self.error is None and connection.holds(reference, digest, with_config)
                    answer.set_result(held)
                except sqlite3.Error as exc:
                    answer.set_exception(exc)
                continue
            if kind == "graph":
                batch.add_graph(value)
            elif kind == "ref":
                batch.add_ref(value)
            if deadline is None and batch:
                deadline = time.monotonic() + BATCH_SECONDS
            if kind in ("flush", "finish") or batch.refs >= BATCH_REFS:
                self._write(connection, batch)
                batch, deadline = _Batch(), None
            if kind == "finish":
                if self.error is None:
                    self._guard(connection.finish, value)
                return

    def _write(self, connection: _Connection, batch: _Batch) -> None:
        if batch and self.error is None:
            self._guard(connection.write, batch)

    def _guard(self, method: Any, *args: Any) -> None:
        try:
            method(*args)
        except sqlite3.Error as exc:  # a full disk, a file gone read-only: the audit stops
            self.error = exc


class _Batch:
    """Rows waiting to be written, in the order they came, and the run's counts they add."""

    def __init__(self) -> None:
        self.documents: list[Any] = []
        self.edges: list[Any] = []
        self.blobs: list[Any] = []
        self.diff_ids: list[Any] = []
        self.rows: list[RefRow] = []
        self.refs = 0
        self.counts = [0, 0, 0]  # audited, skipped, failed

    def __bool__(self) -> bool:
        return bool(self.rows or self.documents)

    def add_graph(self, rows: GraphRows) -> None:
        self.documents += rows.documents
        self.edges += rows.edges
        self.blobs += rows.blobs
        self.diff_ids += rows.diff_ids

    def add_ref(self, row: RefRow) -> None:
        self.rows.append(row)
        self.refs += 1
        ok, skipped = row[7], row[8]
        self.counts[1 if skipped else 0] += 1
        self.counts[2] += 0 if ok else 1


class _Connection:
    """The connection, on the database's thread only."""

    def __init__(self, path: str, argv: list[str], with_config: bool):
        """Open (or create) the file, check its schema and start this run (:attr:`run_id`)."""
        try:
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise UsageError(f"--db {path}: cannot open it: {exc}") from exc
        try:
            _check_or_create(self._db, path)
            cursor = self._db.execute(
                "INSERT INTO runs (started, argv, tool_version, with_config) VALUES (?, ?, ?, ?)",
                (utc_now(), json.dumps(argv), __version__, int(with_config)),
            )
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, sqlite3.Error):
                raise UsageError(f"--db {path}: cannot use it: {exc}") from exc
            raise
        self.run_id: int = cursor.lastrowid or 0  # an INSERT into a rowid table: always set

    def holds(self, reference: str, digest: str, with_config: bool) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM refs JOIN runs ON runs.id = refs.run_id WHERE refs.reference = ? "
            "AND refs.digest = ? AND refs.ok = 1 AND runs.with_config >= ? LIMIT 1",
            (reference, digest, int(with_config)),
        )
        return found.fetchone() is not None

    def write(self, batch: _Batch) -> None:
        """One batch, one transaction: all of it or (killed meanwhile) none of it."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO "
                "UPDATE SET platform = coalesce(platform, excluded.platform)",
                batch.documents,
            )
            db.executemany("INSERT OR IGNORE INTO edges VALUES (?, ?, ?, ?)", batch.edges)
            db.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?)", batch.blobs)
            db.executemany("INSERT OR IGNORE INTO diff_ids VALUES (?, ?, ?, ?)", batch.diff_ids)
            db.executemany(
                "INSERT OR REPLACE INTO refs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch.rows,
            )
            audited, skipped, failed = batch.counts
            db.execute(
                "UPDATE runs SET audited = audited + ?, skipped = skipped + ?, "
                "failed = failed + ? WHERE id = ?",
                (audited, skipped, failed, self.run_id),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def finish(self, complete: bool) -> None:
        self._db.execute(
            "UPDATE runs SET finished = ?, complete = ? WHERE id = ?",
            (utc_now(), int(complete), self.run_id),
        )

    def close(self) -> None:
        self._db.close()


def _check_or_create(connection: sqlite3.Connection, path: str) -> None:
    """Create the schema in a new (empty) file; refuse one that is not an audit database of
    :data:`SCHEMA_VERSION`."""
    try:
        tables = {
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.DatabaseError as exc:
        raise UsageError(
            f"--db {path}: not an SQLite database ({exc}); give a new file or an audit database "
            "that regimage audit --db wrote"
        ) from exc
    if not tables:
        _write_ahead(connection)  # before the schema: its creation is a WAL transaction too
        connection.execute("BEGIN IMMEDIATE")  # two audits creating one file: one creates it
        if not connection.execute("SELECT 1 FROM sqlite_master").fetchone():
            for statement in _statements(SCHEMA):
                connection.execute(statement)
            connection.execute("INSERT INTO schema (version) VALUES (?)", (SCHEMA_VERSION,))
        connection.execute("COMMIT")
    elif "schema" not in tables:
        raise UsageError(
            f"--db {path}: an SQLite database, but not an audit database (it has no schema "
            "table); give a new file or one that regimage audit --db wrote"
        )
    versions = [v for (v,) in connection.execute("SELECT version FROM schema")]
    if versions != [SCHEMA_VERSION]:
        found = ", ".join(map(str, versions)) or "none"
        newer = bool(versions) and all(isinstance(v, int) and v > SCHEMA_VERSION for v in versions)
        advice = "a newer regimage wrote it: upgrade regimage" if newer else "no migration exists"
        raise UsageError(
            f"--db {path}: audit database schema version {found}, and regimage {__version__} "
            f"reads version {SCHEMA_VERSION} only; {advice}, or give another --db file"
        )
    _write_ahead(connection)  # an audit database regimage wrote is in WAL mode already


def _write_ahead(connection: sqlite3.Connection) -> None:
    """WAL mode (kept in the file): a reader never blocks the audit, a killed run leaves every
    committed batch and no torn one; with it, synchronous NORMAL stays consistent and syncs
    at checkpoints only."""
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")


def _statements(script: str) -> list[str]:
    """The statements of an SQL script, whole (``executescript`` would commit first)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements
