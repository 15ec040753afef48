"""``regimage report`` on the database a real ``regimage audit --db --config`` wrote from the
registry lab: its numbers are the lab's own (the sizes, digests and chain IDs it built), and
``--built-on`` is exact on the family images, whose first layers are family-base's (checked
against the lab's chain IDs, and reached both from the database and from the registry). The page
of that database is opened in chromium and shows the same numbers.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from regimage.cli.core import main
from regimage.model.platform import Platform
from tests.cli.test_report_html import browse, parse
from tests.lab.expected import ExpectedImage
from tests.lab.lab import Lab

pytestmark = pytest.mark.integration

FAMILY = ("family-app", "family-app-v2", "family-app-zstd", "family-index", "family-index-v2")
OTHERS = ("attested", "oci-index", "docker-schema2")


def run(*argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = main(["--no-cache", *argv], stdout=stdout, stderr=stderr, stdin=io.StringIO())
    return status, stdout.getvalue(), stderr.getvalue()


def audited(lab: Lab, path: Path, names: tuple[str, ...]) -> str:
    """A database of both tags (v1, latest) of each of ``names``, configs read."""
    refs = [
        lab.anonymous.ref(f"{lab.corpus[n].repository}:{tag}")
        for n in names
        for tag in ("v1", "latest")
    ]
    status, _, err = run("audit", "--db", str(path), "--config", *refs)
    assert status == 0, err
    return str(path)


def report(*argv: str) -> dict[str, Any]:
    status, out, err = run("report", "--json", *argv)
    assert (status, err) == (0, ""), err
    return dict(json.loads(out))


def attestation_size(image: ExpectedImage) -> int:
    digests: dict[str, int] = {}
    for p in image.platforms.values():
        if p.attestation:
            digests[p.manifest_digest] = p.manifest_size
            digests[p.config_digest] = p.config_size
            digests.update((layer.digest, layer.size) for layer in p.layers)
    return sum(digests.values())


def every_digest(images: list[ExpectedImage]) -> dict[str, int]:
    digests: dict[str, int] = {}
    for image in images:
        digests[image.digest] = image.size
        for p in image.platforms.values():
            digests[p.manifest_digest] = p.manifest_size
            digests[p.config_digest] = p.config_size
            digests.update((layer.digest, layer.size) for layer in p.layers)
    return digests


def test_report_answers_what_the_lab_built(lab: Lab, tmp_path: Path) -> None:
    names = ("family-base", *FAMILY, *OTHERS)
    database = audited(lab, tmp_path / "audit.db", names)
    document = report("--top", "100", database)
    images = [lab.corpus[n] for n in names]
    assert document["references"] == {"total": 2 * len(names), "ok": 2 * len(names), "failed": 0}
    assert document["images"] == len(names)
    by_digest = {x["digest"]: x for x in document["biggest"]}
    for image in images:
        found = by_digest[image.digest]
        assert found["size"] == image.distinct_size, image.name
        assert found["attestationSize"] == attestation_size(image), image.name
        assert found["references"] == sorted(
            lab.anonymous.ref(f"{image.repository}:{tag}") for tag in ("latest", "v1")
        )
        assert found["platforms"] == sorted(  # as the database writes them: normalized
            str(Platform.parse(p.platform).normalized())
            for p in image.platforms.values()
            if not p.attestation
        )
    repositories = {r["repository"]: r for r in document["storage"]["repositories"]}
    for image in images:
        row = repositories[lab.anonymous.ref(image.repository)]
        assert (row["references"], row["images"]) == (2, 1)
        assert (row["size"], row["naiveSize"]) == (image.distinct_size, 2 * image.distinct_size)
    storage = document["storage"]
    assert storage["size"] == sum(every_digest(images).values())
    assert storage["naiveSize"] == 2 * sum(image.distinct_size for image in images)
    assert storage["attestationSize"] == sum(attestation_size(image) for image in images)
    assert document["sameDigest"]["count"] == len(names)
    holders: dict[str, set[str]] = {}
    for image in images:
        for p in image.platforms.values():
            for layer in p.layers if not p.attestation else ():
                holders.setdefault(layer.digest, set()).add(image.name)
    shared = {x["digest"]: x["images"] for x in document["sharedLayers"]["layers"]}
    assert shared == {digest: len(n) for digest, n in holders.items() if len(n) > 1}
    assert document["sharedLayers"]["count"] == len(shared)
    # family-base's layers are in family-app, -v2, -index and -index-v2 (-zstd's are other blobs)
    base = lab.corpus["family-base"].default
    assert all(
        holders[layer.digest] >= {"family-base", *FAMILY} - {"family-app-zstd"}
        for layer in base.layers
    )


def expected_descendants(
    lab: Lab, base: ExpectedImage, names: tuple[str, ...]
) -> set[tuple[str, str, int]]:
    """(reference, manifest, layers added) of every platform of ``names`` whose chain IDs begin
    with the base's: the lab's own chain IDs, worked out from the tars it built."""
    chain = base.default.chain_ids
    found = set()
    for name in names:
        image = lab.corpus[name]
        for p in image.platforms.values():
            if not p.attestation and p.chain_ids[: len(chain)] == chain:
                for tag in ("v1", "latest"):
                    reference = lab.anonymous.ref(f"{image.repository}:{tag}")
                    found.add((reference, p.manifest_digest, len(p.chain_ids) - len(chain)))
    return found


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("with_base", [True, False], ids=["base-audited", "base-from-registry"])
def test_built_on_is_exact_on_the_family(
    lab: Lab, tmp_path: Path, with_base: bool, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the database, and from the registry when the base was not audited (the one request
    ``report`` makes), on both event loops."""
    monkeypatch.setenv("REGIMAGE_BACKEND", backend)
    names = (*FAMILY, *OTHERS)
    database = audited(lab, tmp_path / "audit.db", ("family-base", *names) if with_base else names)
    base = lab.corpus["family-base"]
    lineage = report("--built-on", lab.anonymous.ref(base.reference), database)["builtOn"]
    assert lineage["source"] == ("database" if with_base else "registry")
    assert lineage["digest"] == base.digest
    [platform] = lineage["platforms"]
    assert (platform["platform"], platform["layers"]) == ("linux/amd64", len(base.default.layers))
    assert platform["chainID"] == base.default.chain_ids[-1]
    found = {(x["reference"], x["manifestDigest"], x["addedLayers"]) for x in platform["images"]}
    expected = expected_descendants(lab, base, names)
    assert found == expected
    # the five family images, amd64 only (arm64's base layers are others), two tags each
    assert {reference.rsplit("/", 1)[1].split(":")[0] for reference, _, _ in found} == set(FAMILY)
    assert sorted(added for _, _, added in found) == [1] * 6 + [2] * 4
    assert lineage["withoutChainIDs"] == 0


def test_the_page_of_a_lab_audit(lab: Lab, tmp_path: Path) -> None:
    database = audited(lab, tmp_path / "audit.db", ("family-base", *FAMILY, *OTHERS))
    page = tmp_path / "report.html"
    document = report(
        "--html",
        str(page),
        "--built-on",
        lab.anonymous.ref(lab.corpus["family-base"].reference),
        database,
    )
    browsed = browse(page, tmp_path)
    assert (browsed.console, browsed.page_requests) == ([], [])
    dom = parse(browsed.dom)
    assert int(dom.by_id("card-stored").attrs["data-bytes"]) == document["storage"]["size"]
    rows = dom.by_id("storage-table").find("tr")[1:]
    assert [
        (
            row.children[0].full_text(),
            [int(c.attrs["data-bytes"]) for c in row.having("data-bytes")],
        )
        for row in rows
    ] == [
        (r["repository"], [r["size"], r["naiveSize"], r["savedSize"], r["attestationSize"]])
        for r in document["storage"]["repositories"]
    ]
    added = [int(c.attrs["data-count"]) for c in dom.by_id("built-on").having("data-count")]
    assert added == [x["addedLayers"] for x in document["builtOn"]["platforms"][0]["images"]]
