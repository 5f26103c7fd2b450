"""An article's FAQ put to a scripted panel: asks stored, linked, scored, disagreements flagged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drux.config import load_config
from drux.errors import InputError, ServerError
from drux.hub import HubService
from drux.services import Services

from scripted import Raise, Reply, ScriptedProvider, factory

TOML = """
[models.alpha]
provider = "ollama"
family = "fam-a"
[models.beta]
provider = "ollama"
family = "fam-b"
[models.gamma]
provider = "ollama"
family = "fam-c"

[panels]
trio = ["alpha", "beta", "gamma"]
"""

ARTICLE = """---
title: Small lunar lander wakes up after its first night on the Moon
source: https://space.example.org/lander
date: 2026-11-21
tags: [space]
faq:
  - How long does a night last on the Moon?
  - question: Did the lander survive?
    answer: Yes, it sent a signal.
---
The lander woke up after about fourteen days of darkness.
"""

AGREE = "A night on the Moon lasts about fourteen Earth days."
YES = "Yes, the lander survived the lunar night and sent a signal home."
NO = "No, the lander did not survive the lunar night and never sent a signal."


@pytest.fixture
def make_hub(drux_env: Path) -> Iterator[Callable[[dict[str, ScriptedProvider]], HubService]]:
    (drux_env / "project.toml").write_text(TOML)
    (drux_env / "lander.md").write_text(ARTICLE)
    made: list[Services] = []

    def make(providers: dict[str, ScriptedProvider]) -> HubService:
        services = Services(load_config(), provider_factory=factory(providers))
        made.append(services)
        hub = HubService(services)
        hub.import_path(drux_env / "lander.md")
        return hub

    yield make
    for s in made:
        asyncio.run(s.aclose())


def _trio(alpha: list[Any], beta: list[Any], gamma: list[Any]) -> dict[str, ScriptedProvider]:
    return {"alpha": ScriptedProvider("alpha", alpha), "beta": ScriptedProvider("beta", beta),
            "gamma": ScriptedProvider("gamma", gamma)}


async def test_each_question_is_asked_with_the_article_as_context(make_hub) -> None:  # type: ignore[no-untyped-def]
    providers = _trio([Reply(AGREE), Reply(YES)], [Reply(AGREE), Reply(YES)],
                      [Reply(AGREE), Reply(NO)])
    hub = make_hub(providers)
    seen: list[dict[str, Any]] = []
    results = await hub.faq("lander", panel="trio", on_result=seen.append)

    assert [r["question"] for r in results] == ["How long does a night last on the Moon?",
                                               "Did the lander survive?"]
    assert seen == results
    assert all(r["status"] == "complete" and r["ask_id"] for r in results)
    request = providers["alpha"].requests[0]
    user = request.messages[-1].content
    assert "Article: Small lunar lander wakes up" in user
    assert "fourteen days of darkness" in user and "https://space.example.org/lander" in user
    assert user.endswith("Question: How long does a night last on the Moon?")

    stored = hub.services.store.asks.get(results[0]["ask_id"])
    assert stored is not None
    assert stored.article_id == "lander" and stored.source == "hub"
    assert [a.text for a in stored.answers] == [AGREE, AGREE, AGREE]
    linked = hub.services.store.asks.list(article_id="lander")
    assert {a.id for a in linked} == {r["ask_id"] for r in results}


async def test_results_flag_the_question_the_models_disagree_on(make_hub) -> None:  # type: ignore[no-untyped-def]
    hub = make_hub(_trio([Reply(AGREE), Reply(YES)], [Reply(AGREE), Reply(YES)],
                         [Reply(AGREE), Reply(NO)]))
    await hub.faq("lander", panel="trio")
    night, survive = hub.faq_results("lander")

    assert night["score"] is not None and night["score"] >= 70
    assert night["disagreement"] is False and night["disagreement_reason"] is None
    assert night["consensus_answer"] == AGREE
    assert night["consensus_html"] == f"<p>{AGREE}</p>\n"

    assert survive["disagreement"] is True
    assert "gamma" in survive["disagreement_reason"]
    assert survive["contradictions"]
    assert survive["answer"] == "Yes, it sent a signal."  # the editor's answer is kept apart
    assert [a["model"] for a in survive["answers"]] == ["alpha", "beta", "gamma"]
    assert survive["score"] < night["score"]


async def test_a_question_without_consensus_lists_positions_not_an_answer(make_hub) -> None:  # type: ignore[no-untyped-def]
    # Issue 12, case 3: an article FAQ with score 7 said "The panel's consensus answer: ...".
    hub = make_hub(_trio([Reply(AGREE), Reply(YES)], [Reply(AGREE), Reply(YES)],
                         [Reply(AGREE), Reply(NO)]))
    await hub.faq("lander", panel="trio")
    night, survive = hub.faq_results("lander")
    assert survive["score"] < 50 and survive["no_consensus"] is True
    assert survive["consensus_answer"] is None and survive["consensus_html"] is None
    # Each position is labelled with its answer's first sentence, cut at a word.
    assert survive["positions_line"] == (
        "Yes, the lander survived the lunar night and sent a signal…: alpha, beta · "
        "No, the lander did not survive the lunar night and never…: gamma")
    assert night["no_consensus"] is False and night["positions_line"] is None


async def test_the_latest_ask_wins_and_unasked_questions_say_so(make_hub) -> None:  # type: ignore[no-untyped-def]
    hub = make_hub(_trio([Reply(NO), Reply(YES)], [Reply(NO), Reply(YES)],
                         [Reply(NO), Reply(YES)]))
    assert [r["question"] for r in hub.faq_results("lander")] == [
        "How long does a night last on the Moon?", "Did the lander survive?"]
    assert all(r["ask_id"] is None and r["score"] is None for r in hub.faq_results("lander"))

    first = await hub.faq("lander", panel="trio", questions=["Did the lander survive?"])
    second = await hub.faq("lander", panel="trio", questions=["Did the lander survive?"])
    night, survive = hub.faq_results("lander")
    assert night["ask_id"] is None and night["status"] is None
    assert survive["ask_id"] == second[0]["ask_id"] != first[0]["ask_id"]


async def test_a_failing_model_does_not_stop_the_faq(make_hub) -> None:  # type: ignore[no-untyped-def]
    hub = make_hub(_trio([Reply(AGREE)], [Reply(AGREE)], [Raise(ServerError("boom"))]))
    results = await hub.faq("lander", panel="trio")
    assert [r["status"] for r in results] == ["complete", "complete"]
    answers = hub.faq_results("lander")[0]["answers"]
    assert [a["status"] for a in answers] == ["done", "done", "failed"]


async def test_bad_requests_store_nothing(make_hub) -> None:  # type: ignore[no-untyped-def]
    providers = _trio([Reply(AGREE)], [Reply(AGREE)], [Reply(AGREE)])
    hub = make_hub(providers)
    with pytest.raises(InputError, match="no article 'missing'"):
        await hub.faq("missing", panel="trio")
    with pytest.raises(InputError, match="unknown panel"):
        await hub.faq("lander", panel="nope")
    with pytest.raises(InputError, match=r"no FAQ question 'Other\?'"):
        await hub.faq("lander", panel="trio", questions=["Other?"])
    assert hub.services.store.asks.list(article_id="lander") == []
    assert all(p.calls == 0 for p in providers.values())


async def test_an_article_without_faq(make_hub, drux_env: Path) -> None:  # type: ignore[no-untyped-def]
    hub = make_hub(_trio([Reply(AGREE)], [Reply(AGREE)], [Reply(AGREE)]))
    (drux_env / "bare.md").write_text("---\ntitle: Bare\ndate: 2026-11-01\n---\nBody.\n")
    hub.import_path(drux_env / "bare.md")
    with pytest.raises(InputError, match="has no FAQ questions"):
        await hub.faq("bare", panel="trio")
    assert hub.faq_results("bare") == []


def test_ask_options_for_ask_the_ais(make_hub) -> None:  # type: ignore[no-untyped-def]
    hub = make_hub({})
    opts = hub.ask_options("lander", models=["alpha"])
    assert opts.article_id == "lander" and opts.source == "web" and opts.models == ["alpha"]
    assert "Small lunar lander" in opts.question
    assert opts.context is not None and opts.context.startswith("Article: Small lunar lander")
