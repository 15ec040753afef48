"""RegistryAuth against a fake registry and token server (pytest-httpx): flows, cache, faults."""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import parse_qs

import anyio
import httpx
import pytest
from pytest_httpx import HTTPXMock

from regimage.errors import AuthenticationError, RegistryError, SizeLimitExceeded
from regimage.http.extensions import CREDENTIALS_SENT, OPERATION, RATE_LIMIT
from regimage.http.request_log import RequestStats
from regimage.http.retry import RetryPolicy
from regimage.http.transport import build_transport
from regimage.model.ratelimit import RateLimit
from regimage.registry.auth import RegistryAuth
from regimage.registry.credentials import Credentials, CredentialStore
from regimage.registry.scopes import scopes_for_path
from regimage.registry.token_server import DEFAULT_EXPIRES_IN
from regimage.registry.tokens import Token

TLS = httpx.create_ssl_context()


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def no_sleep(delay: float) -> None:
    return None


@dataclass
class FakeRegistry:
    """A registry with Docker token auth, and its token server, as one pytest-httpx callback.

    Anonymous callers may pull ``public/*``; ``bob`` (password ``pw``) may pull anything. Every
    request is logged as ``(method, host, path, authorization)``.
    """

    host: str = "r.test"
    scheme: str = "https"
    realm: str = "https://auth.test/token"
    service: str = "fake-registry"
    scheme_name: str = "Bearer"
    users: dict[str, str] = field(default_factory=lambda: {"bob": "pw"})
    refresh_tokens: dict[str, str] = field(default_factory=lambda: {"refresh-abc": "bob"})
    expires_in: int | None = 300
    post_status: int | None = None
    token_status: int = 200
    token_body: bytes | None = None
    max_scopes: int | None = None
    revoke_all: bool = False
    first_scope_only: bool = False
    give_refresh: bool = False
    log: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    token_requests: list[httpx.Request] = field(default_factory=list)
    tokens: dict[str, frozenset[str]] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}"

    def url(self, repo: str, ref: str = "latest") -> str:
        return f"{self.base}/v2/{repo}/manifests/{ref}"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.log.append(
            (
                request.method,
                request.url.netloc.decode(),
                request.url.path,
                request.headers.get("authorization"),
            )
        )
        if request.url.host == httpx.URL(self.realm).host and request.url.path == "/token":
            self.token_requests.append(request)
            return self._token(request)
        return self._registry(request)

    # -- token server --------------------------------------------------------------------------
    def _account(self, request: httpx.Request) -> tuple[bool, str | None]:
        header = request.headers.get("authorization")
        if not header:
            return True, None
        user, _, password = base64.b64decode(header.split()[1]).decode().partition(":")
        return self.users.get(user) == password, user

    def _token(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            if self.post_status is not None:
                return httpx.Response(self.post_status)
            form = parse_qs(request.content.decode())
            scopes = form.get("scope", [""])[0].split()
            if form["grant_type"] == ["refresh_token"]:
                account = self.refresh_tokens.get(form["refresh_token"][0])
                ok = account is not None
            else:
                account = form["username"][0]
                ok = self.users.get(account) == form["password"][0]
        else:
            scopes = request.url.params.get_list("scope")
            ok, account = self._account(request)
        if not ok:
            return httpx.Response(401, json={"details": "incorrect username or password"})
        if self.token_status != 200:
            return httpx.Response(self.token_status, json={"errors": [{"code": "BOOM"}]})
        if self.token_body is not None:
            return httpx.Response(200, content=self.token_body)
        if self.max_scopes is not None and len(scopes) > self.max_scopes:
            return httpx.Response(400, json={"details": "too many scopes"})
        granted = frozenset(
            s for s in scopes if account is not None or s.startswith("repository:public/")
        )
        if self.first_scope_only:
            granted = frozenset(s for s in scopes[:1] if s in granted)
        value = f"secret-token-{len(self.tokens) + 1}"
        self.tokens[value] = granted
        body: dict[str, object] = {"token": value}
        if self.give_refresh and account is not None:
            body["refresh_token"] = "refresh-abc"
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return httpx.Response(200, json=body)

    # -- registry ------------------------------------------------------------------------------
    def _challenge(self, scope: str, error: str | None = None) -> dict[str, str]:
        if self.scheme_name == "Basic":
            return {"WWW-Authenticate": 'Basic realm="fake"'}
        value = f'Bearer realm="{self.realm}",service="{self.service}",scope="{scope}"'
        if error:
            value += f',error="{error}"'
        return {"WWW-Authenticate": value}

    def _registry(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        repo = path.removeprefix("/v2/").rsplit("/", 2)[0]
        scope = f"repository:{repo}:pull"
        header = request.headers.get("authorization")
        body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "auth required"}]})
        if self.scheme_name == "Basic":
            if header and self._account(request) == (True, "bob"):
                return httpx.Response(200, content=b"{}")
            return httpx.Response(401, headers=self._challenge(scope), content=body.encode())
        if header is None:
            return httpx.Response(401, headers=self._challenge(scope), content=body.encode())
        token = header.removeprefix("Bearer ")
        if token in self.revoked or token not in self.tokens or self.revoke_all:
            return httpx.Response(401, headers=self._challenge(scope, "invalid_token"))
        if scope not in self.tokens[token]:
            return httpx.Response(401, headers=self._challenge(scope, "insufficient_scope"))
        return httpx.Response(200, content=b"{}")

    def registry_log(self) -> list[tuple[str, str | None]]:
        """(path, authorization kind) of registry requests."""
        return [
            (path, auth.split()[0] if auth else None)
            for _, host, path, auth in self.log
            if host == self.host
        ]


