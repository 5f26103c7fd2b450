"""One story per ask (issue 12): explanation, verdict, groups, claim map and consensus answer
come from the same judgments and never contradict each other.

Regression tests replay the issue's cases with scripted answers and the real fast backend;
property tests draw random answers (facts with slots) and random pair judgments.
"""

from __future__ import annotations

from itertools import combinations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drux.consensus import ConsensusResult, JudgeBackend, score_answers
from drux.consensus.result import positions_line
from drux.verdicts import STRONG, has_consensus, verdict_for

# Issue 12, case 1 ("Name three primary colors.", --max-tokens 40).
COLORS = {"smollm2": "The three primary colors are red, blue, and yellow.",
          "qwen2.5": "The three primary colors are red, blue, and green.",
          "gemma3": "Red, green and blue are the primary colors of light."}
# Issue 12, case 2.
FLAT = {"smollm2": "No, the Earth is not flat; it is an oblate spheroid.",
        "qwen2.5": "No. The Earth is round, as photos from space show.",
        "gemma3": "The Earth is not flat. It is roughly a sphere."}


def _claim(r: ConsensusResult, start: str):  # type: ignore[no-untyped-def]
    return next(c for c in r.claims if c.text.startswith(start))


def test_a_list_with_other_members_is_not_supported_by_it():
    # It said 56, "All 3 models agree", and listed "red, blue, and yellow" as supported by
    # all three while the consensus answer said green.
    r = score_answers("Name three primary colors.", COLORS, {})
    yellow = _claim(r, "The three primary colors are red, blue, and yellow")
    assert yellow.models == ["smollm2"] and sorted(yellow.contradicted_by) == ["gemma3", "qwen2.5"]
    green = _claim(r, "The three primary colors are red, blue, and green")
    assert sorted(green.models) == ["gemma3", "qwen2.5"] and green.contradicted_by == ["smollm2"]
    assert "All 3 models agree" not in r.explanation()
    pairs = {frozenset(c.models) for c in r.contradictions}
    assert frozenset({"smollm2", "qwen2.5"}) in pairs and frozenset({"smollm2", "gemma3"}) in pairs
    if r.consensus_answer is not None:  # the consensus is the claim the majority states
        assert r.consensus_model in green.models
    check_story(r, COLORS)


def test_a_shared_stance_is_shared_by_every_model_that_states_it():
    # "All 3 agree", yet every claim in the claim map was one model's only.
    r = score_answers("Is the Earth flat?", FLAT, {})
    shared = _claim(r, "No, the Earth is not flat")
    assert sorted(shared.models) == ["gemma3", "qwen2.5", "smollm2"] and not shared.contradicted_by
    assert r.explanation() == "All 3 models agree (smollm2, qwen2.5 and gemma3)." or (
        r.verdict != STRONG and "All 3" not in r.explanation())
    check_story(r, FLAT)


def test_a_claim_is_never_supported_by_an_answer_that_names_something_else():
    # "...is Sydney" and "Canberra is the capital city..." embed alike: b was listed under
    # the Sydney claim as well as the Canberra one.
    answers = {"a": "The capital of Australia is Canberra.",
               "b": "Canberra is the capital city of Australia.",
               "c": "The capital of Australia is Sydney."}
    r = score_answers("What is the capital of Australia?", answers, {})
    sydney = _claim(r, "The capital of Australia is Sydney")
    assert sydney.models == ["c"]
    check_story(r, answers)


def check_story(r: ConsensusResult, answers: dict[str, str]) -> None:
    """The invariants every scored result keeps."""
    assert r.score is not None
    assert r.verdict == verdict_for(r.score)
    text = r.explanation()
    everyone = len(r.clusters) == 1
    if "models agree (" in text:
        assert everyone and not r.contradictions and r.verdict == STRONG and r.has_consensus
    if everyone and r.contradictions and r.has_consensus:
        assert "mostly agree, but" in text
    # The consensus answer exists exactly when the score allows one, and is the largest
    # group's; below the threshold the groups are the positions, named in the explanation.
    assert (r.consensus_answer is not None) == has_consensus(r.score)
    assert [p.models for p in r.positions] == r.clusters
    assert r.consensus_model in r.clusters[0]
    if r.consensus_answer is not None:
        assert r.consensus_answer == answers[r.consensus_model]
    else:
        assert text.startswith(f"No consensus: {positions_line(r.positions)}")
    clashing = {frozenset(c.models) for c in r.contradictions}
    for claim in r.claims:
        assert not set(claim.models) & set(claim.contradicted_by)
        for other in claim.contradicted_by:  # a clash in the claim map is a clash of the pair
            assert frozenset({claim.models[0], other}) in clashing


