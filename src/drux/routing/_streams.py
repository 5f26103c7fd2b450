"""Small helpers shared by the routing wrappers for handling chunk streams."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from drux.types import Chunk


def is_visible(chunk: Chunk) -> bool:
    """A chunk a user could see or act on: text, a restart, or the end of the answer."""
    return bool(chunk.text) or chunk.restart or chunk.finish_reason is not None


async def aclose_quietly(stream: AsyncIterator[Any]) -> None:
    """Close an async iterator if it can be closed; a failing close must not mask the cause."""
    closer = getattr(stream, "aclose", None)
    if closer is None:
        return
    with contextlib.suppress(Exception):
        await closer()


async def read_until_visible(stream: AsyncIterator[Chunk]) -> list[Chunk]:
    """Pull chunks until the first visible one (inclusive) or the end of the stream.

    Invisible chunks (role markers, empty deltas) are kept so nothing is lost.
    """
    head: list[Chunk] = []
    async for chunk in stream:
        head.append(chunk)
        if is_visible(chunk):
            break
    return head