@pytest.fixture
def fake(httpx_mock: HTTPXMock) -> FakeRegistry:
    registry = FakeRegistry()
    httpx_mock.add_callback(registry, is_reusable=True)
    return registry


def make_auth(
    *,
    credentials: Credentials | None = None,
    clock: FakeClock | None = None,
    oauth_password: bool = False,
    stats: RequestStats | None = None,
) -> tuple[httpx.AsyncClient, RegistryAuth]:
    transport = build_transport(
        httpx.AsyncHTTPTransport(verify=TLS),
        retry=RetryPolicy(sleep=no_sleep),
        stats=stats,
    )
    client = httpx.AsyncClient(transport=transport)
    store = CredentialStore(credentials, env={}, use_files=False)
    auth = RegistryAuth(client, store, clock=clock or FakeClock(), oauth_password=oauth_password)
    return client, auth


# ── scopes ─────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("path", "repository", "scopes"),
    [
        (
            "/v2/library/ubuntu/manifests/latest",
            "library/ubuntu",
            ("repository:library/ubuntu:pull",),
        ),
        ("/v2/a/blobs/sha256:00", "a", ("repository:a:pull",)),
        ("/v2/a/b/c/tags/list", "a/b/c", ("repository:a/b/c:pull",)),
        ("/v2/a/referrers/sha256:00", "a", ("repository:a:pull",)),
        ("/v2/x/manifests/y/manifests/z", "x/manifests/y", ("repository:x/manifests/y:pull",)),
        ("/v2/_catalog", "", ("registry:catalog:*",)),
        ("/v2/", "", ()),
        ("/token", "", ()),
    ],
)
def test_scopes_for_path(path: str, repository: str, scopes: tuple[str, ...]) -> None:
    assert scopes_for_path(path) == (repository, scopes)


# ── the bearer flow ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.anyio
async def test_cold_anonymous_pull_is_401_token_retry(fake: FakeRegistry) -> None:
    stats = RequestStats()
    client, auth = make_auth(stats=stats)
    async with client:
        response = await client.get(fake.url("public/app"), auth=auth)
    assert response.status_code == 200
    assert fake.registry_log() == [
        ("/v2/public/app/manifests/latest", None),
        ("/v2/public/app/manifests/latest", "Bearer"),
    ]
    (token_request,) = fake.token_requests
    assert token_request.method == "GET"
    assert token_request.url.params.get_list("scope") == ["repository:public/app:pull"]
    assert token_request.url.params["service"] == "fake-registry"
    assert "authorization" not in token_request.headers
    assert response.extensions[CREDENTIALS_SENT] is False
    assert stats.as_dict() == {"manifest": 2, "token": 1}


