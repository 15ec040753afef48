"""The request and response extensions regimage's layers set, read by the layers above them.

httpx carries a dict of extensions on every request and response: the auth flow, the transport
layers, the stats and the error messages talk to each other through these keys.
"""

from __future__ import annotations

__all__ = [
    "ATTEMPTS",
    "CREDENTIALS_SENT",
    "CREDENTIALS_WITHHELD",
    "EXCHANGE_TIMEOUT",
    "FROM_CACHE",
    "OPERATION",
    "RATE_LIMIT",
]

#: Request extension: seconds the whole exchange may take, from sending the request to the last
#: byte of its answer's body (the registry session sets it on every request but a blob stream;
#: the pool's connections enforce it, on top of the socket timeouts).
EXCHANGE_TIMEOUT = "regimage.exchange_timeout"
#: Request extension naming the operation (``manifest``, ``blob``, ``token``…) for stats and logs.
OPERATION = "regimage.operation"
#: Response extension set by the auth flow: whether credentials (not just an anonymous token) went
#: with the request that got this answer.
CREDENTIALS_SENT = "regimage.credentials_sent"
#: Response extension set by the auth flow: credentials were found for the registry's Basic
#: challenge but not sent, because the request went over plain HTTP to a host that is not loopback.
CREDENTIALS_WITHHELD = "regimage.credentials_withheld"
#: Response extension set by the retry transport: how many attempts the answer took.
ATTEMPTS = "regimage.attempts"
#: Response extension set by the auth flow: the registry host's last stated budget
#: (:class:`~regimage.model.ratelimit.RateLimit`), from this answer or an earlier one.
RATE_LIMIT = "regimage.rate_limit"
#: Response extension on a token answer served from the disk cache.
FROM_CACHE = "regimage.from_cache"
