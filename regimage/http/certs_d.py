"""A registry's own CA files in the certs.d directories Docker and Podman read.

Docker reads a registry's private CA from ``/etc/docker/certs.d/<host[:port]>/*.crt``; Podman,
skopeo and buildah (containers/image) from ``~/.config/containers/certs.d/<host[:port]>/`` and
``/etc/containers/certs.d/<host[:port]>/``. The directory is named as a reference names the
registry: ``host:port``, or ``host`` for port 443 (both are looked at). Client certificates
(``*.cert`` and ``*.key``) are not read. Only ``os``: the command line's start-up thread asks too,
before ssl is imported (:mod:`regimage.http.trust` makes the contexts).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = ["SYSTEM_CERTS_D", "certs_d_ca_files", "default_certs_d_roots"]

#: The system's certs.d roots, after the user's (``~/.config/containers/certs.d``).
SYSTEM_CERTS_D = ("/etc/containers/certs.d", "/etc/docker/certs.d")


def default_certs_d_roots() -> tuple[str, ...]:
    """The certs.d roots Podman, skopeo and Docker read: the user's first, then the system's."""
    return (os.path.expanduser("~/.config/containers/certs.d"), *SYSTEM_CERTS_D)


def certs_d_ca_files(
    host: str, port: int, roots: Sequence[str | os.PathLike[str]] | None = None
) -> tuple[str, ...]:
    """The ``*.crt`` files that certs.d directories hold for ``host``:``port`` (``roots``: the
    standard ones by default), each root in order, files sorted by name."""
    shown = f"[{host}]" if ":" in host else host
    names = [f"{shown}:{port}"] + ([shown] if port == 443 else [])
    found: list[str] = []
    for root in default_certs_d_roots() if roots is None else roots:
        for name in names:
            directory = os.path.join(os.fspath(root), name)
            try:
                with os.scandir(directory) as entries:
                    crts = sorted(e.path for e in entries if e.name.endswith(".crt"))
            except OSError:
                continue  # no directory for this host: the common case
            found.extend(crts)
    return tuple(found)
