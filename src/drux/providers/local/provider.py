"""``LocalProvider``: a ``Provider`` answering from a GGUF file through llama.cpp.

Generation runs in a worker thread (llama.cpp releases the GIL while it
computes). The thread hands text to the event loop through a ``TokenChannel``
and checks a stop flag between tokens, so a cancelled task, a consumer that
stops reading, or a deadline ends the generation after at most one more token
and frees the model for the next ask.

The window is ``min(spec.context, MAX_CONTEXT)`` tokens: the KV cache is
allocated for the whole window up front, and panel questions and answers are
short, so 4096 keeps memory small (the default panel's three KV caches come
to about 0.2 GB in f16) while leaving room for long questions.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from drux.catalog import ModelSpec, VendorSpec
from drux.config import AppConfig
from drux.errors import BadRequestError, DruxError, ProviderError
from drux.providers.local.channel import TokenChannel
from drux.providers.local.generate import Plan, generate
from drux.providers.local.pool import LoadedModel, LocalModelPool
from drux.types import ChatRequest, Chunk, Completion, collect
from drux.weights import ready_path

MAX_CONTEXT = 4096


def resolve_threads(threads: int) -> int:
    """``threads`` from settings; 0 means every core this process may use."""
    if threads > 0:
        return threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def context_window(spec: ModelSpec) -> int:
    return min(spec.context, MAX_CONTEXT)


class LocalProvider:
    """A ``Provider`` answering from a GGUF file through llama.cpp, fully offline."""

    def __init__(self, spec: ModelSpec, path: Path, *, vendor: str = "local", threads: int = 0,
                 defaults: tuple[float, int] = (0.0, 200), pool: LocalModelPool | None = None,
                 stream_interval: float = 0.05) -> None:
        """``stream_interval``: seconds between hand-overs of text to the consumer (see ``TokenChannel``)."""
        self._spec = spec
        self._stream_interval = stream_interval
        self._path = path
        self._name = f"{vendor}:{spec.id}"
        self._threads = resolve_threads(threads)
        self._n_ctx = context_window(spec)
        self._default_temperature, self._default_max_tokens = defaults
        self._pool = pool if pool is not None else LocalModelPool.shared()

    @property
    def name(self) -> str:
        return self._name

    def _model(self) -> LoadedModel:
        return self._pool.get(self._path, threads=self._threads, n_ctx=self._n_ctx)

    async def load(self) -> LoadedModel:
        """Load (or reuse) the model now, e.g. to warm up before the first ask."""
        return await asyncio.to_thread(self._model)

    async def complete(self, request: ChatRequest) -> Completion:
        return await collect(self.stream(request), model=self._spec.id, deployment=self._name)

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        plan = self._plan(request)
        channel = TokenChannel(asyncio.get_running_loop(), self._stream_interval)
        worker = threading.Thread(target=self._work, args=(plan, channel), daemon=True,
                                  name=f"drux-local:{self._spec.id}")
        worker.start()
        try:
            while True:
                text, end = await channel.get()
                if text:
                    yield Chunk(text=text, deployment=self._name)
                if isinstance(end, BaseException):
                    raise end
                if end is not None:
                    yield Chunk(finish_reason=end.finish_reason, usage=end.usage, deployment=self._name)
                    return
        finally:
            channel.stopped.set()

    async def aclose(self) -> None:
        """Nothing to release: loaded models belong to the pool and outlive providers."""

    def _error(self, kind: type[ProviderError], message: str) -> ProviderError:
        return kind(f"{self._spec.id}: {message}", provider=self._name, model=self._spec.id)

    def _work(self, plan: Plan, channel: TokenChannel) -> None:
        try:
            model = self._model()
            if not model.lock.acquire(stopped=channel.stopped):
                return
            try:
                end = generate(model, plan, channel, self._error)
            finally:
                model.lock.release()
            channel.put_end(end)
        except DruxError as exc:
            channel.put_end(exc)
        except Exception as exc:  # a llama.cpp failure must reach the caller as a typed error
            channel.put_end(self._error(ProviderError, f"llama.cpp failed: {type(exc).__name__}: {exc}"))

    def _plan(self, request: ChatRequest) -> Plan:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        if self._spec.system and not any(m["role"] == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": self._spec.system})
        if not any(m["role"] == "user" for m in messages):
            raise self._error(BadRequestError, "the request has no user message")
        temperature = _first(request.temperature, self._spec.temperature, self._default_temperature)
        max_tokens = int(_first(request.max_tokens, self._spec.max_tokens, self._default_max_tokens))
        if temperature < 0 or max_tokens < 1:
            raise self._error(BadRequestError, "temperature must be >= 0 and max_tokens >= 1")
        top_p = request.top_p if request.top_p is not None else 0.95
        return Plan(messages=messages, fewshot=self._spec.template == "fewshot",
                    temperature=float(temperature), top_p=top_p, max_tokens=max_tokens,
                    stop=list(request.stop or []), seed=request.seed)


def _first(*values: float | int | None) -> float:
    return float(next(v for v in values if v is not None))


def create(spec: ModelSpec, vendor: VendorSpec, config: AppConfig) -> LocalProvider:
    """The factory ``build_provider`` calls. Raises ``WeightsError`` when the file is not ready."""
    path = ready_path(spec, config.settings.models_dir)
    settings = config.settings
    return LocalProvider(spec, path, vendor=vendor.name, threads=settings.threads,
                         defaults=(settings.temperature, settings.max_tokens))
