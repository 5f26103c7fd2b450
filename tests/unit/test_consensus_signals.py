import pytest

from drux.consensus.signals import compare, read_answer, split_sentences


def view(text: str, question: str = ""):
    return read_answer(text, question)


def test_yes_no_polarity_clash_is_reported():
    s = compare(view("Yes, it is safe."), view("No, it is not safe."))
    assert s.polarity_clash and not s.polarity_same
    assert any(r.startswith("polarity") for r in s.reasons)


def test_same_polarity_is_not_a_clash():
    s = compare(view("No, never."), view("No, it cannot happen."))
    assert s.polarity_same and not s.polarity_clash


def test_numbers_and_years_clash_or_match():
    q = "How many moons does Mars have?"
    assert compare(view("Mars has two moons", q), view("Mars has 3 moons", q)).number_clash
    assert compare(view("Mars has two moons", q), view("It has 2 moons", q)).number_match
    s = compare(view("It ended in 1945"), view("It ended in 1918"))
    assert s.year_clash and any(r.startswith("date") for r in s.reasons)


def test_numbers_in_the_question_are_ignored():
    q = "What happened in 1969?"
    s = compare(view("In 1969 people landed on the Moon", q), view("Apollo 11 landed in 1969", q))
    assert not s.year_clash


def test_entity_clash_between_different_names():
    q = "Who wrote the novel?"
    s = compare(view("It was written by Charles Dickens", q), view("It was written by Jane Austen", q))
    assert s.entity_clash
    assert not compare(view("Written by Charles Dickens", q), view("Charles Dickens wrote it", q)).entity_clash


def test_negation_affirm_vs_deny_is_a_term_clash():
    q = "What happens if you swallow gum?"
    s = compare(view("It stays in your stomach for years", q), view("It does not stay in your stomach", q))
    assert s.term_clash >= 1
    assert s.negation_mismatch


def test_myth_that_x_denies_x():
    v = view("It is a myth that bulls hate red, but they are colour-blind to it")
    assert v.contrastive and v.negated
    assert "bull" in v.denied or "hate" in v.denied
    s = compare(v, view("Bulls hate the colour red"))
    assert s.term_clash >= 1


def test_split_sentences_keeps_content():
    assert split_sentences("One. Two!  Three?") == ["One.", "Two!", "Three?"]


def test_x_not_y_denies_y():
    q = "What is the capital of Australia?"
    a = view("The capital is Canberra, not Sydney.", q)
    assert "sydney" in a.denied and "canberra" in a.asserted
    assert compare(a, view("Sydney is the capital.", q)).term_clash == 1
    assert compare(a, view("It is Canberra.", q)).term_clash == 0


BOIL = "At what temperature does water boil?"


def test_celsius_written_two_ways_is_one_unit_not_an_entity_clash():
    a = view("Water boils at 100 degrees Celsius at sea level.", BOIL)
    b = view("At sea level, water boils at 100 °C.", BOIL)
    s = compare(a, b)
    assert s.number_match and not s.number_clash
    assert not s.entity_clash and s.reasons == []
    assert not a.entities and not b.entities


def test_a_different_temperature_is_reported_in_the_answers_words():
    a = view("Water boils at 100 degrees Celsius at sea level.", BOIL)
    c = view("Water boils at 90 degrees Celsius at sea level.", BOIL)
    for first in (a, view("At sea level, water boils at 100 °C.", BOIL)):
        s = compare(first, c)
        assert s.number_clash
        assert s.reasons == ["number: 100 vs 90"]
    assert not any("celsiu" in r.lower() or r.startswith("entity") for r in compare(a, c).reasons)


@pytest.mark.parametrize(("one", "other"), [
    ("It is 40 °C", "It is 40 ℃"),
    ("It is 40 degrees C", "It is 40 Celsius"),
    ("It is 40 °F", "It is 40 degrees Fahrenheit"),
    ("It is 300 K", "It is 300 kelvin"),
    ("It is 42 km", "It is 42 kilometres away, or 42 kilometers"),
    ("It is 8 m", "It is 8 metres, 8 meters"),
    ("It weighs 3 kg", "It weighs 3 kilograms"),
    ("About 20%", "About 20 percent, or 20 per cent"),
    ("It costs $5", "It costs 5 USD, that is 5 dollars"),
    ("It costs $5 million", "It costs 5 million dollars"),
    ("It boils at 100 °C", "It boils at 212 °F"),
    ("Normal is 37 °C", "Normal is 98.6 degrees Fahrenheit"),
    ("Absolute zero is 0 K", "Absolute zero is -273.15 °C"),
    ("The race is 5 km", "The race is 5,000 m"),
    ("A marathon is 26.2 miles", "A marathon is 42.195 km"),
])
def test_same_quantity_in_other_words_or_units_matches(one, other):
    s = compare(view(one), view(other))
    assert s.number_match and not s.number_clash
    assert not s.entity_clash


