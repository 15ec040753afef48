"""Hosts no connection can use, from the user or from a hostile registry (issue #17, item 9).

A port out of range or an invalid IP literal in a reference is an invalid reference, raised as
itself (never inside an ``ExceptionGroup``), and exit 3 on the command line. The same URLs sent
by a registry, in a redirect or as a token realm, are the registry's error, typed, on asyncio and
on trio, against a small hostile registry of ours over real sockets.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import anyio
import pytest

from regimage.cli.core import main
from regimage.cli.status import ExitStatus
from regimage.errors import (
    AuthenticationError,
    InvalidReference,
    NetworkError,
    RegImageError,
    RegistryError,
)
from regimage.http.retry import RetryPolicy
from regimage.image.image import Image
from regimage.model.reference import Reference
from regimage.registry.client import RegistryProvider
from regimage.registry.credentials import Credentials, CredentialStore
from tests.faults.documents import MiniRegistry, config_blob, manifest_blob
from tests.faults.server import Reply, Request, ScriptedServer

BAD_HOSTS = [
    "127.0.0.1:99999",
    "127.0.0.1:65536",
    "127.0.0.1:0",
    "127.0.0.1:05000",
    "256.1.1.1:5000",
    "127.1:5000",
    "[1:2:3]:5000",
]


async def no_sleep(delay: float) -> None:
    """Retries in these tests never wait."""


def provider(*, credentials: bool = False) -> RegistryProvider:
    explicit = Credentials("user", "hostile-hosts-pw") if credentials else None
    store = CredentialStore(explicit, env={}, use_files=False)
    return RegistryProvider(
        credentials=store, plain_http=True, retry=RetryPolicy(sleep=no_sleep), timeout=5.0
    )


pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("host", BAD_HOSTS)
async def test_a_reference_to_an_unusable_host_is_an_invalid_reference(host: str) -> None:
    async with provider() as registry:
        with anyio.fail_after(10), pytest.raises(InvalidReference, match="invalid registry host"):
            await registry.resolve(f"{host}/app:v1")
        with anyio.fail_after(10), pytest.raises(InvalidReference):
            await Image.resolve(f"{host}/app:v1", registry)


@pytest.mark.parametrize("host", BAD_HOSTS)
async def test_a_hand_built_reference_to_an_unusable_host_is_refused_before_any_request(
    host: str,
) -> None:
    """The constructor stores its arguments unchecked: the session checks the host it is asked
    to contact, where it builds the URL."""
    async with provider() as registry:
        for _ in range(2):  # not only the first time
            with anyio.fail_after(10), pytest.raises(InvalidReference, match=re.escape(repr(host))):
                await registry.resolve(Reference(host, "app", "v1"))
        with anyio.fail_after(10), pytest.raises(InvalidReference):
            await registry.tags(Reference(host, "app"))


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:99999/blob",
        "http://127.0.0.1:65536/blob",
        "http://256.1.1.1/blob",
        "http://[1:2:3]/blob",
        "http://127.0.0.1:0/blob",
    ],
)
async def test_a_redirect_to_an_unusable_host_is_a_typed_error(location: str) -> None:
    script = MiniRegistry(
        overrides={"/v2/evil/app/manifests/v1": lambda _: Reply(302, {"Location": location})}
    )
    with ScriptedServer(script) as server:
        async with provider() as registry:
            with anyio.fail_after(10), pytest.raises(RegImageError) as caught:
                await registry.resolve(server.ref("evil/app:v1"))
    assert isinstance(caught.value, RegistryError | NetworkError), repr(caught.value)


@pytest.mark.parametrize(
    "realm",
    [
        "http://127.0.0.1:99999/token",
        "http://127.0.0.1:65536/token",
        "https://256.1.1.1/token",
        "http://[1:2:3]/token",
    ],
)
async def test_a_token_realm_on_an_unusable_host_is_a_typed_error(realm: str) -> None:
    def script(request: Request) -> Reply:
        return Reply(401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="evil"'})

    with ScriptedServer(script) as server:
        for credentials in (False, True):
            async with provider(credentials=credentials) as registry:
                with anyio.fail_after(10), pytest.raises(RegImageError) as caught:
                    await registry.resolve(server.ref("evil/app:v1"))
            assert isinstance(caught.value, AuthenticationError | NetworkError | RegistryError), (
                repr(caught.value)
            )


async def test_a_good_registry_still_answers_after_a_bad_host() -> None:
    script = MiniRegistry()
    manifest = script.add(manifest_blob(script.add(config_blob())), tag="v1")
    with ScriptedServer(script) as server:
        async with provider() as registry:
            with pytest.raises(InvalidReference):
                await registry.resolve(Reference("127.0.0.1:99999", "app", "v1"))
            with anyio.fail_after(10):
                found = await registry.resolve(server.ref("app:v1"))
    assert str(found.digest) == manifest.digest


# ── the command line ──────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize(
    "reference",
    [
        "localhost:99999/x",
        "256.1.1.1:5000/x",
        "127.0.0.1:0/x",
        "127.0.0.1:05000/x",
        "010.0.0.1/x:1",
        "1.2.3.4.5/x",
        "127.1:5000/x",
        "[1:2:3]:5000/x",
        "[::1%eth0]:5000/x",
        "[::1/x",
    ],
)
def test_the_command_line_exits_3(
    reference: str, backend: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REGIMAGE_BACKEND", backend)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for command in (["digest"], ["size", "--json"], ["tags"], ["inspect"]):
        target = reference.rsplit(":1", 1)[0] if command == ["tags"] else reference
        stdout, stderr = io.StringIO(), io.StringIO()
        status = main([*command, "--timeout", "5", target], stdout=stdout, stderr=stderr)
        assert status == ExitStatus.INVALID_REFERENCE, stderr.getvalue()
        assert stdout.getvalue() == ""
        lines = stderr.getvalue().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("regimage: error: ")
        assert "bug" not in lines[0]
