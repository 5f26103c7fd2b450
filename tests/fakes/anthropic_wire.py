"""Anthropic messages on the wire: ``POST /v1/messages``.

Streams use the documented named SSE events: ``message_start``,
``content_block_start``, ``ping``, ``content_block_delta`` (``text_delta``),
``content_block_stop``, ``message_delta`` (stop_reason and output usage),
``message_stop``, and ``error`` for failures after the 200. Errors are
``{"type": "error", "error": {"type", "message"}, "request_id"}``.
"""

from __future__ import annotations

from typing import Any

from .behaviours import Fail, Reply
from .wire import Frames, Request, sse_event

_STOP = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal",
         "prompt_blocked": "refusal"}

# kind -> (status, error.type, message)
_ERRORS: dict[str, tuple[int, str, str]] = {
    "auth": (401, "authentication_error", "invalid x-api-key"),
    "permission": (403, "permission_error",
                   "Your API key does not have permission to use the specified resource."),
    "not_found": (404, "not_found_error", "model: {model}"),
    "bad_request": (400, "invalid_request_error", "max_tokens: Field required"),
    "context_window": (400, "invalid_request_error",
                       "prompt is too long: 208310 tokens > 200000 maximum"),
    "rate_limit": (429, "rate_limit_error",
                   "This request would exceed the rate limit for your organization."),
    "quota": (429, "rate_limit_error",
              "Your organization has reached its monthly spend limit."),
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "server": (500, "api_error", "Internal server error"),
}


class AnthropicWire:
    name = "anthropic"
    retry_after_header = True

    def match(self, method: str, path: str) -> bool:
        return method == "POST" and path.rstrip("/").endswith("/v1/messages")

    def model(self, req: Request) -> str:
        return str((req.json or {}).get("model", ""))

    def streaming(self, req: Request) -> bool:
        return bool((req.json or {}).get("stream"))

    def api_key(self, req: Request) -> str | None:
        # x-api-key as documented; the SDK may send the same key as a Bearer token.
        if "x-api-key" in req.headers:
            return req.headers["x-api-key"]
        auth = req.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    def body(self, reply: Reply, req: Request) -> dict[str, Any]:
        model = self.model(req)
        inp, out = reply.usage(model)
        return {
            "id": "msg_fake01", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": reply.full_text(model)}],
            "stop_reason": _STOP[reply.finish], "stop_sequence": None,
            "usage": {"input_tokens": inp, "output_tokens": out},
        }

    def frames(self, reply: Reply, req: Request) -> Frames:
        model = self.model(req)
        inp, out = reply.usage(model)
        start = {"id": "msg_fake01", "type": "message", "role": "assistant", "model": model,
                 "content": [], "stop_reason": None, "stop_sequence": None,
                 "usage": {"input_tokens": inp, "output_tokens": 1}}
        opening = [
            sse_event("message_start", {"type": "message_start", "message": start}),
            sse_event("content_block_start", {"type": "content_block_start", "index": 0,
                                              "content_block": {"type": "text", "text": ""}}),
            sse_event("ping", {"type": "ping"}),
        ]
        pieces = [sse_event("content_block_delta", {
            "type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": p}}) for p in reply.pieces(model)]
        closing = [
            sse_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            sse_event("message_delta", {
                "type": "message_delta",
                "delta": {"stop_reason": _STOP[reply.finish], "stop_sequence": None},
                "usage": {"output_tokens": out}}),
            sse_event("message_stop", {"type": "message_stop"}),
        ]
        return Frames(opening, pieces, closing)

    def error(self, fail: Fail, req: Request) -> tuple[int, Any]:
        if fail.kind not in _ERRORS:
            raise ValueError(f"Anthropic documents no {fail.kind!r} error; use Reply(finish=...)")
        status, type_, message = _ERRORS[fail.kind]
        if fail.body is not None:
            return fail.status or status, fail.body
        error: dict[str, Any] = {"type": type_,
                                 "message": fail.message or message.format(model=self.model(req))}
        if fail.kind == "quota":
            error["details"] = {"error_code": "enforced_spend_limit_reached"}
        return fail.status or status, {"type": "error", "error": error, "request_id": "req_fake01"}

    def error_frame(self, fail: Fail, req: Request) -> bytes:
        _, body = self.error(fail, req)
        return sse_event("error", body)

    def malformed_frame(self) -> bytes:
        return sse_event("content_block_delta", '{"type": "content_block_delta", "delta": {"te')