@pytest.mark.anyio
async def test_a_cached_token_saves_the_round_trip(fake: FakeRegistry) -> None:
    client, auth = make_auth()
    async with client:
        await client.get(fake.url("public/app"), auth=auth)
        fake.log.clear()
        response = await client.get(fake.url("public/app", "v2"), auth=auth)
    assert response.status_code == 200
    assert fake.log == [
        ("GET", "r.test", "/v2/public/app/manifests/v2", "Bearer secret-token-1"),
    ]


@pytest.mark.anyio
async def test_the_challenge_is_remembered_for_other_repositories(fake: FakeRegistry) -> None:
    client, auth = make_auth()
    async with client:
        await client.get(fake.url("public/one"), auth=auth)
        fake.log.clear()
        response = await client.get(fake.url("public/two"), auth=auth)
    assert response.status_code == 200
    assert [(host, path) for _, host, path, _ in fake.log] == [
        ("auth.test", "/token"),
        ("r.test", "/v2/public/two/manifests/latest"),
    ]


@pytest.mark.anyio
async def test_credentials_go_to_the_token_server(fake: FakeRegistry) -> None:
    client, auth = make_auth(credentials=Credentials("bob", "pw"))
    async with client:
        response = await client.get(fake.url("private/app"), auth=auth)
    assert response.status_code == 200
    (token_request,) = fake.token_requests
    assert token_request.headers["authorization"] == "Basic " + base64.b64encode(b"bob:pw").decode()
    assert response.extensions[CREDENTIALS_SENT] is True


@pytest.mark.anyio
async def test_a_wrong_password_is_an_authentication_error(fake: FakeRegistry) -> None:
    client, auth = make_auth(credentials=Credentials("bob", "wrong"))
    async with client:
        with pytest.raises(AuthenticationError) as caught:
            await client.get(fake.url("private/app"), auth=auth)
    message = str(caught.value)
    assert "the token server https://auth.test/token refused the credentials for r.test" in message
    assert "incorrect username or password" in message
    assert "wrong" not in message


@pytest.mark.anyio
async def test_a_private_repository_without_credentials_stops_after_one_token(
    fake: FakeRegistry,
) -> None:
    client, auth = make_auth()
    async with client:
        response = await client.get(fake.url("private/app"), auth=auth)
        assert response.status_code == 401
        assert len(fake.token_requests) == 1
        fake.log.clear()
        # Another private repository: token fetched up front, refused, no second token.
        response = await client.get(fake.url("private/other"), auth=auth)
    assert response.status_code == 401
    assert [host for _, host, _, _ in fake.log] == ["auth.test", "r.test"]
    assert response.extensions[CREDENTIALS_SENT] is False


@pytest.mark.anyio
async def test_tokens_expire_with_a_margin_and_60_s_by_default(fake: FakeRegistry) -> None:
    fake.expires_in = None
    clock = FakeClock(1000.0)
    client, auth = make_auth(clock=clock)
    async with client:
        await client.get(fake.url("public/app"), auth=auth)
        clock.now = 1000.0 + DEFAULT_EXPIRES_IN - 7  # 53 s: still within 60 s minus 6 s margin
        await client.get(fake.url("public/app"), auth=auth)
        assert len(fake.token_requests) == 1
        clock.now = 1000.0 + DEFAULT_EXPIRES_IN - 5  # 55 s: renewed before sending
        fake.log.clear()
        response = await client.get(fake.url("public/app"), auth=auth)
    assert response.status_code == 200
    assert len(fake.token_requests) == 2
    assert [host for _, host, _, _ in fake.log] == ["auth.test", "r.test"]


@pytest.mark.anyio
async def test_an_invalid_token_is_renewed_once(fake: FakeRegistry) -> None:
    client, auth = make_auth()
    async with client:
        await client.get(fake.url("public/app"), auth=auth)
        fake.revoked.add("secret-token-1")
        fake.log.clear()
        response = await client.get(fake.url("public/app"), auth=auth)
    assert response.status_code == 200
    assert fake.registry_log() == [
        ("/v2/public/app/manifests/latest", "Bearer"),
        ("/v2/public/app/manifests/latest", "Bearer"),
    ]
    assert fake.log[-1][3] == "Bearer secret-token-2"


