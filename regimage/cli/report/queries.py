"""What the report reads from an audit database (:mod:`regimage.cli.audit.database_schema`).

The database is opened read-only. Each reference counts at its latest audit: its row of the
latest run that has one (:func:`latest`). The content graph is read whole, once, in a few
sequential scans (:func:`contents`) and counted in memory (:mod:`regimage.cli.report.graph`);
``--built-on`` asks the ``diff_ids`` table by chain ID (its index), so it reads only the configs
that match.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from regimage.cli.audit.database_schema import SCHEMA_VERSION
from regimage.cli.report.graph import Contents, Latest
from regimage.cli.status import UsageError

__all__ = [
    "chain_ids",
    "contents",
    "latest",
    "manifests_with_chain",
    "media_types",
    "open_database",
    "root_of",
    "runs",
    "without_chain_ids",
]


def open_database(path: str) -> sqlite3.Connection:
    """The audit database at ``path``, read-only; a file that is missing, not SQLite, or of
    another schema version is a usage error that says so."""
    if not Path(path).is_file():
        raise UsageError(f"no audit database at {path}: write one with regimage audit --db {path}")
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise UsageError(f"cannot open the audit database {path}: {exc}") from None
    try:
        row = connection.execute("SELECT version FROM schema").fetchone()
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise UsageError(f"{path} is not an audit database ({exc})") from None
    if row is None or row[0] != SCHEMA_VERSION:
        connection.close()
        found = "no version" if row is None else f"version {row[0]}"
        raise UsageError(
            f"{path} is an audit database of {found}; this regimage reads version {SCHEMA_VERSION}"
        )
    return connection


def latest(connection: sqlite3.Connection) -> list[Latest]:
    """Each reference at its latest audit (the last row of the latest run that has one)."""
    # max() picks the row whose bare columns are returned (SQLite's rule for a lone max()): the
    # latest run's, and within it the last position (a reference given twice).
    rows = connection.execute(
        "SELECT reference, coalesce(registry || '/' || repository, reference), "
        "       CASE WHEN ok THEN digest END, max(run_id * 4294967296 + position) "
        "FROM refs GROUP BY reference"
    )
    return [Latest(reference, repository, digest) for reference, repository, digest, _ in rows]


def runs(connection: sqlite3.Connection) -> tuple[int, str | None]:
    """How many runs the database records, and when the latest started."""
    count, started = connection.execute(
        "SELECT count(*), (SELECT started FROM runs ORDER BY id DESC LIMIT 1) FROM runs"
    ).fetchone()
    return int(count), started


def contents(connection: sqlite3.Connection) -> Contents:
    """The whole graph: every document's and blob's size, and every edge.

    Children come grouped by parent, a list per parent (the walk needs no order: it counts
    sets); a digest never holds a comma, so ``group_concat`` hands each list over as one
    string, many times faster than a row per edge.
    """
    sizes: defaultdict[str, int] = defaultdict(int)  # 0 for a digest the database lacks
    sizes.update(
        connection.execute(
            "SELECT digest, size FROM documents UNION ALL SELECT digest, size FROM blobs"
        )
    )
    platforms = connection.execute(
        "SELECT digest, platform FROM documents WHERE kind = 'manifest' AND platform IS NOT NULL"
    )
    attestations = connection.execute("SELECT digest FROM documents WHERE attestation")

    def grouped(role: str) -> dict[str, list[str]]:
        rows = connection.execute(
            "SELECT parent, group_concat(child) FROM edges WHERE role = ? GROUP BY parent",
            (role,),
        )
        return {parent: children.split(",") for parent, children in rows}

    configs = connection.execute("SELECT parent, child FROM edges WHERE role = 'config'")
    return Contents(
        sizes=sizes,
        platforms=dict(platforms.fetchall()),
        attestations=frozenset(digest for (digest,) in attestations),
        children=grouped("manifest"),
        configs=dict(configs.fetchall()),
        layers=grouped("layer"),
    )


def media_types(connection: sqlite3.Connection, digests: Sequence[str]) -> dict[str, str]:
    """The media types of a few blobs."""
    found = {}
    for digest in digests:
        row = connection.execute("SELECT media_type FROM blobs WHERE digest = ?", (digest,))
        for (media_type,) in row:
            found[digest] = media_type
    return found


# ── --built-on ───────────────────────────────────────────────────────────────────────────────────


def root_of(connection: sqlite3.Connection, reference: str, digest: str | None) -> str | None:
    """The root digest ``reference`` resolved to at its latest successful audit; or ``digest``
    (a reference by digest), when the database holds that document."""
    if digest is not None:
        row = connection.execute("SELECT 1 FROM documents WHERE digest = ?", (digest,)).fetchone()
        return digest if row is not None else None
    row = connection.execute(
        "SELECT digest FROM refs WHERE reference = ? AND ok AND digest IS NOT NULL "
        "ORDER BY run_id DESC, position DESC LIMIT 1",
        (reference,),
    ).fetchone()
    return None if row is None else str(row[0])


def chain_ids(connection: sqlite3.Connection, manifest: str) -> tuple[str, ...]:
    """A manifest's chain IDs, in layer order (empty when its config has none recorded)."""
    rows = connection.execute(
        "SELECT d.chain_id FROM edges AS e JOIN diff_ids AS d ON d.config = e.child "
        "WHERE e.parent = ? AND e.role = 'config' ORDER BY d.position",
        (manifest,),
    )
    return tuple(chain_id for (chain_id,) in rows)


def manifests_with_chain(
    connection: sqlite3.Connection, chain_id: str, layers: int
) -> list[tuple[str, int]]:
    """The manifests whose layer ``layers - 1`` has ``chain_id`` (so whose first ``layers``
    layers are those it names), each with its number of layers."""
    rows = connection.execute(
        "SELECT e.parent, (SELECT count(*) FROM diff_ids WHERE config = c.config) "
        "FROM diff_ids AS c JOIN edges AS e ON e.child = c.config AND e.role = 'config' "
        "WHERE c.chain_id = ? AND c.position = ?",
        (chain_id, layers - 1),
    )
    return [(manifest, int(count)) for manifest, count in rows]


def without_chain_ids(connection: sqlite3.Connection) -> set[str]:
    """The image manifests whose config has no chain IDs recorded (audited without
    ``--config``); artifacts, which have none to record, left out."""
    rows = connection.execute(
        "SELECT e.parent FROM edges AS e "
        "JOIN documents AS d ON d.digest = e.parent AND d.artifact_type IS NULL "
        "WHERE e.role = 'config' AND NOT EXISTS (SELECT 1 FROM diff_ids WHERE config = e.child)"
    )
    return {manifest for (manifest,) in rows}
