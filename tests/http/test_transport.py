"""Transport layers: retries with injected sleep, per-host limits, logging, error-body bounds."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import httpx
import pytest
from pytest_httpx import HTTPXMock

from regimage.errors import SizeLimitExceeded
from regimage.http.extensions import ATTEMPTS, OPERATION
from regimage.http.limits import HostLimitTransport
from regimage.http.request_log import LoggingTransport, RequestStats
from regimage.http.retry import RetryPolicy, RetryTransport
from regimage.http.transport import build_transport

URL = "https://registry.test/v2/library/ubuntu/manifests/latest"
#: One TLS context for every transport here: building one loads the CA bundle (tens of ms).
TLS = httpx.create_ssl_context()


class SleepRecorder:
    """An injected sleep: records the delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def make_client(
    sleep: SleepRecorder,
    *,
    stats: RequestStats | None = None,
    per_host: int = 8,
    **policy: float,
) -> httpx.AsyncClient:
    retry = RetryPolicy(sleep=sleep, jitter=0.0, **policy)  # type: ignore[arg-type]
    transport = build_transport(
        httpx.AsyncHTTPTransport(verify=TLS), retry=retry, per_host=per_host, stats=stats
    )
    return httpx.AsyncClient(transport=transport)


class CountingStream(httpx.AsyncByteStream):
    """A response body of ``chunks`` chunks of ``size`` bytes that counts what was read."""

    def __init__(self, chunks: int, size: int = 64 * 1024) -> None:
        self.chunks = chunks
        self.size = size
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.read += self.size
            yield b"x" * self.size


# ── RetryPolicy ────────────────────────────────────────────────────────────────────────────────────


class TestRetryPolicy:
    def test_backoff_grows_exponentially_up_to_the_cap(self) -> None:
        policy = RetryPolicy(base=0.5, factor=2.0, max_delay=3.0, jitter=0.0)
        assert [policy.backoff(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]

    @pytest.mark.parametrize(("rand", "expected"), [(0.0, 0.8), (0.5, 1.0), (1.0, 1.2)])
    def test_jitter_spreads_the_delay(self, rand: float, expected: float) -> None:
        policy = RetryPolicy(base=1.0, jitter=0.2)
        assert policy.backoff(1, rand) == pytest.approx(expected)

    def test_default_statuses_are_the_retryable_ones(self) -> None:
        assert RetryPolicy().statuses == frozenset({408, 429, 500, 502, 503, 504})

    def test_sleep_does_not_take_part_in_equality(self) -> None:
        assert RetryPolicy(sleep=SleepRecorder()) == RetryPolicy()


# ── RetryTransport ─────────────────────────────────────────────────────────────────────────────────


@pytest.mark.anyio
async def test_429_with_retry_after_then_success(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=429, headers={"Retry-After": "7"})
    httpx_mock.add_response(url=URL, status_code=200, content=b"ok")
    sleep = SleepRecorder()
    async with make_client(sleep) as client:
        response = await client.get(URL)
    assert response.status_code == 200
    assert response.content == b"ok"
    assert sleep.delays == [7.0]
    assert response.extensions[ATTEMPTS] == 2


@pytest.mark.anyio
async def test_retry_after_as_an_http_date(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=URL, status_code=503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}
    )
    httpx_mock.add_response(url=URL, status_code=200)
    sleep = SleepRecorder()
    now = 1445412500.0  # 07:28:20 GMT that day: the date is 10 s ahead
    policy = RetryPolicy(sleep=sleep, jitter=0.0)
    transport = RetryTransport(httpx.AsyncHTTPTransport(verify=TLS), policy, now=lambda: now)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(URL)
    assert response.status_code == 200
    assert sleep.delays == [10.0]


@pytest.mark.anyio
async def test_retry_after_over_the_cap_gives_up_at_once(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=429, headers={"Retry-After": "3600"})
    sleep = SleepRecorder()
    async with make_client(sleep, retry_after_cap=60.0) as client:
        response = await client.get(URL)
    assert response.status_code == 429
    assert sleep.delays == []
    assert response.extensions[ATTEMPTS] == 1


