"""FaultProxy: an HTTP/1.1 proxy between regimage and the real lab registry that injects faults.

    with FaultProxy(lab.token) as proxy:
        proxy.set_rules([Rule("status", path="/manifests/", options={"status": 503})])
        async with RegistryProvider(plain_http=True, ...) as registry:
            await registry.resolve(proxy.ref("public/oci-index:v1"))

Requests to ``/token`` go to the registry's token server, everything else to the registry; the
``WWW-Authenticate`` realm is rewritten to point at the proxy, so token requests pass through it
too. A second listener, :attr:`FaultProxy.other`, stands for "another host" (a CDN): the
``redirect_other`` fault sends the client there, and it serves the content the registry would
have (as a signed URL would), recording what the client sent it.

Rules are tried in order; the first that matches (method, path regex, upstream, Bearer or not)
and decides to fire (``nth`` matching request, at most ``times`` times, with ``probability``
drawn from the proxy's seeded RNG) applies its fault. Every request is recorded.

Faults (``Rule.fault``; ``options`` in brackets):

- ``status`` [status=503, retry_after=None]: a registry-style error answer, upstream not asked;
- ``html`` [status=200]: an HTML page (a captive portal, a proxy's error page);
- ``reset``: TCP RST before any answer;
- ``hang``: read the request, say nothing (until the client gives up);
- ``stall`` [interval]: the real answer's headers, then its body at one byte per ``interval``
  (default: the proxy's ``stall_interval``) seconds;
- ``truncate``: the real answer cut at half its body (Content-Length says the full size);
- ``length_long`` / ``length_short``: Content-Length 10 bytes over / under the body (which is
  sent up to the declared length, then the connection is closed);
- ``corrupt``: the body's middle byte replaced by 0xFF (not UTF-8, not the digest);
- ``swap_type``: index ↔ manifest Content-Type (anything else becomes an OCI index type);
- ``drop_digest``: no ``Docker-Content-Digest``;
- ``invalid_token``: 401 ``error="invalid_token"`` (a token that expired early or was revoked);
- ``redirect_loop``: 302 to the same URL, for ever;
- ``redirect_other``: 307 to the other listener, with a signature in the query;
- ``redirect_to`` [location]: 302 to ``location`` (``file:///etc/passwd``, ``ftp://…``).
"""

from __future__ import annotations

import http.client
import itertools
import random
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from tests.faults.listener import Handler, Listener

__all__ = ["FAULTS", "Fault", "FaultProxy", "Record", "Rule", "Upstream"]

Fault = Literal[
    "status",
    "html",
    "reset",
    "hang",
    "stall",
    "truncate",
    "length_long",
    "length_short",
    "corrupt",
    "swap_type",
    "drop_digest",
    "invalid_token",
    "redirect_loop",
    "redirect_other",
    "redirect_to",
]
FAULTS: tuple[Fault, ...] = get_args(Fault)

