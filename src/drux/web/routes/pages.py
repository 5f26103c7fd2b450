"""Server-rendered pages: Hub, article, ask, result permalink, history, status, API docs."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from drux.errors import InputError, InvalidFieldError
from drux.hub import HubService
from drux.records import AskRecord, AskSource
from drux.services import Services
from drux.services.options import MAX_QUESTION_CHARS, AskOptions
from drux.services.spend import UserLimitExceeded
from drux.services.status import cluster_status, deployment_status
from drux.web.ask_form import form_options, options_form
from drux.web.asking import article_options, link_faq_ask, split_models
from drux.web.auth import Viewer, ViewerDep, changeable, gate, readable, viewer_of
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
from drux.web.runner import AskRunner
from drux.web.spending import start_ask
from drux.web.views import answer_view, consensus_view, faq_view, safe_html, to_markdown

router = APIRouter(include_in_schema=False, dependencies=[Depends(gate)])

# How the ask form's messages name the AskOptions fields it sets ("the question is empty").
FORM_FIELDS = {"question": "the question"}


def form_error(err: InputError) -> str:
    """An ask refused on a page, with its fields named as the form calls them."""
    return err.spelled(FORM_FIELDS) if isinstance(err, InvalidFieldError) else str(err)


AskRefused = RateLimited | UserLimitExceeded | InputError


def refusal(err: AskRefused) -> tuple[str, int, dict[str, str]]:
    """An ask refused on a page: the message the form shows, the status and headers."""
    if isinstance(err, InputError):
        return form_error(err), 422, {}
    wait = max(1, round(err.retry_after))
    if isinstance(err, RateLimited):
        message = f"Slow down: too many asks; try again in {wait} s."
    else:
        message = f"{str(err)[:1].upper()}{str(err)[1:]}."
    return message, 429, {"Retry-After": str(wait)}


def _pages(total: int, per_page: int) -> int:
    return max(1, math.ceil(total / per_page))


@router.get("/", response_class=HTMLResponse, name="hub_page")
async def hub_page(request: Request, hub: HubDep, templates: TemplatesDep, web: WebSettingsDep,
                   q: Annotated[str | None, Query(max_length=200)] = None,
                   tag: Annotated[str | None, Query(max_length=60)] = None,
                   page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    articles, total = await asyncio.to_thread(hub.list_articles, q or None, tag or None, page,
                                              web.page_size)
    tags = await asyncio.to_thread(hub.all_tags)
    # With accounts, a card links only to an ask every reader may open.
    scores = await asyncio.to_thread(hub.latest_scores, [a.id for a in articles],
                                     viewer_of(request).accounts)
    return templates.TemplateResponse(request, "hub.html", {
        "articles": articles, "total": total, "q": q or "", "tag": tag or "", "tags": tags,
        "page": page, "pages": _pages(total, web.page_size), "scores": scores})


@router.get("/articles/{slug}", response_class=HTMLResponse, name="article_page")
async def article_page(slug: str, request: Request, hub: HubDep, services: ServicesDep,
                       templates: TemplatesDep) -> Response:
    return await _article_page(request, slug, hub, services, templates)


async def _article_page(request: Request, slug: str, hub: HubService, services: Services,
                        templates: Jinja2Templates, *, question: str = "",
                        error: str | None = None, status_code: int = 200) -> Response:
    article = await asyncio.to_thread(hub.get_article, slug)
    if article is None:
        raise HTTPException(404, "There is no article at this address.")
    faq = await asyncio.to_thread(hub.faq_results, slug)
    past = await asyncio.to_thread(services.store.asks.list, limit=10, article_id=article.id,
                                   visible_to=viewer_of(request).visibility())
    return templates.TemplateResponse(request, "article.html", {
        "article": article, "body": safe_html(article.body_html), "past": past,
        "faq": [faq_view(item) for item in faq], "question": question, "error": error,
        "max_chars": MAX_QUESTION_CHARS}, status_code=status_code)


@router.post("/articles/{slug}/ask", name="article_ask")
async def article_ask(slug: str, request: Request, hub: HubDep, runner: RunnerDep,
                      services: ServicesDep, templates: TemplatesDep, web: WebSettingsDep,
                      _origin: SameOrigin, _limit: AskLimit, viewer: ViewerDep,
                      question: Annotated[str, Form(max_length=MAX_QUESTION_CHARS * 2)] = ""
                      ) -> Response:
    """"Ask the AIs" about an article: the reader's question, else the article's topic."""
    article = await asyncio.to_thread(hub.get_article, slug)
    if article is None:
        raise HTTPException(404, "There is no article at this address.")
    try:
        opts = article_options(hub, slug, source=AskSource.WEB, question=question.strip() or None,
                               max_tokens=web.max_tokens, owner_id=viewer.owner_id)
        ask_id = await start_ask(request, opts, viewer.user)
    except InputError as err:
        return await _article_page(request, slug, hub, services, templates, question=question,
                                   error=form_error(err), status_code=422)
    await asyncio.to_thread(link_faq_ask, services, article, opts.question, ask_id)
    return RedirectResponse(request.url_for("result_page", ask_id=ask_id), status_code=303)


def _ask_form(services: Any) -> dict[str, Any]:
    rows = sorted(services.model_rows(), key=lambda r: not r.usable)
    usable = {r.id for r in rows if r.usable}
    panels = [{"name": name, "members": list(members),
               "ready": sum(1 for m in members if m in usable)}
              for name, members in services.config.catalog.panels.items()]
    return {"panels": panels, "models": rows, "default_panel": services.settings.panel,
            "max_chars": MAX_QUESTION_CHARS}


@router.get("/ask", response_class=HTMLResponse, name="ask_page")
async def ask_page(request: Request, services: ServicesDep, templates: TemplatesDep,
                   web: WebSettingsDep,
                   q: Annotated[str | None, Query(max_length=MAX_QUESTION_CHARS)] = None
                   ) -> Response:
    return templates.TemplateResponse(request, "ask.html", {
        **_ask_form(services), **options_form(web.max_tokens), "question": q or "",
        "error": None, "chosen": [],
        "mode": "panel", "panel": services.settings.panel})


@router.post("/ask", name="ask_submit")
async def ask_submit(request: Request, services: ServicesDep, runner: RunnerDep,
                     templates: TemplatesDep, web: WebSettingsDep, _origin: SameOrigin,
                     viewer: ViewerDep,
                     question: Annotated[str, Form(max_length=MAX_QUESTION_CHARS * 2)] = "",
                     mode: Annotated[str, Form(max_length=10)] = "panel",
                     panel: Annotated[str | None, Form(max_length=100)] = None,
                     models: Annotated[list[str] | None, Form(max_length=50)] = None,
                     max_tokens: Annotated[str, Form(max_length=100)] = "",
                     temperature: Annotated[str, Form(max_length=100)] = "",
                     rounds: Annotated[str, Form(max_length=10)] = "1",
                     synthesize: Annotated[str | None, Form(max_length=10)] = None
                     ) -> Response:
    chosen = split_models(models) if mode == "models" else None
    again = {**_ask_form(services), "question": question, "chosen": chosen or [], "mode": mode,
             "panel": panel, **options_form(web.max_tokens, max_tokens, temperature, rounds,
                                            synthesize)}
    try:
        # Limited here, not as a dependency, so a refused ask shows the form with the
        # question still in it rather than a bare error page.
        await limit_asks(request)
        if mode == "models" and not chosen:
            raise InputError("pick at least one model, or ask a panel")
        options = form_options(max_tokens, temperature, web.max_tokens, rounds=rounds,
                               synthesize=synthesize)
        opts = AskOptions(question=question, models=chosen,
                          panel=None if chosen else panel or None, source=AskSource.WEB,
                          max_tokens=options.max_tokens, temperature=options.temperature,
                          owner_id=viewer.owner_id, rounds=options.rounds,
                          synthesize=options.synthesize)
        ask_id = await start_ask(request, opts, viewer.user)
    except (RateLimited, UserLimitExceeded, InputError) as err:
        message, status, headers = refusal(err)
        return templates.TemplateResponse(request, "ask.html", {**again, "error": message},
                                          status_code=status, headers=headers)
    return RedirectResponse(request.url_for("result_page", ask_id=ask_id), status_code=303)


async def _record(services: Any, ask_id: str) -> AskRecord:
    record: AskRecord | None = await asyncio.to_thread(services.store.asks.get, ask_id)
    if record is None:
        raise HTTPException(404, "There is no result at this address. Check the link.")
    return record


def _share_text(record: AskRecord) -> str:
    if record.score is not None:
        head = f"Consensus Score {record.score:.0f}/100 ({record.verdict or ''})"
        explanation = record.consensus.explanation if record.consensus else ""
        return f"{head}. {explanation}".strip()
    return f"{len(record.models)} AI models answered this question side by side."


@router.get("/r/{ask_id}", response_class=HTMLResponse, name="result_page")
async def result_page(ask_id: str, request: Request, services: ServicesDep, hub: HubDep,
                      runner: RunnerDep, templates: TemplatesDep, viewer: ViewerDep) -> Response:
    return templates.TemplateResponse(request, "result.html", await result_context(
        request, ask_id, services, hub, runner, viewer))


async def result_context(request: Request, ask_id: str, services: Services, hub: HubService,
                         runner: AskRunner, viewer: Viewer) -> dict[str, Any]:
    """What result.html shows (the follow-up form's errors come back to the same page)."""
    # Whether the ask is live is decided before the record is read: an ask that ends
    # in between is then followed over SSE (which replays it), never shown as a
    # finished page built from a record read while it was still running.
    live = await runner.live(ask_id)
    await readable(request, viewer, ask_id)
    record = await _record(services, ask_id)
    access = await asyncio.to_thread(services.store.asks.access, ask_id)
    article = (await asyncio.to_thread(hub.get_article, record.article_id)
               if record.article_id else None)
    return {
        "ask": record, "answers": [answer_view(a) for a in record.answers],
        "consensus": consensus_view(record), "live": live,
        "article": article, "share_text": _share_text(record),
        "permalink": str(request.url_for("result_page", ask_id=ask_id)),
        "accounts_on": viewer.accounts, "shared": bool(access and access.shared),
        "may_change": bool(access and viewer.may_change(access)),
        "followup_question": "", "followup_error": None, "max_chars": MAX_QUESTION_CHARS}


@router.post("/r/{ask_id}/stop", name="result_stop")
async def result_stop(ask_id: str, request: Request, services: ServicesDep, runner: RunnerDep,
                      _origin: SameOrigin, viewer: ViewerDep) -> Response:
    """The Stop button without JavaScript: stop, then show the result as it ended."""
    await changeable(request, viewer, ask_id)
    await runner.stop(ask_id)
    return RedirectResponse(request.url_for("result_page", ask_id=ask_id), status_code=303)


@router.post("/r/{ask_id}/share", name="result_share")
async def result_share(ask_id: str, request: Request, services: ServicesDep, viewer: ViewerDep,
                       _origin: SameOrigin,
                       shared: Annotated[str, Form(max_length=10)] = "true") -> Response:
    """The share toggle: a shared ask can be opened by anyone with the link who may read
    the site; a private one by its owner only."""
    await changeable(request, viewer, ask_id)
    await asyncio.to_thread(services.store.asks.set_shared, ask_id, shared == "true")
    return RedirectResponse(request.url_for("result_page", ask_id=ask_id), status_code=303)


@router.post("/r/{ask_id}/synthesize", name="result_synthesize")
async def result_synthesize(ask_id: str, request: Request, services: ServicesDep,
                            _origin: SameOrigin, viewer: ViewerDep) -> Response:
    """The result page's Synthesize button: one answer written from a finished ask's."""
    from drux.services.synthesis import synthesize_stored

    await changeable(request, viewer, ask_id)
    await synthesize_stored(services, await _record(services, ask_id))
    return RedirectResponse(request.url_for("result_page", ask_id=ask_id), status_code=303)


@router.get("/r/{ask_id}/consensus", response_class=HTMLResponse, name="result_consensus")
async def result_consensus(ask_id: str, request: Request, services: ServicesDep,
                           templates: TemplatesDep) -> Response:
    """The consensus section alone, fetched by the live page once the ask is scored."""
    await readable(request, viewer_of(request), ask_id)
    record = await _record(services, ask_id)
    return templates.TemplateResponse(request, "_consensus.html", {
        "ask": record, "consensus": consensus_view(record)})


@router.get("/r/{ask_id}/export.json", name="export_json")
async def export_json(ask_id: str, request: Request, services: ServicesDep) -> Response:
    await readable(request, viewer_of(request), ask_id)
    record = await _record(services, ask_id)
    return Response(record.to_json(),
                    media_type="application/json", headers={
                        "Content-Disposition": f'attachment; filename="drux-{ask_id}.json"'})


@router.get("/r/{ask_id}/export.md", name="export_markdown")
async def export_markdown(ask_id: str, request: Request, services: ServicesDep) -> Response:
    await readable(request, viewer_of(request), ask_id)
    record = await _record(services, ask_id)
    text = to_markdown(record, str(request.url_for("result_page", ask_id=ask_id)))
    return Response(text, media_type="text/markdown; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="drux-{ask_id}.md"'})


@router.get("/history", response_class=HTMLResponse, name="history_page")
async def history_page(request: Request, services: ServicesDep, hub: HubDep,
                       templates: TemplatesDep, web: WebSettingsDep,
                       article: Annotated[str | None, Query(max_length=200)] = None,
                       page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    repo = services.store.asks
    article = article or None
    per = web.page_size * 2
    visible = viewer_of(request).visibility()
    asks = await asyncio.to_thread(repo.list, limit=per, offset=(page - 1) * per,
                                   article_id=article, visible_to=visible)
    total = await asyncio.to_thread(repo.count, article_id=article, visible_to=visible)
    articles, _ = await asyncio.to_thread(hub.list_articles, None, None, 1, 100)
    return templates.TemplateResponse(request, "history.html", {
        "asks": asks, "total": total, "page": page, "pages": _pages(total, per),
        "article": article, "articles": articles})


@router.get("/status", response_class=HTMLResponse, name="status_page")
async def status_page(request: Request, services: ServicesDep, runner: RunnerDep,
                      templates: TemplatesDep) -> Response:
    health = await asyncio.to_thread(deployment_status, services)
    return templates.TemplateResponse(request, "status.html", {
        "models": services.model_rows(), "deployments": health, "running": runner.running,
        "panels": services.config.catalog.panels, "cluster": await cluster_status(services)})


def _body_fields(op: dict[str, Any], schemas: dict[str, Any]) -> list[str]:
    content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = content.get("schema", {}).get("$ref", "")
    schema = schemas.get(ref.rsplit("/", 1)[-1], {})
    required = set(schema.get("required", []))
    return [f"{name}{'' if name in required else '?'}" for name in schema.get("properties", {})]


@router.get("/docs", response_class=HTMLResponse, name="docs_page")
async def docs_page(request: Request, templates: TemplatesDep) -> Response:
    """The API reference, rendered from the OpenAPI document (no CDN, no inline script)."""
    spec = request.app.openapi()
    schemas = spec.get("components", {}).get("schemas", {})
    ops = [{"method": method.upper(), "path": path, "summary": op.get("summary", ""),
            "description": op.get("description", ""),
            "params": [p["name"] for p in op.get("parameters", [])],
            "body": _body_fields(op, schemas), "responses": sorted(op.get("responses", {}))}
           for path, methods in spec.get("paths", {}).items()
           for method, op in methods.items()]
    return templates.TemplateResponse(request, "docs.html", {"ops": ops, "spec": spec})


