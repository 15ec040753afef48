"""Which CAs verify which registry: certs.d directories (Docker's, Podman's), ``--ca-file`` checked
before any connection, ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` together, a bad ``SSL_CERT_FILE``
named; the lab's TLS registry (its own CA) trusted through each."""

from __future__ import annotations

import logging
import os
import re
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest

from regimage.errors import NetworkError
from regimage.http import tls as _tls
from regimage.http.certs_d import certs_d_ca_files, default_certs_d_roots
from regimage.http.trust import HostTrust
from regimage.registry.client import RegistryProvider
from regimage.registry.credentials import Credentials, CredentialStore
from regimage.registry.preconnect import Preconnect
from tests.http.test_tls import hashed_directory
from tests.lab.lab import Lab
from tests.lab.tls import create_pki


@pytest.fixture(autouse=True)
def fresh_default_context(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No SSL_CERT_* from the developer's shell, and no default context cached across tests."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    _tls.default_context.cache_clear()
    yield
    _tls.default_context.cache_clear()


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_pki(tmp_path_factory.mktemp("pki")).ca_file


# ── certs.d ──────────────────────────────────────────────────────────────────────────────────────


def test_certs_d_files_for_a_host(tmp_path: Path) -> None:
    user, system = tmp_path / "user", tmp_path / "system"
    for path in (
        user / "registry.example:5000" / "ca.crt",
        system / "registry.example:5000" / "b.crt",
        system / "registry.example:5000" / "a.crt",
        system / "registry.example:5000" / "client.cert",  # a client certificate: not a CA
        system / "registry.example:5000" / "client.key",
        system / "registry.example" / "default-port.crt",  # only for port 443
        system / "other.example:5000" / "ca.crt",
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    roots = [user, system]
    assert certs_d_ca_files("registry.example", 5000, roots) == (
        str(user / "registry.example:5000" / "ca.crt"),
        str(system / "registry.example:5000" / "a.crt"),
        str(system / "registry.example:5000" / "b.crt"),
    )
    assert certs_d_ca_files("registry.example", 443, roots) == (
        str(system / "registry.example" / "default-port.crt"),
    )
    assert certs_d_ca_files("nothing.example", 443, roots) == ()
    assert certs_d_ca_files("registry.example", 5000, []) == ()


def test_the_standard_roots(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_certs_d_roots() == (
        str(tmp_path / ".config" / "containers" / "certs.d"),
        "/etc/containers/certs.d",
        "/etc/docker/certs.d",
    )


def test_a_host_without_cas_of_its_own_shares_the_default_context(tmp_path: Path) -> None:
    trust = HostTrust(certs_d=[tmp_path])
    assert trust.for_host("registry.example", 443) is None
    assert trust.shared() is _tls.default_context()
    extra = HostTrust(certs_d=[], extra=lambda host, port: [tmp_path / f"{host}.crt"])
    assert extra.ca_files("registry.example", 443) == (str(tmp_path / "registry.example.crt"),)
    assert HostTrust(verify=False, extra=lambda h, p: ["ca.crt"]).for_host("x", 443) is None


def test_a_bad_certs_d_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "registry.example:5000" / "ca.crt"
    bad.parent.mkdir()
    bad.write_text("not a certificate")
    factory = HostTrust(certs_d=[tmp_path]).for_host("registry.example", 5000)
    assert factory is not None
    with pytest.raises(_tls.TrustStoreError, match=re.escape(f"CA certificate '{bad}': not PEM")):
        factory()


# ── --ca-file ────────────────────────────────────────────────────────────────────────────────────


def test_a_good_ca_file_passes(ca_file: Path) -> None:
    _tls.check_ca_file(ca_file)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda d: d / "missing.pem", "does not exist"),
        (lambda d: d, "is a directory, not a PEM file"),
        (lambda d: _write(d / "ca.der", "\x30\x82 not PEM"), "holds no PEM certificate"),
        (lambda d: _write(d / "empty.pem", ""), "holds no PEM certificate"),
        (lambda d: _write(d / "file", "x") / "ca.pem", "cannot read the CA file"),
    ],
    ids=["missing", "directory", "not-pem", "empty", "under-a-file"],
)
def test_a_bad_ca_file_is_named(tmp_path: Path, make: object, problem: str) -> None:
    assert callable(make)
    path = make(tmp_path)
    with pytest.raises(_tls.CAFileError, match=problem) as caught:
        _tls.check_ca_file(path)
    assert repr(str(path)) in str(caught.value)


def test_an_unreadable_ca_file_is_named(tmp_path: Path, ca_file: Path) -> None:
    """As a subprocess, so that root can drop the capabilities that let it read any file."""
    locked = tmp_path / "ca.pem"
    shutil.copy(ca_file, locked)
    locked.chmod(0)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv is not None, "root needs setpriv (util-linux) to drop CAP_DAC_OVERRIDE"
        prefix = (setpriv, "--bounding-set=-dac_override,-dac_read_search", "--")
    code = (
        "import sys\n"
        "from regimage.http import tls\n"
        "try:\n"
        "    tls.check_ca_file(sys.argv[1])\n"
        "except tls.CAFileError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [*prefix, sys.executable, "-c", code, str(locked)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert re.search(r"cannot read the CA file .*: Permission denied", out), out


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="latin-1")
    return path


