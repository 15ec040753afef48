"""The HTTP boundary: bounded reads, registry error bodies, and httpx → regimage error mapping.

Every foreign exception (``httpx.HTTPError``) and every error answer of a registry becomes a
:mod:`regimage.errors` class here and nowhere else, with a message that names what was asked for,
where, and what to do next. URLs in messages never carry credentials or signed query strings.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import time
import zlib
from collections.abc import AsyncGenerator, Iterator, Sequence
from contextlib import aclosing, contextmanager
from typing import NoReturn

import httpx

from regimage.errors import (
    AccessDenied,
    AuthenticationError,
    InvalidDocument,
    NetworkError,
    NotFound,
    RateLimited,
    RegImageError,
    RegistryError,
    RegistryErrorDetail,
    SizeLimitExceeded,
    SizeMismatch,
)
from regimage.model._json import loads_object
from regimage.model.ratelimit import RateLimit, format_duration, registry_display_name

__all__ = [
    "ATTEMPTS",
    "CREDENTIALS_SENT",
    "LOGIN_HINT",
    "MAX_ERROR_BODY_BYTES",
    "MAX_TOKEN_BODY_BYTES",
    "OPERATION",
    "RATE_LIMIT",
    "body_too_large",
    "is_tls_protocol_error",
    "map_transport_error",
    "parse_error_body",
    "parse_retry_after_seconds",
    "raise_for_status",
    "raise_for_token_status",
    "read_bounded",
    "redact_url",
    "transport_errors",
]

MIB = 1024 * 1024
#: Error bodies (``{"errors": [...]}``, redirect and 401 pages) are read up to this many bytes.
MAX_ERROR_BODY_BYTES = 1 * MIB
#: Token server answers are read up to this many bytes.
MAX_TOKEN_BODY_BYTES = 1 * MIB
#: How many registry error entries a message quotes (the rest are kept on the exception).
_QUOTED_ERRORS = 3
#: How much of one error message or detail is kept (a registry may send anything).
_MAX_ERROR_TEXT = 500

#: Request extension naming the operation (``manifest``, ``blob``, ``token``…) for stats and logs.
OPERATION = "regimage.operation"
#: Response extension set by the auth flow: whether credentials (not just an anonymous token) went
#: with the request that got this answer.
CREDENTIALS_SENT = "regimage.credentials_sent"
#: Response extension set by the retry transport: how many attempts the answer took.
ATTEMPTS = "regimage.attempts"
#: Response extension set by the auth flow: the registry host's last stated budget
#: (:class:`~regimage.model.ratelimit.RateLimit`), from this answer or an earlier one.
RATE_LIMIT = "regimage.rate_limit"

LOGIN_HINT = "log in with --username/--password-stdin or a docker config.json"

#: Query parameters that are safe to show; every other value is masked (CDN redirects carry
#: signatures and credentials in the query: X-Amz-Signature, sig, token…).
_SAFE_QUERY_PARAMS = frozenset({"n", "last", "service", "scope", "artifacttype", "digest"})
_MASK = "[secure]"


def redact_url(url: httpx.URL | str) -> str:
    """``url`` without userinfo, every query value outside a short safe list shown as ``[secure]``."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<invalid URL>"
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    if parsed.query:
        pairs = [
            (key, value if key.lower() in _SAFE_QUERY_PARAMS else _MASK)
            for key, value in parsed.params.multi_items()
        ]
        parsed = parsed.copy_with(params=pairs)
        # Keep the mask readable rather than percent-encoded.
        return str(parsed).replace("%5Bsecure%5D", _MASK)
    return str(parsed)


class _RedactedURLs(logging.Filter):
    """httpx logs every request's URL at INFO, a signed URL's signature (or an
    ``X-Amz-Security-Token``) included: its records carry :func:`redact_url`'s form instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(arg, httpx.URL) for arg in args):
            record.args = tuple(redact_url(a) if isinstance(a, httpx.URL) else a for a in args)
        return True


def redact_httpx_log() -> None:
    """Put :class:`_RedactedURLs` on httpx's logger (once per process)."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactedURLs) for f in httpx_logger.filters):
        httpx_logger.addFilter(_RedactedURLs())


