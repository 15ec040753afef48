"""Real registries' observed exchanges (tests/replay/scenarios.py) replayed against RegistryProvider.

Each scenario is served by a :class:`Replayer` behind pytest-httpx, following the rules in the
scenarios module docstring: a request is answered by the first exchange not yet used up whose method
and URL match; exchanges must be used in order (an exchange is only reachable once every earlier
required one was used); optional ones may be skipped; a trap, an unexpected request, a broken header
rule or a wrong form field makes the test fail (a rule with a ``violation`` is also answered as the
real host answers then). Credentials come from a docker ``config.json`` written for the test (and a
real ``docker-credential-*`` helper script when the scenario says a helper provides them), so the
credential lookup is replayed as well. Retries sleep on an injected clock.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import stat
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, TextIO
from urllib.parse import parse_qsl, unquote, urlsplit

import anyio
import httpx
import pytest
from pytest_httpx import HTTPXMock

from regimage.errors import RateLimited, RegImageError
from regimage.http.retry import RetryPolicy
from regimage.model import mediatypes
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.ratelimit import RateLimit
from regimage.model.reference import Reference
from regimage.registry.client import RegistryProvider
from regimage.registry.credentials import CredentialStore
from tests.replay import scenarios as data
from tests.replay.scenarios import (
    SCENARIOS,
    Absent,
    Contains,
    Exact,
    Exchange,
    HeaderRule,
    Method,
    Present,
    Reply,
    Scenario,
)

pytestmark = [
    pytest.mark.anyio,
    # The replayer answers every request itself and reports what went wrong.
    pytest.mark.httpx_mock(assert_all_responses_were_requested=False),
]

#: A scenario that takes longer than this (on a mocked network) is hanging.
_TIMEOUT_SECONDS = 10.0


# ── the replayer ──────────────────────────────────────────────────────────────────────────────────


def _query(url: str) -> list[tuple[str, str]]:
    return sorted(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def _where(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower(), unquote(parts.path)


def _url_matches(exchange: Exchange, url: str) -> bool:
    if _where(exchange.url) != _where(url):
        return False
    wanted = _query(exchange.url)
    sent = _query(url)
    if not any(name == "n" for name, _ in wanted):
        # A page size the scenario does not mention is the client's choice (Quay ignores it,
        # Distribution caps it): it does not change which answer comes back.
        sent = [(name, value) for name, value in sent if name != "n"]
    return wanted == sent


def _rule_broken(name: str, rule: HeaderRule, headers: httpx.Headers) -> str | None:
    value = headers.get(name)
    if isinstance(rule, Absent):
        return f"{name} must not be sent" if value is not None else None
    if value is None:
        return f"{name} is missing"
    if isinstance(rule, Exact) and value != rule.value:
        return f"{name} is {_shown(name, value)}, not {_shown(name, rule.value)}"
    if isinstance(rule, Present) and not value.startswith(rule.prefix):
        return f"{name} does not start with {rule.prefix!r}"
    if isinstance(rule, Contains):
        parts = {part.split(";", 1)[0].strip().lower() for part in value.split(",")}
        missing = [p for p in rule.parts if p.lower() not in parts]
        if missing:
            return f"{name} lacks {missing}"
    return None


def _shown(name: str, value: str) -> str:
    """Authorization values are compared, never printed whole."""
    if name.lower() == "authorization":
        return repr(value.split(" ", 1)[0] + " …")
    return repr(value)


def _body(body: data.Body) -> bytes:
    if isinstance(body, bytes):
        return body
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class Replayer:
    """Answers a scenario's requests and notes every departure from it."""

    scenario: Scenario
    uses: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.uses = [0] * len(self.scenario.exchanges)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        line = f"{request.method} {url}"
        index = self._match(request.method, url)
        if index is None:
            self.problems.append(f"unexpected request: {line}")
            self.log.append(f"{line} -> no exchange")
            return httpx.Response(418, text="no such exchange in the scenario")
        exchange = self.scenario.exchanges[index]
        self.uses[index] += 1
        waiting = [
            j
            for j, earlier in enumerate(self.scenario.exchanges[:index])
            if self.uses[j] == 0 and not earlier.optional and not earlier.trap
        ]
        if waiting:
            self.problems.append(f"{line} came before required exchange(s) {waiting}")
        if exchange.trap:
            self.problems.append(f"a correct client never makes this request: {line}")
        reply = Reply(exchange.status, exchange.response_headers, exchange.body)
        for name, rule in exchange.request_headers_expected.items():
            broken = _rule_broken(name, rule, request.headers)
            if broken is not None:
                self.problems.append(f"exchanges[{index}] {line}: {broken}")
                if exchange.violation is not None:
                    reply = exchange.violation
        if exchange.form is not None:
            self._check_form(index, line, request, exchange.form)
        self.log.append(f"{line} -> exchanges[{index}] {reply.status}")
        content = b"" if request.method == "HEAD" else _body(reply.body)
        return httpx.Response(reply.status, headers=list(reply.headers.items()), content=content)

    def _match(self, method: str, url: str) -> int | None:
        for index, exchange in enumerate(self.scenario.exchanges):
            used_up = exchange.times is not None and self.uses[index] >= exchange.times
            if not used_up and exchange.method == method and _url_matches(exchange, url):
                return index
        return None

    def _check_form(
        self, index: int, line: str, request: httpx.Request, form: Mapping[str, str]
    ) -> None:
        sent: dict[str, list[str]] = {}
        for name, value in parse_qsl(request.content.decode(), keep_blank_values=True):
            sent.setdefault(name, []).append(value)
        for name, value in form.items():
            if value not in sent.get(name, []):
                shown = "[secure]" if "token" in name or "password" in name else repr(value)
                self.problems.append(f"exchanges[{index}] {line}: form field {name} is not {shown}")

    def unused(self) -> list[str]:
        """Required exchanges the client never made."""
        return [
            f"required exchange never made: exchanges[{i}] {e.method} {e.url}"
            for i, e in enumerate(self.scenario.exchanges)
            if self.uses[i] == 0 and not e.optional and not e.trap
        ]

    def report(self) -> str:
        return "\n  ".join(["problems:", *self.problems, *self.unused(), "exchanges:", *self.log])


