"""Per-user limits on asks: asks per minute and a daily budget (USD), on the same machinery
as the gateway's keys (``drux.state.limits`` and ``drux.state.reserve``).

An ask reserves its most expensive outcome before it starts: for every model of its panel, the
answer's ``max_tokens`` at the model's output price plus the prompt (counted high) at its
input price. When the ask ends it settles with what its stored answers cost. The day is UTC;
its counter starts from the spend the database holds for the day. The rule of
``state/reserve`` applies: a user is never taken past the daily budget by asks whose maximum
fits in what is left, and by at most one ask beyond it otherwise.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from drux.errors import DruxError
from drux.services import Services
from drux.services.ask import build_requests
from drux.services.options import AskOptions
from drux.services.synthesis import SYNTHESIS_MAX_TOKENS, choose_synthesizer
from drux.state.limits import RateLimits
from drux.state.reserve import (
    Caps,
    Hold,
    OverBudget,
    OverTokens,
    Reserver,
    prompt_tokens_at_most,
)
from drux.store.models import utcnow
from drux.store.spend import day_start
from drux.store.users import UserInfo

_DAY_KEEP_SECONDS = 2 * 86_400  # a day's counter outlives the day, then goes


class UserLimitExceeded(DruxError):
    """An ask refused by its user's limits: HTTP shells answer 429 with Retry-After."""

    retry_after: float = 1.0


class AsksPerMinuteExceeded(UserLimitExceeded):
    code = "user_rate_limited"

    def __init__(self, limit: int, retry_after: float) -> None:
        super().__init__(f"your account may start {limit} asks a minute; "
                         f"try again in {max(1, round(retry_after))} s")
        self.retry_after = retry_after


class DailyBudgetExceeded(UserLimitExceeded):
    code = "daily_budget_exceeded"

    def __init__(self, budget: float, retry_after: float, *, busy: bool) -> None:
        if busy:
            message = (f"this ask may cost more than is left of your daily budget of "
                       f"{budget:g} USD while other asks of yours are running; try again "
                       "when they end, or with fewer models or tokens")
        else:
            message = (f"your daily budget of {budget:g} USD is used up; "
                       "it starts over at midnight UTC")
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class AskHold:
    hold: Hold | None  # None: the user has no daily budget
    # What the synthesis may cost at most: it is not stored with a price, so it stays counted.
    synthesis_usd: float = 0.0


def most_an_ask_costs(services: Services, opts: AskOptions) -> tuple[float, float]:
    """USD at most: every member's answer at its max_tokens and output price plus its prompt,
    once per deliberation round (a later round's prompt also holds the others' answers); and,
    apart, the synthesis (its prompt holds every answer at its max_tokens)."""
    resolution = services.resolve(opts.models, opts.panel)
    requests = build_requests(services, resolution, opts.question, opts)
    answers_tokens = sum((r.max_tokens or services.config.catalog.model(m).context)
                         for m, r in requests.items())
    total = 0.0
    for model_id, request in requests.items():
        spec = services.config.catalog.model(model_id)
        prompt = prompt_tokens_at_most(request.messages)
        out = request.max_tokens or spec.context
        total += spec.cost(prompt, out)
        total += (opts.rounds - 1) * spec.cost(prompt + answers_tokens, out)
    synthesis = 0.0
    if opts.wants_synthesis:
        model = choose_synthesizer(services, list(requests), opts.synthesizer)
        spec = services.config.catalog.model(model)
        synthesis = spec.cost(prompt_tokens_at_most([]) + answers_tokens
                              + len(opts.question.encode()), SYNTHESIS_MAX_TOKENS)
    return total, synthesis


class UserSpend:
    def __init__(self, services: Services, limits: RateLimits, reserver: Reserver) -> None:
        self._services = services
        self._limits = limits
        self._reserver = reserver

    async def admit(self, user: UserInfo | None, opts: AskOptions) -> AskHold:
        """Count the ask against the user's limits, or raise a typed refusal. An ask refused
        by the budget is not counted against the asks per minute."""
        if user is None:
            return AskHold(None)
        held = await self._reserve(user, opts)
        if user.asks_per_minute is not None:
            wait = await self._limits.hit("user-asks", str(user.id), user.asks_per_minute)
            if wait is not None:
                await self.release(held)
                raise AsksPerMinuteExceeded(user.asks_per_minute, wait)
        return held

    async def _reserve(self, user: UserInfo, opts: AskOptions) -> AskHold:
        if user.daily_budget_usd is None:
            return AskHold(None)
        answers, synthesis = most_an_ask_costs(self._services, opts)
        most = answers + synthesis
        spent = await asyncio.to_thread(self._services.store.spend.spent_today, user.id)
        caps = Caps(budget_usd=user.daily_budget_usd, spent_usd=spent,
                    expire_seconds=_DAY_KEEP_SECONDS)
        try:
            hold = await self._reserver.reserve(_subject(user.id), caps, usd=most, tokens=0)
            return AskHold(hold, synthesis_usd=synthesis)
        except OverBudget as over:
            raise DailyBudgetExceeded(user.daily_budget_usd,
                                      1.0 if over.busy else _until_midnight(),
                                      busy=over.busy) from None
        except OverTokens:  # not limited here; kept for the Protocol's sake
            raise DailyBudgetExceeded(user.daily_budget_usd, 1.0, busy=True) from None

    async def release(self, held: AskHold) -> None:
        """The ask was never started: give everything back."""
        if held.hold is not None:
            await self._reserver.settle(held.hold, usd=0.0, tokens=0)

    async def settle(self, held: AskHold, ask_id: str) -> None:
        """The ask ended: its stored answers' cost replaces the reservation."""
        if held.hold is None:
            return
        try:
            cost = await asyncio.to_thread(self._services.store.spend.ask_cost, ask_id)
            cost += held.synthesis_usd
        except DruxError:
            cost = held.hold.usd  # the store is away: keep the reservation counted
        await self._reserver.settle(held.hold, usd=cost, tokens=0)
        # In one process the day's spend is read from the store at each ask: what was
        # settled is there now, so it leaves the process's own tally.
        self._reserver.flushed(held.hold.subject, cost)


def _subject(user_id: int) -> str:
    return f"user:{user_id}:{day_start().date().isoformat()}"


def _until_midnight() -> float:
    now = utcnow()
    return (day_start(now) + timedelta(days=1) - now).total_seconds()
