"""The TLS trust store: where it comes from, and that a lazily read hashed directory really verifies
(against the lab's TLS registry, whose CA is trusted only through such a directory)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from regimage.errors import NetworkError
from regimage.http import tls as _tls
from regimage.registry.client import RegistryProvider
from regimage.registry.credentials import Credentials, CredentialStore
from tests.lab.lab import Lab


@pytest.fixture(autouse=True)
def fresh_default_context(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No SSL_CERT_* from the developer's shell, and no default context cached across tests."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    _tls.default_context.cache_clear()
    yield
    _tls.default_context.cache_clear()


def hashed_directory(tmp_path: Path, ca_file: Path) -> Path:
    """A directory with ``ca_file`` under its OpenSSL subject-hash name (as c_rehash makes)."""
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(ca_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    directory = tmp_path / "certs"
    directory.mkdir()
    shutil.copy(ca_file, directory / f"{subject_hash}.0")
    return directory


def no_system_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = SimpleNamespace(capath=None, cafile=None)
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: paths)


def system_directory(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """Make ``directory`` the system's hashed certificate directory."""
    (directory / "5ad8a5d6.0").write_text("not read until a verification needs it")
    paths = SimpleNamespace(capath=str(directory), cafile=None)
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: paths)


def test_ssl_cert_file_and_ssl_cert_dir_are_read_together(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As OpenSSL (Python's default context) and Go read them: the file replaces the system's
    file only, the directories the system's directory only."""
    system_directory(monkeypatch, tmp_path)
    hashed = tmp_path / "hashed"
    hashed.mkdir()
    (hashed / "0123abcd.0").write_text("x")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "bundle.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(hashed))
    assert _tls.trust_store() == _tls.TrustLocations(str(tmp_path / "bundle.pem"), str(hashed))
    monkeypatch.delenv("SSL_CERT_DIR")  # the file, and the system's directory
    assert _tls.trust_store() == _tls.TrustLocations(str(tmp_path / "bundle.pem"), str(tmp_path))


def test_ssl_cert_dir_is_used_when_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    system_directory(monkeypatch, tmp_path)
    hashed, plain = tmp_path / "hashed", tmp_path / "plain"
    hashed.mkdir()
    plain.mkdir()
    (hashed / "0123abcd.0").write_text("x")
    (plain / "corporate.pem").write_text("x")  # no hashed names: read whole, as Go reads it
    monkeypatch.setenv("SSL_CERT_DIR", f"{hashed}:{plain}")
    # The system's directory stands in for the system's bundle file, which OpenSSL and Go read.
    assert _tls.trust_store() == _tls.TrustLocations(
        None, f"{hashed}:{tmp_path}", (str(plain / "corporate.pem"),)
    )


def test_the_system_hashed_directory_is_preferred(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    system_directory(monkeypatch, tmp_path)
    assert _tls.trust_store() == _tls.TrustLocations(None, str(tmp_path))


@pytest.mark.parametrize("content", [None, "README", "ca-certificates.crt", "5ad8a5d6.pem"])
def test_certifi_when_the_system_has_no_hashed_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | None
) -> None:
    import certifi

    if content is not None:
        (tmp_path / content).write_text("x")
    paths = SimpleNamespace(capath=str(tmp_path), cafile=None)
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: paths)
    assert _tls.trust_store() == _tls.TrustLocations(certifi.where(), source="certifi")
    no_system_directory(monkeypatch)
    assert _tls.trust_store() == _tls.TrustLocations(certifi.where(), source="certifi")


def test_contexts_verify_and_the_insecure_one_does_not() -> None:
    context = _tls.default_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert _tls.default_context() is context  # made once per process
    insecure = _tls.insecure_context()
    assert insecure.verify_mode == ssl.CERT_NONE
    assert not insecure.check_hostname


def test_a_bad_ca_file_is_reported_at_once(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(ssl.SSLError):
        _tls.with_ca_file(bad)
    with pytest.raises(NetworkError, match="cannot load the CA file"):
        RegistryProvider(ca_file=tmp_path / "missing.pem")


def _store(lab: Lab) -> CredentialStore:
    return CredentialStore(Credentials(lab.username, lab.password), env={}, use_files=False)


@pytest.mark.integration
@pytest.mark.anyio
async def test_a_hashed_directory_verifies_the_lab_registry(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert lab.tls.ca_file is not None
    monkeypatch.setenv("SSL_CERT_DIR", str(hashed_directory(tmp_path, lab.tls.ca_file)))
    image = lab.corpus["oci-single"]
    async with RegistryProvider(credentials=_store(lab)) as registry:
        root = await registry.resolve(lab.tls.ref(image.reference))
    assert str(root.digest) == image.digest


@pytest.mark.integration
@pytest.mark.anyio
async def test_without_the_ca_the_lab_registry_is_refused(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "empty"))
    image = lab.corpus["oci-single"]
    async with RegistryProvider(credentials=_store(lab)) as registry:
        with pytest.raises(NetworkError, match="certificate verify failed"):
            await registry.resolve(lab.tls.ref(image.reference))
