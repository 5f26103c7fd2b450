"""Store checks shared by the SQLite and PostgreSQL tests of accounts."""

from __future__ import annotations

from migration_kit import head_revision, revision_of, upgrade_to
from sqlalchemy import text

from drux.store import Store
from drux.store.db import make_engine


def upgrade_from_0003_keeps_asks_and_shares_faq_answers(url: str) -> None:
    """A database at 0003 opens at the head (0004 on): its asks and answers are kept, owned by nobody,
    private, except the FAQ answers of Hub articles, which become shared."""
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade_to(conn, "0003")
        for ask_id in ("mine", "faq"):
            conn.execute(text("INSERT INTO asks (id, created_at, question, models, skipped, "
                              "params, status, source) VALUES (:id, CURRENT_TIMESTAMP, 'q?', "
                              "'[]', '[]', '{}', 'complete', 'cli')"), {"id": ask_id})
        conn.execute(text("INSERT INTO answers (ask_id, position, model, recovered, status, "
                          "text, input_tokens, output_tokens, cost_usd) VALUES ('mine', 0, 'm', "
                          "false, 'done', 'an answer', 0, 0, 0)"))
        conn.execute(text("INSERT INTO articles (id, title, tags, body_md, faq, imported_at) "
                          "VALUES ('a', 'A', '[]', '', '[]', CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO faq_answers (article_id, question, ask_id, created_at) "
                          "VALUES ('a', 'q?', 'faq', CURRENT_TIMESTAMP)"))
    engine.dispose()
    store = Store(url)
    try:
        assert revision_of(store.sessions.kw["bind"]) == head_revision()
        mine = store.asks.get("mine")
        assert mine is not None and [a.text for a in mine.answers] == ["an answer"]
        access = store.asks.access("mine")
        assert access is not None and (access.owner_id, access.shared) == (None, False)
        faq = store.asks.access("faq")
        assert faq is not None and faq.shared
    finally:
        store.close()
