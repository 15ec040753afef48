"""Connections opened before the pool existed, and how the pool adopts them.

A command-line run opens its registry's connection in a thread while it still imports httpx and
anyio (:mod:`regimage.registry.preconnect`), with the standard library's blocking sockets. Whoever
builds the pool hands those connections to it explicitly (:class:`EarlyConnections`); the pool's
first connection to that host and port takes one (:func:`adopt`) instead of connecting again.
"""

from __future__ import annotations

import logging
import socket
import ssl
from typing import Protocol

import anyio
import anyio.abc
import anyio.to_thread

from regimage.http.ssl_stream import SSLSocketStream

logger = logging.getLogger("regimage")

__all__ = ["EarlyConnection", "EarlyConnections", "adopt"]


class EarlyConnection(Protocol):
    """A connection opened before the pool existed, in a thread (a blocking socket, TLS included
    when wanted): :class:`regimage.registry.preconnect.Pending`."""

    @property
    def done(self) -> bool:
        """Whether the thread is done with it (connected or failed)."""
        ...

    def take(self) -> socket.socket | None:
        """The connected socket, once the thread is done (the caller owns it from then on), or
        None: it failed or went stale."""
        ...


class EarlyConnections(Protocol):
    """Connections opened before the pool existed, handed to it by whoever builds it (the
    command line's start-up thread: :class:`regimage.registry.preconnect.Preconnect`)."""

    def claim(
        self, host: str, port: int, *, tls: bool, server_hostname: str | None
    ) -> EarlyConnection | None:
        """The connection opened to ``host``:``port`` over TLS (or not) with that server name,
        once: None when there is none that fits."""
        ...


async def adopt(early: EarlyConnection, origin: str) -> anyio.abc.ByteStream | None:
    """A connection opened before the pool, as a stream (waiting for its handshakes to end), or
    None: it failed, went stale, or cannot be adopted."""
    if early.done:
        sock = early.take()
    else:  # still connecting (a slow DNS lookup, say): wait for it rather than connect twice
        sock = await anyio.to_thread.run_sync(early.take, abandon_on_cancel=True)
    if sock is None:
        return None
    stream: anyio.abc.ByteStream
    if isinstance(sock, ssl.SSLSocket):
        stream = SSLSocketStream(sock)
    else:
        from_socket = getattr(anyio.abc.SocketStream, "from_socket", None)  # anyio >= 4.10
        if from_socket is None:
            sock.close()
            return None
        try:
            stream = await from_socket(sock)
        except (OSError, ValueError):  # closed meanwhile, or not connected after all
            sock.close()
            return None
    logger.debug("%s: using the connection opened at start-up", origin)
    return stream
