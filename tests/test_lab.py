"""Self-tests of the registry lab: the corpus is what the expectations say, as an independent client
(skopeo) and plain HTTP downloads see it, and the auth policies hold."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import http.client
import io
import json
import os
import ssl
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.lab import __main__ as lab_cli, builder, corpus as corpus_module
from tests.lab.builder import ACCEPT, OCI_INDEX, Pusher, PushStats
from tests.lab.expected import ExpectedImage, chain_ids
from tests.lab.lab import FLAVOURS, Lab, LabRegistry, load_expected
from tests.lab.registry import LabStartError, RegistrySpec, start_registries
from tests.lab.skopeo import Call, SkopeoError, run, run_all

pytestmark = pytest.mark.integration

CORPUS = corpus_module.corpus().images
NAMES = sorted(CORPUS)
REPO_ROOT = Path(__file__).resolve().parents[1]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ── skopeo, the oracle ─────────────────────────────────────────────────────────────────────────────


def _selectable(image: ExpectedImage) -> list[str]:
    """Platforms of an index that skopeo can select with --override-os/-arch/-variant.

    As of skopeo 1.9.3 an index entry without ``platform`` matches any platform (it takes the
    first), so in ``index-no-platform`` only the default (first) entry can be reached that way;
    attestation manifests (``unknown/unknown``) are never selected.
    """
    if not image.is_index or image.default_platform is None:
        return []
    if image.name == "index-no-platform":
        return [image.default_platform]
    return [key for key, p in image.platforms.items() if not p.attestation]


def _calls(registry: LabRegistry, image: ExpectedImage, *, raw: bool) -> dict[str, Call]:
    """How skopeo reaches each platform's manifest: by tag for a single manifest, by tag and
    --override-* for an index entry it can select, by manifest digest for the rest."""
    selectable = _selectable(image)
    calls = {}
    for key, platform in image.platforms.items():
        if not image.is_index:
            calls[key] = Call(registry, image.reference, raw=raw, config=raw)
        elif key in selectable:
            calls[key] = Call(registry, image.reference, raw=raw, config=raw, platform=key)
        else:
            calls[key] = Call(
                registry, f"{image.repository}@{platform.manifest_digest}", raw=raw, config=raw
            )
    return calls


@pytest.fixture(scope="session")
def oracle(lab: Lab) -> dict[Call, bytes | SkopeoError]:
    """Every skopeo answer the tests below need, fetched concurrently once."""
    calls = []
    for registry in lab.registries:
        for image in lab.corpus.values():
            calls.append(Call(registry, image.reference))
            calls.extend(_calls(registry, image, raw=True).values())
            if (
                image.name != "artifact"
            ):  # skopeo: "unsupported image-specific operation on artifact"
                calls.extend(_calls(registry, image, raw=False).values())
    return run_all(calls)


def _answer(oracle: dict[Call, bytes | SkopeoError], call: Call) -> bytes:
    result = oracle[call]
    if isinstance(result, SkopeoError):
        raise result
    return result


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_skopeo_reads_the_expected_manifest(
    lab: Lab, oracle: dict[Call, bytes | SkopeoError], flavour: str, name: str
) -> None:
    image = lab.corpus[name]
    raw = _answer(oracle, Call(lab.registry(flavour), image.reference))
    assert sha256(raw) == image.digest
    assert len(raw) == image.size
    assert json.loads(raw)["mediaType"] == image.media_type


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_skopeo_reads_the_expected_config_of_every_platform(
    lab: Lab, oracle: dict[Call, bytes | SkopeoError], flavour: str, name: str
) -> None:
    image = lab.corpus[name]
    calls = _calls(lab.registry(flavour), image, raw=True)
    assert calls.keys() == image.platforms.keys()
    for key, platform in image.platforms.items():
        config = _answer(oracle, calls[key])
        assert sha256(config) == platform.config_digest, key
        assert len(config) == platform.config_size
        if platform.diff_ids:
            assert tuple(json.loads(config)["rootfs"]["diff_ids"]) == platform.diff_ids
    selected = [call.platform for call in calls.values() if call.platform]
    assert selected == _selectable(image)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "artifact"])
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_skopeo_lists_the_expected_layers(
    lab: Lab, oracle: dict[Call, bytes | SkopeoError], flavour: str, name: str
) -> None:
    image = lab.corpus[name]
    for key, call in _calls(lab.registry(flavour), image, raw=False).items():
        platform = image.platforms[key]
        answer = json.loads(_answer(oracle, call))
        # For an index skopeo's Digest is the index digest when it selected, by tag, a platform.
        assert answer["Digest"] == (
            image.digest if "@" not in call.reference else platform.manifest_digest
        )
        assert answer["Layers"] == [layer.digest for layer in platform.layers], key
        if not platform.attestation:
            assert (answer["Os"], answer["Architecture"]) == (platform.os, platform.architecture)


@pytest.mark.parametrize("flavour", ["token", "tls"])
def test_private_image_is_served_with_credentials(lab: Lab, flavour: str) -> None:
    secret = lab.private["secret"]
    registry = lab.registry(flavour)
    assert sha256(run(registry, secret.reference, raw=True)) == secret.digest
    config = run(registry, secret.reference, raw=True, config=True)
    assert sha256(config) == secret.default.config_digest


def test_the_anonymous_registry_has_no_private_image(lab: Lab) -> None:
    with lab.anonymous.client() as client:
        response = client.head("/v2/private/secret/manifests/v1", headers={"Accept": ACCEPT})
    assert response.status_code == 404


# ── the bytes themselves ───────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("flavour", "name"),
    [
        ("anonymous", "oci-single"),
        ("token", "docker-schema2"),
        ("tls", "uncompressed"),
        ("token", "dup-layer"),
        ("anonymous", "many-layers"),
        ("tls", "attested"),
        ("anonymous", "oci-index"),
    ],
)
def test_downloaded_layers_match_digests_and_diff_ids(lab: Lab, flavour: str, name: str) -> None:
    image = lab.corpus[name]
    with lab.registry(flavour).client() as client:
        for platform in image.platforms.values():
            config = client.get(f"/v2/{image.repository}/blobs/{platform.config_digest}")
            assert config.status_code == 200
            assert sha256(config.content) == platform.config_digest
            diff_ids = tuple(json.loads(config.content)["rootfs"]["diff_ids"])
            assert diff_ids == platform.diff_ids
            assert chain_ids(diff_ids) == platform.chain_ids
            assert len(platform.layers) == len(diff_ids)
            for layer, diff_id in zip(platform.layers, diff_ids, strict=True):
                blob = client.get(f"/v2/{image.repository}/blobs/{layer.digest}").content
                assert sha256(blob) == layer.digest
                assert len(blob) == layer.size
                plain = gzip.decompress(blob) if layer.media_type.endswith("gzip") else blob
                assert sha256(plain) == diff_id
                if "tar" in layer.media_type:
                    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
                        members = tar.getmembers()
                    assert any(m.isfile() and m.size > 0 for m in members)
                    assert {m.mtime for m in members} == {1_700_000_000}


def test_uncompressed_layer_is_a_plain_tar(lab: Lab) -> None:
    layers = lab.corpus["uncompressed"].default.layers
    assert [x.media_type for x in layers] == [
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar",
    ]
    assert lab.corpus["uncompressed"].default.diff_ids[1] == layers[1].digest


def test_referrers_fallback_tag_lists_the_artifact(lab: Lab) -> None:
    subject = lab.corpus["oci-single"]
    artifact = lab.corpus["artifact"]
    assert subject.referrers_tag == "sha256-" + subject.digest.removeprefix("sha256:")
    assert artifact.subject == subject.digest
    (referrer,) = subject.referrers
    assert referrer.digest == artifact.digest
    for repository in ("public/oci-single", "public/artifact"):
        for registry in lab.registries:
            with registry.client() as client:
                response = client.get(
                    f"/v2/{repository}/manifests/{subject.referrers_tag}",
                    headers={"Accept": ACCEPT},
                )
                assert response.status_code == 200
                assert response.headers["Content-Type"] == OCI_INDEX
                (listed,) = response.json()["manifests"]
                assert listed == {
                    "mediaType": referrer.media_type,
                    "digest": referrer.digest,
                    "size": referrer.size,
                    "artifactType": referrer.artifact_type,
                    "annotations": dict(referrer.annotations),
                }
                manifest = client.get(
                    f"/v2/{repository}/manifests/{artifact.digest}", headers={"Accept": ACCEPT}
                ).json()
                assert manifest["artifactType"] == "application/spdx+json"
                assert manifest["subject"]["digest"] == subject.digest
                assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_tags_lists_hold_the_expected_tags(lab: Lab, flavour: str) -> None:
    with lab.registry(flavour).client() as client:
        for image in lab.corpus.values():
            response = client.get(f"/v2/{image.repository}/tags/list")
            assert response.status_code == 200
            assert sorted(response.json()["tags"]) == list(image.repository_tags)


# ── the expectations ───────────────────────────────────────────────────────────────────────────────


def test_sizes_follow_the_design() -> None:
    single = CORPUS["oci-single"]
    p = single.default
    assert p.size == p.manifest_size + p.config_size + sum(x.size for x in p.layers)
    assert single.distinct_size == p.size
    assert dict(p.breakdown) == {
        "index": 0,
        "manifest": p.manifest_size,
        "config": p.config_size,
        "layers": sum(x.size for x in p.layers),
    }

    dup = CORPUS["dup-layer"].default
    assert dup.layers[0] == dup.layers[2]
    assert dup.size - CORPUS["dup-layer"].distinct_size == dup.layers[0].size  # counted twice

    index = CORPUS["oci-index"]
    amd64 = index.platforms["linux/amd64"]
    assert amd64.breakdown["index"] == index.size
    assert amd64.index_digests == (index.digest,)
    assert index.platforms["windows/amd64"].os_version == "10.0.20348.1249"
    shared = set.intersection(
        *({x.digest for x in p.layers} for k, p in index.platforms.items() if k != "windows/amd64")
    )
    assert len(shared) == 1  # one layer shared by every linux platform
    distinct = {index.digest: index.size}
    for p in index.platforms.values():
        distinct[p.manifest_digest] = p.manifest_size
        distinct[p.config_digest] = p.config_size
        distinct.update({x.digest: x.size for x in p.layers})
    assert index.distinct_size == sum(distinct.values())
    assert index.distinct_size < sum(p.size for p in index.platforms.values())

    nested = CORPUS["nested"]
    inner = nested.platforms["linux/arm64"]
    assert len(inner.index_digests) == 2
    assert inner.index_digests[0] == nested.digest
    assert nested.platforms["linux/s390x"].index_digests == (nested.digest,)

    attested = CORPUS["attested"]
    attestations = [p for p in attested.platforms.values() if p.attestation]
    assert sorted(p.manifest_digest for p in attestations) == sorted(attested.attestation_digests)
    assert {p.attests for p in attestations} == {
        attested.platforms["linux/amd64"].manifest_digest,
        attested.platforms["linux/arm64"].manifest_digest,
    }
    assert all(
        x.media_type == "application/vnd.in-toto+json" for p in attestations for x in p.layers
    )

    many = CORPUS["many-layers"].default
    assert len(many.layers) == 60
    assert len(set(many.chain_ids)) == 60

    assert CORPUS["index-no-platform"].default_platform == "linux/amd64"
    assert CORPUS["artifact"].default_platform == "unknown/unknown"


def test_builds_are_deterministic_across_processes() -> None:
    script = (
        "import json; from tests.lab.corpus import corpus, batch; "
        "images = {**corpus().images, **batch()[0].images}; "
        "print(json.dumps({n: [i.digest, i.distinct_size] for n, i in images.items()}))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONHASHSEED": "random"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    images = {**CORPUS, **corpus_module.batch()[0].images}
    assert json.loads(result.stdout) == {n: [i.digest, i.distinct_size] for n, i in images.items()}
    assert corpus_module.corpus.__wrapped__().images == CORPUS


def test_gzip_layers_are_valid_gzip_with_zero_mtime() -> None:
    layer = builder.layer([("etc/hello", b"hello\n")]).blob
    assert layer.data[:4] == b"\x1f\x8b\x08\x00"
    assert layer.data[4:8] == b"\0\0\0\0"
    with gzip.GzipFile(fileobj=io.BytesIO(layer.data)) as unzipped:
        plain = unzipped.read()  # GzipFile also checks the CRC and the length trailer
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        (directory, member) = tar.getmembers()
    assert (directory.name, directory.isdir(), member.name, member.size) == (
        "etc",
        True,
        "etc/hello",
        6,
    )
    assert (member.uid, member.gid, member.uname, member.mtime) == (0, 0, "root", 1_700_000_000)
    assert builder.layer([("etc/hello", b"hello\n")]).blob == layer


def test_expected_json_round_trips(lab: Lab) -> None:
    loaded = load_expected(lab.state_dir)
    assert loaded["corpus"] == lab.corpus
    assert loaded["private"] == lab.private


# ── auth policies ──────────────────────────────────────────────────────────────────────────────────


def _token(
    lab: Lab, scopes: list[str], auth: tuple[str, str] | None = None, **extra: str
) -> httpx.Response:
    params = [("service", lab.token.service or ""), *[("scope", s) for s in scopes], *extra.items()]
    with httpx.Client(trust_env=False, timeout=10) as client:
        return client.get(
            lab.token_server.realm, params=httpx.QueryParams(tuple(params)), auth=auth
        )


def _claims(token: str) -> dict[str, Any]:
    header, payload, _ = token.split(".")
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    claims["_header"] = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    return claims


def _get_manifest(registry: LabRegistry, repo_tag: str, token: str) -> httpx.Response:
    repository, tag = repo_tag.rsplit(":", 1)
    with httpx.Client(trust_env=False, timeout=10) as client:
        return client.get(
            f"{registry.base_url}/v2/{repository}/manifests/{tag}",
            headers={"Accept": ACCEPT, "Authorization": f"Bearer {token}"},
        )


def test_token_registry_serves_public_anonymously_but_not_private(lab: Lab) -> None:
    with lab.token.client(authenticated=False) as client:
        public = client.get("/v2/public/oci-single/manifests/v1", headers={"Accept": ACCEPT})
        private = client.get("/v2/private/secret/manifests/v1", headers={"Accept": ACCEPT})
    assert public.status_code == 200
    assert private.status_code == 401
    assert 'error="insufficient_scope"' in private.headers["WWW-Authenticate"]
    with pytest.raises(SkopeoError, match=r"(?i)unauthorized|authentication required|denied"):
        run(lab.token, "private/secret:v1", raw=True, credentials=False)


def test_wrong_password_is_refused(lab: Lab) -> None:
    response = _token(lab, ["repository:public/oci-single:pull"], auth=(lab.username, "wrong"))
    assert response.status_code == 401
    form = {
        "grant_type": "password",
        "username": lab.username,
        "password": "wrong",
        "service": "regimage-lab",
    }
    with httpx.Client(trust_env=False, timeout=10) as client:
        assert client.post(lab.token_server.realm, data=form).status_code == 401
    with httpx.Client(trust_env=False, timeout=10, verify=_ca_context(lab)) as client:
        tls = client.get(f"{lab.tls.base_url}/v2/", auth=(lab.username, "wrong"))
    assert tls.status_code == 401
    wrong = dataclasses.replace(lab.token, password="wrong")
    with pytest.raises(SkopeoError, match=r"(?i)unauthorized|authentication"):
        run(wrong, "private/secret:v1", raw=True)


def _ca_context(lab: Lab) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(lab.tls.ca_file))


def test_tls_registry_needs_the_ca_and_credentials(lab: Lab) -> None:
    with (
        httpx.Client(trust_env=False, timeout=10) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(f"{lab.tls.base_url}/v2/")
    with httpx.Client(trust_env=False, timeout=10, verify=_ca_context(lab)) as client:
        anonymous = client.get(f"{lab.tls.base_url}/v2/public/oci-single/manifests/v1")
        with_credentials = client.get(
            f"{lab.tls.base_url}/v2/public/oci-single/manifests/v1",
            auth=(lab.username, lab.password),
            headers={"Accept": ACCEPT},
        )
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")
    assert with_credentials.status_code == 200
    with pytest.raises(SkopeoError, match=r"(?i)x509|certificate"):
        run(lab.tls, "public/oci-single:v1", raw=True, cert_dir=False)
    with pytest.raises(SkopeoError, match=r"(?i)unauthorized|authentication required"):
        run(lab.tls, "public/oci-single:v1", raw=True, credentials=False)


def test_one_token_request_grants_several_scopes(lab: Lab) -> None:
    # A scope of its own (a repository that does not exist) finds this test's records even when
    # another session shares the lab's token server.
    probe = f"repository:public/probe-{os.getpid()}-{time.monotonic_ns()}:pull"
    scopes = ["repository:public/oci-single:pull", "repository:private/secret:pull,push", probe]
    count = lab.token_server.request_count
    answer = _token(lab, scopes, auth=(lab.username, lab.password))
    assert answer.status_code == 200
    body = answer.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert body["issued_at"].endswith("Z")
    claims = _claims(body["token"])
    assert claims["aud"] == "regimage-lab"
    assert claims["_header"]["alg"] == "ES256"
    assert len(claims["_header"]["x5c"]) == 1
    assert claims["access"][:2] == [
        {"type": "repository", "name": "public/oci-single", "actions": ["pull"]},
        {"type": "repository", "name": "private/secret", "actions": ["pull", "push"]},
    ]
    assert _get_manifest(lab.token, "public/oci-single:v1", body["token"]).status_code == 200
    assert _get_manifest(lab.token, "private/secret:v1", body["token"]).status_code == 200

    anonymous = _token(lab, scopes).json()
    assert _claims(anonymous["token"])["access"][:2] == [
        {"type": "repository", "name": "public/oci-single", "actions": ["pull"]},
        {"type": "repository", "name": "private/secret", "actions": []},
    ]
    assert _get_manifest(lab.token, "private/secret:v1", anonymous["token"]).status_code == 401

    assert lab.token_server.request_count >= count + 2
    records = [r for r in lab.token_server.requests() if probe in r.scopes]
    assert [(r.method, r.grant_type, r.account, r.scopes, r.status) for r in records] == [
        ("GET", "basic", lab.username, tuple(scopes), 200),
        ("GET", "anonymous", None, tuple(scopes), 200),
    ]
    assert records[1].granted[:2] == (
        "repository:public/oci-single:pull",
        "repository:private/secret:",
    )
    assert lab.password not in repr(records)


def test_shortened_expiry_is_announced_and_the_token_works(lab: Lab) -> None:
    with lab.token_server.expires_in(2):
        body = _token(lab, ["repository:public/oci-index:pull"]).json()
        assert body["expires_in"] == 2
        claims = _claims(body["token"])
        assert claims["exp"] - claims["iat"] == 2
        assert _get_manifest(lab.token, "public/oci-index:v1", body["token"]).status_code == 200
    assert lab.token_server.get_expires_in() == 300


def test_password_and_refresh_token_grants(lab: Lab) -> None:
    scope = "repository:private/secret:pull"
    with httpx.Client(trust_env=False, timeout=10) as client:
        first = client.post(
            lab.token_server.realm,
            data={
                "grant_type": "password",
                "username": lab.username,
                "password": lab.password,
                "service": "regimage-lab",
                "scope": f"{scope} repository:public/nested:pull",
                "access_type": "offline",
                "client_id": "regimage-lab-tests",
            },
        ).json()
        assert first["refresh_token"]
        assert len(_claims(first["token"])["access"]) == 2
        second = client.post(
            lab.token_server.realm,
            data={
                "grant_type": "refresh_token",
                "refresh_token": first["refresh_token"],
                "service": "regimage-lab",
                "scope": scope,
            },
        )
        assert second.status_code == 200
        assert (
            _get_manifest(lab.token, "private/secret:v1", second.json()["access_token"]).status_code
            == 200
        )
        bad = client.post(
            lab.token_server.realm,
            data={
                "grant_type": "refresh_token",
                "refresh_token": "nope",
                "service": "regimage-lab",
            },
        )
        assert bad.status_code == 401
        unsupported = client.post(lab.token_server.realm, data={"grant_type": "magic"})
        assert unsupported.status_code == 400
    offline = _token(lab, [scope], auth=(lab.username, lab.password), offline_token="true").json()
    assert offline["refresh_token"]


def test_token_server_takes_a_burst_of_connections_without_stalls(lab: Lab) -> None:
    """A listen backlog of 5 drops the 6th SYN and the kernel retries it after 1 s (DESIGN.md §9)."""
    durations: list[float] = []
    barrier = threading.Barrier(24)

    url = httpx.URL(lab.token_server.realm)

    def one() -> None:
        connection = http.client.HTTPConnection(url.host, url.port, timeout=10)
        barrier.wait()
        begin = time.monotonic()
        try:
            connection.request("GET", "/token?service=regimage-lab")
            assert connection.getresponse().status == 200
        finally:
            connection.close()
        durations.append(time.monotonic() - begin)

    threads = [threading.Thread(target=one) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(durations) == 24
    assert max(durations) < 0.9


# ── the lab itself ─────────────────────────────────────────────────────────────────────────────────


def test_registries_are_distinct_loopback_endpoints(lab: Lab) -> None:
    assert [r.flavour for r in lab.registries] == list(FLAVOURS)
    assert len({r.host for r in lab.registries}) == 3
    for registry in lab.registries:
        assert registry.host.startswith("127.0.0.1:")
        assert not registry.host.endswith(":5000")
        assert registry.ref("public/x:v1") == f"{registry.host}/public/x:v1"
        assert registry.log_file.exists()
        assert "password" not in repr(registry) or registry.password is None
        assert (registry.password or "<none>") not in repr(registry)
    assert lab.anonymous.plain_http
    assert lab.token.plain_http
    assert not lab.tls.plain_http
    assert lab.tls.base_url.startswith("https://")
    assert lab.token.token_realm == lab.token_server.realm
    config = (lab.anonymous.log_file.parent / "config.yml").read_text()
    assert 'addr: "127.0.0.1:' in config
    assert 'level: "info"' in config


def test_seeding_again_pushes_nothing(lab: Lab) -> None:
    stats = lab.seed(verify=True)
    assert (stats.blobs_uploaded, stats.manifests_put, stats.tags_put) == (0, 0, 0)
    assert stats.tags_skipped > 0


def test_pushing_is_idempotent_and_handles_absolute_locations(lab: Lab) -> None:
    """The token and TLS registries answer absolute upload Locations, the anonymous one relative."""
    singles, _ = corpus_module.batch()
    plan = singles.plans[0]
    for registry in lab.registries:
        with registry.raw_client() as client:
            location = client.request("POST", f"/v2/{plan.repository}/blobs/uploads/").headers[
                "location"
            ]
            assert location.startswith("/") == (registry.flavour == "anonymous")
            first, second = PushStats(), PushStats()
            for stats in (first, second):
                pusher = Pusher(client, stats)
                for push in plan.pushes:
                    pusher.push(plan.repository, push.root, push.tags)
        assert second.blobs_uploaded == second.manifests_put == second.tags_put == 0
        image = singles.images[plan.repository.removeprefix("public/")]
        assert sha256(run(registry, image.reference, raw=True)) == image.digest


def test_a_registry_that_cannot_start_fails_with_its_log(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    spec = RegistrySpec("broken registry", tmp_path / "broken", tls=(missing, missing))
    with pytest.raises(LabStartError, match=r"(?s)broken registry exited.*missing\.pem"):
        start_registries([spec])
    with pytest.raises(LabStartError, match="no lab state"):
        Lab.attach(tmp_path / "nowhere")


def test_cli_starts_reuses_and_stops_a_detached_lab(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``start`` and ``stop`` run as commands of their own (the lab must outlive ``start``);
    the other verbs run in-process."""
    state = tmp_path / "cli-lab"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tests.lab", *args, "--state-dir", str(state)],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env=env,
            timeout=120,
            check=False,
        )

    def in_process(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = lab_cli.main([*args, "--state-dir", str(state)])
        return code, capsys.readouterr().out

    started = command("start", "--no-seed")  # seeding is the fixture's job; this is about processes
    assert started.returncode == 0, started.stderr
    assert "started" in started.stdout
    try:
        lab = Lab.attach(state)
        assert not lab.owned
        assert lab.health() == []
        assert load_expected(state)["corpus"]["oci-index"].digest == CORPUS["oci-index"].digest
        with pytest.raises(SkopeoError, match="manifest unknown"):  # trusts the CA, not seeded
            run(lab.tls, "public/oci-single:v1", raw=True)
        code, out = in_process("start", "--no-seed")
        assert code == 0
        assert "reused" in out
        code, status = in_process("status")
        assert code == 0
        assert lab.tls.base_url in status
        code, exports = in_process("env")
        assert f"export REGIMAGE_LAB_TOKEN={lab.token.host}" in exports
        assert f"export REGIMAGE_LAB_STATE={state}" in exports
    finally:
        stopped = command("stop")
    assert stopped.returncode == 0
    assert "stopped" in stopped.stdout
    assert all(not p.is_ours() for p in lab.processes)
    assert in_process("status")[0] == 1
    assert not lab.storage_root.exists()

    # Started again in the same directory: new ports, a new CA, and nothing stale trusted.
    restarted = command("start", "--no-seed")
    assert restarted.returncode == 0, restarted.stderr
    try:
        again = Lab.attach(state)
        assert again.tls.host != lab.tls.host or again.token.host != lab.token.host
        with pytest.raises(SkopeoError, match="manifest unknown") as refused:
            run(again.tls, "public/oci-single:v1", raw=True)
        assert "x509" not in str(refused.value)
    finally:
        assert command("stop").returncode == 0
