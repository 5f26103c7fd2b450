"""Suite-wide fixtures. The network guard (tests/netguard.py) fails any test that opens a
non-loopback connection or resolves a non-local host name."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from netguard import install_guard

install_guard()

# Commands run by the tests inherit this process's stdin, and `drux ask` reads a piped stdin
# as context: a runner's pipe that never closes would make every ask wait for its end.
# (A terminal is left alone: drux never reads one, and a debugger needs it.)
if not os.isatty(0):
    _null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(_null, 0)
    os.close(_null)


@pytest.fixture
def drux_env(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Isolated settings: a temporary data dir and no user/project drux.toml.

    The model cache stays the real one so end-to-end tests find assembled weights.
    """
    monkeypatch.setenv("DRUX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DRUX_USER_CONFIG", str(tmp_path / "user.toml"))
    monkeypatch.setenv("DRUX_PROJECT_CONFIG", str(tmp_path / "project.toml"))
    monkeypatch.setenv("DRUX_KEYS_FILE", str(tmp_path / "keys.json"))
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
                "MISTRAL_API_KEY", "DEEPSEEK_API_KEY", "XAI_API_KEY", "GROQ_API_KEY",
                "TOGETHER_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    yield tmp_path


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """A throwaway PostgreSQL cluster (tests/pgcluster.py) for the whole run.

    Skipped when PostgreSQL is not installed, except under CI, where ``make test`` installs it.
    """
    from pgcluster import find_bindir, start_cluster

    bindir = find_bindir()
    if bindir is None:
        reason = "PostgreSQL is not installed (make postgresql installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    cluster = start_cluster(bindir)
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Any) -> str:
    """The SQLAlchemy URL of a new, empty database in the throwaway cluster."""
    return str(pg_cluster.create_database(f"t_{uuid.uuid4().hex[:16]}"))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """A throwaway Redis server (tests/redisserver.py) for the whole run.

    Skipped when redis-server is not installed, except under CI, where ``make test`` installs it.
    """
    from redisserver import find_redis, start_redis

    binary = find_redis()
    if binary is None:
        reason = "redis-server is not installed (make redis installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    server = start_redis(binary)
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server: Any) -> str:
    """The URL of an empty Redis database no other test uses; the server is restarted first
    if an earlier test stopped it."""
    if redis_server.process is None:
        redis_server.start()
    return str(redis_server.fresh_url())
