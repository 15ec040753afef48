"""The audit database's schema (``regimage audit --db FILE``), version :data:`SCHEMA_VERSION`.

One SQLite file holds every run of the audits written to it. What is content-addressed (indexes,
manifests, blobs, diff IDs) is stored once per digest whatever number of references, repositories
or runs reach it; only ``runs`` and ``refs`` grow with each run. Digests are text as the
registries write them (``sha256:<hex>``); platforms are ``os/arch[/variant]`` (``linux/arm/v7``);
times are ISO 8601 in UTC with milliseconds (``2025-01-02T03:04:05.678Z``).

The graph, from a reference down::

    refs.digest ─► documents (index) ─edges role=manifest─► documents (manifest)
                                        ─edges role=config─► blobs ◄─ diff_ids.config (--config)
                                        ─edges role=layer──► blobs

A reference whose digest is a manifest (no index) points at it directly. Indexes may nest (an
index's ``manifest`` edge may lead to another index); ``WITH RECURSIVE`` over ``edges`` finds
every manifest below a root (see the ``image_manifests`` view).
"""

from __future__ import annotations

__all__ = ["SCHEMA", "SCHEMA_VERSION"]

#: The version this regimage writes and reads; ``schema.version`` of a database. Any other is
#: refused (a newer regimage wrote it, or a migration is missing).
SCHEMA_VERSION = 1

