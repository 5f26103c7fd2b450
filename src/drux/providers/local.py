"""Offline models on llama-cpp-python.

A ``LocalModelPool`` owns the loaded models of a process: one ``Llama`` per
(file, threads, window), loaded on first use and reused by every provider
instance and every ask. A llama.cpp context is not re-entrant, so each loaded
model admits one generation at a time (``LoadedModel.lock``).

Generation runs in a worker thread (llama.cpp releases the GIL while it
computes). The thread hands text to the event loop through ``_Channel`` and
checks a stop flag between tokens, so a cancelled task, a consumer that stops
reading, or a deadline ends the generation after at most one more token and
frees the model for the next ask.

Chat models are prompted with the chat template stored in their GGUF file;
base models (``template="fewshot"``) with a short "Q: … A: …" few-shot prompt
that stops at the next question or blank line.

The window is ``min(spec.context, MAX_CONTEXT)`` tokens: the KV cache is
allocated for the whole window up front, and panel questions and answers are
short, so 4096 keeps memory small (the default panel's three KV caches come
to about 0.2 GB in f16) while leaving room for long questions. A prompt that does not fit
raises ``ContextWindowExceededError`` before anything is generated.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from drux.errors import (
    BadRequestError,
    ConfigError,
    ContextWindowExceededError,
    DruxError,
    ProviderError,
    WeightsError,
)
from drux.providers._fairlock import FairLock
from drux.types import ChatRequest, Chunk, Completion, Usage, collect
from drux.weights import ready_path

if TYPE_CHECKING:
    from llama_cpp import Llama

    from drux.catalog import ModelSpec, VendorSpec
    from drux.config import AppConfig

MAX_CONTEXT = 4096
_RANDOM_SEED = 0xFFFFFFFF  # llama.cpp's "pick a random seed"

FEWSHOT_INSTRUCTION = "Answer each question with a short, factual answer."
FEWSHOT_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("What is the capital of France?", "Paris."),
    ("How many legs does a spider have?", "Eight."),
    ("Who wrote the play Romeo and Juliet?", "William Shakespeare."),
)
FEWSHOT_STOPS = ("\nQ:", "\n\n")


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


def fewshot_prompt(messages: list[dict[str, str]]) -> str:
    """A plain-completion prompt for base models: instruction, examples, then the dialogue."""
    system = "\n\n".join(m["content"].strip() for m in messages if m["role"] == "system")
    lines = [system or FEWSHOT_INSTRUCTION, ""]
    for question, answer in FEWSHOT_EXAMPLES:
        lines += [f"Q: {question}", f"A: {answer}", ""]
    for message in messages:
        if message["role"] == "user":
            lines.append(f"Q: {message['content'].strip()}")
        elif message["role"] == "assistant":
            lines += [f"A: {message['content'].strip()}", ""]
    lines.append("A:")
    return "\n".join(lines)


class LoadedModel:
    """One model in memory. Hold ``lock`` while generating or touching its context."""

    def __init__(self, llm: Llama, path: Path) -> None:
        import llama_cpp

        self.llm = llm
        self.path = path
        self.lock = FairLock()  # asks queued on the model are served in arrival order
        self.n_ctx: int = llm.n_ctx()
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._is_eog = llama_cpp.llama_vocab_is_eog
        self._token_text = llama_cpp.llama_vocab_get_text
        self._chat_formatter: Any = None

    @property
    def busy(self) -> bool:
        return self.lock.locked()

    def is_end(self, token: int) -> bool:
        """End of generation: EOS, or the template's end-of-turn token."""
        return bool(self._is_eog(self._vocab, token))

    def chat_prompt(self, messages: list[dict[str, str]]) -> tuple[list[int], list[str]]:
        """Prompt tokens and stop strings from the chat template stored in the GGUF file."""
        if self._chat_formatter is None:
            self._chat_formatter = self._make_chat_formatter()
        try:
            result = self._chat_formatter(messages=messages)
        except Exception as exc:  # jinja2 errors and the template's raise_exception
            raise BadRequestError(f"{self.path.name}: its chat template rejected the messages: {exc}") from None
        tokens = self.llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special,
                                   special=True)
        stops = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return tokens, [s for s in stops if s]

    def text_prompt(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)

    def _make_chat_formatter(self) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ConfigError(f"{self.path.name} has no chat template; configure it with "
                              f'template = "fewshot"')

        def text(token: int) -> str:
            return self._token_text(self._vocab, token).decode("utf-8") if token != -1 else ""

        eos, bos = self.llm.token_eos(), self.llm.token_bos()
        return Jinja2ChatFormatter(template=template, eos_token=text(eos), bos_token=text(bos))

    def close(self) -> None:
        self.llm.close()


