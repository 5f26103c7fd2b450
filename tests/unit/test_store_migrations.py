"""Schema migrations move an existing database forward and keep its rows."""

from __future__ import annotations

from pathlib import Path

from migration_kit import downgrade_to, head_revision, revision_of, upgrade_to
from sqlalchemy import inspect, text

from drux.records import ThreadPosition
from drux.store import Store
from drux.store.db import make_engine


def upgrade_from_0002_drops_the_agreement_cache(url: str) -> None:
    """A database made at revision 0002 (with a row in the unused agreement_cache) opens at
    0003 and on without that table, its asks intact."""
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade_to(conn, "0002")
        conn.execute(text("INSERT INTO agreement_cache (key, backend, value, created_at) "
                          "VALUES ('k', 'fast', '{}', CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO asks (id, created_at, question, models, skipped, params,"
                          " status, source) VALUES ('old-ask', CURRENT_TIMESTAMP, 'q?', '[]',"
                          " '[]', '{}', 'complete', 'cli')"))
    engine.dispose()
    store = Store(url)
    try:
        engine = store.sessions.kw["bind"]
        assert revision_of(engine) == head_revision()
        assert "agreement_cache" not in inspect(engine).get_table_names()
        old = store.asks.get("old-ask")
        assert old is not None and old.question == "q?" and old.status == "complete"
    finally:
        store.close()


def test_sqlite_upgrade_from_0002_drops_the_agreement_cache(tmp_path: Path) -> None:
    upgrade_from_0002_drops_the_agreement_cache(f"sqlite:///{tmp_path / 'drux.db'}")


def upgrade_from_0004_keeps_asks_outside_threads(url: str) -> None:
    """A database made at 0004 opens with the thread columns (0007); its asks are in no
    thread and can be followed up; downgrading to 0004 drops the columns again."""
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade_to(conn, "0004")
        conn.execute(text("INSERT INTO asks (id, created_at, question, models, skipped, params,"
                          " status, source, shared) VALUES ('old-ask', CURRENT_TIMESTAMP, 'q?',"
                          " '[]', '[]', '{}', 'complete', 'cli', false)"))
    engine.dispose()
    store = Store(url)
    try:
        old = store.asks.get("old-ask")
        assert old is not None and old.thread is None
        new = store.asks.create(question="q2?", models=[], families={},
                                thread=ThreadPosition(id="old-ask", turn=2))
        thread = store.threads.get("old-ask")
        assert thread is not None and [(t.id, t.turn) for t in thread.turns] == [
            ("old-ask", 1), (new, 2)]
        engine = store.sessions.kw["bind"]
        with engine.begin() as conn:
            downgrade_to(conn, "0004")
        assert "thread_id" not in {c["name"] for c in inspect(engine).get_columns("asks")}
    finally:
        store.close()


def test_sqlite_upgrade_from_0004_keeps_asks_outside_threads(tmp_path: Path) -> None:
    upgrade_from_0004_keeps_asks_outside_threads(f"sqlite:///{tmp_path / 'drux.db'}")
