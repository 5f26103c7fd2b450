"""Accounts in the web app: the offline default, sign-in and sign-out, throttling, CSRF,
private asks, admin pages and the read-only public Hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from accounts_web_kit import form_token, session_token, sign_in
from fastapi.testclient import TestClient
from web_kit import Scripts, ask_from_the_form, make_services, relaxed, sse_events

from drux.services import Services
from drux.web.app import create_app


@pytest.fixture
def services(drux_env: Path) -> Services:
    return make_services(drux_env, Scripts())


def _app(services: Services, **settings: Any) -> Any:
    return create_app(services, relaxed(**settings))


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(_app(services)) as c:
        yield c


def _accounts(services: Services) -> None:
    services.store.users.create("ada", "long enough", "admin")
    services.store.users.create("bob", "long enough")
    services.store.users.create("cy", "long enough")


def test_without_accounts_nothing_asks_for_a_sign_in(client: TestClient) -> None:
    assert client.get("/").status_code == 200
    assert "Sign in" not in client.get("/").text
    ask_id = ask_from_the_form(client)  # no token: there is no session to protect
    assert client.get(f"/r/{ask_id}").status_code == 200
    assert client.get("/status").status_code == 200


def test_once_an_account_exists_pages_redirect_and_the_api_answers_401(
        services: Services, client: TestClient) -> None:
    _accounts(services)
    page = client.get("/history?page=2", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/history%3Fpage%3D2"
    api = client.get("/api/asks")
    assert api.status_code == 401 and api.json()["error"]["type"] == "not_signed_in"
    assert client.post("/api/asks", json={"question": "q?"}).status_code == 401
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/login").status_code == 200


def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(
        services: Services, client: TestClient) -> None:
    _accounts(services)
    signed = sign_in(client, "bob", next_path="/history")
    assert signed.status_code == 303 and signed.headers["location"] == "/history"
    cookie = next(v for k, v in signed.headers.multi_items()
                  if k == "set-cookie" and v.startswith("drux_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= flags and "secure" not in flags
    home = client.get("/")
    assert home.status_code == 200 and 'id="signed-in-as">bob<' in home.text
    out = client.post("/logout", data={"csrf_token": form_token(home.text)},
                      follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303
    assert client.get("/api/asks").status_code == 401


def test_the_cookie_is_secure_over_https(services: Services) -> None:
    _accounts(services)
    with TestClient(_app(services), base_url="https://testserver") as client:
        signed = sign_in(client, "bob")
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"]
        assert "secure" in cookie.lower() and "httponly" in cookie.lower()


def test_a_wrong_password_or_unknown_name_signs_nobody_in(services: Services,
                                                         client: TestClient) -> None:
    _accounts(services)
    for name, password in (("bob", "wrong password"), ("nobody", "long enough")):
        refused = sign_in(client, name, password)
        assert refused.status_code == 401 and "Wrong username or password." in refused.text
        assert "drux_session" not in refused.headers.get("set-cookie", "")
    services.store.users.disable("cy")
    assert sign_in(client, "cy").status_code == 401


def test_the_sign_in_form_needs_its_own_token_and_goes_only_to_local_paths(
        services: Services, client: TestClient) -> None:
    _accounts(services)
    forged = client.post("/login", data={"username": "bob", "password": "long enough",
                                         "csrf_token": "guessed"}, follow_redirects=False)
    assert forged.status_code == 403 and "drux_session" not in forged.headers.get("set-cookie", "")
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        client.cookies.clear()
        assert sign_in(client, "bob", next_path=target).headers["location"] == "/"


def test_sign_in_is_throttled_per_account_and_per_address(services: Services) -> None:
    _accounts(services)
    app = _app(services, login_burst=2, login_per_minute=1, login_address_burst=5,
               login_address_per_minute=1)
    with TestClient(app) as client:
        for _ in range(2):
            assert sign_in(client, "bob", "wrong password").status_code == 401
        limited = sign_in(client, "bob")  # the right password, but too many tries
        assert limited.status_code == 429 and "Too many sign-in attempts" in limited.text
        assert int(limited.headers["retry-after"]) >= 1
        assert "drux_session" not in limited.headers.get("set-cookie", "")
        assert sign_in(client, "ada").status_code == 303  # another account: its own bucket
        client.cookies.clear()
        assert sign_in(client, "cy").status_code == 303
        client.cookies.clear()
        # The address has now tried 5 times: a sixth name is refused too.
        assert sign_in(client, "nobody", "long enough").status_code == 429


def test_csrf_is_required_from_a_signed_in_browser(services: Services,
                                                  client: TestClient) -> None:
    _accounts(services)
    sign_in(client, "bob")
    form = {"question": "Does water boil at 100 C?", "mode": "panel", "panel": "default"}
    refused = client.post("/ask", data=form, follow_redirects=False)
    assert refused.status_code == 403 and "expired" in refused.text
    wrong = client.post("/ask", data={**form, "csrf_token": "x" * 43}, follow_redirects=False)
    assert wrong.status_code == 403
    token = session_token(client)
    assert client.post("/ask", data={**form, "csrf_token": token},
                       follow_redirects=False).status_code == 303
    api = client.post("/api/asks", json={"question": "q?"})
    assert api.status_code == 403 and api.json()["error"]["type"] == "forbidden"
    started = client.post("/api/asks", json={"question": "q?"}, headers={"X-CSRF-Token": token})
    assert started.status_code == 202
    assert client.post("/logout", follow_redirects=False).status_code == 403


def _ask_as(client: TestClient, question: str) -> str:
    token = session_token(client)
    r = client.post("/ask", data={"question": question, "mode": "panel", "panel": "default",
                                  "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    ask_id: str = r.headers["location"].rsplit("/", 1)[1]
    sse_events(client.get(f"/api/asks/{ask_id}/events").text)  # wait for the end
    return ask_id


def test_a_member_cannot_read_or_change_another_members_ask(services: Services) -> None:
    _accounts(services)
    app = _app(services)
    with TestClient(app) as bob, TestClient(app) as cy:
        sign_in(bob, "bob")
        sign_in(cy, "cy")
        ask_id = _ask_as(bob, "Is bob's question private?")
        assert bob.get(f"/r/{ask_id}").status_code == 200
        for path in (f"/r/{ask_id}", f"/r/{ask_id}/export.json", f"/r/{ask_id}/export.md",
                     f"/r/{ask_id}/consensus", f"/api/asks/{ask_id}",
                     f"/api/asks/{ask_id}/events"):
            assert cy.get(path).status_code == 404, path
        assert "private?" not in cy.get("/history").text
        assert cy.get("/api/asks").json()["total"] == 0
        assert bob.get("/api/asks").json()["total"] == 1
        cy_token = session_token(cy)
        assert cy.post(f"/r/{ask_id}/share", data={"shared": "true", "csrf_token": cy_token},
                       follow_redirects=False).status_code == 404
        # Shared, cy may read it, but not change it.
        bob_token = session_token(bob)
        shared = bob.post(f"/r/{ask_id}/share", data={"shared": "true", "csrf_token": bob_token},
                          follow_redirects=False)
        assert shared.status_code == 303
        page = cy.get(f"/r/{ask_id}")
        assert page.status_code == 200 and 'id="share-toggle"' not in page.text
        assert 'id="share-toggle">Make private<' in bob.get(f"/r/{ask_id}").text
        assert cy.post(f"/api/asks/{ask_id}/cancel",
                       headers={"X-CSRF-Token": cy_token}).status_code == 403
        assert cy.post(f"/r/{ask_id}/share", data={"shared": "false", "csrf_token": cy_token},
                       follow_redirects=False).status_code == 403


def test_status_is_for_admins(services: Services) -> None:
    _accounts(services)
    app = _app(services)
    with TestClient(app) as ada, TestClient(app) as bob:
        sign_in(ada, "ada")
        sign_in(bob, "bob")
        assert bob.get("/status").status_code == 403
        assert bob.get("/api/status").status_code == 403
        assert 'href="/status"' not in bob.get("/").text
        assert ada.get("/status").status_code == 200
        assert ada.get("/api/status").status_code == 200


def test_the_public_hub_is_read_only_for_anonymous_visitors(services: Services) -> None:
    _accounts(services)
    app = _app(services, public_hub=True)
    with TestClient(app) as bob, TestClient(app) as anonymous:
        sign_in(bob, "bob")
        private = _ask_as(bob, "Private?")
        shared = _ask_as(bob, "Shared?")
        bob.post(f"/r/{shared}/share", data={"shared": "true", "csrf_token": session_token(bob)})
        assert anonymous.get("/").status_code == 200
        slug = anonymous.get("/api/articles").json()["items"][0]["id"]
        article = anonymous.get(f"/articles/{slug}")
        assert article.status_code == 200 and 'name="csrf_token"' not in article.text
        assert anonymous.get(f"/r/{shared}").status_code == 200
        assert anonymous.get(f"/api/asks/{shared}").status_code == 200
        assert anonymous.get(f"/r/{private}").status_code == 404
        for path in ("/ask", "/history", "/docs"):
            assert anonymous.get(path, follow_redirects=False).status_code == 303, path
        asked = anonymous.post(f"/articles/{slug}/ask", follow_redirects=False)
        assert asked.status_code == 303 and asked.headers["location"].startswith("/login")
        assert anonymous.post("/api/asks", json={"question": "q?"}).status_code == 401
    with TestClient(_app(services)) as closed:
        assert closed.get("/", follow_redirects=False).status_code == 303
        assert closed.get(f"/r/{shared}", follow_redirects=False).status_code == 303


def test_hub_cards_link_only_to_shared_asks_once_accounts_exist(services: Services) -> None:
    _accounts(services)
    with TestClient(_app(services)) as bob:
        sign_in(bob, "bob")
        slug = bob.get("/api/articles").json()["items"][0]["id"]
        asked = bob.post(f"/articles/{slug}/ask", data={"question": "Mine about it?",
                                                        "csrf_token": session_token(bob)},
                         follow_redirects=False)
        assert asked.status_code == 303
        ask_id = asked.headers["location"].rsplit("/", 1)[1]
        sse_events(bob.get(f"/api/asks/{ask_id}/events").text)
        assert services.store.asks.get(ask_id) is not None
        assert f"/r/{ask_id}" not in bob.get("/").text
        bob.post(f"/r/{ask_id}/share", data={"shared": "true", "csrf_token": session_token(bob)})
        assert f"/r/{ask_id}" in bob.get("/").text