@pytest.mark.parametrize(("one", "other", "reason"), [
    ("It boils at 100 °C", "It boils at 100 °F", "number: 100 °C vs 100 °F"),
    ("The race is 5 km", "The race is 5 miles", "number: 5 km vs 5 miles"),
    ("About 5 million people", "About 6 million people", "number: 5 million vs 6 million"),
    ("It has two moons", "It has 3 moons", "number: two vs 3"),
])
def test_different_quantities_clash_with_surface_reasons(one, other, reason):
    s = compare(view(one), view(other))
    assert s.number_clash and reason in s.reasons


def test_quantities_of_different_kinds_are_not_compared():
    s = compare(view("Water boils at 100 °C"), view("It takes about 5 minutes"))
    assert not s.number_clash and not s.number_match


def test_unit_names_are_never_entities_but_letters_outside_quantities_are():
    assert not view("Measure it in Celsius or Fahrenheit, not Kelvin").entities
    assert view("It is 20 °C and 68 °F").entities == frozenset()
    s = compare(view("Take some vitamin C"), view("Take some vitamin D"))
    assert s.entity_clash and "entity: C vs D" in s.reasons


def test_entity_clash_shows_names_as_written():
    q = "Which city is the capital?"
    s = compare(view("The answer is Paris.", q), view("The answer is Lyon.", q))
    assert s.entity_clash and s.reasons == ["entity: Paris vs Lyon"]
    assert not compare(view("The answer is Paris.", q), view("It is Paris, of course.", q)).entity_clash


def test_negation_reason_uses_the_word_as_written():
    q = "What is the capital of Australia?"
    s = compare(view("The capital is Canberra, not Sydney.", q), view("Sydney is the capital.", q))
    assert "negation: one affirms, the other denies 'Sydney'" in s.reasons


def test_years_and_measurements_are_told_apart():
    assert view("The road is 2000 km long").years == frozenset()
    assert view("It was popular in the 1960s").years == frozenset({1960})
    assert compare(view("It ended in 1945"), view("It ended in 1918")).reasons == ["date: 1945 vs 1918"]


def test_entity_reason_keeps_multi_word_names_in_order():
    s = compare(view("It is in San Francisco, California.", "Where?"), view("It is in Los Angeles.", "Where?"))
    assert s.reasons == ["entity: San Francisco vs Los Angeles"]
    s = compare(view("It was Paris and later Rome.", "Where?"), view("It was Lyon.", "Where?"))
    assert s.reasons == ["entity: Paris, Rome vs Lyon"]


# -- names that open a sentence, and one fact swapped -------------------------------------------
CAPITAL = "What is the capital of Australia?"


def _pair(a: str, b: str, question: str = CAPITAL):
    return compare(read_answer(a, question), read_answer(b, question))


def test_a_name_that_opens_the_sentence_clashes_with_a_name_the_other_states():
    s = _pair("The capital of Australia is Sydney.", "Canberra is the capital city of Australia.")
    assert s.entity_clash and "entity: Sydney vs Canberra" in s.reasons
    assert not _pair("The capital of Australia is Canberra.", "Canberra is the capital.").entity_clash


def test_an_ordinary_word_that_opens_the_sentence_is_not_a_name():
    q = "At what temperature does water boil?"
    s = _pair("It boils at 100 degrees Celsius in Paris.", "Boiling starts at 100 degrees.", q)
    assert not s.entity_clash  # not the subject of "X is ..."
    s = _pair("At sea level the heat is 100 degrees in Denver.", "Heat is what makes it boil.", q)
    assert not s.entity_clash  # "heat" is written in lower case in the other answer


@pytest.mark.parametrize("a, b, reason", [
    ("Sydney is the capital of Australia.", "Canberra is the capital of Australia.",
     "entity: Sydney vs Canberra"),
    ("Irvin Kershner directed Return of the Jedi", "Richard Marquand directed Return of the Jedi",
     "entity: Irvin Kershner vs Richard Marquand"),
    ("Oxford began 200 years before.", "Oxford began 199 years before.", "number: 200 vs 199"),
])
def test_one_name_or_number_swapped_is_a_clash(a, b, reason):
    s = _pair(a, b)
    assert s.swapped and reason in s.reasons


@pytest.mark.parametrize("a, b", [
    ("Sydney is the capital.", "sydney is the capital"),  # the same words
    ("Canberra.", "Sydney."),  # nothing shared around them: not a swap
    ("It is in Paris.", "It is in the north of France."),  # more than a name changed
    ("The city is Paris.", "The city is big."),  # not a name
])
def test_not_a_swap(a, b):
    assert not _pair(a, b).swapped
