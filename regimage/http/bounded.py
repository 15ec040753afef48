"""Bounded reads: a body is read only as far as its cap, and a compressed one inflated piece by piece.

A registry (or anything in front of it) may send an endless body, a ``Content-Length`` that lies,
or a gzip bomb: :func:`read_bounded` stops at the first byte over the limit and closes the response.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator
from contextlib import aclosing

import httpx

from regimage.errors import NetworkError, RegistryError, SizeLimitExceeded, SizeMismatch
from regimage.http.error_mapping import transport_errors
from regimage.http.redaction import redact_url

__all__ = ["MAX_ERROR_BODY_BYTES", "MAX_TOKEN_BODY_BYTES", "body_too_large", "read_bounded"]

MIB = 1024 * 1024
#: Error bodies (``{"errors": [...]}``, redirect and 401 pages) are read up to this many bytes.
MAX_ERROR_BODY_BYTES = 1 * MIB
#: Token server answers are read up to this many bytes.
MAX_TOKEN_BODY_BYTES = 1 * MIB


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
