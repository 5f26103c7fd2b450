"""Fallback over an ordered chain of deployments, with hedged starts.

The route asks the chain in order (``hedge.race``): a failure moves on to the
next deployment, a slow first token starts the next one alongside. Rules:

- ``BadRequestError`` (400, content filter) ends the route at once: the request
  is wrong, and another vendor's safety filter is not a way around the first's.
- ``ContextWindowExceededError`` moves on only to deployments with a larger
  context window (when ``context_fallback``), otherwise ends the route.
- Anything else (404, 403, 429, 5xx, timeouts, an open circuit) moves on.
- A stream that breaks after output continues on the rest of the chain from
  scratch: the first chunk from the fallback has ``restart=True``, so consumers
  discard the torn text. If nothing is left, the error propagates; a torn answer
  never ends as a finished one.
- When every deployment failed: ``AllDeploymentsFailedError`` with each attempt.
  A one-deployment route raises that deployment's own error.

Chunks and completions are labelled with the deployment that answered and, when
it was not the primary, ``substituted_for`` (the route's model id) and
``answered_by`` (the drux model id that answered; its family is on the
``Deployment``, see ``answered_by()``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from drux.errors import (
    AllDeploymentsFailedError,
    BadRequestError,
    ContextWindowExceededError,
    DruxError,
    ProviderError,
    ProviderTimeoutError,
)
from drux.routing._streams import aclose_quietly, read_until_visible
from drux.routing.breaker import BreakerProvider, CircuitBreaker, counts_as_failure
from drux.routing.health import HealthRegistry
from drux.routing.hedge import HedgePolicy, RaceExhausted, hedge_delay, race
from drux.timeouts import timeout
from drux.types import ChatRequest, Chunk, Completion, Provider

T = TypeVar("T")
_Opened = tuple[list[Chunk], AsyncIterator[Chunk]]


@dataclass(frozen=True, slots=True)
class Deployment:
    """One place a model can be asked: a (guarded) provider plus what routing needs to know."""

    name: str  # "vendor:model-id", the key of breakers and health statistics
    model: str  # drux model id
    family: str
    provider: Provider
    context: int = 0
    vendor: str = ""
    breaker: CircuitBreaker | None = None
    # The breaker-guarded adapter without retries, for background health probes.
    guard: BreakerProvider | None = None


def _as_error(exc: BaseException, name: str) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, DruxError):  # missing weights or key: keep its one-line message
        wrapped = ProviderError(f"{name}: {exc}", provider=name, retryable=False)
        wrapped.code = exc.code
        return wrapped
    return ProviderError(f"{name}: {type(exc).__name__}: {exc}", provider=name, retryable=False)


@dataclass(slots=True)
class _Call:
    """State of one routed call: what was tried, what failed, the deadline."""

    route: FallbackProvider
    request: ChatRequest
    deadline_at: float
    attempts: list[ProviderError] = field(default_factory=list)
    failed: set[int] = field(default_factory=set)
    min_context: int = 0
    cursor: int = 0
    # Setup errors (missing weights, bad config) that are not ProviderErrors, kept
    # so a one-deployment route raises them unchanged.
    originals: dict[int, DruxError] = field(default_factory=dict)

    def remaining(self) -> float:
        return self.deadline_at - self.route._clock()

    def next_index(self) -> int | None:
        chain = self.route.deployments
        while self.cursor < len(chain):
            index = self.cursor
            self.cursor += 1
            too_small = self.min_context > 0 and chain[index].context <= self.min_context
            if index in self.failed or too_small:
                continue
            breaker = chain[index].breaker
            if breaker is not None and breaker.is_open():
                # Skip a dead deployment here, without a task or a loop turn: this is
                # the path every request takes while a primary is down.
                self.note_failure(index, breaker.rejection())
                continue
            return index
        return None

    def sub_request(self, index: int) -> ChatRequest:
        dep = self.route.deployments[index]
        return self.request.narrowed(max(0.0, self.remaining()), dep.model)

    def note_failure(self, index: int, exc: BaseException) -> ProviderError:
        dep = self.route.deployments[index]
        err = _as_error(exc, dep.name)
        if isinstance(exc, DruxError) and exc is not err:
            self.originals[len(self.attempts)] = exc
        err.provider = err.provider or dep.name
        err.model = err.model or dep.model
        self.failed.add(index)
        self.attempts.append(err)
        return err

    def on_error(self, index: int, exc: BaseException) -> None:
        dep = self.route.deployments[index]
        err = self.note_failure(index, exc)
        if isinstance(err, ContextWindowExceededError) and self.route.context_fallback:
            self.min_context = max(self.min_context, dep.context)
        elif isinstance(err, BadRequestError) and not self.route.fallback_on_bad_request:
            raise err

    def give_up(self) -> DruxError:
        skipped = self.route.withheld
        if len(self.attempts) == 1 and not skipped and (
                len(self.route.deployments) == 1 or isinstance(self.attempts[0], BadRequestError)):
            return self.originals.get(0, self.attempts[0])
        names = ", ".join(f"{a.model or a.provider or '?'} ({a.code})" for a in self.attempts)
        left_out = (f"; not tried, as this caller may not use them: {', '.join(skipped)}"
                    if skipped else "")
        return AllDeploymentsFailedError(
            f"{self.route.model_id}: every deployment failed: {names}{left_out}",
            attempts=list(self.attempts), provider="route", model=self.route.model_id)


class FallbackProvider:
    """A Provider over an ordered chain of deployments (first = primary)."""

    def __init__(self, model_id: str, deployments: Sequence[Deployment], *,
                 registry: HealthRegistry | None = None, hedge: HedgePolicy | None = None,
                 deadline: float = 120.0, context_fallback: bool = True,
                 fallback_on_bad_request: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not deployments:
            raise ValueError(f"route {model_id!r} needs at least one deployment")
        self.model_id = model_id
        self.deployments = tuple(deployments)
        self.registry = registry
        self.hedge = hedge or HedgePolicy()
        self.deadline = deadline
        self.context_fallback = context_fallback
        self.fallback_on_bad_request = fallback_on_bad_request
        self._clock = clock
        self.withheld: tuple[str, ...] = ()  # models left out by ``only``, named in errors

    @property
    def name(self) -> str:
        return f"route:{self.model_id}"

    def only(self, models: Collection[str]) -> FallbackProvider:
        """This route over just the deployments of ``models`` (the primary always stays),
        sharing their providers and breakers: a caller allowed some models must not be
        answered, or billed, by a fallback, equivalent or hedge outside them."""
        kept = [d for i, d in enumerate(self.deployments) if i == 0 or d.model in models]
        if len(kept) == len(self.deployments):
            return self
        route = FallbackProvider(
            self.model_id, kept, registry=self.registry, hedge=self.hedge,
            deadline=self.deadline, context_fallback=self.context_fallback,
            fallback_on_bad_request=self.fallback_on_bad_request, clock=self._clock)
        route.withheld = tuple(dict.fromkeys(d.model for d in self.deployments if d not in kept))
        return route

    def answered_by(self, deployment: str) -> Deployment | None:
        """The deployment (model id, family) behind a chunk's or completion's ``deployment``."""
        return next((d for d in self.deployments if d.name == deployment), None)

    async def aclose(self) -> None:
        for dep in self.deployments:
            await dep.provider.aclose()

    def _new_call(self, request: ChatRequest) -> _Call:
        budget = request.timeout if request.timeout is not None else self.deadline
        return _Call(self, request, self._clock() + budget)

    def _label(self, index: int) -> tuple[str, str | None, str | None]:
        """(deployment, substituted_for, answered_by) for answers from ``index``."""
        dep = self.deployments[index]
        if index == 0:
            return dep.name, None, None
        return dep.name, self.model_id, dep.model

    async def complete(self, request: ChatRequest) -> Completion:
        call = self._new_call(request)

        async def nothing(_: Completion) -> None:
            return None

        index, completion = await self._race(
            call, lambda i: self.deployments[i].provider.complete(call.sub_request(i)),
            nothing, streaming=False)
        (completion.deployment, completion.substituted_for,
         completion.answered_by) = self._label(index)
        return completion

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        call = self._new_call(request)
        shown_text = False
        while True:
            index, (head, tail) = await self._race(
                call, lambda i: self._open(i, call.sub_request(i)), self._discard, streaming=True)
            label = self._label(index)
            if shown_text:
                yield self._stamp(Chunk(restart=True), label)
            try:
                for chunk in head:
                    shown_text = shown_text or bool(chunk.text)
                    yield self._stamp(chunk, label)
                while (chunk_or_none := await self._next(tail, call)) is not None:
                    shown_text = shown_text or bool(chunk_or_none.text)
                    yield self._stamp(chunk_or_none, label)
                return
            except ProviderError as err:
                # Same rules as before output (a content filter ends the route). The chain
                # continues after the deployment that broke: those before it were tried or
                # overtaken; hedges after it that were cancelled may still answer.
                call.on_error(index, err)
                call.cursor = index + 1
            finally:
                await aclose_quietly(tail)

    @staticmethod
    def _stamp(chunk: Chunk, label: tuple[str, str | None, str | None]) -> Chunk:
        chunk.deployment, chunk.substituted_for, chunk.answered_by = label
        return chunk

    async def _next(self, tail: AsyncIterator[Chunk], call: _Call) -> Chunk | None:
        try:
            async with timeout(max(0.0, call.remaining())):
                return await anext(tail)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            raise ProviderTimeoutError(f"{self.model_id}: answer not finished within the deadline",
                                       provider=self.name, model=self.model_id) from None
        except ProviderError:
            raise
        except Exception as exc:
            raise _as_error(exc, self.name) from exc

    async def _open(self, index: int, request: ChatRequest) -> _Opened:
        tail = self.deployments[index].provider.stream(request)
        try:
            head = await read_until_visible(tail)
        except BaseException:
            await aclose_quietly(tail)
            raise
        return head, tail

    @staticmethod
    async def _discard(opened: _Opened) -> None:
        await aclose_quietly(opened[1])

    async def _race(self, call: _Call, start: Callable[[int], Awaitable[T]],
                    discard: Callable[[T], Awaitable[None]], *, streaming: bool) -> tuple[int, T]:
        def next_candidate() -> tuple[int, Callable[[], Awaitable[T]]] | None:
            index = call.next_index()
            if index is None:
                return None
            return index, lambda: start(index)

        def delay_for(index: int) -> float | None:
            return hedge_delay(self.hedge, self.registry, self.deployments[index].name,
                               streaming=streaming)

        try:
            async with timeout(max(0.0, call.remaining())):
                result = await race(next_candidate, delay_for=delay_for, on_error=call.on_error,
                                    discard=discard, max_in_flight=self.hedge.max_in_flight)
        except RaceExhausted:
            raise call.give_up() from None
        except TimeoutError:
            call.attempts.append(ProviderTimeoutError(
                f"{self.model_id}: no deployment answered within the deadline",
                provider=self.name, model=self.model_id))
            raise call.give_up() from None
        for index in result.overtaken:
            self._report_slow(index, self.deployments[result.key].name)
        return result.key, result.value

    def _report_slow(self, index: int, winner: str) -> None:
        dep = self.deployments[index]
        err = ProviderTimeoutError(f"{dep.name}: no first token before {winner} answered (hedged)",
                                   provider=dep.name, model=dep.model)
        if dep.breaker is not None and counts_as_failure(err):
            dep.breaker.on_failure(err)
        if self.registry is not None:
            self.registry.record_failure(dep.name, err)