# ── credentials, as users keep them ───────────────────────────────────────────────────────────────

_HELPER = """#!/bin/sh
# A stand-in docker-credential-{name}: answers for {host} only, as the real helpers do.
server=$(cat)
if [ "$1" = get ] && [ "$server" = "{host}" ]; then
  printf '%s' '{answer}'
else
  echo "credentials not found in native keychain"
  exit 1
fi
"""


def _credential_store(scenario: Scenario, home: Path) -> CredentialStore:
    """A store reading a docker config.json (and helpers) written for the scenario's credentials."""
    docker = home / "docker"
    bin_dir = home / "bin"
    docker.mkdir()
    bin_dir.mkdir()
    auths: dict[str, dict[str, str]] = {}
    helpers: dict[str, str] = {}
    for creds in scenario.credentials:
        if "credHelpers" in creds.via:
            name = creds.via.split('"')[3]  # credHelpers {"<host>": "<name>"} -> <name>
            helpers[creds.host] = name
            answer = json.dumps(
                {"ServerURL": creds.host, "Username": creds.username, "Secret": creds.secret}
            )
            script = bin_dir / f"docker-credential-{name}"
            script.write_text(_HELPER.format(name=name, host=creds.host, answer=answer))
            script.chmod(script.stat().st_mode | stat.S_IXUSR)
        elif creds.kind == "identity_token":
            entry = {"identitytoken": creds.secret}
            if creds.username != "<token>":
                entry["auth"] = base64.b64encode(f"{creds.username}:".encode()).decode()
            auths[creds.host] = entry
        else:
            raw = f"{creds.username}:{creds.secret}".encode()
            auths[creds.host] = {"auth": base64.b64encode(raw).decode()}
    config = {"auths": auths, "credHelpers": helpers}
    (docker / "config.json").write_text(json.dumps(config))
    env = {"DOCKER_CONFIG": str(docker), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return CredentialStore(env=env, home=home)


def _secrets(scenario: Scenario) -> set[str]:
    """Every credential and token of the scenario: none may reach a message, a repr or a log."""
    found = {creds.secret for creds in scenario.credentials}
    for exchange in scenario.exchanges:
        if isinstance(exchange.body, Mapping):
            for key in ("token", "access_token", "refresh_token"):
                value = exchange.body.get(key)
                if isinstance(value, str):
                    found.add(value)
    return found


class Clock:
    """Monotonic seconds that tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sleeps:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.clock.now += delay


@dataclass
class Run:
    """A scenario being replayed: the provider, the replayer, and what the client did."""

    scenario: Scenario
    registry: RegistryProvider
    replayer: Replayer
    clock: Clock
    sleeps: Sleeps


class Replay(Protocol):
    """``async with replay(scenario) as run``: a provider wired to a scenario's replayer."""

    def __call__(
        self, scenario: Scenario, *, replayer: Replayer | None = None
    ) -> AbstractAsyncContextManager[Run]: ...


@pytest.fixture
def replay(httpx_mock: HTTPXMock, tmp_path: Path) -> Replay:
    @asynccontextmanager
    async def start(scenario: Scenario, *, replayer: Replayer | None = None) -> AsyncIterator[Run]:
        replayer = replayer or Replayer(scenario)
        httpx_mock.add_callback(replayer, is_reusable=True)
        home = tmp_path / scenario.name
        home.mkdir()
        clock = Clock()
        sleeps = Sleeps(clock)
        registry = RegistryProvider(
            credentials=_credential_store(scenario, home),
            retry=RetryPolicy(sleep=sleeps, jitter=0.0),
            clock=clock,
            # pytest-httpx answers for httpx.AsyncHTTPTransport; name it, whatever the default
            # innermost transport is (regimage's own pool need not be one).
            transport=httpx.AsyncHTTPTransport(),
        )
        async with registry:
            yield Run(scenario, registry, replayer, clock, sleeps)

    return start


# ── what the client must conclude ─────────────────────────────────────────────────────────────────


async def _operate(run: Run) -> object:
    """Run the scenario's operation and check its answer against ``expect``."""
    expect = run.scenario.expect
    registry = run.registry
    ref = expect.reference
    if expect.operation in ("resolve", "fetch_manifest"):
        descriptor = await registry.resolve(ref, head=True)
        if expect.operation == "fetch_manifest":
            content = await registry.fetch_manifest(ref, descriptor)
            assert str(Digest.of(content)) == expect.digest
        assert str(descriptor.digest) == expect.digest
        assert descriptor.media_type == expect.media_type
        assert descriptor.size == expect.size
        return descriptor
    if expect.operation in ("fetch_blob", "head_blob"):
        assert expect.blob_digest is not None
        assert expect.blob_size is not None
        digest = Digest.parse(expect.blob_digest)
        if expect.operation == "head_blob":
            found = await registry.head_blob(ref, digest)
            assert found.size == expect.blob_size
            assert found.media_type == expect.blob_media_type
            return found
        media_type = expect.blob_media_type or "application/octet-stream"
        content = await registry.fetch_blob(ref, Descriptor(media_type, digest, expect.blob_size))
        assert Digest.of(content) == digest
        return content
    if expect.operation == "tags":
        tags = await registry.tags(ref, page_size=expect.page_size)
        assert tuple(tags) == expect.tags
        return tags
    assert expect.operation == "catalog"
    return await registry.catalog(ref)


async def _replay(run: Run, caplog: pytest.LogCaptureFixture) -> RegImageError | None:
    """Replay a scenario to its conclusion; return the error it expects (checked)."""
    expect = run.scenario.expect
    caught: RegImageError | None = None
    with anyio.fail_after(_TIMEOUT_SECONDS):
        if expect.error is None:
            await _operate(run)
        else:
            with pytest.raises(RegImageError) as raised:
                await _operate(run)
            caught = raised.value
            assert type(caught) is expect.error, f"{type(caught).__name__}: {caught}"
            for part in expect.error_mentions:
                assert part in str(caught), f"{part!r} not in {str(caught)!r}"
    problems = run.replayer.problems + run.replayer.unused()
    assert not problems, run.replayer.report()
    for operation, count in expect.requests.items():
        assert run.registry.stats[operation] == count, (operation, run.registry.stats.as_dict())
    if expect.sleeps is not None:
        assert tuple(run.sleeps.delays) == expect.sleeps
    shown = [str(caught or ""), repr(caught), caplog.text, repr(run.registry)]
    for secret in _secrets(run.scenario):
        assert not any(secret in text for text in shown), "a secret reached a message or log"
    return caught


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_scenario(
    scenario: Scenario, replay: Replay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="regimage")
    async with replay(scenario) as run:
        await _replay(run, caplog)


# ── behaviours beyond one scenario's conclusion ───────────────────────────────────────────────────


async def test_dockerhub_budget_is_exposed_after_a_head(
    replay: Replay, caplog: pytest.LogCaptureFixture
) -> None:
    async with replay(data.DOCKERHUB_RESOLVE) as run:
        await _replay(run, caplog)
        expected = RateLimit(
            limit=100,
            remaining=76,
            window=21600,
            source="192.0.2.1",
            registry="registry-1.docker.io",
        )
        assert run.registry.rate_limit("registry-1.docker.io") == expected
        assert str(expected) == "Docker Hub: 76 of 100 pulls left in the 6 h window"
        assert run.registry.rate_limit("docker.io") == expected
        assert run.registry.rate_limit("registry-1.docker.io") == expected
        assert run.registry.rate_limit("ghcr.io") is None


async def test_dockerhub_pull_limit_message_states_the_budget(
    replay: Replay, caplog: pytest.LogCaptureFixture
) -> None:
    async with replay(data.DOCKERHUB_PULL_LIMIT) as run:
        error = await _replay(run, caplog)
    assert isinstance(error, RateLimited)
    message = str(error)
    assert message.startswith(
        "Docker Hub rate limit reached: 0 of 100 pulls left in the 6 h window; log in with "
    ), message
    assert "to raise it" in message
    assert "TOOMANYREQUESTS: You have reached your unauthenticated pull rate limit" in message
    assert "docker.io/library/alpine" in message
    assert error.errors[0].code == "TOOMANYREQUESTS"


async def test_dockerhub_abuse_limit_is_not_called_the_pull_limit(
    replay: Replay, caplog: pytest.LogCaptureFixture
) -> None:
    """Retry-After beyond the cap: the text/plain anti-abuse 429 is reported as what it is."""
    exchanges = tuple(
        replace(e, times=None) if e.status == 429 else e
        for e in data.DOCKERHUB_ABUSE_LIMIT.exchanges
    )
    scenario = replace(
        data.DOCKERHUB_ABUSE_LIMIT,
        exchanges=tuple(
            replace(e, response_headers={**e.response_headers, "Retry-After": "3600"})
            if e.status == 429
            else e
            for e in exchanges
        ),
    )
    replayer = Replayer(scenario)
    async with replay(scenario, replayer=replayer) as run:
        with pytest.raises(RateLimited) as caught:
            await run.registry.resolve(scenario.expect.reference, head=True)
    assert "rate limit reached" not in str(caught.value)
    assert "rate limited by registry-1.docker.io" in str(caught.value)
    assert caught.value.retry_after == 3600.0
    assert run.sleeps.delays == []  # an hour is over the cap: no point waiting


@pytest.mark.parametrize(
    ("elapsed", "token_requests"),
    [(50.0, 1), (61.0, 2)],
    ids=["reused-within-60s", "renewed-after-60s"],
)
async def test_quay_token_without_expires_in_lives_60_seconds(
    replay: Replay, caplog: pytest.LogCaptureFixture, elapsed: float, token_requests: int
) -> None:
    scenario = data.QUAY_TOKEN_NO_EXPIRY
    # After the first resolve the host's challenge is known: no 401 again, a token only if the
    # first one expired (optional here: the count below decides).
    second_round = replace(
        scenario,
        exchanges=tuple(
            replace(e, times=None, optional=e.method == "GET") for e in scenario.exchanges[1:]
        ),
    )
    async with replay(scenario) as run:
        await _replay(run, caplog)
        run.replayer.scenario = second_round
        run.replayer.uses = [0] * len(second_round.exchanges)
        run.clock.now += elapsed
        again = await run.registry.resolve(scenario.expect.reference, head=True)
    assert str(again.digest) == scenario.expect.digest
    assert run.registry.stats["token"] == token_requests
    assert not run.replayer.problems, run.replayer.report()


async def test_replayer_catches_a_forwarded_authorization(replay: Replay) -> None:
    """The harness itself: a client that forwards Authorization to S3 gets S3's 400 and a report."""
    scenario = data.HARBOR_BLOB_S3
    replayer = Replayer(scenario)
    request = httpx.Request("GET", data.HARBOR_S3_URL, headers={"Authorization": "Bearer x"})
    answer = replayer(request)
    assert answer.status_code == 400
    assert b"Only one auth mechanism allowed" in answer.content
    assert any("Authorization must not be sent" in p for p in replayer.problems)
    assert any("came before required" in p for p in replayer.problems)
    trap = data.GHCR_BLOB_REDIRECT
    replayer = Replayer(trap)
    replayer(httpx.Request("HEAD", data.GHCR_SIGNED_URL))
    assert any("never makes this request" in p for p in replayer.problems)
    assert replayer(httpx.Request("GET", "https://ghcr.io/v2/")).status_code == 418
    assert any("unexpected request" in p for p in replayer.problems)


def test_every_registry_of_issue_9_has_scenarios() -> None:
    registries = {scenario.registry for scenario in SCENARIOS}
    assert {
        "dockerhub",
        "ghcr",
        "quay",
        "ecr",
        "gcr",
        "artifact-registry",
        "acr",
        "artifactory",
        "harbor",
    } <= registries
    assert len(SCENARIOS) >= 32


def test_references_parse() -> None:
    for scenario in SCENARIOS:
        if scenario.expect.operation == "catalog":
            continue
        Reference.parse(scenario.expect.reference)


# ── the command line on Docker Hub: budget in inspect and -v, audit's HEADs and --budget ───────────

HUB = data.HUB
ALPINE_TOKEN_URL = f"{data.HUB_REALM}?scope={data.HUB_ALPINE_SCOPE}&service=registry.docker.io"
#: A small schema2 image standing in for alpine: the hello-world config and one (never read) layer.
CLI_CONFIG = data.HELLO_CONFIG
CLI_MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": mediatypes.DOCKER_MANIFEST,
        "config": {
            "mediaType": mediatypes.DOCKER_CONFIG,
            "size": len(CLI_CONFIG),
            "digest": str(Digest.of(CLI_CONFIG)),
        },
        "layers": [
            {
                "mediaType": mediatypes.DOCKER_LAYER,
                "size": 2479,
                "digest": "sha256:" + "1" * 64,
            }
        ],
    },
    separators=(",", ":"),
).encode()
CLI_DIGEST = str(Digest.of(CLI_MANIFEST))


