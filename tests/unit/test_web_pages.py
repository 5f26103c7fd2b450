"""The server-rendered pages over scripted providers: content, errors, headers, safety."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_kit import Scripts, ask_from_the_form, make_services, relaxed, sse_events

from drux.records import AskRecord, AskStatus
from drux.web.app import create_app
from drux.web.settings import WebSettings

XSS = ('<img src=x onerror="alert(1)"> <script>alert(2)</script> '
       "[click](javascript:alert(3)) **bold**")


@pytest.fixture
def scripts() -> Scripts:
    return Scripts()


@pytest.fixture
def client(drux_env: Path, scripts: Scripts) -> Iterator[TestClient]:
    app = create_app(make_services(drux_env, scripts), relaxed(page_size=3))
    with TestClient(app) as c:
        yield c


def test_hub_lists_searches_filters_and_pages(client: TestClient) -> None:
    page1 = client.get("/")
    assert page1.status_code == 200
    titles = re.findall(r'<h2><a href="/articles/[^"]+">([^<]+)</a>', page1.text)
    assert len(titles) == 3
    total = client.get("/api/articles").json()["total"]
    assert f"Page 1 of {-(-total // 3)}" in page1.text
    page2 = client.get("/?page=2").text
    assert not set(titles) & set(re.findall(r'<h2><a href="[^"]+">([^<]+)</a>', page2))
    heat = client.get("/?q=November+record").text
    assert "warmest November day" in heat and "Desalination" not in heat
    tagged = client.get("/?tag=space").text
    assert "lunar lander" in tagged.lower() and "Desalination" not in tagged
    assert "No articles match" in client.get("/?q=zzzznothing").text


def test_article_page_shows_source_body_faq_and_ask_button(client: TestClient) -> None:
    r = client.get("/articles/november-heat-record")
    assert r.status_code == 200
    html = r.text
    assert 'Via <a href="https://weather.example.net/2026/11/november-heat-record"' in html
    assert "Frequently asked" in html and "weather and climate" in html
    assert "What do the AIs actually think?" in html
    assert "Ask the AIs: Coastal city logs its warmest November day" in html
    assert 'action="/articles/november-heat-record/ask"' in html


def test_ask_the_ais_on_an_article_redirects_to_its_result(client: TestClient,
                                                          scripts: Scripts) -> None:
    r = client.post("/articles/november-heat-record/ask", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("http://testserver/r/")
    ask_id = r.headers["location"].rsplit("/", 1)[1]
    sse_events(client.get(f"/api/asks/{ask_id}/events").text)
    prompt = scripts.built["alpha"].requests[-1].prompt_text
    assert "29.1" in prompt  # the article body went in as context
    article = client.get("/articles/november-heat-record").text
    assert f"/r/{ask_id}" in article  # listed under past results
    history = client.get("/history?article=november-heat-record").text
    assert f"/r/{ask_id}" in history
    assert client.post("/articles/no-such-thing/ask").status_code == 404


def test_result_page_permalink_exports_and_open_graph(client: TestClient) -> None:
    ask_id = ask_from_the_form(client)
    html = client.get(f"/r/{ask_id}").text
    assert '<meta property="og:title" content="Does water boil at 100 C?">' in html
    assert re.search(r'<meta property="og:description" content="Consensus Score \d+/100', html)
    assert f'value="http://testserver/r/{ask_id}"' in html
    assert "Consensus answer" in html and "(answer of " in html
    assert 'data-live="0"' in html and 'class="gauge' in html and 'class="heatmap"' in html
    for model in ("alpha", "beta", "gamma"):
        assert f'data-model="{model}"' in html
    exported = client.get(f"/r/{ask_id}/export.json")
    assert exported.headers["content-disposition"].endswith(f'drux-{ask_id}.json"')
    assert exported.json()["id"] == ask_id
    md = client.get(f"/r/{ask_id}/export.md")
    assert md.text.startswith("# Does water boil at 100 C?") and "## alpha" in md.text
    assert client.get("/r/unknown-id").status_code == 404


def test_the_result_page_says_the_score_is_agreement_not_correctness(client: TestClient) -> None:
    html = client.get(f"/r/{ask_from_the_form(client)}").text
    assert "How far the answers agree, not whether they are right." in html


def test_an_ask_that_ends_while_its_page_is_read_is_followed_live(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page reads the record while the ask runs; the ask ends before the page is
    built. It must follow the ask over SSE, not render a finished page with no score."""
    from drux.web.routes import pages

    ask_id = ask_from_the_form(client)
    run = client.app.state.runner.get(ask_id)  # type: ignore[attr-defined]
    assert run is not None and run.done
    run.done = False  # as it was when the page asked
    real = pages._record

    async def read_while_running(services: object, wanted: str) -> AskRecord:
        record = (await real(services, wanted)).model_copy(
            update={"status": AskStatus.RUNNING, "consensus": None, "score": None})
        run.done = True  # the ask ends right after the read
        return record

    monkeypatch.setattr(pages, "_record", read_while_running)
    html = client.get(f"/r/{ask_id}").text
    assert 'data-live="1"' in html  # the script replays the events, "done" included
    events = [e for _, e in sse_events(client.get(f"/api/asks/{ask_id}/events").text)]
    assert events[-1]["type"] == "done" and any(e["type"] == "scored" for e in events)


