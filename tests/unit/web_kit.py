"""Helpers for the web unit tests: an app over scripted providers and a real SQLite store."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from drux.config import load_config
from drux.services import Services
from drux.web.settings import WebSettings

from scripted import FAKE_PANEL_TOML, Gate, Reply, ScriptedProvider

ANSWERS = {
    "alpha": "Water boils at 100 degrees Celsius at sea level.",
    "beta": "At sea level water boils at 100 C.",
    "gamma": "Water boils at 100 degrees Celsius.",
}


class Scripts:
    """A provider factory handing out scripted providers; tests can change the script.

    With ``gate``, every answer holds its last word until the test opens it.
    """

    def __init__(self, delay: float = 0.0, answers: dict[str, str] | None = None,
                 gate: Gate | None = None) -> None:
        self.delay = delay
        self.answers = answers or ANSWERS
        self.gate = gate
        self.built: dict[str, ScriptedProvider] = {}

    def __call__(self, spec: Any, _config: Any) -> ScriptedProvider:
        provider = ScriptedProvider(spec.id, [Reply(self.answers.get(spec.id, "ok"),
                                                    delay=self.delay, gate=self.gate)])
        self.built[spec.id] = provider
        return provider


def make_services(data_dir: Path, scripts: Scripts) -> Services:
    (data_dir / "project.toml").write_text(FAKE_PANEL_TOML)
    return Services(load_config(), provider_factory=scripts)


def relaxed(**kw: Any) -> WebSettings:
    """Limits loose enough that only the tests about limits hit them."""
    base: dict[str, Any] = {"asks_per_minute": 600, "ask_burst": 100}
    base.update(kw)
    return WebSettings(**base)


def sse_events(text: str) -> list[tuple[int, dict[str, Any]]]:
    """Parse an SSE body into (id, event) pairs (comments and retry lines skipped)."""
    out = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if ": " in line and not line.startswith(":"))
        if "data" in fields:
            out.append((int(fields["id"]), json.loads(fields["data"])))
    return out


def ask_from_the_form(client: Any, question: str = "Does water boil at 100 C?") -> str:
    """Ask the default panel through the Ask page's form and wait for the end; the ask id."""
    r = client.post("/ask", data={"question": question, "mode": "panel", "panel": "default"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    ask_id: str = r.headers["location"].rsplit("/", 1)[1]
    sse_events(client.get(f"/api/asks/{ask_id}/events").text)  # wait for the end
    return ask_id


@contextmanager
def served(app: Any, **options: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 in a thread (``options`` as ``drux serve`` passes
    them); yields its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:  # polled, bounded: the server thread sets it
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
