"""TLS contexts whose trust store costs nothing until a certificate is verified.

httpx's default context parses certifi's whole CA bundle (about 150 certificates) when it is
made: 25-50 ms of every CLI run that talks to an HTTPS registry (DESIGN.md §10). OpenSSL can
instead look certificates up by subject hash in a directory (``capath``), reading only the one or
two files a verification needs. So the default trust store is, in this order:

1. ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` when set, together, as OpenSSL (Python's default
   context) and Go read them: the file's certificates, and the directories' (``:``-separated; a
   directory without OpenSSL's hashed names is read whole, as Go reads it). With only the file,
   the system's directory (below) is read too, as both do;
2. the system's hashed certificate directory (Debian's ``/etc/ssl/certs``, kept by
   ``update-ca-certificates``: it also holds the CAs an administrator added, which is what the
   registries' own Go clients trust);
3. certifi's bundle, where the system has no such directory (macOS and Windows Pythons, slim
   images without ``ca-certificates``).

A ``SSL_CERT_FILE`` that cannot be loaded is an error that names it (:class:`TrustStoreError`),
raised only when a TLS connection needs the store: a plain-HTTP registry never meets it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "CAFileError",
    "TrustLocations",
    "TrustStoreError",
    "check_ca_file",
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


class TrustStoreError(ValueError):
    """CA certificates that cannot be loaded (``SSL_CERT_FILE``, a certs.d file); the message
    names the file and where it was named."""


class CAFileError(ValueError):
    """A ``--ca-file`` (``ca_file=``) that is missing, unreadable, a directory or not PEM."""


@dataclass(frozen=True, slots=True)
class TrustLocations:
    """Where the default trust store's CA certificates come from."""

    cafile: str | None = None  # a PEM bundle, parsed whole
    capath: str | None = None  # hashed directories (``:``-separated), read one file per lookup
    files: tuple[str, ...] = ()  # the files of SSL_CERT_DIR directories without hashed names
    source: str = "SSL_CERT_FILE"  # what the cafile is, for messages (or ``certifi``)


def _hashed_directory(path: str | None) -> bool:
    """Whether ``path`` is a directory OpenSSL can look certificates up in by hash."""
    if not path:
        return False
    try:
        with os.scandir(path) as entries:
            return any(_HASHED_NAME.fullmatch(entry.name) for entry in entries)
    except OSError:
        return False


def _regular_files(directory: str) -> list[str]:
    try:
        with os.scandir(directory) as entries:
            return sorted(e.path for e in entries if e.is_file())
    except OSError:
        return []  # a directory that is not there holds no CA (Go ignores it too)


def trust_store(environ: Mapping[str, str] | None = None) -> TrustLocations:
    """Where the default context's CA certificates come from (``environ``: the process's).

    OpenSSL and Go read a file and directories: ``SSL_CERT_FILE`` replaces only the file, and
    ``SSL_CERT_DIR`` only the directories. The system's hashed directory stands in for the system's
    bundle file (the same CAs, read lazily), and certifi's bundle where there is no such directory.
    """
    env = os.environ if environ is None else environ
    cafile = env.get("SSL_CERT_FILE") or None
    directories = [d for d in (env.get("SSL_CERT_DIR") or "").split(":") if d]
    system: str | None = ssl.get_default_verify_paths().capath  # None at run time, typeshed or not
    if system is not None and not _hashed_directory(system):
        system = None
    hashed = [d for d in directories if _hashed_directory(d)]
    files = tuple(f for d in directories if d not in hashed for f in _regular_files(d))
    if system is not None and (not directories or cafile is None) and system not in hashed:
        hashed.append(system)  # the system's directory, or its stand-in for the system's file
    source = "SSL_CERT_FILE"
    if cafile is None and system is None:
        import certifi  # here: ~20 ms to import, needed only without a system CA directory

        cafile, source = certifi.where(), "certifi"
    return TrustLocations(cafile, ":".join(hashed) or None, files, source)


def new_default_context(environ: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """A new verifying context on the default trust store (not shared: for another thread).

    Raises :class:`TrustStoreError` naming ``SSL_CERT_FILE`` when it cannot be loaded."""
    where = trust_store(environ)
    try:
        context = ssl.create_default_context(cafile=where.cafile, capath=where.capath)
    except (OSError, ssl.SSLError) as exc:
        raise TrustStoreError(
            f"cannot load the CA certificates of {where.source} {where.cafile!r}: {_why(exc)}"
        ) from None
    for path in where.files:
        # Not a certificate: Go skips such files of SSL_CERT_DIR too.
        with contextlib.suppress(OSError, ssl.SSLError):
            context.load_verify_locations(cafile=path)
    return context


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


def with_ca_file(
    ca_file: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> ssl.SSLContext:
    """A verifying context that also trusts the PEM certificates in ``ca_file``.

    Raises OSError or ssl.SSLError for a missing or malformed file: callers report it at once.
    """
    context = new_default_context(environ)
    context.load_verify_locations(cafile=os.fspath(ca_file))
    return context


def check_ca_file(ca_file: str | os.PathLike[str]) -> None:
    """Raise :class:`CAFileError`, naming the file, unless ``ca_file`` is a readable PEM file
    of CA certificates: what a user passed as ``--ca-file`` is checked before any connection."""
    path = os.fspath(ca_file)
    if os.path.isdir(path):
        raise CAFileError(f"the CA file {path!r} is a directory, not a PEM file")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except FileNotFoundError:
        raise CAFileError(f"the CA file {path!r} does not exist") from None
    except ssl.SSLError:
        raise CAFileError(
            f"the CA file {path!r} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ) from None
    except OSError as exc:
        raise CAFileError(f"cannot read the CA file {path!r}: {_why(exc)}") from None


def _why(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return "not PEM certificates"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def new_context(
    *,
    ca_file: str | os.PathLike[str] | None = None,
    verify: bool = True,
    environ: Mapping[str, str] | None = None,
) -> ssl.SSLContext:
    """A new context for the TLS options a user gives (``--ca-file``, ``--insecure``): the one
    place that decides how they combine (``environ``: the process's, or ``{}`` to ignore
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``). Raises as :func:`with_ca_file` does."""
    if not verify:
        return new_insecure_context()
    if ca_file is not None:
        return with_ca_file(ca_file, environ)
    return new_default_context(environ)
