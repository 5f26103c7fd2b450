"""Fan-out: one question to N models, one async stream of events back.

Each member runs in its own task with its own deadline. A member that fails,
hangs or times out ends as a ``Failed`` event carrying a typed error; it never
cancels or delays its siblings. Closing the stream (or cancelling its consumer)
cancels every member still running.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from drux.errors import DruxError, ProviderError, ProviderTimeoutError
from drux.types import AnswerAccumulator, ChatRequest, Completion, Provider, Usage


@dataclass(slots=True)
class Timings:
    started: float = 0.0  # wall-clock epoch seconds
    first_token_s: float | None = None
    total_s: float | None = None
    output_tokens: int = 0

    @property
    def tokens_per_s(self) -> float | None:
        if not self.total_s or not self.output_tokens:
            return None
        gen_time = self.total_s - (self.first_token_s or 0.0)
        return self.output_tokens / gen_time if gen_time > 0 else None

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "first_token_s": self.first_token_s,
            "total_s": self.total_s,
            "output_tokens": self.output_tokens,
            "tokens_per_s": self.tokens_per_s,
        }


@dataclass(slots=True)
class Started:
    model: str


@dataclass(slots=True)
class Token:
    model: str
    text: str
    # The stream restarted on a fallback: discard what this model showed so far.
    restart: bool = False
    deployment: str = ""
    substituted_for: str | None = None
    answered_by: str | None = None


@dataclass(slots=True)
class Finished:
    model: str
    completion: Completion
    timings: Timings


@dataclass(slots=True)
class Failed:
    model: str
    error: DruxError
    timings: Timings
    partial_text: str = ""


PanelEvent = Started | Token | Finished | Failed


@dataclass(slots=True)
class _Member:
    model: str
    provider: Provider
    request: ChatRequest
    deadline: float
    timings: Timings = field(default_factory=Timings)
    answer: AnswerAccumulator = field(default_factory=AnswerAccumulator)


async def _run_member(member: _Member, queue: asyncio.Queue[PanelEvent]) -> None:
    timings = member.timings
    timings.started = time.time()
    t0 = time.perf_counter()
    await queue.put(Started(member.model))
    answer = member.answer
    try:
        async with asyncio.timeout(member.deadline):
            async for chunk in member.provider.stream(member.request):
                answer.add(chunk)
                if chunk.text:
                    if timings.first_token_s is None:
                        timings.first_token_s = time.perf_counter() - t0
                    timings.output_tokens += 1
                if chunk.text or chunk.restart:
                    await queue.put(Token(member.model, chunk.text, chunk.restart,
                                          answer.deployment, answer.substituted_for,
                                          answer.answered_by))
    except TimeoutError:
        timings.total_s = time.perf_counter() - t0
        err = ProviderTimeoutError(
            f"{member.model} gave no complete answer within {member.deadline:g} s",
            provider=member.provider.name, model=member.model,
        )
        await queue.put(Failed(member.model, err, timings, answer.text))
        return
    except DruxError as exc:
        timings.total_s = time.perf_counter() - t0
        await queue.put(Failed(member.model, exc, timings, answer.text))
        return
    except Exception as exc:  # an adapter bug must not sink the panel
        timings.total_s = time.perf_counter() - t0
        bug = ProviderError(f"{type(exc).__name__}: {exc}", provider=member.provider.name,
                            model=member.model)
        await queue.put(Failed(member.model, bug, timings, answer.text))
        return
    timings.total_s = time.perf_counter() - t0
    if answer.usage is not None and answer.usage.output_tokens:
        timings.output_tokens = answer.usage.output_tokens
    completion = answer.completion(member.model, deployment=member.provider.name,
                                   usage=Usage(output_tokens=timings.output_tokens))
    await queue.put(Finished(member.model, completion, timings))


async def run_panel(
    members: Mapping[str, Provider],
    requests: Mapping[str, ChatRequest],
    *,
    deadlines: Mapping[str, float] | float = 120.0,
) -> AsyncIterator[PanelEvent]:
    """Run every member concurrently; yield their events as they happen.

    ``requests`` holds each member's own request (system prompt, temperature and
    max tokens differ per model). Every member ends with exactly one ``Finished``
    or ``Failed`` event.
    """
    queue: asyncio.Queue[PanelEvent] = asyncio.Queue()
    tasks: list[asyncio.Task[None]] = []
    for model, provider in members.items():
        deadline = deadlines if isinstance(deadlines, float | int) else deadlines[model]
        member = _Member(model, provider, requests[model], float(deadline))
        tasks.append(asyncio.create_task(_run_member(member, queue), name=f"panel:{model}"))
    remaining = len(tasks)
    try:
        while remaining:
            event = await queue.get()
            if isinstance(event, Finished | Failed):
                remaining -= 1
            yield event
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
