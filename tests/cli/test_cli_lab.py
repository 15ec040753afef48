"""The command line as users run it: ``python -m regimage …`` subprocesses against the registry lab.

Answers are checked against the lab's corpus expectations and, for digests, manifests and configs,
against skopeo reading the same registries. Every run gets an empty HOME (no docker config, no
auth file), so only the credentials a test passes are used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from regimage.cli.status import ExitStatus
from tests.lab import skopeo
from tests.lab.expected import ExpectedImage
from tests.lab.lab import Lab, LabRegistry

pytestmark = pytest.mark.integration

#: Registries every command is checked on; the TLS registry (Basic auth on every repository) has
#: tests of its own.
PLAIN = ("anonymous", "token")
#: Each run costs most of a second of CPU (the interpreter and httpx start-up): commands run on this
#: sample of the corpus (OCI index, Docker list, attestations, OCI and Docker single manifests);
#: test_cli.py covers every image in process, test_cli_audit.py every image in one process.
SAMPLE = ("oci-index", "docker-list", "attested", "oci-single", "docker-schema2")
WORKERS = 4


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-home")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGIMAGE_", "DOCKER_"))}
    env.pop("REGISTRY_AUTH_FILE", None)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_RUNTIME_DIR=str(home / "run"),
        DOCKER_CONFIG=str(home / "docker"),
        PYTHONWARNINGS="error",
    )
    return env


def regimage(
    home: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "regimage", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        env={**_env(home), **(env or {})},
        check=False,
    )


def regimage_all(
    home: Path, argvs: Iterable[Sequence[str]]
) -> list[subprocess.CompletedProcess[bytes]]:
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda argv: regimage(home, *argv), argvs))


def ok(result: subprocess.CompletedProcess[bytes]) -> bytes:
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b"", result.stderr.decode()
    return result.stdout


def failed(result: subprocess.CompletedProcess[bytes], status: ExitStatus, *parts: str) -> str:
    """Assert exit ``status``, an empty stdout and one error line holding ``parts``; return it."""
    err = result.stderr.decode()
    assert result.returncode == status, err
    assert result.stdout == b""
    lines = [line for line in err.splitlines() if not line.startswith("regimage: warning:")]
    assert len(lines) == 1, err
    assert lines[0].startswith("regimage: error: ")
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def images(lab: Lab) -> list[ExpectedImage]:
    return list(lab.corpus.values())


def sample(lab: Lab) -> list[ExpectedImage]:
    return [lab.corpus[name] for name in SAMPLE]


def platform_cases(lab: Lab) -> list[tuple[ExpectedImage, str]]:
    """(image, platform key) for every non-attestation platform of every index in the corpus."""
    return [
        (image, key)
        for image in images(lab)
        if image.is_index
        for key, platform in image.platforms.items()
        if not platform.attestation
    ]


# ── size ──────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("flavour", PLAIN)
def test_size_json(lab: Lab, home: Path, flavour: str) -> None:
    registry = lab.registry(flavour)
    corpus = images(lab) if flavour == "token" else sample(lab)
    results = regimage_all(home, [["size", "--json", registry.ref(i.reference)] for i in corpus])
    for image, result in zip(corpus, results, strict=True):
        document = json.loads(ok(result))
        want = image.default
        assert document["reference"] == registry.ref(image.reference)
        assert document["digest"] == image.digest
        assert document["mediaType"] == image.media_type
        assert document["manifestDigest"] == want.manifest_digest
        assert document["size"] == want.size, image.name
        assert document["breakdown"] == {**want.breakdown, "layerCount": want.layer_count}
        if image.is_index:
            assert document["platform"] == want.platform


def test_size_of_every_platform(lab: Lab, home: Path) -> None:
    registry = lab.token
    cases = [case for case in platform_cases(lab) if case[0].name in {"oci-index", "nested"}]
    argvs = [
        ["size", "--bytes", "--platform", key, registry.ref(image.reference)]
        for image, key in cases
    ]
    for (image, key), result in zip(cases, regimage_all(home, argvs), strict=True):
        assert ok(result) == f"{image.platforms[key].size}\n".encode(), (image.name, key)


def test_size_human_output(lab: Lab, home: Path) -> None:
    image = lab.corpus["oci-index"]
    out = ok(regimage(home, "size", lab.token.ref(image.reference))).decode()
    size = image.default.size
    assert out.endswith(f" ({size:,} bytes) for linux/amd64\n")
    assert out.startswith(f"{size / 1000:.1f} kB")


@pytest.mark.parametrize("name", ["attested", "oci-index", "nested", "docker-list"])
def test_size_all_platforms(lab: Lab, home: Path, name: str) -> None:
    image = lab.corpus[name]
    document = json.loads(
        ok(regimage(home, "size", "--all-platforms", "--json", lab.token.ref(image.reference)))
    )
    assert document["distinctSize"] == image.distinct_size
    want = {p.manifest_digest: p for p in image.platforms.values()}
    got = {row["digest"]: row for row in document["platforms"]}
    assert set(got) == set(want)
    for digest, row in got.items():
        assert row["size"] == want[digest].size
        assert row["attestation"] is want[digest].attestation
    attestations = [row["digest"] for row in document["platforms"] if row["attestation"]]
    assert sorted(attestations) == sorted(image.attestation_digests)


# ── config, rootfs, chain-ids: against the corpus and skopeo ──────────────────────────────────────


def test_config_matches_skopeo(lab: Lab, home: Path) -> None:
    registry = lab.anonymous
    # skopeo 1.9.3 cannot read a nested index, and picks the first entry of an index whose
    # entries declare no platform: it is no oracle for those two.
    skip = {"nested", "index-no-platform"}
    cases = [case for case in platform_cases(lab) if case[0].name not in skip] + [
        (lab.corpus[n], lab.corpus[n].default_platform or "")
        for n in ("oci-single", "docker-schema2", "many-layers")
    ]
    argvs = [
        ["config", "--raw", "--platform", key, registry.ref(image.reference)]
        for image, key in cases
    ]
    calls = [
        skopeo.Call(registry, image.reference, config=True, platform=key) for image, key in cases
    ]
    oracle = skopeo.run_all(calls)
    for (image, key), result, call in zip(cases, regimage_all(home, argvs), calls, strict=True):
        raw = ok(result)
        assert skopeo.digest(raw) == image.platforms[key].config_digest
        assert raw == oracle[call], (image.name, key)
    pretty = ok(regimage(home, "config", registry.ref(lab.corpus["docker-list"].reference)))
    assert json.loads(pretty) == json.loads(
        skopeo.inspect_config(registry, lab.corpus["docker-list"].reference)
    )


def test_rootfs_and_chain_ids(lab: Lab, home: Path) -> None:
    registry = lab.anonymous
    cases = [
        (lab.corpus[name], lab.corpus[name].default_platform)
        for name in ("oci-index", "docker-schema2", "many-layers", "dup-layer")
    ]
    argvs = [["rootfs", registry.ref(image.reference)] for image, _ in cases]
    argvs += [["chain-ids", registry.ref(image.reference)] for image, _ in cases]
    results = regimage_all(home, argvs)
    diffs, chains = results[: len(cases)], results[len(cases) :]
    for (image, key), diff, chain in zip(cases, diffs, chains, strict=True):
        assert key is not None
        assert ok(diff).decode().split() == list(image.platforms[key].diff_ids), image.name
        assert ok(chain).decode().split() == list(image.platforms[key].chain_ids), image.name


def test_diff_ids_alias_and_json(lab: Lab, home: Path) -> None:
    image = lab.corpus["oci-index"]
    want = image.platforms["linux/arm/v7"]
    document = json.loads(
        ok(
            regimage(
                home,
                "diff-ids",
                "--json",
                "--platform",
                "linux/arm/v7",
                lab.token.ref(image.reference),
            )
        )
    )
    assert document == {
        "schema": 1,
        "reference": lab.token.ref(image.reference),
        "manifestDigest": want.manifest_digest,
        "config": want.config_digest,
        "diffIDs": list(want.diff_ids),
        "chainIDs": list(want.chain_ids),
    }


# ── manifest, digest, platforms, inspect ──────────────────────────────────────────────────────────


@pytest.mark.parametrize("flavour", PLAIN)
def test_manifest_and_digest_match_skopeo(lab: Lab, home: Path, flavour: str) -> None:
    registry = lab.registry(flavour)
    corpus = sample(lab)
    argvs = [["manifest", registry.ref(i.reference)] for i in corpus]
    argvs += [["digest", registry.ref(i.reference)] for i in corpus]
    results = regimage_all(home, argvs)
    calls = [skopeo.Call(registry, i.reference) for i in corpus]
    oracle = skopeo.run_all(calls)
    for i, image in enumerate(corpus):
        raw = ok(results[i])
        assert raw == oracle[calls[i]], image.name
        assert skopeo.digest(raw) == image.digest
        assert ok(results[len(corpus) + i]) == f"{image.digest}\n".encode()


def test_manifest_and_digest_of_a_platform(lab: Lab, home: Path) -> None:
    image = lab.corpus["docker-list"]
    ref = lab.anonymous.ref(image.reference)
    want = image.platforms["linux/arm64"]
    raw = ok(regimage(home, "manifest", "--platform", "linux/arm64", ref))
    assert raw == skopeo.inspect(lab.anonymous, f"{image.repository}@{want.manifest_digest}")
    digest = ok(regimage(home, "digest", "--platform", "linux/arm64", ref))
    assert digest == f"{want.manifest_digest}\n".encode()
    pretty = ok(regimage(home, "manifest", "--pretty", ref))
    assert json.loads(pretty) == json.loads(skopeo.inspect(lab.anonymous, image.reference))


@pytest.mark.parametrize("flavour", PLAIN)
def test_platforms(lab: Lab, home: Path, flavour: str) -> None:
    registry = lab.registry(flavour)
    indexes = [i for i in (images(lab) if flavour == "token" else sample(lab)) if i.is_index]
    results = regimage_all(home, [["platforms", registry.ref(i.reference)] for i in indexes])
    for image, result in zip(indexes, results, strict=True):
        want = [k for k, p in image.platforms.items() if not p.attestation]
        assert sorted(ok(result).decode().split()) == sorted(want), image.name


def test_inspect_matches_corpus_and_skopeo(lab: Lab, home: Path) -> None:
    image = lab.corpus["many-layers"]
    want = image.default
    document = json.loads(ok(regimage(home, "inspect", "--json", lab.token.ref(image.reference))))
    oracle = skopeo.inspect_json(lab.token, image.reference)
    assert document["digest"] == oracle["Digest"] == image.digest
    assert [layer["digest"] for layer in document["layers"]] == oracle["Layers"]
    assert document["configDigest"] == want.config_digest
    assert document["labels"] == oracle["Labels"]
    assert document["env"] == oracle["Env"]
    assert document["size"] == want.size
    assert [layer["diffID"] for layer in document["layers"]] == list(want.diff_ids)
    assert all(
        layer["createdBy"].startswith("/bin/sh -c #(nop) ADD") for layer in document["layers"]
    )


def test_inspect_text(lab: Lab, home: Path) -> None:
    image = lab.corpus["attested"]
    out = ok(regimage(home, "inspect", "--platform", "linux/arm64", lab.token.ref(image.reference)))
    lines = out.decode().splitlines()
    assert lines[0].split() == ["reference", lab.token.ref(image.reference)]
    assert lines[2].split() == ["manifest", image.platforms["linux/arm64"].manifest_digest]
    assert lines[4].split() == ["platform", "linux/arm64"]


# ── tags, referrers ───────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("flavour", PLAIN)
def test_tags(lab: Lab, home: Path, flavour: str) -> None:
    registry = lab.registry(flavour)
    corpus = [*sample(lab), lab.corpus["artifact"]]
    results = regimage_all(home, [["tags", registry.ref(i.repository)] for i in corpus])
    for image, result in zip(corpus, results, strict=True):
        assert ok(result).decode().splitlines() == sorted(image.repository_tags), image.name


def test_referrers(lab: Lab, home: Path) -> None:
    image = lab.corpus["oci-single"]
    (want,) = image.referrers
    document = json.loads(
        ok(regimage(home, "referrers", "--json", lab.anonymous.ref(image.reference)))
    )
    (got,) = document["referrers"]
    assert (got["digest"], got["artifactType"], got["size"]) == (
        want.digest,
        want.artifact_type,
        want.size,
    )


# ── credentials, TLS, failures ────────────────────────────────────────────────────────────────────


def test_private_repository_needs_credentials(lab: Lab, home: Path) -> None:
    secret = lab.private["secret"]
    ref = lab.token.ref(secret.reference)
    failed(regimage(home, "digest", ref), ExitStatus.AUTH, "private/secret")
    result = regimage(
        home,
        "digest",
        "--username",
        lab.username,
        "--password-stdin",
        ref,
        stdin=lab.password.encode() + b"\n",
    )
    assert ok(result) == f"{secret.digest}\n".encode()
    wrong = regimage(
        home, "digest", "--username", lab.username, "--password-stdin", ref, stdin=b"nope"
    )
    failed(wrong, ExitStatus.AUTH)


def test_credentials_from_environment(lab: Lab, home: Path) -> None:
    secret = lab.private["secret"]
    env = {"REGIMAGE_USERNAME": lab.username, "REGIMAGE_PASSWORD": lab.password}
    result = regimage(home, "rootfs", lab.token.ref(secret.reference), env=env)
    assert ok(result).decode().split() == list(secret.default.diff_ids)


def test_tls_registry(lab: Lab, home: Path) -> None:
    tls: LabRegistry = lab.tls
    assert tls.ca_file is not None
    image = lab.corpus["oci-index"]
    ref = tls.ref(image.reference)
    password = lab.password.encode()
    login = ["--username", lab.username, "--password-stdin"]
    good = regimage(home, "digest", *login, "--ca-file", str(tls.ca_file), ref, stdin=password)
    assert ok(good) == f"{image.digest}\n".encode()
    untrusted = regimage(home, "digest", *login, ref, stdin=password)
    failed(untrusted, ExitStatus.REGISTRY, "certificate", "--ca-file")
    insecure = regimage(home, "digest", "--insecure", *login, ref, stdin=password)
    assert insecure.returncode == 0, insecure.stderr.decode()
    assert insecure.stdout == f"{image.digest}\n".encode()
    assert insecure.stderr.decode().startswith("regimage: warning: --insecure")


def test_not_found(lab: Lab, home: Path) -> None:
    image = lab.corpus["oci-index"]
    result = regimage(home, "size", lab.token.ref(f"{image.repository}:no-such-tag"))
    failed(result, ExitStatus.NOT_FOUND, "no-such-tag")


def test_no_matching_platform(lab: Lab, home: Path) -> None:
    image = lab.corpus["docker-list"]
    result = regimage(
        home, "size", "--platform", "linux/riscv64", lab.anonymous.ref(image.reference)
    )
    failed(result, ExitStatus.NOT_FOUND, "linux/amd64", "linux/arm64")


def test_artifact_has_no_rootfs(lab: Lab, home: Path) -> None:
    image = lab.corpus["artifact"]
    failed(regimage(home, "rootfs", lab.anonymous.ref(image.reference)), ExitStatus.UNSUPPORTED)


def test_connection_refused(home: Path) -> None:
    failed(
        regimage(home, "size", "127.0.0.1:1/public/nothing:v1"), ExitStatus.REGISTRY, "127.0.0.1:1"
    )


def test_verbose_trace_masks_secrets(lab: Lab, home: Path) -> None:
    secret = lab.private["secret"]
    result = regimage(
        home,
        "-v",
        "digest",
        "--username",
        lab.username,
        "--password-stdin",
        lab.token.ref(secret.reference),
        stdin=lab.password.encode(),
    )
    assert result.returncode == 0
    assert result.stdout == f"{secret.digest}\n".encode()
    trace = result.stderr.decode()
    assert "GET http://" in trace
    assert f"/v2/{secret.repository}/manifests/{secret.tag}" in trace
    assert lab.password not in trace
    assert "Bearer ey" not in trace


def test_version_imports_neither_httpx_nor_anyio(home: Path) -> None:
    result = regimage(home, "--version")
    assert result.returncode == 0
    assert result.stdout.decode().startswith("regimage ")
    timed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "regimage", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=_env(home),
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in timed.stderr.splitlines()}
    assert not {m for m in imported if m.split(".")[0] in {"httpx", "httpcore", "anyio"}}
    assert "regimage.cli.core" in imported


def test_the_registry_connection_is_opened_while_the_cli_starts(lab: Lab, home: Path) -> None:
    """regimage.cli.preconnect: the TCP handshake runs during the imports, and the pool adopts it."""
    ref = lab.anonymous.ref(lab.corpus["oci-single"].reference)
    adopted = b"using the connection opened at start-up"
    result = regimage(home, "size", "-v", "--plain-http", "--no-cache", ref)
    assert result.returncode == 0, result.stderr
    assert adopted in result.stderr
    off = regimage(
        home, "size", "-v", "--plain-http", "--no-cache", ref, env={"REGIMAGE_PRECONNECT": "0"}
    )
    assert off.returncode == 0, off.stderr
    assert adopted not in off.stderr
    assert off.stdout == result.stdout
    audit = regimage(home, "audit", "-v", "--plain-http", "--no-cache", ref, ref)
    assert audit.returncode == 0, audit.stderr
    assert adopted in audit.stderr  # the audit's first reference


def test_the_cli_learns_the_challenge_while_it_starts_unless_the_cache_knows_it(
    lab: Lab, home: Path, tmp_path: Path
) -> None:
    """The start-up thread asks GET /v2/ and connects to the token server: the provider's first
    request carries a token. A warm run, whose cache remembers the challenge, asks nothing."""
    ref = lab.token.ref(lab.corpus["oci-single"].reference)
    learned = b"/v2/ at start-up (401)"
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}  # cold: nothing remembered yet
    cold = regimage(home, "size", "-v", "--plain-http", ref, env=cache)
    assert cold.returncode == 0, cold.stderr
    assert learned in cold.stderr
    assert cold.stderr.count(b"using the connection opened at start-up") == 2  # registry, token
    warm = regimage(home, "size", "-v", "--plain-http", ref, env=cache)
    assert warm.returncode == 0, warm.stderr
    assert b"at start-up (" not in warm.stderr
    assert warm.stdout == cold.stdout
    uncached = regimage(home, "size", "-v", "--plain-http", "--no-cache", ref)
    assert learned in uncached.stderr
    assert uncached.stdout == cold.stdout


def test_the_tls_handshake_also_happens_while_the_cli_starts(lab: Lab, home: Path) -> None:
    assert lab.tls.ca_file is not None
    image = lab.corpus["oci-single"]
    env = {"REGIMAGE_USERNAME": lab.username, "REGIMAGE_PASSWORD": lab.password}
    result = regimage(
        home,
        "digest",
        "-v",
        "--no-cache",
        "--ca-file",
        str(lab.tls.ca_file),
        lab.tls.ref(image.reference),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == image.digest
    assert b"using the connection opened at start-up" in result.stderr
    # Without the CA, the thread's handshake fails quietly and the provider reports the failure.
    untrusted = regimage(home, "digest", "--no-cache", lab.tls.ref(image.reference), env=env)
    assert untrusted.returncode == 8
    assert b"certificate verify failed" in untrusted.stderr