def _budget(remaining: int) -> dict[str, str]:
    return {
        "ratelimit-limit": "100;w=21600",
        "ratelimit-remaining": f"{remaining};w=21600",
        "docker-ratelimit-source": "192.0.2.1",
    }


def _hub_cli_scenario(name: str, exchanges: tuple[Exchange, ...]) -> Scenario:
    """Docker Hub's auth around ``exchanges`` (alpine), and its config blob (read or not)."""
    challenge = Exchange(
        "GET",
        f"{HUB}/v2/library/alpine/manifests/latest",
        401,
        response_headers={
            **data.HUB_401_HEADERS,
            "Www-Authenticate": f'{data.HUB_V2_CHALLENGE},scope="{data.HUB_ALPINE_SCOPE}"',
        },
    )
    token = Exchange(
        "GET",
        ALPINE_TOKEN_URL,
        200,
        request_headers_expected=data.NO_AUTH,
        body=data.HUB_TOKEN_BODY,
    )
    config = Exchange(
        "GET",
        f"{HUB}/v2/library/alpine/blobs/{Digest.of(CLI_CONFIG)}",
        200,
        response_headers={"Content-Length": str(len(CLI_CONFIG))},
        body=CLI_CONFIG,
        times=None,
        optional=True,
    )
    return Scenario(
        name=name,
        registry="dockerhub",
        summary="CLI test (synthetic image on Docker Hub's exchanges)",
        sources=data.DOCKERHUB_RESOLVE.sources,
        exchanges=(replace(challenge, method=exchanges[0].method), token, *exchanges, config),
        expect=data.DOCKERHUB_RESOLVE.expect,
    )


