"""An API key echoed back in a vendor's error message is masked, also when the message was
cut short in the middle of the key."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from drux.errors import BadRequestError
from drux.providers._boundary import short
from drux.providers._secrets import without_secret

KEY = "sk-live-" + "a1b2c3d4" * 5


def test_whole_key_is_masked() -> None:
    err = without_secret(BadRequestError(f"bad key {KEY} given"), KEY)
    assert err is not None
    assert KEY not in str(err) and "***" in str(err)


def test_key_cut_by_truncation_is_masked() -> None:
    for prefix_len in range(250, 300):
        message = short("x" * prefix_len + " " + KEY + " trailing words")
        err = without_secret(BadRequestError(message), KEY)
        assert err is not None
        text = str(err)
        # No run of 8 or more characters of the key survives.
        assert not any(KEY[i:i + 8] in text for i in range(len(KEY) - 7)), text


def test_short_keys_and_no_key_leave_messages_alone() -> None:
    err = without_secret(BadRequestError("plain message"), KEY)
    assert err is not None and str(err) == "plain message"


def _streamed(pieces: list[str], secret: str | None) -> str:
    from drux.providers._secrets import StreamMasker

    masker = StreamMasker(secret)
    return "".join(masker.feed(p) for p in pieces) + masker.flush()


def _cut(text: str, cuts: list[int]) -> list[str]:
    points = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    return [text[a:b] for a, b in pairwise(points)]


@settings(max_examples=300, deadline=None)
@given(before=st.text(max_size=30), after=st.text(max_size=30),
       cuts=st.lists(st.integers(min_value=0), max_size=8), times=st.integers(1, 3))
def test_a_streamed_key_is_masked_wherever_the_pieces_are_cut(before: str, after: str,
                                                              cuts: list[int], times: int) -> None:
    text = before + (KEY + " ") * times + after
    out = _streamed(_cut(text, cuts), KEY)
    assert not any(KEY[i:i + 8] in out for i in range(len(KEY) - 7)), out
    assert out.startswith(before.split(KEY[:1])[0]) and out.count("***") >= times


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="sk-live a1b2c3d4x.", max_size=80),
       cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_streamed_text_without_the_key_comes_out_unchanged(text: str, cuts: list[int]) -> None:
    if KEY in text or any(text.endswith(KEY[:n]) for n in range(8, len(KEY))):
        return  # a long piece of the key cut off by the end of the answer is masked too
    assert _streamed(_cut(text, cuts), KEY) == text
    assert _streamed(_cut(text, cuts), None) == text


def _held_back_by_every_length(forms: list[str], text: str) -> int:
    """What StreamMasker holds back, worked out the slow, obvious way: every tail length."""
    return next((size for size in range(min(len(text), len(forms[0]) - 1), 0, -1)
                 if any(f.startswith(text[-size:]) for f in forms)), 0)


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet="sk-live%2F/\\ a1b2c3d4x.", max_size=90),
       secret=st.sampled_from([KEY, "sk/live a1b2c3d4x", "aaaaaaaaa", "ab/ab/ab/ab"]))
def test_the_held_back_tail_is_the_longest_that_begins_a_form(text: str, secret: str) -> None:
    """StreamMasker finds the tail to hold back by searching for the forms' first characters;
    the answer is that of trying every length against every form."""
    from drux.providers._secrets import StreamMasker

    masker = StreamMasker(secret)
    forms = masker._forms
    assert masker._held_back(text) == _held_back_by_every_length(forms, text)
    for form in forms:  # a tail that is most of a form, as a key cut by a chunk ends
        for size in range(1, len(form)):
            piece = text + form[:size]
            assert masker._held_back(piece) == _held_back_by_every_length(forms, piece)
