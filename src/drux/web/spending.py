"""Starting an ask from the web under its user's limits (``services/spend.py``): reserve
before the runner starts it, settle once its run has ended (in a task of its own, since the
HTTP request returns at once)."""

from __future__ import annotations

import asyncio

from fastapi import Request

from drux.services.options import AskOptions
from drux.services.spend import AskHold, UserSpend
from drux.store.users import UserInfo
from drux.web.runner import AskRunner


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
    run = runner.get(ask_id)
    if run is not None and run.task is not None:
        await asyncio.wait({run.task})  # however it ended; never raises its exception
    await spend.settle(held, ask_id)
