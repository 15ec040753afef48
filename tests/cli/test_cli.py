"""The command line, in process: every command, every exit code, the JSON schema, stdout vs stderr.

The registry is replaced (``regimage.cli.session.open_registry``) by a fake serving the lab's corpus from
:class:`~regimage.content.provider.MemoryProvider`s, one per repository: the same documents the lab pushes,
checked against the lab's expectations, without a registry. Failures a registry cannot produce on
demand (a digest mismatch, a bug, Ctrl-C) are injected per repository. test_cli_lab.py runs the
same commands as subprocesses against the real registries.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import errno
import gc
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from regimage.cli import collector, parser as _cli_parser, session as cli_session
from regimage.cli.audit import run as audit_run
from regimage.cli.audit.source import first_reference
from regimage.cli.core import main
from regimage.cli.output import human_size, size_text
from regimage.cli.session import Options
from regimage.cli.status import EXIT_CODES, ExitStatus
from regimage.content.provider import MemoryProvider
from regimage.errors import (
    AuthenticationError,
    DigestMismatch,
    NetworkError,
    NotFound,
    RateLimited,
    RegImageError,
    UnsupportedMediaType,
)
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.reference import Reference
from regimage.registry.preconnect import Preconnect
from tests.faults.server import Reply, Request as ScriptedRequest, ScriptedServer
from tests.imports import imported_by
from tests.lab import builder as b
from tests.lab.corpus import SBOM_TYPE, corpus, private
from tests.lab.expected import ExpectedImage
from tests.lab.tls import create_pki

HOST = "registry.test"
CORPUS = corpus()
SECRET = private().images["secret"]
USER, PASSWORD = "lab-user", "lab-pass-!2"


def image(name: str) -> ExpectedImage:
    return CORPUS.images[name]


def ref(name: str, tag: str | None = None) -> str:
    expected = SECRET if name == "secret" else image(name)
    return f"{HOST}/{expected.repository}:{tag or expected.tag}"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ── the fake registry ─────────────────────────────────────────────────────────────────────────────


def _nodes(root: b.Node) -> Iterator[b.Node]:
    """Every document reachable from ``root``, children first."""
    if isinstance(root, b.ImageIndex):
        for entry in root.entries:
            yield from _nodes(entry.target)
    yield root


def _memory_repositories() -> dict[str, MemoryProvider]:
    repositories: dict[str, MemoryProvider] = {}
    for plan in (*CORPUS.plans, *private().plans):
        memory = repositories.setdefault(plan.repository, MemoryProvider())
        for push in plan.pushes:
            for node in _nodes(push.root):
                memory.add(node.doc.data, media_type=node.doc.media_type)
                if isinstance(node, b.ImageManifest):
                    memory.add(node.config.data)
            root = push.root.doc
            descriptor = Descriptor(root.media_type, Digest.parse(root.digest), root.size)
            for tag in push.tags:
                memory.tag(tag, descriptor)
    return repositories


REPOSITORIES = _memory_repositories()


class Sleeper(MemoryProvider):
    """A repository that never answers (for --timeout)."""

    async def resolve(self, reference: Reference) -> Descriptor:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


@dataclass
class FakeRegistry:
    """Stands in for RegistryProvider: resolve, repository, tags; failures injected per repository."""

    options: Options
    opened: int = 0
    closed: int = 0

    async def __aenter__(self) -> FakeRegistry:
        self.opened += 1
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.closed += 1

    def _repo(self, reference: Reference) -> MemoryProvider:
        if reference.path.startswith("private/") and (
            self.options.username,
            self.options.password,
        ) != (USER, PASSWORD):
            raise AuthenticationError(
                f"{reference.domain} wants credentials for {reference.path} (401)", status=401
            )
        if reference.path == "slow/never":
            return Sleeper()
        repository = REPOSITORIES.get(reference.path)
        if repository is None:
            raise NotFound(f"repository {reference.path} not found on {reference.domain}")
        return repository

    async def resolve(self, reference: Reference) -> Descriptor:
        logging.getLogger("regimage.fake").debug("resolving %s", reference)
        return await self._repo(reference).resolve(reference)

    def repository(self, reference: Reference) -> MemoryProvider:
        return self._repo(reference)

    async def tags(self, repository: Reference) -> list[str]:
        return list(reversed(self._repo(repository).tags))  # unsorted, as Distribution answers


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> list[FakeRegistry]:
    """Every FakeRegistry the CLI opened during the test (the list fills as it opens them)."""
    opened: list[FakeRegistry] = []

    def open_registry(options: Options, preconnect: Preconnect | None = None) -> FakeRegistry:
        fake = FakeRegistry(options)
        opened.append(fake)
        return fake

    monkeypatch.setattr(cli_session, "open_registry", open_registry)
    monkeypatch.delenv("REGIMAGE_USERNAME", raising=False)
    monkeypatch.delenv("REGIMAGE_PASSWORD", raising=False)
    return opened


def fail(monkeypatch: pytest.MonkeyPatch, repository: str, exc: BaseException) -> str:
    """Make ``HOST/repository:v1`` raise ``exc`` and return that reference."""
    original = FakeRegistry._repo

    def _repo(self: FakeRegistry, reference: Reference) -> MemoryProvider:
        if reference.path == repository:
            raise exc
        return original(self, reference)

    monkeypatch.setattr(FakeRegistry, "_repo", _repo)
    return f"{HOST}/{repository}:v1"


# ── running main() ────────────────────────────────────────────────────────────────────────────────


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@dataclass
class Result:
    status: int
    raw: bytes
    err: str

    @property
    def out(self) -> str:
        return self.raw.decode()

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def run(*argv: str, stdin: str | io.StringIO = "", stderr: io.StringIO | None = None) -> Result:
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    err = stderr if stderr is not None else io.StringIO()
    source = stdin if isinstance(stdin, io.StringIO) else io.StringIO(stdin)
    status = main(list(argv), stdout=stdout, stderr=err, stdin=source)
    stdout.flush()
    raw = stdout.buffer.getvalue()
    return Result(status, raw, err.getvalue())


def assert_error(result: Result, status: ExitStatus, *parts: str) -> None:
    """Exit ``status``, nothing on stdout, one ``regimage: error:`` line holding ``parts``."""
    assert result.status == status, result.err
    assert result.raw == b""
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("regimage: error: ")
    for part in parts:
        assert part in lines[0]
    assert "Traceback" not in result.err


# ── size ──────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (12_345, "12.3 kB"),
        (999_949, "999.9 kB"),
        (999_950, "1.0 MB"),
        (12_345_678, "12.3 MB"),
        (5 * 10**12, "5.0 TB"),
    ],
)
def test_human_size(n: int, text: str) -> None:
    assert human_size(n) == text


def test_size_text_has_both_forms() -> None:
    assert size_text(12_345_678) == "12.3 MB (12,345,678 bytes)"
    assert size_text(12_345_678, exact=True) == "12345678"


def test_size_is_human_and_names_the_platform(registry: list[FakeRegistry]) -> None:
    expected = image("oci-index").default
    result = run("size", ref("oci-index"))
    assert result.status == 0
    assert result.out == f"{size_text(expected.size)} for linux/amd64\n"
    assert result.err == ""


def test_size_bytes_is_an_integer_only(registry: list[FakeRegistry]) -> None:
    result = run("size", "--bytes", ref("docker-list"))
    assert result.out == f"{image('docker-list').default.size}\n"


def test_size_platform_selects_a_manifest(registry: list[FakeRegistry]) -> None:
    expected = image("oci-index").platforms["linux/arm64/v8"]
    result = run("size", "--platform", "linux/arm64", "--json", ref("oci-index"))
    assert result.status == 0
    assert result.json["platform"] == "linux/arm64/v8"
    assert result.json["manifestDigest"] == expected.manifest_digest
    assert result.json["size"] == expected.size


def test_size_platform_repeated_falls_back(registry: list[FakeRegistry]) -> None:
    expected = image("docker-list").platforms["linux/arm64"]
    result = run(
        "size",
        "--bytes",
        "--platform",
        "linux/s390x",
        "--platform",
        "linux/arm64",
        ref("docker-list"),
    )
    assert result.status == 0, result.err
    assert result.out == f"{expected.size}\n"


def test_size_breakdown(registry: list[FakeRegistry]) -> None:
    expected = image("nested").platforms["linux/arm64"]
    result = run("size", "--breakdown", "--platform", "linux/arm64", ref("nested"))
    bd = expected.breakdown
    assert result.lines == [
        f"index     {size_text(bd['index'])}",
        f"manifest  {size_text(bd['manifest'])}",
        f"config    {size_text(bd['config'])}",
        f"layers    {size_text(bd['layers'])} in {expected.layer_count} layers",
        f"total     {size_text(expected.size)} for linux/arm64",
    ]
    assert bd["index"] == sum(
        REPOSITORIES["public/nested"]._blobs[Digest.parse(d)].__len__()
        for d in expected.index_digests
    )


def test_size_breakdown_bytes(registry: list[FakeRegistry]) -> None:
    expected = image("dup-layer").default
    result = run("size", "--breakdown", "--bytes", ref("dup-layer"))
    assert result.lines[-1] == f"total     {expected.size}"
    assert result.lines[3] == f"layers    {expected.breakdown['layers']} in 3 layers"


SIZE_KEYS = {
    "schema",
    "reference",
    "digest",
    "mediaType",
    "platform",
    "manifestDigest",
    "size",
    "breakdown",
}


def test_size_json_schema(registry: list[FakeRegistry]) -> None:
    expected = image("attested")
    result = run("size", "--json", ref("attested"))
    document = result.json
    assert set(document) == SIZE_KEYS
    assert next(iter(document)) == "schema"
    assert document == {
        "schema": 1,
        "reference": ref("attested"),
        "digest": expected.digest,
        "mediaType": expected.media_type,
        "platform": "linux/amd64",
        "manifestDigest": expected.default.manifest_digest,
        "size": expected.default.size,
        "breakdown": {**expected.default.breakdown, "layerCount": expected.default.layer_count},
    }


def test_size_json_single_manifest(registry: list[FakeRegistry]) -> None:
    expected = image("oci-single")
    plain = run("size", "--json", ref("oci-single")).json
    assert plain["platform"] is None  # nothing read says it: the config is not fetched for size
    assert plain["digest"] == plain["manifestDigest"] == expected.digest
    assert plain["breakdown"]["index"] == 0
    asked = run("size", "--json", "--platform", "linux/amd64", ref("oci-single")).json
    assert asked["platform"] == "linux/amd64"
    assert asked["size"] == plain["size"] == expected.default.size


def test_size_all_platforms_json(registry: list[FakeRegistry]) -> None:
    expected = image("attested")
    document = run("size", "--all-platforms", "--json", ref("attested")).json
    assert set(document) == SIZE_KEYS | {"platforms", "distinctSize", "attestationSize"}
    assert document["distinctSize"] == expected.distinct_size
    by_digest = {p.manifest_digest: p for p in expected.platforms.values()}
    assert len(document["platforms"]) == len(by_digest) == 4
    for row in document["platforms"]:
        assert set(row) == {"platform", "digest", "size", "attestation"}
        wanted = by_digest[row["digest"]]
        assert row["size"] == wanted.size
        assert row["attestation"] is wanted.attestation
    attestations = {r["digest"] for r in document["platforms"] if r["attestation"]}
    assert attestations == set(expected.attestation_digests)


def test_size_all_platforms_table(registry: list[FakeRegistry]) -> None:
    expected = image("attested")
    lines = run("size", "--all-platforms", ref("attested")).lines
    assert lines[0].split() == ["PLATFORM", "MANIFEST", "SIZE"]
    amd64 = expected.platforms["linux/amd64"]
    assert any(
        line.split()[:2] == ["linux/amd64", amd64.manifest_digest]
        and line.endswith(size_text(amd64.size))
        for line in lines
    )
    assert "attestations" in lines
    attestation = expected.platforms["unknown/unknown@linux/arm64"]
    assert any(
        line.split()[:3] == ["for", "linux/arm64", attestation.manifest_digest] for line in lines
    )
    assert lines[-1].startswith("distinct total")
    assert lines[-1].endswith(size_text(expected.distinct_size))


# ── config, rootfs, chain-ids ─────────────────────────────────────────────────────────────────────


def test_config_is_pretty_json(registry: list[FakeRegistry]) -> None:
    expected = image("docker-schema2").default
    result = run("config", ref("docker-schema2"))
    assert result.status == 0
    assert result.out.startswith('{\n  "')
    assert result.json["rootfs"]["diff_ids"] == list(expected.diff_ids)


def test_config_raw_is_the_served_bytes(registry: list[FakeRegistry]) -> None:
    expected = image("oci-index").platforms["linux/arm/v7"]
    result = run("config", "--raw", "--platform", "linux/arm/v7", ref("oci-index"))
    assert sha256(result.raw) == expected.config_digest
    assert len(result.raw) == expected.config_size


@pytest.mark.parametrize("command", ["rootfs", "diff-ids"])
def test_rootfs_one_per_line(registry: list[FakeRegistry], command: str) -> None:
    expected = image("many-layers").default
    result = run(command, ref("many-layers"))
    assert result.lines == list(expected.diff_ids)
    assert len(result.lines) == 60


def test_chain_ids_one_per_line(registry: list[FakeRegistry]) -> None:
    expected = image("oci-index").platforms["linux/386"]
    result = run("chain-ids", "--platform", "linux/386", ref("oci-index"))
    assert result.lines == list(expected.chain_ids)


ROOTFS_KEYS = {"schema", "reference", "manifestDigest", "config", "diffIDs", "chainIDs"}


@pytest.mark.parametrize("command", ["rootfs", "chain-ids"])
def test_rootfs_json_schema(registry: list[FakeRegistry], command: str) -> None:
    expected = image("docker-list").platforms["linux/arm64"]
    document = run(command, "--json", "--platform", "linux/arm64", ref("docker-list")).json
    assert document == {
        "schema": 1,
        "reference": ref("docker-list"),
        "manifestDigest": expected.manifest_digest,
        "config": expected.config_digest,
        "diffIDs": list(expected.diff_ids),
        "chainIDs": list(expected.chain_ids),
    }
    assert set(document) == ROOTFS_KEYS


# ── manifest, digest, platforms ───────────────────────────────────────────────────────────────────


def test_manifest_is_the_served_bytes(registry: list[FakeRegistry]) -> None:
    expected = image("docker-list")
    result = run("manifest", ref("docker-list"))
    assert sha256(result.raw) == expected.digest
    assert len(result.raw) == expected.size


def test_manifest_platform_and_pretty(registry: list[FakeRegistry]) -> None:
    expected = image("oci-index").platforms["windows/amd64"]
    raw = run("manifest", "--platform", "windows/amd64", ref("oci-index")).raw
    assert sha256(raw) == expected.manifest_digest
    pretty = run("manifest", "--pretty", "--platform", "windows/amd64", ref("oci-index"))
    assert pretty.json == json.loads(raw)
    assert pretty.out.startswith('{\n  "')


def test_digest(registry: list[FakeRegistry]) -> None:
    expected = image("nested")
    assert run("digest", ref("nested")).out == f"{expected.digest}\n"
    selected = run("digest", "--platform", "linux/s390x", ref("nested"))
    assert selected.out == f"{expected.platforms['linux/s390x'].manifest_digest}\n"


def test_digest_json_schema(registry: list[FakeRegistry]) -> None:
    expected = image("oci-index").platforms["linux/arm64/v8"]
    document = run("digest", "--json", "--platform", "linux/arm64/v8", ref("oci-index")).json
    assert document == {
        "schema": 1,
        "reference": ref("oci-index"),
        "digest": expected.manifest_digest,
        "mediaType": expected.manifest_media_type,
        "size": expected.manifest_size,
    }


def test_digest_by_digest_reference(registry: list[FakeRegistry]) -> None:
    expected = image("uncompressed")
    result = run("digest", f"{HOST}/{expected.by_digest}")
    assert result.out == f"{expected.digest}\n"


def test_platforms(registry: list[FakeRegistry]) -> None:
    expected = image("oci-index")
    result = run("platforms", ref("oci-index"))
    assert result.lines == [k for k, p in expected.platforms.items() if not p.attestation]


def test_platforms_skip_attestations_and_json(registry: list[FakeRegistry]) -> None:
    expected = image("attested")
    document = run("platforms", "--json", ref("attested")).json
    assert document == {
        "schema": 1,
        "reference": ref("attested"),
        "digest": expected.digest,
        "platforms": ["linux/amd64", "linux/arm64"],
    }


# ── inspect ───────────────────────────────────────────────────────────────────────────────────────

INSPECT_KEYS = SIZE_KEYS | ROOTFS_KEYS | {"configDigest", "created", "labels", "env", "layers"}


def test_inspect_json_schema(registry: list[FakeRegistry]) -> None:
    expected = image("many-layers").default
    document = run("inspect", "--json", ref("many-layers")).json
    assert set(document) == INSPECT_KEYS
    assert document["configDigest"] == document["config"] == expected.config_digest
    assert document["created"] == b.FIXED_CREATED
    assert document["labels"] == {"org.opencontainers.image.title": "many-layers"}
    assert document["env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert document["size"] == expected.size
    assert document["diffIDs"] == list(expected.diff_ids)
    layers = document["layers"]
    assert len(layers) == 60
    for i, (layer, want) in enumerate(zip(layers, expected.layers, strict=True)):
        assert set(layer) == {"digest", "mediaType", "size", "diffID", "createdBy"}
        assert (layer["digest"], layer["size"], layer["mediaType"]) == (
            want.digest,
            want.size,
            want.media_type,
        )
        assert layer["diffID"] == expected.diff_ids[i]
        # ENV entries (empty_layer) sit before every third layer: pairing must skip them
        assert layer["createdBy"] == f"/bin/sh -c #(nop) ADD file:many-layers-{i} in /"


def test_inspect_names_the_platform_of_a_single_manifest(registry: list[FakeRegistry]) -> None:
    # The manifest declares no platform, but inspect reads the config, which does.
    expected = image("oci-single").default
    document = run("inspect", "--json", ref("oci-single")).json
    assert document["platform"] == f"{expected.os}/{expected.architecture}"
    assert run("size", "--json", ref("oci-single")).json["platform"] is None


def test_inspect_text(registry: list[FakeRegistry]) -> None:
    expected = image("docker-list")
    amd64 = expected.default
    lines = run("inspect", ref("docker-list")).lines
    assert lines[0].split() == ["reference", ref("docker-list")]
    assert lines[1].split() == ["digest", expected.digest, expected.media_type]
    assert lines[2].split() == ["manifest", amd64.manifest_digest]
    assert lines[3].split() == ["config", amd64.config_digest]
    assert lines[4].split() == ["platform", "linux/amd64"]
    assert lines[5].split() == ["created", b.FIXED_CREATED]
    assert lines[6].split(maxsplit=1) == ["size", size_text(amd64.size)]
    assert "labels (1)" in lines
    assert "  org.opencontainers.image.title=docker-list" in lines
    assert f"layers ({amd64.layer_count})" in lines
    first = amd64.layers[0]
    assert any(
        line.startswith(f"  {first.digest}  {size_text(first.size)}")
        and line.endswith("/bin/sh -c #(nop) ADD file:docker-list-0 in /")
        for line in lines
    )


# ── tags, referrers ───────────────────────────────────────────────────────────────────────────────


def test_tags_sorted(registry: list[FakeRegistry]) -> None:
    expected = image("oci-single")
    result = run("tags", f"{HOST}/{expected.repository}")
    assert result.lines == sorted(expected.repository_tags)
    document = run("tags", "--json", f"{HOST}/{expected.repository}").json
    assert document == {
        "schema": 1,
        "repository": f"{HOST}/{expected.repository}",
        "tags": sorted(expected.repository_tags),
    }


def test_tags_refuses_a_tag(registry: list[FakeRegistry]) -> None:
    assert_error(run("tags", ref("oci-single")), ExitStatus.INVALID_REFERENCE)


def test_referrers(registry: list[FakeRegistry]) -> None:
    expected = image("oci-single")
    (referrer,) = expected.referrers
    result = run("referrers", ref("oci-single"))
    assert result.lines[0].split()[:2] == [referrer.digest, SBOM_TYPE]
    document = run("referrers", "--json", ref("oci-single")).json
    assert set(document) == {"schema", "reference", "digest", "referrers"}
    assert document["digest"] == expected.digest
    (entry,) = document["referrers"]
    assert (entry["digest"], entry["artifactType"], entry["size"]) == (
        referrer.digest,
        SBOM_TYPE,
        referrer.size,
    )
    none = run("referrers", "--json", "--artifact-type", "application/x-none", ref("oci-single"))
    assert none.json["referrers"] == []


# ── audit ─────────────────────────────────────────────────────────────────────────────────────────

AUDIT_OK_KEYS = {
    "schema",
    "index",
    "reference",
    "ok",
    "digest",
    "manifestDigest",
    "platform",
    "size",
    "config",
}


def test_audit_records_in_input_order(registry: list[FakeRegistry]) -> None:
    names = ["oci-index", "docker-list", "attested", "nested", "dup-layer", "docker-schema2"]
    result = run("audit", "--jobs", "3", *(ref(n) for n in names))
    assert result.status == 0, result.err
    records = [json.loads(line) for line in result.lines]
    assert [r["index"] for r in records] == list(range(len(names)))
    for name, record in zip(names, records, strict=True):
        want = image(name).default
        assert set(record) == AUDIT_OK_KEYS
        assert record["ok"] is True
        assert record["reference"] == ref(name)
        assert record["digest"] == image(name).digest
        assert record["manifestDigest"] == want.manifest_digest
        assert record["size"] == want.size
        assert record["config"] == want.config_digest
    assert len(registry) == 1  # one RegistryProvider for the whole run
    assert (registry[0].opened, registry[0].closed) == (1, 1)
    assert result.err.startswith(f"audited {len(names)} references: {len(names)} ok, 0 failed in ")


def test_audit_failures_become_records(registry: list[FakeRegistry]) -> None:
    lines = [
        ref("oci-index"),
        "# a comment line",
        "",
        ref("oci-index", "no-such-tag") + "   # trailing comment",
        "Not A/Valid::Reference",
        ref("secret"),
        ref("docker-list"),
    ]
    result = run("audit", stdin="\n".join(lines) + "\n")
    records = [json.loads(line) for line in result.lines]
    assert [r["ok"] for r in records] == [True, False, False, False, True]
    assert [r["index"] for r in records] == [0, 1, 2, 3, 4]
    missing, bad, private_ = records[1:4]
    assert set(missing) == {"schema", "index", "reference", "ok", "error"}
    assert missing["reference"] == ref("oci-index", "no-such-tag")
    assert missing["error"]["kind"] == "NotFound"
    assert missing["error"]["exitCode"] == 4
    assert bad["reference"] == "Not A/Valid::Reference"
    assert (bad["error"]["kind"], bad["error"]["exitCode"]) == ("InvalidReference", 3)
    assert (private_["error"]["kind"], private_["error"]["exitCode"]) == ("AuthenticationError", 5)
    assert "401" in private_["error"]["message"]
    assert result.status == ExitStatus.AUTH  # the most severe of 4, 3, 5
    assert result.err == result.err.strip() + "\n"
    assert "audited 5 references: 2 ok, 3 failed in " in result.err


def test_audit_csv(registry: list[FakeRegistry]) -> None:
    result = run("audit", "--csv", ref("dup-layer"), ref("dup-layer", "nope"))
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert list(rows[0]) == [
        "index",
        "reference",
        "ok",
        "digest",
        "manifestDigest",
        "platform",
        "size",
        "config",
        "errorKind",
        "errorMessage",
        "exitCode",
    ]
    assert rows[0]["ok"] == "true"
    assert rows[0]["size"] == str(image("dup-layer").default.size)
    assert rows[0]["errorKind"] == ""
    assert (rows[1]["ok"], rows[1]["errorKind"], rows[1]["exitCode"]) == ("false", "NotFound", "4")
    assert result.status == ExitStatus.NOT_FOUND


def test_audit_file_and_arguments(registry: list[FakeRegistry], tmp_path: Any) -> None:
    refs = tmp_path / "refs.txt"
    refs.write_text(f"# header\n{ref('nested')}\n\n{ref('uncompressed')}\n", encoding="utf-8")
    result = run("audit", ref("attested"), "--file", str(refs))
    assert [json.loads(line)["reference"] for line in result.lines] == [
        ref("attested"),
        ref("nested"),
        ref("uncompressed"),
    ]
    assert result.status == 0


def test_audit_missing_file_is_usage(registry: list[FakeRegistry], tmp_path: Any) -> None:
    assert_error(run("audit", "--file", str(tmp_path / "nope.txt")), ExitStatus.USAGE, "nope.txt")


def test_audit_platform_applies_to_all(registry: list[FakeRegistry]) -> None:
    result = run("audit", "--platform", "linux/arm64", ref("docker-list"), ref("attested"))
    records = [json.loads(line) for line in result.lines]
    assert [r["platform"] for r in records] == ["linux/arm64", "linux/arm64"]
    assert records[0]["size"] == image("docker-list").platforms["linux/arm64"].size


def test_audit_progress_only_on_a_terminal(registry: list[FakeRegistry]) -> None:
    tty = TTY()
    result = run("audit", ref("dup-layer"), stderr=tty)
    assert "\r\x1b[K" in tty.getvalue()  # the progress line, cleared before the summary
    assert tty.getvalue().endswith("0 failed in " + tty.getvalue().rsplit(" in ", 1)[1])
    plain = run("audit", ref("dup-layer"))
    assert "\r" not in plain.err
    assert "\x1b" not in plain.err
    assert result.status == plain.status == 0


def test_audit_without_input_on_a_terminal_is_usage(registry: list[FakeRegistry]) -> None:
    assert_error(run("audit", stdin=TTY()), ExitStatus.USAGE, "no references")


def test_audit_timeout_is_per_reference(registry: list[FakeRegistry]) -> None:
    # another host: the first request to a host holds back the others to that host
    result = run("audit", "--timeout", "0.05", "slow.test/slow/never:v1", ref("dup-layer"))
    slow, fine = (json.loads(line) for line in result.lines)
    assert slow["error"] == {
        "kind": "Timeout",
        "message": "timed out after 0.05 s",
        "exitCode": 8,
    }
    assert fine["ok"] is True
    assert result.status == ExitStatus.REGISTRY


def test_audit_has_a_default_timeout_per_reference(
    registry: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_run, "DEFAULT_REFERENCE_TIMEOUT", 0.05)
    result = run("audit", "slow.test/slow/never:v1", ref("dup-layer"))
    slow, fine = (json.loads(line) for line in result.lines)
    assert slow["error"]["message"] == "timed out after 0.05 s"
    assert fine["ok"] is True
    assert result.status == ExitStatus.REGISTRY


class CountingInput(io.StringIO):
    """stdin that counts the lines read from it."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.read_lines = 0

    def readline(self, size: int | None = -1, /) -> str:  # type: ignore[override]
        line = super().readline(-1 if size is None else size)
        self.read_lines += bool(line)
        return line


