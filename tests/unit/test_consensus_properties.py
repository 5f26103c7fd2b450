"""Properties of the consensus engine on untrusted answers, with the real fast backend.

Panel answers come from models we do not control: empty, whitespace, emoji, huge,
digits only, RTL, CJK, zero-width characters, Markdown, LaTeX, odd numbers and
units. Whatever they are, scoring must not raise, must say n/a (with a reason)
below two answers, must give a finite score in [0, 100] otherwise, must not depend
on the order or the names of the models, and must be JSON-safe (it is stored).
"""

from __future__ import annotations

import json
import math
import unicodedata
from itertools import pairwise, permutations
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drux.consensus import ConsensusResult, FastBackend, JudgeBackend, score_answers
from drux.consensus.engine import fast_backend, score_with
from drux.consensus.quantities import read_quantities
from drux.consensus.signals import read_answer

QUESTION = "What is the boiling point of water at sea level?"
NASTY = [
    "", "   \n\t ", "😀", "🤷‍♂️", "123 456 789", "!!!???...", ".", "-", "%", "$", "'s",
    "مرحبا، الماء يغلي عند ١٠٠ درجة مئوية", "水在海平面的沸点是一百摄氏度", "\u200b\u200c\u200d\ufeff",
    "\ufffd\ufffd\ufffd", "| a | b |\n|---|---|\n| 100 | °C |", "```python\nprint(100)\n```",
    r"$T_b = 100\,^\circ\mathrm{C}$", "1e308", "1e309 °C", "1,000,000.5", "½", "٣", "31/02/2026",
    "-0 °C", "∞", "NaN", "inf", "9" * 400, "9" * 400 + " °F", "0.0000000001 km",
    "hundred " * 200, "trillion " * 40, "It is a myth that , but ", "Yes", "No", "yes no yes",
    "Water boils at 100 °C at sea level.", "Water boils at 212 °F.", "It boils at 90 degrees Celsius.",
    "No, it does not boil at 100 °C; it boils at 100 K.", QUESTION, QUESTION.upper(),
]
FRAGMENTS = st.sampled_from(NASTY) | st.text(max_size=80) | st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Z"]), max_size=120)
ANSWER = st.lists(FRAGMENTS, min_size=1, max_size=3).map(" ".join)
NAME = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1,
               max_size=12)
FAMILY = st.sampled_from(["qwen", "gemma", "llama", "mistral"])
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def visible(text: str) -> bool:
    return any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text)


def check_result(r: ConsensusResult, answers: dict[str, str]) -> None:
    usable = {m for m, a in answers.items() if visible(a)}
    data = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert data["explanation"]
    if len(usable) < 2:
        assert r.score is None and r.verdict == "n/a" and r.reason
        return
    assert r.score is not None and math.isfinite(r.score) and 0.0 <= r.score <= 100.0
    assert sorted(m for c in r.clusters for m in c) == sorted(usable)
    assert set(r.matrix) == usable and r.consensus_model in usable
    for row in r.matrix.values():
        assert all(0.0 <= v <= 1.0 for v in row.values())
    for claim in r.claims:
        assert set(claim.models) <= usable and set(claim.contradicted_by) <= usable
        assert not set(claim.models) & set(claim.contradicted_by)
    for c in r.contradictions:
        assert set(c.models) <= usable and c.models[0] != c.models[1]
    assert all(math.isfinite(v) for v in r.breakdown.values())


@given(st.dictionaries(NAME, ANSWER, max_size=8), st.dictionaries(NAME, FAMILY))
@PROPS
def test_any_answers_score_without_raising(answers: dict[str, str], families: dict[str, str]):
    check_result(score_answers(QUESTION, answers, families), answers)


@pytest.mark.parametrize("text", NASTY)
def test_each_nasty_answer_against_a_plain_one(text: str):
    answers = {"a": text, "b": "Water boils at 100 °C.", "c": text}
    check_result(score_answers(QUESTION, answers, {"a": "qwen", "b": "gemma", "c": "qwen"}), answers)


def _tied(r: ConsensusResult) -> bool:
    """Two pairs with the same agreement: clustering may then merge either first."""
    values = sorted(v for m, row in r.matrix.items() for n, v in row.items() if m < n)
    return any(abs(x - y) < 1e-9 for x, y in pairwise(values))


def _same_up_to_ties(a: ConsensusResult, b: ConsensusResult, rename: dict[str, str]) -> None:
    assert a.score is not None and b.score is not None
    assert b.score == pytest.approx(a.score, abs=0.11)  # float sums in another order round apart
    if not _tied(a):
        assert b.verdict == a.verdict
        assert sorted(map(sorted, b.clusters)) == sorted(sorted(rename[m] for m in c) for c in a.clusters)


