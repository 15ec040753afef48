"""One HTTP/1.1 GET on a connected blocking socket, spoken with h11.

For the start-up thread of :mod:`regimage.registry.preconnect`, which asks a registry ``GET /v2/``
before the program has imported its async HTTP client. Nothing is sent but ``Host``,
``User-Agent`` and ``Accept``. The answer's head and a short body are read, both bounded; the
caller learns whether the connection can serve another request, and so be handed over.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from regimage._version import __version__

__all__ = ["MAX_BODY_BYTES", "MAX_HEAD_BYTES", "Head", "get"]

#: The most of an answer read: its head, then its body (a short JSON error). A longer one is not
#: read: the connection is then reported unfit for another request.
MAX_HEAD_BYTES = 100 * 1024
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Head:
    """An answer's status and headers (names lower-case, values decoded as Latin-1)."""

    status: int
    headers: tuple[tuple[str, str], ...]

    def values(self, name: str) -> tuple[str, ...]:
        """Every value of the header ``name`` (lower-case), in order."""
        return tuple(value for key, value in self.headers if key == name)


def get(
    sock: socket.socket, host_header: str, target: str, *, timeout: float
) -> tuple[Head | None, bool]:
    """``GET target`` on ``sock``: the answer's head (None if there was none, or a broken one),
    and whether the connection is left ready for another request. ``timeout`` bounds each socket
    operation. The request is sent first: h11 is imported while it travels."""
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: regimage/{__version__}\r\n"
        "Accept: */*\r\n\r\n"
    )
    try:
        sock.settimeout(timeout)
        sock.sendall(request.encode("ascii"))
    except (OSError, UnicodeError):
        return None, False
    # Imported here, while the request travels: the start-up thread calls this before the program
    # has imported h11 (at the top, the program would import it before the thread starts).
    import h11

    connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
    # The same request, told to h11 (its bytes already sent) so that it reads the answer to it.
    connection.send(h11.Request(method="GET", target=target, headers=[("Host", host_header)]))
    connection.send(h11.EndOfMessage())
    head: Head | None = None
    body = 0
    try:
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(sock.recv(MAX_BODY_BYTES))
            elif isinstance(event, h11.Response):
                headers = tuple(
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers
                )
                head = Head(event.status_code, headers)
            elif isinstance(event, h11.Data):
                body += len(event.data)
                if body > MAX_BODY_BYTES:
                    return head, False
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
    except (OSError, h11.ProtocolError):  # a timeout included
        return head, False
    return head, connection.our_state is h11.DONE and connection.their_state is h11.DONE