def test_model_output_is_sanitized_on_every_page(drux_env: Path) -> None:
    scripts = Scripts(answers={"alpha": XSS, "beta": XSS, "gamma": XSS})
    with TestClient(create_app(make_services(drux_env, scripts), relaxed())) as client:
        ask_id = ask_from_the_form(client, question="<script>alert(4)</script>")
        events = sse_events(client.get(f"/api/asks/{ask_id}/events").text)
        finished = [e for _, e in events if e["type"] == "finished"]
        pages = [client.get(f"/r/{ask_id}").text, client.get(f"/r/{ask_id}/consensus").text,
                 client.get("/history").text, *(e["html"] for e in finished)]
        for html in pages:
            assert "<script>alert" not in html and "<img" not in html
            assert 'href="javascript:' not in html and not re.search(r"<[^>]+\son[a-z]+=", html)
        assert "<strong>bold</strong>" in finished[0]["html"]
        assert "&lt;script&gt;alert(4)&lt;/script&gt;" in pages[0]


def test_bad_form_input_re_renders_the_form_with_422(client: TestClient) -> None:
    r = client.post("/ask", data={"question": "  ", "mode": "panel"})
    assert r.status_code == 422 and "the question is empty" in r.text
    assert '<form class="ask-form' in r.text
    r = client.post("/ask", data={"question": "hi", "mode": "models"})
    assert r.status_code == 422 and "pick at least one model" in r.text
    r = client.post("/ask", data={"question": "hi", "mode": "models", "models": ["nope"]})
    assert r.status_code == 422 and "unknown model" in r.text
    r = client.get("/?page=0")
    assert r.status_code == 422 and "Cannot use that input" in r.text
    r = client.get("/nowhere")
    assert r.status_code == 404 and "There is nothing at this address." in r.text
    assert r.headers["content-type"].startswith("text/html")


def test_page_asks_are_rate_limited_with_a_friendly_page(drux_env: Path) -> None:
    app = create_app(make_services(drux_env, Scripts()), WebSettings(asks_per_minute=1,
                                                                       ask_burst=1))
    with TestClient(app) as client:
        client.post("/ask", data={"question": "one?"}, follow_redirects=False)
        r = client.post("/ask", data={"question": "two?"}, follow_redirects=False)
        assert r.status_code == 429 and "Slow down" in r.text
        assert int(r.headers["retry-after"]) >= 1


@pytest.mark.parametrize("path", ["/", "/ask", "/status", "/history", "/docs", "/nowhere",
                                  "/static/app.css", "/api/status", "/api/asks/x"])
def test_security_headers_on_every_response(client: TestClient, path: str) -> None:
    headers = client.get(path).headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_pages_have_no_inline_script_or_style(client: TestClient) -> None:
    ask_id = ask_from_the_form(client)
    for path in ["/", "/articles/november-heat-record", "/ask", f"/r/{ask_id}", "/history",
                 "/status", "/docs", "/nowhere"]:
        html = client.get(path).text
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert 'src="/static/' in tag, (path, tag)
        assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html), path
        assert " style=" not in html and "<style" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


def test_status_page_shows_models_and_deployments(client: TestClient) -> None:
    ask_from_the_form(client)
    html = client.get("/status").text
    assert "<code>alpha</code>" in html and "set OPENAI_API_KEY" in html
    assert "ollama:alpha" in html and "closed" in html


