"""Persistence: SQLAlchemy 2 + Alembic. SQLite (WAL) by default, PostgreSQL by URL.

``Store`` opens the database once, migrates it, and hands out repositories.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from drux.store.articles import ArticleRecord, ArticleRepository
from drux.store.asks import AskRepository, AskSummary
from drux.store.db import open_db
from drux.store.health import HealthRepository
from drux.store.keys import KeyRepository
from drux.store.spend import SpendRepository
from drux.store.threads import ThreadRepository
from drux.store.users import UserRepository


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.sessions: sessionmaker[Session] = open_db(url)
        self.asks = AskRepository(self.sessions)
        self.articles = ArticleRepository(self.sessions)
        self.keys = KeyRepository(self.sessions)
        self.health = HealthRepository(self.sessions)
        self.users = UserRepository(self.sessions)
        self.threads = ThreadRepository(self.sessions, self.asks)
        self.spend = SpendRepository(self.sessions)

    def close(self) -> None:
        self.sessions.kw["bind"].dispose()


__all__ = ["ArticleRecord", "ArticleRepository", "AskRepository", "AskSummary", "HealthRepository", "Store",
           "ThreadRepository", "UserRepository"]
