"""Put a database at an old schema revision, as an older drux left it, and read where it is."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from drux.store.db import MIGRATIONS


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade_to(conn: Connection, revision: str) -> None:
    """Migrate the database behind ``conn`` (in its transaction) up to ``revision``."""
    cfg = _config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def head_revision() -> str:
    """The newest revision drux ships: what opening a Store migrates to."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def revision_of(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT version_num FROM alembic_version"))


def downgrade_to(conn: Connection, revision: str) -> None:
    """Migrate the database behind ``conn`` (in its transaction) down to ``revision``."""
    cfg = _config()
    cfg.attributes["connection"] = conn
    command.downgrade(cfg, revision)
