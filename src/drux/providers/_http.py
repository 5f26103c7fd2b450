"""What the SDK adapters share: the request as a model sees it, Retry-After,
transport failures the SDKs let through, and the stream guard.

Vendor error bodies are *not* read here: each adapter maps its own vendor's
shapes at its own boundary.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from math import isfinite
from time import time
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

from drux.catalog import ModelSpec
from drux.errors import (
    MalformedResponseError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    StreamInterruptedError,
)
from drux.types import ChatRequest, Chunk, Message, Usage

ErrorMapper = Callable[[BaseException], "ProviderError | None"]
E = TypeVar("E", bound="ProviderError | None")


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


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return wait_seconds(float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return wait_seconds(float(value))
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time(), 0.0)
    except (TypeError, ValueError):
        return None


def wait_seconds(value: float) -> float | None:
    """A vendor's wait as seconds: "nan", "inf" or a number too long for a float is no
    wait at all, since it cannot be waited for, compared or sent on as a header."""
    return max(value, 0.0) if isfinite(value) else None


def short(message: object, limit: int = 300) -> str:
    text = " ".join(str(message).split())
    if not text and isinstance(message, BaseException):
        text = type(message).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def without_secret(error: E, secret: str | None) -> E:
    """``error`` with ``secret`` (the API key sent) masked: some servers echo the key back in
    their error bodies, and error messages are stored, printed and served."""
    if error is None or not secret or len(secret) < 8:
        return error
    message = mask_secret(error.message, secret)
    if message != error.message:
        error.message = message
        error.args = (error.message,)
    if error.body is not None:
        # repr doubles the backslash of a JSON "\\/" left in the body: compare without them too.
        shown = (repr(error.body), str(error.body), repr(error.body).replace("\\", ""))
        if any(form in text for form in secret_forms(secret) for text in shown):
            error.body = None
    return error


def secret_forms(secret: str) -> list[str]:
    """``secret`` as a server may echo it: as sent, URL-encoded (``%2F``, ``%2f`` or ``+``
    for a space) or JSON-escaped (``\\/`` too); longest first."""
    url = quote(secret, safe="")
    escaped = json.dumps(secret)[1:-1]
    forms = {secret, url, quote_plus(secret, safe=""), escaped, escaped.replace("/", "\\/"),
             re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), url)}
    return sorted(forms, key=len, reverse=True)


def mask_secret(text: str, secret: str | None) -> str:
    """``text`` with every form of ``secret`` replaced by ``***``; keys shorter than 8
    characters are not masked (they would mask ordinary words)."""
    if not secret or len(secret) < 8:
        return text
    forms = secret_forms(secret)
    for form in forms:
        text = text.replace(form, "***")
    if text.endswith("…"):
        # ``short`` may have cut the echoed key in half: mask a trailing piece of it too.
        body = text[:-1]
        for form in forms:
            for size in range(len(form) - 1, 7, -1):
                if body.endswith(form[:size]):
                    return body[:-size] + "***…"
    return text


def transport_error(exc: BaseException, *, name: str, provider: str, model: str) -> ProviderError | None:
    """httpx/httpx2 timeouts, network failures and undecodable bodies that reach us unwrapped."""
    for module in (sys.modules.get("httpx2"), sys.modules.get("httpx")):
        if module is None:
            continue
        if isinstance(exc, module.TimeoutException):
            return ProviderTimeoutError(f"{name}: no answer in time",
                                        provider=provider, model=model)
        if isinstance(exc, module.DecodingError):  # e.g. "gzip" on a body that is not
            return MalformedResponseError(f"{name}: answer body cannot be decoded: {short(exc)}",
                                          provider=provider, model=model)
        if isinstance(exc, module.RequestError):  # transport failures, redirect loops
            return ProviderConnectionError(f"{name}: connection failed: {short(exc)}",
                                           provider=provider, model=model)
    if isinstance(exc, ConnectionError):
        return ProviderConnectionError(f"{name}: connection failed: {short(exc)}",
                                       provider=provider, model=model)
    return None


def shape_error(exc: BaseException, *, name: str, provider: str, model: str) -> ProviderError | None:
    """An answer whose fields have the wrong types, found where drux reads them.

    The openai and anthropic SDKs build answers without validating them, so a number
    where text belongs or a missing ``usage`` surfaces as AttributeError/TypeError when
    read; google-genai validates with pydantic (a ValueError). Only the vendor's answer
    is read inside an adapter's boundary, so these mean a malformed answer.
    """
    if isinstance(exc, AttributeError | TypeError | ValueError | KeyError | IndexError):
        return MalformedResponseError(f"{name}: answer is not in the documented shape: "
                                      f"{type(exc).__name__}: {short(exc)}",
                                      provider=provider, model=model)
    return None


@contextmanager
def boundary(mapper: ErrorMapper) -> Iterator[None]:
    """Turn whatever the SDK raises into the drux error tree, keeping the cause."""
    try:
        yield
    except ProviderError:
        raise
    except Exception as exc:
        mapped = mapper(exc)
        if mapped is None:
            raise
        raise mapped from exc


def ended_early(name: str, provider: str, model: str, emitted: bool) -> ProviderError:
    """The body ended without the vendor's final event."""
    if emitted:
        return StreamInterruptedError(f"{name}: stream ended before the answer finished",
                                      provider=provider, model=model)
    return MalformedResponseError(f"{name}: stream ended without an answer",
                                  provider=provider, model=model)