class _NativeLog:
    """Routes llama.cpp's own log lines (printed to stderr even with ``verbose=False``)
    to the ``drux.llama`` logger at DEBUG; failures reach callers as exceptions."""

    _callback: ClassVar[Any] = None

    @classmethod
    def install(cls) -> None:
        if cls._callback is not None:
            return
        import ctypes

        import llama_cpp

        log = logging.getLogger("drux.llama")

        def forward(level: int, text: bytes, user_data: Any) -> None:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s", text.decode("utf-8", "replace").rstrip())

        cls._callback = llama_cpp.llama_log_callback(forward)  # kept alive: C holds the pointer
        llama_cpp.llama_log_set(cls._callback, ctypes.c_void_p(0))


def _keep_stdout_stderr() -> None:
    """With ``verbose=False`` llama-cpp-python points fds 1 and 2 and ``sys.stdout``/``stderr``
    at /dev/null while a model loads: process-wide and not thread-safe, so whatever other
    threads printed meanwhile vanished (``drux ask --timeout 0.01`` printed nothing at all)
    and overlapping loads could leave them there for good. llama.cpp's own log lines
    already go to ``_NativeLog``, so the redirection is switched off."""
    import contextlib

    import llama_cpp._internals as internals
    import llama_cpp.llama as llama_module

    for module in (internals, llama_module):
        if hasattr(module, "suppress_stdout_stderr"):
            setattr(module, "suppress_stdout_stderr",  # noqa: B010
                    lambda disable=True: contextlib.nullcontext())


def import_llama() -> type[Llama]:
    """Import llama-cpp-python the way drux runs it; import it through here, not directly.

    Idle OpenMP threads of llama.cpp spin for a while by default. A panel runs
    several models on few cores, and spinning threads then take the CPU from the
    ones working: on 2 busy cores the default panel answering at once took about
    3x longer with libgomp's default wait (``bench/local.py --omp``). libgomp
    reads the variable once, when llama.cpp loads; a value the user set wins.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ConfigError("llama-cpp-python is not installed; run `make install`") from None
    _NativeLog.install()
    _keep_stdout_stderr()
    return Llama


def _load_llama(path: Path, threads: int, n_ctx: int) -> Llama:
    Llama = import_llama()
    try:
        return Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                     verbose=False)
    except (ValueError, RuntimeError, OSError) as exc:
        raise WeightsError(f"llama.cpp cannot load {path}: {exc}; delete it and run `make models`") from None


class LocalModelPool:
    """The loaded models of one process, keyed by (file, threads, window).

    ``LocalModelPool.shared()`` is the process-wide pool the ``create`` factory
    uses; pass your own to ``LocalProvider`` to isolate models. ``close()``
    frees every model; call it at shutdown, after the streams have ended.
    """

    _shared: ClassVar[LocalModelPool | None] = None
    _shared_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._models: dict[tuple[str, int, int], LoadedModel] = {}
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> LocalModelPool:
        with cls._shared_guard:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def get(self, path: Path, *, threads: int, n_ctx: int) -> LoadedModel:
        """The loaded model for ``path``, loading it on first use. Blocking: call off the loop."""
        key = (str(path.resolve()), threads, n_ctx)
        with self._lock:  # one load at a time, so a file is never loaded twice
            model = self._models.get(key)
            if model is None:
                model = LoadedModel(_load_llama(path, threads, n_ctx), path)
                self._models[key] = model
            return model

    def __len__(self) -> int:
        return len(self._models)

    def close(self) -> None:
        with self._lock:
            models, self._models = list(self._models.values()), {}
        for model in models:
            with model.lock:
                model.close()


@dataclass(slots=True)
class _Plan:
    """Everything one generation needs, decided on the event loop before the thread starts."""

    messages: list[dict[str, str]]
    fewshot: bool
    temperature: float
    top_p: float
    max_tokens: int
    stop: list[str]
    seed: int | None


@dataclass(slots=True)
class _End:
    finish_reason: str
    usage: Usage


class _Channel:
    """Worker thread -> event loop, waking the loop at most every ``interval`` seconds.

    Every wake-up runs the event loop's thread while llama.cpp computes the next
    token on all cores; on a busy machine that can preempt a compute thread while
    the others wait for it at their barriers (bench/local.py compares waking per
    token with this). 20 updates a second still reads as live streaming. The
    first text and the end are handed over at once.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 0.05) -> None:
        self._loop = loop
        self._interval = interval
        self._last_wake = float("-inf")
        self._lock = threading.Lock()
        self._texts: list[str] = []
        self._end: _End | BaseException | None = None
        self._wake = asyncio.Event()
        self._wake_pending = False
        self.stopped = threading.Event()

    def _put(self, text: str | None, end: _End | BaseException | None) -> None:
        with self._lock:
            if text:
                self._texts.append(text)
            if end is not None:
                self._end = end
            now = time.monotonic()
            if self._wake_pending or (end is None and now - self._last_wake < self._interval):
                return
            self._wake_pending = True
            self._last_wake = now
        try:
            self._loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.stopped.set()

    def put_text(self, text: str) -> None:
        self._put(text, None)

    def put_end(self, end: _End | BaseException) -> None:
        self._put(None, end)

    async def get(self) -> tuple[str, _End | BaseException | None]:
        await self._wake.wait()
        with self._lock:
            self._wake.clear()
            self._wake_pending = False
            texts, self._texts = self._texts, []
            return "".join(texts), self._end


