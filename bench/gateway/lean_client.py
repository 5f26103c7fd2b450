#!/usr/bin/env python3
"""The lean client alone: N non-streamed then N streamed calls in a row through
``LeanOpenAIChat`` (uvloop) to an OpenAI-wire upstream at ``--url`` (the kit's
fake_upstream.py). Run it under each source tree in turn (``PYTHONPATH=<tree>/src``)
and compare the whole process's user + system CPU, pair by pair, e.g. with
``/usr/bin/time -f "%U %S"``; N=1 gives the start-up part to subtract."""

from __future__ import annotations

import argparse
import asyncio

from drux.catalog import ModelSpec, VendorSpec
from drux.gateway.upstream import LeanOpenAIChat
from drux.types import ChatRequest, Message


async def calls(url: str, n: int) -> None:
    vendor = VendorSpec("bench", "openai", "fake", url)
    spec = ModelSpec(id="fake-gpt", vendor="bench", upstream="fake-gpt", family="fake")
    lean = LeanOpenAIChat(spec, vendor, "sk-bench-not-a-key", 10.0)
    request = ChatRequest(messages=[Message("user", "Say hello in one short sentence.")],
                          max_tokens=16)
    for _ in range(n):
        assert (await lean.complete(request)).text
    for _ in range(n):
        chunks = [c async for c in lean.stream(request)]
        assert chunks[-1].finish_reason == "stop"
    await lean.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:9000/v1")
    ap.add_argument("-n", type=int, default=4000)
    a = ap.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(calls(a.url, a.n))
    else:
        uvloop.run(calls(a.url, a.n))


if __name__ == "__main__":
    main()
