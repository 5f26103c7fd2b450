"""Tokens/s through drux's local provider vs raw llama-cpp-python, in one run.

Same model file, prompt, thread count, window and max tokens; greedy decoding.
Five ways to generate take turns, the first one rotating each round:

- ``drux``: ``LocalProvider.stream()`` (worker thread, asyncio hand-off, stop
  strings, usage), in its own ``LocalModelPool``;
- ``drux (wake per token)``: the same with ``stream_interval=0``, handing each
  token to the event loop as it comes (what drux did before coalescing);
- ``raw chat``: ``Llama.create_chat_completion(stream=True)`` with the model's own
  chat template, the usual way to stream a chat answer from llama-cpp-python;
- ``raw generate``: a bare ``Llama.generate()`` token loop on the same prompt
  tokens, detokenizing each token: the floor any wrapper builds on;
- ``raw generate (thread)``: the same loop in a fresh worker thread per run, as
  drux runs it. Which thread calls llama.cpp matters here (its OpenMP team
  belongs to the calling thread), so this is the strictest baseline.

Both sides run with the same ``OMP_WAIT_POLICY`` (drux defaults it to PASSIVE
before llama.cpp loads; see ``drux.providers.local.import_llama``).

Every run starts from an empty KV cache, as a new question does (drux resets
it per ask; the raw paths call ``Llama.reset()``), so no path skips the prompt
because the benchmark repeats it.

Decode tokens/s = (output tokens - 1) / (end - first token), the panel's
definition. The load of a shared machine drifts within seconds, so the ratio
drux / baseline is taken per round (runs next to each other in time) and the
median of those paired ratios is reported, with the medians of each path.
CPU time per token (the whole process, every thread) is far less disturbed by
other programs than wall time, so it shows the wrapper's own cost best.

    .venv/bin/python bench/local.py [--model smollm2-135m] [--rounds 15] [--max-tokens 128] [--append]

``--omp`` measures instead why drux sets ``OMP_WAIT_POLICY=PASSIVE``: the
default panel's local models answering at once, each round in two fresh
processes, one with the passive wait and one with libgomp's default.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drux.config import load_config
from drux.providers.local import (
    LocalModelPool,
    LocalProvider,
    context_window,
    import_llama,
    resolve_threads,
)
from drux.types import ChatRequest, Message
from drux.weights import ready_path

PROMPT = "Write a very long story about a lighthouse keeper and a storm, with many chapters."
RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## Local provider overhead (bench/local.py)"


@dataclass
class Run:
    tokens: int
    first_s: float
    total_s: float
    text: str
    cpu_s: float = 0.0  # CPU time of the whole process during the run, all threads

    @property
    def cpu_ms_per_token(self) -> float:
        return 1000 * self.cpu_s / self.tokens

    @property
    def decode_tps(self) -> float:
        return (self.tokens - 1) / (self.total_s - self.first_s)

    @property
    def overall_tps(self) -> float:
        return self.tokens / self.total_s


def run_drux(loop: asyncio.AbstractEventLoop, provider: LocalProvider, max_tokens: int) -> Run:
    async def go() -> Run:
        request = ChatRequest([Message("user", PROMPT)], temperature=0.0, max_tokens=max_tokens)
        parts: list[str] = []
        first = 0.0
        start = time.perf_counter()
        tokens = 0
        async for chunk in provider.stream(request):
            if chunk.text:
                if not parts:
                    first = time.perf_counter() - start
                parts.append(chunk.text)
            if chunk.usage is not None:
                tokens = chunk.usage.output_tokens
        return Run(tokens, first, time.perf_counter() - start, "".join(parts))

    return loop.run_until_complete(go())


def run_raw_chat(llm: Any, max_tokens: int) -> Run:
    parts: list[str] = []
    first = 0.0
    finish = None
    llm.reset()
    start = time.perf_counter()
    for chunk in llm.create_chat_completion([{"role": "user", "content": PROMPT}], temperature=0.0,
                                            max_tokens=max_tokens, stream=True):
        choice = chunk["choices"][0]
        text = choice["delta"].get("content")
        if text:
            if not parts:
                first = time.perf_counter() - start
            parts.append(text)
        finish = choice.get("finish_reason") or finish
    total = time.perf_counter() - start
    text = "".join(parts)
    # The stream carries no usage: a "length" finish means exactly max_tokens were generated.
    tokens = max_tokens if finish == "length" else len(llm.tokenize(text.encode(), add_bos=False))
    return Run(tokens, first, total, text)


def run_raw_generate(llm: Any, prompt_tokens: list[int], max_tokens: int) -> Run:
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    pieces: list[bytes] = []
    first = 0.0
    llm.reset()
    start = time.perf_counter()
    for token in llm.generate(prompt_tokens, temp=0.0, top_p=0.95, top_k=40, min_p=0.05,
                              repeat_penalty=1.0):
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            break
        if not pieces:
            first = time.perf_counter() - start
        pieces.append(llm.detokenize([token]))
        if len(pieces) >= max_tokens:
            break
    total = time.perf_counter() - start
    return Run(len(pieces), first, total, b"".join(pieces).decode("utf-8", "replace"))


def in_thread(run: Callable[[], Run]) -> Run:
    result: list[Run] = []
    worker = threading.Thread(target=lambda: result.append(run()))
    worker.start()
    worker.join()
    return result[0]


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines()
                     if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or "unknown CPU"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    policy = os.environ.get("OMP_WAIT_POLICY", "unset")
    return (f"{model}, {os.cpu_count()} cores, load average {load} (shared machine), "
            f"Python {platform.python_version()}, OMP_WAIT_POLICY={policy}")


def timed(runner: Callable[[], Run]) -> Run:
    cpu = time.process_time()
    run = runner()
    run.cpu_s = time.process_time() - cpu
    return run


def measure(runners: dict[str, Callable[[], Run]], rounds: int) -> dict[str, list[Run]]:
    names = list(runners)
    for name in names:  # warm-up: page the file in, settle caches
        runners[name]()
    results: dict[str, list[Run]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            results[name].append(timed(runners[name]))
    return results


def report(results: dict[str, list[Run]], args: argparse.Namespace, threads: int) -> str:
    lines = [
        f"### {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · {args.model}",
        "",
        f"- machine: {machine()}",
        f"- {args.rounds} rounds (after one warm-up each), {threads} threads, greedy, "
        f"max {args.max_tokens} tokens, prompt: \"{PROMPT}\"",
        "",
        "| path | decode tok/s median (range) | end-to-end tok/s median "
        "| drux / path, decode: paired median (quartiles) | drux / path, end-to-end: paired median "
        "| CPU ms per token (median) | path CPU / drux CPU: paired median "
        "| tokens | same text as drux |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    mine = results["drux"]
    for name, runs in results.items():
        decode = sorted(run.decode_tps for run in runs)
        ratios = [a.decode_tps / b.decode_tps for a, b in zip(mine, runs, strict=True)]
        q1, _, q3 = statistics.quantiles(ratios, n=4)
        overall = statistics.median(a.overall_tps / b.overall_tps for a, b in zip(mine, runs, strict=True))
        cpu = statistics.median(b.cpu_s / a.cpu_s for a, b in zip(mine, runs, strict=True))
        same = all(run.text == mine[0].text for run in runs)
        tokens = ", ".join(map(str, sorted({run.tokens for run in runs})))
        lines.append(
            f"| {name} | {statistics.median(decode):.1f} ({decode[0]:.0f}-{decode[-1]:.0f}) | "
            f"{statistics.median(run.overall_tps for run in runs):.1f} | "
            f"{statistics.median(ratios):.1%} ({q1:.0%}-{q3:.0%}) | {overall:.1%} | "
            f"{statistics.median(run.cpu_ms_per_token for run in runs):.2f} | {cpu:.1%} | {tokens} | "
            f"{'yes' if same else 'no'} |")
    return "\n".join(lines) + "\n"


def append(entry: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if SECTION not in text:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\nSee the docstring of bench/local.py for what " \
            "each path is. Goal: drux >= 95 % of raw.\n"
    start = text.index(SECTION) + len(SECTION)
    following = text.find("\n## ", start)
    end = len(text) if following < 0 else following + 1
    body = text[start:end].rstrip("\n") + "\n\n" + entry
    text = text[:start] + body + ("\n" + text[end:] if following >= 0 else "")
    RESULTS.write_text(text)


def panel_child(args: argparse.Namespace) -> None:
    """One process: the default panel's local models answer at once; prints the wall time."""
    if args.native_default:
        import llama_cpp  # noqa: F401  # loads libgomp before drux can set OMP_WAIT_POLICY
    config = load_config()
    pool = LocalModelPool()
    threads = resolve_threads(args.threads or config.settings.threads)
    providers = []
    for model in config.catalog.panel("default"):
        spec = config.catalog.model(model)
        providers.append(LocalProvider(spec, ready_path(spec, config.settings.models_dir),
                                       threads=threads, pool=pool))
    request = ChatRequest([Message("user", PROMPT)], temperature=0.0, max_tokens=args.max_tokens)

    async def go() -> None:
        for provider in providers:
            await provider.load()
        start = time.perf_counter()
        done = await asyncio.gather(*(provider.complete(request) for provider in providers))
        tokens = sum(c.usage.output_tokens for c in done)
        print(json.dumps({"wall": time.perf_counter() - start, "tokens": tokens}))

    asyncio.run(go())
    pool.close()


