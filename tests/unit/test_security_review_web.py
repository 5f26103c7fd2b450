"""Security review regressions: secrets out of reprs, cross-site form posts refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from web_kit import Scripts, make_services, relaxed, served

from drux.catalog import Catalog
from drux.config import AppConfig, Settings
from drux.web.app import create_app

KEY = "sk-live-0123456789abcdef"


def test_config_reprs_show_no_key_and_no_database_password() -> None:
    settings = Settings(database_url="postgresql://drux:hunter2-db-pass@db.local/drux")
    config = AppConfig(settings=settings, catalog=Catalog.builtin(), explicit_keys={"openai": KEY})
    for shown in (repr(config), str(config), repr(settings), str(settings)):
        assert KEY not in shown and "hunter2" not in shown
    assert settings.db_url.endswith("hunter2-db-pass@db.local/drux")  # still used as given


@pytest.fixture
def client(drux_env: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_services(drux_env, Scripts()), relaxed())) as c:
        yield c


@pytest.mark.parametrize("headers", [{"origin": "null"},
                                     {"origin": "null", "sec-fetch-site": "cross-site"}])
def test_a_form_post_from_an_opaque_origin_is_refused(client: TestClient,
                                                      headers: dict[str, str]) -> None:
    # A sandboxed frame or a data: page on another site sends "Origin: null".
    r = client.post("/ask", data={"question": "hi"}, headers=headers, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/articles/november-heat-record/ask", headers=headers, follow_redirects=False)
    assert r.status_code == 403
    assert client.get("/api/asks").json()["total"] == 0


def test_same_origin_form_posts_still_work(client: TestClient) -> None:
    for headers in ({"origin": "http://testserver"}, {"origin": "null", "sec-fetch-site": "same-origin"},
                    {}):
        r = client.post("/ask", data={"question": "hi"}, headers=headers, follow_redirects=False)
        assert r.status_code == 303, headers


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("OPTIONS", "/api/asks", "GET, HEAD, POST"),
    ("DELETE", "/api/asks", "GET, HEAD, POST"),
    ("POST", "/api/asks/abc", "GET, HEAD"),
    ("PUT", "/ask", "GET, HEAD, POST"),
    ("DELETE", "/r/abc/export.md", "GET, HEAD"),
])
def test_a_405_names_every_method_of_the_path(client: TestClient, method: str, path: str,
                                              allow: str) -> None:
    r = client.request(method, path)
    assert r.status_code == 405 and r.headers["allow"] == allow
    for each in allow.split(", "):  # each method named is answered, none with a 405
        assert client.request(each, path, follow_redirects=False).status_code != 405, each


def test_the_unparsable_body_400_is_in_the_schema_and_is_what_is_sent(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/api/asks"]["post"]
    assert post["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorPublic"}
    assert "400" not in spec["paths"]["/api/asks"]["get"]["responses"]  # it takes no body
    # Not UTF-8: FastAPI's "error parsing the body" (a syntax error in JSON is a 422).
    r = client.post("/api/asks", content=b'{"question": "\xff"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and set(r.json()["error"]) == {"type", "message"}
    assert client.get("/openapi.json").json() == spec  # added once, not on every request


@pytest.mark.parametrize("trusted", [[], ["127.0.0.1"]], ids=["no proxy", "trusted proxy"])
def test_a_forged_forwarded_for_is_believed_only_from_a_trusted_proxy(drux_env: Path,
                                                                      trusted: list[str]) -> None:
    web = relaxed(asks_per_minute=1, ask_burst=6, trusted_proxies=trusted)
    app = create_app(make_services(drux_env, Scripts()), web)
    with served(app, **web.uvicorn_proxy_options()) as base:
        codes = [httpx.post(f"{base}/api/asks", json={"question": "hi"}, timeout=10,
                            headers={"x-forwarded-for": f"203.0.113.{i}"}).status_code
                 for i in range(7)]
    # Seven addresses named by a local client are one client, the seventh ask over the
    # burst of six; named by a trusted proxy they are seven clients.
    assert codes == [202] * 6 + ([202] if trusted else [429])


def test_serve_settings_read_trusted_proxies_as_a_json_list(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    from drux.web.settings import WebSettings

    assert WebSettings().uvicorn_proxy_options() == {"proxy_headers": False}
    monkeypatch.setenv("DRUX_WEB_TRUSTED_PROXIES", '["10.0.0.5", "10.1.0.0/16"]')
    assert WebSettings().uvicorn_proxy_options() == {
        "proxy_headers": True, "forwarded_allow_ips": ["10.0.0.5", "10.1.0.0/16"]}
