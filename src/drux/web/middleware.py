"""Pure ASGI middleware: security headers on every response, HEAD served as GET, a host
check (DNS rebinding) and a request body cap."""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from drux.web.errors import error_response

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeadAsGet:
    """HEAD is answered by the GET route, with its status and headers and no body (link
    checkers and uptime monitors send HEAD). The route's body is dropped here, so a
    streaming route runs on in the background only until it next writes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        ended = False

        async def send_head(message: Message) -> None:
            nonlocal ended
            if message["type"] == "http.response.start":
                await send(message)
            elif message["type"] == "http.response.body" and not ended:
                ended = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                raise _HeadSent
            elif ended:
                raise _HeadSent

        try:
            await self.app({**scope, "method": "GET"}, receive, send_head)
        except _HeadSent:
            pass


class _HeadSent(Exception):
    """Stops a route's body once a HEAD response is complete."""


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def host_name(value: str) -> str:
    """The name part of a Host header: no port, no IPv6 brackets, lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class HostCheck:
    """Refuse requests whose Host is not one of ``allowed`` (DNS rebinding: a web page
    whose name now points at 127.0.0.1 must not read the asks or use the gateway)."""

    def __init__(self, app: ASGIApp, allowed: list[str]) -> None:
        self.app = app
        self.allowed = {host_name(h) for h in allowed}
        # Host headers already found allowed, as sent: clients send the same few on every
        # request (the gateway's hot path), so most requests skip the parsing. Bounded, and
        # only allowed values are kept: a refused one is parsed again every time.
        self._passed: set[bytes] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            raw = b""
            for key, value in scope.get("headers", ()):
                if key == b"host":
                    raw = value  # the last one, as a dict of the headers would keep
            if raw in self._passed:
                await self.app(scope, receive, send)
                return
            name = host_name(raw.decode("latin-1"))
            if name in self.allowed and len(self._passed) < 64:
                self._passed.add(raw)
            if name not in self.allowed:
                body = json.dumps({"error": {
                    "type": "host_not_allowed", "code": "host_not_allowed", "param": None,
                    "message": "this server does not answer to that host name; set "
                               "DRUX_WEB_ALLOWED_HOSTS to add it"}}).encode()
                await send({"type": "http.response.start", "status": 400, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class BodySizeLimit:
    """Refuse bodies over ``max_bytes`` with a 413, whether declared or streamed: typed
    JSON for the API, the error page for a form posted from a page.

    The body is read here first (it is small by definition) and handed on in one
    piece, so the refusal happens before any handler runs.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        # A length of thousands of digits would make int() raise (Python caps digits).
        if declared is not None and (not declared.isdigit() or len(declared) > 18
                                     or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            parts.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(parts), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(Request(scope), 413, "body_too_large",
                                  f"the request body is larger than {self.max_bytes} bytes")
        await response(scope, receive, send)


class QuietShutdown:
    """End requests that the server cancels at shutdown without a logged traceback.

    uvicorn cancels the requests still open when its graceful shutdown times out:
    live event streams of asks that are still running. The asks themselves are
    saved as partial by the runner when the app shuts down.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            if scope["type"] != "http":
                raise