# ── transport errors ───────────────────────────────────────────────────────────────────────────────


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_certificate_error(exc: BaseException) -> bool:
    return any(
        isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(e)
        for e in _causes(exc)
    )


def _is_ssl_error(exc: BaseException) -> bool:
    return any(isinstance(e, ssl.SSLError) or "[SSL" in str(e) for e in _causes(exc))


def is_tls_protocol_error(exc: BaseException) -> bool:
    """A TLS handshake that failed for another reason than the certificate.

    That is what talking TLS to a plain-HTTP server looks like (``WRONG_VERSION_NUMBER``,
    ``record layer failure``): the cue to fall back to plain HTTP on a loopback registry.
    """
    return _is_ssl_error(exc) and not _is_certificate_error(exc)


def map_transport_error(
    exc: httpx.HTTPError, url: httpx.URL | str, *, reference: str | None = None
) -> RegImageError:
    """Translate an httpx failure into a regimage error naming the host and the next step."""
    shown = redact_url(url)
    host = _host_of(url)
    if isinstance(exc, httpx.TooManyRedirects):
        return RegistryError(
            f"too many redirects fetching {shown} (a redirect loop?)",
            url=shown,
            reference=reference,
        )
    if _is_certificate_error(exc):
        return NetworkError(
            f"TLS connection to {host} failed: certificate verify failed; pass --ca-file with "
            "the registry's CA certificate (or --insecure to skip verification)",
            url=shown,
            reference=reference,
        )
    if _is_ssl_error(exc):
        return NetworkError(
            f"TLS handshake with {host} failed ({_first_line(exc)}); if the registry speaks "
            "plain HTTP, pass --plain-http",
            url=shown,
            reference=reference,
        )
    if isinstance(exc, httpx.TimeoutException):
        return NetworkError(
            f"timed out talking to {host} ({type(exc).__name__})", url=shown, reference=reference
        )
    if isinstance(exc, httpx.ConnectError):
        return NetworkError(
            f"cannot connect to {host}: {_first_line(exc)}", url=shown, reference=reference
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return NetworkError(
            f"{host} closed the connection or broke the HTTP protocol: {_first_line(exc)}",
            url=shown,
            reference=reference,
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return RegistryError(
            f"cannot request {shown}: {_first_line(exc)}", url=shown, reference=reference
        )
    return NetworkError(
        f"request to {host} failed: {type(exc).__name__}: {_first_line(exc)}",
        url=shown,
        reference=reference,
    )


@contextmanager
def transport_errors(url: httpx.URL | str, *, reference: str | None = None) -> Iterator[None]:
    """Turn any ``httpx.HTTPError`` raised inside the block into a regimage error."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise map_transport_error(exc, url, reference=reference) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _host_of(url: httpx.URL | str) -> str:
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        return parsed.netloc.decode("ascii", "replace") or "<no host>"
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<invalid URL>"


# ── bounded reads ──────────────────────────────────────────────────────────────────────────────────


def body_too_large(url: httpx.URL | str, limit: int, what: str) -> SizeLimitExceeded:
    """The error for a body over its cap (also raised by the transport for error bodies)."""
    shown = redact_url(url)
    return SizeLimitExceeded(
        f"{what} from {shown} is larger than the {limit}-byte limit; not reading further",
        limit=limit,
        url=shown,
    )


def _content_length(response: httpx.Response) -> int | None:
    raw = response.headers.get("content-length")
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


async def read_bounded(
    response: httpx.Response,
    limit: int,
    *,
    what: str,
    expected_size: int | None = None,
    reference: str | None = None,
) -> bytes:
    """Read a streamed body, stopping as soon as it passes ``limit`` or ``expected_size``.

    A ``Content-Length`` over the limit (or different from ``expected_size``) is refused before
    anything is read. A body shorter than its ``Content-Length`` is a :class:`NetworkError`.
    The response is closed in every case.
    """
    url = response.request.url

    def shown() -> str:  # only for a message: redacting a long URL costs more than reading it
        return redact_url(url)

    try:
        declared = _content_length(response)
        identity = "content-encoding" not in response.headers
        if declared is not None and identity:
            if declared > limit:
                raise SizeLimitExceeded(
                    f"{what} from {shown()} declares {declared} bytes (Content-Length), over the "
                    f"{limit}-byte limit; not reading it",
                    limit=limit,
                    url=shown(),
                    reference=reference,
                )
            if expected_size is not None and declared != expected_size:
                raise SizeMismatch(
                    f"{what} from {shown()} is {declared} bytes (Content-Length) but its "
                    f"descriptor says {expected_size}",
                    expected=expected_size,
                    actual=declared,
                    url=shown(),
                    reference=reference,
                )
        chunks: list[bytes] = []
        total = 0
        with transport_errors(url, reference=reference):
            body = _decoded(response, what=what, reference=reference)
            async with aclosing(body):
                async for chunk in body:
                    total += len(chunk)
                    if total > limit:
                        raise SizeLimitExceeded(
                            f"{what} from {shown()} is larger than the {limit}-byte limit; "
                            "stopped reading",
                            limit=limit,
                            url=shown(),
                            reference=reference,
                        )
                    if expected_size is not None and total > expected_size:
                        raise SizeMismatch(
                            f"{what} from {shown()} is longer than the {expected_size} bytes its "
                            "descriptor says; stopped reading",
                            expected=expected_size,
                            actual=total,
                            url=shown(),
                            reference=reference,
                        )
                    chunks.append(chunk)
        if declared is not None and identity and total != declared:
            raise NetworkError(
                f"{what} from {shown()} was cut short: got {total} of the "
                f"{declared} bytes its Content-Length announced (truncated body)",
                url=shown(),
                reference=reference,
            )
        if expected_size is not None and total != expected_size:
            raise SizeMismatch(
                f"{what} from {shown()} is {total} bytes but its descriptor says {expected_size}",
                expected=expected_size,
                actual=total,
                url=shown(),
                reference=reference,
            )
        return b"".join(chunks)
    finally:
        await response.aclose()


#: Largest piece a compressed body is inflated into at a time: a gzip bomb (32 MiB of zeros in one
#: 32 KiB network read) must not be inflated whole before the size cap can stop it.
_INFLATE_PIECE_BYTES = 64 * 1024
_ZLIB_WBITS = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}


async def _decoded(
    response: httpx.Response, *, what: str, reference: str | None
) -> AsyncGenerator[bytes, None]:
    """The body's bytes, a gzip or deflate body inflated piece by piece (others as httpx decodes)."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    wbits = _ZLIB_WBITS.get(encoding)
    if wbits is not None and response.is_stream_consumed:
        wbits = None  # read (and decoded) already, by httpx: hand out what it holds
    if wbits is None:
        async for chunk in response.aiter_bytes():
            yield chunk
        return
    decoder = zlib.decompressobj(wbits)
    first = True
    try:
        async for raw in response.aiter_raw():
            if first and encoding == "deflate" and raw[:1] != b"\x78":
                decoder = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, no zlib header
            first = False
            data = raw
            while data:
                piece = decoder.decompress(data, _INFLATE_PIECE_BYTES)
                if piece:
                    yield piece
                data = decoder.unconsumed_tail
        rest = decoder.flush()
    except zlib.error as exc:
        raise RegistryError(
            f"{what} from {redact_url(response.request.url)} is not valid {encoding} "
            f"(Content-Encoding): {exc}",
            url=redact_url(response.request.url),
            reference=reference,
        ) from None
    if rest:
        yield rest


# ── registry error answers ─────────────────────────────────────────────────────────────────────────


def parse_error_body(data: bytes) -> tuple[RegistryErrorDetail, ...]:
    """The ``errors`` entries of a registry error body; anything unreadable gives ``()``.

    Object stores behind registries (S3, R2, Azure Blob, GCS) answer XML
    ``<Error><Code>…</Code><Message>…</Message></Error>``: that is read as one entry.
    """
    if not data:
        return ()
    if data.lstrip().startswith(b"<"):
        return _xml_error(data)
    if not data.lstrip().startswith(b"{"):
        return ()
    try:
        obj = loads_object(data, what="error body")
    except InvalidDocument:
        return ()
    raw = obj.get("errors")
    if not isinstance(raw, list):
        # Some token servers answer {"details": "..."} or {"error": "..."}.
        message = obj.get("details") or obj.get("error") or obj.get("message")
        if isinstance(message, str) and message:
            return (RegistryErrorDetail("", _clip(message)),)
        return ()
    details: list[RegistryErrorDetail] = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        code = entry.get("code")
        message = entry.get("message")
        detail = entry.get("detail")
        details.append(
            RegistryErrorDetail(
                code=_clip(code) if isinstance(code, str) else "",
                message=_clip(message) if isinstance(message, str) else "",
                detail=_clip(_detail_text(detail)) if detail is not None else None,
            )
        )
    return tuple(details)


_XML_CODE = re.compile(rb"<Code>([^<]{1,200})</Code>")
_XML_MESSAGE = re.compile(rb"<Message>([^<]{1,2000})</Message>")


def _xml_error(data: bytes) -> tuple[RegistryErrorDetail, ...]:
    code = _XML_CODE.search(data)
    if code is None:
        return ()
    message = _XML_MESSAGE.search(data)
    return (
        RegistryErrorDetail(
            code=_clip(code.group(1).decode("utf-8", "replace")),
            message=_clip(message.group(1).decode("utf-8", "replace")) if message else "",
        ),
    )


def _detail_text(detail: object) -> str:
    if isinstance(detail, str):
        return detail
    try:
        return json.dumps(detail, sort_keys=True)[:_MAX_ERROR_TEXT]
    except (TypeError, ValueError):
        return str(detail)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR_TEXT else text[: _MAX_ERROR_TEXT - 1] + "…"


async def _read_error_body(response: httpx.Response) -> tuple[RegistryErrorDetail, ...]:
    if response.request.method == "HEAD":
        await response.aclose()
        return ()
    try:
        data = await read_bounded(response, MAX_ERROR_BODY_BYTES, what="error body")
    except RegImageError:
        return ()
    return parse_error_body(data)


def _codes(errors: tuple[RegistryErrorDetail, ...]) -> set[str]:
    return {e.code.upper() for e in errors if e.code}


def _quote(errors: tuple[RegistryErrorDetail, ...]) -> str:
    if not errors:
        return ""
    shown = "; ".join(str(e) for e in errors[:_QUOTED_ERRORS] if str(e))
    more = len(errors) - _QUOTED_ERRORS
    if more > 0:
        shown += f"; and {more} more"
    return f": {shown}" if shown else ""


def parse_retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now`` (epoch seconds): delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _bearer_error(response: httpx.Response) -> str | None:
    """The ``error`` parameter of a Bearer challenge (``insufficient_scope``…), if any."""
    for header in response.headers.get_list("www-authenticate"):
        lowered = header.lower()
        if "insufficient_scope" in lowered:
            return "insufficient_scope"
        if "invalid_token" in lowered:
            return "invalid_token"
    return None


async def raise_for_status(
    response: httpx.Response,
    *,
    subject: str,
    repository: str,
    reference: str | None = None,
) -> None:
    """Return for a 2xx answer; otherwise read the error body (bounded) and raise its class.

    ``subject`` names what was asked for (``tag 'latest'``, ``blob sha256:…``), ``repository``
    where (``docker.io/library/ubuntu``); both go into the message.
    """
    if response.is_success:
        return
    errors = await _read_error_body(response)
    _raise_status(response, errors, subject=subject, repository=repository, reference=reference)


def _raise_status(
    response: httpx.Response,
    errors: tuple[RegistryErrorDetail, ...],
    *,
    subject: str,
    repository: str,
    reference: str | None,
) -> NoReturn:
    status = response.status_code
    url = redact_url(response.request.url)
    host = _host_of(response.request.url)
    codes = _codes(errors)
    quoted = _quote(errors)
    attempts = response.extensions.get(ATTEMPTS)
    after = f" after {attempts} attempts" if isinstance(attempts, int) and attempts > 1 else ""
    if status == 404:
        what = f"repository {repository}" if "NAME_UNKNOWN" in codes else None
        message = f"{what} not found" if what else f"{subject} not found in {repository}"
        raise NotFound(message, status=status, errors=errors, url=url, reference=reference)
    redirected_from = _redirected_from(response)
    if redirected_from is not None and status in (400, 401, 403):
        # A storage host (S3, Azure Blob, a CDN) refusing a signed URL the registry handed out.
        cls = RegistryError if status == 400 else AccessDenied
        raise cls(
            f"{host}, where {redirected_from} redirected the download of {subject} of "
            f"{repository}, refused it (HTTP {status}){quoted}; a signed URL may have expired, "
            "try again",
            status=status,
            errors=errors,
            url=url,
            reference=reference,
        )
    if status == 401:
        sent = bool(response.extensions.get(CREDENTIALS_SENT))
        scope_error = _bearer_error(response) == "insufficient_scope" or "DENIED" in codes
        if sent and scope_error:
            raise AccessDenied(
                f"the credentials for {host} were accepted but do not allow "
                f"{_action(subject, repository)}{quoted}{_not_found_hint(subject)}",
                status=status,
                errors=errors,
                url=url,
                reference=reference,
            )
        if _bearer_error(response) == "invalid_token":
            # The token server issued this token (so it took the credentials, if any) and the
            # registry refused it at once: clock skew, or a token server it does not trust.
            message = (
                f"the registry {host} refused the token its token server issued for "
                f"{repository} (invalid_token: expired on arrival or not trusted){quoted}; "
                "check the clocks of the registry and its token server, and that they agree on "
                "the service, issuer and signing certificate"
            )
        elif sent:
            message = (
                f"the registry {host} refused the credentials sent for {repository}{quoted}; "
                f"check the username and password ({LOGIN_HINT})"
            )
        elif scope_error:
            message = (
                f"access to {repository} denied{quoted}: the repository does not exist or needs "
                f"credentials, and none were found for {host}; {LOGIN_HINT}"
            )
        else:
            message = (
                f"authentication required for {repository}{quoted}; no credentials were found "
                f"for {host}: {LOGIN_HINT}"
            )
        raise AuthenticationError(
            message, status=status, errors=errors, url=url, reference=reference
        )
    if status == 403 or "DENIED" in codes:
        raise AccessDenied(
            f"access to {subject} in {repository} denied (HTTP {status}){quoted}",
            status=status,
            errors=errors,
            url=url,
            reference=reference,
        )
    if status == 429:
        retry_after = parse_retry_after_seconds(response.headers.get("retry-after"), time.time())
        raise RateLimited(
            _rate_limited_message(
                response,
                codes,
                subject=subject,
                repository=repository,
                quoted=quoted,
                retry_after=retry_after,
            ),
            retry_after=retry_after,
            errors=errors,
            url=url,
            reference=reference,
        )
    reason = f" {response.reason_phrase}" if response.reason_phrase else ""
    raise RegistryError(
        f"{host} answered HTTP {status}{reason}{after} for {subject} in {repository}{quoted}",
        status=status,
        errors=errors,
        url=url,
        reference=reference,
    )


def _redirected_from(response: httpx.Response) -> str | None:
    """The registry host that redirected to the host that gave this answer, if another one."""
    if not response.history:
        return None
    origin = _host_of(response.history[0].request.url)
    return origin if origin != _host_of(response.request.url) else None


def _action(subject: str, repository: str) -> str:
    """What a refused request was for, as a verb phrase: ``pulling <repo>``, ``listing…``."""
    if subject == "catalog":
        return f"listing the catalog of {repository}"
    if subject == "tags list":
        return f"listing the tags of {repository}"
    return f"pulling {repository}"


def _not_found_hint(subject: str) -> str:
    if subject == "catalog":
        return " (registries such as Harbor let only administrators list the catalog)"
    return " (or it does not exist)"


def _rate_limited_message(
    response: httpx.Response,
    codes: set[str],
    *,
    subject: str,
    repository: str,
    quoted: str,
    retry_after: float | None,
) -> str:
    """Say which budget ran out and what helps: ``Docker Hub rate limit reached: 0 of 100 pulls
    left in the 6 h window; log in … to raise it (fetching …: HTTP 429 …)``."""
    host = _host_of(response.request.url)
    attempts = response.extensions.get(ATTEMPTS)
    after = f" after {attempts} attempts" if isinstance(attempts, int) and attempts > 1 else ""
    budget = response.extensions.get(RATE_LIMIT)
    budget = budget if isinstance(budget, RateLimit) else None
    asking = f"fetching {subject} from {repository} (HTTP 429{after}){quoted}"
    if (budget is None or not budget.exhausted) and "TOOMANYREQUESTS" not in codes:
        # A request-rate limit (Docker Hub's anti-abuse 429, a proxy): not the pull budget.
        hint = f"; the registry asks to wait {retry_after:g} s" if retry_after is not None else ""
        known = f"; {budget}" if budget is not None else ""
        return f"rate limited by {host} {asking}{hint}{known}"
    head = f"{registry_display_name(host)} rate limit reached"
    if budget is not None:
        head += f": {budget.summary()}"
    if (budget is None or budget.reset is None) and retry_after is not None:
        head += f", resets in {format_duration(retry_after)}"
    if response.extensions.get(CREDENTIALS_SENT):
        advice = "; the budget of these credentials is used up until the window resets"
    else:
        advice = f"; {LOGIN_HINT} to raise it"
    return f"{head}{advice}; {asking}"


async def raise_for_token_status(
    response: httpx.Response,
    *,
    host: str,
    credentials_sent: bool,
    scopes: Sequence[str] = (),
) -> None:
    """Return for a 2xx token answer; otherwise raise what the token server's refusal means.

    ``scopes`` are the scopes asked for: the message names the repositories they are about.
    """
    if response.is_success:
        return
    errors = await _read_error_body(response)
    status = response.status_code
    realm = redact_url(response.request.url.copy_with(query=None))
    url = redact_url(response.request.url)
    quoted = _quote(errors)
    wanted = _scopes_text(scopes)
    if status in (401, 403):
        if credentials_sent:
            message = (
                f"the token server {realm} refused the credentials for {host} asking for "
                f"{wanted} (HTTP {status}){quoted}; check the username and password, and that "
                f"they may pull it ({LOGIN_HINT})"
            )
        else:
            message = (
                f"the token server {realm} refused an anonymous token for {wanted} on {host} "
                f"(HTTP {status}){quoted}; it may be private or may not exist: {LOGIN_HINT}"
            )
        raise AuthenticationError(message, status=status, errors=errors, url=url)
    if status == 429:
        retry_after = parse_retry_after_seconds(response.headers.get("retry-after"), time.time())
        raise RateLimited(
            f"rate limited by the token server {realm} for {host} (HTTP 429){quoted}",
            retry_after=retry_after,
            errors=errors,
            url=url,
        )
    raise RegistryError(
        f"the token server {realm} for {host} answered HTTP {status} asking for {wanted}{quoted}",
        status=status,
        errors=errors,
        url=url,
    )


def _scopes_text(scopes: Sequence[str]) -> str:
    """``pull access to library/ubuntu``, ``pull access to 3 repositories (a, b, …)``, ``the
    catalog``: what a token request asked for, in words."""
    repositories: list[str] = []
    catalog = False
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        if kind == "repository" and rest:
            repositories.append(rest.rpartition(":")[0] or rest)
        elif kind == "registry" and rest.startswith("catalog"):
            catalog = True
    parts: list[str] = []
    if len(repositories) == 1:
        parts.append(f"pull access to {repositories[0]}")
    elif repositories:
        shown = ", ".join(repositories[:2]) + (", …" if len(repositories) > 2 else "")
        parts.append(f"pull access to {len(repositories)} repositories ({shown})")
    if catalog:
        parts.append("the catalog")
    return " and ".join(parts) or "a token"
