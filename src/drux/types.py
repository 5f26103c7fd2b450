"""The values that flow between providers, routing, the panel and the store.

Plain slotted dataclasses: they sit on the gateway's hot path, so no validation
happens here; the edges (CLI, HTTP schemas, config) validate before building them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(slots=True, frozen=True)
class Message:
    role: Role
    content: str


@dataclass(slots=True)
class ChatRequest:
    """One chat call. ``model`` is the drux model id the caller asked for."""

    messages: list[Message]
    model: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    seed: int | None = None
    # Seconds the whole call may take; routing and the panel enforce it.
    timeout: float | None = None
    # Extra vendor parameters passed through untouched by the OpenAI wire adapter.
    extra: dict[str, Any] = field(default_factory=dict)

    def narrowed(self, timeout: float | None, model: str | None = None) -> ChatRequest:
        """This request with another ``timeout`` (and ``model``): what routing hands each
        layer below it. ``dataclasses.replace`` would do, at five times the cost, and
        routing makes two or three per call; ``test_types`` checks that no field is left out."""
        return ChatRequest(self.messages, self.model if model is None else model,
                           self.temperature, self.max_tokens, self.top_p, self.stop, self.seed,
                           timeout, self.extra)

    @property
    def system(self) -> str | None:
        parts = [m.content for m in self.messages if m.role == "system"]
        return "\n\n".join(parts) if parts else None

    @property
    def prompt_text(self) -> str:
        return "\n".join(m.content for m in self.messages)


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)


@dataclass(slots=True)
class Completion:
    text: str
    model: str
    # The deployment that actually answered ("anthropic:claude-sonnet-4" ...).
    deployment: str = ""
    finish_reason: str | None = "stop"
    usage: Usage = field(default_factory=Usage)
    # Set by routing when another model answered than the one asked for: the
    # requested model id; ``answered_by`` is then the drux model id that answered.
    substituted_for: str | None = None
    answered_by: str | None = None
    # True when a stream broke and the rest came from a fallback.
    recovered: bool = False
    raw_id: str | None = None


@dataclass(slots=True)
class Chunk:
    """One streamed piece. The last chunk of a stream carries finish_reason and usage."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    deployment: str = ""
    # Routing marks chunks after a failover so consumers can label them:
    # the requested model id, and the drux model id that is answering instead.
    substituted_for: str | None = None
    answered_by: str | None = None
    # True on a chunk that restarts an answer on a fallback after a broken stream:
    # consumers must discard the text received so far.
    restart: bool = False


@runtime_checkable
class Provider(Protocol):
    """Anything that answers chat requests: an adapter, or routing that wraps adapters."""

    @property
    def name(self) -> str: ...

    async def complete(self, request: ChatRequest) -> Completion: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]: ...

    async def aclose(self) -> None: ...


class StreamPiece(Protocol):
    """A piece of a streamed answer: a ``Chunk``, or the panel's ``Token`` event."""

    @property
    def text(self) -> str: ...
    @property
    def restart(self) -> bool: ...
    @property
    def deployment(self) -> str: ...
    @property
    def substituted_for(self) -> str | None: ...
    @property
    def answered_by(self) -> str | None: ...


@dataclass(slots=True)
class AnswerAccumulator:
    """Folds a stream into one answer: the text (dropped on ``restart``, when a fallback starts
    the answer over), who answered, and, from chunks, the finish reason and usage."""

    parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None
    deployment: str = ""
    substituted_for: str | None = None
    answered_by: str | None = None
    recovered: bool = False

    def add(self, piece: StreamPiece) -> None:
        if piece.restart:
            self.parts.clear()  # in place: a view may hold this list
            self.recovered = True
        if piece.deployment:
            self.deployment = piece.deployment
        if piece.substituted_for:
            self.substituted_for = piece.substituted_for
            self.answered_by = piece.answered_by
        if piece.text:
            self.parts.append(piece.text)
        if isinstance(piece, Chunk):
            if piece.finish_reason:
                self.finish_reason = piece.finish_reason
            if piece.usage is not None:
                self.usage = piece.usage

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def completion(self, model: str, *, deployment: str = "",
                   usage: Usage | None = None) -> Completion:
        """The answer; ``deployment`` and ``usage`` stand in when no chunk carried them."""
        return Completion(
            text=self.text, model=model, deployment=self.deployment or deployment,
            finish_reason=self.finish_reason, usage=self.usage or usage or Usage(),
            substituted_for=self.substituted_for, answered_by=self.answered_by,
            recovered=self.recovered,
        )


async def collect(stream: AsyncIterator[Chunk], *, model: str, deployment: str = "") -> Completion:
    """Fold a stream into a Completion (honouring ``restart`` chunks)."""
    answer = AnswerAccumulator()
    async for chunk in stream:
        answer.add(chunk)
    return answer.completion(model, deployment=deployment)
