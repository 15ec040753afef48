"""Registry error bodies: the ``{"errors": [...]}`` of the Distribution spec, and the other shapes
registries, token servers and object stores answer with, read as :class:`RegistryErrorDetail`.

A registry may send anything: each text is clipped, and a body that cannot be read gives ``()``.
"""

from __future__ import annotations

import json
import re

import httpx

from regimage.errors import InvalidDocument, RegImageError, RegistryErrorDetail
from regimage.http.bounded import MAX_ERROR_BODY_BYTES, read_bounded
from regimage.model._json import loads_object

__all__ = ["parse_error_body", "read_error_body"]

#: How much of one error message or detail is kept (a registry may send anything).
_MAX_ERROR_TEXT = 500


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


async def read_error_body(response: httpx.Response) -> tuple[RegistryErrorDetail, ...]:
    """The ``errors`` entries of an error answer, read bounded (``()`` for a HEAD or an unreadable
    body); the response is closed."""
    if response.request.method == "HEAD":
        await response.aclose()
        return ()
    try:
        data = await read_bounded(response, MAX_ERROR_BODY_BYTES, what="error body")
    except RegImageError:
        return ()
    return parse_error_body(data)
