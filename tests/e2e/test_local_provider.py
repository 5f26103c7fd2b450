"""The local provider with the real offline weights (run `make models` first)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from drux.config import AppConfig, load_config
from drux.errors import ContextWindowExceededError
from drux.panel import Failed, Finished, run_panel
from drux.providers import build_provider
from drux.providers.local import LoadedModel, LocalModelPool, LocalProvider
from drux.types import ChatRequest, Chunk, Message

pytestmark = pytest.mark.e2e

QUESTION = "What is the boiling point of water at sea level in Celsius?"
STORY = "Write a very long story about a lighthouse keeper and a storm, with many chapters."


@pytest.fixture
def config(drux_env: Any) -> AppConfig:
    return load_config()


def _provider(config: AppConfig, model: str = "smollm2-135m") -> LocalProvider:
    provider = build_provider(config.catalog.model(model), config)
    assert isinstance(provider, LocalProvider)
    return provider


def _ask(text: str, **kw: Any) -> ChatRequest:
    kw.setdefault("temperature", 0.0)
    return ChatRequest([Message("user", text)], **kw)


async def _idle(model: LoadedModel, limit: float = 60.0) -> bool:
    """Wait for the generation thread to let go of the model (not a timing assertion)."""
    if not await asyncio.to_thread(model.lock.acquire, timeout=limit):
        return False
    model.lock.release()
    return True


async def test_streams_tokens_with_usage(config: AppConfig) -> None:
    provider = _provider(config)
    chunks: list[Chunk] = [c async for c in provider.stream(_ask(QUESTION, max_tokens=40))]
    texts = [c.text for c in chunks if c.text]
    assert len(texts) >= 2, "the answer should arrive in several pieces"
    last = chunks[-1]
    assert last.finish_reason in ("stop", "length") and last.usage is not None
    assert all(c.usage is None and c.finish_reason is None for c in chunks[:-1])
    assert all(c.deployment == "local:smollm2-135m" for c in chunks)
    model = await provider.load()
    prompt_tokens, _ = model.chat_prompt([{"role": "user", "content": QUESTION}])
    assert last.usage.input_tokens == len(prompt_tokens)
    assert 1 <= last.usage.output_tokens <= 40
    assert "".join(texts).strip()


async def test_complete_stops_at_max_tokens(config: AppConfig) -> None:
    completion = await _provider(config).complete(_ask(STORY, max_tokens=5))
    assert completion.finish_reason == "length"
    assert completion.usage.output_tokens == 5
    assert completion.model == "smollm2-135m" and completion.deployment == "local:smollm2-135m"
    assert completion.text.strip()


async def test_greedy_is_repeatable_and_seed_is_respected(config: AppConfig) -> None:
    provider = _provider(config)
    greedy = [(await provider.complete(_ask(QUESTION, max_tokens=24))).text for _ in range(2)]
    assert greedy[0] == greedy[1]
    hot = [(await provider.complete(_ask(STORY, max_tokens=24, temperature=1.5, seed=s))).text
           for s in (11, 11, 12)]
    assert hot[0] == hot[1]
    assert hot[0] != hot[2]


async def test_stop_strings_cut_the_answer(config: AppConfig) -> None:
    provider = _provider(config)
    full = (await provider.complete(_ask(STORY, max_tokens=40))).text
    words = full.split()
    assert len(words) > 6
    stop = f" {words[5]}"
    cut = await provider.complete(_ask(STORY, max_tokens=40, stop=[stop]))
    assert cut.text == full[: full.index(stop)]
    assert cut.finish_reason == "stop"


async def test_system_prompt_reaches_the_template(config: AppConfig) -> None:
    provider = _provider(config)
    model = await provider.load()
    request = ChatRequest([Message("system", "You answer in French."), Message("user", QUESTION)],
                          max_tokens=4, temperature=0.0)
    chunks = [c async for c in provider.stream(request)]
    tokens, _ = model.chat_prompt([{"role": "system", "content": "You answer in French."},
                                   {"role": "user", "content": QUESTION}])
    assert chunks[-1].usage is not None and chunks[-1].usage.input_tokens == len(tokens)
    assert "You answer in French." in model.llm.detokenize(tokens).decode()


async def test_too_long_prompt_is_refused_before_generating(config: AppConfig) -> None:
    provider = _provider(config)
    received: list[Chunk] = []
    with pytest.raises(ContextWindowExceededError) as info:
        async for chunk in provider.stream(_ask("lighthouse " * 6000)):
            received.append(chunk)
    assert received == []
    assert "window" in str(info.value) and info.value.model == "smollm2-135m"
    assert info.value.provider == "local:smollm2-135m"
    assert (await provider.complete(_ask(QUESTION, max_tokens=4))).usage.output_tokens >= 1


async def _generated_after(model: LoadedModel, prompt_len: int) -> int:
    assert await _idle(model), "the generation thread did not stop"
    return int(model.llm.n_tokens) - prompt_len


async def test_consumer_that_stops_reading_stops_generation(config: AppConfig) -> None:
    provider = _provider(config)
    model = await provider.load()
    prompt_len = len(model.chat_prompt([{"role": "user", "content": STORY}])[0])
    stream = provider.stream(_ask(STORY, max_tokens=2000))
    async with contextlib.aclosing(stream):
        pieces = 0
        async for chunk in stream:
            pieces += bool(chunk.text)
            if pieces == 3:
                break
    assert await _generated_after(model, prompt_len) < 60
    again = await provider.complete(_ask(QUESTION, max_tokens=8))
    assert again.text.strip() and again.usage.output_tokens >= 1


async def test_cancelled_task_stops_generation(config: AppConfig) -> None:
    provider = _provider(config)
    model = await provider.load()
    prompt_len = len(model.chat_prompt([{"role": "user", "content": STORY}])[0])
    first = asyncio.Event()

    async def consume() -> None:
        async for chunk in provider.stream(_ask(STORY, max_tokens=2000)):
            if chunk.text:
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _generated_after(model, prompt_len) < 60
    assert (await provider.complete(_ask(QUESTION, max_tokens=8))).text.strip()


async def test_deadline_stops_generation(config: AppConfig) -> None:
    provider = _provider(config)
    model = await provider.load()
    prompt_len = len(model.chat_prompt([{"role": "user", "content": STORY}])[0])
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            async for _ in provider.stream(_ask(STORY, max_tokens=2000)):
                pass
    # Left alone, this greedy story runs to the full 2000 tokens.
    assert await _generated_after(model, prompt_len) < 1000


async def test_concurrent_asks_share_one_model_in_turn(config: AppConfig) -> None:
    provider = _provider(config)
    alone = (await provider.complete(_ask(QUESTION, max_tokens=20))).text
    both = await asyncio.gather(provider.complete(_ask(QUESTION, max_tokens=20)),
                                _provider(config).complete(_ask(QUESTION, max_tokens=20)))
    assert [c.text for c in both] == [alone, alone]


async def test_one_llama_per_file_across_providers(config: AppConfig) -> None:
    first, second = _provider(config), _provider(config)
    assert first is not second
    loaded = (await first.load()).llm
    size = len(LocalModelPool.shared())
    await first.complete(_ask(QUESTION, max_tokens=3))
    await second.complete(_ask(QUESTION, max_tokens=3))
    assert (await second.load()).llm is loaded
    assert len(LocalModelPool.shared()) == size


async def test_private_pool_loads_its_own_copy_and_closes(config: AppConfig) -> None:
    shared = await _provider(config).load()
    pool = LocalModelPool()
    spec = config.catalog.model("smollm2-135m")
    own = LocalProvider(spec, shared.path, pool=pool, threads=1)
    try:
        assert (await own.complete(_ask(QUESTION, max_tokens=3))).usage.output_tokens >= 1
        assert (await own.load()).llm is not shared.llm
        assert len(pool) == 1
    finally:
        pool.close()
    assert len(pool) == 0


async def test_gemma_base_model_gives_a_short_fewshot_answer(config: AppConfig) -> None:
    completion = await _provider(config, "gemma3-270m").complete(
        _ask("What is the capital of Italy?", max_tokens=40))
    assert completion.finish_reason == "stop"
    assert "Rome" in completion.text
    assert "\n" not in completion.text and "Q:" not in completion.text
    assert completion.text == completion.text.lstrip()
    assert completion.usage.input_tokens > 40  # the examples are part of the prompt


async def test_qwen_answers(config: AppConfig) -> None:
    completion = await _provider(config, "qwen2.5-0.5b").complete(
        _ask("Name the largest planet in the solar system.", max_tokens=30))
    assert "Jupiter" in completion.text
    assert completion.usage.output_tokens >= 1 and completion.usage.input_tokens > 5


async def test_panel_of_three_local_families(config: AppConfig) -> None:
    ids = config.catalog.panel("default")
    members = {m: build_provider(config.catalog.model(m), config) for m in ids}
    requests = {m: _ask(QUESTION, max_tokens=24) for m in ids}
    ends = [e async for e in run_panel(members, requests, deadlines=120.0)
            if isinstance(e, Finished | Failed)]
    assert sorted(e.model for e in ends) == sorted(ids)
    assert all(isinstance(e, Finished) and e.completion.text.strip() for e in ends), ends
