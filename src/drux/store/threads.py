"""Follow-up threads: the asks of a thread in turn order, and which thread to continue.

A thread has no table of its own: its asks carry the thread's id (its first ask's id) and
their turn. A single ask that was never followed up has no thread id; it is a thread of
one turn when read here, so any ask can be continued or shown as a thread.
"""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from drux.records import AskSource, ThreadRecord
from drux.store._session import READ_FAILED, WRITE_FAILED, reading, writing
from drux.store.asks import AskRepository, ask_record
from drux.store.models import Ask


class ThreadRepository:
    def __init__(self, sessions: sessionmaker[Session], asks: AskRepository) -> None:
        self._sessions = sessions
        self._asks = asks

    def get(self, thread_id: str) -> ThreadRecord | None:
        """The thread whose first ask is ``thread_id`` (a single ask: one turn), else None."""
        with reading(self._sessions, READ_FAILED) as session:
            rows = session.scalars(
                select(Ask).options(selectinload(Ask.answers))
                .where(or_(Ask.thread_id == thread_id, Ask.id == thread_id))
            ).all()
            turns = [ask_record(a) for a in rows]
        root = next((t for t in turns if t.id == thread_id), None)
        if root is None or (root.thread is not None and root.thread.id != thread_id):
            return None  # not a first ask: a later turn's id names no thread
        turns.sort(key=lambda t: t.turn)
        return ThreadRecord(id=thread_id, turns=turns)

    def of_ask(self, ask_id: str) -> ThreadRecord | None:
        """The thread an ask (exact id or unique prefix) belongs to, else None."""
        ask = self._asks.find(ask_id)
        if ask is None:
            return None
        return self.get(ask.thread.id if ask.thread else ask.id)

    def last_ask_id(self, source: AskSource) -> str | None:
        """The newest ask made from ``source`` (what ``drux ask -c`` continues)."""
        with reading(self._sessions, READ_FAILED) as session:
            return session.scalar(select(Ask.id).where(Ask.source == source)
                                  .order_by(Ask.created_at.desc()).limit(1))

    def set_shared(self, thread_id: str, shared: bool) -> None:
        """Share (or unshare) every turn at once: a thread is read as a whole."""
        with writing(self._sessions, WRITE_FAILED) as session:
            session.execute(update(Ask).where(or_(Ask.thread_id == thread_id, Ask.id == thread_id))
                            .values(shared=shared))