def test_a_substitute_answer_is_labelled(drux_env: Path) -> None:
    from drux.errors import ModelNotFoundError

    from scripted import Raise, Reply, ScriptedProvider

    (drux_env / "project.toml").write_text(
        '[models.alpha]\nprovider = "ollama"\nfamily = "fam-a"\nfallbacks = ["beta"]\n'
        '[models.beta]\nprovider = "ollama"\nfamily = "fam-b"\n'
        '[panels]\ndefault = ["alpha", "beta"]\n')

    def build(spec: object, _config: object) -> ScriptedProvider:
        model = spec.id  # type: ignore[attr-defined]
        if model == "alpha":
            return ScriptedProvider(model, [Raise(ModelNotFoundError(
                "alpha was withdrawn", provider="ollama", model="alpha"))])
        return ScriptedProvider(model, [Reply("An answer from beta.")])

    from drux.config import load_config
    from drux.services import Services

    services = Services(load_config(), provider_factory=build)
    with TestClient(create_app(services, relaxed())) as client:
        ask_id = ask_from_the_form(client)
        events = [e for _, e in sse_events(client.get(f"/api/asks/{ask_id}/events").text)]
        alpha = next(e for e in events if e["type"] == "finished" and e["model"] == "alpha")
        assert alpha["substituted_for"] == "alpha"
        # Routing names the deployment that answered; the model id when it gives one.
        assert alpha["answered_by"] in ("beta", "ollama:beta")
        html = client.get(f"/r/{ask_id}").text
        assert re.search(r"answered by (ollama:)?beta instead of alpha", html)


def test_faq_answers_show_their_consensus_and_flag_disagreement(drux_env: Path) -> None:
    import asyncio

    from drux.hub import HubService

    answers = {"alpha": "Yes, a single hot day proves the climate is changing.",
               "beta": "No, a single hot day does not prove the climate is changing.",
               "gamma": "No. One day is weather; climate is the long-term average."}
    services = make_services(drux_env, Scripts(answers=answers))
    hub = HubService(services)
    hub.ensure_loaded()
    question = "Does a single record-warm day prove that the climate is changing?"
    asyncio.run(hub.faq("november-heat-record", questions=[question]))
    asyncio.run(services.aclose())
    with TestClient(create_app(make_services(drux_env, Scripts()), relaxed())) as client:
        html = client.get("/articles/november-heat-record").text
    entry = html.split(question, 1)[1].split("</details>", 1)[0]
    assert "models disagree" in entry
    assert re.search(r'class="score-pill (low|mid|high)"', html.split(question, 1)[1][:400])
    assert "See every model&#39;s answer" in entry or "See every model's answer" in entry
    assert "The panel has not answered this one yet." in html  # the other questions


def test_cross_site_form_posts_are_refused(client: TestClient) -> None:
    r = client.post("/ask", data={"question": "hi"}, headers={"origin": "https://evil.example"},
                    follow_redirects=False)
    assert r.status_code == 403 and "Not allowed" in r.text
    r = client.post("/articles/november-heat-record/ask",
                    headers={"sec-fetch-site": "cross-site"}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/ask", data={"question": "hi"}, headers={"origin": "http://testserver"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/asks").json()["total"] == 1


@pytest.mark.parametrize("path", [
    "/?q=%00", "/?q=%27%20OR%201%3D1%20--", "/?q=100%25_%5C", "/?tag=%F0%9F%92%A9",
    "/?page=10000", "/?page=-1", "/?page=1e9", "/?q=" + "w%20" * 150,
    "/articles/..%2F..%2Fetc%2Fpasswd", "/articles/" + "a" * 3000, "/r/" + "x" * 3000,
    "/r/%00/export.json", "/history?article=%00", "/history?page=abc", "/static/../app.py",
    "/api/articles?q=%00&per_page=100", "/api/asks?article=" + "z" * 150,
    "/api/asks/x/events", "/ask?q=" + "q" * 9000,
])
def test_odd_requests_never_cause_a_server_error(client: TestClient, path: str) -> None:
    r = client.get(path, headers={"Last-Event-ID": "99999999999999999999"})
    assert r.status_code < 500, (path, r.status_code, r.text[:200])


def test_status_page_shows_an_open_breaker(client: TestClient) -> None:
    from drux.errors import ServerError
    from drux.routing.breaker import BreakerPolicy

    health = client.app.state.services.health  # type: ignore[attr-defined]
    health.register("ollama:alpha", model="alpha", vendor="ollama", family="fam-a")
    breaker = health.breaker("ollama:alpha", BreakerPolicy())
    for _ in range(50):
        if breaker.describe()["state"] == "open":
            break
        breaker.before_call()
        breaker.on_failure(ServerError("boom", provider="ollama", model="alpha"))
        health.record_failure("ollama:alpha", ServerError("boom", provider="ollama",
                                                          model="alpha"))
    html = client.get("/status").text
    row = html.split("<code>ollama:alpha</code>", 1)[1].split("</tr>", 1)[0]
    assert 'class="state state-open"' in row and "retry in" in row
    assert "server_error: boom" in row
    assert client.get("/api/status").json()["deployments"][0]["state"] == "open"


def test_a_feed_item_description_is_shown_once_on_its_page(drux_env: Path,
                                                           scripts: Scripts) -> None:
    """An RSS item with only a description (and an Atom entry whose summary starts its
    content) showed that text twice: as the lead and as the body."""
    feed = drux_env / "desk.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>'
        "<item><title>Ferry timetable changes</title><link>https://desk.example.com/f</link>"
        "<description>The winter timetable starts on Monday with fewer crossings.</description>"
        "</item><item><title>Harbour crane arrives</title><link>https://desk.example.com/c</link>"
        "<description>A new crane came in by barge.</description>"
        "<content:encoded xmlns:content='http://purl.org/rss/1.0/modules/content/'>"
        "&lt;p&gt;A different body for the crane story.&lt;/p&gt;</content:encoded>"
        "</item></channel></rss>", encoding="utf-8")
    services = make_services(drux_env, scripts)
    from drux.hub.service import HubService

    slugs = HubService(services).import_path(feed)
    with TestClient(create_app(services, relaxed())) as c:
        ferry = c.get(f"/articles/{slugs[0]}").text
        crane = c.get(f"/articles/{slugs[1]}").text
    assert ferry.count("fewer crossings") == 3  # og:description, description meta, the body
    assert 'class="lead"' not in ferry
    # A separate summary is still shown above a different body.
    assert '<p class="lead">A new crane came in by barge.</p>' in crane


