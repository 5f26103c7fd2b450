"""Who is asking: the signed-in account, sign-in enforcement, CSRF and ask ownership.

With no account in the database the web app works as it always did, without a sign-in
(the offline single-user default; ``drux serve`` refuses a non-loopback address then).
Once one exists, every route needs a session, except the Hub and shared asks when
``DRUX_WEB_PUBLIC_HUB`` lets anonymous visitors read them.

The gate is one router dependency: it signs the request in from its cookie, refuses it
(a redirect to /login for pages, a typed 401 for the API, a 403 for an admin route), and
checks the CSRF token of every cookie-authenticated request that changes something: a
hidden ``csrf_token`` form field, or an ``X-CSRF-Token`` header for JSON calls.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from drux.state.sessions import WebSessions
from drux.store.asks import AskAccess, Visibility
from drux.store.users import SignedIn, UserInfo
from drux.web.errors import error_response, wants_json

SESSION_COOKIE = "drux_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

# What anonymous visitors may read when DRUX_WEB_PUBLIC_HUB is on (asks: shared only).
PUBLIC_ROUTES = {"hub_page", "article_page", "result_page", "result_consensus", "export_json",
                 "export_markdown", "api_get_ask", "api_ask_events", "api_list_articles",
                 "thread_page", "thread_export_json", "thread_export_markdown", "api_get_thread"}
ADMIN_ROUTES = {"status_page", "api_status", "admin_users_page"}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True, slots=True)
class Viewer:
    """The visitor of one request. ``accounts`` False: no account exists, nothing is asked."""

    accounts: bool
    signed: SignedIn | None = None
    public_hub: bool = False

    @property
    def user(self) -> UserInfo | None:
        return self.signed.user if self.signed else None

    @property
    def csrf_token(self) -> str | None:
        return self.signed.csrf_token if self.signed else None

    @property
    def owner_id(self) -> int | None:
        return self.user.id if self.user else None

    @property
    def is_admin(self) -> bool:
        return not self.accounts or (self.user is not None and self.user.is_admin)

    def visibility(self) -> Visibility | None:
        """Whose asks listings show: all without accounts; else one's own (and an admin,
        those asked without an account: the CLI's and those from before accounts)."""
        if not self.accounts:
            return None
        return Visibility(self.owner_id or 0, unowned=self.is_admin)

    def may_change(self, access: AskAccess) -> bool:
        if not self.accounts:
            return True
        if self.user is None:
            return False
        return access.owner_id == self.user.id or (access.owner_id is None and self.is_admin)

    def may_read(self, access: AskAccess) -> bool:
        if access.shared and (self.user is not None or self.public_hub or not self.accounts):
            return True
        return self.may_change(access)


_NOT_FOUND = "There is no result at this address. Check the link."
_NOT_FOUND_JSON = "no ask with this id"


class SignInRequired(Exception):
    """Raised by the gate for an anonymous visitor once accounts exist."""


async def _load_viewer(request: Request) -> Viewer:
    store = request.app.state.services.store
    public = bool(request.app.state.web_settings.public_hub)
    cookie = request.cookies.get(SESSION_COOKIE)
    sessions: WebSessions = request.app.state.sessions
    signed = await sessions.get(cookie) if cookie else None
    if signed is not None:
        return Viewer(True, signed, public)
    return Viewer(await asyncio.to_thread(store.users.exists), None, public)


async def get_viewer(request: Request) -> Viewer:
    """The request's visitor, looked up once (the gate and the handler share it)."""
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    if viewer is None:
        viewer = await _load_viewer(request)
        request.state.viewer = viewer
    return viewer


async def _sent_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return header
    kind = request.headers.get("content-type", "")
    if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)  # parsed once: FastAPI reuses it
        return value if isinstance(value, str) else ""
    return ""


async def check_csrf(request: Request, viewer: Viewer) -> None:
    if request.method in _SAFE_METHODS or viewer.csrf_token is None:
        return
    if not secrets.compare_digest((await _sent_token(request)).encode(),
                                  viewer.csrf_token.encode()):
        raise HTTPException(403, "This form has expired or did not come from this site; "
                                 "reload the page and try again.")


async def gate(request: Request) -> None:
    """The router dependency: sign-in, role and CSRF, before any handler runs."""
    viewer = await get_viewer(request)
    route = getattr(request.scope.get("route"), "name", "")
    if viewer.accounts and viewer.user is None:
        if not (viewer.public_hub and route in PUBLIC_ROUTES and request.method in _SAFE_METHODS):
            raise SignInRequired
    if route in ADMIN_ROUTES and not viewer.is_admin:
        raise HTTPException(403, "This page is for admins.")
    await check_csrf(request, viewer)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (no //host, no scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def on_sign_in_required(request: Request, exc: Exception) -> Response:
    if wants_json(request):
        return error_response(request, 401, "not_signed_in",
                              "sign in first: this server has accounts (the /login page)")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)


async def readable(request: Request, viewer: Viewer, ask_id: str) -> None:
    """404 unless ``viewer`` may read the ask (an unshared ask is nobody else's business:
    the answer does not even say that it exists)."""
    if not viewer.accounts:
        return
    access = await asyncio.to_thread(request.app.state.services.store.asks.access, ask_id)
    if access is None or not viewer.may_read(access):
        raise HTTPException(404, _NOT_FOUND_JSON if wants_json(request) else _NOT_FOUND)


async def changeable(request: Request, viewer: Viewer, ask_id: str) -> None:
    """404 for asks the viewer cannot read, 403 for those it can read but not change."""
    if not viewer.accounts:
        return
    access = await asyncio.to_thread(request.app.state.services.store.asks.access, ask_id)
    if access is None or not viewer.may_read(access):
        raise HTTPException(404, _NOT_FOUND_JSON if wants_json(request) else _NOT_FOUND)
    if not viewer.may_change(access):
        raise HTTPException(403, "Only the person who asked can change this ask.")


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def template_context(request: Request) -> dict[str, object]:
    """Every page gets its visitor (for the sign-out form) and the token its forms send."""
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    return {"viewer": viewer, "csrf_token": viewer.csrf_token if viewer else None}


def viewer_of(request: Request) -> Viewer:
    """The visitor the gate signed in (every gated route has one)."""
    viewer: Viewer = request.state.viewer
    return viewer
