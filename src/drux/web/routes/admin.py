"""Admin pages: each account's limits and usage (asks and spend today and over 30 days)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from drux.store.spend import UserUsage
from drux.web.auth import gate
from drux.web.deps import ServicesDep, TemplatesDep

router = APIRouter(include_in_schema=False, dependencies=[Depends(gate)])


@router.get("/admin/users", response_class=HTMLResponse, name="admin_users_page")
async def admin_users_page(request: Request, services: ServicesDep,
                           templates: TemplatesDep) -> Response:
    users = await asyncio.to_thread(services.store.users.all)
    usage = await asyncio.to_thread(services.store.spend.per_user)
    rows = [{"user": u, "usage": usage.get(u.id, UserUsage())} for u in users]
    return templates.TemplateResponse(request, "admin_users.html", {"rows": rows})
