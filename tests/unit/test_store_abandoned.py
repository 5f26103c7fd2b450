"""Asks left "running" by a process that died are settled as partial, keeping their text;
asks that may still be running elsewhere are left alone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from drux.services import Services
from drux.store import Store
from drux.store.models import Ask, utcnow


def _ask(store: Store, *, age_s: float, timeout: float | None = None) -> str:
    ask_id = store.asks.create(question="q", models=["a", "b"], families={"a": "x", "b": "y"},
                               params={"timeout": timeout})
    store.asks.update_answers(ask_id, {"a": {"status": "done", "text": "all of it"},
                                       "b": {"status": "streaming", "text": "half of"}})
    with store.sessions.begin() as session:
        row = session.get(Ask, ask_id)
        assert row is not None
        row.created_at = utcnow() - timedelta(seconds=age_s)
    return ask_id


def check_settles_only_the_abandoned(store: Store) -> None:
    dead = _ask(store, age_s=2 * 3600)                    # default timeout 180 s: long gone
    young = _ask(store, age_s=60)                         # may still be running elsewhere
    patient = _ask(store, age_s=3600, timeout=3600)  # its own timeout is an hour
    done = _ask(store, age_s=2 * 3600)
    store.asks.finish(done, status="complete", score=80.0)

    assert store.asks.settle_abandoned(default_timeout=180.0) == [dead]
    record = store.asks.get(dead)
    assert record is not None and record.status == "partial" and record.finished_at
    answers = {a.model: a for a in record.answers}
    assert answers["a"].status == "done" and answers["a"].text == "all of it"
    assert answers["b"].status == "partial" and answers["b"].text == "half of"
    for other, status in ((young, "running"), (patient, "running"), (done, "complete")):
        again = store.asks.get(other)
        assert again is not None and again.status == status
    assert store.asks.settle_abandoned(default_timeout=180.0) == []  # once only


def test_abandoned_asks_are_settled_as_partial(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'drux.db'}")
    try:
        check_settles_only_the_abandoned(store)
    finally:
        store.close()


def test_a_process_settles_abandoned_asks_when_it_opens_the_store(drux_env: Path) -> None:
    first = Services.from_settings()
    dead = _ask(first.store, age_s=3600)
    first.store.close()
    second = Services.from_settings()  # e.g. the next `drux history` or `drux serve`
    try:
        record = second.store.asks.get(dead)
        assert record is not None and record.status == "partial"
        assert [r.status for r in second.store.asks.list()] == ["partial"]
    finally:
        second.store.close()