def _manifest(method: Method, ref: str, remaining: int) -> Exchange:
    headers = {
        "Content-Type": mediatypes.DOCKER_MANIFEST,
        "Content-Length": str(len(CLI_MANIFEST)),
        "Docker-Content-Digest": CLI_DIGEST,
        **_budget(remaining),
    }
    return Exchange(
        method,
        f"{HUB}/v2/library/alpine/manifests/{ref}",
        200,
        request_headers_expected={"Authorization": Exact(f"Bearer {data.HUB_TOKEN}")},
        response_headers=headers,
        body=b"" if method == "HEAD" else CLI_MANIFEST,
    )


def _run_cli(
    monkeypatch: pytest.MonkeyPatch,
    httpx_mock: HTTPXMock,
    replayer: Callable[[httpx.Request], httpx.Response],
    backend: str,
    *argv: str,
    stdin: TextIO | None = None,
) -> tuple[int, str, str]:
    from regimage.cli import core as cli, session as cli_session

    httpx_mock.add_callback(replayer, is_reusable=True)

    def open_registry(options: cli_session.Options, preconnect: object = None) -> RegistryProvider:
        return RegistryProvider(
            credentials=CredentialStore(env={}, use_files=False),
            transport=httpx.AsyncHTTPTransport(),
        )

    monkeypatch.setattr(cli_session, "open_registry", open_registry)
    monkeypatch.setenv("REGIMAGE_BACKEND", backend)
    monkeypatch.delenv("REGIMAGE_USERNAME", raising=False)
    monkeypatch.delenv("REGIMAGE_PASSWORD", raising=False)
    stdout, stderr = io.StringIO(), io.StringIO()
    status = cli.main(list(argv), stdout=stdout, stderr=stderr, stdin=stdin or io.StringIO())
    return status, stdout.getvalue(), stderr.getvalue()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_inspect_shows_the_budget(
    backend: str, monkeypatch: pytest.MonkeyPatch, httpx_mock: HTTPXMock
) -> None:
    scenario = _hub_cli_scenario("cli-inspect", (_manifest("GET", "latest", 75),))
    replayer = Replayer(scenario)
    status, out, err = _run_cli(
        monkeypatch, httpx_mock, replayer, backend, "-v", "inspect", "--json", "alpine"
    )
    assert status == 0, err
    assert not replayer.problems + replayer.unused(), replayer.report()
    # -v: the budget is logged as the registry states it (this needs no more than RegistryAuth).
    assert "registry-1.docker.io budget: 75 of 100 pulls left in the 6 h window" in err
    document = json.loads(out)
    assert document["digest"] == CLI_DIGEST
    assert document["rateLimit"] == {
        "registry": "registry-1.docker.io",
        "limit": 100,
        "remaining": 75,
        "window": 21600,
        "reset": None,
        "text": "Docker Hub: 75 of 100 pulls left in the 6 h window",
    }
    assert "192.0.2.1" not in out  # the budget's source (the caller's IP) is not printed