@pytest.mark.anyio
async def test_503_storm_stops_after_the_attempts(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=503, is_reusable=True)
    sleep = SleepRecorder()
    stats = RequestStats()
    async with make_client(sleep, stats=stats, attempts=4) as client:
        response = await client.get(URL)
    assert response.status_code == 503
    assert response.extensions[ATTEMPTS] == 4
    assert len(httpx_mock.get_requests()) == 4
    assert sleep.delays == [0.5, 1.0, 2.0]
    assert stats["manifest"] == 4


@pytest.mark.parametrize("status", [400, 401, 403, 404, 501])
@pytest.mark.anyio
async def test_other_statuses_are_not_retried(httpx_mock: HTTPXMock, status: int) -> None:
    httpx_mock.add_response(url=URL, status_code=status)
    sleep = SleepRecorder()
    async with make_client(sleep) as client:
        response = await client.get(URL)
    assert response.status_code == status
    assert sleep.delays == []


@pytest.mark.anyio
async def test_connect_error_is_retried(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("connection refused"), url=URL)
    httpx_mock.add_response(url=URL, status_code=200)
    sleep = SleepRecorder()
    async with make_client(sleep) as client:
        response = await client.get(URL)
    assert response.status_code == 200
    assert sleep.delays == [0.5]


@pytest.mark.anyio
async def test_read_error_is_not_retried_on_post(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ReadError("reset"), url="https://auth.test/token")
    sleep = SleepRecorder()
    async with make_client(sleep) as client:
        with pytest.raises(httpx.ReadError):
            await client.post("https://auth.test/token", data={"a": "b"})
    assert sleep.delays == []


@pytest.mark.anyio
async def test_read_error_is_retried_on_get(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.RemoteProtocolError("server disconnected"), url=URL)
    httpx_mock.add_response(url=URL, status_code=200)
    sleep = SleepRecorder()
    async with make_client(sleep) as client:
        assert (await client.get(URL)).status_code == 200
    assert sleep.delays == [0.5]


@pytest.mark.anyio
async def test_tls_errors_are_not_retried(httpx_mock: HTTPXMock) -> None:
    error = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    httpx_mock.add_exception(error, url=URL)
    sleep = SleepRecorder()
    async with make_client(sleep) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(URL)
    assert sleep.delays == []


@pytest.mark.anyio
async def test_errors_after_the_last_attempt_propagate(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=URL, is_reusable=True)
    sleep = SleepRecorder()
    async with make_client(sleep, attempts=3) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(URL)
    assert sleep.delays == [0.5, 1.0]


# ── HostLimitTransport ─────────────────────────────────────────────────────────────────────────────


@pytest.mark.anyio
async def test_per_host_limit_bounds_requests_in_flight(httpx_mock: HTTPXMock) -> None:
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}
    release = anyio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        in_flight[host] = in_flight.get(host, 0) + 1
        peak[host] = max(peak.get(host, 0), in_flight[host])
        await release.wait()
        in_flight[host] -= 1
        return httpx.Response(200, content=b"x")

    httpx_mock.add_callback(slow, is_reusable=True)
    transport = HostLimitTransport(httpx.AsyncHTTPTransport(verify=TLS), per_host=2)
    async with httpx.AsyncClient(transport=transport) as client:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                for i in range(5):
                    group.start_soon(client.get, f"https://a.test/{i}")
                    group.start_soon(client.get, f"https://b.test/{i}")
                for _ in range(20):
                    await anyio.lowlevel.checkpoint()
                assert peak == {"a.test": 2, "b.test": 2}
                release.set()
    assert len(httpx_mock.get_requests()) == 10


