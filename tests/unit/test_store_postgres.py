"""The store on PostgreSQL: migrations, every repository, and a whole ask through the service.

Each test gets a fresh database in a throwaway cluster (``pg_url`` in tests/conftest.py). The
cluster runs in a non-UTC time zone, so times that are not normalised to UTC show up here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from accounts_kit import upgrade_from_0003_keeps_asks_and_shares_faq_answers
from sqlalchemy import inspect, text
from test_store_migrations import upgrade_from_0002_drops_the_agreement_cache

from drux.config import load_config
from drux.errors import InputError, ModelNotFoundError, StoreError
from drux.records import AskStatus, ConsensusRecord
from drux.services import Services
from drux.services.ask import AskCreated, AskDone, AskOptions, run_ask
from drux.store import Store
from drux.store import asks as asks_module
from drux.store.articles import ArticleRecord
from drux.store.db import make_engine
from drux.store.keys import UsageRow

from scripted import Raise, Reply, ScriptedProvider, factory

pytestmark = pytest.mark.postgres


@pytest.fixture
def store(pg_url: str) -> Iterator[Store]:
    s = Store(pg_url)
    yield s
    s.close()


def _assert_utc_now(value: datetime | str | None) -> None:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert moment is not None and moment.utcoffset() == timedelta(0), value
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=5)


def test_migrations_reach_head_and_rerun_cleanly(pg_url: str) -> None:
    Store(pg_url).close()
    again = Store(pg_url)  # a second open finds the schema current
    engine = again.sessions.kw["bind"]
    try:
        assert engine.dialect.name == "postgresql"
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0006"  # the head
        tables = set(inspect(engine).get_table_names())
        assert {"asks", "answers", "articles", "faq_answers", "gateway_keys", "usage_records",
                "deployment_health", "users", "web_sessions"} <= tables
        assert "agreement_cache" not in tables  # dropped by 0003: nothing used it
        columns = {c["name"]: c for c in inspect(engine).get_columns("asks")}
        assert columns["created_at"]["type"].timezone is True
    finally:
        again.close()


def test_upgrade_from_0002_drops_the_agreement_cache(pg_url: str) -> None:
    upgrade_from_0002_drops_the_agreement_cache(pg_url)


@pytest.mark.parametrize("url", ["postgresql://u@127.0.0.1/db", "postgres://u@127.0.0.1/db",
                                 "postgresql+psycopg://u@127.0.0.1/db"])
def test_bare_postgres_urls_use_psycopg(url: str) -> None:
    engine = make_engine(url)
    assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
    engine.dispose()


def test_a_bad_url_names_no_password() -> None:
    with pytest.raises(StoreError) as caught:
        make_engine("postgresql://user:s3cret@127.0.0.1:notaport/db")
    assert "s3cret" not in str(caught.value)


def test_ask_round_trip(store: Store) -> None:
    asks = store.asks
    ask_id = asks.create(question="Wie heiß ist es? ☕", models=["alpha", "beta"],
                         families={"alpha": "fam-a", "beta": "fam-b"}, panel="duo",
                         skipped=[{"model": "gamma", "reason": "no key"}],
                         params={"max_tokens": 50, "temperature": 0.2, "nested": {"a": [1, 2]}},
                         context="ctx", article_id="some-article", source="web")
    running = asks.get(ask_id)
    assert running is not None and running.status == "running"
    assert running.finished_at is None
    assert [a.status for a in running.answers] == ["waiting", "waiting"]

    asks.update_answers(ask_id, {"alpha": {"status": "streaming", "text": "Hal"}})
    asks.update_answers(ask_id, {
        "alpha": {"status": "done", "text": "Hallo — 100 °C", "finish_reason": "stop",
                  "input_tokens": 5, "output_tokens": 4, "first_token_s": 0.25,
                  "total_s": 1.5, "tokens_per_s": 2.7, "cost_usd": 0.0012},
        "beta": {"status": "failed", "error_type": "server_error", "error_message": "boom",
                 "error_status": 503, "recovered": False},
    })
    consensus = {"score": 72.5, "verdict": "mostly agree", "pairs": [{"a": "alpha", "p": 0.9}],
                 "reason": None}
    asks.finish(ask_id, status=AskStatus.COMPLETE, score=72.5, verdict="mostly agree",
                consensus=ConsensusRecord.model_validate(consensus))

    record = asks.get(ask_id)
    assert record is not None
    assert record.question == "Wie heiß ist es? ☕"
    assert record.models == ["alpha", "beta"]
    assert record.skipped == [{"model": "gamma", "reason": "no key"}]
    assert record.params == {"max_tokens": 50, "temperature": 0.2, "nested": {"a": [1, 2]}}
    assert (record.panel, record.context, record.source) == ("duo", "ctx", "web")
    assert (record.status, record.score, record.verdict) == (
        "complete", 72.5, "mostly agree")
    assert record.consensus is not None
    assert record.consensus.model_dump(mode="json") == consensus
    alpha, beta = record.answers
    assert (alpha.model, alpha.family, alpha.text) == ("alpha", "fam-a", "Hallo — 100 °C")
    assert alpha.usage.model_dump() == {"input_tokens": 5, "output_tokens": 4}
    assert alpha.timings.model_dump() == {"first_token_s": 0.25, "total_s": 1.5,
                                          "tokens_per_s": 2.7}
    assert beta.error is not None
    assert beta.error.model_dump() == {"type": "server_error", "message": "boom", "status": 503}
    _assert_utc_now(record.created_at)
    _assert_utc_now(record.finished_at)
    assert record.finished_at >= record.created_at


def test_list_count_and_find_by_prefix(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ids with LIKE wildcards in them: an unescaped "_" would match both of the first two.
    ids = iter(["abcd_1xyz", "abcdQ1xyz", "zz%9other"])
    monkeypatch.setattr(asks_module, "new_ask_id", lambda: next(ids))
    for article in ("art-1", None, "art-1"):
        store.asks.create(question="q", models=["m"], families={}, article_id=article)

    assert store.asks.count() == 3
    assert store.asks.count(article_id="art-1") == 2
    newest_first = [s.id for s in store.asks.list()]
    assert newest_first == ["zz%9other", "abcdQ1xyz", "abcd_1xyz"]
    assert [s.id for s in store.asks.list(limit=1, offset=1)] == ["abcdQ1xyz"]
    assert [s.id for s in store.asks.list(article_id="art-1")] == ["zz%9other", "abcd_1xyz"]
    _assert_utc_now(store.asks.list()[0].created_at)

    found = store.asks.find("abcd_")
    assert found is not None and found.id == "abcd_1xyz"
    assert store.asks.find("abcd") is None  # two asks share it
    assert store.asks.find("zz%9") is not None
    assert store.asks.find("zz%%") is None
    assert store.asks.find("abcdQ1xyz") is not None


def _article(slug: str, *, published: datetime | None, tags: list[str], title: str = "T",
             body: str = "") -> ArticleRecord:
    return ArticleRecord(id=slug, title=title, source_url=f"https://example.org/{slug}",
                         published=published, tags=tags, summary=f"summary of {slug}",
                         body_md=body, faq=[{"q": "Why?", "why": "because"}])


def test_articles_upsert_search_tags_and_faq(store: Store) -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    older = datetime(2026, 3, 1, 12, 0, tzinfo=ist)
    store.articles.upsert_many([
        _article("boiling", published=older, tags=["physics", "ai"], title="Water BOILS",
                 body="At 100% humidity..."),
        _article("safety", published=datetime(2026, 4, 1, tzinfo=UTC), tags=["ai-safety"],
                 body="aligned models"),
        _article("undated", published=None, tags=["ai"], body="no date here"),
    ])
    assert store.articles.count() == 3
    boiling = store.articles.get("boiling")
    assert boiling is not None
    assert boiling.published == older and boiling.published.utcoffset() == timedelta(0)
    assert boiling.faq == [{"q": "Why?", "why": "because"}]
    _assert_utc_now(boiling.imported_at)

    everything, total = store.articles.search()
    assert [a.id for a in everything] == ["safety", "boiling", "undated"] and total == 3
    assert [a.id for a in store.articles.search(words=["water", "boils"])[0]] == ["boiling"]
    assert [a.id for a in store.articles.search(words=["100%"])[0]] == ["boiling"]
    assert store.articles.search(words=["1000%"]) == ([], 0)
    by_tag, count = store.articles.search(tag="ai")
    assert [a.id for a in by_tag] == ["boiling", "undated"] and count == 2  # not "ai-safety"
    assert [a.id for a in store.articles.search(tag="ai", limit=1, offset=1)[0]] == ["undated"]
    assert store.articles.tag_counts() == {"physics": 1, "ai": 2, "ai-safety": 1}
    assert store.articles.source_urls(["safety"]) == {"safety": "https://example.org/safety"}

    store.articles.upsert_many([_article("boiling", published=older, tags=["chemistry"])])
    assert store.articles.count() == 3
    assert store.articles.get("boiling").tags == ["chemistry"]  # type: ignore[union-attr]
    assert store.articles.search(tag="physics") == ([], 0)

    first = store.asks.create(question="Why?", models=["m"], families={}, article_id="boiling")
    second = store.asks.create(question="Why?", models=["m"], families={}, article_id="boiling")
    store.articles.add_faq_answer("boiling", "Why?", first)
    store.articles.add_faq_answer("boiling", "Why?", second)
    links = store.articles.faq_answers("boiling")
    assert [link.ask_id for link in links] == [second, first]
    _assert_utc_now(links[0].created_at)


def test_gateway_keys(store: Store) -> None:
    keys = store.keys
    assert not keys.exists()
    info, secret = keys.create("ci bot", models=["alpha", "beta", "alpha"], rpm=60, budget_usd=2.0)
    other, _ = keys.create("other")
    assert keys.exists()
    assert info.allowed_models == ("alpha", "beta") and info.rpm == 60 and info.active
    assert secret not in str(info.to_dict())
    _assert_utc_now(info.created_at)
    assert sorted(k.info.id for k in keys.active()) == sorted([info.id, other.id])

    now = datetime.now(UTC)
    keys.record_usage([
        UsageRow(info.id, "alpha", "ollama:alpha", 200, 10, 5, 0.25, 12.5, now),
        UsageRow(info.id, "alpha", "ollama:alpha", 200, 1, 1, 0.5, 3.0, now),
        UsageRow(None, "beta", None, 502, 0, 0, 0.0, None, now),
    ])
    usage = {(u["key_id"], u["model"]): u for u in keys.usage()}
    assert usage[(info.id, "alpha")] == {"key_id": info.id, "model": "alpha", "requests": 2,
                                         "input_tokens": 11, "output_tokens": 6, "cost_usd": 0.75}
    assert usage[(None, "beta")]["requests"] == 1
    assert [u["model"] for u in keys.usage(key_id=info.id)] == ["alpha"]

    revoked = keys.revoke(secret[:12])
    assert revoked.id == info.id and not revoked.active and revoked.spent_usd == 0.75
    _assert_utc_now(revoked.revoked_at)
    assert [k.info.id for k in keys.active()] == [other.id]
    assert len(keys.all()) == 2 and len(keys.all(include_revoked=False)) == 1
    with pytest.raises(InputError):
        keys.revoke("drux-%%%%%%%%")


def test_health_snapshots(store: Store) -> None:
    store.health.save([{"deployment": "ollama:b", "state": "open", "failures": 3},
                       {"deployment": "ollama:a", "state": "closed", "latency": [0.1, 0.2]}],
                      source="cli")
    store.health.save([{"deployment": "ollama:b", "state": "half_open", "failures": 0}],
                      source="serve")
    rows = store.health.load()
    assert [r["deployment"] for r in rows] == ["ollama:a", "ollama:b"]
    assert rows[0]["latency"] == [0.1, 0.2] and rows[0]["source"] == "cli"
    assert (rows[1]["state"], rows[1]["source"]) == ("half_open", "serve")
    _assert_utc_now(rows[1]["as_of"])


TOML = """
[models.alpha]
provider = "ollama"
family = "fam-a"
[models.beta]
provider = "ollama"
family = "fam-b"
[models.gamma]
provider = "ollama"
family = "fam-c"
"""


async def test_run_ask_stores_the_record_in_postgres(
        drux_env: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (drux_env / "project.toml").write_text(TOML)
    monkeypatch.setenv("DRUX_DATABASE_URL", pg_url)
    providers = {
        "alpha": ScriptedProvider("alpha", [Reply("Water boils at 100 degrees Celsius.")]),
        "beta": ScriptedProvider("beta", [Reply("At sea level water boils at 100 C.")]),
        "gamma": ScriptedProvider("gamma", [Raise(ModelNotFoundError(
            "model withdrawn", provider="ollama", model="gamma"))]),
    }
    services = Services(load_config(), provider_factory=factory(providers))
    try:
        opts = AskOptions("When does water boil?", models=["alpha", "beta", "gamma"])
        events = [e async for e in run_ask(services, opts)]
        assert services.store.url == pg_url
        created, done = events[0], events[-1]
        assert isinstance(created, AskCreated) and isinstance(done, AskDone)
        assert done.status == "complete"
        record = services.store.asks.get(created.ask_id)
    finally:
        await services.aclose()
    assert not (drux_env / "data" / "drux.db").exists()  # nothing went to SQLite

    assert record is not None and record.status == "complete"
    answers = {a.model: a for a in record.answers}
    assert answers["alpha"].text == "Water boils at 100 degrees Celsius."
    assert answers["alpha"].usage.output_tokens == 6
    assert answers["gamma"].status == "failed"
    assert answers["gamma"].error.type == "model_not_found"
    assert record.consensus is not None and record.consensus.score is not None
    assert record.score == record.consensus.score
    _assert_utc_now(record.finished_at)


def test_nul_characters_are_dropped_not_fatal(store: Store) -> None:
    # PostgreSQL text refuses NUL; a question or a model's answer holding one must still be kept.
    ask_id = store.asks.create(question="why\x00?", context="c\x00", models=["m"], families={})
    store.asks.update_answers(ask_id, {"m": {"status": "done", "text": "be\x00cause",
                                             "error_message": "\x00"}})
    record = store.asks.get(ask_id)
    assert record is not None
    assert (record.question, record.context) == ("why?", "c")
    assert record.answers[0].text == "because"


def test_abandoned_asks_are_settled_on_postgres(store: Store) -> None:
    from test_store_abandoned import check_settles_only_the_abandoned

    check_settles_only_the_abandoned(store)  # aware timestamps, a non-UTC server zone


def _open_together(url: str, n: int) -> list[Exception]:
    import threading

    start, errors = threading.Barrier(n), []

    def open_store() -> None:
        start.wait()
        try:
            Store(url).close()
        except Exception as exc:  # collected and asserted by the caller
            errors.append(exc)

    threads = [threading.Thread(target=open_store, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)  # generous; without the lock they could wait on each other for minutes
    assert not any(t.is_alive() for t in threads), "migrators stuck on each other"
    return errors


def test_processes_opening_a_new_database_at_once_all_succeed(pg_cluster: Any) -> None:
    # Without a lock, migrators racing on a new database saw no tables at once and then
    # blocked on each other's uncommitted tables (or failed: "already exists").
    import uuid

    for _ in range(3):
        url = str(pg_cluster.create_database(f"t_{uuid.uuid4().hex[:16]}"))
        assert _open_together(url, 4) == []


def test_upgrade_from_0003_keeps_asks_and_shares_faq_answers(pg_url: str) -> None:
    upgrade_from_0003_keeps_asks_and_shares_faq_answers(pg_url)


def test_accounts_and_sessions(store: Store) -> None:
    ada = store.users.create("ada", "long enough", "admin")
    assert store.users.verify("ada", "long enough") == ada
    cookie, signed = store.users.start_session(ada)
    assert store.users.session(cookie) == signed
    ask_id = store.asks.create(question="q", models=["m"], families={}, owner_id=ada.id)
    store.asks.set_shared(ask_id, True)
    access = store.asks.access(ask_id)
    assert access is not None and (access.owner_id, access.shared) == (ada.id, True)
    store.users.disable("ada")
    assert store.users.session(cookie) is None