@dataclass
class FakeHub:
    """Docker Hub as the audit meets it, answering by what each request carries (the order of
    concurrent workers, and whether audit pings ``/v2/`` to fetch tokens in batches, are not the
    point here): 401 with Hub's challenge without the token, manifests by tag to HEAD only, and a
    budget of ``remaining`` pulls that each manifest GET spends."""

    remaining: int
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        line = f"{request.method} {url.path}"
        self.requests.append(line)
        if url.host == "auth.docker.io":
            if request.headers.get("authorization") is not None:
                self.problems.append(f"{line}: credentials sent for an anonymous token")
            return httpx.Response(200, json=dict(data.HUB_TOKEN_BODY))
        if url.host != "registry-1.docker.io":
            self.problems.append(f"unexpected host: {request.method} {url}")
            return httpx.Response(418)
        scope = "" if url.path == "/v2/" else f',scope="{data.HUB_ALPINE_SCOPE}"'
        if request.headers.get("authorization") != f"Bearer {data.HUB_TOKEN}":
            challenge = f"{data.HUB_V2_CHALLENGE}{scope}"
            return httpx.Response(401, headers={"Www-Authenticate": challenge})
        if url.path.startswith("/v2/library/alpine/blobs/"):
            return httpx.Response(200, content=CLI_CONFIG)
        if not url.path.startswith("/v2/library/alpine/manifests/"):
            self.problems.append(f"unexpected request: {line}")
            return httpx.Response(404)
        by_digest = url.path.endswith(CLI_DIGEST)
        if request.method == "GET":
            if not by_digest:
                self.problems.append(f"{line}: a GET by tag spends a pull a HEAD would not")
            self.remaining -= 1
        headers = {
            "Content-Type": mediatypes.DOCKER_MANIFEST,
            "Docker-Content-Digest": CLI_DIGEST,
            **_budget(self.remaining),
        }
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(CLI_MANIFEST))
            return httpx.Response(200, headers=headers)
        return httpx.Response(200, headers=headers, content=CLI_MANIFEST)