def omp_policy(args: argparse.Namespace) -> str:
    """The default panel, all models at once, in fresh processes: passive wait vs libgomp's default."""
    variants = {"PASSIVE (drux)": ["--panel-child"],
                "libgomp default (spin, then sleep)": ["--panel-child", "--native-default"]}
    walls: dict[str, list[float]] = {name: [] for name in variants}
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    common = ["--max-tokens", str(args.max_tokens), "--threads", str(args.threads)]
    for r in range(args.rounds):
        for name in list(variants)[r % 2:] + list(variants)[: r % 2]:
            out = subprocess.run([sys.executable, __file__, *variants[name], *common], env=env,
                                 capture_output=True, text=True, check=True).stdout
            walls[name].append(json.loads(out.strip().splitlines()[-1])["wall"])
    passive = walls["PASSIVE (drux)"]
    lines = [
        f"### {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · OpenMP wait policy, default panel at once",
        "",
        f"- machine: {machine().rsplit(', OMP', 1)[0]}",
        f"- {args.rounds} rounds, each a fresh process per variant; the panel's local models "
        f"answer the same prompt concurrently (greedy, max {args.max_tokens} tokens each)",
        "",
        "| variant | wall s median (range) | variant / passive: paired median |",
        "|---|---|---|",
    ]
    for name, values in walls.items():
        paired = statistics.median(v / p for p, v in zip(passive, values, strict=True))
        lines.append(f"| {name} | {statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"
                     f" | {paired:.2f}x |")
    return "\n".join(lines) + "\n"


