"""A real uvicorn server on 127.0.0.1 (random port) and Debian's chromium through Playwright.

Servers run in a thread of the test process, so a test can give the app a
scripted provider factory (``scripted.py``) or the real offline models.
Screenshots go to ``artifacts/screenshots/`` (gitignored).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_kit import WAIT_MS

from drux.config import load_config
from drux.services import Services
from drux.web.settings import WebSettings

from scripted import FAKE_PANEL_TOML
from waiting import wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]



def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, services: Services, web: WebSettings) -> None:
        import uvicorn

        from drux.web.app import create_app

        self.services = services
        self.app = create_app(services, web)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()

        def started() -> bool:
            assert self.thread.is_alive(), "the test server stopped while starting"
            return bool(self.server.started)

        wait_until(started, "the test server did not start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


@pytest.fixture
def serve(drux_env: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start a server: ``serve(provider_factory=..., fake_panel=True, web=WebSettings(...))``."""
    started: list[LiveServer] = []

    def start(provider_factory: Any = None, *, fake_panel: bool = False,
              web: WebSettings | None = None) -> LiveServer:
        if fake_panel:
            (drux_env / "project.toml").write_text(FAKE_PANEL_TOML)
        services = Services(load_config(), provider_factory=provider_factory)
        server = LiveServer(services, web or WebSettings(asks_per_minute=600, ask_burst=100))
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed, but `make test` should have installed it")
        pytest.skip("chromium is not installed (make test installs it)")
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that records every dialog and console error and blocks non-local requests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.dialogs = []  # type: ignore[attr-defined]
    page.console_errors = []  # type: ignore[attr-defined]
    page.offsite = []  # type: ignore[attr-defined]

    def on_dialog(dialog: Any) -> None:
        page.dialogs.append(dialog.message)
        dialog.dismiss()

    def offsite(route: Any) -> None:
        page.offsite.append(route.request.url)
        route.abort()

    page.on("dialog", on_dialog)
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    context.route(lambda url: not url.startswith(("http://127.0.0.1", "data:", "about:")),
                  offsite)
    yield page
    context.close()
