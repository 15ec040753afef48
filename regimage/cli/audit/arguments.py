"""The audit command's own arguments: input, concurrency, the pull budget, the output format."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["DEFAULT_REFERENCE_TIMEOUT", "define_arguments"]

#: Seconds one reference may take when --timeout is not given (a handful of requests; generous
#: enough for a slow registry, short enough that a stalled one cannot hold the run for ever).
DEFAULT_REFERENCE_TIMEOUT = 120.0


def define_arguments(p: argparse.ArgumentParser, positive_int: Callable[[str], int]) -> None:
    """The audit command's own arguments."""
    p.add_argument(
        "refs", metavar="REF", nargs="*", help="references to audit (else --file or stdin)"
    )
    source = p.add_argument_group("input")
    source.add_argument(
        "-f",
        "--file",
        metavar="FILE",
        help="read references from FILE, one per line, # comments allowed ('-' for stdin)",
    )
    source.add_argument(
        "--platform",
        metavar="P",
        action="append",
        help="os/arch[/variant] to select from indexes (repeat for fallbacks)",
    )
    run = p.add_argument_group("run")
    run.add_argument(
        "-j",
        "--jobs",
        metavar="N",
        type=positive_int,
        default=32,
        help="references resolved at once (default: 32, as many as the connections kept per registry)",
    )
    run.add_argument(
        "--budget",
        metavar="N",
        type=_budget_floor,
        default=1,
        help="stop when a registry that states a pull budget (Docker Hub) has fewer than N pulls "
        "left (default: 1, stop when it is used up; 0: never stop)",
    )
    output = p.add_argument_group("output")
    output.add_argument(
        "--csv", action="store_true", help="CSV with a header instead of JSON Lines"
    )


def _budget_floor(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of pulls, 0 or more: {text!r}")
    return value
