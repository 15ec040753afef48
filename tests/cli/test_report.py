"""``regimage report DB``, run in process on an audit database written with SQL in the real schema
(:mod:`tests.cli.report_database`): every number is worked out by hand below, from the sizes the
database was given."""

from __future__ import annotations

import io
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from regimage.cli import session
from regimage.cli.core import main
from regimage.cli.report.answers import SizeBin, size_bins
from regimage.cli.status import ExitStatus
from tests.cli.report_database import AuditDatabase, Layer, digest_of

# ── the database ───────────────────────────────────────────────────────────────────────────────────

R = "registry.test"
B0, B1 = Layer("base-0", 10_000), Layer("base-1", 20_000)
B0Z, B1Z = Layer("base-0-zstd", 9_000, tar="base-0"), Layer("base-1-zstd", 18_000, tar="base-1")
ARM0 = Layer("base-arm-0", 11_000)
APP1, APP1ARM = Layer("app-1", 3_000), Layer("app-1-arm", 3_100)
APP2, DATA2 = Layer("app-2", 4_000), Layer("data-2", 5_000)
WEB, NOCONF, SBOM = Layer("web", 7_000), Layer("noconf", 1_234), Layer("sbom-1", 900)
OLD = Layer("old", 50_000)

# Every manifest is 500 bytes, every config 700, every index 300.
BASE = 500 + 700 + 10_000 + 20_000  # 31,200
API1_AMD64 = 500 + 700 + 10_000 + 20_000 + 3_000  # 34,200
API1_ARM64 = 500 + 700 + 11_000 + 3_100  # 15,300
API1_ATTESTATION = 500 + 700 + 900  # 2,100
API1 = 300 + API1_AMD64 + API1_ARM64 + API1_ATTESTATION  # 51,900
API2 = 300 + 500 + 700 + 10_000 + 20_000 + 4_000 + 5_000  # 40,500
WEB1 = 500 + 700 + 10_000 + 7_000  # 18,200
WEB_ZSTD = 500 + 700 + 9_000 + 18_000 + 7_000  # 35,200
WEB_NOCONF = 500 + 700 + 10_000 + 20_000 + 1_234  # 32,434


def write_database(path: Path) -> Path:
    """Two runs: the first (older) had api:1 elsewhere and broken:1 resolved; the second is what
    counts for every reference."""
    db = AuditDatabase(path)
    first, second = db.run(started="2025-01-01T00:00:00.000Z"), db.run()
    base = db.manifest("base", [B0, B1])
    db.ref(first, f"{R}/acme/api:1", db.manifest("api-old", [B0, OLD]))
    db.ref(first, f"{R}/acme/broken:1", base)
    db.ref(second, f"{R}/library/base:1", base)
    api1 = db.index(
        "api-1",
        [
            db.manifest("api-1-amd64", [B0, B1, APP1]),
            db.manifest("api-1-arm64", [ARM0, APP1ARM], platform="linux/arm64"),
            db.manifest("api-1-att", [SBOM], platform="unknown/unknown", attestation=True),
        ],
    )
    db.ref(second, f"{R}/acme/api:1", api1)
    api2 = db.index("api-2", [db.manifest("api-2-amd64", [B0, B1, APP2, DATA2])])
    db.ref(second, f"{R}/acme/api:2", api2)
    db.ref(second, f"{R}/acme/api:latest", api2)
    db.ref(second, f"{R}/acme/web:1", db.manifest("web-1", [B0, WEB]))
    db.ref(second, f"{R}/acme/web:zstd", db.manifest("web-zstd", [B0Z, B1Z, WEB]))
    noconf = db.manifest("web-noconf", [B0, B1, NOCONF], with_config=False)
    db.ref(second, f"{R}/acme/web:noconf", noconf)
    db.ref(second, f"{R}/acme/broken:1", None)
    db.close()
    return path


@pytest.fixture
def database(tmp_path: Path) -> str:
    return str(write_database(tmp_path / "audit.db"))


@pytest.fixture(autouse=True)
def no_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The report answers from the database: opening a registry fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("report opened a registry")

    monkeypatch.setattr(session, "open_registry", refuse)


@dataclass
class Result:
    status: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


def run(*argv: str) -> Result:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = main(["report", *argv], stdout=stdout, stderr=stderr, stdin=io.StringIO())
    return Result(status, stdout.getvalue(), stderr.getvalue())


def one_error(result: Result, status: ExitStatus, text: str) -> None:
    assert result.status == status, result.err
    assert result.out == ""
    [line] = result.err.splitlines()
    assert line.startswith("regimage: error: ")
    assert text in line


# ── storage ────────────────────────────────────────────────────────────────────────────────────────


