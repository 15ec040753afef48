"""Secrets: passwords, tokens and Authorization values stay where they belong.

Against the lab's token registry through the fault proxy (which records every header it sees, so
the tests know every secret that went over the wire): no password, token, Authorization value or
signed-URL signature may appear in DEBUG logs (every logger), exception messages, reprs, or the
CLI's ``--verbose`` output; credentials go only to the registry's token realm (Basic) and tokens
only to the registry (Bearer): never to another host, never over plain HTTP off loopback.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from regimage.errors import AuthenticationError, RegImageError
from regimage.http.retry import RetryPolicy
from regimage.model.digest import Digest
from regimage.model.reference import Reference
from regimage.registry.client import RegistryProvider
from regimage.registry.credentials import Credentials, CredentialStore
from tests.expected_descriptors import config_descriptor, manifest_descriptor
from tests.faults.proxy import FaultProxy, Record, Rule
from tests.lab.lab import Lab

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

ROOT = Path(__file__).resolve().parents[1]


async def no_sleep(delay: float) -> None:
    """Retries never wait here."""


@pytest.fixture(scope="module")
def proxy(lab: Lab) -> Iterator[FaultProxy]:
    with FaultProxy.for_lab(lab.token) as running:
        yield running


def store_for(proxy: FaultProxy, username: str, password: str) -> CredentialStore:
    return CredentialStore({proxy.host: Credentials(username, password)}, env={}, use_files=False)


def secrets_seen(lab: Lab, records: list[Record]) -> set[str]:
    """Every secret that crossed the wire: the password, whole Authorization values, the
    credentials and tokens in them, and the signatures of signed URLs."""
    found = {lab.password}
    basic = base64.b64encode(f"{lab.username}:{lab.password}".encode()).decode()
    found.add(basic)
    for record in records:
        value = record.authorization
        if value:
            found.add(value)
            found.add(value.split(" ", 1)[-1])
        if "X-Amz-Signature=" in record.path:
            found.add(record.path.split("X-Amz-Signature=", 1)[1].split("&", 1)[0])
    return {s for s in found if len(s) >= 8}


def assert_no_secret(secrets: set[str], text: str, where: str) -> None:
    leaked = sorted(s[:12] + "…" for s in secrets if s in text)
    assert not leaked, f"{where} shows secrets starting {leaked}"


def private_image(lab: Lab) -> tuple[str, str]:
    image = next(iter(lab.private.values()))
    return image.reference, image.digest


async def test_no_secret_in_debug_logs_errors_or_reprs(
    lab: Lab, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: regimage's and httpx's
    reference, digest = private_image(lab)
    proxy.set_rules(
        [
            # a CDN redirect with a signature in its query, and a token refused as expired
            Rule("redirect_other", path="/blobs/", bearer=True),
            Rule("invalid_token", path="/manifests/sha256:", bearer=True),
        ]
    )
    errors: list[BaseException] = []
    async with RegistryProvider(
        credentials=store_for(proxy, lab.username, lab.password),
        plain_http=True,
        retry=RetryPolicy(sleep=no_sleep),
    ) as registry:
        ref = proxy.ref(reference)
        root = await registry.resolve(ref)
        assert str(root.digest) == digest
        image = next(iter(lab.private.values()))
        platform = image.default
        await registry.fetch_manifest(
            ref,
            manifest_descriptor(platform),
        )
        config = await registry.fetch_blob(
            ref,
            config_descriptor(platform),
        )
        assert str(Digest.of(config)) == platform.config_digest
        await registry.tags(Reference.parse_repository(f"{proxy.host}/{image.repository}"))
        for missing in ("private/secret:no-such-tag", "private/no-such-repo:v1"):
            with pytest.raises(RegImageError) as caught:
                await registry.resolve(proxy.ref(missing))
            errors.append(caught.value)
        reprs = [repr(registry), repr(registry.stats), repr(registry.repository(ref))]
        reprs += [repr(getattr(registry, name)) for name in vars(registry) if name.startswith("_")]
    # the wrong password: refused, and said so without repeating it
    async with RegistryProvider(
        credentials=store_for(proxy, lab.username, lab.password + "-wrong"),
        plain_http=True,
        retry=RetryPolicy(sleep=no_sleep),
    ) as registry:
        with pytest.raises(AuthenticationError) as refused:
            await registry.resolve(proxy.ref(reference))
        errors.append(refused.value)
    records = proxy.records
    secrets = secrets_seen(lab, records) | {lab.password + "-wrong"}
    assert any(r.authorization and r.authorization.startswith("Bearer ") for r in records)
    assert any(r.listener == "other" for r in records), "the signed-URL redirect was not taken"

    def log_of(ours: bool) -> str:
        return "\n".join(
            f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.args!r}"
            for r in caplog.records
            if r.name.startswith("regimage") == ours
        )

    assert "GET" in log_of(True)  # the requests were logged
    assert_no_secret(secrets, log_of(True), "regimage's DEBUG log")
    # httpx logs request URLs at INFO: the provider's filter masks their queries there too.
    assert "HTTP Request: GET" in log_of(False)
    assert any(x.startswith("cdn-signature") for x in secrets)
    assert_no_secret(secrets, log_of(False), "httpx's log")
    for error in errors:
        text = f"{error} | {error!r} | {vars(error)!r} | {error.__cause__!r}"
        assert_no_secret(secrets, text, f"{type(error).__name__}")
    assert_no_secret(secrets, "\n".join(reprs), "a repr")


async def test_credentials_and_tokens_go_only_where_they_belong(
    lab: Lab, proxy: FaultProxy
) -> None:
    reference, _ = private_image(lab)
    proxy.set_rules(
        [
            Rule("redirect_other", path="/manifests/sha256:", bearer=True),
            Rule("redirect_other", path="/blobs/", bearer=True),
            Rule("redirect_other", upstream="token"),
        ]
    )
    async with RegistryProvider(
        credentials=store_for(proxy, lab.username, lab.password),
        plain_http=True,
        retry=RetryPolicy(sleep=no_sleep),
    ) as registry:
        image = next(iter(lab.private.values()))
        ref = proxy.ref(reference)
        await registry.resolve(ref)
        platform = image.default
        await registry.fetch_blob(
            ref,
            config_descriptor(platform),
        )
        await registry.fetch_manifest(
            ref,
            manifest_descriptor(platform),
        )
    records = proxy.records
    assert {r.listener for r in records} == {"proxy", "other"}
    for record in records:
        auth = record.authorization or ""
        if record.listener == "other":
            assert auth == "", f"{record.method} {record.path} at the other host carried auth"
        elif record.path.startswith("/token"):
            assert auth.startswith("Basic ") or auth == "", record.path
        else:
            assert not auth.startswith("Basic "), f"credentials sent to the registry: {record.path}"
    assert any((r.authorization or "").startswith("Basic ") for r in records)


# ── plain HTTP and other hosts (no loopback: an in-process transport, nothing leaves) ─────────────


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def transport(self, answer: httpx.Response) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return answer

        return httpx.MockTransport(handle)


@pytest.mark.parametrize(
    "challenge",
    ['Basic realm="r"', 'Bearer realm="http://registry.test/token",service="r"'],
)
async def test_no_credentials_over_plain_http_to_a_remote_registry(challenge: str) -> None:
    recorder = Recorder()
    answer = httpx.Response(401, headers={"WWW-Authenticate": challenge})
    async with RegistryProvider(
        credentials=CredentialStore(
            Credentials("auditor", "pw-1234567890"), env={}, use_files=False
        ),
        plain_http=["registry.test"],
        transport=recorder.transport(answer),
    ) as registry:
        with pytest.raises(AuthenticationError) as caught:
            await registry.resolve("registry.test/app:v1")
    assert [str(r.url) for r in recorder.requests] == ["http://registry.test/v2/app/manifests/v1"]
    assert all("authorization" not in r.headers for r in recorder.requests)
    assert "pw-1234567890" not in str(caught.value)


# ── the CLI ────────────────────────────────────────────────────────────────────────────────────────


def test_verbose_cli_output_shows_no_secret(lab: Lab, proxy: FaultProxy, tmp_path: Path) -> None:
    reference, digest = private_image(lab)
    proxy.set_rules([Rule("redirect_other", path="/blobs/", bearer=True)])
    cache = tmp_path / "cache"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(cache),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "PYTHONPATH": str(ROOT),
    }
    outputs = []
    for command in (["inspect"], ["digest"], ["tags"]):
        target = (
            f"{proxy.host}/{reference.split(':')[0]}"
            if command == ["tags"]
            else proxy.ref(reference)
        )
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "regimage",
                *command,
                target,
                "-v",
                "--plain-http",
                "--username",
                lab.username,
                "--password-stdin",
            ],
            input=lab.password + "\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        outputs.append(result.stdout + result.stderr)
    text = "\n".join(outputs)
    assert digest in text
    assert "GET" in text  # --verbose traced the requests
    records = proxy.records
    assert any((r.authorization or "").startswith("Bearer ") for r in records)
    secrets = secrets_seen(lab, records)
    assert_no_secret(secrets, text, "the --verbose output")
    # The disk cache may keep tokens (0600, in a 0700 directory), never the password.
    for path in cache.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is readable by others ({oct(mode)})"
        if path.is_file():
            content = path.read_bytes()
            assert lab.password.encode() not in content, f"{path} holds the password"
            basic = base64.b64encode(f"{lab.username}:{lab.password}".encode())
            assert basic not in content, f"{path} holds the Basic credentials"