def test_a_result_without_consensus_shows_positions_and_marks_a_cut_answer(drux_env: Path) -> None:
    # Issue 12, cases 3 and 5 on the result page: no consensus answer beside a contradiction;
    # the positions instead; an answer the token limit cut is marked in its column.
    from drux.config import load_config
    from drux.services import Services

    from scripted import Reply, ScriptedProvider

    answers = {"alpha": "The capital of Australia is Canberra.",
               "beta": "The capital of Australia is Canberra.",
               "gamma": "The capital of Australia is Sydney. It is the largest city and"}

    def build(spec: object, _config: object) -> ScriptedProvider:
        model = spec.id  # type: ignore[attr-defined]
        return ScriptedProvider(model, [Reply(answers[model],
                                              finish="length" if model == "gamma" else "stop")])

    (drux_env / "project.toml").write_text(
        '[models.alpha]\nprovider = "ollama"\nfamily = "fam-a"\n'
        '[models.beta]\nprovider = "ollama"\nfamily = "fam-b"\n'
        '[models.gamma]\nprovider = "ollama"\nfamily = "fam-c"\n'
        '[panels]\ndefault = ["alpha", "beta", "gamma"]\n')
    services = Services(load_config(), provider_factory=build)
    with TestClient(create_app(services, relaxed())) as client:
        ask_id = ask_from_the_form(client, "What is the capital of Australia?")
        record = AskRecord.model_validate(client.get(f"/r/{ask_id}/export.json").json())
        api = client.get(f"/api/asks/{ask_id}").json()["consensus"]
        assert record.consensus is not None and record.consensus.without_consensus
        html = client.get(f"/r/{ask_id}").text
        part = client.get(f"/r/{ask_id}/consensus").text
        md = client.get(f"/r/{ask_id}/export.md").text
    assert "Consensus answer" not in html and "No consensus" in html
    line = re.sub(r"<[^>]+>", "", part.split('id="positions-line">', 1)[1].split("</p>", 1)[0])
    assert line == "The capital of Australia is Canberra: alpha, beta · " \
                   "The capital of Australia is Sydney: gamma"
    assert record.consensus.positions_line() == line
    assert [(p["label"], p["models"]) for p in api["positions"]] == [
        ("The capital of Australia is Canberra", ["alpha", "beta"]),
        ("The capital of Australia is Sydney", ["gamma"])]
    assert api["consensus_answer"] is None and api["truncated"] == ["gamma"]
    assert f"**No consensus.** Positions: {line}" in md
    gamma = html.split('data-model="gamma"', 1)[1].split("</article>", 1)[0]
    assert "done · cut off at the token limit" in gamma
    assert "cut off at the token limit" not in html.split('data-model="alpha"', 1)[1].split(
        "</article>", 1)[0]
