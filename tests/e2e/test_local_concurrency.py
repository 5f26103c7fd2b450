"""Several asks at once on the real local SmolLM2: turns on the one loaded model, deadlines
while queued, cancellation and client disconnects (run `make models` first)."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from drux.config import AppConfig, load_config
from drux.errors import WeightsError
from drux.providers.local import LoadedModel, LocalProvider
from drux.services import Services
from drux.types import ChatRequest, Message
from drux.weights import ready_path

from waiting import eventually, wait_until

pytestmark = pytest.mark.e2e

MODEL = "smollm2-135m"
QUESTION = "What is the boiling point of water at sea level in Celsius?"
STORY = "Write a very long story about a lighthouse keeper and a storm, with many chapters."
LONG = 2000  # left alone, the greedy story runs to the full 2000 tokens
LIMIT = 120.0  # generous bound for anything awaited; never a timing assertion


@pytest.fixture
def config(drux_env: Any) -> AppConfig:
    config = load_config()
    try:
        ready_path(config.catalog.model(MODEL), config.settings.models_dir)
    except WeightsError as err:
        pytest.skip(f"{err} (run `make models`)")
    return config


@pytest.fixture
async def services(config: AppConfig) -> AsyncIterator[Services]:
    services = Services(config)
    yield services
    await services.aclose()


def _ask(text: str, max_tokens: int, **kw: Any) -> ChatRequest:
    return ChatRequest([Message("user", text)], temperature=0.0, max_tokens=max_tokens, **kw)


async def _model(services: Services) -> LoadedModel:
    adapter = services.unrouted_provider(services.config.catalog.model(MODEL))
    assert isinstance(adapter, LocalProvider)
    return await adapter.load()


async def _generated_when_idle(model: LoadedModel, prompt_len: int) -> int:
    """Tokens the model had generated when its generation thread let go of it."""
    assert await asyncio.to_thread(model.lock.acquire, timeout=LIMIT), "the model stayed busy"
    try:
        return int(model.llm.n_tokens) - prompt_len
    finally:
        model.lock.release()


def _prompt_len(model: LoadedModel, text: str) -> int:
    return len(model.chat_prompt([{"role": "user", "content": text}])[0])


class _Client:
    """One HTTP exchange driven straight through the gateway's ASGI interface, with a
    disconnect the test triggers (uvicorn reports it to the app the same way)."""

    def __init__(self, body: dict[str, Any]) -> None:
        self._body = orjson.dumps(body)
        self._sent_body = False
        self.gone = asyncio.Event()
        self.messages: list[dict[str, Any]] = []
        self.started = asyncio.Event()

    @property
    def scope(self) -> dict[str, Any]:
        return {"type": "http", "method": "POST", "path": "/v1/chat/completions",
                "root_path": "", "headers": [(b"content-type", b"application/json")],
                "client": ("127.0.0.1", 50000), "query_string": b""}

    async def receive(self) -> dict[str, Any]:
        if not self._sent_body:
            self._sent_body = True
            return {"type": "http.request", "body": self._body, "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self.started.set()

    def json(self) -> tuple[int, Any]:
        status = next(m["status"] for m in self.messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body")
        return status, orjson.loads(body)


def _chat(text: str, max_tokens: int, *, stream: bool = False) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": max_tokens, "temperature": 0, "stream": stream,
            "messages": [{"role": "user", "content": text}]}


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """What the event loop reports through its exception handler ("Task exception was never
    retrieved", an exception in a callback) while the test runs."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield seen
    loop.set_exception_handler(previous)


@pytest.fixture
async def gateway(services: Services) -> AsyncIterator[Any]:
    from drux.gateway import create_gateway_app

    app = create_gateway_app(services)
    await app.startup()
    yield app
    await app.shutdown()


async def test_gateway_json_client_that_disconnects_stops_generation(
        services: Services, gateway: Any, loop_errors: list[dict[str, Any]]) -> None:
    model = await _model(services)
    prompt_len = _prompt_len(model, STORY)
    client = _Client(_chat(STORY, LONG))
    call = asyncio.create_task(gateway(client.scope, client.receive, client.send))
    # llama.cpp's worker thread signals nothing: its states are polled (bounded, not timed)
    await eventually(lambda: model.busy, "the model never got busy with the only call",
                     patience=LIMIT)
    client.gone.set()
    async with asyncio.timeout(LIMIT):
        await call
    assert not client.messages, "nobody is left to answer"
    assert await _generated_when_idle(model, prompt_len) < LONG // 2
    await _answers_normally_after(gateway, loop_errors)


async def _answers_normally_after(gateway: Any, loop_errors: list[dict[str, Any]]) -> None:
    """The next call through the gateway is answered, and no task error was left behind."""
    after = _Client(_chat(QUESTION, 8))
    async with asyncio.timeout(LIMIT):
        await gateway(after.scope, after.receive, after.send)
    status, body = after.json()
    assert status == 200 and body["choices"][0]["message"]["content"].strip()
    gc.collect()
    await asyncio.sleep(0)
    assert loop_errors == []


def _workers() -> int:
    return sum(t.name == f"drux-local:{MODEL}" for t in threading.enumerate())


async def test_gateway_stream_client_that_leaves_while_queued_gets_no_turn(
        services: Services, gateway: Any, loop_errors: list[dict[str, Any]]) -> None:
    model = await _model(services)
    prompt_len = _prompt_len(model, STORY)
    busy = _Client(_chat(STORY, LONG, stream=True))
    first = asyncio.create_task(gateway(busy.scope, busy.receive, busy.send))
    await asyncio.wait_for(busy.started.wait(), LIMIT)
    queued = _Client(_chat(QUESTION, 8, stream=True))
    second = asyncio.create_task(gateway(queued.scope, queued.receive, queued.send))
    # its generation thread waits for the model (polled: llama.cpp's threads signal nothing)
    await eventually(lambda: _workers() == 2, "the second worker never started", patience=LIMIT)
    queued.gone.set()
    done, _ = await asyncio.wait([first, second], timeout=LIMIT,
                                 return_when=asyncio.FIRST_COMPLETED)
    assert done == {second}, "the queued call waited for the busy one to finish"
    assert not queued.messages
    busy.gone.set()
    async with asyncio.timeout(LIMIT):
        await first
    assert await _generated_when_idle(model, prompt_len) < LONG // 2
    await _answers_normally_after(gateway, loop_errors)


_OPENER = """
import sys
from sqlalchemy import event
from drux.store.db import make_engine, migrate

def trace(statement):
    if statement.split()[0].upper() in ("BEGIN", "CREATE", "INSERT"):
        print("writing", flush=True)

engine = make_engine("sqlite:///" + sys.argv[1])
event.listen(engine, "connect", lambda conn, _: conn.set_trace_callback(trace))
migrate(engine)
"""


def test_processes_opening_a_new_database_at_once_all_migrate_it(tmp_path: Path) -> None:
    """The race, pinned: a writer holds the new file's lock until both openers have reached
    their first write; then both go on. Without the write lock taken before the schema is
    read, both saw no tables and the second failed creating them."""
    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")  # as drux opens it, so its PRAGMA needs no lock
    holder.execute("BEGIN IMMEDIATE")
    procs = [subprocess.Popen([sys.executable, "-c", _OPENER, str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        assert all(proc.stdout and proc.stdout.readline() == "writing\n" for proc in procs)
    finally:
        holder.execute("COMMIT")
        holder.close()
    errors = [proc.communicate(timeout=LIMIT)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], errors


_WAL_SWITCHER = """
import sys
from sqlalchemy import event
from drux.store.db import make_engine

tries = 0

def trace(statement):
    global tries
    if statement.startswith("PRAGMA journal_mode"):
        tries += 1
        if tries == 2:
            print("retrying", flush=True)

engine = make_engine("sqlite:///" + sys.argv[1])
event.listen(engine, "connect", lambda conn, _: conn.set_trace_callback(trace), insert=True)
with engine.connect() as conn:
    print(conn.exec_driver_sql("PRAGMA journal_mode").scalar(), flush=True)
"""


def test_switching_a_new_database_to_wal_waits_for_the_other_writer(tmp_path: Path) -> None:
    """Two processes switching a new file to WAL at once: SQLite fails one of them at once,
    without its busy timeout (pinned here by a writer holding the file in its old mode)."""
    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    proc = subprocess.Popen([sys.executable, "-c", _WAL_SWITCHER, str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        retried = proc.stdout.readline()
    finally:
        holder.execute("COMMIT")
        holder.close()
    out, err = proc.communicate(timeout=LIMIT)
    assert retried == "retrying\n", err
    assert proc.returncode == 0 and out.strip() == "wal", err


def test_two_cli_asks_at_once_on_a_new_database(drux_env: Path, config: AppConfig) -> None:
    drux = str(Path(sys.executable).parent / "drux")
    procs = [subprocess.Popen([drux, "ask", "-m", MODEL, question, "--max-tokens", "8",
                               "--temperature", "0", "--json"], env=os.environ.copy(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for question in (QUESTION, "Name a primary colour.")]
    results = [proc.communicate(timeout=LIMIT) for proc in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert orjson.loads(out)["status"] == "complete"
    store = Services(config).store
    try:
        assert len(store.asks.list()) == 2
    finally:
        store.close()


async def _ended(runner: Any, ask_id: str) -> dict[str, Any]:
    run = runner.get(ask_id)
    async with asyncio.timeout(LIMIT):
        async for _ in run.follow():
            pass
    return next(e for e in run.events if e["type"] == "done")


async def _first_token(runner: Any, ask_id: str) -> None:
    async with asyncio.timeout(LIMIT):
        async for item in runner.get(ask_id).follow():
            if item is not None and item[1]["type"] == "token":
                return


def _answer(services: Services, ask_id: str) -> dict[str, Any]:
    record = services.store.asks.get(ask_id)
    assert record is not None
    return {"status": record.status, **record.answers[0].model_dump()}


async def test_web_asks_at_once_get_their_own_answers(services: Services) -> None:
    from drux.services.ask import AskOptions
    from drux.web.runner import AskRunner

    def opts(question: str) -> AskOptions:
        return AskOptions(question=question, models=[MODEL], max_tokens=16, temperature=0.0,
                          source="api")

    runner = AskRunner(services)
    questions = (QUESTION, "Name a primary colour.", "What is the capital of Italy?")
    alone = []
    for question in questions:
        ask_id = await runner.start(opts(question))
        await _ended(runner, ask_id)
        alone.append(_answer(services, ask_id)["text"])
    assert len(set(alone)) == 3 and all(alone)
    ids = [await runner.start(opts(question)) for question in questions]
    for ask_id in ids:
        assert (await _ended(runner, ask_id))["status"] == "complete"
    assert [_answer(services, ask_id)["text"] for ask_id in ids] == alone


async def test_web_ask_whose_deadline_passes_in_the_queue_fails_as_a_timeout(
        services: Services, loop_errors: list[dict[str, Any]]) -> None:
    from drux.services.ask import AskOptions
    from drux.web.runner import AskRunner

    model = await _model(services)
    prompt_len = len(model.chat_prompt([{"role": "system", "content": _system()},
                                        {"role": "user", "content": STORY}])[0])
    runner = AskRunner(services)
    busy = await runner.start(AskOptions(question=STORY, models=[MODEL], max_tokens=LONG,
                                         temperature=0.0, timeout=LIMIT, source="api"))
    await _first_token(runner, busy)
    queued = await runner.start(AskOptions(question=QUESTION, models=[MODEL], max_tokens=8,
                                           temperature=0.0, timeout=1.0, source="api"))
    assert (await _ended(runner, queued))["status"] == "failed"
    answer = _answer(services, queued)
    assert answer["error"]["type"] == "timeout" and answer["status"] == "failed"
    busy_run = runner.get(busy)
    assert busy_run is not None and not busy_run.done, "the busy ask went on"
    await runner.aclose(grace=0)  # shutdown: the busy ask is cancelled and saved partial
    assert _answer(services, busy)["status"] == "partial"
    assert await _generated_when_idle(model, prompt_len) < LONG // 2
    after = await runner.start(AskOptions(question=QUESTION, models=[MODEL], max_tokens=8,
                                          temperature=0.0, source="api"))
    assert (await _ended(runner, after))["status"] == "complete"
    assert _answer(services, after)["text"].strip()
    gc.collect()
    await asyncio.sleep(0)
    assert loop_errors == []


def _system() -> str:
    from drux.services.ask import DEFAULT_SYSTEM

    return DEFAULT_SYSTEM


async def test_concurrent_first_use_loads_the_model_once(config: AppConfig) -> None:
    from drux.providers.local import LocalModelPool

    pool = LocalModelPool()
    spec = config.catalog.model(MODEL)
    path = ready_path(spec, config.settings.models_dir)
    providers = [LocalProvider(spec, path, pool=pool, threads=1) for _ in range(3)]
    try:
        answers = await asyncio.gather(*(p.complete(_ask(QUESTION, 8)) for p in providers))
        assert len(pool) == 1
        assert len({id((await p.load()).llm) for p in providers}) == 1
        assert len({a.text for a in answers}) == 1 and answers[0].text.strip()
    finally:
        pool.close()


def test_ctrl_c_on_a_cli_ask_stops_it_and_saves_it_partial(drux_env: Path,
                                                           config: AppConfig) -> None:
    drux = str(Path(sys.executable).parent / "drux")
    # SIGINT at its default, as in a terminal: a runner started in the background (`make
    # test &` from a script) passes it on ignored, and the ask then ran to its end (exit 0).
    proc = subprocess.Popen([drux, "ask", "-m", MODEL, STORY, "--max-tokens", str(LONG),
                             "--temperature", "0", "--json"], env=os.environ.copy(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    store = Services(config).store
    try:
        def streaming() -> bool:
            asks = store.asks.list()
            record = store.asks.get(asks[0].id) if asks else None
            return bool(record and record.answers[0].text)

        def streaming_on() -> bool:  # the ask's periodic flush is the only sign from outside
            assert proc.poll() is None, "the ask ended before it was interrupted"
            return streaming()

        wait_until(streaming_on, "the answer never started streaming", patience=LIMIT)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=LIMIT)
        # What the ask printed says how it ended, should it end otherwise.
        assert proc.returncode == 130, (proc.returncode, out[-1500:], err[-1500:])
        assert "Traceback" not in err and "never retrieved" not in err, err
        record = store.asks.get(store.asks.list()[0].id)
        assert record is not None and record.status == "partial"
        assert record.answers[0].status == "partial" and record.answers[0].text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        store.close()


async def test_asks_queued_on_the_busy_model_are_served_in_arrival_order(
        services: Services) -> None:
    # The model lock used to be taken by polling, in no order: the first ask to queue
    # could wait out its deadline while later ones were answered.
    provider = services.provider(MODEL)
    model = await _model(services)
    busy = asyncio.create_task(provider.complete(_ask(STORY, 48)))
    await eventually(lambda: model.busy, "the model never got busy", patience=LIMIT)
    done: list[str] = []

    async def ask(name: str) -> None:
        await provider.complete(_ask(QUESTION, 4))
        done.append(name)

    queued = []
    for i, name in enumerate(("first", "second", "third")):
        queued.append(asyncio.create_task(ask(name)))
        await eventually(lambda i=i: model.lock.waiting >= i + 1,  # type: ignore[misc]
                         f"ask {i} never queued", patience=LIMIT)
    async with asyncio.timeout(LIMIT):
        await busy
        await asyncio.gather(*queued)
    assert done == ["first", "second", "third"]
