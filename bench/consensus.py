"""Speed of the consensus engine.

    .venv/bin/python bench/consensus.py [--runs 15] [--judge-pairs 0]

Each backend (``--backends``, default cross and fast) scores 5 answers of at most 40 words
and 5 of ~300 words (goals for the default backend, cross: <= 100 ms and <= 500 ms on this
machine) with fresh texts every run, so the embedding and judgment caches never help.
The baseline measured in the same run is the unavoidable part: embedding the
same 5 answers (plus the question) with the same MiniLM session. Also reported:
a warm re-score of identical answers (cache hits) and the first call of the
process (model load).

``--judge-pairs N`` times the offline judge (Qwen2.5-Coder-1.5B, `make models-judge`)
on N pairs: the graded log-odds judge (both orders) and the one-word text judge.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time

SENTENCES = (
    "Water boils at 100 degrees Celsius at sea level because atmospheric pressure is about 101 kPa",
    "At higher altitudes the boiling point drops, so in Denver water boils near 95 degrees",
    "The temperature stays constant while water boils until all of it has turned to vapour",
    "Adding salt raises the boiling point only slightly, by well under one degree for cooking amounts",
    "Pressure cookers raise the pressure and therefore the boiling point to about 120 degrees",
    "Some people believe cold water boils faster, but it does not",
    "The Mpemba effect concerns freezing, not boiling, and remains debated among physicists",
    "Vapour bubbles form at nucleation sites such as scratches on the bottom of the pot",
    "Distilled water can superheat in a microwave and boil violently when disturbed",
    "In Fahrenheit the boiling point of water at sea level is 212 degrees",
    "Anders Celsius defined his scale in 1742 with the boiling and freezing points of water",
    "Boiling is different from evaporation, which happens at the surface at any temperature",
)
ASIDES = ("kettle", "mountain", "kitchen", "physics", "stove", "ocean", "recipe", "altitude",
          "lid", "steam", "bubble", "weather", "pasta", "tea", "science", "lab")
QUESTION = "What is the boiling point of water, and what changes it?"


def make_answers(rng: random.Random, n: int = 5, words: int = 300) -> dict[str, str]:
    answers = {}
    for i in range(n):
        parts: list[str] = []
        while sum(len(p.split()) for p in parts) < words:
            # A random aside keeps every run's texts new (no cache hits) without numbers.
            parts.append(rng.choice(SENTENCES) + f" ({rng.choice(ASIDES)} {rng.choice(ASIDES)}).")
        answers[f"model{i + 1}"] = " ".join(" ".join(parts).split()[:words])  # at most `words`
    return answers


GOALS_MS = {40: 100.0, 300: 500.0}  # the goals for the default backend (5 answers)


def bench_backend(backend: str, words: int, runs: int) -> None:
    from drux.consensus import score_answers
    from drux.consensus.embeddings import Embedder

    rng = random.Random(f"{backend}-{words}")  # texts of their own: no cache shared across runs
    families = {f"model{i + 1}": f"family{i % 3}" for i in range(5)}
    first = make_answers(rng, words=words)
    t0 = time.perf_counter()
    score_answers(QUESTION, first, families, backend=backend)
    cold = time.perf_counter() - t0
    raw = Embedder()  # same model, separate cache: the embedding-only baseline
    raw.encode(["warm-up"])
    full, embed_only, cached, cpu = [], [], [], []
    for _ in range(runs):
        answers = make_answers(rng, words=words)
        t0 = time.perf_counter()
        raw.encode([QUESTION, *answers.values()])
        embed_only.append(time.perf_counter() - t0)
        t0, c0 = time.perf_counter(), time.process_time()
        result = score_answers(QUESTION, answers, families, backend=backend)
        full.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        t0 = time.perf_counter()
        score_answers(QUESTION, answers, families, backend=backend)
        cached.append(time.perf_counter() - t0)
    mean_words = sum(len(a.split()) for a in first.values()) / len(first)
    med = statistics.median
    goal = f"(goal <= {GOALS_MS[words]:.0f} ms)" if words in GOALS_MS else ""
    print(f"{backend} backend, 5 answers of ~{mean_words:.0f} words, {runs} runs (medians):")
    print(f"  score_answers, fresh texts : {med(full) * 1000:7.1f} ms   {goal}")
    print(f"  CPU time of that (all threads): {med(cpu) * 1000:4.1f} ms   "
          f"(wall time on a busy shared machine is higher; load average {os.getloadavg()[0]:.1f})")
    print(f"  embedding only (baseline)  : {med(embed_only) * 1000:7.1f} ms   "
          f"-> engine = {med(full) / med(embed_only):.2f}x the embedding floor")
    print(f"  same answers again (cached): {med(cached) * 1000:7.1f} ms")
    print(f"  first call incl. model load: {cold * 1000:7.1f} ms")
    print(f"  last result: score {result.score}, {result.verdict}, {len(result.claims)} claims")


async def bench_judge(pairs: int) -> None:
    from drux.config import load_config
    from drux.consensus.engine import judge_request
    from drux.consensus.judge_local import local_logprob_judge
    from drux.providers import build_provider

    config = load_config()
    provider = build_provider(config.catalog.model("qwen2.5-1.5b"), config)
    graded = await local_logprob_judge(provider)  # loads the model once
    rng = random.Random(1)
    samples = [tuple(rng.sample(SENTENCES, 2)) for _ in range(pairs)]
    text, logprob = [], []
    for a, b in samples:
        t0 = time.perf_counter()
        await provider.complete(judge_request(QUESTION, a, b))
        text.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await asyncio.to_thread(graded.judge_pair, QUESTION, a, b)
        logprob.append(time.perf_counter() - t0)
    await provider.aclose()
    med = statistics.median
    print(f"judge backends on Qwen2.5-Coder-1.5B, median of {pairs} pairs (5 answers = 10 pairs):")
    print(f"  graded log-odds judge, both orders : {med(logprob):.2f} s per pair")
    print(f"  text judge, one order, <= 3 tokens : {med(text):.2f} s per pair")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--judge-pairs", type=int, default=0)
    ap.add_argument("--backends", nargs="+", default=["cross", "fast"])
    ap.add_argument("--words", type=int, nargs="+", default=[40, 300],
                    help="answer lengths (40: short, 300: long)")
    args = ap.parse_args()
    for backend in args.backends:
        for words in args.words:
            bench_backend(backend, words, args.runs)
    if args.judge_pairs:
        asyncio.run(bench_judge(args.judge_pairs))


if __name__ == "__main__":
    main()
