"""Follow-up threads on the web: the "Ask a follow-up" form, the thread page, its share
toggle and exports, and the JSON API's follow-up and thread endpoints.

Who may follow up: the ask's owner only (``Viewer.may_change``: the owner, or an admin for
an ask made without an account). A reader of a shared thread sees every turn but gets no
form: continuing someone else's thread would add turns to *their* thread (a follow-up
belongs to its thread's owner, and is shared when the thread is). A reader who wants to
go on asks a new question. Someone who cannot read the ask gets 404, as for any ask.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from drux.errors import InputError
from drux.records import AskRecord, AskSource, ThreadRecord
from drux.services import Services
from drux.services.options import MAX_QUESTION_CHARS, AskOptions
from drux.services.spend import UserLimitExceeded
from drux.web.auth import Viewer, ViewerDep, changeable, gate, readable
from drux.web.deps import (
    AskLimit,
    HubDep,
    RunnerDep,
    SameOrigin,
    ServicesDep,
    TemplatesDep,
    WebSettingsDep,
    limit_asks,
)
from drux.web.ratelimit import RateLimited
from drux.web.routes.api import started
from drux.web.routes.pages import refusal, result_context
from drux.web.schemas import AskFollowUp, AskStarted, ErrorPublic, ThreadPublic
from drux.web.spending import start_ask
from drux.web.threads_view import thread_markdown, turn_views

router = APIRouter(include_in_schema=False, dependencies=[Depends(gate)])
api_router = APIRouter(prefix="/api", tags=["api"], dependencies=[Depends(gate)], responses={
    401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}, 404: {"model": ErrorPublic},
    422: {"model": ErrorPublic}, 429: {"model": ErrorPublic}})

_NO_THREAD = "There is no thread at this address. Check the link."


async def _thread(request: Request, services: Services, viewer: Viewer,
                  thread_id: str) -> ThreadRecord:
    """The thread with the turns ``viewer`` may read; 404 unless it may read the first."""
    await readable(request, viewer, thread_id)
    thread = await asyncio.to_thread(services.store.threads.get, thread_id)
    if thread is None:
        raise HTTPException(404, _NO_THREAD)
    if not viewer.accounts:
        return thread
    turns = []
    for turn in thread.turns:  # a turn made private on its own page stays private here
        access = await asyncio.to_thread(services.store.asks.access, turn.id)
        if access is not None and viewer.may_read(access):
            turns.append(turn)
    return ThreadRecord(id=thread.id, turns=turns)


def _follow_up(ask_id: str, question: str, viewer: Viewer, max_tokens: int | None,
               source: AskSource = AskSource.WEB) -> AskOptions:
    return AskOptions(question=question, continue_from=ask_id, source=source,
                      max_tokens=max_tokens, owner_id=viewer.owner_id)


@router.post("/r/{ask_id}/follow-up", name="result_follow_up")
async def result_follow_up(ask_id: str, request: Request, services: ServicesDep, hub: HubDep,
                           runner: RunnerDep, templates: TemplatesDep, web: WebSettingsDep,
                           _origin: SameOrigin, viewer: ViewerDep,
                           question: Annotated[str, Form(max_length=MAX_QUESTION_CHARS * 2)] = ""
                           ) -> Response:
    """"Ask a follow-up": the next turn of this ask's thread, then its result page."""
    await changeable(request, viewer, ask_id)
    try:
        await limit_asks(request)
        new_id = await start_ask(request, _follow_up(ask_id, question, viewer, web.max_tokens),
                                 viewer.user)
    except (RateLimited, UserLimitExceeded, InputError) as err:
        message, status, headers = refusal(err)
        context = await result_context(request, ask_id, services, hub, runner, viewer)
        return templates.TemplateResponse(request, "result.html", {
            **context, "followup_question": question, "followup_error": message},
            status_code=status, headers=headers)
    return RedirectResponse(request.url_for("result_page", ask_id=new_id), status_code=303)


@router.get("/t/{thread_id}", response_class=HTMLResponse, name="thread_page")
async def thread_page(thread_id: str, request: Request, services: ServicesDep,
                      templates: TemplatesDep, viewer: ViewerDep) -> Response:
    """Every turn of a thread with its score; its permalink."""
    thread = await _thread(request, services, viewer, thread_id)
    access = await asyncio.to_thread(services.store.asks.access, thread_id)
    last: AskRecord = thread.turns[-1]
    return templates.TemplateResponse(request, "thread.html", {
        "thread": thread, "turns": turn_views(thread.turns), "last": last,
        "permalink": str(request.url_for("thread_page", thread_id=thread_id)),
        "accounts_on": viewer.accounts, "shared": bool(access and access.shared),
        "may_change": bool(access and viewer.may_change(access)),
        "max_chars": MAX_QUESTION_CHARS})


@router.post("/t/{thread_id}/share", name="thread_share")
async def thread_share(thread_id: str, request: Request, services: ServicesDep,
                       viewer: ViewerDep, _origin: SameOrigin,
                       shared: Annotated[str, Form(max_length=10)] = "true") -> Response:
    """Share (or make private) every turn of the thread at once."""
    await changeable(request, viewer, thread_id)
    await asyncio.to_thread(services.store.threads.set_shared, thread_id, shared == "true")
    return RedirectResponse(request.url_for("thread_page", thread_id=thread_id), status_code=303)


@router.get("/t/{thread_id}/export.json", name="thread_export_json")
async def thread_export_json(thread_id: str, request: Request, services: ServicesDep,
                             viewer: ViewerDep) -> Response:
    thread = await _thread(request, services, viewer, thread_id)
    return Response(thread.to_json(), media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="drux-thread-{thread_id}.json"'})


@router.get("/t/{thread_id}/export.md", name="thread_export_markdown")
async def thread_export_markdown(thread_id: str, request: Request, services: ServicesDep,
                                 viewer: ViewerDep) -> Response:
    thread = await _thread(request, services, viewer, thread_id)
    text = thread_markdown(thread, str(request.url_for("thread_page", thread_id=thread_id)))
    return Response(text, media_type="text/markdown; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="drux-thread-{thread_id}.md"'})


@api_router.post("/asks/{ask_id}/follow-ups", status_code=202, response_model=AskStarted,
                 summary="Ask a follow-up")
async def api_follow_up(ask_id: str, body: AskFollowUp, request: Request, runner: RunnerDep,
                        _limit: AskLimit, viewer: ViewerDep) -> AskStarted:
    """The next turn of this ask's thread: the thread's models, each sent its own earlier
    turns. Only the ask's owner may follow it up. Follow it like any ask."""
    await changeable(request, viewer, ask_id)
    opts = AskOptions(question=body.question, continue_from=ask_id, source=AskSource.API,
                      context=body.context, max_tokens=body.max_tokens,
                      temperature=body.temperature, timeout=body.timeout, system=body.system,
                      owner_id=viewer.owner_id)
    return started(request, await start_ask(request, opts, viewer.user))


@api_router.get("/threads/{thread_id}", response_model=ThreadPublic, summary="Get a thread")
async def api_get_thread(thread_id: str, request: Request, services: ServicesDep,
                         viewer: ViewerDep) -> ThreadRecord:
    """Every turn of a thread (its id is its first ask's), in order, each a stored ask."""
    return await _thread(request, services, viewer, thread_id)
