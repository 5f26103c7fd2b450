"""One validation path: the drux.toml tables, the [routing] policy and the ask options are
pydantic models; a refused value is one line naming the field, in each shell's spelling."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from web_kit import Scripts, make_services, relaxed

from drux.config import load_config
from drux.errors import ConfigError, InvalidFieldError
from drux.routing import BreakerPolicy, HedgePolicy, RetryPolicy, RoutingPolicy
from drux.services import Services
from drux.services.options import AskOptions
from drux.web.app import create_app
from drux.web.schemas import AskCreate

# (drux.toml, the whole error): for each table, a value of the wrong type, one out of
# range and an unknown key.
BAD_TOML = [
    ('[providers.openai]\nkey_required = "no"\n',
     "[providers.openai] key_required must be true or false"),
    ('[providers.acme]\nbase_url = "http://127.0.0.1:1/v1"\nprotocol = "soap"\n',
     "[providers.acme] protocol must be openai, anthropic, gemini or local"),
    ('[providers.openai]\napikey = "sk-SECRET"\n', "[providers.openai] unknown keys: apikey"),
    ('[models."gpt-4.1"]\ncontext = "big"\n',
     "[models.gpt-4.1] context must be a whole number of tokens, at least 256"),
    ('[models."gpt-4.1"]\ntemperature = 2.5\n', "[models.gpt-4.1] temperature must be between 0 and 2"),
    ('[models."gpt-4.1"]\ninput_price = -0.5\n',
     "[models.gpt-4.1] input_price must be a number of at least 0"),
    ('[models."gpt-4.1"]\nmax_token = 5\nfamilly = "x"\n',
     "[models.gpt-4.1] unknown keys: familly, max_token"),
    ('[panels]\nduo = "gpt-4.1"\n', "[panels] duo must be a non-empty list of model names"),
    ("[panels]\nduo = []\n", "[panels] duo must be a non-empty list of model names"),
    ('[panels.duo]\nmodels = ["gpt-4.1"]\nsystem = 3\n', "[panels.duo] system must be a string"),
    ('[panels.duo]\nmodels = ["gpt-4.1"]\nmax_tokens = 0\n',
     "[panels.duo] max_tokens must be a whole number of at least 1"),
    ('[panels.duo]\nmodels = ["gpt-4.1"]\ncolour = "red"\n', "[panels.duo] unknown keys: colour"),
    ('[panels.duo]\nsystem = "Be brief."\n',
     "[panels.duo] models is required (a non-empty list of model names)"),
    ('[routing]\ndeadline = "soon"\n', "[routing] deadline must be a number of at least 0"),
    ("[routing]\nmax_chain = 0\n", "[routing] max_chain must be a whole number of at least 1"),
    ("[routing]\ndeadlines = 3\n", "[routing] unknown keys: deadlines"),
    ("[routing]\nretry = 2\n", "[routing.retry] must be a table"),
    ("[routing.retry]\nmax_attempts = 1.5\n",
     "[routing.retry] max_attempts must be a whole number of at least 1"),
    ("[routing.retry]\nbase_delay = -1\n", "[routing.retry] base_delay must be a number of at least 0"),
    ("[routing.retry]\ntries = 3\n", "[routing.retry] unknown keys: tries"),
    ('[routing.breaker]\nfailure_rate = "half"\n',
     "[routing.breaker] failure_rate must be a number above 0 and at most 1"),
    ("[routing.breaker]\nfailure_rate = 0\n",
     "[routing.breaker] failure_rate must be above 0 and at most 1"),
    ("[routing.breaker]\ncool_down = 5\n", "[routing.breaker] unknown keys: cool_down"),
    ('[routing.hedge]\nenabled = "yes"\n', "[routing.hedge] enabled must be true or false"),
    ("[routing.hedge]\nceiling = inf\n", "[routing.hedge] ceiling must be a number of at least 0"),
    ("[routing.hedge]\nhedge = true\n", "[routing.hedge] unknown keys: hedge"),
]


@pytest.mark.parametrize(("text", "message"), BAD_TOML,
                         ids=[f"{m[1:m.index(']')]}-{n}" for n, (_, m) in enumerate(BAD_TOML)])
def test_a_bad_drux_toml_value_is_one_line_naming_table_and_key(drux_env: Path, text: str,
                                                                 message: str) -> None:
    (drux_env / "project.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        Services(load_config())  # [routing] is read here
    assert str(info.value) == message
    assert "SECRET" not in str(info.value)


def test_routing_policies_check_values_built_in_code_too() -> None:
    # They were plain dataclasses: RetryPolicy(max_attempts=0) made a route that never called.
    for build in (lambda: RetryPolicy(max_attempts=0), lambda: BreakerPolicy(window=0),
                  lambda: HedgePolicy(quantile=2.0), lambda: RoutingPolicy(max_chain=0)):
        with pytest.raises(ValueError):
            build()
    policy = RoutingPolicy(deadline=30)
    assert policy.deadline == 30.0 and isinstance(policy.deadline, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.deadline = 5  # type: ignore[misc]


@pytest.mark.parametrize(("values", "field", "problem"), [
    ({"question": "  \n "}, "question", "is empty"),
    ({"question": "x" * 8001}, "question", "has 8001 characters; the limit is 8000"),
    ({"context": "c" * 12001}, "context", "has 12001 characters; the limit is 12000"),
    ({"max_tokens": 0}, "max_tokens", "must be between 1 and 8192"),
    ({"max_tokens": "many"}, "max_tokens", "must be a whole number between 1 and 8192"),
    ({"timeout": 0}, "timeout", "must be above 0 and at most 3600 seconds"),
    ({"temperature": 2.5}, "temperature", "must be between 0 and 2"),
    ({"consensus_backend": "nope"}, "consensus_backend", "must be cross, fast, judge or hybrid"),
    ({"colour": "red"}, "", "unknown keys: colour"),
    ({"system": " "}, "system", "is empty"),
    ({"system": "s" * 4001}, "system", "has 4001 characters; the limit is 4000"),
])
def test_a_bad_ask_option_names_its_field(values: dict[str, Any], field: str,
                                          problem: str) -> None:
    with pytest.raises(InvalidFieldError) as info:
        AskOptions(**{"question": "Why?", **values})
    assert (info.value.field, info.value.problem) == (field, problem)
    assert str(info.value) == f"{field} {problem}".strip()
    assert info.value.spelled({"max_tokens": "--max-tokens"}).startswith(
        "--max-tokens " if field == "max_tokens" else field)


def test_ask_options_are_checked_whenever_they_change() -> None:
    opts = AskOptions(question="  Why?  ")
    assert opts.question == "Why?"
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.max_tokens = 0  # type: ignore[misc]
    with pytest.raises(InvalidFieldError, match="max_tokens must be between 1 and 8192"):
        dataclasses.replace(opts, max_tokens=0)


def test_the_api_body_carries_the_ask_options_limits() -> None:
    """AskCreate declares the limits through AskOptions's own types: the same bounds in the
    OpenAPI schema, nothing written twice."""
    public = AskCreate.model_json_schema()["properties"]
    options = TypeAdapter(AskOptions).json_schema()["properties"]
    bounds = ("minimum", "maximum", "exclusiveMinimum", "minLength", "maxLength")
    for name in ("question", "max_tokens", "temperature", "timeout", "context", "system"):
        assert _bounds(public[name], bounds) == _bounds(options[name], bounds) != {}, name
    assert _bounds(public["max_tokens"], bounds) == {"minimum": 1, "maximum": 8192}
    assert _bounds(public["timeout"], bounds) == {"exclusiveMinimum": 0, "maximum": 3600}


def _bounds(schema: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    for option in schema.get("anyOf", [schema]):
        found = {k: option[k] for k in keys if k in option}
        if found:
            return found
    return {}


@pytest.mark.parametrize(("body", "message"), [
    ({"max_tokens": 0}, "max_tokens must be between 1 and 8192"),
    ({"timeout": 4000}, "timeout must be above 0 and at most 3600 seconds"),
    ({"temperature": "hot"}, "temperature must be a number between 0 and 2"),
    ({"question": " "}, "question is empty"),
    ({"models": ["m"] * 21}, "models has 21 items; the limit is 20"),
    ({"surprise": 1}, "unknown keys: surprise"),
])
def test_the_api_names_the_json_field(drux_env: Path, body: dict[str, Any],
                                      message: str) -> None:
    app = create_app(make_services(drux_env, Scripts()), relaxed())
    with TestClient(app) as client:
        r = client.post("/api/asks", json={"question": "Why?", **body})
        assert r.status_code == 422
        assert r.json()["error"] == {"type": "invalid_input", "message": message}


def test_the_ask_form_says_the_question(drux_env: Path) -> None:
    app = create_app(make_services(drux_env, Scripts()), relaxed())
    with TestClient(app) as client:
        r = client.post("/ask", data={"question": "x" * 8001, "mode": "panel"})
        assert r.status_code == 422
        assert "the question has 8001 characters; the limit is 8000" in r.text
