"""Audit databases written directly with SQL, in the real schema
(:mod:`regimage.cli.audit.database_schema`): small hand-made ones for the report's tests, and a
synthetic one of any size for its benchmark (``scripts/bench_report.py``).

Digests are made up (``sha256`` of a name), sizes are chosen; diff IDs and chain IDs follow
OCI's rule (:func:`regimage.model.image_config.chain_ids`), so ``--built-on`` meets real chains.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from regimage.cli.audit.database_schema import SCHEMA, SCHEMA_VERSION
from regimage.model.digest import Digest
from regimage.model.image_config import chain_ids

__all__ = ["AuditDatabase", "Layer", "digest_of", "synthetic"]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
IN_TOTO = "application/vnd.in-toto+json"


def digest_of(name: str) -> str:
    """A made-up digest, the same for the same name."""
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Layer:
    """A layer: its digest and size as stored, and its diff ID (the tar's digest)."""

    name: str
    size: int
    tar: str | None = None  # the tar's name, when another layer holds the same tar

    @property
    def digest(self) -> str:
        return digest_of(f"layer {self.name}")

    @property
    def diff_id(self) -> str:
        return digest_of(f"tar {self.tar or self.name}")


class AuditDatabase:
    """An audit database being written: runs, references, documents, blobs and edges."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.connection = sqlite3.connect(path)
        self.connection.executescript(SCHEMA)
        self.connection.execute("INSERT INTO schema(version) VALUES (?)", (SCHEMA_VERSION,))
        self._positions: dict[int, int] = {}

    def run(self, *, with_config: bool = True, started: str = "2025-01-02T03:04:05.000Z") -> int:
        cursor = self.connection.execute(
            "INSERT INTO runs(started, finished, argv, tool_version, with_config, complete) "
            "VALUES (?, ?, ?, 'test', ?, 1)",
            (started, started, json.dumps(["regimage", "audit"]), int(with_config)),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def manifest(
        self,
        name: str,
        layers: Sequence[Layer],
        *,
        platform: str | None = "linux/amd64",
        attestation: bool = False,
        with_config: bool = True,
        size: int = 500,
        config_size: int = 700,
    ) -> str:
        """A manifest with its config and layers (and, ``with_config``, its diff IDs)."""
        digest = digest_of(f"manifest {name}")
        config = digest_of(f"config {name}")
        self.connection.execute(
            "INSERT OR IGNORE INTO documents(digest, media_type, size, kind, platform, "
            "attestation) VALUES (?, ?, ?, 'manifest', ?, ?)",
            (digest, OCI_MANIFEST, size, platform, int(attestation)),
        )
        blobs = [(config, OCI_CONFIG, config_size)]
        blobs += [(x.digest, IN_TOTO if attestation else OCI_LAYER, x.size) for x in layers]
        self.connection.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?)", blobs)
        edges = [(digest, "config", 0, config)]
        edges += [(digest, "layer", i, x.digest) for i, x in enumerate(layers)]
        self.connection.executemany("INSERT OR IGNORE INTO edges VALUES (?, ?, ?, ?)", edges)
        if with_config and not attestation:
            diff_ids = [Digest.parse(x.diff_id) for x in layers]
            self.connection.executemany(
                "INSERT OR IGNORE INTO diff_ids VALUES (?, ?, ?, ?)",
                [
                    (config, i, str(diff_id), str(chain))
                    for i, (diff_id, chain) in enumerate(
                        zip(diff_ids, chain_ids(diff_ids), strict=True)
                    )
                ],
            )
        return digest

    def index(self, name: str, manifests: Sequence[str], *, size: int = 300) -> str:
        """An index of ``manifests`` (their digests, in order)."""
        digest = digest_of(f"index {name}")
        self.connection.execute(
            "INSERT OR IGNORE INTO documents(digest, media_type, size, kind) "
            "VALUES (?, ?, ?, 'index')",
            (digest, OCI_INDEX, size),
        )
        self.connection.executemany(
            "INSERT OR IGNORE INTO edges VALUES (?, 'manifest', ?, ?)",
            [(digest, i, m) for i, m in enumerate(manifests)],
        )
        return digest

    def ref(self, run: int, reference: str, digest: str | None) -> None:
        """``reference`` (``host/repository:tag``) resolved to ``digest`` in ``run`` (None:
        it failed)."""
        position = self._positions.get(run, 0)
        self._positions[run] = position + 1
        host, _, rest = reference.partition("/")
        repository, _, tag = rest.rpartition(":")
        failed = digest is None
        self.connection.execute(
            "INSERT INTO refs(run_id, position, reference, registry, repository, tag, digest, ok, "
            "error_kind, error_message, exit_code, audited_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '2025-01-02T03:04:06.000Z')",
            (
                run,
                position,
                reference,
                host,
                repository,
                tag,
                digest,
                int(not failed),
                "NotFound" if failed else None,
                "not found" if failed else None,
                4 if failed else None,
            ),
        )

    def close(self) -> None:
        self.connection.commit()
        self.connection.close()


def synthetic(
    path: Path, *, references: int = 10_000, repositories: int = 500, seed: int = 19
) -> Path:
    """A database of ``references`` references in ``repositories`` repositories, in two runs:
    multi-platform indexes (amd64 and arm64, most with attestations) built on a few shared
    bases, a ``latest`` tag sharing the newest tag's digest, some references failed."""
    rng = random.Random(seed)  # noqa: S311 (sizes, not secrets)
    db = AuditDatabase(path)
    first, second = db.run(), db.run(started="2025-02-03T04:05:06.000Z")
    bases = {
        arch: [
            [Layer(f"base{b}-{arch}-{i}", rng.randint(2_000_000, 30_000_000)) for i in range(3)]
            for b in range(6)
        ]
        for arch in ("amd64", "arm64")
    }
    per_repository = max(1, references // repositories)
    written = 0
    for r in range(repositories):
        repository = f"registry.example/team{r % 17}/service-{r:04d}"
        base = rng.randrange(6)
        arm = rng.random() < 0.7
        tags = min(per_repository, references - written)
        newest = None
        for t in range(tags - 1 if tags > 1 else tags):
            name = f"{r}-{t}"
            manifests = []
            for arch in ("amd64", "arm64") if arm or t % 5 else ("amd64",):
                own = [Layer(f"{name}-{arch}-{i}", rng.randint(1_000, 5_000_000)) for i in range(2)]
                manifests.append(
                    db.manifest(
                        f"{name}-{arch}", [*bases[arch][base], *own], platform=f"linux/{arch}"
                    )
                )
                if t % 3:
                    manifests.append(
                        db.manifest(
                            f"{name}-{arch}-att",
                            [Layer(f"{name}-{arch}-sbom", rng.randint(5_000, 80_000))],
                            platform="unknown/unknown",
                            attestation=True,
                        )
                    )
            newest = db.index(name, manifests)
            run = first if t % 4 else second
            db.ref(run, f"{repository}:v{t}", None if written % 97 == 96 else newest)
            written += 1
        if tags > 1:
            db.ref(second, f"{repository}:latest", newest)
            written += 1
    db.close()
    return path
