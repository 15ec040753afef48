"""The HTTP boundary: URL redaction, bounded reads, error bodies, status and exception mapping."""

from __future__ import annotations

import gzip
import json
import ssl
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from regimage.errors import (
    AccessDenied,
    AuthenticationError,
    NetworkError,
    NotFound,
    RateLimited,
    RegistryError,
    RegistryErrorDetail,
    SizeLimitExceeded,
    SizeMismatch,
)
from regimage.http.bounded import read_bounded
from regimage.http.error_body import parse_error_body
from regimage.http.error_mapping import is_tls_protocol_error, map_transport_error, transport_errors
from regimage.http.extensions import ATTEMPTS, CREDENTIALS_SENT, RATE_LIMIT
from regimage.http.redaction import redact_url
from regimage.http.status import (
    LOGIN_HINT,
    parse_retry_after_seconds,
    raise_for_status,
    raise_for_token_status,
)
from regimage.model.ratelimit import RateLimit

URL = "https://registry.test/v2/library/ubuntu/manifests/latest"


class Chunks(httpx.AsyncByteStream):
    """A body sent as these network reads."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


class CountingStream(httpx.AsyncByteStream):
    """``chunks`` chunks of ``size`` bytes; counts how many were read."""

    def __init__(self, chunks: int, size: int = 1024) -> None:
        self.chunks = chunks
        self.size = size
        self.read = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.read += 1
            yield b"x" * self.size

    async def aclose(self) -> None:
        self.closed = True


def response(
    status: int = 200,
    *,
    content: bytes | None = None,
    stream: httpx.AsyncByteStream | None = None,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    url: str = URL,
) -> httpx.Response:
    return httpx.Response(
        status,
        content=content,
        stream=stream,
        headers=headers,
        request=httpx.Request(method, url),
    )


def errors_body(*entries: tuple[str, str]) -> bytes:
    return json.dumps({"errors": [{"code": c, "message": m} for c, m in entries]}).encode()


# ── redaction and hosts ────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@r.test/v2/", "https://r.test/v2/"),
        (
            "https://cdn.test/b?X-Amz-Signature=abc&X-Amz-Credential=AK",
            "https://cdn.test/b?X-Amz-Signature=[secure]&X-Amz-Credential=[secure]",
        ),
        (
            "https://auth.test/token?service=reg&scope=repository:a:pull&account=bob",
            "https://auth.test/token?service=reg&scope=repository%3Aa%3Apull&account=[secure]",
        ),
        ("https://r.test/v2/_catalog?n=100&last=abc", "https://r.test/v2/_catalog?n=100&last=abc"),
        ("https://r.test/v2/x/tags/list", "https://r.test/v2/x/tags/list"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_url_never_raises() -> None:
    assert redact_url("https://[::1") == "<invalid URL>"


# ── bounded reads ──────────────────────────────────────────────────────────────────────────────────


@pytest.mark.anyio
async def test_read_bounded_returns_the_body() -> None:
    assert await read_bounded(response(content=b"hello"), 10, what="body") == b"hello"


@pytest.mark.anyio
async def test_content_length_over_the_limit_is_refused_before_reading() -> None:
    body = CountingStream(chunks=100)
    answer = response(stream=body, headers={"Content-Length": str(100 * 1024)})
    with pytest.raises(SizeLimitExceeded) as caught:
        await read_bounded(answer, 4096, what="manifest latest")
    assert body.read == 0
    assert body.closed
    assert caught.value.limit == 4096
    assert "declares 102400 bytes (Content-Length), over the 4096-byte limit" in str(caught.value)
    assert caught.value.url == URL


@pytest.mark.anyio
async def test_a_streamed_body_stops_at_the_limit() -> None:
    body = CountingStream(chunks=10_000)  # 10 MB if read whole
    with pytest.raises(SizeLimitExceeded, match="larger than the 4096-byte limit"):
        await read_bounded(response(stream=body), 4096, what="manifest")
    assert body.read == 5  # the fifth chunk passes 4096 bytes
    assert body.closed


@pytest.mark.anyio
async def test_a_truncated_body_is_a_network_error() -> None:
    answer = response(stream=CountingStream(chunks=2), headers={"Content-Length": "4096"})
    with pytest.raises(NetworkError, match="cut short: got 2048 of the 4096 bytes"):
        await read_bounded(answer, 10_000, what="blob sha256:ab")


@pytest.mark.anyio
async def test_content_length_different_from_the_descriptor() -> None:
    answer = response(content=b"12345")
    with pytest.raises(
        SizeMismatch, match="is 5 bytes \\(Content-Length\\) but its descriptor says 4"
    ):
        await read_bounded(answer, 100, what="blob", expected_size=4)


@pytest.mark.anyio
async def test_a_body_longer_than_the_descriptor_stops_early() -> None:
    body = CountingStream(chunks=100)
    with pytest.raises(SizeMismatch) as caught:
        await read_bounded(response(stream=body), 10**9, what="blob", expected_size=1500)
    assert body.read == 2
    assert caught.value.expected == 1500


@pytest.mark.anyio
async def test_a_body_shorter_than_the_descriptor() -> None:
    with pytest.raises(SizeMismatch, match="is 2048 bytes but its descriptor says 4096"):
        await read_bounded(
            response(stream=CountingStream(chunks=2)), 10**9, what="blob", expected_size=4096
        )


# ── error bodies ───────────────────────────────────────────────────────────────────────────────────


def test_parse_error_body() -> None:
    body = json.dumps(
        {
            "errors": [
                {"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {"Tag": "x"}},
                {"code": "DENIED", "message": "requested access to the resource is denied"},
                "junk",
            ]
        }
    ).encode()
    assert parse_error_body(body) == (
        RegistryErrorDetail("MANIFEST_UNKNOWN", "manifest unknown", '{"Tag": "x"}'),
        RegistryErrorDetail("DENIED", "requested access to the resource is denied"),
    )


@pytest.mark.parametrize(
    "body",
    [b"", b"404 page not found\n", b"{not json", b'{"errors": 3}', b"[1, 2]", b"\xff\xfe"],
)
def test_unreadable_error_bodies_give_nothing(body: bytes) -> None:
    assert parse_error_body(body) == ()


def test_token_server_error_shapes() -> None:
    assert parse_error_body(b'{"details": "incorrect username or password"}') == (
        RegistryErrorDetail("", "incorrect username or password"),
    )


def test_error_text_is_clipped() -> None:
    body = json.dumps({"errors": [{"code": "X", "message": "m" * 5000}]}).encode()
    (detail,) = parse_error_body(body)
    assert len(detail.message) == 500


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("", None),
        (None, None),
        ("-5", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after_seconds(value, now=1445412500.0) == seconds


# ── status mapping ─────────────────────────────────────────────────────────────────────────────────


async def raise_for(answer: httpx.Response) -> None:
    await raise_for_status(
        answer,
        subject="tag 'latest'",
        repository="docker.io/library/ubuntu",
        reference="docker.io/library/ubuntu:latest",
    )


@pytest.mark.anyio
async def test_success_does_not_raise() -> None:
    await raise_for(response(200, content=b"{}"))


@pytest.mark.anyio
async def test_manifest_unknown_names_tag_and_repository() -> None:
    answer = response(404, content=errors_body(("MANIFEST_UNKNOWN", "manifest unknown")))
    with pytest.raises(NotFound) as caught:
        await raise_for(answer)
    assert str(caught.value) == "tag 'latest' not found in docker.io/library/ubuntu"
    assert caught.value.status == 404
    assert caught.value.errors == (RegistryErrorDetail("MANIFEST_UNKNOWN", "manifest unknown"),)
    assert caught.value.reference == "docker.io/library/ubuntu:latest"


@pytest.mark.anyio
async def test_name_unknown_names_the_repository() -> None:
    answer = response(404, content=errors_body(("NAME_UNKNOWN", "repository name not known")))
    with pytest.raises(NotFound, match=r"^repository docker\.io/library/ubuntu not found$"):
        await raise_for(answer)


@pytest.mark.anyio
async def test_a_plain_404_and_a_head_404() -> None:
    with pytest.raises(NotFound, match="tag 'latest' not found"):
        await raise_for(response(404, content=b"404 page not found"))
    with pytest.raises(NotFound, match="tag 'latest' not found"):
        await raise_for(response(404, method="HEAD"))


@pytest.mark.anyio
async def test_401_without_credentials_says_how_to_log_in() -> None:
    answer = response(401, content=errors_body(("UNAUTHORIZED", "authentication required")))
    with pytest.raises(AuthenticationError) as caught:
        await raise_for(answer)
    message = str(caught.value)
    assert not isinstance(caught.value, AccessDenied)
    assert "authentication required for docker.io/library/ubuntu" in message
    assert "no credentials were found for registry.test" in message
    assert "log in with --username/--password-stdin or a docker config.json" in message


@pytest.mark.anyio
async def test_401_with_credentials_says_they_were_refused() -> None:
    answer = response(401)
    answer.extensions[CREDENTIALS_SENT] = True
    with pytest.raises(AuthenticationError, match="refused the credentials sent for"):
        await raise_for(answer)


@pytest.mark.anyio
async def test_insufficient_scope_without_credentials() -> None:
    answer = response(
        401,
        headers={"WWW-Authenticate": 'Bearer realm="https://a/t",error="insufficient_scope"'},
    )
    with pytest.raises(AuthenticationError, match="does not exist or needs credentials"):
        await raise_for(answer)


@pytest.mark.anyio
async def test_insufficient_scope_with_credentials_is_access_denied() -> None:
    answer = response(
        401,
        headers={"WWW-Authenticate": 'Bearer realm="https://a/t",error="insufficient_scope"'},
    )
    answer.extensions[CREDENTIALS_SENT] = True
    with pytest.raises(AccessDenied, match="were accepted but do not allow pulling"):
        await raise_for(answer)


@pytest.mark.anyio
async def test_403_is_access_denied() -> None:
    answer = response(403, content=errors_body(("DENIED", "requested access is denied")))
    with pytest.raises(AccessDenied) as caught:
        await raise_for(answer)
    assert "denied (HTTP 403): DENIED: requested access is denied" in str(caught.value)


@pytest.mark.anyio
async def test_429_is_rate_limited_with_the_hint() -> None:
    answer = response(429, headers={"Retry-After": "30"})
    answer.extensions[ATTEMPTS] = 4
    with pytest.raises(RateLimited) as caught:
        await raise_for(answer)
    assert caught.value.retry_after == 30.0
    assert "(HTTP 429 after 4 attempts)" in str(caught.value)
    assert "wait 30 s" in str(caught.value)


@pytest.mark.anyio
async def test_5xx_is_a_registry_error_with_the_codes() -> None:
    answer = response(503, content=errors_body(("UNAVAILABLE", "try later")))
    answer.extensions[ATTEMPTS] = 4
    with pytest.raises(RegistryError) as caught:
        await raise_for(answer)
    assert str(caught.value) == (
        "registry.test answered HTTP 503 Service Unavailable after 4 attempts for tag 'latest' "
        "in docker.io/library/ubuntu: UNAVAILABLE: try later"
    )


@pytest.mark.anyio
async def test_token_status_mapping() -> None:
    refused = response(401, url="https://auth.test/token?service=s&scope=x&secret=1")
    with pytest.raises(AuthenticationError) as caught:
        await raise_for_token_status(refused, host="r.test", credentials_sent=True)
    assert "the token server https://auth.test/token refused the credentials for r.test" in str(
        caught.value
    )
    anonymous = response(403, url="https://auth.test/token")
    with pytest.raises(AuthenticationError, match="refused an anonymous token"):
        await raise_for_token_status(anonymous, host="r.test", credentials_sent=False)
    broken = response(500, url="https://auth.test/token")
    with pytest.raises(RegistryError, match="answered HTTP 500"):
        await raise_for_token_status(broken, host="r.test", credentials_sent=False)


# ── issue #9: real registries' refusals ────────────────────────────────────────────────────────────

S3_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidArgument</Code><Message>Only one '
    b"auth mechanism allowed</Message><RequestId>X</RequestId></Error>"
)


def test_object_store_xml_errors_are_read() -> None:
    assert parse_error_body(S3_XML) == (
        RegistryErrorDetail("InvalidArgument", "Only one auth mechanism allowed"),
    )
    assert parse_error_body(b"<html><body>nope</body></html>") == ()


def _redirected(status: int, content: bytes = b"") -> httpx.Response:
    first = response(307, headers={"Location": "https://bucket.s3.test/data?X-Amz-Signature=s"})
    answer = response(status, content=content, url="https://bucket.s3.test/data?X-Amz-Signature=s")
    answer.history = [first]
    return answer


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "kind"), [(403, AccessDenied), (400, RegistryError)])
async def test_a_refusal_from_the_redirect_target_names_both_hosts(
    status: int, kind: type[Exception]
) -> None:
    with pytest.raises(kind) as caught:
        await raise_for(_redirected(status, S3_XML))
    message = str(caught.value)
    assert message.startswith(
        f"bucket.s3.test, where registry.test redirected the download of tag 'latest' of "
        f"docker.io/library/ubuntu, refused it (HTTP {status}): InvalidArgument: Only one auth"
    )
    assert "signed URL may have expired" in message
    assert "X-Amz-Signature=s" not in message


HUB_URL = "https://registry-1.docker.io/v2/library/alpine/manifests/sha256:00"
HUB_429 = errors_body(
    (
        "TOOMANYREQUESTS",
        "You have reached your unauthenticated pull rate limit. "
        "https://www.docker.com/increase-rate-limit",
    )
)


@pytest.mark.anyio
async def test_docker_hub_pull_limit_says_which_budget_and_what_helps() -> None:
    answer = response(429, content=HUB_429, url=HUB_URL)
    answer.extensions[ATTEMPTS] = 4
    answer.extensions[RATE_LIMIT] = RateLimit(100, 0, window=21600, registry="registry-1.docker.io")
    with pytest.raises(RateLimited) as caught:
        await raise_for(answer)
    assert str(caught.value) == (
        "Docker Hub rate limit reached: 0 of 100 pulls left in the 6 h window; "
        f"{LOGIN_HINT} to raise it; fetching tag 'latest' from docker.io/library/ubuntu "
        "(HTTP 429 after 4 attempts): TOOMANYREQUESTS: You have reached your unauthenticated pull "
        "rate limit. https://www.docker.com/increase-rate-limit"
    )


@pytest.mark.anyio
async def test_pull_limit_without_a_known_budget_but_with_a_wait() -> None:
    answer = response(429, content=HUB_429, url=HUB_URL, headers={"Retry-After": "2460"})
    answer.extensions[CREDENTIALS_SENT] = True
    with pytest.raises(RateLimited) as caught:
        await raise_for(answer)
    assert str(caught.value).startswith(
        "Docker Hub rate limit reached, resets in 41 min; the budget of these credentials is "
        "used up until the window resets; fetching tag 'latest'"
    )
    assert caught.value.retry_after == 2460.0


@pytest.mark.anyio
async def test_a_request_rate_429_is_not_called_the_pull_limit() -> None:
    answer = response(429, content=b"Too Many Requests (HAP429).\n", url=HUB_URL)
    answer.extensions[RATE_LIMIT] = RateLimit(
        100, 76, window=21600, registry="registry-1.docker.io"
    )
    with pytest.raises(RateLimited) as caught:
        await raise_for(answer)
    assert str(caught.value) == (
        "rate limited by registry-1.docker.io fetching tag 'latest' from docker.io/library/ubuntu "
        "(HTTP 429); Docker Hub: 76 of 100 pulls left in the 6 h window"
    )


@pytest.mark.anyio
async def test_a_catalog_refused_to_a_non_admin_says_so() -> None:
    answer = response(
        401,
        url="https://harbor.test/v2/_catalog",
        headers={"WWW-Authenticate": 'Bearer realm="https://a/t",error="insufficient_scope"'},
    )
    answer.extensions[CREDENTIALS_SENT] = True
    with pytest.raises(AccessDenied) as caught:
        await raise_for_status(answer, subject="catalog", repository="harbor.test")
    assert str(caught.value) == (
        "the credentials for harbor.test were accepted but do not allow listing the catalog of "
        "harbor.test (registries such as Harbor let only administrators list the catalog)"
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("scopes", "words"),
    [
        ((), "a token"),
        (("repository:openai/tunnel-client-runtime:pull",), "pull access to openai/tunnel-client-runtime"),
        (("repository:a:pull", "repository:b:pull", "repository:c:pull"), "pull access to 3 repositories (a, b, …)"),
        (("registry:catalog:*",), "the catalog"),
    ],
)  # fmt: skip
async def test_token_refusals_name_what_was_asked(scopes: tuple[str, ...], words: str) -> None:
    refused = response(401, url="https://ghcr.test/token?scope=x")
    with pytest.raises(AuthenticationError) as caught:
        await raise_for_token_status(
            refused, host="ghcr.test", credentials_sent=False, scopes=scopes
        )
    assert str(caught.value).startswith(
        f"the token server https://ghcr.test/token refused an anonymous token for {words} on "
        "ghcr.test (HTTP 401); it may be private or may not exist"
    )


# ── transport errors ───────────────────────────────────────────────────────────────────────────────


def _chained(outer: httpx.HTTPError, cause: BaseException) -> httpx.HTTPError:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("error", "kind", "fragment"),
    [
        (
            _chained(
                httpx.ConnectError("handshake failed"),
                ssl.SSLCertVerificationError("certificate verify failed: self-signed"),
            ),
            NetworkError,
            "certificate verify failed; pass --ca-file",
        ),
        (
            httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number"),
            NetworkError,
            "TLS handshake with registry.test failed",
        ),
        (httpx.ConnectError("Connection refused"), NetworkError, "cannot connect to registry.test"),
        (httpx.ReadTimeout("timed out"), NetworkError, "timed out talking to registry.test"),
        (
            httpx.RemoteProtocolError("peer closed connection"),
            NetworkError,
            "closed the connection",
        ),
        (httpx.TooManyRedirects("Exceeded"), RegistryError, "too many redirects"),
        (httpx.UnsupportedProtocol("ftp"), RegistryError, "cannot request"),
        (httpx.ReadError("reset"), NetworkError, "request to registry.test failed: ReadError"),
    ],
)
def test_map_transport_error(error: httpx.HTTPError, kind: type[Exception], fragment: str) -> None:
    mapped = map_transport_error(error, "https://u:p@registry.test/v2/?token=abc")
    assert type(mapped) is kind
    assert fragment in str(mapped)
    assert "abc" not in str(mapped)
    assert ":p@" not in str(mapped)


def test_tls_protocol_errors_are_told_from_certificate_errors() -> None:
    plain = httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number")
    cert = _chained(httpx.ConnectError("x"), ssl.SSLCertVerificationError("bad"))
    assert is_tls_protocol_error(plain)
    assert not is_tls_protocol_error(cert)
    assert not is_tls_protocol_error(httpx.ConnectError("refused"))


def test_transport_errors_context_manager() -> None:
    with pytest.raises(NetworkError) as caught, transport_errors(URL, reference="r:1"):
        raise httpx.ConnectError("refused")
    assert caught.value.reference == "r:1"
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


# ── compressed bodies are inflated within the cap ──────────────────────────────────────────────────


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, no zlib header
    ],
)
async def test_compressed_bodies_are_inflated(
    encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    body = b'{"schemaVersion": 2}' * 100
    answer = response(stream=Chunks([compress(body)]), headers={"Content-Encoding": encoding})
    assert await read_bounded(answer, 10_000, what="manifest") == body


@pytest.mark.anyio
async def test_a_gzip_bomb_stops_at_the_cap_without_inflating_it_whole() -> None:
    bomb = gzip.compress(bytes(32 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    answer = response(stream=Chunks([bomb]), headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        with pytest.raises(SizeLimitExceeded):
            await read_bounded(answer, 1024 * 1024, what="manifest")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


@pytest.mark.anyio
async def test_a_body_that_is_not_what_its_encoding_says() -> None:
    answer = response(stream=Chunks([b"plain text"]), headers={"Content-Encoding": "gzip"})
    with pytest.raises(RegistryError, match=r"is not valid gzip \(Content-Encoding\)"):
        await read_bounded(answer, 1000, what="manifest")