@pytest.mark.anyio
async def test_reauthentication_happens_only_once(fake: FakeRegistry) -> None:
    fake.revoke_all = True
    client, auth = make_auth()
    async with client:
        await client.get(fake.url("public/app"), auth=auth)  # 401, token, 401
        fake.log.clear()
        fake.token_requests.clear()
        response = await client.get(fake.url("public/app"), auth=auth)
    assert response.status_code == 401
    assert len(fake.token_requests) == 2  # cached one refused → one fresh token, then stop
    assert [host for _, host, _, _ in fake.log] == ["auth.test", "r.test", "auth.test", "r.test"]


@pytest.mark.anyio
async def test_tokens_stay_on_their_host(fake: FakeRegistry, httpx_mock: HTTPXMock) -> None:
    client, auth = make_auth()
    async with client:
        await client.get(fake.url("public/app"), auth=auth)
        fake.log.clear()
        await client.get("https://other.test/v2/public/app/manifests/latest", auth=auth)
    # other.test gets nothing up front, then a token from its own challenge, never r.test's.
    assert fake.log[0] == ("GET", "other.test", "/v2/public/app/manifests/latest", None)
    assert [entry[3] for entry in fake.log[1:]] == [None, "Bearer secret-token-2"]


@pytest.mark.anyio
async def test_concurrent_cold_requests_share_one_token(fake: FakeRegistry) -> None:
    client, auth = make_auth()
    async with client:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                for i in range(10):
                    group.start_soon(
                        partial(client.get, auth=auth), fake.url("public/shared", f"t{i}")
                    )
    assert len(fake.token_requests) == 1
    assert sum(1 for entry in fake.log if entry[3] is not None) == 10


# ── OAuth2 POST and fallbacks ──────────────────────────────────────────────────────────────────────


@pytest.mark.anyio
async def test_identity_token_is_posted_as_a_refresh_grant(fake: FakeRegistry) -> None:
    client, auth = make_auth(credentials=Credentials(identity_token="refresh-abc"))
    async with client:
        response = await client.get(fake.url("private/app"), auth=auth)
    assert response.status_code == 200
    (post,) = fake.token_requests
    form = parse_qs(post.content.decode())
    assert form == {
        "client_id": ["regimage"],
        "grant_type": ["refresh_token"],
        "refresh_token": ["refresh-abc"],
        "scope": ["repository:private/app:pull"],
        "service": ["fake-registry"],
    }


@pytest.mark.anyio
async def test_a_refresh_token_is_kept_and_used(fake: FakeRegistry) -> None:
    fake.give_refresh = True
    client, auth = make_auth(credentials=Credentials("bob", "pw"))
    async with client:
        await client.get(fake.url("private/one"), auth=auth)
        await client.get(fake.url("private/two"), auth=auth)
    assert [r.method for r in fake.token_requests] == ["GET", "POST"]
    form = parse_qs(fake.token_requests[1].content.decode())
    assert form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == ["refresh-abc"]


@pytest.mark.parametrize("status", [400, 401, 404, 405])
@pytest.mark.anyio
async def test_post_falls_back_to_get(fake: FakeRegistry, status: int) -> None:
    fake.post_status = status
    client, auth = make_auth(credentials=Credentials("bob", "pw", identity_token="refresh-abc"))
    async with client:
        response = await client.get(fake.url("private/app"), auth=auth)
    assert response.status_code == 200
    assert [r.method for r in fake.token_requests] == ["POST", "GET"]
    assert fake.token_requests[1].headers["authorization"].startswith("Basic ")


@pytest.mark.anyio
async def test_password_grant_when_asked(fake: FakeRegistry) -> None:
    client, auth = make_auth(credentials=Credentials("bob", "pw"), oauth_password=True)
    async with client:
        response = await client.get(fake.url("private/app"), auth=auth)
    assert response.status_code == 200
    (post,) = fake.token_requests
    form = parse_qs(post.content.decode())
    assert form["grant_type"] == ["password"]
    assert form["username"] == ["bob"]


# ── token server faults ────────────────────────────────────────────────────────────────────────────


