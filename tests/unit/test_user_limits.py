"""Per-user limits on web asks (issue 13): asks per minute and a daily budget on the machinery
of the gateway's keys; refusals are typed 429s (JSON) or a message on the Ask page; admins see
each account's usage on /admin/users and in ``drux users list --usage``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from accounts_web_kit import session_token, sign_in
from fastapi.testclient import TestClient
from web_kit import Scripts, relaxed, sse_events

from drux.config import load_config
from drux.services import Services
from drux.state.jobs import LocalJobs
from drux.store.users import UserLimits
from drux.web.app import create_app
from drux.web.auth import CSRF_HEADER

from scripted import FAKE_PANEL_TOML, Gate
from waiting import wait_until

# A cent a token each way. Each answer: 5 prompt tokens + one per word; the three answers of
# the default panel cost 0.14 + 0.13 + 0.11 = 0.38 USD.
PRICED = FAKE_PANEL_TOML.replace('family = "fam-', 'input_price = 10000.0\n'
                                 'output_price = 10000.0\nfamily = "fam-')
ASK_COST = 0.38


def priced_services(data_dir: Path, scripts: Scripts) -> Services:
    (data_dir / "project.toml").write_text(PRICED)
    return Services(load_config(), provider_factory=scripts)


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def services(drux_env: Path) -> Services:
    services = priced_services(drux_env, Scripts())
    services.store.users.create("ada", "long enough", "admin")
    services.store.users.create("bob", "long enough")
    return services


def signed_in(services: Services, username: str, **limits: Any) -> TestClient:
    if limits:
        services.store.users.set_limits(username, UserLimits(**limits))
    client = TestClient(create_app(services, relaxed()))
    client.__enter__()
    assert sign_in(client, username).status_code == 303
    client.headers[CSRF_HEADER] = session_token(client)
    return client


@pytest.fixture
def clients() -> Iterator[list[TestClient]]:
    made: list[TestClient] = []
    yield made
    for c in made:
        c.__exit__(None, None, None)


def api_ask(client: TestClient, wait: bool = True) -> Any:
    r = client.post("/api/asks", json={"question": "Does water boil at 100 C?",
                                       "max_tokens": 20})
    if r.status_code == 202 and wait:
        assert event_types(client, r.json()["id"])[-1] == "done"
    return r


def event_types(client: TestClient, ask_id: str) -> list[str]:
    """The ask's events followed to the end (their ids are indexes in one process, Redis
    stream entry ids with DRUX_REDIS_URL)."""
    stream = client.get(f"/api/asks/{ask_id}/events").text
    return [json.loads(line[5:])["type"] for line in stream.splitlines()
            if line.startswith("data:")]


def test_asks_per_minute_per_user(services: Services, clients: list[TestClient]) -> None:
    bob = signed_in(services, "bob", asks_per_minute=1)
    clients.append(bob)
    assert api_ask(bob).status_code == 202
    refused = api_ask(bob)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "user_rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    ada = signed_in(services, "ada")  # limits are per user
    clients.append(ada)
    assert api_ask(ada).status_code == 202


def test_daily_budget_is_reserved_then_settled(services: Services,
                                               clients: list[TestClient]) -> None:
    bob = signed_in(services, "bob", daily_budget_usd=1.0)
    clients.append(bob)
    # Each ask may cost far more than 1 USD (3 models x max_tokens 20 + the prompt), so each
    # takes what is left, alone, and settles at 0.38: 0.38, 0.76, then 1.14 (the one ask
    # the rule lets past), then no more today.
    for _ in range(3):
        assert api_ask(bob).status_code == 202
    refused = api_ask(bob)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "daily_budget_exceeded" and "used up" in error["message"]
    assert int(refused.headers["retry-after"]) <= 86_400
    assert services.store.spend.spent_today(services.store.users.get("bob").id) == (  # type: ignore[union-attr]
        pytest.approx(3 * ASK_COST))


def test_an_ask_that_may_not_fit_waits_for_the_running_one(drux_env: Path, gate: Gate,
                                                           clients: list[TestClient]) -> None:
    services = priced_services(drux_env, Scripts(gate=gate))
    services.store.users.create("bob", "long enough")
    bob = signed_in(services, "bob", daily_budget_usd=5.0)
    clients.append(bob)
    first = api_ask(bob, wait=False)
    assert first.status_code == 202
    busy = api_ask(bob, wait=False)  # the first holds all 5 USD until it ends
    assert busy.status_code == 429 and busy.json()["error"]["type"] == "daily_budget_exceeded"
    assert "other asks of yours are running" in busy.json()["error"]["message"]
    assert busy.headers["retry-after"] == "1"
    gate.open()
    sse_events(bob.get(f"/api/asks/{first.json()['id']}/events").text)

    def settled() -> bool:
        return api_ask(bob).status_code == 202

    wait_until(settled, "the first ask's reservation was never settled")


def test_the_ask_page_says_why(services: Services, clients: list[TestClient]) -> None:
    bob = signed_in(services, "bob", asks_per_minute=1)
    clients.append(bob)
    form = {"question": "Does water boil?", "mode": "panel", "panel": "default",
            "csrf_token": bob.headers[CSRF_HEADER]}
    assert bob.post("/ask", data=form, follow_redirects=False).status_code == 303
    page = bob.post("/ask", data=form, follow_redirects=False)
    assert page.status_code == 429 and "Your account may start 1 asks a minute" in page.text
    assert "Does water boil?" in page.text  # the question stays in the form


def test_admins_see_usage_per_user(services: Services, clients: list[TestClient]) -> None:
    bob = signed_in(services, "bob")
    clients.append(bob)
    api_ask(bob)
    api_ask(bob)
    assert bob.get("/admin/users").status_code == 403
    ada = signed_in(services, "ada")
    clients.append(ada)
    page = ada.get("/admin/users")
    assert page.status_code == 200
    row = page.text[page.text.index("<td>bob</td>"):].split("</tr>")[0]
    assert row.count("<td>2</td>") == 2 and f"{2 * ASK_COST:.4f} USD" in row


def _drux(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from drux.cli import main; main()", *args],
                          input=stdin, capture_output=True, text=True, timeout=120)


def test_cli_sets_and_lists_limits(drux_env: Path) -> None:
    made = _drux("users", "create", "bob", "--password-stdin", "--asks-per-minute", "3",
                 stdin="long enough\n")
    assert made.returncode == 0, made.stderr
    done = _drux("users", "set-limits", "bob", "--asks-per-minute", "4", "--daily-budget", "2.5")
    assert done.stdout.strip() == "bob: 4 asks/min, 2.5 USD/day", done.stderr
    listed = _drux("users", "list", "--usage").stdout.splitlines()
    assert listed == ["bob\tmember\tactive\t4 asks/min, 2.5 USD/day\t"
                      "today 0 asks 0.0000 USD\t30 days 0 asks 0.0000 USD"]
    assert _drux("users", "list").stdout.splitlines() == ["bob\tmember\tactive"]
    for args, needle in [(("--daily-budget", "-1"), "--daily-budget"),
                         (("--daily-budget", "inf"), "--daily-budget"),
                         (("--asks-per-minute", "0"), "--asks-per-minute")]:
        bad = _drux("users", "set-limits", "bob", *args)
        lines = bad.stderr.strip().splitlines()
        assert bad.returncode == 2 and len(lines) == 1 and needle in lines[0], bad.stderr
    cleared = _drux("users", "set-limits", "bob")
    assert cleared.stdout.strip() == "bob: no ask limit, no daily budget"


@pytest.mark.redis
def test_two_web_workers_share_a_users_limits_on_redis(drux_env: Path, gate: Gate,
                                                       redis_url: str,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       clients: list[TestClient]) -> None:
    monkeypatch.setenv("DRUX_REDIS_URL", redis_url)
    # The limits are what is shared here; the asks run in each app's own process (with Redis
    # they would wait for a `drux worker`, which has tests of its own).
    monkeypatch.setattr("drux.web.runner.ask_jobs",
                        lambda services, events, url: LocalJobs(services, events))
    services = priced_services(drux_env, Scripts(gate=gate))
    services.store.users.create("bob", "long enough")
    services.store.users.set_limits("bob", UserLimits(asks_per_minute=2, daily_budget_usd=5.0))
    one, two = signed_in(services, "bob"), signed_in(services, "bob")  # two apps, one Redis
    clients += [one, two]
    first = api_ask(one, wait=False)
    assert first.status_code == 202
    busy = api_ask(two, wait=False)  # the other worker sees the 5 USD held by the first ask
    assert busy.status_code == 429 and "other asks of yours" in busy.json()["error"]["message"]
    gate.open()
    assert event_types(one, first.json()["id"])[-1] == "done"
    wait_until(lambda: api_ask(two).status_code == 202, "the reservation was never settled")
    limited = api_ask(one)  # the third ask this minute, across both workers
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "user_rate_limited"


def test_deliberation_rounds_and_synthesis_are_reserved_and_charged(services: Services) -> None:
    """Each round asks every model again (with the others' answers in its prompt) and the
    synthesis is one more call: a daily budget must count them, held and spent."""
    from drux.records import AnswerRecord, AskStatus, RoundRecord
    from drux.services.options import AskOptions
    from drux.services.spend import most_an_ask_costs

    one, none = most_an_ask_costs(services, AskOptions(question="Why?", max_tokens=20))
    two, _ = most_an_ask_costs(services, AskOptions(question="Why?", max_tokens=20, rounds=2))
    _, synthesis = most_an_ask_costs(services, AskOptions(question="Why?", max_tokens=20,
                                                         synthesize=True))
    assert none == 0.0 and synthesis > 0.0
    assert two > 2 * one  # round 2's prompts also hold the other answers

    bob = services.store.users.get("bob")
    assert bob is not None
    ask_id = services.store.asks.create(question="Why?", models=["m1"], families={},
                                        owner_id=bob.id)
    services.store.asks.update_answers(ask_id, {"m1": {"status": "done", "text": "B",
                                                       "cost_usd": 0.25}})
    answer = services.store.asks.get(ask_id).answers[0]  # type: ignore[union-attr]
    for number, usd in ((1, 0.5), (2, 0.25)):
        services.store.asks.save_round(ask_id, RoundRecord(
            round=number, status=AskStatus.COMPLETE,
            answers=[AnswerRecord.model_validate({**answer.model_dump(), "cost_usd": usd})]))
    assert services.store.spend.ask_cost(ask_id) == 0.75
    assert services.store.spend.spent_today(bob.id) == 0.75
