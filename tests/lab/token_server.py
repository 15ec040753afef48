"""The lab's Docker token server (the `realm` of the token-auth registry), and a client to steer it.

Run as its own process (``python -m tests.lab.token_server CONFIG.json``) so that it shares no GIL
with the code under test and outlives ``python -m tests.lab start``. It speaks the Docker token
protocol as Distribution 2.8 expects it (DESIGN.md §5):

- ``GET /token?service=…&scope=…&scope=…`` with optional Basic credentials (and
  ``offline_token=true`` for a refresh token);
- ``POST /token`` form: ``grant_type=password`` (``username``, ``password``) or
  ``grant_type=refresh_token`` (``refresh_token``), ``scope`` space-separated, ``access_type=offline``
  (or ``offline_token=true``) for a refresh token.

Policy: anonymous callers may pull ``public/*``; a known user may pull and push everything and read
the catalog; a wrong password (or unknown refresh token) is a 401. Several scopes in one request are
all granted as far as the policy allows. Tokens are ES256 JWTs whose header carries ``x5c`` (the
signing certificate, which chains to the registry's ``rootcertbundle``); ``aud`` is a single string.

``/_lab/*`` endpoints (guarded by an admin key) let tests read the request log (never a secret:
method, grant type, account name, scopes) and change ``expires_in`` at run time.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
import json
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

__all__ = ["TokenRequestRecord", "TokenServerControl", "grant", "main", "make_jwt"]

#: The listen backlog: the default 5 overflows with six simultaneous connects, and the kernel then
#: retries the SYN after 1 s (DESIGN.md §9).
LISTEN_BACKLOG = 256
#: Bodies the token server reads (POST forms, admin JSON) are bounded.
MAX_BODY_BYTES = 1024 * 1024
ADMIN_HEADER = "X-Lab-Admin-Key"


@dataclass(frozen=True, slots=True)
class TokenRequestRecord:
    """One request the token server answered. Holds no secret."""

    method: str
    grant_type: str  # "anonymous" or "basic" for GET; the form's grant_type for POST
    account: str | None
    scopes: tuple[str, ...]  # as requested
    granted: tuple[str, ...]  # as granted, "type:name:action,action"
    offline: bool
    status: int

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> TokenRequestRecord:
        return cls(
            method=str(obj["method"]),
            grant_type=str(obj["grant_type"]),
            account=obj["account"],
            scopes=tuple(obj["scopes"]),
            granted=tuple(obj["granted"]),
            offline=bool(obj["offline"]),
            status=int(obj["status"]),
        )


# ── policy ─────────────────────────────────────────────────────────────────────────────────────────


def _parse_scope(scope: str) -> tuple[str, str, tuple[str, ...]] | None:
    """``repository:public/x:pull,push`` → (type, name, actions); the name may contain ':'."""
    head, _, actions = scope.rpartition(":")
    kind, sep, name = head.partition(":")
    if not sep or not kind or not name:
        return None
    return kind, name, tuple(a for a in actions.split(",") if a)


def grant(account: str | None, scope: str) -> tuple[str, str, tuple[str, ...]] | None:
    """What the lab's policy grants ``account`` (None = anonymous) for one requested scope."""
    parsed = _parse_scope(scope)
    if parsed is None:
        return None
    kind, name, actions = parsed
    allowed: set[str]
    if kind == "repository":
        if account is not None:
            allowed = {"pull", "push", "delete", "*"}
        elif name.startswith("public/"):
            allowed = {"pull"}
        else:
            allowed = set()
    elif kind == "registry" and name == "catalog":
        allowed = {"*"} if account is not None else set()
    else:
        allowed = set()
    return kind, name, tuple(a for a in actions if a in allowed)


