"""`drux serve` is one server for the pages, the JSON API and the OpenAI-compatible
gateway: the real `openai` SDK gets an answer from the real local SmolLM2 through /v1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from waiting import PATIENCE_S, REQUEST_S, first_answer

DRUX = str(Path(sys.executable).parent / "drux")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.e2e
def test_serve_answers_openai_clients_and_pages(drux_env: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen([DRUX, "serve", "--port", str(port), "--log-level", "warning"],
                            env=os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        health = first_answer(f"{base}/health", proc, "drux serve")
        assert health.status_code == 200
        assert "The Hub" in httpx.get(f"{base}/", timeout=REQUEST_S).text
        assert httpx.get(f"http://localhost:{port}/api/asks", timeout=REQUEST_S).status_code == 200
        # DNS rebinding: a page whose name now points at 127.0.0.1 reads nothing.
        for path in ("/api/asks", "/", "/v1/models"):
            rebound = httpx.get(f"{base}{path}", headers={"Host": f"evil.example:{port}"},
                                timeout=REQUEST_S)
            assert rebound.status_code == 400, path
            assert rebound.json()["error"]["type"] == "host_not_allowed"

        client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused-on-loopback",
                               max_retries=0, timeout=120)
        assert "smollm2-135m" in {m.id for m in client.models.list()}
        raw = client.chat.completions.with_raw_response.create(
            model="smollm2-135m", max_tokens=16,
            messages=[{"role": "user", "content": "Name a primary colour."}])
        reply = raw.parse()
        assert reply.choices[0].message.content
        assert reply.usage is not None and reply.usage.completion_tokens > 0
        assert raw.headers["x-drux-deployment"] == "local:smollm2-135m"

        stream = client.chat.completions.create(
            model="smollm2-135m", max_tokens=16, stream=True,
            messages=[{"role": "user", "content": "Say hello."}])
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text.strip()

        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="no-such-model",
                                           messages=[{"role": "user", "content": "hi"}])
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=PATIENCE_S)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
