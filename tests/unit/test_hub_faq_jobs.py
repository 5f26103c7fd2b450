"""``drux hub faq`` with DRUX_REDIS_URL: each question is a job a worker runs, and the caller
still gets every typed event (progress) and the scored result."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from test_hub_faq import AGREE, ARTICLE, NO, TOML, YES, _trio

from drux.config import load_config
from drux.hub import HubService
from drux.hub.faq import FaqStep
from drux.panel import Finished, Started
from drux.services import Services
from drux.services.ask import AskCreated, AskDone, Scored
from drux.state.jobs import make_queue, run_worker

from scripted import Reply, factory

pytestmark = pytest.mark.redis


async def test_faq_questions_run_as_jobs_on_a_worker(drux_env: Path, redis_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRUX_REDIS_URL", redis_url)
    (drux_env / "project.toml").write_text(TOML)
    (drux_env / "lander.md").write_text(ARTICLE)
    providers = _trio([Reply(AGREE), Reply(YES)], [Reply(AGREE), Reply(YES)],
                      [Reply(AGREE), Reply(NO)])
    hub = HubService(Services(load_config(), provider_factory=factory(providers)))
    hub.import_path(drux_env / "lander.md")
    # The worker has services of its own, as another process would.
    worker = asyncio.create_task(run_worker(
        Services(load_config(), provider_factory=factory(providers)), redis_url, concurrency=2))
    queue = make_queue(redis_url)
    try:
        steps: list[FaqStep] = []
        results = await hub.faq("lander", panel="trio", on_step=steps.append)
        jobs = [await queue.job(r["ask_id"]) for r in results]
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        await queue.disconnect()
        await hub.services.aclose()
    assert [r["status"] for r in results] == ["complete", "complete"]
    assert all(job is not None and job.status == "complete" for job in jobs)  # run as jobs
    assert results[1]["disagreement_reason"] and "gamma" in results[1]["disagreement_reason"]
    assert results[0]["score"] is not None and results[0]["score"] >= 70
    kinds = [type(s.event) for s in steps if s.number == 1]
    assert kinds[0] is AskCreated and kinds[-2:] == [Scored, AskDone]
    assert kinds.count(Started) == 3 and kinds.count(Finished) == 3
    night = hub.faq_results("lander")[0]
    assert night["consensus_answer"] == AGREE
