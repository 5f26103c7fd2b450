"""The OpenAI chat-completions protocol at the gateway's edge: parse and encode.

Parsing is hand-written over ``orjson`` instead of a pydantic model: it runs on
every request, and a dict walk costs a few microseconds. Every malformed input
becomes a ``GatewayError`` 400 naming the offending ``param``.

Unknown top-level fields are ignored (clients add their own, e.g. ``user``
tags or other gateways' knobs); sampling knobs other vendors understand are
passed through in ``ChatRequest.extra``. Features the drux types cannot carry
(tools, function calls, n > 1, images) are refused with a 400 rather than
silently dropped.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from typing import Any

import orjson

from drux.gateway.errors import GatewayError, invalid
from drux.types import ChatRequest, Chunk, Completion, Message, Usage

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_UNSUPPORTED = ("tools", "functions", "tool_choice", "function_call", "audio", "modalities",
                "prediction")
_PASS_THROUGH_NUMBERS = {"presence_penalty": (-2.0, 2.0), "frequency_penalty": (-2.0, 2.0)}
_PASS_THROUGH_OTHER = ("response_format", "logit_bias", "user", "reasoning_effort")


@dataclass(slots=True)
class ChatCall:
    """A parsed ``POST /v1/chat/completions``: the public model name and the request."""

    model: str
    stream: bool
    include_usage: bool
    request: ChatRequest


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"{name} must be a number", param=name, code="invalid_type")
    if not low <= value <= high:
        raise invalid(f"{name} must be between {low:g} and {high:g}", param=name,
                      code="invalid_value")
    return float(value)


def _integer(body: dict[str, Any], name: str, low: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"{name} must be an integer", param=name, code="invalid_type")
    if value < low:
        raise invalid(f"{name} must be at least {low}", param=name, code="invalid_value")
    return value


def _content(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for i, part in enumerate(value):
            if not isinstance(part, dict) or part.get("type") != "text" \
                    or not isinstance(part.get("text"), str):
                raise invalid(f"{where}.content[{i}]: only text parts are supported",
                              param=f"{where}.content", code="unsupported_content")
            parts.append(part["text"])
        return "".join(parts)
    raise invalid(f"{where}.content must be a string or a list of text parts",
                  param=f"{where}.content", code="invalid_type")


def _messages(value: Any) -> list[Message]:
    if value is None:
        raise invalid("missing required parameter: messages", param="messages",
                      code="missing_required_parameter")
    if not isinstance(value, list) or not value:
        raise invalid("messages must be a non-empty array", param="messages", code="invalid_type")
    messages = []
    for i, raw in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(raw, dict):
            raise invalid(f"{where} must be an object", param=where, code="invalid_type")
        role = raw.get("role")
        role = _ROLES.get(role) if isinstance(role, str) else None
        if role is None:
            raise invalid(f"{where}.role {raw.get('role')!r} is not supported (system, developer, "
                          "user, assistant)", param=f"{where}.role", code="invalid_value")
        for field in ("tool_calls", "function_call", "tool_call_id"):
            if raw.get(field) is not None:  # refused, never dropped: the answer would differ
                raise invalid(f"{where}.{field}: tool and function calls are not supported",
                              param=f"{where}.{field}", code="unsupported_parameter")
        content = raw.get("content")
        if content is None:
            raise invalid(f"{where}.content is required", param=f"{where}.content",
                          code="missing_required_parameter")
        messages.append(Message(role, _content(content, where)))  # type: ignore[arg-type]
    return messages


def _stop(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and len(value) <= 4 and all(isinstance(s, str) for s in value):
        return list(value)
    raise invalid("stop must be a string or an array of at most 4 strings", param="stop",
                  code="invalid_type")


def _stream_flags(body: dict[str, Any]) -> tuple[bool, bool]:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid("stream must be a boolean", param="stream", code="invalid_type")
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not isinstance(options, dict):
            raise invalid("stream_options must be an object", param="stream_options",
                          code="invalid_type")
        flag = options.get("include_usage", False)
        if not isinstance(flag, bool):
            raise invalid("stream_options.include_usage must be a boolean",
                          param="stream_options.include_usage", code="invalid_type")
        include_usage = flag
    return bool(stream), include_usage


def _extra(body: dict[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for name, (low, high) in _PASS_THROUGH_NUMBERS.items():
        value = _number(body, name, low, high)
        if value is not None:
            extra[name] = value
    for name in _PASS_THROUGH_OTHER:
        if body.get(name) is not None:
            extra[name] = body[name]
    return extra


def _load(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise invalid("the request body is empty; send a JSON object", code="invalid_json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid(f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object", code="invalid_json")
    return body


def parse_chat(raw: bytes, *, timeout: float | None) -> ChatCall:
    body = _load(raw)
    model = body.get("model")
    if model is None:
        raise invalid("missing required parameter: model", param="model",
                      code="missing_required_parameter")
    if not isinstance(model, str) or not model.strip():
        raise invalid("model must be a non-empty string", param="model", code="invalid_type")
    for name in _UNSUPPORTED:
        if body.get(name) is not None:
            raise invalid(f"{name} is not supported by the drux gateway", param=name,
                          code="unsupported_parameter")
    n = _integer(body, "n", 1)
    if n is not None and n != 1:
        raise invalid("only n=1 is supported", param="n", code="unsupported_value")
    max_tokens = _integer(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens", 1)
    stream, include_usage = _stream_flags(body)
    seed = _integer(body, "seed", -(2**63))
    request = ChatRequest(
        messages=_messages(body.get("messages")), model=model,
        temperature=_number(body, "temperature", 0.0, 2.0), max_tokens=max_tokens,
        top_p=_number(body, "top_p", 0.0, 1.0), stop=_stop(body.get("stop")), seed=seed,
        timeout=timeout, extra=_extra(body))
    return ChatCall(model, stream, include_usage, request)


# -- encoding ---------------------------------------------------------------------------------

_ID_PREFIX = f"chatcmpl-drux{os.getpid():x}{int(time.time()):x}-"
_counter = itertools.count(1)


def new_id() -> str:
    """Unique per process and start: a prefix plus a counter (cheaper than random bytes)."""
    return f"{_ID_PREFIX}{next(_counter):x}"


def usage_dict(usage: Usage) -> dict[str, int]:
    return {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens}


def completion_body(completion: Completion, *, model: str, call_id: str, created: int) -> bytes:
    return orjson.dumps({
        "id": call_id, "object": "chat.completion", "created": created, "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "logprobs": None,
                     "finish_reason": completion.finish_reason or "stop",
                     "message": {"role": "assistant", "content": completion.text,
                                 "refusal": None}}],
        "usage": usage_dict(completion.usage),
    })


@dataclass(slots=True)
class ChunkEncoder:
    """SSE frames of one streamed answer, in OpenAI's ``chat.completion.chunk`` shape."""

    call_id: str
    model: str
    created: int
    include_usage: bool

    def _frame(self, choices: list[dict[str, Any]], usage: Any = None) -> bytes:
        obj: dict[str, Any] = {"id": self.call_id, "object": "chat.completion.chunk",
                               "created": self.created, "model": self.model,
                               "system_fingerprint": None, "choices": choices}
        if self.include_usage:
            obj["usage"] = usage
        return b"data: " + orjson.dumps(obj) + b"\n\n"

    def role(self) -> bytes:
        return self._frame([{"index": 0, "delta": {"role": "assistant", "content": ""},
                             "logprobs": None, "finish_reason": None}])

    def chunk(self, chunk: Chunk) -> bytes:
        frames = b""
        if chunk.text:
            frames = self._frame([{"index": 0, "delta": {"content": chunk.text},
                                   "logprobs": None, "finish_reason": None}])
        if chunk.finish_reason is not None:
            frames += self._frame([{"index": 0, "delta": {}, "logprobs": None,
                                    "finish_reason": chunk.finish_reason}])
        return frames

    def usage(self, usage: Usage) -> bytes:
        return self._frame([], usage_dict(usage))

    @staticmethod
    def error(err: GatewayError) -> bytes:
        """An error after the stream started: OpenAI sends ``data: {"error": ...}``."""
        return b"data: " + err.body() + b"\n\n"

    @staticmethod
    def done() -> bytes:
        return b"data: [DONE]\n\n"