class WindowOutput(io.StringIO):
    """stdout that records, at each record written, how many input lines were read but unwritten."""

    def __init__(self, source: CountingInput) -> None:
        super().__init__()
        self.source = source
        self.written = 0
        self.held: list[int] = []

    def write(self, text: str, /) -> int:
        self.written += text.count("\n")
        self.held.append(self.source.read_lines - self.written)
        return super().write(text)


JOBS = 3
WINDOW = 4 * JOBS  # the reorder window: references started but not yet written


def _hold_the_first_reference(
    monkeypatch: pytest.MonkeyPatch, started: list[int]
) -> dict[str, int]:
    """Hold the first reference until the window is full behind it, and every resolve until
    ``--jobs`` of them run at once; count the references started (entered) in ``started``."""
    running = {"now": 0, "most": 0, "done": 0}
    full = anyio.Event()  # set once --jobs resolves run at once
    piled = anyio.Event()  # set once the window behind the first reference has filled
    original_resolve = FakeRegistry.resolve
    original_audit_one = audit_run._audit_one

    async def resolve(self: FakeRegistry, reference: Reference) -> Descriptor:
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
        if running["now"] == JOBS:
            full.set()
        try:
            with anyio.move_on_after(10):  # fail, not hang, if fewer than --jobs ever run at once
                await full.wait()
            if reference.domain == "h0.test":
                with anyio.move_on_after(10):  # fail, not hang, if the window never fills
                    await piled.wait()
            return await original_resolve(self, reference)
        finally:
            running["now"] -= 1

    async def audit_one(*args: Any, **kwargs: Any) -> dict[str, Any]:
        started.append(1)
        record = await original_audit_one(*args, **kwargs)
        running["done"] += 1
        if running["done"] == WINDOW - 1:  # all but the first: the window is full
            piled.set()
        return record

    monkeypatch.setattr(FakeRegistry, "resolve", resolve)
    monkeypatch.setattr(audit_run, "_audit_one", audit_one)
    return running


