"""The report command's own arguments: the database, how many rows, ``--built-on``, ``--html``."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["DEFAULT_TOP", "define_arguments"]

#: Rows of the biggest images, shared digests, shared layers (and bars of the storage chart).
DEFAULT_TOP = 10


def define_arguments(
    p: argparse.ArgumentParser, positive_int: Callable[[str], int]
) -> argparse._ArgumentGroup:
    """The report command's own arguments; the output group is returned for the parser's
    ``--json``."""
    p.add_argument(
        "database", metavar="DB", help="the audit database (written by regimage audit --db DB)"
    )
    questions = p.add_argument_group("questions")
    questions.add_argument(
        "--top",
        metavar="N",
        type=positive_int,
        default=DEFAULT_TOP,
        help=f"show the N biggest images, most shared digests and layers (default: {DEFAULT_TOP})",
    )
    questions.add_argument(
        "--built-on",
        metavar="REF",
        help="also list every audited image whose first layers are REF's (by chain ID, per "
        "platform; needs an audit with --config), with how many layers each adds. REF's chain "
        "IDs come from the database, or from the registry when REF was not audited",
    )
    output = p.add_argument_group("output")
    output.add_argument(
        "--html",
        metavar="FILE",
        help="also write the report as one self-contained page (inline charts, nothing fetched)",
    )
    return output
