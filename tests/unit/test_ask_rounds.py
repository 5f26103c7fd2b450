"""Deliberation rounds and synthesis through the ask service, with scripted providers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drux.deliberation import split_revision, synthesis_messages
from drux.errors import InputError, ModelNotFoundError, UnknownModelError
from drux.panel import Finished
from drux.services import Services
from drux.services.ask import AskCreated, AskDone, AskOptions, Scored, run_ask
from drux.services.rounds import RoundScored, RoundStarted, trend
from drux.services.synthesis import Synthesized, choose_synthesizer

from scripted import Hang, Raise, Reply, ScriptedProvider, scripted_services
from waiting import PATIENCE_S

TOML = """
[models.alpha]
provider = "ollama"
family = "fam-a"
[models.beta]
provider = "ollama"
family = "fam-b"
[models.chair]
provider = "ollama"
family = "fam-c"
"""


@pytest.fixture
def make_services(drux_env: Path):  # type: ignore[no-untyped-def]
    with scripted_services(drux_env, TOML) as make:
        yield make


async def _run(services: Services, opts: AskOptions) -> list[object]:
    return [e async for e in run_ask(services, opts)]


def _two_rounds() -> dict[str, ScriptedProvider]:
    return {
        "alpha": ScriptedProvider("alpha", [Reply("The capital of France is Paris."),
                                            Reply("The capital of France is Paris.\nWhy: the others agree.")]),
        "beta": ScriptedProvider("beta", [Reply("The capital of France is Lyon."),
                                          Reply("The capital of France is Paris.\nWhy: Model A is right, Lyon is not the capital.")]),
    }


async def test_two_rounds_are_stored_scored_and_anonymised(make_services) -> None:  # type: ignore[no-untyped-def]
    providers = _two_rounds()
    services = make_services(providers)
    events = await _run(services, AskOptions("What is the capital of France?",
                                             models=["alpha", "beta"], rounds=2))
    assert [e.round for e in events if isinstance(e, RoundStarted)] == [2]
    scored = [e for e in events if isinstance(e, RoundScored)]
    assert [e.round for e in scored] == [1, 2]
    assert len([e for e in events if isinstance(e, Scored)]) == 1  # the ask's own, once

    # Round 2: beta sees its own answer as its turn, alpha's answer under a hidden name.
    request = providers["beta"].requests[1]
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "user"]
    assert request.messages[2].content == "The capital of France is Lyon."
    last = request.messages[3].content
    assert "Model A: The capital of France is Paris." in last and "alpha" not in last

    record = services.store.asks.get(events[0].ask_id)  # type: ignore[attr-defined]
    assert record is not None and [r.round for r in record.rounds] == [1, 2]
    first, second = record.rounds
    assert first.score is not None and second.score is not None and second.score > first.score
    assert first.consensus is not None and second.consensus is not None
    assert second.why["beta"] == "Model A is right, Lyon is not the capital."
    assert second.changed == ["beta"]
    # The answer rows hold the last round, without the "Why:" line; the ask's score is its.
    texts = {a.model: a.text for a in record.answers}
    assert texts == {"alpha": "The capital of France is Paris.", "beta": "The capital of France is Paris."}
    assert record.score == second.score
    assert trend(record.rounds) == f"round 1: {first.score:.0f} → round 2: {second.score:.0f}"


async def test_a_failed_round_keeps_the_earlier_one(make_services) -> None:  # type: ignore[no-untyped-def]
    gone = ModelNotFoundError("model withdrawn", provider="ollama", model="x")
    providers = {"alpha": ScriptedProvider("alpha", [Reply("Paris."), Raise(gone)]),
                 "beta": ScriptedProvider("beta", [Reply("Lyon."), Raise(gone)])}
    services = make_services(providers)
    events = await _run(services, AskOptions("Capital of France?", models=["alpha", "beta"], rounds=3))
    assert isinstance(events[-1], AskDone) and events[-1].status == "complete"
    record = services.store.asks.get(events[0].ask_id)  # type: ignore[attr-defined]
    assert record is not None
    assert [(r.round, r.status) for r in record.rounds] == [(1, "complete"), (2, "failed")]
    assert {a.model: a.text for a in record.answers} == {"alpha": "Paris.", "beta": "Lyon."}
    assert record.score == record.rounds[0].score and record.score is not None


async def test_ctrl_c_in_round_two_keeps_round_one(make_services) -> None:  # type: ignore[no-untyped-def]
    providers = {"alpha": ScriptedProvider("alpha", [Reply("Paris."), Reply("Paris.\nWhy: sure.")]),
                 "beta": ScriptedProvider("beta", [Reply("Lyon."), Hang()])}
    services = make_services(providers)
    ask_id = ""
    second_round_alpha = asyncio.Event()

    async def consume() -> None:
        nonlocal ask_id
        round_no = 1
        async for e in run_ask(services, AskOptions("Capital of France?", models=["alpha", "beta"],
                                                    rounds=2)):
            if isinstance(e, AskCreated):
                ask_id = e.ask_id
            elif isinstance(e, RoundStarted):
                round_no = e.round
            elif isinstance(e, Finished) and e.model == "alpha" and round_no == 2:
                second_round_alpha.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(PATIENCE_S):
        await second_round_alpha.wait()
    task.cancel()  # what Ctrl-C does to the CLI's ask
    with pytest.raises(asyncio.CancelledError):
        await task
    record = services.store.asks.get(ask_id)
    assert record is not None and record.status == "partial"
    assert [(r.round, r.status) for r in record.rounds] == [(1, "complete"), (2, "partial")]
    assert record.rounds[0].score is not None and record.score == record.rounds[0].score
    assert {a.model: a.text for a in record.answers} == {"alpha": "Paris.", "beta": "Lyon."}
    cut = {a.model: a for a in record.rounds[1].answers}
    assert cut["alpha"].text == "Paris." and cut["beta"].status == "partial"


async def test_one_round_stores_no_rounds(make_services) -> None:  # type: ignore[no-untyped-def]
    services = make_services(_two_rounds())
    events = await _run(services, AskOptions("Capital?", models=["alpha", "beta"]))
    assert not any(isinstance(e, RoundScored | RoundStarted) for e in events)
    record = services.store.asks.get(events[0].ask_id)  # type: ignore[attr-defined]
    assert record is not None and record.rounds == [] and record.synthesis is None


def test_rounds_are_bounded() -> None:
    with pytest.raises(InputError, match="rounds must be between 1 and 4"):
        AskOptions("q?", rounds=5)


async def test_synthesis_is_stored_labelled_and_not_a_vote(make_services) -> None:  # type: ignore[no-untyped-def]
    providers = {"alpha": ScriptedProvider("alpha", [Reply("Paris is the capital.")]),
                 "beta": ScriptedProvider("beta", [Reply("The capital is Paris.")]),
                 "chair": ScriptedProvider("chair", [Reply("Paris [alpha, beta].")])}
    services = make_services(providers)
    plain = await _run(services, AskOptions("Capital of France?", models=["alpha", "beta"]))
    events = await _run(services, AskOptions("Capital of France?", models=["alpha", "beta"],
                                             synthesizer="chair"))
    synthesized = [e for e in events if isinstance(e, Synthesized)]
    assert len(synthesized) == 1 and synthesized[0].synthesis.label == "synthesized by chair"
    record = services.store.asks.get(events[0].ask_id)  # type: ignore[attr-defined]
    assert record is not None and record.synthesis is not None
    assert record.synthesis.text == "Paris [alpha, beta]." and record.synthesis.model == "chair"
    assert not record.synthesis.side_by_side
    before = services.store.asks.get(plain[0].ask_id)  # type: ignore[attr-defined]
    assert before is not None and before.consensus is not None and record.consensus is not None
    assert record.score == before.score  # not a vote: the score, groups, claims are the panel's
    assert record.consensus.clusters == before.consensus.clusters
    assert all("chair" not in c.supported_by for c in record.consensus.claims)
    request = providers["chair"].requests[0].messages[-1].content
    assert "alpha: Paris is the capital." in request and "beta: The capital is Paris." in request


async def test_without_consensus_the_synthesis_is_asked_side_by_side(make_services) -> None:  # type: ignore[no-untyped-def]
    providers = {"alpha": ScriptedProvider("alpha", [Reply("Yes, the Earth is flat.")]),
                 "beta": ScriptedProvider("beta", [Reply("No, the Earth is not flat; it is round.")]),
                 "chair": ScriptedProvider("chair", [Reply("Flat [alpha]\nRound [beta]")])}
    services = make_services(providers)
    events = await _run(services, AskOptions("Is the Earth flat?", models=["alpha", "beta"],
                                             synthesize=True, synthesizer="chair"))
    record = services.store.asks.get(events[0].ask_id)  # type: ignore[attr-defined]
    assert record is not None and record.score is not None and record.score < 50
    assert record.synthesis is not None and record.synthesis.side_by_side
    assert "side by side" in providers["chair"].requests[0].messages[-1].content


def test_the_prompt_differs_without_consensus() -> None:
    answers = {"alpha": "Canberra.", "beta": "Sydney."}
    agreed = synthesis_messages("Capital of Australia?", answers, 80.0, "Canberra: alpha, beta")
    split = synthesis_messages("Capital of Australia?", answers, 20.0, "Canberra: alpha · Sydney: beta")
    assert agreed != split
    assert "side by side" in split[-1].content and "do not pick one" in split[-1].content
    assert "side by side" not in agreed[-1].content
    assert "name the models that back it" in agreed[-1].content
    assert "20/100" in split[-1].content and "Sydney: beta" in split[-1].content


async def test_an_unknown_synthesizer_fails_before_anything_is_asked(make_services) -> None:  # type: ignore[no-untyped-def]
    providers = _two_rounds()
    services = make_services(providers)
    with pytest.raises(UnknownModelError):
        await _run(services, AskOptions("q?", models=["alpha", "beta"], synthesizer="nope"))
    assert services.store.asks.count() == 0 and providers["alpha"].calls == 0


def test_default_synthesizer_is_the_strongest_usable_member(make_services) -> None:  # type: ignore[no-untyped-def]
    services = make_services({})
    # The chairman (qwen2.5-1.5b) is not installed here; free models tie: the first listed.
    assert choose_synthesizer(services, ["beta", "alpha"], None) == "beta"
    assert choose_synthesizer(services, ["alpha", "beta"], None) == "alpha"
    assert choose_synthesizer(services, ["alpha"], "chair") == "chair"  # any configured model


@pytest.mark.parametrize(("text", "answer", "why"), [
    ("Paris.\nWhy: the others agree.", "Paris.", "the others agree."),
    ("Answer: Paris\nWhy: kept it.", "Paris", "kept it."),
    ("Paris.", "Paris.", None),
    ("**Why:** I was unsure.", "I was unsure.", None),
    ("Line one.\nLine two.\nReason: changed.", "Line one.\nLine two.", "changed."),
])
def test_split_revision(text: str, answer: str, why: str | None) -> None:
    revision = split_revision(text)
    assert (revision.answer, revision.why) == (answer, why)


async def test_ctrl_c_while_the_synthesis_is_written_keeps_the_scored_ask(make_services) -> None:  # type: ignore[no-untyped-def]
    providers = {"alpha": ScriptedProvider("alpha", [Reply("Paris is the capital.")]),
                 "beta": ScriptedProvider("beta", [Reply("The capital is Paris.")]),
                 "chair": ScriptedProvider("chair", [Hang()])}
    services = make_services(providers)
    ask_id = ""

    async def consume() -> None:
        nonlocal ask_id
        async for e in run_ask(services, AskOptions("Capital of France?", models=["alpha", "beta"],
                                                    synthesizer="chair")):
            if isinstance(e, AskCreated):
                ask_id = e.ask_id

    task = asyncio.create_task(consume())
    async with asyncio.timeout(PATIENCE_S):
        await providers["chair"].started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = services.store.asks.get(ask_id)
    assert record is not None and record.status == "complete" and record.score is not None
    assert record.synthesis is None


async def test_with_its_own_synthesis_the_judge_does_not_rewrite_the_consensus(make_services) -> None:  # type: ignore[no-untyped-def]
    # One synthesis per ask: a text judge wrote the consensus answer as a synthesis too.
    providers = {"alpha": ScriptedProvider("alpha", [Reply("Water boils at 100 degrees.")]),
                 "beta": ScriptedProvider("beta", [Reply("It boils at 100 C at sea level.")]),
                 "chair": ScriptedProvider("chair", [Reply("yes"), Reply("100 C [alpha, beta].")])}
    services = make_services(providers)
    events = await _run(services, AskOptions("When does water boil?", models=["alpha", "beta"],
                                             consensus_backend="judge", judge_model="chair",
                                             synthesizer="chair"))
    record = services.store.asks.get(events[0].ask_id)  # type: ignore[attr-defined]
    assert record is not None and record.consensus is not None
    assert record.consensus.consensus_kind == "representative"
    assert record.synthesis is not None and record.synthesis.text == "100 C [alpha, beta]."
    assert providers["chair"].calls == 2  # one pair judged, one synthesis