@pytest.mark.anyio
async def test_token_server_500(fake: FakeRegistry) -> None:
    fake.token_status = 500
    client, auth = make_auth()
    async with client:
        with pytest.raises(RegistryError) as caught:
            await client.get(fake.url("public/app"), auth=auth)
    assert "the token server https://auth.test/token for r.test answered HTTP 500" in str(
        caught.value
    )
    assert len(fake.token_requests) == 4  # retried like any 5xx


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"<html>oops</html>", "not a JSON object"),
        (b'{"expires_in": 300}', "without a 'token' or 'access_token'"),
        (b'{"token": ""}', "without a 'token' or 'access_token'"),
        (b'{"token": 42}', "without a 'token' or 'access_token'"),
        (b'{"token": "two words"}', "cannot go in a header"),
        (b'{"token": "bad\\r\\nX-Injected: 1"}', "cannot go in a header"),
    ],
)
@pytest.mark.anyio
async def test_bad_token_answers(fake: FakeRegistry, body: bytes, fragment: str) -> None:
    fake.token_body = body
    client, auth = make_auth()
    async with client:
        with pytest.raises(RegistryError, match=fragment):
            await client.get(fake.url("public/app"), auth=auth)


@pytest.mark.anyio
async def test_access_token_is_accepted(fake: FakeRegistry, httpx_mock: HTTPXMock) -> None:
    fake.token_body = b'{"access_token": "secret-token-1"}'
    fake.tokens["secret-token-1"] = frozenset({"repository:public/app:pull"})
    client, auth = make_auth()
    async with client:
        response = await client.get(fake.url("public/app"), auth=auth)
    assert response.status_code == 200


@pytest.mark.anyio
async def test_a_huge_token_answer_is_refused(fake: FakeRegistry) -> None:
    fake.token_body = b'{"token": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    client, auth = make_auth()
    async with client:
        with pytest.raises(SizeLimitExceeded, match="token response"):
            await client.get(fake.url("public/app"), auth=auth)


@pytest.mark.parametrize(
    ("realm", "credentials", "fragment"),
    [
        ("ftp://auth.test/token", None, "not an http(s) URL"),
        ("/token", None, "not an http(s) URL"),
        ("http://auth.test/token", Credentials("bob", "pw"), "refusing to send the credentials"),
    ],
)
@pytest.mark.anyio
async def test_realms_are_validated(
    httpx_mock: HTTPXMock, realm: str, credentials: Credentials | None, fragment: str
) -> None:
    fake = FakeRegistry(realm=realm)
    httpx_mock.add_callback(fake, is_reusable=True)
    client, auth = make_auth(credentials=credentials)
    async with client:
        with pytest.raises(AuthenticationError, match=re.escape(fragment)):
            await client.get(fake.url("public/app"), auth=auth)
    assert fake.token_requests == []


@pytest.mark.anyio
async def test_a_plain_http_realm_is_fine_anonymously(httpx_mock: HTTPXMock) -> None:
    fake = FakeRegistry(realm="http://auth.test/token")
    httpx_mock.add_callback(fake, is_reusable=True)
    client, auth = make_auth()
    async with client:
        assert (await client.get(fake.url("public/app"), auth=auth)).status_code == 200


@pytest.mark.anyio
async def test_a_loopback_plain_http_registry_may_use_a_plain_http_realm(
    httpx_mock: HTTPXMock,
) -> None:
    fake = FakeRegistry(host="127.0.0.1:5000", scheme="http", realm="http://127.0.0.1:5001/token")
    httpx_mock.add_callback(fake, is_reusable=True)
    client, auth = make_auth(credentials=Credentials("bob", "pw"))
    async with client:
        response = await client.get(fake.url("private/app"), auth=auth)
    assert response.status_code == 200
    assert fake.token_requests[0].headers["authorization"].startswith("Basic ")


# ── Basic and registry tokens ──────────────────────────────────────────────────────────────────────


