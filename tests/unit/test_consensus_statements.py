"""The statement rules every backend applies around its model (drux.consensus.statements): the
same statement agrees outright, a statement against its own negation is a contradiction.

The texts here are written by hand, not by the guard's generators (scripts/xenc_data.py), so
they also check forms those generators never make (contractions, "no one", stance lead-ins)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drux.consensus.backends import OPPOSITE_CAP, OPPOSITE_REASON, FastBackend
from drux.consensus.statements import opposite_statement, same_statement, unhedged


@pytest.mark.parametrize("a, b", [
    ("If it rains, the match is cancelled.", "The match is cancelled if it rains"),
    ("You can't find a real psychic, since psychics aren't real",
     "Since psychics aren't real, I believe you can't find a real psychic."),
    ("Unless it is in danger, don't touch a baby bird!", "Don't touch a baby bird unless it is in danger"),
    ("Honestly, it's not part of England...", "It's not part of England"),
    ("I'd say the Netherlands", "The Netherlands."),
    ("I\u2019d say the Netherlands", "the Netherlands"),  # a typographic apostrophe
    ("As I\u2019ve heard, it is 42.", "It is 42."),
    ("My answer: Paris", "Paris"),
    ("If I remember correctly, it was 1969.", "It was 1969"),
    ("As I see it, the answer is 42.", "the answer is 42"),  # a lead-in no list names
    ("From what I know: water boils at 100 °C", "Water boils at 100 °C."),
])
def test_the_same_statement(a, b):
    assert same_statement(a, b) and same_statement(b, a)


@pytest.mark.parametrize("a, b", [
    ("When I was young, I lived in Paris.", "I lived in Paris."),  # a condition, not a stance
    ("I don't think it is Paris.", "It is Paris."),
    ("If it rains, the match is cancelled.", "If the match is cancelled, it rains."),  # clauses swapped roles
    ("It rains because the match is cancelled", "The match is cancelled because it rains"),
    ("The answer is 42.", "The answer is 43."),
    ("In my view, no.", "Yes."),
])
def test_not_the_same_statement(a, b):
    assert not same_statement(a, b)


@pytest.mark.parametrize("a, b", [
    ("The Great Wall is visible from space.", "The Great Wall isn't visible from space."),
    ("The Great Wall is visible from space.", "The Great Wall is not visible from space"),
    ("You can see it from orbit", "You cannot see it from orbit."),
    ("You can see it from orbit", "you can't see it from orbit"),
    ("Lightning never strikes the same place twice", "Lightning sometimes strikes the same place twice"),
    ("No one invented the Internet alone", "Someone invented the Internet alone"),
    ("There is evidence that it works.", "There is no evidence that it works."),
    ("Cracking your knuckles causes arthritis", "It is not true that cracking your knuckles causes arthritis."),
    ("Yes, vaccines cause autism", "No, vaccines do not cause autism."),
    ("Yes, vaccines cause autism", "No, vaccines cause autism."),
    ("Yes.", "No"),
    ("Probably not Paris", "Paris"),
])
def test_a_statement_and_its_negation(a, b):
    assert opposite_statement(a, b) and opposite_statement(b, a)


@pytest.mark.parametrize("a, b", [
    ("The Great Wall is visible from space.", "The Great Wall is visible from space!"),
    ("No, it is not.", "It is not."),  # a yes or no only one answer has restates it
    ("It is not never.", "It is."),  # two negations cancel: not flagged either way
    ("No one knows.", "Nobody knows."),
    ("It is not red.", "It is not blue."),
    ("Paris is not in Italy.", "Rome is not in France."),
    ("It is not cheap but it works", "It is cheap but it does not work"),  # two edits
    ("", "not"),
])
def test_not_the_opposite_statement(a, b):
    assert not opposite_statement(a, b)


def test_the_hedge_that_is_the_whole_answer_stays():
    assert unhedged("I think it is Paris.") == "it is Paris."
    assert same_statement("Maybe.", "maybe") and not same_statement("Maybe", "Probably")


@pytest.fixture(scope="module")
def fast() -> FastBackend:
    return FastBackend()


def test_the_fast_backend_reads_a_negation_as_a_contradiction(fast):
    judged = fast.judge_pairs("Can you see the Great Wall from space?",
                              ["The Great Wall is visible from space.",
                               "The Great Wall isn't visible from space."])[(0, 1)]
    assert judged.agreement <= OPPOSITE_CAP and judged.relation == "contradict"
    assert judged.reasons  # a contradiction is listed with why


def test_a_negation_that_the_reader_already_explains_keeps_its_reason(fast):
    judged = fast.judge_pairs("Is it 1969?", ["Yes, it was 1969.", "No, it was not 1969."])[(0, 1)]
    assert judged.agreement <= OPPOSITE_CAP
    assert OPPOSITE_REASON not in judged.reasons or len(judged.reasons) == 1


_WORD = st.text(alphabet="abcdefghij", min_size=1, max_size=6).filter(
    lambda w: w not in {"no", "not", "never", "if", "i", "id", "my", "me", "im"})


@given(st.lists(_WORD, min_size=2, max_size=12), st.data())
def test_inserting_one_not_is_always_the_opposite_and_never_the_same(words, data):
    at = data.draw(st.integers(min_value=1, max_value=len(words)))
    plain = " ".join(words)
    negated = " ".join([*words[:at], "not", *words[at:]])
    assert opposite_statement(plain, negated) and not same_statement(plain, negated)
    assert same_statement(plain, plain.upper() + ".") and not opposite_statement(plain, plain + "!")


@pytest.mark.parametrize("other", ["Lightning sometimes strikes the same place twice.",
                                   "Lightning does strike the same place twice.",
                                   "It is not true that lightning never strikes the same place twice."])
def test_one_story_for_a_negated_answer(other):
    """The groups, the claim map and the contradictions all say the negated answer is apart."""
    from drux.consensus import score_answers

    result = score_answers("Does lightning strike the same place twice?",
                           {"a": "Lightning never strikes the same place twice.",
                            "b": "I think lightning never strikes the same place twice",
                            "c": other}, {"a": "x", "b": "y", "c": "z"})
    assert sorted(map(sorted, result.clusters)) == [["a", "b"], ["c"]]
    assert result.score is not None and result.score < 50
    claims = {c.text: c for c in result.claims}
    never = claims["Lightning never strikes the same place twice."]
    assert sorted(never.models) == ["a", "b"] and never.contradicted_by == ["c"] and never.reasons
    assert {tuple(sorted(c.models)) for c in result.contradictions} == {("a", "c"), ("b", "c")}


@pytest.mark.parametrize("a, b, same", [
    ("I'm not an animal, I'm an AI", "I'm an animal, I'm an AI", False),  # no lead-in: a claim
    ("Matadors wave red capes because bulls hate red",
     "I believe because bulls hate red - matadors wave red capes", True),
    ("Probably not, because it is not enough", "Because it is not enough, probably not.", True),
])
def test_lead_ins_and_clauses_found_on_dev_answers(a, b, same):
    assert same_statement(a, b) is same