def test_storage_counts_every_digest_once_per_repository_and_in_total(database: str) -> None:
    document = run("--json", database).json
    assert document["schema"] == 1
    assert document["references"] == {"total": 8, "ok": 7, "failed": 1}
    assert (document["images"], document["runs"]) == (6, 2)
    rows = {r["repository"]: r for r in document["storage"]["repositories"]}
    # api:1 and api:2 share the base's two layers: 30,000 bytes counted once
    assert rows[f"{R}/acme/api"] == {
        "repository": f"{R}/acme/api",
        "references": 3,
        "images": 2,
        "size": API1 + API2 - 30_000,
        "attestationSize": API1_ATTESTATION,
        "naiveSize": API1 + 2 * API2,  # api:latest is api:2 again
        "savedSize": API1 + 2 * API2 - (API1 + API2 - 30_000),
    }
    # web:1 and web:noconf share base-0, web:1 and web:zstd the web layer
    assert rows[f"{R}/acme/web"]["size"] == WEB1 + WEB_ZSTD + WEB_NOCONF - 10_000 - 7_000
    assert rows[f"{R}/acme/web"]["naiveSize"] == WEB1 + WEB_ZSTD + WEB_NOCONF
    assert rows[f"{R}/library/base"]["size"] == rows[f"{R}/library/base"]["naiveSize"] == BASE
    assert f"{R}/acme/broken" not in rows  # its latest audit failed; api-old is not counted either
    assert [r["repository"] for r in document["storage"]["repositories"]] == [
        f"{R}/acme/web",
        f"{R}/acme/api",
        f"{R}/library/base",
    ]
    storage = document["storage"]
    documents = 2 * 300 + 8 * 500
    configs = 8 * 700
    layers = sum(
        x.size for x in (B0, B1, ARM0, APP1, APP1ARM, SBOM, APP2, DATA2, WEB, B0Z, B1Z, NOCONF)
    )
    assert storage["size"] == documents + configs + layers == 102_434
    # the per-repository sizes count base-0 three times and base-1 three times
    assert sum(r["size"] for r in rows.values()) == storage["size"] + 2 * 10_000 + 2 * 20_000
    assert storage["attestationSize"] == API1_ATTESTATION
    assert storage["naiveSize"] == BASE + API1 + 2 * API2 + WEB1 + WEB_ZSTD + WEB_NOCONF
    assert storage["savedSize"] == storage["naiveSize"] - storage["size"]


def test_a_blob_an_image_and_its_attestation_share_counts_as_the_image(tmp_path: Path) -> None:
    """Attestations apart means what only attestations reach: a blob an image manifest holds
    too is the image's (here the attestation lists the app layer as its subject's copy)."""
    db = AuditDatabase(tmp_path / "audit.db")
    run_id = db.run()
    image = db.manifest("app", [B0, APP1])
    attestation = db.manifest("app-att", [APP1, SBOM], platform="unknown/unknown", attestation=True)
    db.ref(run_id, f"{R}/acme/app:1", db.index("app", [image, attestation]))
    db.close()
    [big] = run("--json", str(tmp_path / "audit.db")).json["biggest"]
    assert big["size"] == 300 + (500 + 700 + 10_000 + 3_000) + (500 + 700 + 900)
    assert big["attestationSize"] == 500 + 700 + 900


def test_biggest_images_and_tags_that_share_a_digest(database: str) -> None:
    document = run("--json", "--top", "3", database).json
    assert [(x["references"], x["size"]) for x in document["biggest"]] == [
        ([f"{R}/acme/api:1"], API1),
        ([f"{R}/acme/api:2", f"{R}/acme/api:latest"], API2),
        ([f"{R}/acme/web:zstd"], WEB_ZSTD),
    ]
    first = document["biggest"][0]
    assert first["digest"] == digest_of("index api-1")
    assert (first["kind"], first["attestationSize"]) == ("index", API1_ATTESTATION)
    assert first["platforms"] == ["linux/amd64", "linux/arm64"]  # the attestation left out
    assert document["sameDigest"] == {
        "count": 1,
        "digests": [
            {
                "digest": digest_of("index api-2"),
                "size": API2,
                "references": [f"{R}/acme/api:2", f"{R}/acme/api:latest"],
            }
        ],
    }


