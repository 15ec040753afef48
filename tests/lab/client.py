"""A small synchronous registry client for the lab (seeding and self-tests).

Deliberately independent of ``regimage``: the lab is the oracle the library is checked against, so
it must not share the library's code. Plain httpx (sync), Basic or Bearer auth, nothing clever.
"""

from __future__ import annotations

import base64
import re
import ssl
import threading
from collections.abc import Generator
from pathlib import Path

import httpx

__all__ = ["LabAuth", "make_client", "parse_challenge"]

_PARAM = re.compile(r'(\w+)="([^"]*)"')
_REPOSITORY_PATH = re.compile(r"^/v2/(.+?)/(?:manifests|blobs|tags)/")


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` → ("bearer", {"realm": …, "service": …})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), {k.lower(): v for k, v in _PARAM.findall(rest)}


class LabAuth(httpx.Auth):
    """Basic (sent up front, for the htpasswd registry) or Bearer after a challenge.

    With credentials, a Bearer token is asked for ``pull,push`` on the request's repository, so one
    token serves a whole push; without, for exactly what the challenge names.
    """

    def __init__(
        self,
        username: str | None,
        password: str | None,
        *,
        basic_up_front: bool,
        verify: ssl.SSLContext | bool,
    ) -> None:
        self._credentials = (
            (username, password) if username is not None and password is not None else None
        )
        self._basic_up_front = basic_up_front and self._credentials is not None
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._verify = verify
        self._token_client: httpx.Client | None = None

    def _basic_header(self) -> str:
        assert self._credentials is not None
        raw = f"{self._credentials[0]}:{self._credentials[1]}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def close(self) -> None:
        if self._token_client is not None:
            self._token_client.close()

    def _fetch_token(self, params: dict[str, str], repository: str | None) -> str | None:
        scopes = [params["scope"]] if "scope" in params else []
        if self._credentials is not None and repository is not None:
            scopes = [f"repository:{repository}:pull,push"]
        query: list[tuple[str, str]] = [("service", params.get("service", ""))]
        query += [("scope", scope) for scope in scopes]
        headers = {"Authorization": self._basic_header()} if self._credentials else {}
        with self._lock:
            if self._token_client is None:
                self._token_client = httpx.Client(
                    trust_env=False, verify=self._verify, timeout=10.0
                )
            client = self._token_client
        response = client.get(
            params["realm"], params=httpx.QueryParams(tuple(query)), headers=headers
        )
        if response.status_code != 200:
            return None
        body = response.json()
        token = body.get("token") or body.get("access_token")
        return str(token) if token else None

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        match = _REPOSITORY_PATH.match(request.url.path)
        repository = match.group(1) if match else None
        key = repository or request.url.path
        with self._lock:
            token = self._tokens.get(key)
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token}"
        elif self._basic_up_front:
            request.headers["Authorization"] = self._basic_header()
        response = yield request
        if response.status_code != 401:
            return
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if (
            scheme == "basic"
            and self._credentials is not None
            and "Authorization" not in request.headers
        ):
            request.headers["Authorization"] = self._basic_header()
            yield request
        elif scheme == "bearer" and "realm" in params:
            token = self._fetch_token(params, repository)
            if token is None:
                return
            with self._lock:
                self._tokens[key] = token
            request.headers["Authorization"] = f"Bearer {token}"
            yield request


def make_client(
    base_url: str,
    *,
    ca_file: Path | None = None,
    username: str | None = None,
    password: str | None = None,
    basic_up_front: bool = False,
    timeout: float = 30.0,
) -> httpx.Client:
    """An httpx client for one lab registry (caller closes it).

    Without ``ca_file`` the registry is plain HTTP: no TLS context is built (loading the system CA
    bundle costs tens of milliseconds per client).
    """
    verify: ssl.SSLContext | bool = False
    if ca_file is not None:
        verify = ssl.create_default_context(cafile=str(ca_file))
    auth = LabAuth(username, password, basic_up_front=basic_up_front, verify=verify)
    return _LabClient(
        base_url=base_url,
        auth=auth,
        verify=verify,
        trust_env=False,
        timeout=timeout,
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
    )


class _LabClient(httpx.Client):
    """Closes its auth's token client too."""

    def close(self) -> None:
        auth = self.auth
        super().close()
        if isinstance(auth, LabAuth):
            auth.close()
