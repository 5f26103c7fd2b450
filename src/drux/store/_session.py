"""One way to open a session: driver errors become ``StoreError`` at the store's boundary.

The message names what failed and the driver error's class only: a driver's own message
can repeat the database URL, and with it a password.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from drux.errors import StoreError

READ_FAILED = "cannot read the database"
WRITE_FAILED = "cannot write to the database"


@contextmanager
def reading(sessions: sessionmaker[Session], failure: str) -> Iterator[Session]:
    """A session for reads. A value a column type cannot read back (a damaged or hand-edited
    row: bad JSON, a date that is not one) is a ``ValueError``/``TypeError`` from the driver's
    converters, reported like any other read failure."""
    try:
        with sessions() as session:
            yield session
    except (SQLAlchemyError, ValueError, TypeError) as exc:
        raise StoreError(f"{failure}: {exc.__class__.__name__}") from None


@contextmanager
def writing(sessions: sessionmaker[Session], failure: str) -> Iterator[Session]:
    """A transaction, committed when the block ends and rolled back when it raises."""
    try:
        with sessions.begin() as session:
            yield session
    except SQLAlchemyError as exc:
        raise StoreError(f"{failure}: {exc.__class__.__name__}") from None
