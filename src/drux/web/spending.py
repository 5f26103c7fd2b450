"""Starting an ask from the web under its user's limits (``services/spend.py``): reserve
before the runner starts it, settle once its run has ended (in a task of its own, since the
HTTP request returns at once)."""

from __future__ import annotations

import asyncio
import time

from fastapi import Request

from drux.errors import DruxError, SharedStateError
from drux.records import AskStatus
from drux.services.options import AskOptions
from drux.services.spend import AskHold, UserSpend
from drux.store.users import UserInfo
from drux.web.runner import AskRunner

# With Redis away, how often the store is read for the ask's end, and how long past the ask's
# timeout to keep looking (a reservation left unsettled errs toward refusing, never spending).
STORE_POLL_S = 2.0
STORE_GRACE_S = 60.0


async def start_ask(request: Request, opts: AskOptions, user: UserInfo | None) -> str:
    """Admit the ask under ``user``'s limits (raises ``UserLimitExceeded``) and start it."""
    spend: UserSpend = request.app.state.user_spend
    runner: AskRunner = request.app.state.runner
    held = await spend.admit(user, opts)
    try:
        ask_id = await runner.start(opts)
    except BaseException:
        await spend.release(held)
        raise
    if held.hold is not None:
        tasks: set[asyncio.Task[None]] = request.app.state.settling
        task = asyncio.create_task(_settle_after(runner, spend, held, ask_id),
                                   name=f"settle:{ask_id}")
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    return ask_id


async def _settle_after(runner: AskRunner, spend: UserSpend, held: AskHold, ask_id: str) -> None:
    """Wait for the ask's end wherever it runs (this process, or a job worker: the event log
    says when), then settle with what its stored answers cost."""
    try:
        async for _ in runner.events.follow(ask_id):
            pass  # the log ends with the ask's ``done`` (or when it no longer holds the ask)
    except SharedStateError:  # Redis away: the stored record says when the ask has ended
        await _stored_end(runner, ask_id)
    await spend.settle(held, ask_id)


async def _stored_end(runner: AskRunner, ask_id: str) -> None:
    services = runner.services
    deadline = time.monotonic() + services.settings.timeout + STORE_GRACE_S
    while time.monotonic() < deadline:
        try:
            record = await asyncio.to_thread(services.store.asks.get, ask_id)
        except DruxError:
            record = None
        if record is not None and record.status != AskStatus.RUNNING:
            return
        await asyncio.sleep(STORE_POLL_S)
