"""It measures agreement, not truth: the agreement backends on the agreement benchmark's dev
answers of the questions the cross-encoder never saw (scripts/xenc_guards.py): every one of
them for the default fast backend, a seeded sample for the cross-encoder.

Every answer, right or wrong, must agree with itself and its rewordings (P >= 0.9) and disagree
with its negation (P <= 0.1): those checks ask for every answer. A lead-in no rule knows and a
swapped name or number are left to the models, so those ask for a share (what bench/RESULTS.md
reports for the full set, less a margin); and right and wrong answers must pass alike: a gap
would mean the score tells right from wrong, which is not what it is for."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import xenc_guards  # noqa: E402

CANDIDATES = [Path(os.environ["DRUX_AGREEMENT_DATA"])] if "DRUX_AGREEMENT_DATA" in os.environ \
    else [ROOT.parent / "shared" / "bench" / "agreement", Path("/work/shared/bench/agreement")]
DATA = next((p for p in CANDIDATES if (p / "dev_pairs.jsonl").is_file()), None)
pytestmark = pytest.mark.skipif(DATA is None, reason="the agreement benchmark's dev split "
                                "(../shared/bench/agreement) is not on this machine")
SAMPLE = 160
# check -> least share of answers passing, right and wrong answers each. The checks the issue
# names (itself, casing, punctuation, "I think", reordered clauses, negation) hold for every
# answer in both backends: the statement rules (drux.consensus.statements) see to it whatever
# the model says. A novel lead-in and a swapped name are the models' own work.
EVERY = {"self": 1.0, "casing": 1.0, "punctuation": 1.0, "hedge": 1.0, "hedge_unseen": 1.0,
         "reorder": 1.0, "combined": 1.0, "negation": 1.0}
FLOOR = {**EVERY, "hedge_novel": 0.8, "swap": 0.15}
# The default fast backend: its pair model's probabilities are milder, so a swapped name rarely
# reaches P <= 0.1 (bench/RESULTS.md has the shares).
FAST_FLOOR = {**EVERY, "hedge_novel": 0.85, "swap": 0.0}
GAP = 0.15  # most that right and wrong answers' passing shares may differ


@pytest.fixture(scope="module")
def rows() -> list:
    assert DATA is not None
    return xenc_guards.checks(xenc_guards.validation_questions(DATA), seed=0, limit=SAMPLE)


@pytest.fixture(scope="module")
def guards(rows) -> dict[str, dict]:
    return xenc_guards.run(xenc_guards.backend_score("cross"), rows)


@pytest.fixture(scope="module")
def fast_guards() -> dict[str, dict]:
    # every answer of the held-back questions: the fast backend is quick enough
    assert DATA is not None
    rows = xenc_guards.checks(xenc_guards.validation_questions(DATA), seed=0)
    return xenc_guards.run(xenc_guards.backend_score("fast"), rows)


def _alike(guards: dict[str, dict], check: str, floor: float) -> None:
    right, wrong = guards[f"{check}/right"], guards[f"{check}/wrong"]
    for cell in (right, wrong):
        assert cell["share"] >= floor, (check, cell["share"], cell["failures"][:3])
    if min(right["n"], wrong["n"]) >= 30:
        assert abs(right["share"] - wrong["share"]) <= GAP, (check, right["share"], wrong["share"])


@pytest.mark.parametrize("check", sorted(FLOOR))
def test_right_and_wrong_answers_pass_alike(guards: dict[str, dict], check: str):
    _alike(guards, check, FLOOR[check])


@pytest.mark.parametrize("check", sorted(FAST_FLOOR))
def test_the_default_fast_backend_passes_right_and_wrong_answers_alike(
        fast_guards: dict[str, dict], check: str):
    _alike(fast_guards, check, FAST_FLOOR[check])