# ── SSL_CERT_FILE ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("content", [None, "not a certificate"])
def test_a_bad_ssl_cert_file_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | None
) -> None:
    bundle = tmp_path / "bundle.pem"
    if content is not None:
        bundle.write_text(content)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    with pytest.raises(_tls.TrustStoreError, match=re.escape(f"of SSL_CERT_FILE '{bundle}'")):
        _tls.new_default_context()


# ── against the lab's TLS registry ───────────────────────────────────────────────────────────────


def _store(lab: Lab) -> CredentialStore:
    return CredentialStore(Credentials(lab.username, lab.password), env={}, use_files=False)


@pytest.mark.integration
@pytest.mark.anyio
async def test_a_certs_d_ca_makes_the_lab_registry_trusted(lab: Lab, tmp_path: Path) -> None:
    assert lab.tls.ca_file is not None
    image = lab.corpus["oci-single"]
    empty, root = tmp_path / "empty", tmp_path / "certs.d"
    empty.mkdir()
    (root / lab.tls.host).mkdir(parents=True)
    shutil.copy(lab.tls.ca_file, root / lab.tls.host / "ca.crt")
    async with RegistryProvider(credentials=_store(lab), certs_d=[empty]) as registry:
        with pytest.raises(NetworkError, match="certificate verify failed"):
            await registry.resolve(lab.tls.ref(image.reference))
    async with RegistryProvider(credentials=_store(lab), certs_d=[empty, root]) as registry:
        root_descriptor = await registry.resolve(lab.tls.ref(image.reference))
    assert str(root_descriptor.digest) == image.digest


@pytest.mark.integration
@pytest.mark.anyio
async def test_ssl_cert_dir_counts_with_ssl_cert_file_set(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bundle in SSL_CERT_FILE (certifi's, without the lab's CA) and the lab's CA in
    SSL_CERT_DIR: both are read, as Python's default context and Go read them."""
    assert lab.tls.ca_file is not None
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    monkeypatch.setenv("SSL_CERT_DIR", str(hashed_directory(tmp_path, lab.tls.ca_file)))
    image = lab.corpus["oci-single"]
    async with RegistryProvider(credentials=_store(lab), certs_d=[]) as registry:
        root = await registry.resolve(lab.tls.ref(image.reference))
    assert str(root.digest) == image.digest


@pytest.mark.integration
@pytest.mark.anyio
async def test_an_ssl_cert_dir_without_hashed_names_is_read_whole(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert lab.tls.ca_file is not None
    shutil.copy(lab.tls.ca_file, tmp_path / "lab-ca.pem")
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    image = lab.corpus["oci-single"]
    async with RegistryProvider(credentials=_store(lab), certs_d=[]) as registry:
        root = await registry.resolve(lab.tls.ref(image.reference))
    assert str(root.digest) == image.digest


@pytest.mark.integration
@pytest.mark.anyio
async def test_a_bad_ssl_cert_file_is_named_and_spares_plain_http(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "missing.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(missing))
    image = lab.corpus["oci-single"]
    async with RegistryProvider(credentials=_store(lab), ca_file=lab.tls.ca_file) as registry:
        with pytest.raises(NetworkError) as caught:
            await registry.resolve(lab.tls.ref(image.reference))
        assert str(caught.value) == (
            f"cannot load the CA certificates of SSL_CERT_FILE '{missing}': No such file or "
            f"directory (for {lab.tls.host})"
        )
        # A plain-HTTP registry on loopback (its scheme found out) needs no trust store.
        anonymous = await registry.resolve(lab.anonymous.ref(image.reference))
    assert str(anonymous.digest) == image.digest
    # trust_env=False: no SSL_CERT_FILE, no problem.
    async with RegistryProvider(
        credentials=_store(lab), ca_file=lab.tls.ca_file, trust_env=False
    ) as registry:
        root = await registry.resolve(lab.tls.ref(image.reference))
    assert str(root.digest) == image.digest


def test_verify_paths_are_not_what_the_default_context_loads() -> None:
    """The default context never parses the system's bundle file (the point of the hashed
    directory): whatever OpenSSL's defaults say, a context on the trust store loads no
    certificate until one is needed."""
    context = _tls.new_default_context({})
    if _tls.trust_store({}).cafile is None:
        assert context.cert_store_stats()["x509_ca"] == 0
    assert context.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.integration
@pytest.mark.anyio
async def test_the_start_up_connection_trusts_the_certs_d_ca_too(
    lab: Lab, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The command line's start-up thread verifies as the provider will: with the certs.d CA,
    its TLS connection is adopted, not thrown away and made again."""
    assert lab.tls.ca_file is not None
    (tmp_path / lab.tls.host).mkdir()
    shutil.copy(lab.tls.ca_file, tmp_path / lab.tls.host / "ca.crt")
    host, port = lab.tls.host.rsplit(":", 1)
    early = Preconnect(host_ca_files=lambda h, p: certs_d_ca_files(h, p, [tmp_path]))
    early.start(host, int(port), tls=True)
    caplog.set_level(logging.DEBUG, logger="regimage")
    image = lab.corpus["oci-single"]
    try:
        async with RegistryProvider(
            credentials=_store(lab), certs_d=[tmp_path], preconnect=early
        ) as registry:
            root = await registry.resolve(lab.tls.ref(image.reference))
            assert registry.pool is not None
            assert registry.pool.stats.opened == 1
    finally:
        early.close()
    assert str(root.digest) == image.digest
    assert "using the connection opened at start-up" in caplog.text
