"""TLS contexts whose trust store costs nothing until a certificate is verified.

httpx's default context parses certifi's whole CA bundle (about 150 certificates) when it is
made: 25-50 ms of every CLI run that talks to an HTTPS registry (DESIGN.md §10). OpenSSL can
instead look certificates up by subject hash in a directory (``capath``), reading only the one or
two files a verification needs. So the default trust store is, in this order:

1. ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set (as httpx, OpenSSL and Go honour them);
2. the system's hashed certificate directory (Debian's ``/etc/ssl/certs``, kept by
   ``update-ca-certificates``: it also holds the CAs an administrator added, which is what the
   registries' own Go clients trust);
3. certifi's bundle, where the system has no such directory (macOS and Windows Pythons, slim
   images without ``ca-certificates``).
"""

from __future__ import annotations

import functools
import os
import re
import ssl

__all__ = [
    "default_context",
    "insecure_context",
    "new_context",
    "new_default_context",
    "new_insecure_context",
    "trust_store",
    "with_ca_file",
]

#: OpenSSL's names in a hashed directory: the subject hash and a sequence number (``5ad8a5d6.0``).
_HASHED_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")


def _hashed_directory(path: str | None) -> bool:
    """Whether ``path`` is a directory OpenSSL can look certificates up in by hash."""
    if not path:
        return False
    try:
        with os.scandir(path) as entries:
            return any(_HASHED_NAME.fullmatch(entry.name) for entry in entries)
    except OSError:
        return False


def trust_store() -> tuple[str, str]:
    """Where the default context's CA certificates come from: ``("cafile" | "capath", path)``."""
    if os.environ.get("SSL_CERT_FILE"):
        return "cafile", os.environ["SSL_CERT_FILE"]
    if os.environ.get("SSL_CERT_DIR"):
        return "capath", os.environ["SSL_CERT_DIR"]
    system = ssl.get_default_verify_paths().capath
    if system is not None and _hashed_directory(system):
        return "capath", system
    import certifi  # here: ~20 ms to import, needed only without a system CA directory

    return "cafile", certifi.where()


def new_default_context() -> ssl.SSLContext:
    """A new verifying context on the default trust store (not shared: for another thread)."""
    kind, path = trust_store()
    if kind == "cafile":
        return ssl.create_default_context(cafile=path)
    return ssl.create_default_context(capath=path)


@functools.cache
def default_context() -> ssl.SSLContext:
    """The shared verifying context of the process (made on the first HTTPS connection)."""
    return new_default_context()


@functools.cache
def insecure_context() -> ssl.SSLContext:
    """The shared context that verifies nothing (``--insecure``)."""
    return new_insecure_context()


def new_insecure_context() -> ssl.SSLContext:
    """A context that verifies nothing: still TLS, never a trust decision."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def with_ca_file(ca_file: str | os.PathLike[str]) -> ssl.SSLContext:
    """A verifying context that also trusts the PEM certificates in ``ca_file``.

    Raises OSError or ssl.SSLError for a missing or malformed file: callers report it at once.
    """
    context = new_default_context()
    context.load_verify_locations(cafile=os.fspath(ca_file))
    return context


def new_context(
    *, ca_file: str | os.PathLike[str] | None = None, verify: bool = True
) -> ssl.SSLContext:
    """A new context for the TLS options a user gives (``--ca-file``, ``--insecure``): the one
    place that decides how they combine. Raises as :func:`with_ca_file` does."""
    if not verify:
        return new_insecure_context()
    if ca_file is not None:
        return with_ca_file(ca_file)
    return new_default_context()
