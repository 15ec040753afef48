"""ScriptedServer: a tiny hostile registry on loopback whose every answer a test writes.

    def answer(request: Request) -> Reply:
        return Reply(200, {"Content-Type": OCI_MANIFEST}, body=endless())

    with ScriptedServer(answer) as server:
        ...  # server.host, server.requests, server.sent

A :class:`Reply` body is bytes (sent with a ``Content-Length``) or an iterator of chunks (sent
with chunked encoding, generated lazily, so that an endless body costs nothing until read);
:attr:`ScriptedServer.sent` counts the body bytes the server managed to write: what a client
that stops reading early made it produce.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from tests.faults.listener import Handler, Listener

__all__ = ["Reply", "Request", "ScriptedServer"]


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | Iterator[bytes] = b""
    #: For a bytes body: send this Content-Length instead of the body's own.
    length: int | None = None


Script = Callable[[Request], Reply]


class ScriptedServer:
    """Answers every request with ``script(request)``; records requests and bytes sent."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._sent = 0
        self.listener = Listener(_make_handler(self))

    @property
    def host(self) -> str:
        return self.listener.host

    @property
    def base_url(self) -> str:
        return self.listener.base_url

    def ref(self, repo_tag: str) -> str:
        return f"{self.host}/{repo_tag}"

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    @property
    def sent(self) -> int:
        """Body bytes written to clients so far."""
        with self._lock:
            return self._sent

    def _count(self, n: int) -> None:
        with self._lock:
            self._sent += n

    def _log(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def start(self) -> ScriptedServer:
        self.listener.start()
        return self

    def stop(self) -> None:
        self.listener.stop()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _make_handler(server: ScriptedServer) -> type[Handler]:
    class _Bound(_ScriptedHandler):
        pass

    _Bound.scripted = server
    return _Bound


class _ScriptedHandler(Handler):
    scripted: ScriptedServer

    def do_GET(self) -> None:
        request = Request(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            self.read_body(),
        )
        self.scripted._log(request)
        reply = self.scripted.script(request)
        if isinstance(reply.body, bytes):
            self.send_raw(
                reply.status, list(reply.headers.items()), reply.body, length=reply.length
            )
            if reply.length is not None and reply.length != len(reply.body):
                self.close_connection = True
            if self.command != "HEAD":
                self.scripted._count(len(reply.body))
            return
        self._send_chunked(reply)

    do_HEAD = do_POST = do_GET

    def _send_chunked(self, reply: Reply) -> None:
        assert not isinstance(reply.body, bytes)
        self.close_connection = True
        try:
            self.send_response_only(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            for chunk in reply.body:
                if self.server.stopping.is_set():
                    return
                if not chunk:
                    continue
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.scripted._count(len(chunk))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            return
