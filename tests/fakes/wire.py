"""Shared pieces of the wire modules: the parsed request and SSE framing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from .behaviours import Fail, Reply


@dataclass
class Request:
    """One request as the fake server saw it (also what tests inspect)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    protocol: str = ""
    model: str = ""
    stream: bool = False
    json: Any = field(default=None, repr=False)

    @classmethod
    def parse_body(cls, raw: bytes) -> Any:
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None


class Frames(NamedTuple):
    opening: list[bytes]
    pieces: list[bytes]  # one frame per text piece
    closing: list[bytes]


class Wire(Protocol):
    name: str
    retry_after_header: bool

    def match(self, method: str, path: str) -> bool: ...
    def model(self, req: Request) -> str: ...
    def streaming(self, req: Request) -> bool: ...
    def api_key(self, req: Request) -> str | None: ...
    def body(self, reply: Reply, req: Request) -> dict[str, Any]: ...
    def frames(self, reply: Reply, req: Request) -> Frames: ...
    def error(self, fail: Fail, req: Request) -> tuple[int, Any]: ...
    def error_frame(self, fail: Fail, req: Request) -> bytes: ...
    def malformed_frame(self) -> bytes: ...


def as_text(body: Any) -> str:
    """A scripted body as sent: str/bytes as is, anything else as JSON."""
    if isinstance(body, bytes):
        return body.decode()
    return body if isinstance(body, str) else json.dumps(body)


def sse_data(data: str, *, newline: str = "\n") -> bytes:
    return f"data: {data}{newline}{newline}".encode()


def sse_event(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {as_text(data)}\n\n".encode()
