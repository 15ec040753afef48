"""Token realms: which URL a registry's Bearer challenge may send us to, and with what.

One rule for every path that contacts a realm (the authenticator, and the CLI's pre-connection), so
that nothing opens a connection to a realm the authenticator would refuse.
"""

from __future__ import annotations

import httpx

from regimage.errors import AuthenticationError
from regimage.http.redaction import redact_url
from regimage.model.host import is_loopback_host


def netloc(url: httpx.URL) -> str:
    """``host`` or ``host:port`` of a URL, as registries and credential files name hosts."""
    return url.netloc.decode("ascii")


def check_realm(
    host: str, registry_url: httpx.URL, realm: str | None, *, with_credentials: bool
) -> httpx.URL:
    """The realm URL of ``host``'s Bearer challenge, if it may be contacted.

    It must be an http(s) URL; credentials go to a plain-HTTP realm only from a plain-HTTP
    loopback registry to a loopback realm. Raises :class:`AuthenticationError` otherwise.
    """
    if not realm:
        raise AuthenticationError(f"{host} asked for a Bearer token but named no realm")
    try:
        url = httpx.URL(realm)
    except (httpx.InvalidURL, TypeError, ValueError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise AuthenticationError(
            f"{host} named a token realm that is not an http(s) URL: {redact_url(realm)!r}"
        )
    if with_credentials and url.scheme == "http":
        local = (
            registry_url.scheme == "http"
            and is_loopback_host(host)
            and is_loopback_host(netloc(url))
        )
        if not local:
            raise AuthenticationError(
                f"refusing to send the credentials for {host} to the plain-HTTP token realm "
                f"{redact_url(url)}: only a loopback registry may use one"
            )
    return url
