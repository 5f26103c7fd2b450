"""The JSON API: start an ask, follow it over SSE, read stored asks, list articles, status."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from drux.records import AskRecord, AskSource, AskStatus
from drux.services.ask import AskOptions
from drux.services.ask_events import replay_stored
from drux.services.status import cluster_status, deployment_status
from drux.web.asking import article_options, split_models
from drux.web.auth import ViewerDep, changeable, gate, readable
from drux.web.deps import AskLimit, HubDep, RunnerDep, SameOrigin, ServicesDep
from drux.web.schemas import (
    ArticleList,
    ArticlePublic,
    AskCreate,
    AskList,
    AskPublic,
    AskStarted,
    AskStopped,
    AskSummaryPublic,
    ErrorPublic,
    StatusPublic,
)
from drux.web.spending import start_ask

router = APIRouter(prefix="/api", tags=["api"], dependencies=[Depends(gate)], responses={
    401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}, 404: {"model": ErrorPublic},
    422: {"model": ErrorPublic}, 429: {"model": ErrorPublic}})

HEARTBEAT_S = 15.0


def started(request: Request, ask_id: str) -> AskStarted:
    return AskStarted(id=ask_id, url=str(request.url_for("api_get_ask", ask_id=ask_id)),
                      events_url=str(request.url_for("api_ask_events", ask_id=ask_id)),
                      result_url=str(request.url_for("result_page", ask_id=ask_id)))


@router.post("/asks", status_code=202, response_model=AskStarted, summary="Start an ask")
async def api_start_ask(body: AskCreate, request: Request, runner: RunnerDep, hub: HubDep,
                        _limit: AskLimit, viewer: ViewerDep) -> AskStarted:
    """Validates and starts the ask, then returns at once: follow it at `events_url` (SSE) or poll `url`."""
    params: dict[str, Any] = {"models": split_models(body.models), "panel": body.panel,
                              "max_tokens": body.max_tokens, "temperature": body.temperature,
                              "timeout": body.timeout, "system": body.system,
                              "owner_id": viewer.owner_id}
    more: dict[str, Any] = {"rounds": body.rounds, "synthesize": body.synthesize, "synthesizer": body.synthesizer,
                            "consensus_backend": body.backend, "judge_model": body.judge}
    if body.article_id:
        opts = replace(article_options(hub, body.article_id, source=AskSource.API,
                                       question=body.question, **params), **more)
    else:
        opts = AskOptions(question=body.question, context=body.context, source=AskSource.API,
                          **params, **more)
    return started(request, await start_ask(request, opts, viewer.user))


def _sse(index: int | str, event: dict[str, Any]) -> bytes:
    return f"id: {index}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


async def _replay(events: list[dict[str, Any]], start: int) -> AsyncIterator[bytes]:
    yield b"retry: 3000\n\n"
    for i in range(max(start, 0), len(events)):
        yield _sse(i, events[i])


async def _live(follow: AsyncIterator[tuple[str, dict[str, Any]] | None]) -> AsyncIterator[bytes]:
    yield b"retry: 3000\n\n"
    async for item in follow:
        yield b": keep-alive\n\n" if item is None else _sse(*item)


def _resume_after(last_event_id: str | None) -> int:
    """The index after ``Last-Event-ID`` in a stored ask's replay; an id this server never
    sent replays from the start.

    Header bytes arrive as latin-1, so ``isdigit`` alone lets "²" through to ``int``."""
    value = (last_event_id or "").strip()
    if value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value) + 1
    return 0


@router.get("/asks/{ask_id}/events", response_class=StreamingResponse,
            summary="Follow an ask (server-sent events)",
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "Server-sent events, one JSON object with a "
                                            "`type` field per event."}})
async def api_ask_events(ask_id: str, request: Request, services: ServicesDep,
                         runner: RunnerDep, viewer: ViewerDep,
                         last_event_id: Annotated[str | None, Header()] = None
                         ) -> StreamingResponse:
    """The ask's events (created, started, token, finished, failed, scored, done) as SSE.

    A late subscriber gets every past event first; `Last-Event-ID` resumes.
    """
    await readable(request, viewer, ask_id)
    record: AskRecord | None = None

    async def ended() -> bool:
        nonlocal record
        record = await asyncio.to_thread(services.store.asks.get, ask_id)
        return record is not None and record.status != AskStatus.RUNNING

    if await runner.followable(ask_id, ended):  # run by this process or a job worker
        stream = _live(runner.events.follow(ask_id, last_event_id, heartbeat=HEARTBEAT_S))
    else:
        if record is None:
            record = await asyncio.to_thread(services.store.asks.get, ask_id)
        if record is None:
            raise HTTPException(404, "no ask with this id")
        stream = _replay(replay_stored(record), _resume_after(last_event_id))
    return StreamingResponse(stream, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/asks/{ask_id}", response_model=AskPublic, summary="Get a stored ask")
async def api_get_ask(ask_id: str, request: Request, services: ServicesDep,
                      viewer: ViewerDep) -> AskRecord:
    """A stored ask with every answer and its consensus (also while it runs)."""
    await readable(request, viewer, ask_id)
    record = await asyncio.to_thread(services.store.asks.get, ask_id)
    if record is None:
        raise HTTPException(404, "no ask with this id")
    return record


@router.post("/asks/{ask_id}/cancel", status_code=202, response_model=AskStopped,
             summary="Stop a running ask", responses={409: {"model": ErrorPublic}})
async def api_cancel_ask(ask_id: str, request: Request, services: ServicesDep,
                         runner: RunnerDep, _origin: SameOrigin, viewer: ViewerDep
                         ) -> AskStopped:
    """Cancels the models still answering; what they sent is kept and the ask is saved
    `partial` (followers get a `done` event). An ask that has ended is left as it is."""
    await changeable(request, viewer, ask_id)
    stopped = await runner.stop(ask_id)
    return AskStopped(id=ask_id, stopped=stopped.stopped, status=stopped.status,
                      url=str(request.url_for("api_get_ask", ask_id=ask_id)))


@router.get("/asks", response_model=AskList, summary="List past asks")
async def api_list_asks(services: ServicesDep, viewer: ViewerDep,
                        limit: Annotated[int, Query(ge=1, le=100)] = 20,
                        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                        article: Annotated[str | None, Query(max_length=200)] = None) -> AskList:
    """Past asks, newest first; `article` keeps those about one Hub article."""
    repo = services.store.asks
    visible = viewer.visibility()
    items = await asyncio.to_thread(repo.list, limit=limit, offset=offset, article_id=article,
                                    visible_to=visible)
    total = await asyncio.to_thread(repo.count, article_id=article, visible_to=visible)
    return AskList(items=[AskSummaryPublic.model_validate(s.model_dump()) for s in items], total=total,
                   limit=limit, offset=offset)


def article_public(request: Request, a: Any) -> ArticlePublic:
    return ArticlePublic(id=a.id, title=a.title, source_url=a.source_url,
                         source_domain=a.source_domain, published=a.published, tags=list(a.tags),
                         summary=a.summary, url=str(request.url_for("article_page", slug=a.id)))


@router.get("/articles", response_model=ArticleList, summary="List Hub articles")
async def api_list_articles(request: Request, hub: HubDep,
                            q: Annotated[str | None, Query(max_length=200)] = None,
                            tag: Annotated[str | None, Query(max_length=60)] = None,
                            page: Annotated[int, Query(ge=1, le=10_000)] = 1,
                            per_page: Annotated[int, Query(ge=1, le=100)] = 20) -> ArticleList:
    """Hub articles, newest first, filtered by text and tag."""
    items, total = await asyncio.to_thread(hub.list_articles, q or None, tag or None, page,
                                           per_page)
    return ArticleList(items=[article_public(request, a) for a in items], total=total,
                       page=page, per_page=per_page)


@router.get("/status", response_model=StatusPublic, summary="Models and provider health")
async def api_status(services: ServicesDep, runner: RunnerDep) -> StatusPublic:
    """Which models are ready, each deployment's health and breaker state, and the cluster:
    processes alive by kind, jobs queued and running, Redis and database reachability."""

    # Live entries of this server, then the latest snapshots other processes saved.
    health = await asyncio.to_thread(deployment_status, services)
    return StatusPublic(models=[r.to_dict() for r in services.model_rows()],
                        deployments=health, running_asks=runner.running,
                        cluster=await cluster_status(services))