@given(st.lists(ANSWER.filter(visible), min_size=2, max_size=6), st.randoms(use_true_random=False))
@PROPS
def test_score_ignores_the_order_of_the_answers(texts: list[str], rnd: Any):
    ids = [f"m{i}" for i in range(len(texts))]
    fams = {m: ["qwen", "gemma", "llama"][i % 3] for i, m in enumerate(ids)}
    base = score_answers(QUESTION, dict(zip(ids, texts, strict=True)), fams)
    order = ids[:]
    rnd.shuffle(order)
    moved = score_answers(QUESTION, {m: texts[ids.index(m)] for m in order}, fams)
    _same_up_to_ties(base, moved, {m: m for m in ids})


@given(st.lists(ANSWER.filter(visible), min_size=2, max_size=6),
       st.lists(NAME, min_size=6, max_size=6, unique=True))
@PROPS
def test_score_ignores_the_names_of_the_models(texts: list[str], names: list[str]):
    ids = [f"m{i}" for i in range(len(texts))]
    fams = {m: ["qwen", "gemma"][i % 2] for i, m in enumerate(ids)}
    base = score_answers(QUESTION, dict(zip(ids, texts, strict=True)), fams)
    rename = dict(zip(ids, names, strict=False))
    moved = score_answers(QUESTION, {rename[m]: t for m, t in zip(ids, texts, strict=True)},
                          {rename[m]: f for m, f in fams.items()})
    _same_up_to_ties(base, moved, rename)


def test_reasons_quote_each_model_in_its_own_order_when_rescored():
    # The judgment cache is shared across asks; a reason read from it must still put
    # each model's own words on its side of "vs".
    q = "How many legs does a spider have?"
    first = score_answers(q, {"a": "A spider has 8 legs.", "b": "Spiders have six legs."}, {})
    again = score_answers(q, {"b": "Spiders have six legs.", "a": "A spider has 8 legs."}, {})
    for r in (first, again):
        (c,) = r.contradictions
        left, right = {"a": "8", "b": "six"}[c.models[0]], {"a": "8", "b": "six"}[c.models[1]]
        assert f"number: {left} vs {right}" in c.reasons
        assert f"{c.models[0]} vs {c.models[1]} contradict (number: {left} vs {right})" in r.explanation()


def test_identical_answers_that_deny_and_affirm_a_word_still_agree():
    # "not digested ... is digested partly": the answer qualifies itself; its twin
    # says exactly the same, so the pair has nothing to clash over.
    q = "What happens if you swallow gum?"
    text = ("Swallowed gum is not digested, stored or kept in the stomach. The gum is digested "
            "partly: the sugars are stored as energy and the base is kept moving through the "
            "intestines until it leaves the body in a few days.")
    r = score_answers(q, {"a": text, "b": text, "c": text}, {"a": "qwen", "b": "gemma", "c": "llama"})
    assert r.score is not None and r.score >= 90 and r.verdict == "strong consensus"
    claim = "Swallowed gum is not digested by stomach acid or enzymes and the body digested the sugar."
    r = score_answers(q, {"a": claim, "b": claim}, {})
    assert [c.models for c in r.claims] == [["a", "b"]] and not r.claims[0].contradicted_by


@given(ANSWER.filter(lambda t: read_answer(t, QUESTION).content), st.integers(2, 5))
@PROPS
def test_identical_answers_with_content_score_high(text: str, k: int):
    ids = [f"m{i}" for i in range(k)]
    r = score_answers(QUESTION, dict.fromkeys(ids, text), {m: f"f{i}" for i, m in enumerate(ids)})
    assert r.score is not None and r.score >= 90 and len(r.clusters) == 1
    assert r.contradictions == [] and all(not c.contradicted_by for c in r.claims)


def test_a_myth_clause_is_read_within_a_bounded_span():
    from drux.consensus.signals import CONTRAST

    # A degenerate answer repeating "claim" must not cost quadratic time (it took 11 s
    # for 50,000 characters): the denied clause is at most a few hundred characters.
    assert CONTRAST.search("It is a myth that " + "very " * 80 + "cold, but it is not.") is None
    m = CONTRAST.search("It is a myth that cold water boils faster, but it does not.")
    assert m is not None and m.group("denied") == "cold water boils faster"


@pytest.mark.parametrize("minus", ["-", "\u2212"])
def test_a_minus_sign_is_part_of_the_number(minus: str):
    q = "What is the lowest temperature recorded in Antarctica?"
    low = f"It was {minus}89 °C at Vostok station."
    opposite = score_answers(q, {"a": low, "b": "It was 89 °C at Vostok station."}, {})
    converted = score_answers(q, {"a": low, "b": f"It was {minus}128 °F at Vostok station."}, {})
    assert opposite.score is not None and converted.score is not None
    assert [c.reasons for c in opposite.contradictions] == [[f"number: {minus}89 vs 89"]]
    assert converted.contradictions == [] and converted.score > opposite.score
    # A hyphen inside a name or a range is no sign.
    assert [q.value for q in read_quantities("COVID-19 lasted 3-5 weeks", set())[0]] == [19, 3, 5]


