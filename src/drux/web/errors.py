"""Every failure becomes a typed JSON error (API) or a friendly page (HTML), never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from drux.errors import (
    ConfigError,
    DruxError,
    InputError,
    SharedStateError,
    StoreError,
    UnknownModelError,
)
from drux.services.spend import UserLimitExceeded
from drux.validation import first_problem
from drux.web.ratelimit import RateLimited

log = logging.getLogger(__name__)

TITLES = {400: "Bad request", 403: "Not allowed", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 413: "Request too large", 422: "Cannot use that input", 429: "Slow down",
          500: "Something went wrong", 503: "Temporarily unavailable"}
HTTP_TYPES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
              409: "conflict", 413: "body_too_large", 422: "invalid_input", 429: "rate_limited",
              503: "unavailable"}


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path == "/api" or path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(request: Request, status: int, kind: str, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    if wants_json(request):
        return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status,
                            headers=headers)
    templates = request.app.state.templates
    context: dict[str, Any] = {"status": status, "title": TITLES.get(status, "Error"),
                               "message": message}
    return templates.TemplateResponse(request, "error.html", context, status_code=status,
                                      headers=headers)


def _drux_status(err: DruxError) -> int:
    if isinstance(err, UnknownModelError | InputError):
        return 422
    if isinstance(err, StoreError | SharedStateError | ConfigError):
        return 503
    return 502


async def on_drux_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DruxError)
    status = _drux_status(exc)
    if status >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, exc)
    return error_response(request, status, exc.code, str(exc))


async def on_rate_limited(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimited)
    wait = max(1, round(exc.retry_after))
    return error_response(request, 429, "rate_limited", str(exc),
                          headers={"Retry-After": str(wait)})


async def on_user_limit(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UserLimitExceeded)
    return error_response(request, 429, exc.code, str(exc),
                          headers={"Retry-After": str(max(1, round(exc.retry_after)))})


def _body_problem(request: Request, errors: Sequence[Any]) -> str | None:
    """A refused JSON body, in the words every shell uses (``max_tokens must be between 1
    and 8192``), naming the JSON field; ``None`` when it is not one field of the body model."""
    field = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(field, "field_info", None), "annotation", None)
    fields = getattr(model, "__pydantic_fields__", None)
    if not isinstance(model, type) or not isinstance(fields, dict) or not all(
            e["loc"][:1] == ("body",) and e["type"] != "json_invalid" for e in errors):
        return None
    problem = first_problem([{**e, "loc": tuple(e["loc"][1:])} for e in errors], model)
    if problem.field in fields:
        return f"{problem.field} {problem.text}"
    if not problem.field and problem.text.startswith("unknown keys"):
        return problem.text
    return None  # the body as a whole is wrong (not an object): pydantic's words


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    shared = _body_problem(request, exc.errors())
    if shared is not None:
        return error_response(request, 422, "invalid_input", shared)
    problems = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        problems.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", ""))
    return error_response(request, 422, "invalid_input", "; ".join(problems) or "invalid input")


_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method some route answers at this path. Starlette's own 405 names only the
    first route that matched the path (``Allow: POST`` for /api/asks, which has GET too)."""
    def answered(method: str) -> bool:
        scope = {**request.scope, "method": method}  # routers nest: ask them, not their lists
        return any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes)

    methods = {m for m in _METHOD_ORDER if answered(m)}
    if "GET" in methods:
        methods.add("HEAD")  # HeadAsGet answers HEAD wherever GET is answered
    return ", ".join(m for m in _METHOD_ORDER if m in methods)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    message = exc.detail if isinstance(exc.detail, str) else TITLES.get(status, "error")
    if status == 404 and message == "Not Found":
        message = "There is nothing at this address."
    headers = getattr(exc, "headers", None)
    if status == 405:
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    return error_response(request, status, HTTP_TYPES.get(status, "http_error"), message,
                          headers=headers)


def document_body_errors(app: FastAPI) -> None:
    """Add the 400 that an unparsable body gets (typed like every error) to each operation
    that takes a body: FastAPI answers it but leaves it out of the schema."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        spec = build()  # built once, then cached by FastAPI: add the 400 only the first time
        operations = (op for path in spec.get("paths", {}).values() for op in path.values())
        for operation in operations if first else ():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation.setdefault("responses", {}).setdefault("400", {
                    "description": "The body could not be parsed (not JSON, or not the "
                                   "declared content type)",
                    "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/ErrorPublic"}}}})
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "internal_error",
                          "The server hit an unexpected problem; it has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DruxError, on_drux_error)
    app.add_exception_handler(RateLimited, on_rate_limited)
    app.add_exception_handler(UserLimitExceeded, on_user_limit)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
