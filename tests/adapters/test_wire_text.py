"""Text a vendor sends that Python can hold but UTF-8 cannot: a JSON "\\ud83d" escape
without its pair (an emoji split between two stream events by a server that slices
UTF-16). Every adapter hands on text that can be stored, streamed and served."""

from __future__ import annotations

from typing import Any

import pytest
from adapter_kit import PROTOCOLS, MakeProvider, app_config, ask, drain

from drux.catalog import ModelSpec, VendorSpec
from drux.gateway.upstream import LeanOpenAIChat

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


async def test_the_gateways_lean_client_reads_it_as_the_sdk_adapter_does(
    fake_llm: FakeServer, drux_env: Any
) -> None:
    vendor = VendorSpec("fake-openai", "openai", "fake", fake_llm.openai_url)
    spec = ModelSpec(id="drux-openai", vendor=vendor.name, upstream="fake-model", family="fake")
    lean = LeanOpenAIChat(spec, vendor, app_config(vendor, spec).require_key(vendor), 5.0)
    try:
        fake_llm.default = Reply(chunks=["Smile \ud83d", "\ude00 done"])
        chunks = await drain(lean.stream(ask()))
        assert "".join(c.text for c in chunks) == "Smile \ufffd\ufffd done"
        fake_llm.default = Reply("lone \udcff here")
        assert (await lean.complete(ask())).text == "lone \ufffd here"
    finally:
        await lean.aclose()