#: Faults answered without asking the upstream.
_LOCAL: frozenset[str] = frozenset(
    {"status", "html", "reset", "hang", "invalid_token", "redirect_loop", "redirect_to"}
)
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
_SWAPPED = {
    "application/vnd.oci.image.index.v1+json": "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.manifest.v1+json": "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json": (
        "application/vnd.docker.distribution.manifest.v2+json"
    ),
    "application/vnd.docker.distribution.manifest.v2+json": (
        "application/vnd.docker.distribution.manifest.list.v2+json"
    ),
}
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>Bad Gateway</h1><p>The proxy server received an invalid response.</p></body></html>\n"
)
#: Upstream answers are read whole; the lab serves manifests, configs and lists, all small.
MAX_UPSTREAM_BODY_BYTES = 64 * 1024 * 1024
UPSTREAM_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where the proxy forwards: ``host`` is ``127.0.0.1:PORT``."""

    host: str

    def connect(self) -> http.client.HTTPConnection:
        name, _, port = self.host.rpartition(":")
        return http.client.HTTPConnection(name, int(port), timeout=UPSTREAM_TIMEOUT_SECONDS)


@dataclass(frozen=True, slots=True)
class Rule:
    """When to inject ``fault``. ``path`` is a regex searched in the request target."""

    fault: Fault
    path: str | None = None
    method: str | None = None
    upstream: Literal["registry", "token"] | None = None
    bearer: bool | None = None  # the request must (True) or must not (False) carry a Bearer token
    nth: int | None = None  # fire on the nth matching request only (1-based)
    times: int | None = 1  # fire at most this many times; None: every time
    probability: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        status = self.options.get("status")
        return f"{self.fault}:{status}" if status is not None else self.fault


@dataclass(frozen=True, slots=True)
class Record:
    """One request a listener received. ``headers`` keys are lower-case."""

    listener: Literal["proxy", "other"]
    method: str
    path: str
    headers: Mapping[str, str]
    fault: str | None

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


@dataclass(slots=True)
class _RuleState:
    rule: Rule
    matched: int = 0
    fired: int = 0


@dataclass(frozen=True, slots=True)
class _Pending:
    """A request redirected to the other listener, to be served from the upstream there."""

    upstream: Upstream
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]


class FaultProxy:
    """The proxy (``host``, ``ref()``) and the other host (``other``); see the module docstring."""

    def __init__(
        self,
        registry: str,
        token_realm: str | None = None,
        *,
        seed: int = 0,
        stall_interval: float = 1.0,
    ) -> None:
        self.registry = Upstream(registry)
        self.token: Upstream | None = None
        self._realm_base: str | None = None
        if token_realm is not None:
            parts = urlsplit(token_realm)
            self.token = Upstream(parts.netloc)
            self._realm_base = f"{parts.scheme}://{parts.netloc}"
        self.stall_interval = stall_interval
        self._lock = threading.Lock()
        self._rng = random.Random(seed)  # noqa: S311 - seeded fault schedule
        self._rules: list[_RuleState] = []
        self._records: list[Record] = []
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self.injected: Counter[str] = Counter()
        self.listener = Listener(_make_handler(self, "proxy"))
        self.other = Listener(_make_handler(self, "other"))

    @classmethod
    def for_lab(cls, registry: Any, **kwargs: Any) -> FaultProxy:
        """A proxy in front of a ``LabRegistry`` (and its token server, if it has one)."""
        return cls(registry.host, registry.token_realm, **kwargs)

    def __repr__(self) -> str:
        return f"<FaultProxy({self.host} → {self.registry.host}, rules={len(self._rules)})>"

    # ── addresses ─────────────────────────────────────────────────────────────────────────────────

    @property
    def host(self) -> str:
        return self.listener.host

    @property
    def base_url(self) -> str:
        return self.listener.base_url

    def ref(self, repo_tag: str) -> str:
        """``public/x:v1`` → ``127.0.0.1:PROXYPORT/public/x:v1``."""
        return f"{self.host}/{repo_tag}"

    # ── rules and records ─────────────────────────────────────────────────────────────────────────

    def set_rules(self, rules: Iterable[Rule], *, seed: int | None = None) -> None:
        """Replace the rules (and forget the records, counts and pending redirects)."""
        with self._lock:
            self._rules = [_RuleState(rule) for rule in rules]
            self._records.clear()
            self._pending.clear()
            self.injected.clear()
            if seed is not None:
                self._rng = random.Random(seed)  # noqa: S311 - seeded fault schedule

    def clear(self) -> None:
        self.set_rules([])

    @property
    def records(self) -> list[Record]:
        with self._lock:
            return list(self._records)

    def _choose(
        self, phase: str, method: str, path: str, headers: Mapping[str, str]
    ) -> Rule | None:
        """The rule that fires for this request in ``phase``: ``request`` (faults answered
        without the upstream, redirects) or ``response`` (faults on a 2xx upstream answer)."""
        upstream = "token" if self._is_token(path) else "registry"
        bearer = headers.get("authorization", "").lower().startswith("bearer ")
        with self._lock:
            for state in self._rules:
                rule = state.rule
                local = rule.fault in _LOCAL or rule.fault == "redirect_other"
                if local != (phase == "request"):
                    continue
                if rule.method is not None and rule.method != method:
                    continue
                if rule.path is not None and re.search(rule.path, path) is None:
                    continue
                if rule.upstream is not None and rule.upstream != upstream:
                    continue
                if rule.bearer is not None and rule.bearer != bearer:
                    continue
                state.matched += 1
                if rule.nth is not None and state.matched != rule.nth:
                    continue
                if rule.times is not None and state.fired >= rule.times:
                    continue
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                state.fired += 1
                self.injected[rule.name] += 1
                return rule
        return None

    def _record(
        self,
        listener: Literal["proxy", "other"],
        method: str,
        path: str,
        headers: Mapping[str, str],
        rule: Rule | None,
    ) -> None:
        with self._lock:
            self._records.append(
                Record(listener, method, path, dict(headers), rule.name if rule else None)
            )

    def _is_token(self, path: str) -> bool:
        return self.token is not None and (path == "/token" or path.startswith("/token?"))

    def _upstream(self, path: str) -> Upstream:
        if self._is_token(path) and self.token is not None:
            return self.token
        return self.registry

    def _park(self, pending: _Pending) -> str:
        key = str(next(self._ids))
        with self._lock:
            self._pending[key] = pending
        return key

    def _unpark(self, key: str) -> _Pending | None:
        with self._lock:
            return self._pending.pop(key, None)

    def rewrite_realm(self, value: str) -> str:
        if self._realm_base is None:
            return value
        return value.replace(self._realm_base, self.base_url)

    # ── life cycle ────────────────────────────────────────────────────────────────────────────────

    def start(self) -> FaultProxy:
        self.listener.start()
        self.other.start()
        return self

    def stop(self) -> None:
        self.listener.stop()
        self.other.stop()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Whether every client connection (to both listeners) closed within ``timeout``."""
        return self.listener.wait_idle(timeout) and self.other.wait_idle(timeout)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _make_handler(proxy: FaultProxy, role: Literal["proxy", "other"]) -> type[Handler]:
    class _Bound(_ProxyHandler):
        pass

    _Bound.proxy = proxy
    _Bound.role = role
    return _Bound


