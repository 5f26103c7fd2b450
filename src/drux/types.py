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


async def collect(stream: AsyncIterator[Chunk], *, model: str, deployment: str = "") -> Completion:
    """Fold a stream into a Completion (honouring ``restart`` chunks)."""
    parts: list[str] = []
    finish: str | None = None
    usage = Usage()
    substituted: str | None = None
    answered_by: str | None = None
    recovered = False
    async for chunk in stream:
        if chunk.restart:
            parts.clear()
            recovered = True
        if chunk.substituted_for:
            substituted = chunk.substituted_for
            answered_by = chunk.answered_by
        if chunk.deployment:
            deployment = chunk.deployment
        parts.append(chunk.text)
        if chunk.finish_reason:
            finish = chunk.finish_reason
        if chunk.usage is not None:
            usage = chunk.usage
    return Completion(
        text="".join(parts),
        model=model,
        deployment=deployment,
        finish_reason=finish,
        usage=usage,
        substituted_for=substituted,
        answered_by=answered_by,
        recovered=recovered,
    )