def _audit_input() -> CountingInput:
    names = ["oci-index", "docker-list", "nested", "dup-layer"] * 30
    # A host each: the first request to a host holds back the others to it (Session._first_contact)
    return CountingInput(
        "".join(f"h{i}.test/{image(n).repository}:v1\n" for i, n in enumerate(names))
    )


def test_audit_bounds_concurrency_and_its_reorder_window(
    registry: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--jobs resolves at once, never more; references started but not written never exceed the
    window (4 x --jobs), and a slow first reference fills it exactly."""
    started: list[int] = []
    running = _hold_the_first_reference(monkeypatch, started)
    source = _audit_input()
    unwritten: list[int] = []

    class Output(io.StringIO):
        written = 0

        def write(self, text: str, /) -> int:
            unwritten.append(len(started) - self.written)
            self.written += text.count("\n")
            return super().write(text)

    out = Output()
    status = main(["audit", "--jobs", str(JOBS)], stdout=out, stderr=io.StringIO(), stdin=source)
    assert status == 0
    assert out.written == source.read_lines == 120
    assert running["most"] == JOBS
    assert max(unwritten) == WINDOW  # reached behind the slow first reference, never passed


def test_audit_reads_at_most_read_ahead_beyond_the_window(
    registry: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    """References read but not written stay within READ_AHEAD plus the window (and the two in
    hand: the reader's, waiting for room, and the dispatcher's, waiting for the window)."""
    read_ahead = 5
    monkeypatch.setattr(audit_run, "READ_AHEAD", read_ahead)
    _hold_the_first_reference(monkeypatch, [])
    source = _audit_input()
    out = WindowOutput(source)
    status = main(["audit", "--jobs", str(JOBS)], stdout=out, stderr=io.StringIO(), stdin=source)
    assert status == 0
    assert out.written == 120
    bound = read_ahead + WINDOW + 2  # 19 of the 120 lines, whatever the timing
    assert max(held + 1 for held in out.held) <= bound  # held counts the record being written


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_runs_on_both_event_loops(
    registry: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv("REGIMAGE_BACKEND", backend)
    assert run("digest", ref("nested")).out == f"{image('nested').digest}\n"
    result = run("audit", "--jobs", "2", ref("nested"), ref("attested"), ref("oci-index", "nope"))
    assert [json.loads(line)["ok"] for line in result.lines] == [True, True, False]
    assert result.status == ExitStatus.NOT_FOUND


def test_audit_password_stdin_conflicts_with_stdin_input(registry: list[FakeRegistry]) -> None:
    result = run("audit", "--username", USER, "--password-stdin", stdin=ref("secret"))
    assert_error(result, ExitStatus.USAGE, "--password-stdin")


# ── options ───────────────────────────────────────────────────────────────────────────────────────


def test_credentials_from_password_stdin(registry: list[FakeRegistry]) -> None:
    result = run(
        "digest", "--username", USER, "--password-stdin", ref("secret"), stdin=PASSWORD + "\n"
    )
    assert result.out == f"{SECRET.digest}\n"
    assert registry[0].options.password == PASSWORD
    assert PASSWORD not in repr(registry[0].options)


def test_credentials_from_environment(
    registry: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGIMAGE_USERNAME", USER)
    monkeypatch.setenv("REGIMAGE_PASSWORD", PASSWORD)
    assert run("digest", ref("secret")).out == f"{SECRET.digest}\n"


def test_username_without_password_is_usage(registry: list[FakeRegistry]) -> None:
    assert_error(run("digest", "--username", USER, ref("secret")), ExitStatus.USAGE, "password")


def test_there_is_no_password_flag(registry: list[FakeRegistry]) -> None:
    result = run("digest", "--password", PASSWORD, ref("secret"))
    assert result.status == ExitStatus.USAGE
    assert PASSWORD not in result.err or "unrecognized arguments" in result.err


def test_options_before_or_after_the_command(registry: list[FakeRegistry]) -> None:
    before = run("--insecure", "--timeout", "30", "digest", ref("nested"))
    after = run("digest", "--insecure", "--timeout", "30", ref("nested"))
    assert before.out == after.out == f"{image('nested').digest}\n"
    assert [r.options.insecure for r in registry] == [True, True]
    assert [r.options.timeout for r in registry] == [30.0, 30.0]


def test_insecure_warns_loudly(registry: list[FakeRegistry]) -> None:
    result = run("digest", "--insecure", ref("nested"))
    assert result.status == 0
    assert result.err.startswith("regimage: warning: --insecure")
    quiet = run("digest", ref("nested"))
    assert quiet.err == ""
    assert registry[-1].options.insecure is False


def test_plain_http_warns_loudly(registry: list[FakeRegistry]) -> None:
    result = run("digest", "--plain-http", ref("nested"))
    assert result.status == 0
    assert result.err.startswith("regimage: warning: --plain-http: no TLS")
    assert (registry[0].options.plain_http, registry[0].options.insecure) == (True, False)


def test_library_hints_are_not_repeated(
    registry: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    exc = NetworkError("TLS to registry.test failed: pass --ca-file with the registry's CA")
    result = run("size", fail(monkeypatch, "tls/bad", exc))
    assert_error(result, ExitStatus.REGISTRY, "--ca-file")
    assert "—" not in result.err


def test_ca_file_reaches_the_registry(registry: list[FakeRegistry], tmp_path: Path) -> None:
    ca_file = str(create_pki(tmp_path).ca_file)  # a real PEM file: a bad one is a usage error
    run("digest", "--ca-file", ca_file, ref("nested"))
    assert registry[0].options.ca_file == ca_file


def test_verbose_traces_on_stderr(registry: list[FakeRegistry]) -> None:
    loud = run("-v", "digest", ref("nested"))
    assert f"resolving {ref('nested')}" in loud.err
    assert loud.out == f"{image('nested').digest}\n"
    quiet = run("digest", ref("nested"))
    assert quiet.err == ""
    assert not logging.getLogger("regimage").handlers  # removed after the run


def test_debug_shows_the_traceback(registry: list[FakeRegistry]) -> None:
    result = run("--debug", "digest", ref("nested", "missing"))
    assert result.status == ExitStatus.NOT_FOUND
    assert "Traceback (most recent call last)" in result.err
    assert result.err.splitlines()[-1].startswith("regimage: error: ")


def test_version(registry: list[FakeRegistry]) -> None:
    from regimage._version import __version__

    result = run("--version")
    assert (result.status, result.out) == (0, f"regimage {__version__}\n")


def test_version_and_help_import_neither_httpx_nor_anyio() -> None:
    code = (
        "import io\n"
        "from regimage.cli.core import main\n"
        "for argv in (['--version'], ['--help'], ['size', '--help'], ['audit', '--help']):\n"
        "    assert main(argv, stdout=io.StringIO()) == 0\n"
    )
    assert imported_by(code, "httpx", "anyio", "httpcore") == []


COMMANDS = [
    "size",
    "config",
    "rootfs",
    "diff-ids",
    "chain-ids",
    "manifest",
    "digest",
    "platforms",
    "inspect",
    "tags",
    "referrers",
    "audit",
]


#: The commands whose answer holds a size: their help says what size means (issue #17: only they).
SIZED = ("size", "inspect")


def help_text(*argv: str) -> str:
    result = run(*argv, "--help")
    assert result.status == 0
    return " ".join(result.out.split())


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_an_example_and_the_shared_options(command: str) -> None:
    text = help_text(command)
    assert "example: regimage " in text
    for option in ("--timeout", "--insecure", "--password-stdin", "--debug"):
        assert option in text


@pytest.mark.parametrize("command", SIZED)
def test_the_help_of_a_command_that_prints_a_size_says_what_size_means(command: str) -> None:
    text = help_text(command)
    assert "size is what a pull of one platform transfers" in text
    assert "the distinct total" in text


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in SIZED])
def test_the_other_commands_help_carries_no_notes_about_size(command: str) -> None:
    text = help_text(command)
    assert "--all-platforms lists" not in text
    assert "the distinct total" not in text
    assert "a layer listed twice counts twice" not in text


def test_audit_help_says_what_the_audit_does() -> None:
    text = help_text("audit")
    for part in ("one record, in input order", "# comments", "most severe failure's code"):
        assert part in text
    assert "what a pull of one platform transfers, as regimage size reports it" in text


def test_main_help_lists_commands_and_exit_codes() -> None:
    result = run("--help")
    text = " ".join(result.out.split())
    for command in COMMANDS:
        assert command in text
    assert "130 interrupted" in text
    assert "examples:" in text


# ── exit codes: one test each ─────────────────────────────────────────────────────────────────────


def test_exit_table_lists_subclasses_first() -> None:
    classes = [cls for cls, _ in EXIT_CODES]
    for i, earlier in enumerate(classes):
        for later in classes[i + 1 :]:
            assert not issubclass(later, earlier), (
                f"{later.__name__} is shadowed by {earlier.__name__}"
            )


def test_exit_0_ok(registry: list[FakeRegistry]) -> None:
    result = run("digest", ref("oci-single"))
    assert (result.status, result.err) == (ExitStatus.OK, "")


def test_exit_1_unexpected(registry: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch) -> None:
    reference = fail(monkeypatch, "bug/here", RuntimeError("boom"))
    assert_error(
        run("size", reference), ExitStatus.ERROR, "unexpected RuntimeError: boom", "--debug"
    )


@pytest.mark.parametrize(
    ("argv", "part"),
    [
        (["size"], "the following arguments are required: REF"),
        (["frobnicate", "x"], "invalid choice"),
        (["audit", "--jobs", "0", "x"], "must be at least 1"),
        (["size", "--timeout", "-1", "x"], "positive number of seconds"),
    ],
)
def test_exit_2_usage_from_argparse(argv: list[str], part: str) -> None:
    result = run(*argv)
    assert result.status == ExitStatus.USAGE
    assert result.raw == b""
    assert part in result.err


def test_exit_2_usage_bad_platform(registry: list[FakeRegistry]) -> None:
    result = run("size", "--platform", "linux/", ref("oci-index"))
    assert_error(result, ExitStatus.USAGE, "os/arch[/variant]")


def test_exit_3_invalid_reference(registry: list[FakeRegistry]) -> None:
    assert_error(run("size", "UPPER/Case:tag"), ExitStatus.INVALID_REFERENCE, "'Case'", "lowercase")
    assert registry == []  # refused before any registry is opened


def test_exit_3_invalid_digest(registry: list[FakeRegistry]) -> None:
    result = run("digest", f"{HOST}/public/nested@sha256:abc")
    assert_error(result, ExitStatus.INVALID_REFERENCE)


def test_exit_4_not_found(registry: list[FakeRegistry]) -> None:
    result = run("size", ref("oci-index", "nope"))
    assert_error(result, ExitStatus.NOT_FOUND, "nope", "regimage tags")


def test_exit_4_no_matching_platform(registry: list[FakeRegistry]) -> None:
    result = run("size", "--platform", "linux/ppc64le", ref("docker-list"))
    assert_error(result, ExitStatus.NOT_FOUND, "linux/amd64", "linux/arm64", "--platform")


def test_exit_5_auth(registry: list[FakeRegistry]) -> None:
    result = run("config", ref("secret"))
    assert_error(result, ExitStatus.AUTH, "401", "--password-stdin")


def test_exit_6_digest_mismatch(
    registry: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    exc = DigestMismatch(
        "manifest bytes hash to sha256:bbb, not sha256:aaa", expected="a", actual="b"
    )
    assert_error(
        run("size", fail(monkeypatch, "bad/bytes", exc)), ExitStatus.MISMATCH, "sha256:bbb"
    )


def test_exit_7_not_an_image(registry: list[FakeRegistry]) -> None:
    result = run("rootfs", ref("artifact"))
    assert_error(result, ExitStatus.UNSUPPORTED, "artifact", "regimage manifest")


def test_exit_7_unsupported_media_type(
    registry: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    exc = UnsupportedMediaType("legacy schema1 manifest", media_type="application/json")
    assert_error(
        run("digest", fail(monkeypatch, "old/one", exc)), ExitStatus.UNSUPPORTED, "schema1"
    )


def test_exit_8_network(registry: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch) -> None:
    exc = NetworkError("cannot connect to registry.test:443: connection refused")
    result = run("size", fail(monkeypatch, "down/here", exc))
    assert_error(result, ExitStatus.REGISTRY, "connection refused", "--plain-http")


def test_exit_8_rate_limited(registry: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch) -> None:
    exc = RateLimited("too many requests (429)", retry_after=30)
    result = run("size", fail(monkeypatch, "busy/one", exc))
    assert_error(result, ExitStatus.REGISTRY, "429", "wait 30 s")


def test_exit_8_timeout(registry: list[FakeRegistry]) -> None:
    result = run("size", "--timeout", "0.05", f"{HOST}/slow/never:v1")
    assert_error(result, ExitStatus.REGISTRY, "timed out after 0.05 s", "--timeout")


def test_exit_130_interrupted(
    registry: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run("size", fail(monkeypatch, "ctrl/c", KeyboardInterrupt()))
    assert_error(result, ExitStatus.INTERRUPTED, "interrupted")


def test_exception_groups_report_the_most_severe(
    registry: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def raise_(exc: Exception) -> None:
        raise exc

    async def resolve(self: FakeRegistry, reference: Reference) -> Descriptor:
        async with anyio.create_task_group() as tg:  # raises an ExceptionGroup of the three
            tg.start_soon(raise_, NotFound("tag gone"))
            tg.start_soon(raise_, NetworkError("connection reset"))
            tg.start_soon(raise_, NotFound("other tag gone"))
        raise AssertionError("unreachable")

    monkeypatch.setattr(FakeRegistry, "resolve", resolve)
    result = run("size", ref("nested"))
    assert_error(result, ExitStatus.REGISTRY, "connection reset")


def test_base_error_class_has_a_code(
    registry: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    exc = RegImageError("cannot list referrers: this provider does not support the referrers API")
    result = run("referrers", fail(monkeypatch, "no/referrers", exc))
    assert_error(result, ExitStatus.ERROR, "referrers API", "-v")


def test_console_script_entry_point() -> None:
    """``python -m regimage`` and the console script both end in main()'s status."""
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    result = subprocess.run(
        [sys.executable, "-m", "regimage", "size", "Bad Reference"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == ExitStatus.INVALID_REFERENCE
    assert result.stdout == ""
    assert result.stderr.startswith("regimage: error: ")
    assert len(result.stderr.splitlines()) == 1


def commands_of(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Name (aliases included) → parser, of the commands ``parser`` defines."""
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subparsers.choices)


def command_names() -> list[str]:
    return sorted(commands_of(_cli_parser.build_parser()))


@pytest.mark.parametrize("name", command_names())
def test_the_parser_built_for_one_command_parses_and_helps_as_the_whole_one(name: str) -> None:
    """build_parser(first argument) defines only that command: the same help, the same
    answers, the same errors."""
    whole, alone = _cli_parser.build_parser(), _cli_parser.build_parser(name)
    defined = commands_of(alone)
    assert name in defined
    assert len(set(map(id, defined.values()))) == 1  # that command (and its aliases) alone

    def outcome(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[object, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                parsed: object = vars(parser.parse_args(argv))
            except SystemExit as exc:
                parsed = exc.code
        return parsed, out.getvalue(), err.getvalue()

    for argv in (
        [name, "--help"],
        [name],
        [name, "alpine:3.20"],
        [name, "--json", "-v", "--timeout", "5", "alpine:3.20", "busybox"],
        [name, "--no-such-option", "x"],
    ):
        assert outcome(alone, argv) == outcome(whole, argv), argv


def test_a_first_argument_that_names_no_command_gets_the_whole_parser() -> None:
    whole = _cli_parser.build_parser().format_help()
    for first in ("--help", "-v", "sizes", "alpine:3.20"):
        assert _cli_parser.build_parser(first).format_help() == whole


def test_the_collector_waits_for_the_start_up_and_runs_for_the_command(
    registry: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    """run() pauses the cyclic collector for the imports; opening the registry client resumes
    it (what start-up made is frozen), so that a long audit still collects its cycles."""
    seen: list[bool] = []
    original = FakeRegistry.__init__

    def opened(self: FakeRegistry, options: Options) -> None:
        seen.append(gc.isenabled())
        original(self, options)

    monkeypatch.setattr(FakeRegistry, "__init__", opened)
    try:
        collector.pause()
        assert not gc.isenabled()
        result = run("size", ref("oci-single"))
        assert result.status == ExitStatus.OK, result.err
        assert seen == [False]  # paused until the registry client was opened...
        assert gc.isenabled()  # ...and running from then on
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.enable()
    assert run("size", ref("oci-single")).status == ExitStatus.OK  # main() alone: untouched
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_the_console_script_writes_everything_before_it_leaves() -> None:
    """run() exits with main()'s status, and what main() wrote is written first, whole."""
    expected = io.StringIO()
    assert main(["--help"], stdout=expected) == ExitStatus.OK
    result = subprocess.run(
        [sys.executable, "-m", "regimage", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == ExitStatus.OK
    assert result.stdout == expected.getvalue()
    assert result.stderr == ""


@pytest.mark.parametrize("unbuffered", [False, True])
def test_the_console_script_reports_a_reader_that_left(unbuffered: bool) -> None:
    """Its output's reader gone (``regimage … | true``): status 141 (128 + SIGPIPE, the rule of
    regimage.cli.streams), and nothing on stderr: no traceback, no "Exception ignored". Output
    buffered (as by default: the failure comes when it is flushed) or not (at the write)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        [sys.executable, "-m", "regimage", "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()  # before the interpreter has even started
    try:
        assert process.wait(timeout=60) == ExitStatus.BROKEN_PIPE
        assert process.stderr.read() == b""
    finally:
        process.stderr.close()


# ── standard streams and messages (issue #17: one rule for every command) ─────────────────────────


class Failing(io.TextIOWrapper):
    """A stdout (or stderr) whose every write fails with ``error``, text or binary."""

    def __init__(self, error: OSError) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", write_through=True)
        self.error = error

    def write(self, text: str, /) -> int:
        raise self.error

    @property
    def buffer(self) -> Any:
        error = self.error

        class Buffer(io.BytesIO):
            def write(self, data: Any, /) -> int:
                raise error

        return Buffer()


def enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def stream_commands(layout: Path) -> list[list[str]]:
    """A command of each kind of output: text, JSON, raw bytes, help, version, audit records."""
    return [
        ["tags", f"oci:{layout}"],
        ["size", "--json", f"oci:{layout}:many-layers"],
        ["manifest", f"oci:{layout}:many-layers"],
        ["--help"],
        ["audit", "--help"],
        ["--version"],
        ["audit", f"oci:{layout}:many-layers", f"oci:{layout}:oci-index"],
    ]


def test_a_stdout_that_cannot_be_written_is_one_error_line_for_every_command(
    layout: Path,
) -> None:
    for argv in stream_commands(layout):
        err = io.StringIO()
        status = main(argv, stdout=Failing(enospc()), stderr=err, stdin=io.StringIO())
        assert (status, err.getvalue()) == (
            ExitStatus.ERROR,
            "regimage: error: cannot write to standard output: No space left on device\n",
        ), argv


def test_a_reader_that_left_ends_every_command_quietly(layout: Path) -> None:
    for argv in stream_commands(layout):
        err = io.StringIO()
        status = main(argv, stdout=Failing(BrokenPipeError(errno.EPIPE, "Broken pipe")), stderr=err)
        assert (status, err.getvalue()) == (ExitStatus.BROKEN_PIPE, ""), argv


def test_other_os_errors_are_not_taken_for_stdout(
    registry: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run("size", fail(monkeypatch, "disk/full", enospc()))
    assert_error(result, ExitStatus.ERROR, "unexpected OSError", "this is a bug")


def test_a_stderr_that_cannot_be_written_keeps_the_exit_status(layout: Path) -> None:
    for error in (enospc(), BrokenPipeError(errno.EPIPE, "Broken pipe")):
        out = io.StringIO()
        missing = main(["size", f"oci:{layout}:nope"], stdout=out, stderr=Failing(error))
        assert missing == ExitStatus.NOT_FOUND
        warned = main(
            ["--insecure", "digest", f"oci:{layout}:many-layers"], stdout=out, stderr=Failing(error)
        )
        assert warned == ExitStatus.OK
        assert main(["size", "--frobnicate"], stdout=out, stderr=Failing(error)) == ExitStatus.USAGE
        assert out.getvalue() == f"{image('many-layers').digest}\n"
        out.truncate(0)


def test_closed_standard_streams_in_process(layout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python sets sys.stdout, sys.stderr and sys.stdin to None when the process started with
    them closed: stdout then fails as EBADF when written, stderr drops, stdin reads as empty."""
    monkeypatch.setattr(sys, "stdout", None)
    err = io.StringIO()
    assert main(["tags", f"oci:{layout}"], stderr=err) == ExitStatus.ERROR
    assert (
        err.getvalue() == "regimage: error: cannot write to standard output: Bad file descriptor\n"
    )
    assert main(["size", f"oci:{layout}:nope"], stderr=err) == ExitStatus.NOT_FOUND  # no write
    monkeypatch.setattr(sys, "stderr", None)
    assert main(["size", f"oci:{layout}:nope"]) == ExitStatus.NOT_FOUND
    monkeypatch.setattr(sys, "stdin", None)
    err = io.StringIO()
    argv = ["--username", "u", "--password-stdin", "tags", f"oci:{layout}"]
    assert main(argv, stdout=io.StringIO(), stderr=err) == ExitStatus.USAGE
    assert err.getvalue().startswith("regimage: error: --password-stdin read an empty password")


def test_library_warnings_are_prefixed_lines_on_the_console(
    registry: list[FakeRegistry],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What the library logs as a warning reaches the command's stderr as the command line's own
    warnings do: prefixed, one line even when the text holds a line break (a path, a header)."""
    resolve = FakeRegistry.resolve

    async def warning_resolve(self: FakeRegistry, reference: Reference) -> Descriptor:
        logging.getLogger("regimage").warning("ignoring %s: not valid JSON", "/home/u/a\nb.json")
        return await resolve(self, reference)

    monkeypatch.setattr(FakeRegistry, "resolve", warning_resolve)
    result = run("digest", ref("nested"))
    assert result.status == ExitStatus.OK
    assert result.err == "regimage: warning: ignoring /home/u/a b.json: not valid JSON\n"
    loud = run("-v", "digest", ref("nested"))
    assert "regimage: warning: ignoring /home/u/a b.json: not valid JSON\n" in loud.err
    assert capsys.readouterr().err == ""  # not Python's bare last-resort line on sys.stderr
    assert not logging.getLogger("regimage").handlers  # removed after the run


def test_every_warning_is_one_prefixed_line(registry: list[FakeRegistry]) -> None:
    result = run("--insecure", "--plain-http", "digest", ref("nested"))
    lines = result.err.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("regimage: warning: --") for line in lines)
    stderr = io.StringIO()
    cli_session.Console(io.StringIO(), stderr, io.StringIO()).warn("two\r\n  lines\x1b[2J\n")
    assert stderr.getvalue() == "regimage: warning: two lines\\x1b[2J\n"  # escaped: no clear


def test_the_plain_http_warning_does_not_say_passwords_go_in_the_clear(
    registry: list[FakeRegistry],
) -> None:
    result = run("--plain-http", "digest", ref("nested"))
    assert "credentials included" not in result.err
    assert "loopback registries only" in result.err


def test_not_found_advice_fits_the_command_and_the_source(
    registry: list[FakeRegistry], layout: Path
) -> None:
    missing = run("digest", f"{HOST}/nope/app:v1")
    assert_error(
        missing, ExitStatus.NOT_FOUND, f"list the tags with: regimage tags {HOST}/nope/app"
    )
    in_tags = run("tags", f"{HOST}/nope/app")
    assert_error(in_tags, ExitStatus.NOT_FOUND, "check the repository name")
    assert "regimage tags" not in in_tags.err
    oci = run("size", f"oci:{layout}:nope")
    assert_error(oci, ExitStatus.NOT_FOUND, f"list its tags with: regimage tags oci:{layout}")
    assert "REPO" not in oci.err
    nowhere = run("tags", f"oci:{layout}/nowhere")
    assert_error(nowhere, ExitStatus.NOT_FOUND, "check the layout directory")
    assert "regimage tags" not in nowhere.err


@pytest.fixture
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME for the real credential store and disk cache (no fake registry)."""
    for name in ("REGIMAGE_USERNAME", "REGIMAGE_PASSWORD", "REGISTRY_AUTH_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    (tmp_path / "docker").mkdir()
    return tmp_path


def _not_found(request: ScriptedRequest) -> Reply:
    body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
    return Reply(404, {"Content-Type": "application/json"}, body)


def test_credential_file_warnings_are_prefixed_and_said_once(
    own_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A credential helper that is not on PATH, an auth file that is not JSON: one prefixed
    warning line each, on the command's stderr, for a whole audit of several repositories."""
    helper = "regimage-test-nowhere\nstill the name"  # a line break in the name: still one line
    (own_home / "docker" / "config.json").write_text(json.dumps({"credsStore": helper}))
    (own_home / "broken.json").write_text("{not json")
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(own_home / "broken.json"))
    with ScriptedServer(_not_found) as server:
        refs = [server.ref("a:v1"), server.ref("b:v1"), server.ref("c/d:v1")]
        result = run("audit", *refs)
    assert result.status == ExitStatus.NOT_FOUND
    warnings = [line for line in result.err.splitlines() if "warning" in line]
    assert warnings == [
        f"regimage: warning: ignoring {own_home / 'broken.json'}: not valid JSON",
        "regimage: warning: credential helper docker-credential-regimage-test-nowhere still the "
        f"name (named in {own_home / 'docker' / 'config.json'}) is not on PATH; continuing "
        "without it",
    ]


def test_credentials_withheld_over_plain_http_are_said_to_be(
    own_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--password-stdin to a plain-HTTP registry that is not loopback (``registry.example``, which
    the test's resolver sends to 127.0.0.1): the password is not sent, and the error says so
    instead of "no credentials were found"."""
    connect_tcp = anyio.connect_tcp

    async def resolve(host: str, port: int, **kwargs: Any) -> Any:  # the test's DNS
        return await connect_tcp(
            "127.0.0.1" if host == "registry.example" else host, port, **kwargs
        )

    monkeypatch.setattr(anyio, "connect_tcp", resolve)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)

    def basic(request: ScriptedRequest) -> Reply:
        body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
        return Reply(401, {"WWW-Authenticate": 'Basic realm="lab"'}, body)

    with ScriptedServer(basic) as server:
        host = server.host.replace("127.0.0.1", "registry.example")
        argv = ["--plain-http", "--username", "u", "--password-stdin"]
        result = run(*argv, "digest", f"{host}/app:v1", stdin="pw\n")
        audited = run(*argv, "audit", f"{host}/app:v1", f"{host}/other:v1", stdin="pw\n")
        sent = [r.authorization for r in server.requests]
    assert sent == [None] * len(sent)
    lines = result.err.splitlines()
    assert result.status == ExitStatus.AUTH
    assert lines[1] == (
        f"regimage: warning: not sending credentials for {host} over plain HTTP to a non-loopback "
        "host"
    )
    assert lines[2].startswith("regimage: error: ")
    assert f"the credentials for {host} were not sent" in lines[2]
    assert "no credentials were found" not in result.err
    assert "log in with" not in lines[2]
    assert audited.err.count("not sending credentials") == 1  # once per host, not per request
    assert all("were not sent" in line for line in audited.lines)


# ── OCI image layouts (the real OCILayout, no fake) ───────────────────────────────────────────────

LAYOUT_IMAGES = ("oci-index", "docker-list", "many-layers")


def _root_node(name: str) -> b.Node:
    plan = next(p for p in CORPUS.plans if p.repository == f"public/{name}")
    return next(push.root for push in plan.pushes if image(name).tag in push.tags)


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """An OCI layout holding three corpus images, named by their corpus name."""
    return write_layout(tmp_path)


def write_layout(tmp_path: Path) -> Path:
    """Write the OCI layout of :func:`layout` into the directory ``tmp_path``."""
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}', encoding="utf-8")
    blobs = tmp_path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    entries = []
    for name in LAYOUT_IMAGES:
        root = _root_node(name)
        for node in _nodes(root):
            blobs.joinpath(node.doc.digest[7:]).write_bytes(node.doc.data)
            if isinstance(node, b.ImageManifest):
                blobs.joinpath(node.config.digest[7:]).write_bytes(node.config.data)
        entries.append(root.doc.descriptor(annotations={"org.opencontainers.image.ref.name": name}))
    index = {"schemaVersion": 2, "mediaType": b.OCI_INDEX, "manifests": entries}
    (tmp_path / "index.json").write_text(json.dumps(index), encoding="utf-8")
    return tmp_path


def test_layout_size_and_rootfs(layout: Path) -> None:
    expected = image("oci-index").default
    document = run("size", "--json", f"oci:{layout}:oci-index").json
    assert document["reference"] == f"oci:{layout}:oci-index"
    assert (document["size"], document["manifestDigest"]) == (
        expected.size,
        expected.manifest_digest,
    )
    arm64 = image("docker-list").platforms["linux/arm64"]
    result = run("rootfs", "--platform", "linux/arm64", f"oci:{layout}:docker-list")
    assert result.lines == list(arm64.diff_ids)


def test_layout_tags_and_digest(layout: Path) -> None:
    assert run("tags", f"oci:{layout}").lines == sorted(LAYOUT_IMAGES)
    expected = image("many-layers")
    result = run("digest", f"oci:{layout}@{expected.digest}")
    assert result.out == f"{expected.digest}\n"


def test_layout_missing_tag(layout: Path) -> None:
    result = run("size", f"oci:{layout}:nope")
    assert_error(result, ExitStatus.NOT_FOUND, "nope", "oci-index")


def test_layout_in_audit(layout: Path, registry: list[FakeRegistry]) -> None:
    result = run("audit", f"oci:{layout}:many-layers", ref("nested"), f"oci:{tmp_missing(layout)}")
    records = [json.loads(line) for line in result.lines]
    assert records[0]["size"] == image("many-layers").default.size
    assert records[1]["digest"] == image("nested").digest
    assert records[2]["ok"] is False
    assert records[2]["error"]["exitCode"] == ExitStatus.NOT_FOUND


def tmp_missing(layout: Path) -> Path:
    return layout / "not-a-layout"


def test_audit_names_its_first_reference_without_consuming_input(tmp_path: Any) -> None:
    """The registry connection opened at start-up (regimage.cli.preconnect) is the first reference's:
    from the arguments, or the first line of a regular file; never from a pipe or stdin."""
    listed = tmp_path / "refs.txt"
    listed.write_text("# audit\n\n  ghcr.io/acme/api:1.4  # the API\nquay.io/x/y:1\n")
    assert first_reference(argparse.Namespace(refs=[], file=str(listed))) == "ghcr.io/acme/api:1.4"
    assert first_reference(argparse.Namespace(refs=[" ", "a/b:c"], file=str(listed))) == "a/b:c"
    assert first_reference(argparse.Namespace(refs=[], file="-")) is None
    assert first_reference(argparse.Namespace(refs=[], file=None)) is None
    assert first_reference(argparse.Namespace(refs=[], file=str(tmp_path / "none"))) is None
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert first_reference(argparse.Namespace(refs=[], file=str(fifo))) is None  # not opened


def test_version_imports_neither_argparse_nor_dataclasses() -> None:
    """``regimage --version`` loads only what it prints with (issue #7: at most 60 ms). (typing
    comes with ``import regimage``: its type-checking imports sit under ``typing.TYPE_CHECKING``.)"""
    code = (
        "import io, sys\n"
        "from regimage.cli.core import main\n"
        "assert main(['--version'], stdout=io.StringIO()) == 0\n"
        "heavy = ('dataclasses', 'inspect', 'argparse', 'logging', 'json', 'pathlib', 'socket',\n"
        "         'ssl', 'threading', 'h11', 'httpx', 'anyio')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout == "[]\n", out.stderr
