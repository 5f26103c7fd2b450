"""OpenAI chat completions on the wire: ``POST /v1/chat/completions``.

JSON answers are ``chat.completion`` objects; streams are ``data:`` lines of
``chat.completion.chunk`` objects ending in ``data: [DONE]``. The usage chunk
(empty ``choices``) is sent only when the request asks for it through
``stream_options.include_usage``, as the API does. Errors are
``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import json
from typing import Any

from .behaviours import Fail, Reply
from .wire import Frames, Request, as_text, sse_data

_FINISH = {"stop": "stop", "length": "length", "content_filter": "content_filter",
           "prompt_blocked": "content_filter"}

# kind -> (status, type, code, param, message)
_ERRORS: dict[str, tuple[int, str | None, str | None, str | None, str]] = {
    "auth": (401, "invalid_request_error", "invalid_api_key", None,
             "Incorrect API key provided: sk-fake***. You can find your API key in your account."),
    "permission": (403, "request_forbidden", "unsupported_country_region_territory", None,
                   "Country, region, or territory not supported"),
    "not_found": (404, "invalid_request_error", "model_not_found", None,
                  "The model `{model}` does not exist or you do not have access to it."),
    "bad_request": (400, "invalid_request_error", None, "temperature",
                    "Invalid 'temperature': decimal above maximum value."),
    "context_window": (400, "invalid_request_error", "context_length_exceeded", "messages",
                       "This model's maximum context length is 128000 tokens. However, your "
                       "messages resulted in 130512 tokens. Please reduce the length of the messages."),
    "rate_limit": (429, "requests", "rate_limit_exceeded", None,
                   "Rate limit reached for {model} on requests per min (RPM): Limit 3, Used 3."),
    "quota": (429, "insufficient_quota", "insufficient_quota", None,
              "You exceeded your current quota, please check your plan and billing details."),
    "overloaded": (503, "server_error", None, None,
                   "The engine is currently overloaded, please try again later"),
    "server": (500, "server_error", None, None,
               "The server had an error while processing your request. Sorry about that!"),
}


class OpenAIWire:
    name = "openai"
    retry_after_header = True

    def match(self, method: str, path: str) -> bool:
        return method == "POST" and path.rstrip("/").endswith("/chat/completions")

    def model(self, req: Request) -> str:
        return str((req.json or {}).get("model", ""))

    def streaming(self, req: Request) -> bool:
        return bool((req.json or {}).get("stream"))

    def api_key(self, req: Request) -> str | None:
        auth = req.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    def _usage(self, reply: Reply, model: str) -> dict[str, int]:
        inp, out = reply.usage(model)
        return {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out}

    def body(self, reply: Reply, req: Request) -> dict[str, Any]:
        model = self.model(req)
        return {
            "id": "chatcmpl-fake1", "object": "chat.completion", "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "logprobs": None, "finish_reason": _FINISH[reply.finish],
                         "message": {"role": "assistant", "content": reply.full_text(model),
                                     "refusal": None}}],
            "usage": self._usage(reply, model),
        }

    def _chunk(self, model: str, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        obj = {"id": "chatcmpl-fake1", "object": "chat.completion.chunk",
               "created": 1_700_000_000, "model": model, "choices": choices, **extra}
        return sse_data(json.dumps(obj))

    def frames(self, reply: Reply, req: Request) -> Frames:
        model = self.model(req)
        opening = [self._chunk(model, [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                        "finish_reason": None}])]
        pieces = [self._chunk(model, [{"index": 0, "delta": {"content": p}, "finish_reason": None}])
                  for p in reply.pieces(model)]
        closing = [self._chunk(model, [{"index": 0, "delta": {},
                                        "finish_reason": _FINISH[reply.finish]}])]
        options = (req.json or {}).get("stream_options") or {}
        if options.get("include_usage"):
            closing.append(self._chunk(model, [], usage=self._usage(reply, model)))
        closing.append(sse_data("[DONE]"))
        return Frames(opening, pieces, closing)

    def error(self, fail: Fail, req: Request) -> tuple[int, Any]:
        model = self.model(req)
        if fail.body is not None:
            return fail.status or _ERRORS.get(fail.kind, (400,))[0], fail.body
        if fail.kind == "content_filter":
            # Azure OpenAI's documented prompt-filter shape.
            return fail.status or 400, {"error": {
                "message": fail.message or "The response was filtered due to the prompt "
                "triggering the content management policy.",
                "type": None, "param": "prompt", "code": "content_filter", "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation",
                               "content_filter_result": {"hate": {"filtered": True,
                                                                  "severity": "high"}}}}}
        status, type_, code, param, message = _ERRORS[fail.kind]
        return fail.status or status, {"error": {
            "message": fail.message or message.format(model=model),
            "type": type_, "param": param, "code": code}}

    def error_frame(self, fail: Fail, req: Request) -> bytes:
        _, body = self.error(fail, req)
        return sse_data(as_text(body))

    def malformed_frame(self) -> bytes:
        return sse_data('{"id": "chatcmpl-fake1", "choices": [{"delta": ')
