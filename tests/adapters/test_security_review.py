"""Security review regressions at the wire: an upstream that echoes the API key back, in
whatever encoding, never gets it into a drux error, its body, or a gateway answer."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from adapter_kit import app_config, ask, drain
from gateway_kit import running_gateway

from drux.catalog import ModelSpec, VendorSpec
from drux.errors import ProviderError
from drux.gateway.upstream import LeanOpenAIChat
from drux.providers import build_provider
from drux.types import Provider

from fakes import Fail, FakeServer, Raw, Reply
from waiting import wait_until

# A base64-style key: "/", "+" and "=" change under URL-encoding and JSON escaping.
KEY = "sk-live-" + "Ab3dEf7h" * 5 + "/+=x"

ECHOES = {
    "plain": f"bad key {KEY}",
    "url-encoded": "bad key " + quote(KEY, safe=""),
    "url-encoded-lower": "bad key " + re.sub("%..", lambda m: m.group().lower(), quote(KEY, safe="")),
    "json-escaped": json.dumps({"key": KEY}).replace("/", "\\/"),
    "cut-by-truncation": "x" * 270 + " " + KEY,
}


def leaked(text: str) -> list[str]:
    """Runs of 10 characters of the key, in any of its forms, found in ``text``."""
    forms = {KEY, quote(KEY, safe=""), KEY.replace("/", "\\/")}
    return [f[i:i + 10] for f in forms for i in range(len(f) - 9) if f[i:i + 10] in text]


def provider(fake: FakeServer, kind: str) -> Provider:
    protocol = "openai" if kind == "lean" else kind
    vendor = VendorSpec(f"fake-{protocol}", protocol, "fake", fake.base_url(protocol))  # type: ignore[arg-type]
    spec = ModelSpec(id="m", vendor=vendor.name, upstream="fake-model", family="fake")
    if kind == "lean":
        return LeanOpenAIChat(spec, vendor, KEY, 5.0)
    return build_provider(spec, app_config(vendor, spec, key=KEY))


async def error_from(model: Provider, *, stream: bool = False) -> ProviderError:
    """The ProviderError one call raises (the model is closed either way)."""
    try:
        with pytest.raises(ProviderError) as caught:
            await (drain(model.stream(ask())) if stream else model.complete(ask()))
    finally:
        await model.aclose()
    return caught.value


def everything_shown(err: ProviderError) -> str:
    return " ".join((str(err), repr(err), json.dumps(err.to_dict()), repr(err.body)))


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini", "lean"])
@pytest.mark.parametrize("echo", list(ECHOES))
async def test_an_error_body_echoing_the_key_is_masked(fake_llm: FakeServer, drux_env: Path,
                                                        kind: str, echo: str) -> None:
    model = provider(fake_llm, kind)
    fake_llm.enqueue(Fail("bad_request", message=ECHOES[echo]))
    caught = await error_from(model)
    assert not leaked(everything_shown(caught)), str(caught)
    assert "***" in str(caught)


@pytest.mark.parametrize("kind", ["openai", "anthropic", "lean"])
async def test_an_error_sent_with_a_200_echoing_the_key_is_masked(fake_llm: FakeServer,
                                                                   drux_env: Path, kind: str) -> None:
    # These errors are raised by the adapter itself, past the SDK-exception mapper.
    error = {"type": "invalid_request_error", "message": f"bad key {KEY}"}
    body = {"error": error} if kind != "anthropic" else {"type": "error", "error": error}
    model = provider(fake_llm, kind)
    fake_llm.enqueue(Raw(200, json.dumps(body)))
    caught = await error_from(model)
    assert not leaked(everything_shown(caught)), str(caught)


async def test_an_in_stream_error_echoing_the_key_is_masked_by_the_lean_client(
        fake_llm: FakeServer, drux_env: Path) -> None:
    model = provider(fake_llm, "lean")
    fake_llm.enqueue(Reply(fail_after=1, fail=Fail("server", message=f"bad key {KEY}")))
    caught = await error_from(model, stream=True)
    assert not leaked(everything_shown(caught)), str(caught)


@pytest.mark.parametrize("echo", ["json-escaped", "cut-by-truncation"])
def test_the_gateway_never_answers_with_the_upstream_key(fake_llm: FakeServer, drux_env: Path,
                                                          echo: str) -> None:
    fake_llm.script("up-solo", Fail("server", message=ECHOES[echo]))
    with running_gateway(fake_llm, drux_env, upstream_key=KEY) as gw:
        r = httpx.post(f"{gw.base_url}/chat/completions", timeout=20,
                       json={"model": "m-solo", "messages": [{"role": "user", "content": "hi"}]})
        status = json.dumps(gw.services.health.snapshot())
    assert r.status_code == 502
    assert not leaked(r.text), r.text
    assert not leaked(status), status


# A web page the gateway's user visits can send a "simple" cross-site POST (a form with
# enctype text/plain needs no CORS preflight), and after DNS rebinding even same-origin
# requests; keyless loopback access must not let pages spend the operator's upstream keys.
PAGE_HEADERS = {
    "cross-site form": {"origin": "https://evil.example", "sec-fetch-site": "cross-site",
                        "content-type": "text/plain"},
    "rebound page": {"origin": "http://evil.example:8000", "sec-fetch-site": "same-origin"},
    "old browser": {"origin": "null"},
    "fetch without origin": {"sec-fetch-site": "same-origin"},
}
CHAT = json.dumps({"model": "m-solo", "messages": [{"role": "user", "content": "hi"}]})


@pytest.mark.parametrize("page", list(PAGE_HEADERS))
def test_keyless_loopback_access_is_not_open_to_web_pages(fake_llm: FakeServer, drux_env: Path,
                                                          page: str) -> None:
    with running_gateway(fake_llm, drux_env) as gw:
        r = httpx.post(f"{gw.base_url}/chat/completions", content=CHAT, timeout=20,
                       headers=PAGE_HEADERS[page])
        models = httpx.get(f"{gw.base_url}/models", headers=PAGE_HEADERS[page], timeout=20)
        plain = httpx.post(f"{gw.base_url}/chat/completions", content=CHAT, timeout=20)
        typed = httpx.get(f"{gw.base_url}/models", headers={"sec-fetch-site": "none"}, timeout=20)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert models.status_code == 401
    assert not fake_llm.requests_for(model="up-solo")[:-1]  # only the plain client's call
    assert plain.status_code == 200  # local programs (SDKs, curl) still need no key
    assert typed.status_code == 200  # a URL typed into the address bar is no page's request


def test_a_web_page_with_a_key_is_served(fake_llm: FakeServer, drux_env: Path) -> None:
    with running_gateway(fake_llm, drux_env) as gw:
        secret = gw.create_key()
        r = httpx.post(f"{gw.base_url}/chat/completions", content=CHAT, timeout=20,
                       headers={**PAGE_HEADERS["rebound page"],
                                "authorization": f"Bearer {secret}"})
    assert r.status_code == 200


def _drux(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from drux.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **env, "COLUMNS": "200"})


def test_no_cli_output_or_stored_record_shows_an_echoed_key(fake_llm: FakeServer,
                                                            drux_env: Path) -> None:
    # The key comes from the environment; the vendor echoes it URL-encoded in every error.
    (drux_env / "project.toml").write_text(
        f'[providers.echo]\nbase_url = "{fake_llm.openai_url}"\napi_key_env = "ECHO_KEY"\n'
        '[models.m]\nprovider = "echo"\nmodel = "up-m"\n[panels]\ndefault = ["m"]\n')
    fake_llm.script("up-m", Fail("bad_request", message=ECHOES["url-encoded"]))
    env = {"ECHO_KEY": KEY}
    asked = _drux("ask", "hi", "--json", env=env)
    ask_id = json.loads(asked.stdout)["id"]
    shown = [asked, _drux("show", ask_id, "--json", env=env), _drux("status", "--json", env=env),
             _drux("status", env=env), _drux("models", "--json", env=env),
             _drux("provider-keys", "list", env=env)]
    assert "***" in asked.stdout
    for proc in shown:
        assert not leaked(proc.stdout + proc.stderr), proc.args
    database = (drux_env / "data" / "drux.db").read_bytes()
    assert not leaked(database.decode("latin-1"))
    assert fake_llm.requests_for(model="up-m")[0].headers["authorization"] == f"Bearer {KEY}"


def test_a_key_limited_to_one_model_reaches_no_other(fake_llm: FakeServer, drux_env: Path) -> None:
    lookalikes = ["M-SOLO", " m-solo", "m-solo ", "m-solo\u200b", "m\u2010solo", "ｍ-solo",
                  "g-fast", "m-backup", "m-primary"]  # a group holding m-solo; its fallback
    with running_gateway(fake_llm, drux_env) as gw:
        secret = gw.create_key(models=["m-solo"])
        auth = {"authorization": f"Bearer {secret}"}
        codes = {name: httpx.post(f"{gw.base_url}/chat/completions", headers=auth, timeout=20,
                                  json={"model": name, "messages": [{"role": "user", "content": "hi"}]}
                                  ).status_code
                 for name in [*lookalikes, "m-solo"]}
    assert codes.pop("m-solo") == 200
    assert all(code in (403, 404) for code in codes.values()), codes
    assert {r.model for r in fake_llm.requests} == {"up-solo"}


def test_the_standalone_gateway_answers_only_to_loopback_names(drux_env: Path) -> None:
    (drux_env / "project.toml").write_text('[gateway]\nmodels = ["gpt-4.1"]\n')
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", "from drux.cli import main; main()", "gateway",
                             "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "DRUX_HOST": "127.0.0.1"})
    url = f"http://127.0.0.1:{port}/v1/models"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                own = httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "gateway did not start"
                time.sleep(0.1)
        rebound = httpx.get(url, headers={"host": f"evil.example:{port}"}, timeout=5)
        named = httpx.get(url.replace("127.0.0.1", "localhost"), timeout=5)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert own.status_code == 200 and named.status_code == 200
    assert rebound.status_code == 400
    assert rebound.json()["error"]["code"] == "host_not_allowed"


def answer_of(r: httpx.Response) -> str:
    """The answer's text, from a JSON completion or the deltas of an SSE stream."""
    if not r.headers["content-type"].startswith("text/event-stream"):
        return str(r.json()["choices"][0]["message"]["content"])
    chunks = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


