"""The hot-path value types."""

from __future__ import annotations

from dataclasses import fields, replace

from drux.types import ChatRequest, Message


def test_narrowed_keeps_every_other_field() -> None:
    """``narrowed`` spells out ChatRequest's fields for speed: a field added later and
    forgotten there would be dropped on every routed call."""
    request = ChatRequest([Message("user", "hi")], model="m", temperature=0.5, max_tokens=9,
                          top_p=0.9, stop=["x"], seed=3, timeout=30.0, extra={"logprobs": True})
    assert {f.name for f in fields(ChatRequest)} == {
        "messages", "model", "temperature", "max_tokens", "top_p", "stop", "seed", "timeout",
        "extra"}, "a new field: copy it in ChatRequest.narrowed, then add it here"
    assert request.narrowed(2.5) == replace(request, timeout=2.5)
    assert request.narrowed(None, "other") == replace(request, timeout=None, model="other")
    assert request.narrowed(1.0).messages is request.messages  # shared, as replace shares them