def test_an_answer_repeating_the_question_scores_the_same_in_any_order():
    # Its embedding minus the question's direction is float noise; scaled to unit
    # length it was a random direction that changed with the order of the answers.
    texts = {"m0": "0", "m1": "000", "m2": QUESTION}
    fams = {"m0": "qwen", "m1": "gemma", "m2": "llama"}
    scores = set()
    for order in permutations(texts):
        backend = FastBackend(embedder=fast_backend().embedder)  # no judgment cache shared
        r = score_with(backend, QUESTION, {m: texts[m] for m in order}, fams)
        scores.add(r.score)
        assert r.matrix["m2"]["m0"] <= 0.5 and r.matrix["m2"]["m1"] <= 0.5
    assert len(scores) == 1


def _written(value: float, style: str) -> str:
    text = f"{value:,.2f}" if style == "grouped" else f"{value:g}" if style == "plain" else f"{value:.1f}"
    return text.replace("-", "\u2212") if style == "unicode minus" else text


@given(st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 1)),
       st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 1)),
       st.sampled_from(["plain", "grouped", "fixed", "unicode minus"]),
       st.sampled_from(["°C", "km", "kg", "%", "dollars", ""]))
@PROPS
def test_a_number_clash_scores_below_agreement(x: float, y: float, style: str, unit: str):
    if abs(x - y) < 0.5 or abs(x - y) <= 0.02 * max(abs(x), abs(y)):
        return  # too close to call a clash (rounding or a conversion)
    q = "What value did the survey measure?"
    a, b = (f"The survey measured {_written(v, style)} {unit}.".replace(" .", ".") for v in (x, y))
    same = score_answers(q, {"a": a, "b": a.replace("The survey", "It")}, {})
    clash = score_answers(q, {"a": a, "b": b}, {})
    assert same.score is not None and clash.score is not None
    assert clash.score < same.score
    assert [c.kinds for c in clash.contradictions] == [["number"]]


@given(st.sampled_from(["Paris is in France", "water is wet", "the Earth is round",
                        "cats are mammals", "the sun rises in the east"]),
       st.sampled_from(["Yes", "Yes,", "yes.", "Correct:", "True -"]),
       st.sampled_from(["No", "No,", "no.", "Incorrect:", "False -"]))
@PROPS
def test_a_yes_no_clash_scores_below_agreement(fact: str, yes: str, no: str):
    q = f"Is it true that {fact}?"
    agree = score_answers(q, {"a": f"{yes} {fact}.", "b": f"{yes} {fact}, indeed."}, {})
    clash = score_answers(q, {"a": f"{yes} {fact}.", "b": f"{no} {fact} is a myth."}, {})
    assert agree.score is not None and clash.score is not None
    assert clash.score < agree.score and clash.contradictions


def test_one_group_holding_a_contradiction_is_not_called_agreement():
    # a agrees with b and with c, b and c cannot both be true: average linkage puts all
    # three in one group (mean link 0.5), yet "All 3 models agree" would hide the clash.
    def judge(question: str, a: str, b: str) -> str:
        return "no" if {a, b} == {"B", "C"} else "yes"

    r = score_answers("q?", {"a": "A", "b": "B", "c": "C"}, {}, backend="judge",
                      judge=JudgeBackend(judge))
    assert r.clusters == [["a", "b", "c"]] and [c.models for c in r.contradictions] == [("b", "c")]
    assert "All 3 models agree" not in r.explanation()
    assert "b vs c contradict (judge: answers cannot both be true)" in r.explanation()


@pytest.mark.parametrize(("question", "answer"), [
    ("法国的首都是哪里？", "法国的首都是巴黎。"),
    ("Какая столица Франции?", "Столица Франции — Париж."),
    ("ما هي عاصمة فرنسا؟", "عاصمة فرنسا هي باريس."),
])
def test_identical_answers_in_other_scripts_score_high(question: str, answer: str):
    # The term reader only splits Latin words; an answer in another script is not an
    # echo of the question for that (it was capped at 0.5: three identical answers, 50).
    r = score_answers(question, dict.fromkeys("abc", answer), {})
    assert r.score is not None and r.score >= 90 and r.verdict == "strong consensus"
    echo = score_answers(question, {"a": question, "b": question}, {})
    assert echo.score is not None and echo.score <= 50
    # Different answers in a script neither reader understands stay undecided, not agreed.
    other = answer.replace("巴黎", "伦敦").replace("Париж", "Лондон").replace("باريس", "لندن")
    clash = score_answers(question, {"a": answer, "b": other}, {})
    assert clash.score is not None and clash.score <= 50


@pytest.mark.parametrize("blank", ["\u200b", "\ufeff", " \u200c\u200d\u2060 ", "\u200e\u200f"])
def test_an_invisible_answer_is_no_answer(blank: str):
    # Zero-width and direction marks only: nothing was said, so there is one answer,
    # not a "contradictory" pair.
    r = score_answers("What is the capital of France?", {"a": "Paris.", "b": blank}, {})
    assert r.score is None and r.verdict == "n/a" and "only one successful answer" in r.reason
