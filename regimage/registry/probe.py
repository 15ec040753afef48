"""``GET /v2/`` before the program has its HTTP client: what a registry wants, asked early.

The request a provider makes to learn what a registry wants (its 401 challenge), made by
:mod:`regimage.registry.preconnect`'s start-up thread on a blocking socket
(:mod:`regimage.http.blocking`). Nothing is sent but ``Host``, ``User-Agent`` and ``Accept``: no
credentials.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from regimage.errors import RegImageError
from regimage.http import blocking
from regimage.model.challenge import parse_challenges

__all__ = ["PROBE_TIMEOUT", "Answer", "bearer_realm", "get_v2"]

#: Seconds the registry has for each step of its answer.
PROBE_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Answer:
    """What a registry answered the thread's ``GET /v2/``: its status and ``WWW-Authenticate``
    values (a 401's challenges)."""

    status: int
    challenges: tuple[str, ...]


def get_v2(sock: socket.socket, host_header: str) -> tuple[Answer | None, bool]:
    """``GET /v2/`` on a connected blocking socket: the answer (None if there was none, or a
    broken one), and whether the connection is left ready for another request."""
    head, reusable = blocking.get(sock, host_header, "/v2/", timeout=PROBE_TIMEOUT)
    if head is None:
        return None, reusable
    return Answer(head.status, head.values("www-authenticate")), reusable


def bearer_realm(challenges: tuple[str, ...]) -> str | None:
    """The realm of the first Bearer challenge that names one, or None."""
    for value in challenges:
        try:
            parsed = parse_challenges(value)
        except RegImageError:
            continue
        for challenge in parsed:
            if challenge.scheme == "bearer" and challenge.realm:
                return challenge.realm
    return None
