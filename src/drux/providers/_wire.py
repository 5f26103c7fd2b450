"""What every wire adapter sends and reads the same way: the request with the model's
defaults filled in, parameters without the unset ones, text that UTF-8 can encode,
token counts."""

from __future__ import annotations

from dataclasses import dataclass
from math import isfinite
from typing import Any

from drux.catalog import ModelSpec
from drux.providers._secrets import mask_secret
from drux.types import ChatRequest, Message, Usage


@dataclass(frozen=True, slots=True)
class Resolved:
    """A request with the model's own defaults filled in (the request wins)."""

    system: str | None
    turns: list[Message]
    temperature: float | None
    max_tokens: int | None
    top_p: float | None
    stop: list[str] | None
    seed: int | None
    timeout: float | None


def resolve(request: ChatRequest, spec: ModelSpec) -> Resolved:
    return Resolved(
        system=request.system or spec.system,
        turns=[m for m in request.messages if m.role != "system"],
        temperature=request.temperature if request.temperature is not None else spec.temperature,
        max_tokens=request.max_tokens if request.max_tokens is not None else spec.max_tokens,
        top_p=request.top_p,
        stop=list(request.stop) if request.stop else None,
        seed=request.seed,
        timeout=request.timeout,
    )


def well_formed(text: str) -> str:
    """Vendor text with lone surrogates replaced by U+FFFD.

    A JSON "\\ud83d" escape without its pair (an emoji split between two stream events
    by a server that slices UTF-16) decodes to a str that UTF-8 cannot encode: storing,
    streaming or serving it would fail, and with it the whole ask.
    """
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def usage_of(input_tokens: object, output_tokens: object) -> Usage:
    """Token counts as sent; one that is not a count (a string, a negative number) is 0:
    accounting noise must not fail an answer, nor fail later where counts are added."""
    return Usage(_count(input_tokens), _count(output_tokens))


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        return 0
    return int(value) if isfinite(value) else 0


def drop_none(**params: Any) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def answer_text(text: str | None, secret: str | None) -> str:
    """An answer's text as every shell gets it: well formed, ``secret`` masked (a server
    that echoes the key it was sent in an error may echo it in an answer too)."""
    return mask_secret(well_formed(text or ""), secret)