@pytest.mark.anyio
async def test_basic_challenge_then_preemptive_basic(httpx_mock: HTTPXMock) -> None:
    fake = FakeRegistry(scheme_name="Basic")
    httpx_mock.add_callback(fake, is_reusable=True)
    client, auth = make_auth(credentials=Credentials("bob", "pw"))
    async with client:
        assert (await client.get(fake.url("private/app"), auth=auth)).status_code == 200
        assert fake.registry_log() == [
            ("/v2/private/app/manifests/latest", None),
            ("/v2/private/app/manifests/latest", "Basic"),
        ]
        fake.log.clear()
        assert (await client.get(fake.url("private/two"), auth=auth)).status_code == 200
    assert fake.registry_log() == [("/v2/private/two/manifests/latest", "Basic")]


@pytest.mark.anyio
async def test_basic_is_not_sent_over_plain_http_to_another_host(
    httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeRegistry(scheme_name="Basic", scheme="http", host="r.test")
    httpx_mock.add_callback(fake, is_reusable=True)
    client, auth = make_auth(credentials=Credentials("bob", "pw"))
    async with client:
        response = await client.get(fake.url("private/app"), auth=auth)
    assert response.status_code == 401
    assert fake.registry_log() == [("/v2/private/app/manifests/latest", None)]
    assert "not sending credentials for r.test over plain HTTP" in caplog.text


@pytest.mark.anyio
async def test_a_registry_token_is_sent_as_is(fake: FakeRegistry) -> None:
    fake.tokens["static-token"] = frozenset({"repository:private/app:pull"})
    client, auth = make_auth(credentials=Credentials(registry_token="static-token"))
    async with client:
        response = await client.get(fake.url("private/app"), auth=auth)
    assert response.status_code == 200
    assert fake.log == [
        ("GET", "r.test", "/v2/private/app/manifests/latest", "Bearer static-token")
    ]


@pytest.mark.anyio
async def test_a_registry_token_is_withheld_over_plain_http_off_loopback(
    fake: FakeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """A registry token is a credential: like a password, it goes over plain HTTP to loopback only."""
    fake.scheme = "http"
    fake.tokens["static-token"] = frozenset({"repository:private/app:pull"})
    client, auth = make_auth(credentials=Credentials(registry_token="static-token"))
    async with client:
        await client.get(fake.url("private/app"), auth=auth)
        await client.get(fake.url("private/app", "v2"), auth=auth)
    assert all(authorization != "Bearer static-token" for *_, authorization in fake.log)
    withheld = [r for r in caplog.records if "not sending credentials" in r.getMessage()]
    assert len(withheld) == 1  # said once per host


# ── batching ───────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.anyio
async def test_authorize_batches_scopes(fake: FakeRegistry) -> None:
    stats = RequestStats()
    client, auth = make_auth(stats=stats)
    repos = [f"public/r{i:03d}" for i in range(120)]
    async with client:
        await auth.authorize(fake.base, [f"repository:{r}:pull" for r in repos])
        assert sorted(len(r.url.params.get_list("scope")) for r in fake.token_requests) == [
            20,
            50,
            50,
        ]
        assert stats.as_dict() == {"ping": 1, "token": 3}
        fake.log.clear()
        response = await client.get(fake.url("public/r077"), auth=auth)
    assert response.status_code == 200
    assert [host for _, host, _, _ in fake.log] == ["r.test"]


@pytest.mark.anyio
async def test_authorize_falls_back_to_one_scope_per_token(fake: FakeRegistry) -> None:
    fake.max_scopes = 1
    client, auth = make_auth()
    async with client:
        await auth.authorize(fake.base, [f"repository:public/r{i}:pull" for i in range(3)])
        scopes = [r.url.params.get_list("scope") for r in fake.token_requests]
        assert len(scopes[0]) == 3  # the batch, refused
        assert sorted(s for (s,) in scopes[1:]) == [
            f"repository:public/r{i}:pull" for i in range(3)
        ]
        fake.log.clear()
        assert (await client.get(fake.url("public/r1"), auth=auth)).status_code == 200
    assert [host for _, host, _, _ in fake.log] == ["r.test"]


@pytest.mark.anyio
async def test_a_registry_that_honours_one_scope_per_token(fake: FakeRegistry) -> None:
    fake.first_scope_only = True
    client, auth = make_auth()
    async with client:
        await auth.authorize(fake.base, [f"repository:public/r{i}:pull" for i in range(3)])
        fake.log.clear()
        assert (await client.get(fake.url("public/r0"), auth=auth)).status_code == 200
        assert (await client.get(fake.url("public/r2"), auth=auth)).status_code == 200
        # r0 rode the batch token; r2 was refused (insufficient_scope) and got its own token.
        assert [host for _, host, _, _ in fake.log] == ["r.test", "r.test", "auth.test", "r.test"]
        fake.token_requests.clear()
        await auth.authorize(fake.base, [f"repository:public/s{i}:pull" for i in range(2)])
    assert [len(r.url.params.get_list("scope")) for r in fake.token_requests] == [1, 1]


@pytest.mark.anyio
async def test_a_refused_scope_in_a_batch_keeps_the_batch(fake: FakeRegistry) -> None:
    client, auth = make_auth()
    async with client:
        await auth.authorize(fake.base, ["repository:public/a:pull", "repository:private/b:pull"])
        fake.log.clear()
        assert (await client.get(fake.url("private/b"), auth=auth)).status_code == 401
        assert [host for _, host, _, _ in fake.log] == ["r.test", "auth.test", "r.test"]
        fake.log.clear()
        assert (await client.get(fake.url("public/a"), auth=auth)).status_code == 200
        assert [host for _, host, _, _ in fake.log] == ["r.test"]  # the batch token still serves
        fake.token_requests.clear()
        await auth.authorize(fake.base, ["repository:public/c:pull", "repository:public/d:pull"])
    assert [len(r.url.params.get_list("scope")) for r in fake.token_requests] == [2]


@pytest.mark.anyio
async def test_authorize_on_an_open_registry_does_nothing(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url="https://open.test/v2/", status_code=200, json={})
    client, auth = make_auth()
    async with client:
        await auth.authorize("https://open.test", ["repository:a:pull"])
        await auth.authorize("https://open.test", ["repository:b:pull"])  # no second ping
    assert len(httpx_mock.get_requests()) == 1


# ── secrets ────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.anyio
async def test_secrets_never_reach_logs_or_reprs(
    fake: FakeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.users["bob"] = "hunter2-password"
    client, auth = make_auth(credentials=Credentials("bob", "hunter2-password"))
    async with client:
        await client.get(fake.url("private/app"), auth=auth)
        await auth.authorize(fake.base, ["repository:private/x:pull"])
    token = Token("secret-token-9", frozenset({"repository:a:pull"}), 10.0)
    text = caplog.text + repr(auth) + repr(token) + str(token)
    assert "GET https://r.test/v2/private/app/manifests/latest 401" in caplog.text
    for secret in ("hunter2", "secret-token-", base64.b64encode(b"bob:hunter2").decode()[:12]):
        assert secret not in text
    assert "[secure]" in repr(token)


# ── what the registry's answers say besides the challenge (issue #9) ───────────────────────────────

HUB_BUDGET = {"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76;w=21600"}


@pytest.mark.anyio
async def test_the_budget_a_registry_states_is_kept_per_host(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url="https://hub.test/v2/a/manifests/1", headers=HUB_BUDGET)
    httpx_mock.add_response(url="https://hub.test/v2/a/blobs/sha256:00", content=b"x")
    httpx_mock.add_response(url="https://other.test/v2/a/manifests/1")
    client, auth = make_auth()
    async with client:
        first = await client.head("https://hub.test/v2/a/manifests/1", auth=auth)
        blob = await client.get("https://hub.test/v2/a/blobs/sha256:00", auth=auth)
        other = await client.get("https://other.test/v2/a/manifests/1", auth=auth)
    budget = RateLimit(100, 76, window=21600, registry="hub.test")
    assert auth.rate_limit("hub.test") == budget
    assert auth.rate_limits.as_dict() == {"hub.test": budget}
    assert first.extensions[RATE_LIMIT] == budget
    # An answer without the headers still carries the host's last known budget.
    assert blob.extensions[RATE_LIMIT] == budget
    assert RATE_LIMIT not in other.extensions
    assert auth.rate_limit("other.test") is None


@pytest.mark.anyio
async def test_a_head_refused_by_the_storage_host_is_asked_again_with_get(
    httpx_mock: HTTPXMock,
) -> None:
    blob = "https://r.test/v2/a/blobs/sha256:00"
    storage = "https://storage.test/blob?sig=1"
    httpx_mock.add_response(
        method="HEAD", url=blob, status_code=307, headers={"Location": storage}, is_reusable=True
    )
    httpx_mock.add_response(method="HEAD", url=storage, status_code=403)
    httpx_mock.add_response(
        method="GET", url=blob, status_code=307, headers={"Location": storage}, is_reusable=True
    )
    httpx_mock.add_response(
        method="GET", url=storage, headers={"Content-Length": "3"}, content=b"abc", is_reusable=True
    )
    stats = RequestStats()
    client, auth = make_auth(stats=stats)
    async with client:
        response = await client.head(
            blob, auth=auth, follow_redirects=True, extensions={OPERATION: "blob-head"}
        )
        assert response.status_code == 200
        assert response.request.method == "GET"
        assert response.headers["content-length"] == "3"
        # From now on this host's blob HEADs go as GET at once: two requests, not four.
        httpx_mock.reset()
        httpx_mock.add_response(
            method="GET", url=blob, status_code=307, headers={"Location": storage}
        )
        httpx_mock.add_response(method="GET", url=storage, content=b"abc")
        again = await client.head(blob, auth=auth, follow_redirects=True)
    assert again.status_code == 200
    assert [r.method for r in httpx_mock.get_requests()] == ["GET", "GET"]
    assert stats["blob-head"] == 2  # the first HEAD and its redirect
    assert stats["blob"] >= 2


@pytest.mark.anyio
async def test_a_signed_url_refused_with_403_gets_one_fresh_redirect(
    httpx_mock: HTTPXMock,
) -> None:
    blob = "https://r.test/v2/a/blobs/sha256:00"
    httpx_mock.add_response(url=blob, status_code=307, headers={"Location": "https://s.test/1"})
    httpx_mock.add_response(url="https://s.test/1", status_code=403)
    httpx_mock.add_response(url=blob, status_code=307, headers={"Location": "https://s.test/2"})
    httpx_mock.add_response(url="https://s.test/2", status_code=403)
    client, auth = make_auth()
    async with client:
        response = await client.get(blob, auth=auth, follow_redirects=True)
    # Once only: a storage host that keeps refusing is reported, not retried for ever.
    assert response.status_code == 403
    assert [str(r.url) for r in httpx_mock.get_requests()] == [
        blob,
        "https://s.test/1",
        blob,
        "https://s.test/2",
    ]


@pytest.mark.anyio
async def test_a_403_from_the_registry_itself_is_not_retried(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url="https://r.test/v2/a/blobs/sha256:00", status_code=403)
    client, auth = make_auth()
    async with client:
        response = await client.get("https://r.test/v2/a/blobs/sha256:00", auth=auth)
    assert response.status_code == 403
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.anyio
async def test_a_refused_refresh_post_falls_back_to_basic_with_the_identity_token(
    fake: FakeRegistry,
) -> None:
    """GCR answers the refresh POST with 404; containerd then sends the identity token as the
    Basic password (username empty)."""
    fake.post_status = 404
    fake.users[""] = "refresh-abc"
    client, auth = make_auth(credentials=Credentials(identity_token="refresh-abc"))
    async with client:
        response = await client.get(fake.url("private/app"), auth=auth)
    assert response.status_code == 200
    assert [r.method for r in fake.token_requests] == ["POST", "GET"]
    basic = fake.token_requests[1].headers["authorization"]
    assert base64.b64decode(basic.split()[1]) == b":refresh-abc"
    assert response.extensions[CREDENTIALS_SENT] is True


@pytest.mark.anyio
async def test_a_refused_anonymous_token_names_the_repository(fake: FakeRegistry) -> None:
    fake.token_status = 401
    client, auth = make_auth()
    async with client:
        with pytest.raises(AuthenticationError) as caught:
            await client.get(fake.url("private/app"), auth=auth)
    message = str(caught.value)
    assert "refused an anonymous token for pull access to private/app on r.test" in message
    assert "it may be private or may not exist" in message
