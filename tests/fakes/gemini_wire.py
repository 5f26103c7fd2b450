"""Gemini on the wire: ``POST /v1beta/models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse``.

Answers are ``GenerateContentResponse`` objects (camelCase: ``candidates``,
``finishReason``, ``usageMetadata``, ``promptFeedback``); a stream is ``data:``
frames of the same object, the last with ``finishReason`` and full usage.
Errors are ``{"error": {"code", "message", "status", "details"}}``; rate limits
carry a ``google.rpc.RetryInfo`` detail, a bad key an ``ErrorInfo`` with reason
``API_KEY_INVALID`` (on a 400, as the API answers).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .behaviours import Fail, Reply
from .wire import Frames, Request, as_text, sse_data

_PATH = re.compile(r"/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$")
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}
_SAFETY = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]

# kind -> (code, status, message)
_ERRORS: dict[str, tuple[int, str, str]] = {
    "auth": (400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
    "permission": (403, "PERMISSION_DENIED",
                   "Method doesn't allow unregistered callers (callers without established identity)."),
    "not_found": (404, "NOT_FOUND",
                  "models/{model} is not found for API version v1beta, or is not supported for "
                  "generateContent."),
    "bad_request": (400, "INVALID_ARGUMENT",
                    "Invalid JSON payload received. Unknown name \"foo\": Cannot find field."),
    "context_window": (400, "INVALID_ARGUMENT",
                       "The input token count (1200000) exceeds the maximum number of tokens "
                       "allowed (1048576)."),
    "rate_limit": (429, "RESOURCE_EXHAUSTED",
                   "You exceeded your current quota, please check your plan and billing details."),
    "quota": (429, "RESOURCE_EXHAUSTED",
              "You exceeded your current quota, please check your plan and billing details."),
    "overloaded": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "server": (500, "INTERNAL", "An internal error has occurred. Please retry or report."),
}
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


class GeminiWire:
    name = "gemini"
    # The API puts the delay in RetryInfo, not in a Retry-After header.
    retry_after_header = False

    def match(self, method: str, path: str) -> bool:
        return method == "POST" and _PATH.search(path) is not None

    def model(self, req: Request) -> str:
        m = _PATH.search(req.path)
        return m.group("model") if m else ""

    def streaming(self, req: Request) -> bool:
        m = _PATH.search(req.path)
        return bool(m and m.group("method") == "streamGenerateContent")

    def api_key(self, req: Request) -> str | None:
        if "x-goog-api-key" in req.headers:
            return req.headers["x-goog-api-key"]
        m = re.search(r"(?:^|&)key=([^&]*)", req.query)
        return m.group(1) if m else None

    def _usage(self, reply: Reply, model: str) -> dict[str, int]:
        inp, out = reply.usage(model)
        return {"promptTokenCount": inp, "candidatesTokenCount": out, "totalTokenCount": inp + out}

    def _response(self, model: str, text: str, finish: str | None, usage: dict[str, int]) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
        if finish:
            cand["finishReason"] = finish
            if finish == "SAFETY":
                cand["safetyRatings"] = _SAFETY
        return {"candidates": [cand], "usageMetadata": usage, "modelVersion": model,
                "responseId": "fake-response-1"}

    def _blocked(self, reply: Reply, model: str) -> dict[str, Any]:
        inp, _ = reply.usage(model)
        return {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": _SAFETY},
                "usageMetadata": {"promptTokenCount": inp, "totalTokenCount": inp},
                "modelVersion": model}

    def body(self, reply: Reply, req: Request) -> dict[str, Any]:
        model = self.model(req)
        if reply.finish == "prompt_blocked":
            return self._blocked(reply, model)
        return self._response(model, reply.full_text(model), _FINISH[reply.finish],
                              self._usage(reply, model))

    def frames(self, reply: Reply, req: Request) -> Frames:
        model = self.model(req)
        if reply.finish == "prompt_blocked":
            return Frames([], [], [sse_data(json.dumps(self._blocked(reply, model)), newline="\r\n")])
        inp, _ = reply.usage(model)
        partial = {"promptTokenCount": inp, "totalTokenCount": inp}
        pieces = [sse_data(json.dumps(self._response(model, p, None, partial)), newline="\r\n")
                  for p in reply.pieces(model)]
        last = self._response(model, "", _FINISH[reply.finish], self._usage(reply, model))
        return Frames([], pieces, [sse_data(json.dumps(last), newline="\r\n")])

    def error(self, fail: Fail, req: Request) -> tuple[int, Any]:
        if fail.kind not in _ERRORS:
            raise ValueError(f"Gemini documents no {fail.kind!r} error; use Reply(finish=...)")
        code, status, message = _ERRORS[fail.kind]
        if fail.status:
            code, status = fail.status, _STATUS_NAMES.get(fail.status, status)
        if fail.body is not None:
            return code, fail.body
        error: dict[str, Any] = {"code": code, "status": status,
                                 "message": fail.message or message.format(model=self.model(req))}
        if fail.kind == "auth" and code == 400:
            error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                 "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                                 "metadata": {"service": "generativelanguage.googleapis.com"}}]
        if fail.kind in ("rate_limit", "quota"):
            error["details"] = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                                 "violations": [{"quotaMetric": "generate_content_requests"}]}]
            if fail.retry_after is not None:
                error["details"].append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                         "retryDelay": f"{fail.retry_after}s"})
        return code, {"error": error}

    def error_frame(self, fail: Fail, req: Request) -> bytes:
        _, body = self.error(fail, req)
        return sse_data(as_text(body), newline="\r\n")

    def malformed_frame(self) -> bytes:
        return sse_data('{"candidates": [{"content": {"parts": [{"te', newline="\r\n")
