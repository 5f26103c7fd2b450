"""Sign-in and sign-out pages (outside the gate: they are how one gets through it).

The sign-in form has a CSRF token of its own before any session exists: a random value
both in a short-lived cookie and in the form, which must match (a page on another site
can post a form but cannot read or set this site's cookie), so nobody can sign a visitor
into an account of theirs. Attempts are limited per account name and per address.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from drux.store.users import SESSION_LIFETIME
from drux.web.auth import SESSION_COOKIE, ViewerDep, check_csrf, safe_next
from drux.web.deps import ServicesDep, TemplatesDep, client_key
from drux.web.ratelimit import RateLimited

router = APIRouter(include_in_schema=False)

LOGIN_CSRF_COOKIE = "drux_login_csrf"


def _login_form(request: Request, templates: TemplatesDep, *, next_path: str,
                username: str = "", error: str | None = None, status_code: int = 200,
                headers: dict[str, str] | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    response = templates.TemplateResponse(request, "login.html", {
        "login_token": token, "next_path": next_path, "username": username, "error": error},
        status_code=status_code, headers=headers)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/login")
    return response


@router.get("/login", response_class=HTMLResponse, name="login_page")
async def login_page(request: Request, templates: TemplatesDep,
                     next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    return _login_form(request, templates, next_path=safe_next(next))


async def _throttle(request: Request, username: str) -> None:
    await request.app.state.login_address_limiter.take(client_key(request))
    await request.app.state.login_account_limiter.take(username.casefold())


@router.post("/login", name="login_submit")
async def login_submit(request: Request, services: ServicesDep, templates: TemplatesDep,
                       username: Annotated[str, Form(max_length=200)] = "",
                       password: Annotated[str, Form(max_length=2000)] = "",
                       csrf_token: Annotated[str, Form(max_length=200)] = "",
                       next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    target = safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(csrf_token.encode(), expected.encode()):
        return _login_form(request, templates, next_path=target, username=username,
                           error="The sign-in form expired; please try again.",
                           status_code=403)
    try:
        await _throttle(request, username)
    except RateLimited as err:
        wait = max(1, round(err.retry_after))
        return _login_form(request, templates, next_path=target, username=username,
                           error=f"Too many sign-in attempts; try again in {wait} s.",
                           status_code=429, headers={"Retry-After": str(wait)})
    user = await asyncio.to_thread(services.store.users.verify, username, password)
    if user is None:
        return _login_form(request, templates, next_path=target, username=username,
                           error="Wrong username or password.", status_code=401)
    cookie, _ = await request.app.state.sessions.start(user)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=int(SESSION_LIFETIME.total_seconds()),
                        httponly=True, samesite="lax", secure=request.url.scheme == "https",
                        path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", name="logout")
async def logout(request: Request, services: ServicesDep, viewer: ViewerDep) -> Response:
    await check_csrf(request, viewer)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await request.app.state.sessions.end(cookie)
    response = RedirectResponse(request.url_for("login_page").path, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