def overhead(args: argparse.Namespace) -> str:
    config = load_config()
    spec = config.catalog.model(args.model)
    path = ready_path(spec, config.settings.models_dir)
    threads = resolve_threads(args.threads or config.settings.threads)
    n_ctx = context_window(spec)
    pool = LocalModelPool()
    loop = asyncio.new_event_loop()
    provider = LocalProvider(spec, path, threads=threads, pool=pool)
    per_token = LocalProvider(spec, path, threads=threads, pool=pool, stream_interval=0.0)
    raw = import_llama()(model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                verbose=False, chat_format="chat_template.default")
    prompt_tokens, _ = pool.get(path, threads=threads, n_ctx=n_ctx).chat_prompt(
        [{"role": "user", "content": PROMPT}])
    runners: dict[str, Callable[[], Run]] = {
        "drux": lambda: run_drux(loop, provider, args.max_tokens),
        "drux (wake per token)": lambda: run_drux(loop, per_token, args.max_tokens),
        "raw chat": lambda: run_raw_chat(raw, args.max_tokens),
        "raw generate": lambda: run_raw_generate(raw, prompt_tokens, args.max_tokens),
        "raw generate (thread)": lambda: in_thread(
            lambda: run_raw_generate(raw, prompt_tokens, args.max_tokens)),
    }
    try:
        return report(measure(runners, args.rounds), args, threads)
    finally:
        raw.close()
        pool.close()
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0, help="0: drux's setting (0 = all cores)")
    parser.add_argument("--append", action="store_true", help=f"append the results to {RESULTS}")
    parser.add_argument("--omp", action="store_true",
                        help="instead: the default panel at once, passive vs default OpenMP wait")
    parser.add_argument("--panel-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--native-default", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.panel_child:
        panel_child(args)
        return
    entry = omp_policy(args) if args.omp else overhead(args)
    print(entry)
    if args.append:
        append(entry)
        print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
