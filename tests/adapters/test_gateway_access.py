"""AccessControl on its own: who gets in, sliding windows, budget, reload limits.
A fake clock and an in-memory key table; no server."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from types import SimpleNamespace

import limits.aio.storage.memory
import pytest

import drux.state.limits
from drux.gateway.access import AccessControl
from drux.gateway.errors import GatewayError
from drux.store.keys import ActiveKey, KeyInfo, hash_key

SECRET = "drux-secret-for-tests"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key(**kw: object) -> KeyInfo:
    base = KeyInfo(1, "k", SECRET[:12], None, None, (), None, None, None, 0.0)
    return replace(base, **kw)  # type: ignore[arg-type]


def control(keys: list[KeyInfo] | None = None, *, any_key: bool | None = None,
            open_loopback: bool = False) -> tuple[AccessControl, Clock, list[int]]:
    clock = Clock()
    loads: list[int] = []
    table = [ActiveKey(hash_key(SECRET if i == 0 else f"{SECRET}-{i}"), k)
             for i, k in enumerate(keys or [])]

    def load() -> tuple[bool, list[ActiveKey]]:
        loads.append(1)
        return (bool(table) if any_key is None else any_key), table

    return AccessControl(load, open_loopback=open_loopback, refresh_seconds=2.0,
                         clock=clock), clock, loads


BEARER = f"Bearer {SECRET}".encode()


async def status_of(ac: AccessControl, auth: bytes | None, host: str) -> int:
    try:
        caller = await ac.authenticate(auth, host)
    except GatewayError as err:
        return err.status
    return 200 if caller.key is not None else 0  # 0: let in without a key


async def test_who_gets_in() -> None:
    ac, _, _ = control([])
    await ac.refresh()
    assert await status_of(ac, None, "127.0.0.1") == 0
    assert await status_of(ac, None, "10.1.2.3") == 401  # no keys yet: loopback only
    ac, _, _ = control([key()])
    await ac.refresh()
    assert await status_of(ac, BEARER, "10.1.2.3") == 200
    assert await status_of(ac, None, "127.0.0.1") == 401
    assert await status_of(ac, b"Bearer wrong", "127.0.0.1") == 401
    assert await status_of(ac, b"Token " + SECRET.encode(), "127.0.0.1") == 401
    ac, _, _ = control([key()], open_loopback=True)
    await ac.refresh()
    assert await status_of(ac, None, "::1") == 0
    assert await status_of(ac, None, "10.1.2.3") == 401
    ac, _, _ = control([], any_key=True)  # every key revoked: still closed
    await ac.refresh()
    assert await status_of(ac, None, "127.0.0.1") == 401


async def test_unknown_keys_reload_the_table_a_bounded_number_of_times() -> None:
    ac, clock, loads = control([key()])
    await ac.refresh()
    for _ in range(5):
        await status_of(ac, b"Bearer same-wrong-key", "10.0.0.1")
    assert len(loads) == 2  # once for that key within a second
    for i in range(30):
        await status_of(ac, f"Bearer wrong-{i}".encode(), "10.0.0.1")
    assert len(loads) == 2 + 9  # ten reloads per second overall
    clock.now += 1.5
    await status_of(ac, b"Bearer same-wrong-key", "10.0.0.1")
    assert len(loads) == 12


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The wall clock the ``limits`` memory windows read, made a fake one."""
    clock = Clock()
    fake_time = SimpleNamespace(time=clock)
    monkeypatch.setattr(limits.aio.storage.memory, "time", fake_time)
    monkeypatch.setattr(drux.state.limits, "time", fake_time)
    return clock


async def test_requests_per_minute_window_slides(wall: Clock) -> None:
    ac, _, _ = control([key(rpm=2)])
    await ac.refresh()
    caller = await ac.authenticate(BEARER, "127.0.0.1")
    await ac.admit(caller, "m")
    wall.now += 30
    await ac.admit(caller, "m")
    with pytest.raises(GatewayError) as info:
        await ac.admit(caller, "m")
    assert info.value.status == 429 and (b"retry-after", b"30") in info.value.headers
    wall.now += 30.5
    await ac.admit(caller, "m")  # the first request left the window


async def test_tokens_per_minute_and_budget() -> None:
    ac, clock, _ = control([key(tpm=100, budget_usd=1.0)])
    await ac.refresh()
    caller = await ac.authenticate(BEARER, "127.0.0.1")
    hold = await ac.admit(caller, "m")
    await ac.settle(hold, 100, 0.4)
    with pytest.raises(GatewayError) as info:
        await ac.admit(caller, "m")
    assert info.value.type == "tokens"
    clock.now += 61
    hold = await ac.admit(caller, "m")
    await ac.settle(hold, 10, 0.7)  # 1.1 USD spent, not yet in the store
    with pytest.raises(GatewayError) as info:
        await ac.admit(caller, "m")
    assert info.value.code == "insufficient_quota"
    ac.flushed({1: 1.1})  # now in the store: the cached key carries it, still over budget
    caller = await ac.authenticate(BEARER, "127.0.0.1")
    assert caller.key is not None and caller.key.spent_usd == pytest.approx(1.1)
    with pytest.raises(GatewayError):
        await ac.admit(caller, "m")


async def test_allowed_models() -> None:
    ac, _, _ = control([key(allowed_models=("a",))])
    await ac.refresh()
    caller = await ac.authenticate(BEARER, "127.0.0.1")
    await ac.admit(caller, "a")
    with pytest.raises(GatewayError) as info:
        await ac.admit(caller, "b")
    assert info.value.status == 403


async def test_calls_during_a_reload_wait_for_it() -> None:
    # A key made after the gateway started (no key then): its first calls came at once, one
    # reloaded the table and the others passed as keyless loopback calls, past every limit.
    ac, _, loads = control([])
    await ac.refresh()
    ac._load = lambda: (True, [ActiveKey(hash_key(SECRET), key(rpm=1))])  # created meanwhile
    callers = await asyncio.gather(*(ac.authenticate(BEARER, "127.0.0.1") for _ in range(5)))
    assert all(c.key is not None for c in callers)
    assert len(loads) == 1  # and the reload was shared, not repeated
