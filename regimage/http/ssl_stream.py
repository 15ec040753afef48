"""An anyio byte stream over a non-blocking :class:`ssl.SSLSocket` whose handshake is done.

:mod:`regimage.registry.preconnect` does the TLS handshake in a thread, with the standard library's
blocking sockets, while the program is still starting. The connection it hands over is an
``SSLSocket``: the ssl module keeps doing the TLS work, and this stream only waits for the socket
whenever TLS needs to read or write more (``SSLWantReadError`` / ``SSLWantWriteError``). Closing
sends no ``close_notify`` (as anyio's ``TLSStream(standard_compatible=False)``, which regimage's
other connections use).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel

__all__ = ["SSLSocketStream"]


class SSLSocketStream(anyio.abc.ByteStream):
    """Bytes over an established TLS connection; the stream owns the socket."""

    def __init__(self, sock: ssl.SSLSocket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._closed = False

    def __repr__(self) -> str:
        return f"<SSLSocketStream(fd={self._sock.fileno()})>"

    async def receive(self, max_bytes: int = 65536) -> bytes:
        while True:
            self._check_open()
            try:
                data = self._sock.recv(max_bytes)
            except ssl.SSLWantReadError:  # no application data yet (or a session ticket)
                await anyio.wait_readable(self._sock)
                continue
            except ssl.SSLWantWriteError:
                await anyio.wait_writable(self._sock)
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                raise anyio.EndOfStream from None
            except OSError as exc:
                raise anyio.BrokenResourceError from exc
            if not data:
                raise anyio.EndOfStream
            await anyio.lowlevel.checkpoint()  # a receive is a checkpoint, data ready or not
            return data

    async def send(self, item: bytes) -> None:
        view = memoryview(item)
        while view:
            self._check_open()
            try:
                sent = self._sock.send(view)
            except ssl.SSLWantWriteError:
                await anyio.wait_writable(self._sock)
                continue
            except ssl.SSLWantReadError:
                await anyio.wait_readable(self._sock)
                continue
            except OSError as exc:
                raise anyio.BrokenResourceError from exc
            view = view[sent:]
        await anyio.lowlevel.checkpoint()

    async def send_eof(self) -> None:
        raise NotImplementedError("TLS has no half-close")

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._sock.close()
        await anyio.lowlevel.checkpoint()

    def _check_open(self) -> None:
        if self._closed:
            raise anyio.ClosedResourceError

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        sock = self._sock
        return {
            anyio.abc.SocketAttribute.raw_socket: lambda: sock,
            anyio.abc.SocketAttribute.family: lambda: sock.family,
            anyio.abc.SocketAttribute.local_address: lambda: sock.getsockname(),
            anyio.abc.SocketAttribute.remote_address: lambda: sock.getpeername(),
        }
