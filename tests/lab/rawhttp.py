"""A minimal registry client on ``http.client`` for seeding: four times less CPU per request than
httpx (measured 2026-11: 0.3 ms against 1.2 ms per HEAD), which is what seeding is bound by.

Thread-safe: one keep-alive connection per thread. Basic auth up front or Bearer after a 401
challenge (a token per repository, asked for ``pull,push`` when there are credentials).
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin, urlsplit

__all__ = ["RawClient", "RawResponse"]

_REPOSITORY_PATH = re.compile(r"^/v2/(.+?)/(?:manifests|blobs|tags)/")
_PARAM = re.compile(r'(\w+)="([^"]*)"')
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class RawResponse:
    url: str  # absolute URL of the request
    status_code: int
    headers: Mapping[str, str]  # lower-case names
    content: bytes = field(repr=False)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def join(self, location: str) -> str:
        """Resolve a ``Location`` (absolute or relative) against this request's URL."""
        return urljoin(self.url, location)


class RawClient:
    """One registry, many threads."""

    def __init__(
        self,
        base_url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        username: str | None = None,
        password: str | None = None,
        basic_up_front: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._ssl = ssl_context
        self._basic = None
        if username is not None and password is not None:
            self._basic = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self._basic_up_front = basic_up_front and self._basic is not None
        self._tokens: dict[str, str] = {}
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[http.client.HTTPConnection] = []

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    def _connection(self, origin: str) -> http.client.HTTPConnection:
        pool: dict[str, http.client.HTTPConnection] = self._local.__dict__.setdefault("pool", {})
        connection = pool.get(origin)
        if connection is None:
            parts = urlsplit(origin)
            host, port = parts.hostname or "127.0.0.1", parts.port
            if parts.scheme == "https":
                connection = http.client.HTTPSConnection(
                    host, port, timeout=TIMEOUT_SECONDS, context=self._ssl
                )
            else:
                connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS)
            pool[origin] = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> RawResponse:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in range(2):
            connection = self._connection(origin)
            try:
                connection.request(method, target, body=body, headers=dict(headers))
                response = connection.getresponse()
                content = response.read()
            except (http.client.RemoteDisconnected, ConnectionError, http.client.CannotSendRequest):
                connection.close()  # a keep-alive the server closed: reconnect once
                if attempt:
                    raise
                continue
            return RawResponse(
                url, response.status, {k.lower(): v for k, v in response.getheaders()}, content
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _token(self, challenge: Mapping[str, str], repository: str | None) -> str | None:
        scopes = [challenge["scope"]] if "scope" in challenge else []
        if self._basic is not None and repository is not None:
            scopes = [f"repository:{repository}:pull,push"]
        query = urlencode(
            [("service", challenge.get("service", "")), *(("scope", s) for s in scopes)]
        )
        headers = {"Authorization": self._basic} if self._basic else {}
        answer = self._send("GET", f"{challenge['realm']}?{query}", None, headers)
        if answer.status_code != 200:
            return None
        body = json.loads(answer.content)
        token = body.get("token") or body.get("access_token")
        return str(token) if token else None

    def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> RawResponse:
        """``url`` is a path (``/v2/…``) or an absolute URL on this registry."""
        absolute = url if "://" in url else self.base_url + url
        path = urlsplit(absolute).path
        match = _REPOSITORY_PATH.match(path)
        repository = match.group(1) if match else None
        key = repository or path
        sent = dict(headers or {})
        with self._lock:
            token = self._tokens.get(key)
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        elif self._basic_up_front and self._basic:
            sent["Authorization"] = self._basic
        response = self._send(method, absolute, content, sent)
        if response.status_code != 401:
            return response
        scheme, _, rest = response.headers.get("www-authenticate", "").partition(" ")
        challenge = {k.lower(): v for k, v in _PARAM.findall(rest)}
        if scheme.lower() == "bearer" and "realm" in challenge:
            token = self._token(challenge, repository)
            if token is None:
                return response
            with self._lock:
                self._tokens[key] = token
            sent["Authorization"] = f"Bearer {token}"
            return self._send(method, absolute, content, sent)
        if scheme.lower() == "basic" and self._basic and "Authorization" not in sent:
            sent["Authorization"] = self._basic
            return self._send(method, absolute, content, sent)
        return response
