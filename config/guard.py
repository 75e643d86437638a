"""The first ASGI layer, in front of Django and Channels: refuses what no view should ever see,
before authentication and before a byte of the body is read.

- A URL whose path or query string holds NUL or is not UTF-8 (once percent-decoded): 400, or a
  refused WebSocket handshake. PostgreSQL cannot store such text; every view, filter and consumer
  would otherwise have to guard its own parameters.
- A body over the limit: 413, from the declared Content-Length without reading the body, or, for a
  chunked body, as soon as the count passes the limit. The connection is then closed, so the rest
  is never read.
- A request with neither an Authorization header nor the session cookie may only send a small body
  (login forms). The credentials are not checked here, only looked for: enough to keep anonymous
  clients from making the server read megabytes before answering 401.
"""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable
from urllib.parse import unquote_to_bytes

from jobs.text import unstorable_text_error

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def unreadable(raw: bytes) -> bool:
    """Whether percent-encoded URL bytes decode to text holding NUL, or to no UTF-8 text at all."""
    if b"%" in raw:
        raw = unquote_to_bytes(raw)
    if b"\x00" in raw:
        return True
    try:
        raw.decode()
    except UnicodeDecodeError:
        return True
    return False


def unreadable_url(scope: Scope) -> bool:
    raw_path = scope.get("raw_path")
    if raw_path is None:  # optional in ASGI: then `path` is the only form, already decoded
        bad_path = unstorable_text_error(scope["path"]) is not None
    else:
        bad_path = unreadable(raw_path)
    return bad_path or unreadable(scope.get("query_string", b""))


class RequestGuard:
    """ASGI middleware around the whole application (HTTP and WebSockets); see the module's docstring."""

    def __init__(self, app: ASGIApp, *, max_body: int, anonymous_max_body: int, session_cookie: str):
        self.app = app
        self.max_body, self.anonymous_max_body = max_body, anonymous_max_body
        self.session_cookie = session_cookie.encode() + b"="

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            return await self.http(scope, receive, send)
        if scope["type"] == "websocket" and unreadable_url(scope):
            return await send({"type": "websocket.close"})  # before accepting: the handshake is refused (403)
        return await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if unreadable_url(scope):
            return await refuse(send, 400, "The URL holds a NUL character or is not UTF-8.")
        length, credentials = None, False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"authorization" or (name == b"cookie" and self.has_session_cookie(value)):
                credentials = True
        limit = self.max_body if credentials else self.anonymous_max_body
        if length is not None:
            # The server passes on no more than the declared length: the check is enough.
            if not length.isdigit():
                return await refuse(send, 400, "Content-Length is not a number.")
            if int(length) > limit:
                return await refuse(send, 413, too_large(limit, credentials))
        else:
            # Chunked, or no body at all: read and count it before the application does.
            body = await read_at_most(receive, limit)
            if body is None:
                return await refuse(send, 413, too_large(limit, credentials))
            receive = replaying(body, receive)
        return await self.app(scope, receive, send)

    def has_session_cookie(self, header: bytes) -> bool:
        return any(cookie.strip().startswith(self.session_cookie) for cookie in header.split(b";"))


def too_large(limit: int, credentials: bool) -> str:
    who = "" if credentials else " without credentials"
    return f"The request body is too large: at most {limit} bytes{who}."


async def read_at_most(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` bytes (or when the client has gone)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` as the application expects it: the body already read, then the connection's messages."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive_replayed() -> dict:
        return pending.pop() if pending else await receive()

    return receive_replayed


async def refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        # Closing the connection is what keeps the server from reading the body that follows.
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": body})
