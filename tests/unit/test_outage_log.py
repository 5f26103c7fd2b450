"""Background retries log an outage once, and once more when it ends (issue 11): with the
database down for minutes, the gateway's usage writes and key reloads logged the same warning
every second."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from web_kit import Scripts, make_services

from drux.errors import StoreError
from drux.gateway import create_gateway_app
from drux.gateway.settings import load_gateway_settings
from drux.gateway.usage import UsageRecorder
from drux.store.keys import UsageRow

from waiting import PATIENCE_S


def _row() -> UsageRow:
    return UsageRow(key_id=None, model="alpha", deployment=None, status=200, input_tokens=1,
                    output_tokens=1, cost_usd=0.0, latency_ms=1.0,
                    created_at=datetime.now(UTC))


def _lines(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records)


async def test_usage_rows_wait_out_an_outage_with_one_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    written: list[UsageRow] = []
    failures = 3

    def write(rows: Sequence[UsageRow]) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise StoreError("cannot record usage: OperationalError")
        written.extend(rows)

    recorder = UsageRecorder(write)
    for _ in range(3):
        recorder.add(_row())
        assert await recorder.flush() == 0
    assert recorder.pending == 3
    assert await recorder.flush() == 3 and len(written) == 3  # nothing dropped
    assert _lines(caplog, "usage not recorded yet") == 1
    assert _lines(caplog, "usage is recorded again") == 1


async def test_key_reloads_log_an_outage_once(drux_env: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    services = make_services(drux_env, Scripts())
    settings = load_gateway_settings(services.settings).model_copy(
        update={"key_refresh_seconds": 0.01, "usage_flush_seconds": 0.01})
    gateway: Any = create_gateway_app(services, settings)
    calls = 0
    down = True

    def load() -> tuple[bool, list[Any]]:
        nonlocal calls
        calls += 1
        if down:
            raise StoreError("cannot read keys: OperationalError")
        return False, []

    gateway.access._load = load
    task = asyncio.create_task(gateway._maintain())
    try:
        deadline = time.monotonic() + PATIENCE_S
        while True:
            if calls >= 5:
                break
            assert time.monotonic() < deadline, "the keys were never reloaded"
            await asyncio.sleep(0.01)
        down = False
        seen = calls
        while True:
            if calls >= seen + 2:
                break
            assert time.monotonic() < deadline, "the keys were never reloaded again"
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert _lines(caplog, "keys not reloaded") == 1
    assert _lines(caplog, "keys are reloaded again") == 1