# ── JWT ────────────────────────────────────────────────────────────────────────────────────────────


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_jwt(
    key: ec.EllipticCurvePrivateKey,
    cert: x509.Certificate,
    claims: dict[str, Any],
) -> str:
    """An ES256 JWT with ``x5c`` = [the signing certificate] (standard base64 of its DER)."""
    header = {
        "typ": "JWT",
        "alg": "ES256",
        "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")],
    }
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    r, s = decode_dss_signature(key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWS wants r||s, not DER
    return signing_input + "." + _b64url(signature)


# ── the server ─────────────────────────────────────────────────────────────────────────────────────


class _TokenApp:
    """State and logic of one token server; the handler below only does HTTP."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.service: str = config["service"]
        self.issuer: str = config["issuer"]
        self.users: dict[str, str] = dict(config["users"])
        self.admin_key: str = config["admin_key"]
        self.expires_in: int = int(config.get("expires_in", 300))
        key = serialization.load_pem_private_key(
            Path(config["signing_key"]).read_bytes(), password=None
        )
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError("the token signing key must be an EC key")
        self.key = key
        self.cert = x509.load_pem_x509_certificate(Path(config["signing_cert"]).read_bytes())
        self.refresh_tokens: dict[str, str] = {}  # refresh token → account
        self.log: list[TokenRequestRecord] = []
        self.lock = threading.Lock()

    def check_password(self, username: str, password: str) -> bool:
        expected = self.users.get(username)
        return expected is not None and hmac.compare_digest(
            expected.encode("utf-8"), password.encode("utf-8")
        )

    def issue(
        self, account: str | None, scopes: list[str], *, offline: bool
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        access: list[dict[str, Any]] = []
        granted: list[str] = []
        for scope in scopes:
            result = grant(account, scope)
            if result is None:
                continue
            kind, name, actions = result
            access.append({"type": kind, "name": name, "actions": list(actions)})
            granted.append(f"{kind}:{name}:{','.join(actions)}")
        now = int(time.time())
        with self.lock:
            expires_in = self.expires_in
        claims = {
            "iss": self.issuer,
            "sub": account or "",
            "aud": self.service,  # a single string: Distribution 2.8 rejects an array
            "exp": now + expires_in,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(12),
            "access": access,
        }
        token = make_jwt(self.key, self.cert, claims)
        issued_at = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        answer: dict[str, Any] = {
            "token": token,
            "access_token": token,
            "expires_in": expires_in,
            "issued_at": issued_at.isoformat().replace("+00:00", "Z"),
        }
        if offline and account is not None:
            refresh = secrets.token_urlsafe(24)
            with self.lock:
                self.refresh_tokens[refresh] = account
            answer["refresh_token"] = refresh
        return answer, tuple(granted)

    def record(self, entry: TokenRequestRecord) -> None:
        with self.lock:
            self.log.append(entry)


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True
    app: _TokenApp


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # TCP_NODELAY: headers and body leave in two writes
    server: _Server

    # -- plumbing ---------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds service and scopes only; credentials travel in headers/bodies.
        sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")

    def _send_json(self, status: int, obj: object, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        headers = {"WWW-Authenticate": 'Basic realm="regimage lab token server"'}
        self._send_json(
            status,
            {"errors": [{"code": code, "message": message}]},
            headers if status == 401 else None,
        )

    def _read_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length)

    # -- routes -----------------------------------------------------------------------------------
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/_lab/"):
            self._admin("GET", url.path, b"")
        elif url.path == "/token":
            self._token_get(parse_qs(url.query, keep_blank_values=True))
        else:
            self._error(404, "NOT_FOUND", f"no such path: {url.path}")

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        if body is None:
            self._error(413, "BODY_TOO_LARGE", "request body missing or too large")
            self.close_connection = True
            return
        if url.path.startswith("/_lab/"):
            self._admin("POST", url.path, body)
        elif url.path == "/token":
            try:
                form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                self._error(400, "INVALID_REQUEST", "form body is not UTF-8")
                return
            self._token_post(form)
        else:
            self._error(404, "NOT_FOUND", f"no such path: {url.path}")

    def _check_service(self, params: dict[str, list[str]]) -> bool:
        service = params.get("service", [self.server.app.service])[0]
        if service != self.server.app.service:
            self._error(400, "INVALID_REQUEST", f"unknown service: {service!r}")
            return False
        return True

    def _token_get(self, params: dict[str, list[str]]) -> None:
        app = self.server.app
        scopes = params.get("scope", [])
        offline = params.get("offline_token", ["false"])[0].lower() == "true"
        credentials = _basic_credentials(self.headers.get("Authorization"))
        grant_type = "basic" if credentials else "anonymous"
        account = credentials[0] if credentials else None
        if credentials is not None and not app.check_password(*credentials):
            app.record(
                TokenRequestRecord("GET", grant_type, account, tuple(scopes), (), offline, 401)
            )
            self._error(401, "UNAUTHORIZED", "authentication failed")
            return
        if not self._check_service(params):
            app.record(
                TokenRequestRecord("GET", grant_type, account, tuple(scopes), (), offline, 400)
            )
            return
        answer, granted = app.issue(account, scopes, offline=offline)
        app.record(
            TokenRequestRecord("GET", grant_type, account, tuple(scopes), granted, offline, 200)
        )
        self._send_json(200, answer)

    def _token_post(self, form: dict[str, list[str]]) -> None:
        app = self.server.app
        grant_type = form.get("grant_type", [""])[0]
        scopes = [s for field in form.get("scope", []) for s in field.split()]
        offline = (
            form.get("access_type", [""])[0] == "offline"
            or form.get("offline_token", ["false"])[0].lower() == "true"
        )
        account: str | None = None
        if grant_type == "password":
            account = form.get("username", [""])[0]
            if not app.check_password(account, form.get("password", [""])[0]):
                app.record(
                    TokenRequestRecord("POST", grant_type, account, tuple(scopes), (), offline, 401)
                )
                self._error(401, "UNAUTHORIZED", "authentication failed")
                return
        elif grant_type == "refresh_token":
            with app.lock:
                account = app.refresh_tokens.get(form.get("refresh_token", [""])[0])
            if account is None:
                app.record(
                    TokenRequestRecord("POST", grant_type, None, tuple(scopes), (), offline, 401)
                )
                self._error(401, "UNAUTHORIZED", "unknown refresh token")
                return
        else:
            app.record(
                TokenRequestRecord("POST", grant_type, None, tuple(scopes), (), offline, 400)
            )
            self._error(400, "UNSUPPORTED_GRANT_TYPE", f"unsupported grant_type: {grant_type!r}")
            return
        if not self._check_service(form):
            app.record(
                TokenRequestRecord("POST", grant_type, account, tuple(scopes), (), offline, 400)
            )
            return
        answer, granted = app.issue(account, scopes, offline=offline)
        if grant_type == "refresh_token" and "refresh_token" not in answer:
            answer["refresh_token"] = form["refresh_token"][0]
        app.record(
            TokenRequestRecord("POST", grant_type, account, tuple(scopes), granted, offline, 200)
        )
        self._send_json(200, answer)

    def _admin(self, method: str, path: str, body: bytes) -> None:
        app = self.server.app
        key = self.headers.get(ADMIN_HEADER, "")
        if not hmac.compare_digest(key.encode(), app.admin_key.encode()):
            self._error(403, "DENIED", "admin key required")
            return
        if path == "/_lab/requests" and method == "GET":
            with app.lock:
                entries = [asdict(entry) for entry in app.log]
            self._send_json(200, {"requests": entries})
        elif path == "/_lab/reset" and method == "POST":
            with app.lock:
                app.log.clear()
            self._send_json(200, {})
        elif path == "/_lab/expires_in" and method == "GET":
            with app.lock:
                self._send_json(200, {"expires_in": app.expires_in})
        elif path == "/_lab/expires_in" and method == "POST":
            try:
                seconds = int(json.loads(body)["expires_in"])
            except (ValueError, KeyError, TypeError):
                self._error(400, "INVALID_REQUEST", 'expected {"expires_in": SECONDS}')
                return
            with app.lock:
                app.expires_in = seconds
            self._send_json(200, {"expires_in": seconds})
        else:
            self._error(404, "NOT_FOUND", f"no such admin endpoint: {method} {path}")


def serve(config: dict[str, Any]) -> None:
    """Bind 127.0.0.1:0, write ``{"port": …, "pid": …}`` to the ready file, serve until SIGTERM."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.app = _TokenApp(config)
    ready = Path(config["ready_file"])
    tmp = ready.with_suffix(".tmp")
    tmp.write_text(json.dumps({"port": server.server_address[1], "pid": os.getpid()}))
    tmp.replace(ready)

    def _stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m tests.lab.token_server CONFIG.json\n")
        return 2
    serve(json.loads(Path(args[0]).read_text()))
    return 0


# ── the client tests use ───────────────────────────────────────────────────────────────────────────


class TokenServerControl:
    """Steers a running lab token server through its ``/_lab/*`` endpoints."""

    def __init__(self, base_url: str, admin_key: str) -> None:
        self.base_url = base_url
        self.realm = f"{base_url}/token"
        self.admin_key = admin_key  # guards /_lab/*; not in repr

    def __repr__(self) -> str:
        return f"<TokenServerControl({self.base_url!r})>"

    def _call(self, method: str, path: str, payload: object | None = None) -> dict[str, Any]:
        with httpx.Client(trust_env=False, timeout=10.0) as client:
            response = client.request(
                method,
                f"{self.base_url}{path}",
                headers={ADMIN_HEADER: self.admin_key},
                json=payload,
            )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def requests(self) -> list[TokenRequestRecord]:
        """Every request answered since the last ``reset()``, oldest first."""
        return [
            TokenRequestRecord.from_dict(e) for e in self._call("GET", "/_lab/requests")["requests"]
        ]

    @property
    def request_count(self) -> int:
        return len(self.requests())

    def reset(self) -> None:
        """Forget the request log."""
        self._call("POST", "/_lab/reset")

    def get_expires_in(self) -> int:
        return int(self._call("GET", "/_lab/expires_in")["expires_in"])

    def set_expires_in(self, seconds: int) -> None:
        """Tokens issued from now on say ``expires_in: seconds`` (and expire then, plus
        Distribution's 60 s leeway)."""
        self._call("POST", "/_lab/expires_in", {"expires_in": seconds})

    @contextmanager
    def expires_in(self, seconds: int) -> Iterator[None]:
        """``with lab.token_server.expires_in(2): …`` restores the previous value afterwards."""
        previous = self.get_expires_in()
        self.set_expires_in(seconds)
        try:
            yield
        finally:
            self.set_expires_in(previous)


if __name__ == "__main__":
    raise SystemExit(main())