#: An audit that resolves one reference at a time and stops below 5 pulls left.
AUDIT_ONE_AT_A_TIME = ("audit", "--jobs", "1", "--budget", "5")
THREE_ALPINES = ("alpine", "alpine:3.19", "alpine:3.20")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_audit_resolves_docker_hub_tags_with_head_and_stops_below_the_budget(
    backend: str, monkeypatch: pytest.MonkeyPatch, httpx_mock: HTTPXMock
) -> None:
    hub = FakeHub(remaining=3)
    status, out, err = _run_cli(
        monkeypatch, httpx_mock, hub, backend, *AUDIT_ONE_AT_A_TIME, *THREE_ALPINES
    )
    assert not hub.problems, hub.problems
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["index"] for r in records] == [0, 1, 2], err
    audited = [r for r in records if r["ok"]]
    assert len(audited) == 1, err  # whichever went first; its HEAD said 3 < 5 left
    assert audited[0]["digest"] == CLI_DIGEST
    # One HEAD (free) and one GET by digest (a pull): the others were never asked about.
    manifests = [line for line in hub.requests if "/manifests/" in line]
    assert len(manifests) == 2, hub.requests
    assert manifests[0].startswith("HEAD ")
    assert manifests[1] == f"GET /v2/library/alpine/manifests/{CLI_DIGEST}"
    assert status == 8, err
    for record in records:
        if not record["ok"]:
            assert record["error"] == {
                "kind": "RateLimited",
                "message": "not audited: Docker Hub: 2 of 100 pulls left in the 6 h window, "
                "below --budget 5",
                "exitCode": 8,
            }
    assert (
        "audit stopped early: Docker Hub: 2 of 100 pulls left in the 6 h window, below --budget 5; "
        "log in to raise the limit, or run again later (the window is 6 h)"
    ) in err


