"""Text a vendor sends that Python can hold but UTF-8 cannot: a JSON "\\ud83d" escape
without its pair (an emoji split between two stream events by a server that slices
UTF-16). Every adapter hands on text that can be stored, streamed and served."""

from __future__ import annotations

import pytest
from adapter_kit import PROTOCOLS, MakeProvider, ask, drain

from fakes import FakeServer, Reply


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_split_surrogate_pair_becomes_replacement_characters(
    protocol: str, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    fake_llm.default = Reply(chunks=["Smile \ud83d", "\ude00 done"])
    provider = make_provider(protocol)
    chunks = await drain(provider.stream(ask()))
    text = "".join(c.text for c in chunks)
    assert text.encode() == "Smile \ufffd\ufffd done".encode()
    fake_llm.default = Reply("lone \udcff here")
    answer = await provider.complete(ask())
    assert answer.text == "lone \ufffd here"
