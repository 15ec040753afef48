"""The audit command's own arguments: input, concurrency, the pull budget, the output format."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from regimage.errors import InvalidReference
from regimage.model.reference import Reference

__all__ = ["DEFAULT_REFERENCE_TIMEOUT", "define_arguments", "registry_host"]

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
    expansion = p.add_argument_group(
        "expansion",
        "Repositories are listed as the audit runs, page by page. GLOBs are fnmatch patterns (*\n"
        "also matches /), case-sensitive, repeatable: a name is kept when it matches an --include\n"
        "(or none is given) and no --exclude; repository globs match the path (library/ubuntu).",
    )
    expansion.add_argument(
        "--all-tags",
        action="store_true",
        help="audit every tag of each REPO given without a tag or digest (ghcr.io/acme/api, "
        "oci:DIR); a reference with a tag or digest is audited as it is",
    )
    expansion.add_argument(
        "--catalog",
        metavar="REGISTRY",
        action="append",
        type=registry_host,
        help="after the input, audit every tag of every repository REGISTRY (host[:port]) lists "
        "in its catalog; repeatable. Most registries list it only to an administrator",
    )
    for what, names, example in (("repo", "repositories", "'team/*'"), ("tag", "tags", "'v*'")):
        expansion.add_argument(
            f"--include-{what}",
            metavar="GLOB",
            action="append",
            help=f"list only the {names} that match GLOB (e.g. {example})",
        )
        expansion.add_argument(
            f"--exclude-{what}",
            metavar="GLOB",
            action="append",
            help=f"leave out the {names} that match GLOB",
        )
    run = p.add_argument_group("run")
    run.add_argument(
        "-j",
        "--jobs",
        metavar="N",
        type=positive_int,
        default=32,
        help="references resolved at once (default: 32); each registry gets as many connections",
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
    database = p.add_argument_group(
        "database", "An SQLite file that keeps every run (regimage report reads it)."
    )
    database.add_argument(
        "--db",
        metavar="FILE",
        help="record each reference, its digest, platforms, manifests and blobs in FILE "
        "(created if new)",
    )
    database.add_argument(
        "--config",
        action="store_true",
        help="with --db: read each image's config too and record its diff IDs and chain IDs",
    )
    database.add_argument(
        "--resume",
        action="store_true",
        help="with --db: skip a reference FILE holds with the digest it resolves to now",
    )


def _budget_floor(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of pulls, 0 or more: {text!r}")
    return value


def registry_host(text: str) -> str:
    """An argparse type: a registry as ``host[:port]`` (a scheme and a trailing ``/`` dropped)."""
    host = text.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
    try:
        domain = Reference.parse_repository(f"{host}/x").domain
    except InvalidReference as exc:
        raise argparse.ArgumentTypeError(f"not a registry host: {text!r} ({exc})") from None
    if domain.lower() != host.lower() and not (domain == "docker.io" and host == "index.docker.io"):
        raise argparse.ArgumentTypeError(
            f"not a registry host: {text!r} (write host[:port], e.g. registry.example:5000)"
        )
    return host
