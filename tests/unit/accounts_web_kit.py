"""Signing in through the real pages in the web unit tests."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = "long enough",
            next_path: str = "/") -> Any:
    """Post the sign-in form as a browser would (its token from the page); the response."""
    page = client.get("/login")
    assert page.status_code == 200, page.text
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": form_token(page.text), "next": next_path},
                       follow_redirects=False)


def session_token(client: TestClient) -> str:
    """The CSRF token of the signed-in session, as the Ask page's form carries it."""
    return form_token(client.get("/ask").text)
