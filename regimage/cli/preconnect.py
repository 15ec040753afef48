"""The command line's side of :mod:`regimage.registry.preconnect`: which registry to connect to
while Python still imports httpx and anyio, and whether to ask it ``GET /v2/`` too.

The command line owns what it starts: :func:`start` returns the :class:`Preconnect`, which the
session hands to the RegistryProvider it opens, and which the command line closes when the run
ends. ``REGIMAGE_PRECONNECT=0`` turns it off (the test suite does: its fake hosts must never be
looked up).
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Mapping

from regimage.cli.network import proxied
from regimage.cli.session import Options
from regimage.content.disk_cache import DiskCache
from regimage.errors import RegImageError
from regimage.http.certs_d import certs_d_ca_files
from regimage.model.host import is_loopback_host, split_host
from regimage.model.reference import Reference
from regimage.registry.preconnect import Preconnect

__all__ = ["start"]


def start(
    args: argparse.Namespace, options: Options, environ: Mapping[str, str]
) -> Preconnect | None:
    """Start the TCP and TLS handshakes with the registry of the command's reference now, in a
    thread; None when there is nothing to start (no registry reference, or turned off)."""
    if environ.get("REGIMAGE_PRECONNECT", "1") == "0":
        return None
    text = getattr(args, "ref", None) or getattr(args, "repo", None)
    first_reference = getattr(args, "first_reference", None)  # audit: the first it will read
    if text is None and callable(first_reference):
        text = first_reference(args)
    if not isinstance(text, str) or text.startswith("oci:"):
        return None
    try:
        api_host = Reference.parse(text).api_host
        host, port = split_host(api_host)
    except (RegImageError, ValueError):
        return None  # the command reports it
    if not host:
        return None
    # HTTPS unless told otherwise: a loopback registry's plain HTTP is found out by the provider
    # (the TLS handshake then fails here, and only costs this thread its time).
    tls = not options.plain_http
    if proxied(environ, "https" if tls else "http", host, port or (443 if tls else 80)):
        return None  # the pool goes through the proxy: a direct connection would go unused
    # Credentials may also come from docker's config, which is not read this early: the realm
    # rule assumes them (the stricter one).
    early = Preconnect(
        ca_file=options.ca_file,
        verify=not options.insecure,
        with_credentials=True,
        host_ca_files=certs_d_ca_files,  # the standard certs.d roots, as the provider's
    )
    # Once connected, the thread also asks GET /v2/ (what the registry wants), unless the disk
    # cache remembers the answer: then the provider asks nothing before its first request either.
    # Looking in the cache takes longer than starting the thread: it is done once it runs.
    probe = _ProbeDecision()
    early.start(host, port or (443 if tls else 80), tls=tls, probe=probe)
    probe.decide(not (options.cache and _challenge_remembered(api_host)))
    return early


class _ProbeDecision:
    """Whether the start-up thread is to ask ``GET /v2/``: it waits here for the answer."""

    __slots__ = ("_decided", "_wanted")

    def __init__(self) -> None:
        self._decided = threading.Event()
        self._wanted = False

    def decide(self, wanted: bool) -> None:
        self._wanted = wanted
        self._decided.set()

    def __call__(self) -> bool:
        return self._decided.wait(5.0) and self._wanted


def _challenge_remembered(api_host: str) -> bool:
    """Whether the disk cache knows what ``api_host`` answers, as the provider will see it (a
    cache directory it cannot use is the provider's to report, once)."""
    try:
        quiet = DiskCache(on_unusable=lambda reason: None)
        found = quiet.challenge(api_host, loopback=is_loopback_host(api_host))
    except (OSError, ValueError):
        return False
    return found is not None
