"""The data folder and the SQLite files hold every ask and usage record: owner only."""

from __future__ import annotations

import stat
from pathlib import Path

from drux.services import Services
from drux.store import Store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_folder_and_database_are_private(drux_env: Path) -> None:
    services = Services.from_settings()
    services.store.asks.create(question="q", models=["m"], families={"m": "f"})
    data = drux_env / "data"
    assert mode(data) == 0o700
    assert sorted(p.name for p in data.iterdir()) == ["drux.db", "drux.db-shm", "drux.db-wal"]
    assert {p.name: mode(p) for p in data.iterdir()} == {
        "drux.db": 0o600, "drux.db-wal": 0o600, "drux.db-shm": 0o600}
    services.store.close()


def test_an_existing_folder_and_database_are_tightened(drux_env: Path) -> None:
    data = drux_env / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    for name in ("drux.db", "drux.db-wal", "drux.db-shm"):
        (data / name).touch()
        (data / name).chmod(0o644)
    from drux.store.db import _prepare_sqlite_path

    _prepare_sqlite_path(f"sqlite:///{data / 'drux.db'}")  # before SQLite replaces -wal/-shm
    assert {name: mode(data / name) for name in ("drux.db", "drux.db-wal", "drux.db-shm")} == {
        "drux.db": 0o600, "drux.db-wal": 0o600, "drux.db-shm": 0o600}
    for name in ("drux.db-wal", "drux.db-shm"):
        (data / name).chmod(0o644)
    services = Services.from_settings()
    services.store.asks.create(question="q", models=["m"], families={"m": "f"})
    assert mode(data) == 0o700
    assert {p.name: mode(p) for p in data.iterdir()} == {
        "drux.db": 0o600, "drux.db-wal": 0o600, "drux.db-shm": 0o600}
    services.store.close()


def test_a_database_elsewhere_is_private_and_its_folder_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    Store(f"sqlite:///{shared / 'asks.db'}").close()
    assert mode(shared / "asks.db") == 0o600 and mode(shared) == 0o755
    Store(f"sqlite:///{tmp_path / 'new' / 'asks.db'}").close()
    assert mode(tmp_path / "new") == 0o700
