"""Security review regressions: secrets out of reprs."""

from __future__ import annotations

from drux.catalog import Catalog
from drux.config import AppConfig, Settings

KEY = "sk-live-0123456789abcdef"


def test_config_reprs_show_no_key_and_no_database_password() -> None:
    settings = Settings(database_url="postgresql://drux:hunter2-db-pass@db.local/drux")
    config = AppConfig(settings=settings, catalog=Catalog.builtin(), explicit_keys={"openai": KEY})
    for shown in (repr(config), str(config), repr(settings), str(settings)):
        assert KEY not in shown and "hunter2" not in shown
    assert settings.db_url.endswith("hunter2-db-pass@db.local/drux")  # still used as given
