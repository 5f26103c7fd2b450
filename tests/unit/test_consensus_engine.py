"""The engine end to end with the real offline fast backend (MiniLM + signals)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drux.consensus import JudgeBackend, ascore_answers, score_answers
from drux.errors import InputError
from drux.types import ChatRequest, Completion

FAMS = {"a": "qwen", "b": "gemma", "c": "smollm", "d": "mistral"}


def test_fewer_than_two_answers_is_not_scored():
    r = score_answers("Why?", {"a": "Because."}, FAMS)
    assert r.score is None and r.verdict == "n/a" and "one" in r.reason
    r = score_answers("Why?", {"a": "  ", "b": ""}, FAMS)
    assert r.score is None and "no successful answer" in r.reason
    assert "No consensus score" in r.explanation()
    json.dumps(r.to_dict())


def test_identical_answers_score_high():
    text = "Water boils at 100 degrees Celsius at sea level."
    r = score_answers("At what temperature does water boil?", {"a": text, "b": text, "c": text}, FAMS)
    assert r.score is not None and r.score >= 80
    assert r.verdict == "strong consensus"
    assert r.clusters == [["a", "b", "c"]]
    assert r.contradictions == []


def test_yes_no_contradiction_scores_low_and_is_explained():
    q = "Is it safe to eat raw chicken?"
    agree = score_answers(q, {"a": "No, raw chicken can carry salmonella.",
                              "b": "No, it is not safe because of bacteria."}, FAMS)
    clash = score_answers(q, {"a": "No, raw chicken can carry salmonella.",
                              "b": "Yes, raw chicken is perfectly safe to eat."}, FAMS)
    assert clash.score is not None and agree.score is not None
    assert clash.score < 30 < agree.score
    assert clash.contradictions and "polarity" in clash.contradictions[0].kinds
    assert "contradict" in clash.explanation()


def test_number_contradiction_scores_below_agreement():
    q = "How many legs does a spider have?"
    same = score_answers(q, {"a": "A spider has 8 legs.", "b": "Spiders have eight legs."}, FAMS)
    diff = score_answers(q, {"a": "A spider has 8 legs.", "b": "Spiders have six legs."}, FAMS)
    assert diff.score is not None and same.score is not None
    assert diff.score < same.score
    assert any("number" in c.kinds for c in diff.contradictions)


def test_same_family_votes_are_discounted():
    q = "Is the Great Wall of China visible from space with the naked eye?"
    answers = {"a": "Yes, you can easily see it from space.",
               "b": "Yes, astronauts see it from orbit with the naked eye.",
               "c": "No, it is too narrow to see from orbit without aid."}
    independent = score_answers(q, answers, {"a": "x", "b": "y", "c": "z"})
    correlated = score_answers(q, answers, {"a": "x", "b": "x", "c": "z"})
    assert independent.breakdown["effective_votes"] == 3.0
    assert correlated.breakdown["effective_votes"] == 2.0
    assert correlated.score is not None and independent.score is not None
    # The two same-family "yes" answers no longer outvote the lone "no".
    assert correlated.breakdown["majority_share"] <= 0.5 < independent.breakdown["majority_share"]


def test_clusters_and_claim_map():
    q = "What is the capital of Australia?"
    r = score_answers(q, {"a": "The capital of Australia is Canberra.",
                          "b": "Canberra is the capital city of Australia.",
                          "c": "The capital of Australia is Sydney."}, FAMS)
    assert ["a", "b"] in [sorted(c) for c in r.clusters]
    # Two against one: either a consensus answer from the two, or (below the threshold) the
    # two positions side by side; never Sydney as the consensus.
    if r.consensus_answer is not None:
        assert r.consensus_model in {"a", "b"}
    else:
        assert sorted(sorted(p.models) for p in r.positions) == [["a", "b"], ["c"]]
    shared = [c for c in r.claims if len(c.models) > 1]
    assert shared and set(shared[0].models) == {"a", "b"}
    sydney = next(c for c in r.claims if "Sydney" in c.text)
    # "Canberra is the capital city" opens with the name: both a and b contradict Sydney.
    assert set(sydney.contradicted_by) == {"a", "b"}
    assert not sydney.unique


def test_to_dict_is_json_and_matrix_symmetric():
    r = score_answers("Name a prime number.", {"a": "7 is prime.", "b": "2 is a prime.", "c": "Nine."},
                      FAMS)
    data = json.loads(json.dumps(r.to_dict()))
    assert set(data) >= {"score", "verdict", "clusters", "matrix", "claims", "contradictions",
                         "consensus_model", "backend", "explanation"}
    for m, row in r.matrix.items():
        assert row[m] == 1.0
        for n, v in row.items():
            assert v == pytest.approx(r.matrix[n][m]) and 0.0 <= v <= 1.0


def test_unknown_backend_and_missing_judge_are_input_errors():
    with pytest.raises(InputError):
        score_answers("q", {"a": "x", "b": "y"}, FAMS, backend="nope")
    with pytest.raises(InputError):
        score_answers("q", {"a": "x", "b": "y"}, FAMS, backend="judge")


def test_judge_backend_uses_the_judges_replies():
    calls = []

    def judge(question, a, b):
        calls.append((a, b))
        return "no" if "Sydney" in (a + b) else "Yes."

    answers = {"a": "Canberra.", "b": "It is Canberra.", "c": "Sydney."}
    r = score_answers("Capital of Australia?", answers, FAMS, backend="judge", judge=JudgeBackend(judge))
    assert r.backend == "judge" and len(calls) == 3
    assert r.clusters[0] == ["a", "b"] and r.matrix["a"]["b"] == 1.0 and r.matrix["a"]["c"] == 0.0
    assert [c.models for c in r.contradictions] == [("a", "c"), ("b", "c")]


class ScriptedJudge:
    name = "scripted"

    def __init__(self):
        self.requests: list[ChatRequest] = []

    async def complete(self, request: ChatRequest) -> Completion:
        self.requests.append(request)
        text = request.messages[-1].content
        return Completion(text="No" if "Sydney" in text else "yes", model="judge")

    def stream(self, request):  # pragma: no cover - not used by the judge
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


async def test_async_scoring_awaits_a_provider_judge():
    judge = ScriptedJudge()
    answers = {"a": "Canberra.", "b": "It is Canberra.", "c": "Sydney."}
    r = await ascore_answers("Capital of Australia?", answers, FAMS, backend="judge", judge=judge)
    assert len(judge.requests) == 3 and judge.requests[0].max_tokens == 3
    assert r.score is not None and r.score < 50 and r.clusters[0] == ["a", "b"]


async def test_sync_provider_judge_inside_a_loop_is_a_clear_error():
    with pytest.raises(InputError):
        score_answers("q?", {"a": "x", "b": "y"}, FAMS, backend="judge", judge=ScriptedJudge())


ANSWER = st.sampled_from([
    "Yes, it is.", "No, it is not.", "It has 3 parts.", "It has four parts.",
    "Paris is the capital.", "The capital is Lyon.", "Nobody knows for sure.",
])


@given(st.lists(ANSWER, min_size=2, max_size=4), st.randoms())
@settings(max_examples=15, deadline=None)
def test_permutation_invariance_with_the_fast_backend(texts, rnd):
    ids = [f"m{i}" for i in range(len(texts))]
    fams = {m: f"f{i % 2}" for i, m in enumerate(ids)}
    base = score_answers("What is it?", dict(zip(ids, texts, strict=True)), fams)
    order = ids[:]
    rnd.shuffle(order)
    moved = score_answers("What is it?", {m: texts[ids.index(m)] for m in order}, fams)
    assert base.score is not None and 0.0 <= base.score <= 100.0
    assert moved.score == pytest.approx(base.score, abs=0.11)
    assert sorted(map(sorted, moved.clusters)) == sorted(map(sorted, base.clusters))


def test_hybrid_backend_averages_fast_and_judge():
    q = "What is the capital of Australia?"
    answers = {"a": "Canberra is the capital.", "b": "The capital is Canberra."}
    fast = score_answers(q, answers, FAMS, backend="fast")
    yes = score_answers(q, answers, FAMS, backend="hybrid", judge=JudgeBackend(lambda *_: "yes"))
    no = score_answers(q, answers, FAMS, backend="hybrid", judge=JudgeBackend(lambda *_: "no"))
    assert yes.backend == "hybrid"
    f = fast.matrix["a"]["b"]
    assert yes.matrix["a"]["b"] == pytest.approx((f + 1.0) / 2)
    assert no.matrix["a"]["b"] == pytest.approx(f / 2)
    assert no.score is not None and yes.score is not None and no.score < yes.score


class SynthesisJudge(ScriptedJudge):
    async def complete(self, request: ChatRequest) -> Completion:
        self.requests.append(request)
        if "agree with each other" in request.messages[-1].content:
            return Completion(text="Canberra is the capital.", model="judge")
        return await super().complete(request)


async def test_synthesis_by_a_judge_is_labelled():
    judge = SynthesisJudge()
    answers = {"a": "Canberra.", "b": "It is Canberra."}
    r = await ascore_answers("Capital of Australia?", answers, FAMS, backend="judge", judge=judge,
                             synthesize=True)
    assert r.consensus_kind == "synthesis" and r.synthesized_by == "scripted"
    assert r.consensus_answer == "Canberra is the capital."
    assert r.consensus_model in {"a", "b"}
    assert "It is Canberra." in judge.requests[-1].messages[-1].content
    fast = await ascore_answers("Capital of Australia?", answers, FAMS)
    assert fast.consensus_kind == "representative" and fast.synthesized_by is None


async def test_no_synthesis_without_a_consensus():
    # Issue 12, case 3: a consensus answer was written beside a contradiction. With "Sydney"
    # contradicting both others the score is below the no-consensus threshold: the judge
    # is not asked for a synthesis, and the groups are the positions.
    judge = SynthesisJudge()
    answers = {"a": "Canberra.", "b": "It is Canberra.", "c": "Sydney."}
    r = await ascore_answers("Capital of Australia?", answers, FAMS, backend="judge", judge=judge,
                             synthesize=True)
    assert r.score is not None and r.score < 50 and not r.has_consensus
    assert r.consensus_answer is None and r.consensus_kind is None and r.synthesized_by is None
    assert all("agree with each other" not in q.messages[-1].content for q in judge.requests)
    assert [(p.label, p.models) for p in r.positions] == [("Canberra", ["a", "b"]),
                                                         ("Sydney", ["c"])]
    assert r.explanation().startswith("No consensus: Canberra: a, b · Sydney: c; ")
async def test_build_judge_keeps_a_remote_provider_as_a_text_judge():
    from drux.consensus import build_judge

    judge = ScriptedJudge()
    assert await build_judge(judge) is judge


def test_the_claim_map_of_very_long_answers_stays_bounded():
    from drux.consensus.claims import MAX_CLAIMS_PER_ANSWER, build_claims

    # Matching claims is quadratic: five answers of thousands of sentences took seconds.
    long = {m: " ".join(f"Claim number {i} from {m} is stated here." for i in range(2000))
            for m in "abcde"}
    claims = build_claims("What is claimed?", long)
    per_model = {m: sum(1 for c in claims if c.models[0] == m) for m in "abcde"}
    assert 0 < max(per_model.values()) <= MAX_CLAIMS_PER_ANSWER
    assert claims[0].text.startswith("Claim number 0 from a")  # the opening claims are kept
