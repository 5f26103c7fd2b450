import threading

import numpy as np
import pytest

from drux.consensus import judge_local, score_answers
from drux.consensus.judge_local import LogprobJudge

VOCAB = {"yes": 1, "Yes": 2, " yes": 1, " Yes": 2, "YES": 3, "no": 4, "No": 5, " no": 4, " No": 5, "NO": 6}


class FakeLlama:
    """Says "yes" unless the prompt mentions Sydney; records what it evaluated."""

    def __init__(self):
        self.evaluated = []

    def tokenize(self, text, add_bos=False, special=False):
        return [VOCAB[text.decode()]]

    def reset(self):
        self.evaluated.clear()

    def eval(self, tokens):
        self.evaluated.extend(tokens)


class FakeLoaded:
    def __init__(self):
        self.llm = FakeLlama()
        self.lock = threading.Lock()
        self.prompts = []

    def chat_prompt(self, messages):
        self.prompts.append(messages[-1]["content"])
        return [0], []


@pytest.fixture
def judge(monkeypatch):
    loaded = FakeLoaded()

    def logits(llm):
        row = np.full(8, -10.0)
        clash = "Sydney" in loaded.prompts[-1]
        row[[1, 2]] = -3.0 if clash else 2.0
        row[[4, 5]] = 1.0 if clash else -2.0
        return row

    monkeypatch.setattr(judge_local, "last_logits", logits)
    return LogprobJudge(loaded), loaded


def test_log_odds_read_yes_against_no(judge):
    j, loaded = judge
    assert j.log_odds("Capital?", "Canberra.", "It is Canberra.") == pytest.approx(4.0, abs=1e-3)
    assert j.log_odds("Capital?", "Canberra.", "Sydney.") == pytest.approx(-4.0, abs=1e-3)
    assert "Could both answers be true" in loaded.prompts[-1]


def test_both_orders_are_asked_once_and_cached(judge):
    j, loaded = judge
    first = j.judge_pair("Capital?", "Canberra.", "Sydney.")
    again = j.judge_pair("Capital?", "Sydney.", "Canberra.")
    assert len(loaded.prompts) == 2 and first is again
    assert first.relation == "contradict" and first.agreement < 0.05


def test_graded_judge_drives_the_score(judge):
    j, _ = judge
    answers = {"a": "Canberra.", "b": "It is Canberra.", "c": "Sydney."}
    r = score_answers("Capital?", answers, {"a": "x", "b": "y", "c": "z"}, backend="judge", judge=j)
    assert r.clusters[0] == ["a", "b"] and r.score is not None and r.score < 30
    hybrid = score_answers("Capital?", answers, {"a": "x", "b": "y", "c": "z"}, backend="hybrid", judge=j)
    assert hybrid.backend == "hybrid" and hybrid.clusters[0] == ["a", "b"]


async def test_build_judge_grades_a_loadable_local_model(judge):
    from drux.consensus import build_judge

    _, loaded = judge

    class LocalLike:
        name = "local:qwen2.5-1.5b"

        async def load(self):
            return loaded

    built = await build_judge(LocalLike())
    assert isinstance(built, LogprobJudge)
    assert built.judge_pair("Capital?", "Canberra.", "Sydney.").relation == "contradict"
