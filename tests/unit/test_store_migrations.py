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
