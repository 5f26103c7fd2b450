"""The gateway through the real ``openai`` SDK: chat, streaming, usage, failover, errors.

Upstream: the wire-level fake OpenAI server; the gateway routes with the real
routing stack (fallback, retry, breaker) and the lean OpenAI-wire client.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from gateway_kit import Served, running_gateway
from sqlalchemy import text

from fakes import Fail, FakeServer, Reply
from waiting import wait_until

MESSAGES = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def gateway(fake_llm: FakeServer, drux_env: Path) -> Iterator[Served]:
    with running_gateway(fake_llm, drux_env) as served:
        yield served


@pytest.fixture
def client(gateway: Served) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0,
                       timeout=20) as c:
        yield c


def test_chat_answers_with_the_upstream_text_usage_and_deployment(
        client: openai.OpenAI, fake_llm: FakeServer) -> None:
    fake_llm.script("up-solo", Reply(text="four words of text", input_tokens=7, output_tokens=4))
    raw = client.chat.completions.with_raw_response.create(model="m-solo", messages=MESSAGES)
    resp = raw.parse()
    assert resp.choices[0].message.content == "four words of text"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == "m-solo"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (7, 4, 11)
    assert raw.headers["x-drux-deployment"] == "fakeai:m-solo"
    assert "x-drux-substituted-for" not in raw.headers
    sent = fake_llm.requests_for(model="up-solo")[-1]
    assert sent.json["messages"] == MESSAGES
    assert "unused" not in sent.headers.get("authorization", "")  # the client's key stays here


def test_request_parameters_reach_the_upstream(client: openai.OpenAI, fake_llm: FakeServer) -> None:
    client.chat.completions.create(model="m-solo", messages=MESSAGES, temperature=0.3,
                                   max_tokens=12, top_p=0.5, stop=["\n"], seed=7,
                                   presence_penalty=0.5)
    body = fake_llm.requests_for(model="up-solo")[-1].json
    assert body["temperature"] == 0.3 and body["max_tokens"] == 12 and body["top_p"] == 0.5
    assert body["stop"] == ["\n"] and body["seed"] == 7 and body["presence_penalty"] == 0.5


def test_stream_relays_chunks_and_usage_when_asked(client: openai.OpenAI, fake_llm: FakeServer) -> None:
    fake_llm.script("up-solo", Reply(chunks=["Hel", "lo ", "there"], input_tokens=5))
    stream = client.chat.completions.create(model="m-solo", messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    events = list(stream)
    text = "".join(e.choices[0].delta.content or "" for e in events if e.choices)
    assert text == "Hello there"
    finishes = [e.choices[0].finish_reason for e in events if e.choices and e.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert events[-1].choices == [] and events[-1].usage is not None
    assert (events[-1].usage.prompt_tokens, events[-1].usage.completion_tokens) == (5, 3)
    assert all(e.object == "chat.completion.chunk" and e.id == events[0].id for e in events)


def test_stream_without_include_usage_sends_no_usage_chunk(client: openai.OpenAI) -> None:
    events = list(client.chat.completions.create(model="m-solo", messages=MESSAGES, stream=True))
    assert all(e.usage is None for e in events)
    assert all(e.choices for e in events)


def test_stream_head_names_the_deployment(client: openai.OpenAI, fake_llm: FakeServer) -> None:
    fake_llm.script("up-primary", Fail("not_found"))
    with client.chat.completions.with_streaming_response.create(
            model="m-primary", messages=MESSAGES, stream=True) as resp:
        assert resp.headers["x-drux-deployment"] == "fakeai:m-backup"
        assert resp.headers["x-drux-substituted-for"] == "m-primary"
        text = "".join(e.choices[0].delta.content or "" for e in resp.parse() if e.choices)
    assert text == "fake answer from up-backup"


def test_withdrawn_model_404_fails_over_to_the_fallback(client: openai.OpenAI,
                                                        fake_llm: FakeServer) -> None:
    fake_llm.script("up-primary", Fail("not_found"))
    raw = client.chat.completions.with_raw_response.create(model="m-primary", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "fake answer from up-backup"
    assert raw.headers["x-drux-deployment"] == "fakeai:m-backup"
    assert raw.headers["x-drux-substituted-for"] == "m-primary"


def test_group_answers_from_its_next_member(client: openai.OpenAI, fake_llm: FakeServer) -> None:
    fake_llm.script("up-solo", Fail("permission"))
    raw = client.chat.completions.with_raw_response.create(model="g-fast", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "fake answer from up-backup"
    assert raw.headers["x-drux-deployment"] == "fakeai:m-backup"
    assert raw.headers["x-drux-substituted-for"] == "g-fast"


def test_every_deployment_failing_lists_each_attempt(client: openai.OpenAI,
                                                     fake_llm: FakeServer) -> None:
    fake_llm.script("up-primary", Fail("not_found"))
    fake_llm.script("up-backup", Fail("auth"))
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="m-primary", messages=MESSAGES)
    err = info.value
    assert err.status_code == 502
    body = err.body
    assert isinstance(body, dict) and body["code"] == "all_deployments_failed"
    attempts = body["attempts"]
    assert [a["type"] for a in attempts] == ["model_not_found", "authentication_failed"]
    assert [a["status"] for a in attempts] == [404, 401]
    assert "up-primary" in attempts[0]["message"]


def test_upstream_rate_limit_is_a_429_with_retry_after(client: openai.OpenAI,
                                                       fake_llm: FakeServer) -> None:
    fake_llm.script("up-solo", Fail("rate_limit", retry_after=30))
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m-solo", messages=MESSAGES)
    assert info.value.response.headers["retry-after"] == "30"


def test_upstream_bad_request_is_the_clients_400(client: openai.OpenAI, fake_llm: FakeServer) -> None:
    fake_llm.script("up-primary", Fail("context_window"))
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="m-primary", messages=MESSAGES)
    assert info.value.code == "context_length_exceeded"
    assert not fake_llm.requests_for(model="up-backup")  # no larger window to fall back to


def test_unknown_model_is_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="m-hidden", messages=MESSAGES)
    assert info.value.code == "model_not_found"


def test_error_after_output_ends_the_stream_with_an_error_event(
        client: openai.OpenAI, fake_llm: FakeServer) -> None:
    fake_llm.script("up-solo", Reply(chunks=["a ", "b ", "c"], fail_after=2, fail=Fail("server")))
    stream = client.chat.completions.create(model="m-solo", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError) as info:
        for event in stream:
            received.append(event.choices[0].delta.content or "")
    assert "".join(received) == "a b "
    assert "m-solo" in str(info.value.message) or "fakeai" in str(info.value.message)


def test_models_lists_public_models_and_groups(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == ["m-primary", "m-backup", "m-solo", "m-pricey", "g-fast"]


def test_client_leaving_mid_stream_stops_the_upstream_and_is_recorded(
        gateway: Served, fake_llm: FakeServer) -> None:
    fake_llm.script("up-solo", Reply(chunks=["tick "] * 200, chunk_delay=0.02))
    body = {"model": "m-solo", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions", json=body,
                      timeout=20) as r:
        lines = r.iter_lines()
        assert next(line for line in lines if '"tick ' in line)
    usage = gateway.services.store.keys.usage
    rows = wait_until(usage, "the request left no usage row")
    assert rows[0]["requests"] == 1
    with gateway.services.store.sessions() as session:
        statuses = session.execute(text("SELECT status FROM usage_records")).scalars().all()
    assert statuses == [499]  # ended by the client, well before 200 pieces at 20 ms each


def test_a_slow_primary_is_hedged_by_the_fallback(client: openai.OpenAI,
                                                  fake_llm: FakeServer) -> None:
    fake_llm.script("up-primary", Reply(delay=8))  # far past the 2 s default hedge delay
    started = time.monotonic()
    raw = client.chat.completions.with_raw_response.create(model="m-primary", messages=MESSAGES)
    assert time.monotonic() - started < 6
    assert raw.parse().choices[0].message.content == "fake answer from up-backup"
    assert raw.headers["x-drux-substituted-for"] == "m-primary"


def test_a_stream_whose_route_fails_entirely_gets_a_json_error_status(
        client: openai.OpenAI, fake_llm: FakeServer) -> None:
    fake_llm.script("up-primary", Fail("not_found"))
    fake_llm.script("up-backup", Fail("permission"))
    with pytest.raises(openai.APIStatusError) as info:
        list(client.chat.completions.create(model="m-primary", messages=MESSAGES, stream=True))
    assert info.value.status_code == 502
    assert [a["status"] for a in info.value.body["attempts"]] == [404, 403]  # type: ignore[index]
