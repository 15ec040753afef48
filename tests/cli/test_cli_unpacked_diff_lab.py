"""``size --unpacked`` and ``diff``, run in process against the registry lab: the answers are the
lab's (the true tar sizes it built; the layers and configs it pushed), and for the configs also
skopeo's (``inspect --config --raw`` of both images)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import pytest

from regimage.cli.core import main
from regimage.cli.output import human_size
from regimage.cli.status import ExitStatus
from tests.lab import skopeo
from tests.lab.lab import Lab

pytestmark = pytest.mark.integration


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
    status = main(["--no-cache", *argv], stdout=stdout, stderr=stderr, stdin=io.StringIO())
    return Result(status, stdout.getvalue(), stderr.getvalue())


def ref(lab: Lab, name: str) -> str:
    return lab.anonymous.ref(lab.corpus[name].reference)


def one_error(result: Result, status: ExitStatus, text: str) -> None:
    assert result.status == status, result.err
    assert result.out == ""
    [line] = result.err.splitlines()
    assert line.startswith("regimage: error: ")
    assert text in line


# ── size --unpacked ────────────────────────────────────────────────────────────────────────────────


def test_size_unpacked_says_it_is_an_estimate(lab: Lab) -> None:
    want = lab.corpus["zstd"].default
    total = sum(x.unpacked_size or 0 for x in want.layers)
    result = run("size", "--unpacked", ref(lab, "zstd"))
    assert (result.status, result.err) == (0, "")
    # a single manifest: its platform is in its config, which size does not read
    assert result.out == f"about {human_size(total)} ({total:,} bytes) unpacked (4 layers)\n"
    index = run("size", "--unpacked", "--platform", "linux/arm64", ref(lab, "family-index"))
    want_arm64 = lab.corpus["family-index"].platforms["linux/arm64"]
    arm64 = sum(x.unpacked_size or 0 for x in want_arm64.layers)
    assert index.out == (
        f"about {human_size(arm64)} ({arm64:,} bytes) unpacked for linux/arm64 (3 layers)\n"
    )
    assert run("size", "--unpacked", "--bytes", ref(lab, "zstd")).out == f"{total}\n"


def test_size_unpacked_json(lab: Lab) -> None:
    expected = lab.corpus["unpacked-estimates"]
    want = expected.default
    document = run("size", "--unpacked", "--json", ref(lab, "unpacked-estimates")).json
    assert document["schema"] == 1
    assert (document["size"], document["manifestDigest"]) == (want.size, want.manifest_digest)
    unpacked = document["unpacked"]
    assert [x["status"] for x in unpacked["layers"]] == [
        "estimate",
        "untrusted",
        "unknown",
        "untrusted",
        "exact",
    ]
    assert [x["digest"] for x in unpacked["layers"]] == [x.digest for x in want.layers]
    assert unpacked["layers"][0]["unpackedSize"] == want.layers[0].unpacked_size
    assert unpacked["layers"][2]["unpackedSize"] is None
    assert unpacked["layers"][2]["note"] == "the zstd frame does not state its content size"
    assert unpacked["layers"][0]["note"] is None
    assert {k: unpacked[k] for k in unpacked if k != "layers"} == {
        "size": (want.layers[0].unpacked_size or 0) + (want.layers[4].unpacked_size or 0),
        "compressedSize": want.breakdown["layers"],
        "exact": False,
        "complete": False,
        "unknownLayers": 1,
        "untrustedLayers": 2,
    }
    assert set(unpacked["layers"][0]) == {
        "digest",
        "mediaType",
        "size",
        "unpackedSize",
        "status",
        "method",
        "note",
    }


def test_size_unpacked_breakdown_warns_about_what_it_cannot_tell(lab: Lab) -> None:
    want = lab.corpus["unpacked-estimates"].default
    result = run("size", "--unpacked", "--breakdown", ref(lab, "unpacked-estimates"))
    assert result.status == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["LAYER", "COMPRESSED", "UNPACKED", "HOW"]
    assert lines[1].split()[0] == want.layers[0].digest
    assert lines[1].split()[-2:] == ["estimate", "(gzip-isize)"]
    column = lines[0].index("UNPACKED")
    assert lines[3][column:].startswith("- ")  # unknown: no value
    assert lines[2][column:].startswith("(")  # untrusted: the value read, in parentheses
    assert lines[-1].startswith("total")
    assert lines[-1].endswith("2 of 5 layers; 1 unknown, 2 untrusted")
    warnings = result.err.splitlines()
    assert len(warnings) == 3
    assert all(w.startswith("regimage: warning: layer sha256:") for w in warnings)
    assert f"layer {want.layers[2].digest}: unknown: the zstd frame does not state" in result.err


def test_size_unpacked_of_an_exact_image(lab: Lab) -> None:
    result = run("size", "--unpacked", "--platform", "linux/amd64", ref(lab, "uncompressed"))
    assert result.out.startswith("about ")  # its base layer is gzip


def test_size_unpacked_usage_and_artifacts(lab: Lab) -> None:
    one_error(
        run("size", "--unpacked", "--all-platforms", ref(lab, "zstd")),
        ExitStatus.USAGE,
        "--unpacked sizes one platform",
    )
    one_error(
        run("size", "--unpacked", ref(lab, "artifact")),
        ExitStatus.UNSUPPORTED,
        "is an OCI artifact",
    )


# ── diff ───────────────────────────────────────────────────────────────────────────────────────────


def test_diff_reads_like_a_review(lab: Lab) -> None:
    old, new = lab.corpus["family-app"].default, lab.corpus["family-app-v2"].default
    result = run("diff", ref(lab, "family-app"), ref(lab, "family-app-v2"))
    assert (result.status, result.err) == (0, "")
    lines = result.out.splitlines()
    assert lines[0].split()[:2] == ["from", ref(lab, "family-app")]
    assert lines[1].split()[:2] == ["to", ref(lab, "family-app-v2")]
    text = result.out
    assert f"manifest  {old.manifest_digest} → {new.manifest_digest}" in lines
    assert f"base      2 layers in common (chain ID {old.chain_ids[1]})" in lines
    assert "layers    2 shared, 2 added, 1 removed, 0 recompressed" in lines
    assert f"  + {new.layers[2].digest}  {human_size(new.layers[2].size)}" in lines
    assert f"  - {old.layers[2].digest}  {human_size(old.layers[2].size)}" in lines
    download = new.layers[2].size + new.layers[3].size + new.config_size
    assert (
        f"download  {human_size(download)} in 3 blobs, for a host that has the first image" in lines
    )
    assert '  entrypoint: ["/usr/bin/family-app"] → ["/usr/bin/family-app", "--v2"]' in lines
    assert "  env: ~ APP_MODE: production → staging" in lines
    assert "  env: - APP_DEBUG=0" in lines
    assert "  ports: + 9090/tcp" in lines
    assert "  user: app → root" in text


def test_diff_json_agrees_with_skopeo(lab: Lab) -> None:
    registry = lab.anonymous
    a, b = lab.corpus["family-app"], lab.corpus["family-app-v2"]
    document = run("diff", "--json", ref(lab, "family-app"), ref(lab, "family-app-v2")).json
    assert document["schema"] == 1
    assert document["from"] == {
        "reference": ref(lab, "family-app"),
        "digest": a.digest,
        "mediaType": a.media_type,
    }
    assert (document["platformsAdded"], document["platformsRemoved"]) == ([], [])
    [one] = document["platforms"]
    assert one["platform"] == "linux/amd64"
    assert one["sameManifest"] is False
    assert one["from"] == {
        "manifestDigest": a.default.manifest_digest,
        "configDigest": a.default.config_digest,
        "platform": "linux/amd64",
        "size": a.default.size,
        "layerCount": 3,
    }
    assert one["sizeChange"] == b.default.size - a.default.size
    assert one["base"] == {"layers": 2, "chainID": a.default.chain_ids[1]}
    assert [x["diffID"] for x in one["layers"]["added"]] == list(b.default.diff_ids[2:])
    assert [x["digest"] for x in one["layers"]["removed"]] == [a.default.layers[2].digest]
    assert one["download"]["blobs"] == 3
    # the config changes, against the configs skopeo reads
    old = json.loads(skopeo.inspect_config(registry, a.reference))["config"]
    new = json.loads(skopeo.inspect_config(registry, b.reference))["config"]
    changed = one["config"]["changed"]
    assert changed["entrypoint"] == {"from": old["Entrypoint"], "to": new["Entrypoint"]}
    assert changed["user"] == {"from": old["User"], "to": new["User"]}
    assert changed["workingDir"] == {"from": old["WorkingDir"], "to": new["WorkingDir"]}
    assert "cmd" not in changed
    assert old["Cmd"] == new["Cmd"]
    old_env = dict(e.split("=", 1) for e in old["Env"])
    new_env = dict(e.split("=", 1) for e in new["Env"])
    assert one["config"]["env"] == {
        "added": {k: v for k, v in new_env.items() if k not in old_env},
        "removed": {k: v for k, v in old_env.items() if k not in new_env},
        "changed": {
            k: {"from": old_env[k], "to": v}
            for k, v in new_env.items()
            if k in old_env and old_env[k] != v
        },
    }
    assert one["config"]["exposedPorts"] == {
        "added": sorted(set(new["ExposedPorts"]) - set(old["ExposedPorts"])),
        "removed": [],
    }
    assert one["config"]["labels"]["changed"] == {"lab.version": {"from": "1", "to": "2"}}


def test_diff_every_platform_of_two_indexes(lab: Lab) -> None:
    result = run(
        "diff", "--all-platforms", "--json", ref(lab, "family-index"), ref(lab, "family-index-v2")
    )
    document = result.json
    assert document["platformsAdded"] == ["linux/s390x"]
    assert document["platformsRemoved"] == ["linux/arm/v7"]
    assert [p["platform"] for p in document["platforms"]] == ["linux/amd64", "linux/arm64"]
    text = run("diff", "--all-platforms", ref(lab, "family-index"), ref(lab, "family-index-v2"))
    assert "platforms added: linux/s390x" in text.out.splitlines()
    assert "linux/arm64:" in text.out.splitlines()


def test_diff_of_an_index_and_its_own_manifest(lab: Lab) -> None:
    result = run("diff", ref(lab, "family-index"), ref(lab, "family-app"))
    assert "the same manifest: nothing changes" in result.out.splitlines()
    recompressed = run("diff", ref(lab, "family-app"), ref(lab, "family-app-zstd")).out
    assert "layers    0 shared, 0 added, 0 removed, 3 recompressed" in recompressed
    assert "same content, other compression (gzip → zstd)" in recompressed
    assert "config    no change" in recompressed.splitlines()


def test_diff_failures(lab: Lab) -> None:
    missing = lab.anonymous.ref("public/no-such-repository:v1")
    assert run("diff", ref(lab, "family-app"), missing).status == ExitStatus.NOT_FOUND
    one_error(
        run("diff", ref(lab, "family-app"), ref(lab, "artifact")),
        ExitStatus.UNSUPPORTED,
        "is an OCI artifact",
    )
