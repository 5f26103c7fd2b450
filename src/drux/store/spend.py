"""What each web account asked and spent: asks and USD today and over 30 days.

Spend is the sum of the answers' ``cost_usd`` (priced when each answer is stored), counted on
the day the ask was made (UTC). Read by the per-user daily budget (to seed its counter) and by
the admin's usage views.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from drux.store._session import reading
from drux.store.models import Answer, Ask, AskRound, utcnow


@dataclass(frozen=True, slots=True)
class UserUsage:
    asks_today: int = 0
    spent_today_usd: float = 0.0
    asks_30d: int = 0
    spent_30d_usd: float = 0.0


def day_start(now: datetime | None = None) -> datetime:
    """Midnight UTC of ``now``'s day: daily budgets start over then."""
    now = now or utcnow()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


class SpendRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def _totals(self, session: Session, since: datetime,
                user_id: int | None = None) -> dict[int, tuple[int, float]]:
        cost = (select(Answer.ask_id, func.sum(Answer.cost_usd).label("usd"))
                .group_by(Answer.ask_id).subquery())
        stmt = (select(Ask.owner_id, func.count(Ask.id), func.sum(cost.c.usd))
                .outerjoin(cost, cost.c.ask_id == Ask.id)
                .where(Ask.owner_id.is_not(None), Ask.created_at >= since)
                .group_by(Ask.owner_id))
        if user_id is not None:
            stmt = stmt.where(Ask.owner_id == user_id)
        totals = {int(o): (int(n), float(usd or 0.0)) for o, n, usd in session.execute(stmt)}
        for owner, usd in self._earlier_rounds(session, since, user_id).items():
            n, spent = totals.get(owner, (0, 0.0))
            totals[owner] = (n, spent + usd)
        return totals

    def _earlier_rounds(self, session: Session, since: datetime,
                        user_id: int | None) -> dict[int, float]:
        """The cost of deliberation rounds before each ask's last (the answer rows hold only
        the last round's answers), by owner."""
        stmt = (select(Ask.owner_id, AskRound.ask_id, AskRound.round, AskRound.answers)
                .join(Ask, Ask.id == AskRound.ask_id)
                .where(Ask.owner_id.is_not(None), Ask.created_at >= since))
        if user_id is not None:
            stmt = stmt.where(Ask.owner_id == user_id)
        rows = session.execute(stmt).all()
        last: dict[str, int] = {}
        for _, ask_id, number, _ in rows:
            last[ask_id] = max(number, last.get(ask_id, 0))
        out: dict[int, float] = {}
        for owner, ask_id, number, answers in rows:
            if number < last[ask_id]:
                cost = sum(float(a.get("cost_usd") or 0.0) for a in answers or [])
                out[int(owner)] = out.get(int(owner), 0.0) + cost
        return out

    def spent_today(self, user_id: int) -> float:
        with reading(self._sessions, "cannot read the user's spend") as session:
            return self._totals(session, day_start(), user_id).get(user_id, (0, 0.0))[1]

    def ask_cost(self, ask_id: str) -> float:
        """What an ask's answers cost, as stored: every deliberation round's when it had
        rounds (the answer rows hold only the last one), else its answer rows'."""
        with reading(self._sessions, "cannot read the ask's cost") as session:
            rounds = session.scalars(select(AskRound.answers)
                                     .where(AskRound.ask_id == ask_id)).all()
            if rounds:
                return float(sum(float(a.get("cost_usd") or 0.0)
                                 for answers in rounds for a in answers or []))
            total = session.scalar(select(func.sum(Answer.cost_usd))
                                   .where(Answer.ask_id == ask_id))
            return float(total or 0.0)

    def per_user(self) -> dict[int, UserUsage]:
        """Usage by user id (users who asked nothing in 30 days are left out)."""
        today = day_start()
        with reading(self._sessions, "cannot read usage per user") as session:
            day = self._totals(session, today)
            month = self._totals(session, today - timedelta(days=29))
        return {uid: UserUsage(*day.get(uid, (0, 0.0)), n, usd)
                for uid, (n, usd) in month.items()}