@pytest.mark.anyio
async def test_a_slot_is_held_until_the_body_is_closed(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(content=b"first", is_reusable=True)
    transport = HostLimitTransport(httpx.AsyncHTTPTransport(verify=TLS), per_host=1)
    async with httpx.AsyncClient(transport=transport) as client:
        with anyio.fail_after(5):
            async with client.stream("GET", "https://a.test/1") as response:
                with anyio.move_on_after(0.05) as scope:
                    await client.get("https://a.test/2")  # must wait for the slot
                assert scope.cancelled_caught
                assert await response.aread() == b"first"
            assert (await client.get("https://a.test/3")).content == b"first"


def test_per_host_must_be_positive() -> None:
    with pytest.raises(ValueError, match="per_host"):
        HostLimitTransport(httpx.AsyncHTTPTransport(verify=TLS), per_host=0)


# ── LoggingTransport ───────────────────────────────────────────────────────────────────────────────


@pytest.mark.anyio
async def test_one_debug_line_per_request_with_secrets_masked(
    httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    signed = "https://cdn.test/blob?X-Amz-Signature=s3cr3t&X-Amz-Credential=AKIA&n=5"
    httpx_mock.add_response(url=signed, content=b"12345")
    caplog.set_level(logging.DEBUG, logger="regimage")
    async with httpx.AsyncClient(
        transport=LoggingTransport(httpx.AsyncHTTPTransport(verify=TLS))
    ) as client:
        await client.get(signed, headers={"Authorization": "Bearer tok-value"})
    lines = [r.getMessage() for r in caplog.records if r.name == "regimage"]
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("GET https://cdn.test/blob?X-Amz-Signature=[secure]")
    assert "X-Amz-Credential=[secure]" in line
    assert "n=5" in line
    assert " 200 5 B " in line
    assert line.endswith(" ms")
    assert "s3cr3t" not in caplog.text
    assert "AKIA" not in caplog.text
    assert "tok-value" not in caplog.text


@pytest.mark.anyio
async def test_warning_299_is_logged_once(
    httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    warning = '299 - "this registry is deprecated"'
    httpx_mock.add_response(headers={"Warning": warning}, is_reusable=True)
    caplog.set_level(logging.WARNING, logger="regimage")
    async with httpx.AsyncClient(
        transport=LoggingTransport(httpx.AsyncHTTPTransport(verify=TLS))
    ) as client:
        await client.get("https://r.test/v2/")
        await client.get("https://r.test/v2/")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "this registry is deprecated" in warnings[0].getMessage()


@pytest.mark.anyio
async def test_other_warnings_are_not_logged(
    httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    httpx_mock.add_response(headers={"Warning": '199 - "misc"'})
    caplog.set_level(logging.WARNING, logger="regimage")
    async with httpx.AsyncClient(
        transport=LoggingTransport(httpx.AsyncHTTPTransport(verify=TLS))
    ) as client:
        await client.get("https://r.test/v2/")
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.anyio
async def test_error_bodies_are_bounded(httpx_mock: HTTPXMock) -> None:
    body = CountingStream(chunks=1000)  # 64 MB if read whole
    httpx_mock.add_response(status_code=404, stream=body)
    transport = LoggingTransport(httpx.AsyncHTTPTransport(verify=TLS), max_error_body=256 * 1024)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.send(client.build_request("GET", URL), stream=True)
        with pytest.raises(SizeLimitExceeded) as caught:
            await response.aread()
        await response.aclose()
    assert caught.value.limit == 256 * 1024
    assert body.read <= 256 * 1024 + body.size


@pytest.mark.anyio
async def test_success_bodies_are_not_bounded_by_the_transport(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=200, stream=CountingStream(chunks=8))
    transport = LoggingTransport(httpx.AsyncHTTPTransport(verify=TLS), max_error_body=1024)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(URL)
    assert len(response.content) == 8 * 64 * 1024


@pytest.mark.anyio
async def test_operations_are_counted(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(is_reusable=True)
    stats = RequestStats()
    transport = LoggingTransport(httpx.AsyncHTTPTransport(verify=TLS), stats=stats)
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get("https://r.test/v2/")
        await client.get("https://r.test/v2/a/b/manifests/x")
        await client.head("https://r.test/v2/a/b/manifests/x")
        await client.get("https://r.test/v2/a/blobs/sha256:00")
        await client.head("https://r.test/v2/a/blobs/sha256:00")
        await client.get("https://r.test/v2/a/tags/list")
        await client.get("https://r.test/v2/_catalog")
        await client.get("https://r.test/v2/a/referrers/sha256:00")
        await client.get("https://auth.test/token", extensions={OPERATION: "token"})
    assert stats.as_dict() == {
        "blob": 1,
        "blob-head": 1,
        "catalog": 1,
        "manifest": 1,
        "manifest-head": 1,
        "ping": 1,
        "referrers": 1,
        "tags": 1,
        "token": 1,
    }
    assert stats.total == 9
    assert stats["nothing"] == 0
    assert repr(stats).startswith("<RequestStats(total=9, blob=1")
    stats.reset()
    assert stats.total == 0
