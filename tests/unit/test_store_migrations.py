"""Schema migrations move an existing database forward and keep its rows."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from drux.store import Store
from drux.store.db import MIGRATIONS, make_engine


def upgrade_from_0002_drops_the_agreement_cache(url: str) -> None:
    """A database made at revision 0002 (with a row in the unused agreement_cache) opens at
    0003 and on without that table, its asks intact."""
    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        conn.execute(text("INSERT INTO agreement_cache (key, backend, value, created_at) "
                          "VALUES ('k', 'fast', '{}', CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO asks (id, created_at, question, models, skipped, params,"
                          " status, source) VALUES ('old-ask', CURRENT_TIMESTAMP, 'q?', '[]',"
                          " '[]', '{}', 'complete', 'cli')"))
    engine.dispose()
    store = Store(url)
    try:
        engine = store.sessions.kw["bind"]
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0006"  # the head
        assert "agreement_cache" not in inspect(engine).get_table_names()
        old = store.asks.get("old-ask")
        assert old is not None and old.question == "q?" and old.status == "complete"
    finally:
        store.close()


def test_sqlite_upgrade_from_0002_drops_the_agreement_cache(tmp_path: Path) -> None:
    upgrade_from_0002_drops_the_agreement_cache(f"sqlite:///{tmp_path / 'drux.db'}")


def test_sqlite_0006_adds_rounds_and_synthesis_and_goes_back(tmp_path: Path) -> None:
    """An ask stored at 0004 opens with no rounds and no synthesis, takes both, and a
    downgrade to 0004 removes them and keeps the ask."""
    from drux.records import AskStatus, RoundRecord, SynthesisRecord

    url = f"sqlite:///{tmp_path / 'drux.db'}"
    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
        conn.execute(text("INSERT INTO asks (id, created_at, question, models, skipped, params,"
                          " status, source, shared) VALUES ('old-ask', CURRENT_TIMESTAMP, 'q?',"
                          " '[]', '[]', '{}', 'complete', 'cli', false)"))
    engine.dispose()
    store = Store(url)
    try:
        old = store.asks.get("old-ask")
        assert old is not None and old.rounds == [] and old.synthesis is None
        store.asks.save_round("old-ask", RoundRecord(round=1, status=AskStatus.COMPLETE, score=80.0))
        store.asks.save_round("old-ask", RoundRecord(round=1, status=AskStatus.COMPLETE, score=81.0))
        store.asks.set_synthesis("old-ask", SynthesisRecord(model="m", text="one answer"))
        again = store.asks.get("old-ask")
        assert again is not None and [(r.round, r.score) for r in again.rounds] == [(1, 81.0)]
        assert again.synthesis is not None and again.synthesis.label == "synthesized by m"
    finally:
        store.close()
    engine = make_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
        assert "ask_rounds" not in inspect(conn).get_table_names()
        assert "synthesis" not in {c["name"] for c in inspect(conn).get_columns("asks")}
        assert conn.scalar(text("SELECT question FROM asks WHERE id = 'old-ask'")) == "q?"
    engine.dispose()