#: The DDL of a new database, executed in one transaction by ``executescript``.
SCHEMA = """
-- The version of this schema: exactly one row. A reader checks it before anything else.
CREATE TABLE schema (
    version INTEGER NOT NULL                 -- SCHEMA_VERSION of the regimage that created the file
);

-- One row per `regimage audit --db` invocation, interrupted ones included.
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,                  -- increasing: a later run has a larger id
    started TEXT NOT NULL,                   -- when the run began (ISO 8601 UTC)
    finished TEXT,                           -- when it ended; NULL while running or if killed
    argv TEXT NOT NULL,                      -- the command line, a JSON array of strings
    tool_version TEXT NOT NULL,              -- regimage's version
    with_config INTEGER NOT NULL,            -- 1: --config (configs read: diff_ids written)
    complete INTEGER NOT NULL DEFAULT 0,     -- 1: every input reference has its refs row (not
                                             --    interrupted, not stopped by --budget)
    audited INTEGER NOT NULL DEFAULT 0,      -- refs rows of this run walked (ok or failed)
    skipped INTEGER NOT NULL DEFAULT 0,      -- refs rows of this run skipped by --resume
    failed INTEGER NOT NULL DEFAULT 0        -- refs rows of this run with ok = 0
);

-- One row per record per run: which reference had which digest when (what changed between
-- two runs is a comparison of their rows by `reference`). A list --all-tags or --catalog could
-- not read has a failed row too, `reference` naming the repository or the registry.
CREATE TABLE refs (
    run_id INTEGER NOT NULL                  -- the run that audited it (runs.id)
        REFERENCES runs(id),
    position INTEGER NOT NULL,               -- the record's `index` in that run (input order)
    reference TEXT NOT NULL,                 -- normalized, as in the record (`oci:` ones as given)
    registry TEXT,                           -- e.g. docker.io, localhost:5000; NULL for oci:,
                                             --    an invalid reference, a catalog's registry
    repository TEXT,                         -- e.g. library/alpine; NULL as registry
    tag TEXT,                                -- NULL when the reference names a digest only
    digest TEXT,                             -- the root (index or manifest) it resolved to;
                                             --    NULL when it failed
    ok INTEGER NOT NULL,                     -- 1: resolved and walked (or skipped: unchanged)
    skipped INTEGER NOT NULL DEFAULT 0,      -- 1: --resume found the same digest in an earlier
                                             --    run and did not walk it again
    error_kind TEXT,                         -- the record's error kind (e.g. NotFound); NULL if ok
    error_message TEXT,                      -- the record's one-line message; NULL if ok
    exit_code INTEGER,                       -- the exit status that failure maps to; NULL if ok
    audited_at TEXT NOT NULL,                -- when its record was written (ISO 8601 UTC)
    PRIMARY KEY (run_id, position)
);
CREATE INDEX refs_by_reference ON refs(reference, run_id);   -- a reference's history, latest
CREATE INDEX refs_by_digest ON refs(digest);                  -- tags sharing one digest
CREATE INDEX refs_by_repository ON refs(registry, repository, run_id);

-- Indexes and manifests, once per digest (their content is immutable).
CREATE TABLE documents (
    digest TEXT PRIMARY KEY,                 -- sha256:… of the document's bytes
    media_type TEXT NOT NULL,                -- as the document declares it
    size INTEGER NOT NULL,                   -- bytes of the document itself
    kind TEXT NOT NULL                       -- 'index' or 'manifest'
        CHECK (kind IN ('index', 'manifest')),
    platform TEXT,                           -- a manifest's platform, os/arch[/variant]
                                             --    normalized as containerd does (linux/arm64/v8
                                             --    is linux/arm64): its index entry's, else (with
                                             --    --config) its config's; NULL for an index, and
                                             --    for a manifest no index names without --config
    attestation INTEGER NOT NULL DEFAULT 0,  -- 1: a buildx attestation manifest (unknown/unknown
                                             --    with vnd.docker.reference.type); its blobs are
                                             --    counted apart from the images'
    artifact_type TEXT                       -- an OCI artifact's type (artifactType, else a
                                             --    non-image config type); NULL for an image
) WITHOUT ROWID;

-- The graph: an index's manifests, a manifest's config and layers, in document order.
CREATE TABLE edges (
    parent TEXT NOT NULL,                    -- documents.digest
    role TEXT NOT NULL                       -- manifest: index → manifest (or nested index);
                                             --    config, layer: manifest → blob
        CHECK (role IN ('manifest', 'config', 'layer')),
    position INTEGER NOT NULL,               -- 0-based order within the parent for that role
                                             --    (a layer's position pairs with diff_ids.position)
    child TEXT NOT NULL,                     -- documents.digest (manifest) or blobs.digest
    PRIMARY KEY (parent, role, position)
) WITHOUT ROWID;
CREATE INDEX edges_by_child ON edges(child, role);            -- layers shared by most images

-- Configs and layers, once per digest, as the manifests declare them (never downloaded).
CREATE TABLE blobs (
    digest TEXT PRIMARY KEY,                 -- sha256:… of the blob's (compressed) bytes
    media_type TEXT NOT NULL,                -- the first manifest's declared media type
    size INTEGER NOT NULL                    -- bytes (compressed, as stored and pulled)
) WITHOUT ROWID;

-- With --config: each image config's diff IDs and chain IDs, once per config digest.
CREATE TABLE diff_ids (
    config TEXT NOT NULL,                    -- blobs.digest of the config
    position INTEGER NOT NULL,               -- 0-based, pairs with the layer edge's position
    diff_id TEXT NOT NULL,                   -- the layer's uncompressed digest
    chain_id TEXT NOT NULL,                  -- ChainID of layers 0..position (OCI config.md):
                                             --    equal chain_id at position n-1 means equal
                                             --    first n layers (exact lineage)
    PRIMARY KEY (config, position)
) WITHOUT ROWID;
CREATE INDEX diff_ids_by_chain ON diff_ids(chain_id);         -- --built-on

-- Every manifest below each root document (a manifest root: itself), nested indexes followed.
CREATE VIEW image_manifests(root, manifest) AS
    WITH RECURSIVE below(root, digest) AS (
        SELECT digest, digest FROM documents
        UNION
        SELECT below.root, edges.child FROM below
        JOIN edges ON edges.parent = below.digest AND edges.role = 'manifest'
    )
    SELECT below.root, below.digest FROM below
    JOIN documents ON documents.digest = below.digest AND documents.kind = 'manifest';

-- One row per manifest: its platform, config and pull size (manifest + config + layers).
CREATE VIEW images(manifest, platform, attestation, config, layers, size) AS
    SELECT d.digest, d.platform, d.attestation,
           (SELECT child FROM edges WHERE parent = d.digest AND role = 'config'),
           (SELECT count(*) FROM edges WHERE parent = d.digest AND role = 'layer'),
           d.size + coalesce((SELECT sum(b.size) FROM edges e JOIN blobs b ON b.digest = e.child
                              WHERE e.parent = d.digest AND e.role IN ('config', 'layer')), 0)
    FROM documents d WHERE d.kind = 'manifest';

-- Each reference's row from the latest run that has one (ok or not).
CREATE VIEW latest_refs AS
    SELECT * FROM refs
    WHERE run_id = (SELECT max(r.run_id) FROM refs r WHERE r.reference = refs.reference);
"""
