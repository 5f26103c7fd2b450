"""A client that hangs up mid-call stops its upstream call, is booked as a 499 and gets its
reservation back: served by ``drux gateway`` (its protocol calls the gateway back when the
client leaves) and by plain uvicorn httptools (a task waits on ``receive()`` instead)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_kit import Served, running_gateway
from sqlalchemy import text

from drux.gateway.serving import ONE_WRITE_HTTP
from drux.state.reserve import prompt_tokens_at_most
from drux.types import Message

from fakes import FakeServer, Reply
from waiting import PATIENCE_S, wait_until

SLOW = 30.0  # the upstream's delay: far longer than a passing test waits
PROMPT = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(params=[ONE_WRITE_HTTP, "httptools"], ids=["drux-protocol", "httptools"])
def gateway(request: pytest.FixtureRequest, fake_llm: FakeServer,
            drux_env: Path) -> Iterator[Served]:
    with running_gateway(fake_llm, drux_env, http=request.param) as served:
        yield served


def raw_post(served: Served, secret: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    host = served.url.removeprefix("http://")
    return (f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}\r\n"
            f"authorization: Bearer {secret}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n\r\n").encode() + data


def hang_up_mid_call(served: Served, fake: FakeServer, upstream: str, request: bytes) -> None:
    """Send the request, wait until the upstream has it, then close the connection."""
    host, port = served.url.removeprefix("http://").split(":")
    before = len(fake.requests_for(upstream))
    with socket.create_connection((host, int(port)), timeout=PATIENCE_S) as sock:
        sock.sendall(request)
        wait_until(lambda: len(fake.requests_for(upstream)) > before,
                   "the upstream never got the call")


def statuses(served: Served) -> list[int]:
    with served.services.store.sessions() as session:
        return list(session.execute(text("SELECT status FROM usage_records ORDER BY id"))
                    .scalars().all())


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_client_that_hangs_up_stops_the_call_and_gets_its_reservation_back(
        gateway: Served, fake_llm: FakeServer, stream: bool) -> None:
    # A budget that holds one call's reservation and not two: had the hung-up call kept its
    # reservation, the next call would be refused.
    usd, _ = gateway.app.directory.ceiling("m-pricey").most(
        prompt_tokens_at_most([Message("user", "Say hello.")]), 5)
    secret = gateway.create_key("d", budget_usd=usd * 1.5)
    body = {"model": "m-pricey", "max_tokens": 5, "messages": PROMPT, "stream": stream}
    fake_llm.script("up-pricey", Reply(delay=SLOW), Reply(input_tokens=0, output_tokens=0))
    hang_up_mid_call(gateway, fake_llm, "up-pricey", raw_post(gateway, secret, body))
    # Booked as ended by the client long before the upstream would have answered.
    wait_until(lambda: statuses(gateway) == [499], lambda: f"rows {statuses(gateway)}")
    replies = httpx.post(f"{gateway.base_url}/chat/completions", timeout=PATIENCE_S,
                         headers={"Authorization": f"Bearer {secret}"},
                         json={**body, "stream": False})
    assert replies.status_code == 200, replies.text
