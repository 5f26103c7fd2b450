"""An API key echoed back in a vendor's error message is masked, also when the message was
cut short in the middle of the key."""

from __future__ import annotations

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
