"""Engine set-up and migrations. SQLite gets WAL, foreign keys and a busy timeout;
PostgreSQL works through the same URL setting (``DRUX_DATABASE_URL``) with the psycopg 3
driver: ``postgresql://`` and ``postgres://`` URLs mean ``postgresql+psycopg://``, and every
PostgreSQL session runs in UTC so stored times read back as UTC."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, inspect, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from drux.errors import StoreError

MIGRATIONS = Path(__file__).parent / "migrations"


_BUSY_TIMEOUT_S = 5.0


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
    _switch_to_wal(cur)
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _switch_to_wal(cur: Any) -> None:
    """Two connections switching a new file to WAL at the same moment each hold a lock the
    other needs, and SQLite fails one at once ("database is locked") instead of waiting: two
    `drux ask` started together on a new database failed that way. The one that lost tries
    again and then finds WAL already on."""
    import sqlite3

    deadline = time.monotonic() + _BUSY_TIMEOUT_S
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def make_private(folder: Path) -> None:
    """Create ``folder`` readable by its owner only (0700), or tighten it if it exists:
    other local users must not list or read the asks and usage records in it."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return  # opening the database there next says what is wrong, in its usual words
    try:
        folder.chmod(0o700)
    except OSError as exc:
        raise StoreError(f"cannot make the data folder {folder} private: {exc.strerror}; "
                         "set DRUX_DATA_DIR to a folder you own") from None


def _prepare_sqlite_path(url: str) -> None:
    path_part = url.split(":///", 1)[1] if ":///" in url else ""
    if not path_part or path_part == ":memory:":
        return
    path = Path(path_part)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        # Every ask and usage record is in these files: readable by their owner only.
        # SQLite gives new -wal/-shm files the database's mode; older ones are tightened.
        for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if each.exists():
                each.chmod(0o600)
    except OSError as exc:
        raise StoreError(
            f"cannot write the database at {path}: {exc.strerror}; "
            "set DRUX_DATA_DIR or DRUX_DATABASE_URL to a writable place"
        ) from None


def _postgres_utc(dbapi_conn: Any, _record: Any) -> None:
    # SET is transactional in PostgreSQL: commit it, or the pool's reset rolls it back.
    cur = dbapi_conn.cursor()
    cur.execute("SET TIME ZONE 'UTC'")
    cur.close()
    dbapi_conn.commit()


def _with_driver(url: URL) -> URL:
    """A bare PostgreSQL URL gets psycopg 3, the driver drux depends on."""
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def make_engine(url: str) -> Engine:
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:
        _prepare_sqlite_path(url)
    try:
        parsed = _with_driver(make_url(url))
    except (ArgumentError, ValueError):  # their messages can repeat the password
        raise StoreError(f"not a database URL: {url.split('@')[-1]!r}") from None
    try:
        engine = create_engine(parsed, future=True, pool_pre_ping=not is_sqlite)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StoreError(f"cannot open database {url.split('@')[-1]!r}: {exc}") from None
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _postgres_utc)
    return engine


_MIGRATION_LOCK = 0x64727578  # "drux": the advisory lock key of schema migrations


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                # Take the write lock before looking at the schema (busy_timeout waits for it):
                # two processes opening a new database at once both saw no tables, and the
                # second failed with "table alembic_version already exists".
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif conn.dialect.name == "postgresql":
                # The same race on PostgreSQL: one migrator at a time, until this commits.
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            _refuse_foreign(conn)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        detail = " ".join(str(exc.args[0]).split())  # drivers' messages span lines
        raise StoreError(f"cannot migrate the database: {exc.__class__.__name__}: {detail}") from None
    except OSError as exc:
        raise StoreError(f"cannot migrate the database: {exc.strerror}") from None
    except CommandError as exc:  # a revision this drux does not know: a newer drux wrote it
        raise StoreError(f"cannot migrate the database: {exc} (was it made by a newer drux?)") from None


def _refuse_foreign(conn: Connection) -> None:
    """A database with tables but no drux revision belongs to something else: migrating it
    would fail half way and leave drux's tables mixed in with its own."""
    tables = set(inspect(conn).get_table_names())
    if tables and "alembic_version" not in tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(f"this database was not made by drux (it has tables {shown}); "
                         "point DRUX_DATABASE_URL at an empty or a drux database")


def open_db(url: str) -> sessionmaker[Session]:
    engine = make_engine(url)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)
