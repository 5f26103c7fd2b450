"""The JSON API picks how agreement is judged (`backend`, `judge`), as `drux ask --backend` does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_kit import Scripts, make_services, relaxed, sse_events

from drux.web.app import create_app


@pytest.fixture
def client(drux_env: Path) -> Iterator[TestClient]:
    app = create_app(make_services(drux_env, Scripts()), relaxed())
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("backend", ["cross", "fast"])
def test_the_api_scores_with_the_backend_asked_for(client: TestClient, backend: str) -> None:
    r = client.post("/api/asks", json={"question": "At what temperature does water boil?",
                                       "backend": backend})
    assert r.status_code == 202, r.text
    ask_id = str(r.json()["id"])
    events = [e for _, e in sse_events(client.get(f"/api/asks/{ask_id}/events").text)]
    assert events[-1]["type"] == "done"
    stored = client.get(f"/api/asks/{ask_id}").json()
    assert stored["consensus"]["backend"] == backend
    assert stored["consensus"]["score"] is not None


def test_the_default_is_fast(client: TestClient) -> None:
    r = client.post("/api/asks", json={"question": "At what temperature does water boil?"})
    ask_id = str(r.json()["id"])
    sse_events(client.get(f"/api/asks/{ask_id}/events").text)
    assert client.get(f"/api/asks/{ask_id}").json()["consensus"]["backend"] == "fast"


@pytest.mark.parametrize(("body", "kind", "said"), [
    ({"backend": "magic"}, "invalid_input", "backend"),
    ({"backend": "judge"}, "invalid_input", "judge"),  # no judge model named, none installed
    ({"backend": "judge", "judge": "no-such-model"}, "unknown_model", "no-such-model"),
])
def test_a_bad_backend_or_judge_is_a_typed_error_before_any_model_runs(
        client: TestClient, body: dict[str, object], kind: str, said: str) -> None:
    r = client.post("/api/asks", json={"question": "hi", **body})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["type"] == kind and said in error["message"], error
    assert client.get("/api/asks").json()["total"] == 0