# Random answers: facts about one bridge, each slot with two values that cannot both be true.
SLOTS = {
    "length": ["The bridge is 120 meters long.", "The bridge is 150 meters long."],
    "opened": ["It was opened in 1932.", "It was opened in 1937."],
    "colors": ["Its towers are painted red, blue and yellow.",
               "Its towers are painted red, blue and green."],
}
FACTS = st.dictionaries(st.sampled_from(sorted(SLOTS)), st.integers(0, 1), min_size=1)
REPLY = st.sampled_from(["yes", "no", "unrelated"])
STORY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _text(facts: dict[str, int]) -> str:
    return " ".join(SLOTS[s][v] for s, v in sorted(facts.items()))


def _slot_of(claim_text: str) -> tuple[str, int]:
    for slot, values in SLOTS.items():
        for v, sentence in enumerate(values):
            if claim_text.rstrip(".") == sentence.rstrip("."):
                return slot, v
    raise AssertionError(f"not one fact: {claim_text!r}")


@given(st.lists(FACTS, min_size=2, max_size=5), st.lists(REPLY, min_size=10, max_size=10))
@STORY
def test_random_answers_and_judgments_tell_one_story(facts: list[dict[str, int]],
                                                     replies: list[str]):
    ids = [f"m{i}" for i in range(len(facts))]
    answers = {m: _text(f) for m, f in zip(ids, facts, strict=True)}
    said = dict(zip(ids, facts, strict=True))
    table = {}
    for n, (i, j) in enumerate(combinations(range(len(ids)), 2)):
        table.setdefault(tuple(sorted((answers[ids[i]], answers[ids[j]]))), replies[n])

    def judge(question: str, a: str, b: str) -> str:
        return "yes" if a == b else table.get(tuple(sorted((a, b))), "unrelated")

    r = score_answers("Tell me about the bridge.", answers, {m: m for m in ids},
                      backend="judge", judge=JudgeBackend(judge))
    check_story(r, answers)
    judged_clash = {frozenset(c.models) for c in r.contradictions}
    for claim in r.claims:
        slot, value = _slot_of(claim.text)
        source = claim.models[0]
        for m in ids:
            if m == source:
                continue
            if said[m].get(slot) == value:  # states it: supports it, whatever the groups
                assert m in claim.models, (claim, m)
            elif slot in said[m]:  # says otherwise: contradicts it
                assert m in claim.contradicted_by, (claim, m)
            else:  # silent: neither, unless two one-fact answers were judged contradictory
                assert m not in claim.models
                if m in claim.contradicted_by:
                    assert len(said[m]) == len(said[source]) == 1
                    assert frozenset({source, m}) in judged_clash


@given(st.lists(FACTS, min_size=2, max_size=5), st.lists(st.booleans(), min_size=5, max_size=5))
@STORY
def test_random_answers_tell_one_story_with_the_fast_backend(facts: list[dict[str, int]],
                                                             cut: list[bool]):
    ids = [f"m{i}" for i in range(len(facts))]
    answers = {m: _text(f) for m, f in zip(ids, facts, strict=True)}
    truncated = frozenset(m for m, c in zip(ids, cut, strict=False) if c)
    r = score_answers("Tell me about the bridge.", answers, {}, truncated=truncated)
    check_story(r, answers)
    assert r.truncated == sorted(truncated)
    for claim in r.claims:  # only a cut answer leaves a claim "not reached", never unique
        assert set(claim.not_reached_by) <= truncated
        assert not (claim.not_reached_by and claim.unique)


def test_one_loose_group_is_not_called_agreement():
    # Issue 12, case 4: a 68 said both "All 3 models agree" and "weak consensus".
    r = ConsensusResult(score=68.0, verdict=verdict_for(68.0), backend="fast",
                        clusters=[["a", "b", "c"]])
    assert r.verdict == "weak consensus"
    assert r.explanation() == "a, b and c agree only loosely."
    strong = ConsensusResult(score=90.0, verdict=verdict_for(90.0), backend="fast",
                             clusters=[["a", "b", "c"]])
    assert strong.explanation() == "All 3 models agree (a, b and c)."


def test_every_key_of_the_result_is_declared_in_the_record():
    # The ask record is typed: a key ConsensusResult writes but ConsensusRecord does not
    # declare would only be carried along as an unknown extra.
    from drux.records import ConsensusRecord

    r = score_answers("Name three primary colors.", COLORS, {}, truncated=frozenset({"gemma3"}))
    record = ConsensusRecord.model_validate(r.to_dict())
    assert not record.model_extra
    assert all(not c.model_extra for c in record.claims)
    assert all(not p.model_extra for p in record.positions)
    assert record.model_dump(mode="json") == r.to_dict()


def test_lists_are_read_in_one_pass():
    import time

    from drux.consensus.claims import _list_items

    assert _list_items("The primary colors are red, blue, and yellow.") == {"red", "blue", "yellow"}
    assert _list_items("Red and blue.") == frozenset()  # two items and no comma: no list
    # A first version (a regular expression) took 1.8 s on 8,000 characters of "a,a,a,...",
    # quadratic in the length; one pass over 40,000 takes milliseconds.
    started = time.perf_counter()
    _list_items("a," * 20_000)
    assert time.perf_counter() - started < 3.0
