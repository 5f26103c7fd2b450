"""A hand-edited or damaged row is a StoreError (a one-line CLI error, a typed 503 on the
web), never an unexpected JSONDecodeError/ValueError (a 500)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from drux.errors import StoreError
from drux.store import Store


def test_damaged_rows_are_store_errors(tmp_path: Path) -> None:
    path = tmp_path / "drux.db"
    store = Store(f"sqlite:///{path}")
    bad_json = store.asks.create(question="q1", models=["m"], families={"m": "f"}, panel=None,
                                 skipped=[], context=None, article_id=None, source="cli",
                                 params={})
    bad_date = store.asks.create(question="q2", models=["m"], families={"m": "f"}, panel=None,
                                 skipped=[], context=None, article_id=None, source="cli",
                                 params={})
    store.health.save([{"deployment": "d", "state": "closed"}], source="cli")
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE asks SET consensus = '{not json' WHERE id = ?", (bad_json,))
        db.execute("UPDATE asks SET created_at = 'not a date' WHERE id = ?", (bad_date,))
        db.execute("UPDATE deployment_health SET data = '{not json'")
    store = Store(f"sqlite:///{path}")
    try:
        for read in (lambda: store.asks.get(bad_json), lambda: store.asks.get(bad_date),
                     lambda: store.asks.find(bad_json[:6]), store.health.load):
            with pytest.raises(StoreError, match="cannot read"):
                read()
        # The list does not read the damaged consensus, and lists the row with the
        # damaged date as "damaged": one bad row never hides the others.
        rows = {r.id: r for r in store.asks.list()}
        assert rows[bad_json].status == "running" and rows[bad_json].question == "q1"
        assert rows[bad_date].status == "damaged" and rows[bad_date].question == "q2"
        assert [r.id for r in store.asks.list(limit=1, offset=1)] in ([bad_json], [bad_date])
    finally:
        store.close()
