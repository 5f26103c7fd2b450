"""ArticleRepository.latest_scores: each article's latest scored ask, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from drux.store import Store
from drux.store.articles import ArticleRecord, ArticleScore
from drux.store.models import Ask, utcnow


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = (f"sqlite:///{tmp_path / 'drux.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))
    s = Store(url)
    yield s
    s.close()


def _ask(store: Store, article: str | None, score: float | None, age_s: int) -> str:
    ask_id = store.asks.create(question="q", models=["alpha"], families={}, article_id=article)
    store.asks.finish(ask_id, status="complete" if score is not None else "partial",
                      score=score, verdict="agree" if score is not None else None)
    with store.sessions.begin() as session:  # created ``age_s`` seconds ago
        session.execute(update(Ask).where(Ask.id == ask_id)
                        .values(created_at=utcnow() - timedelta(seconds=age_s)))
    return ask_id


def test_each_article_gets_its_latest_scored_ask(store: Store) -> None:
    store.articles.upsert_many([ArticleRecord(slug, slug.title()) for slug in ("a", "b", "c")])
    _ask(store, "a", 40.0, age_s=300)
    newest_a = _ask(store, "a", 80.0, age_s=200)
    _ask(store, "a", None, age_s=100)  # stopped later, unscored: the score stays 80
    only_b = _ask(store, "b", 55.5, age_s=50)
    _ask(store, None, 10.0, age_s=10)  # about no article
    assert store.articles.latest_scores(["a", "b", "c", "missing"]) == {
        "a": ArticleScore("a", newest_a, 80.0, "agree"),
        "b": ArticleScore("b", only_b, 55.5, "agree")}
    assert store.articles.latest_scores(["b"]) == {"b": ArticleScore("b", only_b, 55.5, "agree")}
    assert store.articles.latest_scores([]) == {}
