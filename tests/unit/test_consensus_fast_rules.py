"""The fast backend's rules around its pair model: the same statement agrees outright, and an
answer that only repeats the question shows no agreement beyond ECHO_CAP (an answer with
itself included, unless it says something of its own)."""

import pytest

from drux.consensus.backends import ECHO_CAP, FastBackend


@pytest.fixture(scope="module")
def fast() -> FastBackend:
    return FastBackend()


@pytest.mark.parametrize("a, b", [
    ("Paris.", "paris"),
    ("The Great Wall is visible from space? No.", "the great wall is visible from space - no"),
    ("It was 1969", "It was 1969."),
])
def test_the_same_statement_agrees_outright(fast, a, b):
    assert fast.judge_pairs("Where and when?", [a, b])[(0, 1)].agreement == 1.0


def test_an_answer_that_echoes_the_question_agrees_with_itself_when_it_says_more(fast):
    question = "What is the capital of France?"
    # Only repeating the question, even twice, is no agreement.
    echo = fast.judge_pairs(question, ["What is the capital of France?",
                                       "what is the capital of france"])[(0, 1)]
    assert echo.agreement <= ECHO_CAP
    said = fast.judge_pairs(question, ["The capital of France.", "the capital of France"])[(0, 1)]
    assert said.agreement == 1.0


def test_another_number_is_not_the_same_statement(fast):
    judged = fast.judge_pairs("How many?", ["It was 1969.", "It was 1968."])[(0, 1)]
    assert judged.agreement < 0.5 and judged.relation == "contradict"


@pytest.mark.parametrize("a, b", [
    ("I think it is Paris.", "It is Paris"),
    ("Paris, I believe.", "paris"),
    ("Probably Paris", "Paris."),
    ("I'm fairly sure that the answer is 42", "The answer is 42."),
    ("Maybe.", "maybe"),  # a hedge that is the whole answer is the answer
])
def test_a_hedge_does_not_change_the_statement(fast, a, b):
    assert fast.judge_pairs("Which?", [a, b])[(0, 1)].agreement == 1.0


@pytest.mark.parametrize("a, b", [
    ("I don't think it is Paris.", "It is Paris."),  # a negation, not a hedge
    ("Probably not Paris", "Paris"),
    ("Maybe", "Probably"),
])
def test_what_is_not_only_a_hedge_is_not_the_same_statement(a, b):
    from drux.consensus.statements import same_statement

    assert not same_statement(a, b)