def test_layers_shared_by_the_most_images(database: str) -> None:
    shared = run("--json", database).json["sharedLayers"]
    assert shared["count"] == 3
    assert [(x["digest"], x["images"], x["repositories"]) for x in shared["layers"]] == [
        (B0.digest, 5, 3),  # base, api:1, api:2, web:1, web:noconf
        (B1.digest, 4, 3),  # base, api:1, api:2, web:noconf
        (WEB.digest, 2, 1),  # web:1, web:zstd
    ]
    assert shared["layers"][0]["savedSize"] == 4 * B0.size
    assert shared["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert run("--json", "--top", "1", database).json["sharedLayers"]["count"] == 3


def test_size_distribution(database: str) -> None:
    assert run("--json", database).json["sizeDistribution"] == [
        {"from": 10_000, "to": 20_000, "images": 1},  # web:1
        {"from": 20_000, "to": 50_000, "images": 4},  # base, api:2, web:zstd, web:noconf
        {"from": 50_000, "to": 100_000, "images": 1},  # api:1
    ]


@pytest.mark.parametrize(
    ("sizes", "bins"),
    [
        ([], ()),
        ([1500], (SizeBin(1000, 2000, 1),)),
        ([0, 1], (SizeBin(0, 1, 1), SizeBin(1, 2, 1))),
        (
            [999, 5000],
            (
                SizeBin(500, 1000, 1),
                SizeBin(1000, 2000, 0),
                SizeBin(2000, 5000, 0),
                SizeBin(5000, 10_000, 1),
            ),
        ),
        (
            [2_000_000, 1_999_999],
            (SizeBin(1_000_000, 2_000_000, 1), SizeBin(2_000_000, 5_000_000, 1)),
        ),
    ],
)
def test_size_bins_are_1_2_5_steps(sizes: list[int], bins: tuple[SizeBin, ...]) -> None:
    assert size_bins(sizes) == bins


def test_platform_coverage(database: str) -> None:
    coverage = {c["repository"]: c for c in run("--json", database).json["platforms"]}
    assert coverage[f"{R}/acme/api"] == {
        "repository": f"{R}/acme/api",
        "platforms": [
            {"platform": "linux/amd64", "references": 3},
            {"platform": "linux/arm64", "references": 1},
        ],
        "lacking": [
            {"reference": f"{R}/acme/api:2", "missing": ["linux/arm64"]},
            {"reference": f"{R}/acme/api:latest", "missing": ["linux/arm64"]},
        ],
        "unknown": [],
    }
    assert coverage[f"{R}/acme/web"]["lacking"] == []
    assert list(coverage) == [f"{R}/acme/api", f"{R}/acme/web", f"{R}/library/base"]


# ── --built-on ─────────────────────────────────────────────────────────────────────────────────────


def test_built_on_is_exact_by_chain_id(database: str) -> None:
    lineage = run("--json", "--built-on", f"{R}/library/base:1", database).json["builtOn"]
    assert (lineage["reference"], lineage["source"]) == (f"{R}/library/base:1", "database")
    assert lineage["digest"] == digest_of("manifest base")
    [base] = lineage["platforms"]
    assert (base["platform"], base["layers"]) == ("linux/amd64", 2)
    assert [(x["reference"], x["addedLayers"], x["layers"]) for x in base["images"]] == [
        (f"{R}/acme/api:1", 1, 3),  # its amd64 manifest; arm64 has other layers
        (f"{R}/acme/web:zstd", 1, 3),  # other blobs, the same tars: the same chain IDs
        (f"{R}/acme/api:2", 2, 4),
        (f"{R}/acme/api:latest", 2, 4),
    ]
    assert base["images"][0]["manifestDigest"] == digest_of("manifest api-1-amd64")
    # web:1 has base-0 alone on top of which it builds; web:noconf was audited without configs
    assert lineage["withoutChainIDs"] == 1


def test_built_on_by_digest_and_from_a_middle_image(database: str) -> None:
    by_digest = f"{R}/library/base@{digest_of('manifest base')}"
    lineage = run("--json", "--built-on", by_digest, database).json["builtOn"]
    assert len(lineage["platforms"][0]["images"]) == 4
    # api:2's amd64 manifest is built on by nothing else; api:latest is api:2 itself
    lineage = run("--json", "--built-on", f"{R}/acme/api:2", database).json["builtOn"]
    assert lineage["platforms"][0]["images"] == []


def test_built_on_lists_images_in_the_text_report(database: str) -> None:
    result = run("--built-on", f"{R}/library/base:1", database)
    assert result.status == 0, result.err
    text = result.out.split(f"built on {R}/library/base:1", 1)[1]
    assert "linux/amd64: 2 layers" in text
    assert "4 images built on it" in text
    assert f"+1    {R}/acme/api:1" in text
    assert "1 audited manifest has no chain IDs" in text


def test_built_on_an_invalid_reference(database: str) -> None:
    one_error(
        run("--built-on", "Acme/API:1", database), ExitStatus.INVALID_REFERENCE, "must be lowercase"
    )


def test_built_on_needs_chain_ids(tmp_path: Path) -> None:
    db = AuditDatabase(tmp_path / "audit.db")
    run_id = db.run(with_config=False)
    db.ref(run_id, f"{R}/library/base:1", db.manifest("base", [B0, B1], with_config=False))
    db.close()
    result = run("--built-on", f"{R}/library/base:1", str(tmp_path / "audit.db"))
    one_error(
        result, ExitStatus.USAGE, "this audit database has none: audit with --db FILE --config"
    )


# ── the text report ────────────────────────────────────────────────────────────────────────────────


def test_text_report(database: str) -> None:
    result = run(database)
    assert (result.status, result.err) == (0, "")
    lines = result.out.splitlines()
    assert lines[:3] == [
        f"audit database  {database} (2 runs, the latest started 2025-01-02T03:04:05.000Z)",
        "references      8 (7 ok, 1 failed at their latest audit)",
        "images          6 distinct digests",
    ]
    assert any(line.split()[:4] == ["every", "repository", "7", "6"] for line in lines)
    assert "  attestations: 2.1 kB of the 102.4 kB stored" in lines
    assert "tags sharing one digest (1 digest)" in lines
    assert "layers shared by the most images (3 layers shared)" in lines
    assert f"  {R}/acme/api:2       lacks linux/arm64" in lines


def test_text_report_escapes_the_database_text(tmp_path: Path) -> None:
    """A database is a file anyone may have written: its text never acts on the terminal."""
    db = AuditDatabase(tmp_path / "audit.db")
    run_id = db.run()
    db.ref(run_id, f"{R}/acme/api:1", db.manifest("evil", [B0], platform="linux/\x1b[2Jamd64"))
    db.close()
    result = run(str(tmp_path / "audit.db"))
    assert result.status == 0, result.err
    assert "\x1b" not in result.out
    assert "linux/\\x1b[2Jamd64" in result.out
    assert "linux/\\u001b[2Jamd64" in run("--json", str(tmp_path / "audit.db")).out


def test_a_cycle_in_the_database_file(tmp_path: Path) -> None:
    """An audit never records a cycle, but a database is a file: one written by hand ends."""
    db = AuditDatabase(tmp_path / "audit.db")
    run_id = db.run()
    loop = digest_of("index loop")
    db.ref(run_id, f"{R}/acme/loop:1", db.index("loop", [loop, db.manifest("m", [B0])]))
    db.close()
    [image] = run("--json", str(tmp_path / "audit.db")).json["biggest"]
    assert image["size"] == 300 + 500 + 700 + 10_000


def test_an_empty_database(tmp_path: Path) -> None:
    AuditDatabase(tmp_path / "audit.db").close()
    result = run(str(tmp_path / "audit.db"))
    assert result.status == 0, result.err
    assert "references      0 (0 ok, 0 failed at their latest audit)" in result.out
    document = run("--json", str(tmp_path / "audit.db")).json
    assert document["storage"] == {
        "size": 0,
        "attestationSize": 0,
        "naiveSize": 0,
        "savedSize": 0,
        "repositories": [],
    }
    assert (document["biggest"], document["sizeDistribution"], document["lastRun"]) == (
        [],
        [],
        None,
    )


# ── failures ───────────────────────────────────────────────────────────────────────────────────────


def test_a_missing_database(tmp_path: Path) -> None:
    one_error(run(str(tmp_path / "nope.db")), ExitStatus.USAGE, "no audit database at")


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "refs.txt").write_text("alpine:3.20\n" * 100)
    one_error(run(str(tmp_path / "refs.txt")), ExitStatus.USAGE, "is not an audit database")


def test_a_database_of_another_schema_version(tmp_path: Path, database: str) -> None:
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE schema SET version = 99")
    connection.close()
    one_error(run(database), ExitStatus.USAGE, "of version 99; this regimage reads version 1")


def test_the_report_leaves_the_database_as_it_was(database: str) -> None:
    before = Path(database).read_bytes()
    assert run("--built-on", f"{R}/library/base:1", "--json", database).status == 0
    assert Path(database).read_bytes() == before


def test_a_report_while_an_audit_writes(database: str) -> None:
    """The audit writes in WAL mode: a report reads what was committed, and waits for nothing."""
    writer = sqlite3.connect(database, isolation_level=None)
    try:
        assert writer.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO runs(started, argv, tool_version, with_config) "
            "VALUES ('2025-03-01T00:00:00.000Z', '[]', 'test', 1)"
        )
        result = run("--json", database)
        assert result.status == 0, result.err
        assert (result.json["runs"], result.json["references"]["total"]) == (2, 8)
    finally:
        writer.close()


def test_a_page_that_cannot_be_written(tmp_path: Path, database: str) -> None:
    result = run("--html", str(tmp_path / "no" / "such" / "dir.html"), database)
    one_error(result, ExitStatus.USAGE, "cannot write the page to")