def after_output(err: ProviderError, emitted: bool) -> ProviderError:
    """A retryable failure after some text was streamed is an interrupted stream."""
    if not emitted or not err.retryable or isinstance(err, StreamInterruptedError):
        return err
    broken = StreamInterruptedError(f"{err.message} (after partial output)", provider=err.provider,
                                    model=err.model, status=err.status, body=err.body)
    broken.__cause__ = err
    return broken


async def guard_stream(source: AsyncIterator[Chunk], mapper: ErrorMapper, *,
                       secret: str | None = None) -> AsyncIterator[Chunk]:
    """Map errors of an adapter's raw chunk stream, noting whether text was already sent;
    ``secret`` (the API key sent) is masked in the text, also when split across chunks."""
    emitted = False
    masker = StreamMasker(secret)
    deployment = ""
    try:
        async with aclosing(source):  # type: ignore[type-var]
            with boundary(mapper):
                async for chunk in source:
                    sent, deployment = chunk.text, chunk.deployment
                    chunk.text = masker.feed(well_formed(sent))
                    if chunk.finish_reason is not None or chunk.usage is not None:
                        chunk.text += masker.flush()
                    elif sent and not chunk.text:
                        continue  # all of it held back: nothing to hand on yet
                    emitted = emitted or bool(chunk.text)
                    yield chunk
                if rest := masker.flush():  # the adapter ended without a last chunk
                    yield Chunk(text=rest, deployment=deployment)
    except ProviderError as err:
        mapped = after_output(err, emitted)
        if mapped is err:
            raise
        raise mapped from err


def answer_text(text: str | None, secret: str | None) -> str:
    """An answer's text as every shell gets it: well formed, ``secret`` masked (a server
    that echoes the key it was sent in an error may echo it in an answer too)."""
    return mask_secret(well_formed(text or ""), secret)


class StreamMasker:
    """Masks a secret in streamed text. A tail that could be the start of the secret is held
    back until the next piece shows whether it is, so a key split across two chunks is
    masked whole; held text is released with the stream's last chunk."""

    def __init__(self, secret: str | None) -> None:
        self._forms = secret_forms(secret) if secret and len(secret) >= 8 else []
        self._held = ""

    def feed(self, text: str) -> str:
        if not self._forms:
            return text
        text = self._held + text
        for form in self._forms:
            text = text.replace(form, "***")
        keep = next((size for size in range(min(len(text), len(self._forms[0]) - 1), 0, -1)
                     if any(f.startswith(text[-size:]) for f in self._forms)), 0)
        self._held = text[len(text) - keep:] if keep else ""
        return text[:len(text) - keep]

    def flush(self) -> str:
        """The held tail: masked if it is a long enough piece of the secret to matter."""
        rest, self._held = self._held, ""
        return "***" if len(rest) >= 8 else rest


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