class _OpenStdin(io.StringIO):
    """A pipe whose writer has not closed it: its lines, then a read that waits (until released)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.released = threading.Event()

    def readline(self, size: int = -1, /) -> str:  # type: ignore[override]  # _IOBase: bytes
        line = super().readline(size)
        if not line:
            self.released.wait(60)
        return line


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_audit_stopped_by_the_budget_does_not_wait_for_more_input(
    backend: str, monkeypatch: pytest.MonkeyPatch, httpx_mock: HTTPXMock
) -> None:
    """References read ahead on stdin: the read still waiting when the budget stops the audit
    is left behind, not waited for."""
    hub = FakeHub(remaining=3)
    stdin = _OpenStdin("".join(f"{ref}\n" for ref in THREE_ALPINES))
    started = time.monotonic()
    try:
        status, out, err = _run_cli(
            monkeypatch, httpx_mock, hub, backend, *AUDIT_ONE_AT_A_TIME, stdin=stdin
        )
    finally:
        stdin.released.set()
    assert time.monotonic() - started < 30, err
    assert status == 8, err
    records = [json.loads(line) for line in out.splitlines()]
    # One reference (whichever went first) is audited; every other one started when the budget
    # stopped the run gets a "not audited" record. The third gets one only if it had been started:
    # it may still have been in the read-ahead then (the README's rule), which depends on the
    # reader thread.
    assert [r["index"] for r in records] in ([0, 1], [0, 1, 2]), err
    assert sum(r["ok"] for r in records) == 1, err
    failed = [r for r in records if not r["ok"]]
    assert all(r["error"]["message"].startswith("not audited: ") for r in failed), err
    assert "audit stopped early" in err
    assert "the references after the last record were not audited" in err


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_audit_goes_on_while_the_budget_lasts(
    backend: str, monkeypatch: pytest.MonkeyPatch, httpx_mock: HTTPXMock
) -> None:
    hub = FakeHub(remaining=50)
    status, out, err = _run_cli(
        monkeypatch, httpx_mock, hub, backend, "audit", "alpine", "alpine:3.19", "--budget", "5"
    )
    assert status == 0, err
    assert not hub.problems, hub.problems
    assert [json.loads(line)["ok"] for line in out.splitlines()] == [True, True]
    heads = [line for line in hub.requests if line.startswith("HEAD /v2/library/alpine/manifests")]
    assert len(heads) == 2
    assert "stopped early" not in err


def test_audit_budget_must_be_a_count(capsys: pytest.CaptureFixture[str]) -> None:
    from regimage.cli import core as cli

    assert cli.main(["audit", "--budget", "-1", "alpine"]) == 2
    assert "must be a whole number of pulls" in capsys.readouterr().err
