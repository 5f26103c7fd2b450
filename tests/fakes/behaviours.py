"""What a fake server does with one request: the scripting vocabulary.

Behaviours are vendor-neutral; each wire module renders them in its vendor's
own documented shape (status, error body, SSE event types, finish words).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# Each kind is rendered as the vendor documents it, e.g. "overloaded" is
# Anthropic's 529 overloaded_error, Gemini's 503 UNAVAILABLE, OpenAI's 503 server_error.
ErrorKind = Literal[
    "auth",
    "permission",
    "not_found",
    "bad_request",
    "context_window",
    "content_filter",
    "rate_limit",
    "quota",
    "overloaded",
    "server",
]

# "content_filter" is OpenAI's finish_reason content_filter, Anthropic's stop_reason
# refusal, Gemini's finishReason SAFETY; "prompt_blocked" is Gemini's
# promptFeedback.blockReason (rendered as content_filter/refusal by the others).
Finish = Literal["stop", "length", "content_filter", "prompt_blocked"]


@dataclass
class Fail:
    """Answer with the vendor's documented error for ``kind``.

    As a top-level behaviour: an HTTP error response. As ``Reply.fail`` it is the
    vendor's in-stream error event sent after ``Reply.fail_after`` pieces.
    """

    kind: ErrorKind
    status: int | None = None  # None: the status the vendor documents for this kind
    retry_after: float | str | None = None  # Retry-After header (Gemini: also RetryInfo)
    message: str | None = None
    body: Any = None  # replaces the rendered body: dict -> JSON, str/bytes -> as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line


@dataclass
class Reply:
    """A successful answer, JSON or streamed, with optional mid-stream trouble."""

    text: str | None = None  # None: "fake answer from <model>"
    chunks: list[str] | None = None  # stream pieces; default: the text split after spaces
    input_tokens: int = 11
    output_tokens: int | None = None  # None: the number of pieces
    finish: Finish = "stop"
    delay: float = 0.0  # seconds before the status line (drives client timeouts)
    chunk_delay: float = 0.0  # seconds between streamed pieces
    stall_after: int | None = None  # stream: stop sending after N pieces, keep the socket open
    drop_after: int | None = None  # stream: close the socket after N pieces (incomplete body)
    end_after: int | None = None  # stream: end the body cleanly after N pieces, no final events
    fail_after: int | None = None  # stream: send ``fail`` as an in-stream error after N pieces
    fail: Fail | None = None
    # JSON: a truncated body. Stream: a frame whose data is not JSON after N pieces.
    malformed_after: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def pieces(self, model: str) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        text = self.full_text(model)
        words = text.split(" ")
        return [w + " " for w in words[:-1]] + [words[-1]]

    def full_text(self, model: str) -> str:
        if self.chunks is not None and self.text is None:
            return "".join(self.chunks)
        return self.text if self.text is not None else f"fake answer from {model}"

    def usage(self, model: str) -> tuple[int, int]:
        out = self.output_tokens if self.output_tokens is not None else len(self.pieces(model))
        return self.input_tokens, out


@dataclass
class Disconnect:
    """Read the request, then close the socket without any response."""

    delay: float = 0.0
    reset: bool = False  # send a TCP RST instead of a clean FIN


@dataclass
class Raw:
    """Send exactly this response (wrong shapes, HTML error pages, ...)."""

    status: int = 200
    body: bytes | str = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Send the head and this many bytes of the body, then nothing more (socket kept open).
    stall_after: int | None = None


Behaviour = Reply | Fail | Disconnect | Raw
