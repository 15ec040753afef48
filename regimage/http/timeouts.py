"""The timeouts httpx has no name for: a TLS handshake that stalls, and an exchange over its deadline;
and the check of an option that gives seconds.

Both are ``httpx.TimeoutException``s, raised by :mod:`regimage.http.connection`, so that they leave
the transport as httpx's own do; :mod:`regimage.http.error_mapping` turns them into
:class:`~regimage.errors.NetworkError`. Neither is sent again by the retry layer: a server that
stalled for the whole of a bound is not one to wait on four times.
"""

from __future__ import annotations

import math

import httpx

__all__ = ["ExchangeTimeout", "TLSHandshakeTimeout", "positive_seconds"]


class TLSHandshakeTimeout(httpx.ConnectTimeout):
    """The server took the TCP connection but did not complete the TLS handshake in time: a
    stalled server, or a plain-HTTP one that waits for a request line and never refuses the
    ClientHello (:mod:`regimage.registry.schemes` then tries plain HTTP on loopback)."""


class ExchangeTimeout(httpx.TimeoutException):
    """A request to ``origin`` whose whole exchange (sending it, its answer's head and body) took
    longer than its deadline of ``seconds``, though every socket operation kept within its own
    timeout."""

    def __init__(self, origin: str, seconds: float) -> None:
        super().__init__(f"no complete answer from {origin} within {seconds:g} s")
        self.seconds = seconds


def positive_seconds(name: str, value: float | None) -> float | None:
    """``value``, the option ``name``'s number of seconds: positive and finite, or None (no
    limit). Zero, a negative number, NaN or infinity is refused with a ValueError."""
    if value is not None and not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive number of seconds, or None; got {value!r}")
    return value
