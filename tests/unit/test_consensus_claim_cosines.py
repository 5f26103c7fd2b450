"""The claim map embeds only the claims whose relation depends on a cosine; the map must be
exactly the one every claim embedded gives. Checked on answer sets written to sit near the
thresholds, on the speed benchmark's answers and, when it is on this machine, on the agreement
benchmark's dev sets."""

import json
import os
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from drux.consensus import claims as claims_mod
from drux.consensus.embeddings import shared_embedder

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import consensus as speed_bench  # noqa: E402

CANDIDATES = [Path(os.environ["DRUX_AGREEMENT_DATA"])] if "DRUX_AGREEMENT_DATA" in os.environ \
    else [ROOT.parent / "shared" / "bench" / "agreement", Path("/work/shared/bench/agreement")]
DATA = next((p for p in CANDIDATES if (p / "dev_sets.jsonl").is_file()), None)

WRITTEN = [
    ("What is the capital of Australia?",
     ["The capital of Australia is Canberra.", "Sydney is the capital of Australia.",
      "Canberra is Australia's capital city; Sydney is its largest city."]),
    ("Name three primary colors.",
     ["Red, blue and yellow.", "The primary colors are red, blue, and green.",
      "Red, yellow and blue are the three primary colours of paint."]),
    ("Is the Earth flat?",
     ["No, the Earth is not flat.", "The Earth is an oblate spheroid, slightly flattened.",
      "Yes, some people believe the Earth is flat, but it is round."]),
    ("How long does light from the Sun take to reach Earth?",
     ["About 8 minutes and 20 seconds.", "Sunlight takes roughly eight minutes to get here.",
      "It takes light around 500 seconds to travel from the Sun to the Earth."]),
]


def _all_sims(items: list, embed, compared=None) -> np.ndarray:
    vectors = embed([it.text for it in items])
    return vectors @ vectors.T


def _maps(question: str, answers: dict[str, str], monkeypatch) -> tuple[list, list, int]:
    embedder = shared_embedder()
    counted: list[int] = []

    def embed(texts: list[str]) -> np.ndarray:
        counted.append(len(texts))
        return embedder.encode(texts)

    lazy = [c.to_dict() for c in claims_mod.build_claims(question, answers, embed=embed)]
    embedded = sum(counted)
    with monkeypatch.context() as patch:
        patch.setattr(claims_mod, "_needed_sims", _all_sims)
        full = [c.to_dict() for c in claims_mod.build_claims(question, answers, embed=embed)]
    return lazy, full, embedded


def _sets() -> list[tuple[str, dict[str, str]]]:
    sets = [(q, {f"m{i}": a for i, a in enumerate(answers)}) for q, answers in WRITTEN]
    rng = random.Random(7)
    for words in (40, 80):
        for _ in range(6):
            sets.append((speed_bench.QUESTION, speed_bench.make_answers(rng, words=words)))
    if DATA is not None:
        rows = [json.loads(line) for line in (DATA / "dev_sets.jsonl").open(encoding="utf-8")]
        for row in random.Random(3).sample(rows, 60):
            sets.append((row["question"], {f"m{i}": a for i, a in enumerate(row["answers"])}))
    return sets


def test_the_claim_map_is_the_one_every_claim_embedded_gives(monkeypatch):
    skipped = total = 0
    for question, answers in _sets():
        lazy, full, embedded = _maps(question, answers, monkeypatch)
        assert lazy == full, (question, answers)
        items = sum(len(claims_mod.split_claims(a)) for a in answers.values())
        if 1 < items <= claims_mod.MAX_EMBEDDED_CLAIMS:
            total += items
            skipped += items - embedded
    assert skipped > 0  # the point of it: some claims are never embedded


def _item(model: str, text: str, index: int):
    return claims_mod._Item(model, text, claims_mod.read_answer(text), index)


def test_only_a_pair_its_words_leave_open_needs_a_cosine():
    probe = np.zeros((4, 4), dtype=np.float32)
    short = _item("a", "Water boils quickly", 0)
    longer = _item("b", "Water boils quickly at high altitude in thin mountain air", 1)
    same_words = _item("c", "Water boils quickly.", 2)
    unrelated = _item("d", "Bananas are yellow fruit", 3)
    assert claims_mod._needs_cosine(short, longer, probe)  # same claim only if they embed alike
    assert not claims_mod._needs_cosine(short, same_words, probe)
    assert not claims_mod._needs_cosine(short, unrelated, probe)


@pytest.mark.parametrize("cosine", [0.0, 0.54, 0.55, 0.79, 0.8, 1.0])
def test_bands_are_what_the_relation_reads(cosine):
    # _needs_cosine probes one cosine per band; a relation must be the same anywhere in a band.
    band = max(b for b in claims_mod._COSINE_BANDS if cosine >= b)
    x = _item("a", "Water boils quickly", 0)
    y = _item("b", "Water boils quickly at high altitude in thin mountain air", 1)
    at, rep = np.full((2, 2), cosine, dtype=np.float32), np.full((2, 2), band, dtype=np.float32)
    assert claims_mod._relation(x, y, at) == claims_mod._relation(x, y, rep)
