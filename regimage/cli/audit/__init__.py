"""``regimage audit``: many references, resolved concurrently, one record each, in bounded memory.

References come from the arguments, then ``--file`` (``-`` is stdin), or stdin when neither is
given: one per line, blank lines and ``#`` comments skipped (:mod:`~regimage.cli.audit.source`,
:mod:`~regimage.cli.audit.reader`). They are read as the run goes, never all at once: at most
:data:`~regimage.cli.audit.run.READ_AHEAD` references ahead of the workers (so that their pull
tokens are fetched in a few large batches, see :mod:`~regimage.cli.audit.authorizer`), at most
``4 × --jobs`` between "started" and "written" (the reorder window), at most ``--jobs`` of them
resolving (:mod:`~regimage.cli.audit.run`). Records come out in input order (each carries its
``index``), so the output lines up with the input; a slow reference holds back at most one window
(:mod:`~regimage.cli.audit.writer`). One RegistryProvider serves the whole run, so tokens and
connections are shared. ``--timeout`` applies to each reference, and defaults to
:data:`~regimage.cli.audit.arguments.DEFAULT_REFERENCE_TIMEOUT`: an unattended audit must not hang
on one registry that trickles bytes just inside the read timeout.

A failing reference becomes an error record and the run goes on; the exit status is then the most
severe failure's (see :data:`regimage.cli.status.SEVERITY`). Tags on Docker Hub are resolved with
HEAD, which it does not count against its pull limit, so the budget it states is known before a
pull is spent; when a registry's stated budget falls below ``--budget N`` (default 1: stop when it
is used up), the run starts no more references (up to ``READ_AHEAD`` more may have been read from
the input), records the started ones that had not sent a request yet as not audited, says why, and
exits 8. A progress line goes to stderr only when stderr is a terminal; the summary (``audited N
references: N ok, N failed in X s``) always does.
"""

from __future__ import annotations

import argparse

from regimage.cli.session import Session

__all__ = ["audit"]


async def audit(session: Session, args: argparse.Namespace) -> int:
    """Run the audit (:func:`regimage.cli.audit.run.audit`); 0 when every reference resolved."""
    # The parser names this coroutine: what it runs (anyio) loads when it runs, not with --help.
    from regimage.cli.audit import run

    return await run.audit(session, args)
