"""Errors as the gateway answers them: OpenAI's error JSON with the right status.

``{"error": {"message", "type", "param", "code"}}`` is what the ``openai`` SDK
(and every OpenAI client) parses; the SDK picks its exception class from the
HTTP status alone, so the status is what matters most. When every deployment
of a route failed, ``error.attempts`` lists what each one returned (an extra
field; clients that do not know it ignore it).
"""

from __future__ import annotations

from typing import Any

import orjson

from drux.errors import (
    AllDeploymentsFailedError,
    BadRequestError,
    CircuitOpenError,
    ContentFilteredError,
    ContextWindowExceededError,
    DruxError,
    InputError,
    OverloadedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    UnknownModelError,
)


class GatewayError(Exception):
    """An error answer: HTTP status, OpenAI error fields, optional headers and extras."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None,
                 headers: list[tuple[bytes, bytes]] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or []
        self.extra = extra or {}

    def body(self) -> bytes:
        error: dict[str, Any] = {"message": self.message, "type": self.type,
                                 "param": self.param, "code": self.code}
        error.update(self.extra)
        return orjson.dumps({"error": error})


def invalid(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def retry_after_header(seconds: float | None) -> list[tuple[bytes, bytes]]:
    if seconds is None:
        return []
    return [(b"retry-after", str(max(1, int(seconds + 0.999))).encode())]


# (status, type, code) for an upstream failure the client cannot fix by changing the request.
_UPSTREAM = {
    RateLimitError: (429, "rate_limit_error", "upstream_rate_limited"),
    OverloadedError: (503, "server_error", "upstream_overloaded"),
    CircuitOpenError: (503, "server_error", "circuit_open"),
    ProviderTimeoutError: (504, "timeout_error", "upstream_timeout"),
    ProviderConnectionError: (502, "server_error", "upstream_unreachable"),
}


def _attempt(err: ProviderError, redact: Any) -> dict[str, Any]:
    return {"deployment": err.provider or None, "model": err.model or None, "status": err.status,
            "type": err.code, "message": redact(err.message)}


def _no_redaction(text: str) -> str:
    return text


def from_drux(err: DruxError, redact: Any = _no_redaction) -> GatewayError:
    """Map a drux error into the answer a client should get.

    ``redact`` scrubs upstream secrets from messages that quote an upstream's
    answer (a vendor that echoes the key back must not leak it to our clients).
    """
    if isinstance(err, UnknownModelError):
        return GatewayError(404, err.message, code="model_not_found", param="model")
    if isinstance(err, InputError):
        return invalid(err.message)
    if not isinstance(err, ProviderError):
        # A missing key or weights, an unwritable store: the gateway cannot serve this
        # now and its operator must fix it; the request itself was fine.
        return GatewayError(503, err.message, type="server_error", code=err.code)
    message = redact(err.message)
    if isinstance(err, AllDeploymentsFailedError):
        attempts = [_attempt(a, redact) for a in err.attempts]
        status, code = _all_failed_status(err)
        return GatewayError(status, message, type="server_error", code=code,
                            headers=retry_after_header(_min_retry_after(err.attempts)),
                            extra={"attempts": attempts})
    if isinstance(err, ContextWindowExceededError):
        return GatewayError(400, message, code="context_length_exceeded", param="messages")
    if isinstance(err, ContentFilteredError):
        return GatewayError(400, message, code="content_filter")
    if isinstance(err, BadRequestError):
        return GatewayError(400, message, code=err.code)
    for kind, (status, type_, code) in _UPSTREAM.items():
        if isinstance(err, kind):
            return GatewayError(status, message, type=type_, code=code,
                                headers=retry_after_header(getattr(err, "retry_after", None)),
                                extra={"attempts": [_attempt(err, redact)]})
    # 401/403/404/5xx/malformed from the upstream: the gateway's problem, not the client's.
    return GatewayError(502, message, type="server_error", code=f"upstream_{err.code}",
                        extra={"attempts": [_attempt(err, redact)]})


def _all_failed_status(err: AllDeploymentsFailedError) -> tuple[int, str]:
    kinds = {type(a) for a in err.attempts}
    if err.attempts and all(issubclass(k, RateLimitError) for k in kinds):
        return 429, "all_deployments_rate_limited"
    if err.attempts and all(issubclass(k, OverloadedError | RateLimitError | CircuitOpenError) for k in kinds):
        return 503, "all_deployments_overloaded"
    return 502, "all_deployments_failed"


def _min_retry_after(attempts: list[ProviderError]) -> float | None:
    waits = [w for a in attempts if (w := getattr(a, "retry_after", None)) is not None]
    return min(waits) if waits else None
