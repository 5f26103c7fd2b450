"""A scripted fake provider for unit tests of the engine (never for adapters).

    provider = ScriptedProvider("m1", [Reply("hello world", delay=0.01)])
    provider = ScriptedProvider("m2", [Raise(ServerError("boom"))])
    provider = ScriptedProvider("m3", [Hang()])
    provider = ScriptedProvider("m4", [Reply("held back", gate=gate)])  # gate = Gate()

Each call to ``stream``/``complete`` takes the next script step (the last step
repeats). ``calls`` counts requests; ``cancelled`` counts streams cancelled;
``started`` is set once a stream has begun its step.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from drux.errors import DruxError
from drux.types import ChatRequest, Chunk, Completion, Usage

if TYPE_CHECKING:
    from drux.services import Services


class Gate:
    """Holds replies back until the test opens it, so a test sees a state that would
    otherwise last only as long as a timer (a column still streaming, say).

    The browser tests' server runs its event loop in another thread: opening wakes each
    waiter on its own loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._opened = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def open(self) -> None:
        with self._lock:
            self._opened = True
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits
                loop.call_soon_threadsafe(event.set)

    async def wait(self) -> None:
        event = asyncio.Event()
        with self._lock:
            if self._opened:
                return
            self._waiters.append((asyncio.get_running_loop(), event))
        await event.wait()


@dataclass
class Reply:
    text: str
    delay: float = 0.0  # seconds between tokens
    first_delay: float = 0.0
    fail_after: int | None = None  # raise ``error`` after this many tokens
    error: DruxError | None = None
    gate: Gate | None = None  # the last word waits until this opens
    finish: str = "stop"  # the finish reason ("length": the token limit cut the answer)


@dataclass
class Raise:
    error: DruxError
    delay: float = 0.0


@dataclass
class Hang:
    pass


Step = Reply | Raise | Hang


@dataclass
class ScriptedProvider:
    model: str
    script: list[Step]
    calls: int = 0
    cancelled: int = 0
    requests: list[ChatRequest] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return f"scripted:{self.model}"

    def _next(self) -> Step:
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        return step

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        self.requests.append(request)
        step = self._next()
        try:
            self.started.set()
            if isinstance(step, Hang):
                await asyncio.Event().wait()
            if isinstance(step, Raise):
                await asyncio.sleep(step.delay)
                raise step.error
            assert isinstance(step, Reply)
            await asyncio.sleep(step.first_delay)
            words = step.text.split(" ")
            for i, word in enumerate(words):
                if step.fail_after is not None and i >= step.fail_after:
                    assert step.error is not None
                    raise step.error
                if step.gate is not None and i == len(words) - 1:
                    await step.gate.wait()
                yield Chunk(text=word if i == 0 else " " + word, deployment=self.name)
                await asyncio.sleep(step.delay)
            yield Chunk(finish_reason=step.finish, usage=Usage(5, len(words)), deployment=self.name)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def complete(self, request: ChatRequest) -> Completion:
        parts: list[str] = []
        usage = Usage()
        async for chunk in self.stream(request):
            parts.append(chunk.text)
            usage = chunk.usage or usage
        return Completion(text="".join(parts), model=self.model, deployment=self.name, usage=usage)

    async def aclose(self) -> None:
        return None


def factory(providers: dict[str, ScriptedProvider]) -> Callable[..., ScriptedProvider]:
    """A ``provider_factory`` for ``Services`` that hands out the scripted providers by id."""

    def build(spec: object, _config: object) -> ScriptedProvider:
        return providers[spec.id]  # type: ignore[attr-defined]

    return build


# A drux.toml whose default panel is three keyless models of three families, for tests
# that inject scripted providers behind the real config and routing.
FAKE_PANEL_TOML = """
[models.alpha]
provider = "ollama"
family = "fam-a"
[models.beta]
provider = "ollama"
family = "fam-b"
[models.gamma]
provider = "ollama"
family = "fam-c"

[panels]
default = ["alpha", "beta", "gamma"]
"""


@contextlib.contextmanager
def scripted_services(project_dir: Path, toml: str
                      ) -> Iterator[Callable[[dict[str, ScriptedProvider]], Services]]:
    """``make(providers)``: Services on this drux.toml with scripted providers behind the real
    config and routing; every one made is closed at the end."""
    from drux.config import load_config
    from drux.services import Services

    (project_dir / "project.toml").write_text(toml)
    made: list[Services] = []

    def make(providers: dict[str, ScriptedProvider]) -> Services:
        services = Services(load_config(), provider_factory=factory(providers))
        made.append(services)
        return services

    try:
        yield make
    finally:
        for services in made:
            asyncio.run(services.aclose())
