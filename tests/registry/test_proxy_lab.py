"""RegistryProvider through a real forward proxy (tinyproxy, tests/lab/proxy.py) to the lab.

The lab's registries are on loopback, which the proxy variables never send through a proxy (Go's
rule, kept: ``NO_PROXY`` users expect localhost to stay local). The explicit ``proxy=`` takes every
request, loopback included, as httpx's does: that is how these tests reach the lab through it. The
proxy's own log shows what went through it (``CONNECT host:port``, absolute-form ``GET``s).
"""

from __future__ import annotations

import logging

import pytest

from regimage.errors import AuthenticationError, NetworkError, ProxyAuthenticationError, ProxyError
from regimage.registry.client import RegistryProvider
from regimage.registry.credentials import Credentials, CredentialStore
from tests.lab.lab import Lab, LabRegistry
from tests.lab.proxy import ForwardProxy
from tests.lab.registry import free_port

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def _store(registry: LabRegistry) -> CredentialStore:
    if registry.username is None:
        return CredentialStore(env={}, use_files=False)
    return CredentialStore(
        Credentials(registry.username, registry.password), env={}, use_files=False
    )


def _provider(registry: LabRegistry, **kwargs: object) -> RegistryProvider:
    return RegistryProvider(
        credentials=_store(registry),
        ca_file=registry.ca_file,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_https_goes_through_a_connect_tunnel(lab: Lab, forward_proxy: ForwardProxy) -> None:
    image = lab.corpus["oci-index"]
    mark = forward_proxy.mark()
    async with _provider(lab.tls, proxy=forward_proxy.url) as registry:
        root = await registry.resolve(lab.tls.ref(image.reference))
        await registry.fetch_manifest(lab.tls.ref(image.reference), root)
        assert registry.pool is not None
        assert str(registry.pool.proxy_for(lab.tls.base_url)) == forward_proxy.url
    assert str(root.digest) == image.digest
    seen = forward_proxy.requests(mark)
    assert f"CONNECT {lab.tls.host} HTTP/1.1" in seen
    # The tunnel is end to end: the proxy saw no request of the registry's, only the tunnel.
    assert all(line.startswith("CONNECT ") for line in seen)


@pytest.mark.parametrize("flavour", ["anonymous", "token"])
async def test_plain_http_goes_in_absolute_form(
    lab: Lab, forward_proxy: ForwardProxy, flavour: str
) -> None:
    registry_ = lab.registry(flavour)
    image = lab.corpus["oci-single"]
    mark = forward_proxy.mark()
    async with _provider(registry_, proxy=forward_proxy.url, plain_http=True) as registry:
        root = await registry.resolve(registry_.ref(image.reference))
    assert str(root.digest) == image.digest
    seen = forward_proxy.requests(mark)
    assert any(line.startswith(f"GET {registry_.base_url}/v2/") for line in seen), seen
    if flavour == "token":  # the token server is asked through the proxy too
        assert registry_.token_realm is not None
        assert any(line.startswith(f"GET {registry_.token_realm}") for line in seen), seen


async def test_a_loopback_registry_still_finds_its_scheme_through_the_proxy(
    lab: Lab, forward_proxy: ForwardProxy
) -> None:
    """HTTPS first (a tunnel, whose TLS handshake the plain-HTTP registry refuses), then HTTP."""
    image = lab.corpus["oci-single"]
    mark = forward_proxy.mark()
    async with _provider(lab.anonymous, proxy=forward_proxy.url) as registry:
        root = await registry.resolve(lab.anonymous.ref(image.reference))
    assert str(root.digest) == image.digest
    seen = forward_proxy.requests(mark)
    assert f"CONNECT {lab.anonymous.host} HTTP/1.1" in seen
    assert any(line.startswith(f"GET {lab.anonymous.base_url}/v2/") for line in seen)


async def test_the_variables_leave_loopback_alone(
    lab: Lab, forward_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, forward_proxy.url)
    image = lab.corpus["oci-single"]
    mark = forward_proxy.mark()
    async with _provider(lab.tls) as registry:
        root = await registry.resolve(lab.tls.ref(image.reference))
        assert registry.pool is not None
        assert registry.pool.proxy_for(lab.tls.base_url) is None
        # ...while a registry elsewhere would go through it (asked, not connected to).
        proxy = registry.pool.proxy_for("https://registry.example")
        assert proxy is not None
        assert proxy.described == f"the proxy {forward_proxy.url} (HTTPS_PROXY)"
    assert str(root.digest) == image.digest
    assert forward_proxy.requests(mark) == []


async def test_trust_env_false_ignores_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    async with RegistryProvider(trust_env=False) as registry:
        assert registry.pool is not None
        assert registry.pool.proxy_for("https://registry.example") is None
    async with RegistryProvider() as registry:
        assert registry.pool is not None
        assert registry.pool.proxy_for("https://registry.example") is not None


async def test_a_dead_proxy_is_an_error_naming_it_never_a_bypass(lab: Lab) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    image = lab.corpus["oci-single"]
    async with _provider(lab.tls, proxy=dead) as registry:
        with pytest.raises(ProxyError) as caught:
            await registry.resolve(lab.tls.ref(image.reference))
    assert isinstance(caught.value, NetworkError)
    assert caught.value.proxy == dead
    message = str(caught.value)
    assert message.startswith(f"cannot connect to the proxy {dead} (proxy=): ")
    assert lab.tls.host in message


async def test_proxy_authentication(
    lab: Lab, auth_proxy: ForwardProxy, caplog: pytest.LogCaptureFixture
) -> None:
    image = lab.corpus["oci-single"]
    ref = lab.tls.ref(image.reference)
    mark = auth_proxy.mark()
    caplog.set_level(logging.DEBUG)
    async with _provider(lab.tls, proxy=auth_proxy.url_with()) as registry:
        root = await registry.resolve(ref)
    assert str(root.digest) == image.digest
    assert f"CONNECT {lab.tls.host} HTTP/1.1" in auth_proxy.requests(mark)
    assert auth_proxy.password is not None
    assert f"through the proxy {auth_proxy.url} (proxy=)" in caplog.text
    assert auth_proxy.password not in caplog.text

    async with _provider(lab.tls, proxy=auth_proxy.url) as registry:
        with pytest.raises(ProxyAuthenticationError) as missing:
            await registry.resolve(ref)
    assert isinstance(missing.value, AuthenticationError)  # exit 5
    assert missing.value.proxy == auth_proxy.url
    assert str(missing.value).startswith(
        f"the proxy {auth_proxy.url} (proxy=) asks for credentials (407 Proxy Authentication "
        "Required): put the user and password in the proxy URL"
    )

    wrong = auth_proxy.url_with(password="not-the-password")
    async with _provider(lab.tls, proxy=wrong) as registry:
        with pytest.raises(
            ProxyAuthenticationError, match="refused the user and password"
        ) as refused:
            await registry.resolve(ref)
    assert "not-the-password" not in str(refused.value)
    assert auth_proxy.password is not None
    assert auth_proxy.password not in str(refused.value)


async def test_proxy_authentication_for_plain_http(lab: Lab, auth_proxy: ForwardProxy) -> None:
    image = lab.corpus["oci-single"]
    ref = lab.anonymous.ref(image.reference)
    async with _provider(lab.anonymous, proxy=auth_proxy.url_with(), plain_http=True) as registry:
        root = await registry.resolve(ref)
    assert str(root.digest) == image.digest
    async with _provider(lab.anonymous, proxy=auth_proxy.url, plain_http=True) as registry:
        with pytest.raises(ProxyAuthenticationError, match="asks for credentials"):
            await registry.resolve(ref)