class _StopScanner:
    """Holds back text that may be the start of a stop string; cuts at the first stop."""

    def __init__(self, stops: list[str], strip_leading: bool) -> None:
        self._stops = [s for s in stops if s]
        self._held = ""
        self._strip = strip_leading

    def feed(self, text: str) -> tuple[str, bool]:
        held = self._held + text
        if self._strip:
            held = held.lstrip()
            self._strip = not held
        hits = [i for i in (held.find(s) for s in self._stops) if i >= 0]
        if hits:
            self._held = ""
            return held[: min(hits)], True
        keep = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(held)), keep, -1):
                if held.endswith(stop[:n]):
                    keep = n
                    break
        self._held = held[len(held) - keep:]
        return held[: len(held) - keep], False

    def rest(self) -> str:
        held, self._held = self._held, ""
        return held


def _generate(model: LoadedModel, plan: _Plan, channel: _Channel, error: Callable[..., DruxError]) -> _End:
    """The token loop. Runs in the worker thread with ``model.lock`` held."""
    if plan.fewshot:
        tokens, stops = model.text_prompt(fewshot_prompt(plan.messages)), list(FEWSHOT_STOPS)
    else:
        tokens, stops = model.chat_prompt(plan.messages)
    if len(tokens) >= model.n_ctx:
        raise error(ContextWindowExceededError,
                    f"the prompt is {len(tokens)} tokens; this model's window here is {model.n_ctx}. "
                    "Shorten the question")
    llm = model.llm
    # Start from an empty KV cache: reusing a cached prefix changes how the prompt is batched,
    # which moves logits slightly, so the same request and seed could give another answer.
    llm.reset()
    llm.set_seed(plan.seed if plan.seed is not None else _RANDOM_SEED)
    budget = min(plan.max_tokens, model.n_ctx - len(tokens))
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    scanner = _StopScanner(plan.stop + stops, strip_leading=plan.fewshot)
    produced, finish = 0, "length"
    tokens_out = llm.generate(tokens, temp=plan.temperature, top_p=plan.top_p, top_k=40, min_p=0.05,
                              repeat_penalty=1.0)
    try:
        for token in tokens_out:
            if channel.stopped.is_set():
                finish = "cancelled"
                break
            if model.is_end(token):
                finish = "stop"
                break
            produced += 1
            text, hit = scanner.feed(decoder.decode(llm.detokenize([token])))
            if text:
                channel.put_text(text)
            if hit:
                return _End("stop", Usage(len(tokens), produced))
            if produced >= budget:
                break
    finally:
        tokens_out.close()
    tail = scanner.feed(decoder.decode(b"", final=True))[0] + scanner.rest()
    if tail:
        channel.put_text(tail)
    return _End(finish, Usage(len(tokens), produced))


class LocalProvider:
    """A ``Provider`` answering from a GGUF file through llama.cpp, fully offline."""

    def __init__(self, spec: ModelSpec, path: Path, *, vendor: str = "local", threads: int = 0,
                 defaults: tuple[float, int] = (0.0, 200), pool: LocalModelPool | None = None,
                 stream_interval: float = 0.05) -> None:
        """``stream_interval``: seconds between hand-overs of text to the consumer (see ``_Channel``)."""
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
        channel = _Channel(asyncio.get_running_loop(), self._stream_interval)
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

    def _work(self, plan: _Plan, channel: _Channel) -> None:
        try:
            model = self._model()
            if not model.lock.acquire(stopped=channel.stopped):
                return
            try:
                end = _generate(model, plan, channel, self._error)
            finally:
                model.lock.release()
            channel.put_end(end)
        except DruxError as exc:
            channel.put_end(exc)
        except Exception as exc:  # a llama.cpp failure must reach the caller as a typed error
            channel.put_end(self._error(ProviderError, f"llama.cpp failed: {type(exc).__name__}: {exc}"))

    def _plan(self, request: ChatRequest) -> _Plan:
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
        return _Plan(messages=messages, fewshot=self._spec.template == "fewshot",
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
