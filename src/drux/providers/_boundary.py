"""The adapters' error boundary: whatever an SDK or the network raises becomes a
``ProviderError`` of the drux tree, keeping the cause.

Vendor error bodies are *not* read here: each adapter maps its own vendor's
shapes at its own boundary; this module holds what they share (the boundary
itself, transport and shape failures the SDKs let through, Retry-After, the
stream guard).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import aclosing, contextmanager
from email.utils import parsedate_to_datetime
from math import isfinite
from time import time

from drux.errors import (
    MalformedResponseError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    StreamInterruptedError,
)
from drux.providers._secrets import StreamMasker
from drux.providers._wire import well_formed
from drux.types import Chunk

ErrorMapper = Callable[[BaseException], "ProviderError | None"]


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