CHEAP_AND_PRICEY = [("cheap-broken", "up-cheap", 'fallbacks = ["pricey-slow"]'),
                    ("pricey-slow", "up-pricey",
                     "input_price = 1000000.0\noutput_price = 1000000.0")]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_a_fallback_outside_a_keys_models_neither_answers_nor_bills(
        fake_llm: FakeServer, drux_env: Path, stream: bool) -> None:
    fake_llm.script("up-cheap", Fail("server_error"))
    fake_llm.script("up-pricey", Reply("expensive answer"))
    body = {"model": "cheap-broken", "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]}
    with running_gateway(fake_llm, drux_env, catalog=CHEAP_AND_PRICEY,
                         models=["cheap-broken", "pricey-slow"], groups={}) as gw:
        limited = {"authorization": f"Bearer {gw.create_key('cheap', models=['cheap-broken'])}"}
        both = {"authorization": f"Bearer {gw.create_key('both')}"}
        refused = httpx.post(f"{gw.base_url}/chat/completions", headers=limited, json=body,
                             timeout=20)
        assert not fake_llm.requests_for(model="up-pricey")
        served_both = httpx.post(f"{gw.base_url}/chat/completions", headers=both, json=body,
                                 timeout=20)
        again = httpx.post(f"{gw.base_url}/chat/completions", headers=limited, json=body,
                           timeout=20)  # the limited route is cached apart from the full one
        usage = wait_until(lambda: gw.services.store.keys.usage(), "usage was recorded")
    assert refused.status_code == 502
    assert refused.json()["error"]["code"] == "all_deployments_failed"
    assert again.status_code == 503  # the primary's breaker is open now; still no fallback
    for error in (refused.json()["error"], again.json()["error"]):
        assert "may not use" in error["message"] and "pricey-slow" in error["message"]
    assert answer_of(served_both) == "expensive answer"  # the fallback serves a key allowed it
    assert len(fake_llm.requests_for(model="up-pricey")) == 1
    billed = {(row["key_id"], row["model"]): row["cost_usd"] for row in usage}
    assert all(cost == 0 for (key_id, _), cost in billed.items() if key_id == 1), billed


def test_a_key_allowed_a_group_is_served_by_its_members(fake_llm: FakeServer,
                                                        drux_env: Path) -> None:
    fake_llm.script("up-solo", Fail("server_error"))
    fake_llm.script("up-backup", Reply("from the second member"))
    with running_gateway(fake_llm, drux_env) as gw:
        auth = {"authorization": f"Bearer {gw.create_key(models=['g-fast'])}"}
        r = httpx.post(f"{gw.base_url}/chat/completions", headers=auth, timeout=20,
                       json={"model": "g-fast", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and answer_of(r) == "from the second member"


# A successful answer that carries the key: whole, URL-encoded, or split across pieces.
ANSWER_ECHOES = {
    "plain": [f"Your key is {KEY}. ", "Done."],
    "url-encoded": ["Your key is ", quote(KEY, safe=""), " and that is all."],
    "split in two": [f"Your key is {KEY[:13]}", f"{KEY[13:]} and that is all."],
    "split in three": [f"Your key is {KEY[:3]}", KEY[3:30], f"{KEY[30:]}"],
    "at the very end": [f"Your key is {KEY[:20]}", KEY[20:]],
}


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini", "lean"])
@pytest.mark.parametrize("echo", list(ANSWER_ECHOES))
async def test_an_answer_echoing_the_key_is_masked(fake_llm: FakeServer, drux_env: Path,
                                                   kind: str, echo: str) -> None:
    pieces = ANSWER_ECHOES[echo]
    model = provider(fake_llm, kind)
    try:
        fake_llm.enqueue(Reply(chunks=pieces))
        whole = (await model.complete(ask())).text
        fake_llm.enqueue(Reply(chunks=pieces))
        chunks = await drain(model.stream(ask()))
    finally:
        await model.aclose()
    streamed = "".join(c.text for c in chunks)
    for text in (whole, streamed):
        assert not leaked(text), text
        assert text.startswith("Your key is ***"), text
    assert streamed == whole  # held-back text is handed on, nothing else is lost
    assert chunks[-1].finish_reason == "stop"


@pytest.mark.parametrize("lean", [True, False], ids=["lean client", "sdk"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_the_gateway_masks_the_key_in_answers(fake_llm: FakeServer, drux_env: Path,
                                              lean: bool, stream: bool) -> None:
    fake_llm.script("up-solo", Reply(chunks=ANSWER_ECHOES["split in two"]))
    with running_gateway(fake_llm, drux_env, upstream_key=KEY, lean_openai=lean) as gw:
        r = httpx.post(f"{gw.base_url}/chat/completions", timeout=20,
                       json={"model": "m-solo", "stream": stream,
                             "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200
    assert not leaked(r.text), r.text
    assert answer_of(r) == "Your key is *** and that is all."


def test_no_stored_or_shown_answer_carries_an_echoed_key(fake_llm: FakeServer,
                                                         drux_env: Path) -> None:
    (drux_env / "project.toml").write_text(
        f'[providers.echo]\nbase_url = "{fake_llm.openai_url}"\napi_key_env = "ECHO_KEY"\n'
        '[models.m]\nprovider = "echo"\nmodel = "up-m"\n[panels]\ndefault = ["m"]\n')
    fake_llm.script("up-m", Reply(chunks=ANSWER_ECHOES["split in three"]))
    env = {"ECHO_KEY": KEY}
    asked = _drux("ask", "hi", "--json", env=env)
    shown = _drux("show", json.loads(asked.stdout)["id"], env=env)
    for proc in (asked, shown):
        assert "Your key is ***" in proc.stdout and not leaked(proc.stdout + proc.stderr)
    database = (drux_env / "data" / "drux.db").read_bytes()
    assert not leaked(database.decode("latin-1"))
