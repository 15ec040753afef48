"""``regimage report DB``: what an audit database says about the registry it audited.

It answers from the database alone (:mod:`~regimage.cli.report.queries`), opening no connection
unless ``--built-on`` names an image the database does not hold with chain IDs
(:mod:`~regimage.cli.report.lineage`): storage per repository and in total with every digest
counted once, against the naive sum; the biggest images; the tags that share one digest; the
layers shared by the most images; the size distribution; each repository's platforms and the
references that lack one. Written as tables (:mod:`~regimage.cli.report.text`), one JSON document
(``--json``, :mod:`~regimage.cli.report.document`), and with ``--html FILE`` a self-contained page
(:mod:`~regimage.cli.report.html`, :mod:`~regimage.cli.report.charts`).
"""

from __future__ import annotations

import argparse

from regimage.cli.session import Session

__all__ = ["report"]


async def report(session: Session, args: argparse.Namespace) -> int:
    """Answer the report (:func:`regimage.cli.report.command.report`)."""
    # The parser names this coroutine: what it runs loads when it runs, not with --help.
    from regimage.cli.report import command

    return await command.report(session, args)
