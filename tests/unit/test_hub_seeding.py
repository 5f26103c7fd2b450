"""Hub seeding when many processes start at once on a new database (issue 11).

Each child process opens the store (migrations take their own lock), says it is ready, then
waits on its stdin; the test releases them all together, so their ``ensure_loaded`` calls race
for real. Before seeding was one step, "read, then insert" let several see an empty Hub and
all but one died on the primary key, which stopped a whole uvicorn server at start-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from drux.hub.service import SAMPLE_CONTENT, collect
from drux.store import Store

from waiting import PATIENCE_S

CHILD = """
import json, sys
from drux.hub import HubService
from drux.services import Services
services = Services.from_settings()
services.store  # open and migrate before the race
print("ready", flush=True)
sys.stdin.readline()
print(json.dumps(HubService(services).ensure_loaded()), flush=True)
"""

# The web app's own start-up (its lifespan seeds the Hub), then a request to /api/status.
APP_CHILD = """
import json, sys
from fastapi.testclient import TestClient
from drux.services import Services
from drux.web.app import create_app
services = Services.from_settings()
services.store
print("ready", flush=True)
sys.stdin.readline()
with TestClient(create_app(services)) as client:
    status = client.get("/api/status")
    assert status.status_code == 200, status.text
print(json.dumps([]), flush=True)
"""


def _race(processes: int, script: str = CHILD) -> list[list[str]]:
    """Start ``processes`` children, release them at once; what each one seeded."""
    children = [subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy(),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
                for _ in range(processes)]
    try:
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line.strip() == "ready", child.communicate(timeout=PATIENCE_S)[1]
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        seeded = []
        for child in children:
            out, err = child.communicate(timeout=PATIENCE_S)
            assert child.returncode == 0, err
            assert "Traceback" not in err
            seeded.append(json.loads(out.strip().splitlines()[-1]))
        return seeded
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def _samples() -> set[str]:
    return {doc.slug for doc in collect(SAMPLE_CONTENT)}


def _stored_ids(url: str) -> list[str]:
    store = Store(url)
    try:
        with store.sessions() as session:
            return [row[0] for row in session.execute(text("SELECT id FROM articles"))]
    finally:
        store.close()


def _check(url: str, seeded: list[list[str]]) -> None:
    samples = _samples()
    assert [set(s) for s in seeded if s] == [samples]  # one process seeded, the rest found it
    ids = _stored_ids(url)
    assert sorted(ids) == sorted(samples)  # each article once


@pytest.mark.postgres
def test_eight_processes_seed_a_new_postgres_hub_once(drux_env: Path, pg_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRUX_DATABASE_URL", pg_url)
    _check(pg_url, _race(8))


@pytest.mark.postgres
def test_eight_app_start_ups_at_once_on_a_new_postgres_database(
        drux_env: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRUX_DATABASE_URL", pg_url)
    _race(8, APP_CHILD)  # each one started and answered /api/status
    assert sorted(_stored_ids(pg_url)) == sorted(_samples())


def test_processes_seed_a_shared_sqlite_hub_once(drux_env: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{drux_env / 'shared.db'}"
    monkeypatch.setenv("DRUX_DATABASE_URL", url)
    _check(url, _race(4))


def test_seeding_never_overwrites_articles_imported_meanwhile(drux_env: Path) -> None:
    from drux.store.articles import ArticleRecord

    store = Store(f"sqlite:///{drux_env / 'one.db'}")
    try:
        mine = ArticleRecord(sorted(_samples())[0], "Mine, imported first")
        store.articles.upsert_many([mine])
        assert store.articles.seed([ArticleRecord(mine.id, "The sample")]) is False
        got: Any = store.articles.get(mine.id)
        assert got.title == "Mine, imported first"
        store.articles.upsert_many([ArticleRecord(mine.id, "Replaced by an import")])
        assert store.articles.get(mine.id).title == "Replaced by an import"  # type: ignore[union-attr]
    finally:
        store.close()


@pytest.mark.postgres
def test_a_batch_larger_than_one_insert_is_written_whole(pg_url: str) -> None:
    from drux.store.articles import ArticleRecord

    store = Store(pg_url)
    try:
        records = [ArticleRecord(f"a-{i}", f"Article {i}", tags=["t"]) for i in range(8000)]
        store.articles.upsert_many(records)  # 72,000 values: over PostgreSQL's 65,535 at once
        assert store.articles.count() == 8000
        assert store.articles.seed(records[:1]) is False
    finally:
        store.close()
