"""Redis stopped under a running web process and job worker: a new ask is a typed 503 naming
Redis (a page says so too) and leaves nothing behind, stored asks still read; once Redis is
back, new asks run again without a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from cluster_kit import Cluster, Follower

from fakes import FakeServer, Reply

pytestmark = [pytest.mark.redis, pytest.mark.slow]
QUESTION = {"question": "Does water boil at 100 C?"}


def _total(base: str) -> int:
    return int(httpx.get(f"{base}/api/asks", timeout=30).json()["total"])


def test_new_asks_wait_for_redis_and_resume_when_it_is_back(
        tmp_path: Path, redis_server: Any, redis_url: str) -> None:
    with FakeServer() as server:
        server.script("quick", Reply(text="Water boils at 100 C."))
        server.script("slow", Reply(text="At sea level, yes."))
        cluster = Cluster(tmp_path, server, redis_url)
        try:
            base = cluster.serve()
            cluster.worker()
            before = httpx.post(f"{base}/api/asks", json=QUESTION, timeout=30).json()["id"]
            assert Follower(base, before).wait_end()[-1][1]["status"] == "complete"
            redis_server.stop()
            try:
                refused = httpx.post(f"{base}/api/asks", json=QUESTION, timeout=30)
                page = httpx.post(f"{base}/ask", data={**QUESTION, "mode": "panel",
                                                       "panel": "default"}, timeout=30)
                stored = httpx.get(f"{base}/api/asks/{before}", timeout=30)
                result_page = httpx.get(f"{base}/r/{before}", timeout=30)
                replay = Follower(base, before).wait_end()
                total = _total(base)
            finally:
                redis_server.start()
            after = httpx.post(f"{base}/api/asks", json=QUESTION, timeout=30)
            assert after.status_code == 202, after.text
            ended = Follower(base, after.json()["id"]).wait_end()[-1][1]
        finally:
            cluster.close()
    assert refused.status_code == 503
    error = refused.json()["error"]
    assert error["type"] == "redis_unavailable" and "Redis" in error["message"]
    assert page.status_code == 503 and "Redis" in page.text and "<html" in page.text.lower()
    assert total == 1  # the refused asks left no row behind
    assert stored.status_code == 200 and stored.json()["status"] == "complete"
    assert result_page.status_code == 200
    assert [e["type"] for _, e in replay][-1] == "done"
    assert ended["status"] == "complete"
