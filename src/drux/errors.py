"""The one error tree of drux.

Every failure that crosses a module boundary is one of these. Adapters map their
vendor's failures into this tree at their own boundary (by status code and error
body), so routing and the panel decide by type and by ``retryable``, never by
looking at vendor names or message text.

    DruxError                          (retryable=False unless noted)
    ├── InputError                     bad input from the user: empty question, bad flag
    │   ├── InvalidFieldError          an option its model refused; .field, .problem
    │   └── UnknownModelError          a model or panel name that is not configured
    ├── ConfigError                    drux.toml or settings cannot be used
    │   └── MissingKeyError            a provider's API key variable is not set
    ├── WeightsError                   local weights missing, incomplete or wrong sha256
    ├── StoreError                     the database cannot be opened or written
    └── ProviderError                  a model call failed; carries provider, model, status
        ├── AuthenticationError        401: key rejected
        ├── PermissionDeniedError      403: access or region denied (withdrawn for us)
        ├── ModelNotFoundError         404: model unknown or withdrawn
        ├── BadRequestError            400/422: the request itself is wrong
        │   ├── ContextWindowExceededError   prompt longer than the model's window
        │   └── ContentFilteredError         refused by the vendor's safety filter
        ├── RateLimitError             429, retryable, with retry_after seconds
        ├── OverloadedError            503/529, retryable
        ├── ServerError                other 5xx, retryable
        ├── ProviderTimeoutError       no answer in time, retryable
        ├── ProviderConnectionError    refused, reset, DNS, TLS, retryable
        ├── MalformedResponseError     body or SSE not in the documented shape, retryable
        ├── StreamInterruptedError     stream broke after partial output, retryable
        ├── CircuitOpenError           503: the deployment's breaker is open, refused without
        │                              a call; retryable (the route moves on), retry_after
        └── AllDeploymentsFailedError  every deployment of a route failed; .attempts
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DruxError(Exception):
    """Base of every drux error. ``str(err)`` is one line meant for the user."""

    retryable: bool = False
    code: str = "drux_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.code, "message": self.message, "retryable": self.retryable}


class InputError(DruxError):
    code = "invalid_input"


class InvalidFieldError(InputError):
    """A value an options model refused. ``field`` is the model's own name for it, so each
    shell can spell it as its user typed it (``--max-tokens``, the JSON ``max_tokens``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}" if field else problem)
        self.field = field
        self.problem = problem  # "must be between 1 and 8192", "is empty"

    def spelled(self, names: Mapping[str, str]) -> str:
        """The message with the field as ``names`` calls it (unlisted fields keep their own)."""
        name = names.get(self.field, self.field)
        return f"{name} {self.problem}" if name else self.problem


class UnknownModelError(InputError):
    code = "unknown_model"


class ConfigError(DruxError):
    code = "config_error"


class MissingKeyError(ConfigError):
    code = "missing_api_key"


class WeightsError(DruxError):
    code = "weights_unavailable"


class StoreError(DruxError):
    code = "store_error"


class SharedStateError(DruxError):
    """Redis (``DRUX_REDIS_URL``) cannot be reached or refused a command. HTTP shells answer
    503 naming Redis; what was already stored in the database is untouched."""

    code = "redis_unavailable"


class ProviderError(DruxError):
    """A model call failed. ``provider``/``model`` name the deployment that failed."""

    code = "provider_error"
    default_status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status: int | None = None,
        retryable: bool | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.status = status if status is not None else self.default_status
        self.body = body
        if retryable is not None:
            self.retryable = retryable

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.update(provider=self.provider, model=self.model, status=self.status)
        return data


class AuthenticationError(ProviderError):
    code = "authentication_failed"
    default_status = 401


class PermissionDeniedError(ProviderError):
    code = "permission_denied"
    default_status = 403


class ModelNotFoundError(ProviderError):
    code = "model_not_found"
    default_status = 404


class BadRequestError(ProviderError):
    code = "bad_request"
    default_status = 400


class ContextWindowExceededError(BadRequestError):
    code = "context_window_exceeded"


class ContentFilteredError(BadRequestError):
    code = "content_filtered"


class RateLimitError(ProviderError):
    code = "rate_limited"
    default_status = 429
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["retry_after"] = self.retry_after
        return data


class OverloadedError(ProviderError):
    code = "overloaded"
    default_status = 503
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(ProviderError):
    code = "server_error"
    default_status = 500
    retryable = True


class ProviderTimeoutError(ProviderError):
    code = "timeout"
    retryable = True


class ProviderConnectionError(ProviderError):
    code = "connection_error"
    retryable = True


class MalformedResponseError(ProviderError):
    code = "malformed_response"
    retryable = True


class StreamInterruptedError(ProviderError):
    code = "stream_interrupted"
    retryable = True


class CircuitOpenError(ProviderError):
    """The deployment's breaker is open: the call was refused without a network request."""

    code = "circuit_open"
    default_status = 503
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class AllDeploymentsFailedError(ProviderError):
    """Every deployment of a route failed; ``attempts`` keeps each one's error in order."""

    code = "all_deployments_failed"
    default_status = 502

    def __init__(self, message: str, *, attempts: list[ProviderError], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.attempts = attempts
        self.retryable = any(a.retryable for a in attempts)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["attempts"] = [a.to_dict() for a in self.attempts]
        return data


def error_from_status(
    status: int,
    message: str,
    *,
    provider: str,
    model: str,
    retry_after: float | None = None,
    body: Any = None,
) -> ProviderError:
    """The generic status-code mapping adapters start from before refining by body."""
    kw: dict[str, Any] = {"provider": provider, "model": model, "status": status, "body": body}
    if status == 401:
        return AuthenticationError(message, **kw)
    if status == 403:
        return PermissionDeniedError(message, **kw)
    if status == 404:
        return ModelNotFoundError(message, **kw)
    if status == 408:
        return ProviderTimeoutError(message, **kw)
    if status == 429:
        return RateLimitError(message, retry_after=retry_after, **kw)
    if status in (503, 529):
        return OverloadedError(message, retry_after=retry_after, **kw)
    if status >= 500:
        return ServerError(message, **kw)
    if status in (400, 413, 422):
        return BadRequestError(message, **kw)
    return ProviderError(message, **kw)