class _ProxyHandler(Handler):
    proxy: FaultProxy
    role: Literal["proxy", "other"]
    _upstreams: dict[str, http.client.HTTPConnection]

    def setup(self) -> None:
        super().setup()
        self._upstreams = {}

    def finish(self) -> None:
        for connection in self._upstreams.values():
            connection.close()
        self._upstreams.clear()
        super().finish()

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # ── one request ───────────────────────────────────────────────────────────────────────────────

    def _serve(self) -> None:
        proxy = self.proxy
        body = self.read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        if self.role == "other":
            proxy._record("other", self.command, self.path, headers, None)
            self._serve_other()
            return
        rule = proxy._choose("request", self.command, self.path, headers)
        upstream = proxy._upstream(self.path)
        if rule is not None:
            proxy._record("proxy", self.command, self.path, headers, rule)
            if rule.fault == "redirect_other":
                forwarded = tuple((k, v) for k, v in self.headers.items())
                key = proxy._park(_Pending(upstream, self.command, self.path, forwarded))
                location = f"{proxy.other.base_url}/cdn/{key}?X-Amz-Signature=cdn-signature-{key}"
                self.send_raw(307, [("Location", location)], b"")
            else:
                self._local_fault(rule)
            return
        answer = self._forward(upstream, self.command, self.path, list(self.headers.items()), body)
        if answer is None:
            proxy._record("proxy", self.command, self.path, headers, None)
            self.send_raw(502, [("Content-Type", "text/plain")], b"upstream unreachable\n")
            return
        status, out_headers, out_body = answer
        out_headers = [
            (k, proxy.rewrite_realm(v) if k.lower() == "www-authenticate" else v)
            for k, v in out_headers
        ]
        if 200 <= status < 300:
            rule = proxy._choose("response", self.command, self.path, headers)
        proxy._record("proxy", self.command, self.path, headers, rule)
        if rule is None:
            self.send_raw(status, out_headers, out_body)
        else:
            self._body_fault(rule, status, out_headers, out_body)

    def _serve_other(self) -> None:
        key = urlsplit(self.path).path.rpartition("/")[2]
        pending = self.proxy._unpark(key)
        if pending is None:
            self.send_raw(404, [("Content-Type", "text/plain")], b"no such signed URL\n")
            return
        answer = self._forward(
            pending.upstream, pending.method, pending.path, list(pending.headers), b""
        )
        if answer is None:
            self.send_raw(502, [("Content-Type", "text/plain")], b"upstream unreachable\n")
            return
        self.send_raw(*answer)

    def _forward(
        self,
        upstream: Upstream,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> tuple[int, list[tuple[str, str]], bytes] | None:
        sent = [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP and k.lower() != "host"]
        for attempt in range(2):
            connection = self._upstreams.get(upstream.host)
            if connection is None:
                connection = self._upstreams[upstream.host] = upstream.connect()
            try:
                connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                connection.putheader("Host", upstream.host)
                for name, value in sent:
                    connection.putheader(name, value)
                if body or method in ("POST", "PUT", "PATCH"):
                    connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body or None)
                response = connection.getresponse()
                data = response.read(MAX_UPSTREAM_BODY_BYTES)
                kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
                if method == "HEAD":
                    length = response.getheader("Content-Length")
                    if length is not None:
                        kept.append(("X-Upstream-Length", length))
            except (OSError, http.client.HTTPException):
                connection.close()
                self._upstreams.pop(upstream.host, None)
                if attempt == 1:
                    return None
            else:
                if response.will_close:
                    connection.close()
                    del self._upstreams[upstream.host]
                return response.status, kept, data
        return None  # pragma: no cover - the loop returns

    def send_raw(
        self, status: int, headers: list[tuple[str, str]], body: bytes, *, length: int | None = None
    ) -> None:
        # A HEAD answer carries the upstream's Content-Length, not the (empty) body's.
        upstream_length = [v for k, v in headers if k == "X-Upstream-Length"]
        headers = [(k, v) for k, v in headers if k != "X-Upstream-Length"]
        if upstream_length and length is None:
            length = int(upstream_length[0])
        super().send_raw(status, headers, body, length=length)

    # ── faults ────────────────────────────────────────────────────────────────────────────────────

    def _local_fault(self, rule: Rule) -> None:
        proxy = self.proxy
        fault = rule.fault
        options = rule.options
        if fault == "status":
            status = int(options.get("status", 503))
            headers = [("Content-Type", "application/json")]
            if options.get("retry_after") is not None:
                headers.append(("Retry-After", str(options["retry_after"])))
            code = {429: "TOOMANYREQUESTS"}.get(status, "UNAVAILABLE")
            body = b'{"errors":[{"code":"%s","message":"injected fault"}]}' % code.encode()
            self.send_raw(status, headers, body)
        elif fault == "html":
            status = int(options.get("status", 200))
            self.send_raw(status, [("Content-Type", "text/html; charset=utf-8")], HTML_PAGE)
        elif fault == "reset":
            self.reset()
        elif fault == "hang":
            self.hang(float(options.get("limit", 30.0)))
        elif fault == "invalid_token":
            realm = f"{proxy.base_url}/token"
            challenge = (
                f'Bearer realm="{realm}",service="regimage-lab",'
                'error="invalid_token",error_description="token expired"'
            )
            body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
            self.send_raw(
                401, [("Content-Type", "application/json"), ("WWW-Authenticate", challenge)], body
            )
        elif fault == "redirect_loop":
            self.send_raw(302, [("Location", self.path)], b"")
        elif fault == "redirect_to":
            self.send_raw(302, [("Location", str(options["location"]))], b"")
        else:  # pragma: no cover - _LOCAL lists exactly the faults above
            raise AssertionError(fault)

    def _body_fault(
        self, rule: Rule, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        fault = rule.fault
        if fault == "stall":
            interval = float(rule.options.get("interval", self.proxy.stall_interval))
            self.stall(status, headers, body, interval)
        elif fault == "truncate":
            self.close_connection = True
            self.send_raw(status, headers, body[: len(body) // 2], length=len(body))
        elif fault == "length_long":
            self.close_connection = True
            self.send_raw(status, headers, body, length=len(body) + 10)
        elif fault == "length_short":
            self.close_connection = True
            short = max(0, len(body) - 10)
            self.send_raw(status, headers, body[:short], length=short)
        elif fault == "corrupt":
            if body:
                middle = len(body) // 2
                body = body[:middle] + b"\xff" + body[middle + 1 :]
            self.send_raw(status, headers, body)
        elif fault == "swap_type":
            swapped = []
            for k, v in headers:
                if k.lower() == "content-type":
                    base = v.split(";", 1)[0].strip()
                    v = _SWAPPED.get(base, "application/vnd.oci.image.index.v1+json")
                swapped.append((k, v))
            self.send_raw(status, swapped, body)
        elif fault == "drop_digest":
            kept = [(k, v) for k, v in headers if k.lower() != "docker-content-digest"]
            self.send_raw(status, kept, body)
        else:  # pragma: no cover - every fault is local, a redirect or one of the above
            raise AssertionError(fault)
