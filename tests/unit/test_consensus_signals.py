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
