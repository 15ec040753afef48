"""The audit database: ``regimage audit --db FILE`` records each audited reference, its graph and
(with ``--config``) its diff IDs and chain IDs in SQLite (the tables:
:mod:`~regimage.cli.audit.database_schema`; the rows: :mod:`~regimage.cli.audit.database_rows`).

This is the event loop's side. SQLite blocks, so the connection lives on a thread of its own
(:mod:`~regimage.cli.audit.database_writer`), which writes in batches: queuing a row costs the
audit nothing unless the queue is full. ``--resume`` asks the thread, for each reference, whether
the file holds it with the digest its tag resolves to now; if so, it is not walked again.
"""

from __future__ import annotations

import argparse
import queue
import sys
from concurrent.futures import Future
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from regimage.cli.audit.database_rows import collect_graph, ref_row
from regimage.cli.audit.database_writer import DatabaseThread
from regimage.cli.status import UsageError
from regimage.cli.streams import OutputFailed
from regimage.image.image import Image

__all__ = ["SEEN_ROOTS", "AuditDatabase", "open_database"]

T = TypeVar("T")

#: Root digests this run remembers having queued (their graphs are not walked again): a bound.
SEEN_ROOTS = 16_384


async def open_database(args: argparse.Namespace) -> AuditDatabase | None:
    """The database ``--db`` names, opened (created if new) with this run's ``runs`` row; None
    without ``--db``. Raises UsageError (exit 2) for ``--config`` or ``--resume`` without ``--db``
    and for a file that is not an audit database of this schema version."""
    path: str | None = getattr(args, "db", None)
    with_config, resume = bool(getattr(args, "config", False)), bool(getattr(args, "resume", False))
    if path is None:
        if with_config or resume:
            option = "--config" if with_config else "--resume"
            raise UsageError(f"{option} works on the audit database: give it with --db FILE")
        return None
    return await AuditDatabase.open(path, with_config=with_config, resume=resume, argv=sys.argv[1:])


class AuditDatabase:
    """One run's side of the audit database: what the audit hands it goes to the file."""

    def __init__(self, thread: DatabaseThread, run_id: int, *, with_config: bool, resume: bool):
        self.path = thread.path
        self.run_id = run_id
        self.with_config = with_config
        self.resume = resume
        self.skipped = 0  # references --resume did not walk again
        self._thread = thread
        self._waiting = anyio.CapacityLimiter(1)  # one worker thread waits on the database's
        self._seen: dict[str, None] = {}  # insertion-ordered: the oldest is dropped first
        self._reported = False

    @classmethod
    async def open(
        cls, path: str, *, with_config: bool, resume: bool, argv: list[str]
    ) -> AuditDatabase:
        thread = DatabaseThread(path, argv, with_config=with_config)
        run_id = await anyio.to_thread.run_sync(thread.opened.result)
        return cls(thread, run_id, with_config=with_config, resume=resume)

    async def unchanged(self, image: Image) -> bool:
        """With ``--resume``: whether the file holds ``image``'s reference at the digest it
        resolved to now (an ok row of a run that read as much: configs, for ``--config``)."""
        if not self.resume:
            return False
        answer: Future[bool] = Future()
        request = (image.name, str(image.target.digest), self.with_config, answer)
        await self._put("holds", request)
        held = await self._wait(answer)
        self.skipped += held
        return held

    def skipped_record(self, index: int, image: Image) -> dict[str, Any]:
        """The record of a reference ``--resume`` skipped: its digest now, nothing walked."""
        return {
            "index": index,
            "reference": image.name,
            "ok": True,
            "digest": str(image.target.digest),
            "skipped": True,
        }

    async def collect(self, image: Image) -> None:
        """Queue ``image``'s graph (not walked again for a root this run already queued)."""
        root = str(image.target.digest)
        if root in self._seen:
            return
        rows = await collect_graph(image, configs=self.with_config)
        self._seen[root] = None
        if len(self._seen) > SEEN_ROOTS:
            del self._seen[next(iter(self._seen))]
        await self._put("graph", rows)

    async def add(self, record: dict[str, Any]) -> None:
        """Queue one finished record's ``refs`` row."""
        await self._put("ref", ref_row(self.run_id, record, skipped=bool(record.get("skipped"))))

    async def finish(self, *, complete: bool) -> None:
        """Write what waits, mark the run finished (``complete``: every reference read has its
        row) and close the file; shielded, so that an interrupted audit keeps what it did.
        Raises OutputFailed if a write failed and was not reported yet."""
        with anyio.CancelScope(shield=True):
            await self._put("finish", complete, check=False)
            await self._wait(self._thread.done)
        self._check()

    # ── machinery ───────────────────────────────────────────────────────────────────────────────

    async def _put(self, kind: str, value: Any, *, check: bool = True) -> None:
        if check:
            self._check()
        try:
            self._thread.queue.put_nowait((kind, value))
        except queue.Full:  # the thread is behind: wait for room, on a worker thread
            await anyio.to_thread.run_sync(self._thread.queue.put, (kind, value))

    async def _wait(self, future: Future[T]) -> T:
        return await anyio.to_thread.run_sync(future.result, limiter=self._waiting)

    def _check(self) -> None:
        """Raise OutputFailed once if the thread could not write (the audit stops: exit 1)."""
        error = self._thread.error
        if error is not None and not self._reported:
            self._reported = True
            raise OutputFailed(f"cannot write the audit database {self.path}: {error}") from error
