"""Follow-up threads in the ask service: each model is sent its own earlier turns, a model
no longer usable is skipped, old turns that do not fit a context window are dropped (and
the ask says so), and the thread is stored and read back in turn order."""

from __future__ import annotations

from pathlib import Path

import pytest

from drux.errors import InputError
from drux.records import AskRecord, ConsensusKind, ConsensusRecord
from drux.services import Services
from drux.services.ask import AskCreated, AskOptions, run_ask
from drux.services.threads import ThreadHistory, turn_synthesis

from scripted import Raise, Reply, ScriptedProvider, scripted_services

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
[models.keyed]
provider = "openai"
model = "gpt-x"
[models.tiny]
provider = "ollama"
family = "fam-t"
context = 300
"""


@pytest.fixture
def make_services(drux_env: Path):  # type: ignore[no-untyped-def]
    with scripted_services(drux_env, TOML) as make:
        yield make


async def _ask(services: Services, question: str, **kw: object) -> AskRecord:
    created = None
    async for event in run_ask(services, AskOptions(question, **kw)):  # type: ignore[arg-type]
        if isinstance(event, AskCreated):
            created = event
    assert created is not None
    record = services.store.asks.get(created.ask_id)
    assert record is not None
    return record


def _sent(provider: ScriptedProvider) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in provider.requests[-1].messages]


async def test_each_model_is_sent_its_own_earlier_turns(make_services) -> None:  # type: ignore[no-untyped-def]
    providers = {"alpha": ScriptedProvider("alpha", [Reply("Paris."), Reply("About 2 million.")]),
                 "beta": ScriptedProvider("beta", [Reply("It is Paris."), Reply("2.1 million.")])}
    services = make_services(providers)
    first = await _ask(services, "Capital of France?", models=["alpha", "beta"])
    second = await _ask(services, "How many people live there?", continue_from=first.id)

    assert _sent(providers["alpha"])[1:] == [
        ("user", "Capital of France?"), ("assistant", "Paris."),
        ("user", "How many people live there?")]
    # beta sees its own answer, never alpha's: the panel stays independent.
    assert _sent(providers["beta"])[1:] == [
        ("user", "Capital of France?"), ("assistant", "It is Paris."),
        ("user", "How many people live there?")]
    assert second.thread is not None and second.thread.id == first.id
    assert second.thread.turn == 2 and second.models == ["alpha", "beta"]
    thread = services.store.threads.get(first.id)
    assert thread is not None
    assert [(t.id, t.turn) for t in thread.turns] == [(first.id, 1), (second.id, 2)]


async def test_a_later_turn_continues_from_the_thread_end(make_services) -> None:  # type: ignore[no-untyped-def]
    providers = {"alpha": ScriptedProvider("alpha", [Reply("One."), Reply("Two."), Reply("Three.")])}
    services = make_services(providers)
    first = await _ask(services, "Q1?", models=["alpha"])
    second = await _ask(services, "Q2?", continue_from=first.id)
    # Naming the first ask again still continues after the last turn, with every turn.
    third = await _ask(services, "Q3?", continue_from=first.id[:8])
    assert third.thread is not None and third.thread.turn == 3
    assert [c for _, c in _sent(providers["alpha"])[1:]] == ["Q1?", "One.", "Q2?", "Two.", "Q3?"]
    assert services.store.threads.of_ask(second.id) == services.store.threads.get(first.id)


async def test_a_failed_turn_is_left_out_of_that_models_conversation(make_services) -> None:  # type: ignore[no-untyped-def]
    from drux.errors import ModelNotFoundError

    withdrawn = ModelNotFoundError("model withdrawn", provider="ollama", model="beta")
    providers = {"alpha": ScriptedProvider("alpha", [Reply("Blue."), Reply("Rayleigh.")]),
                 "beta": ScriptedProvider("beta", [Raise(withdrawn), Reply("Yes.")])}
    first = await _ask(make_services(providers), "Sky colour?", models=["alpha", "beta"])
    # A new process: the routing health of the first does not keep beta out.
    await _ask(make_services(providers), "Why?", continue_from=first.id)
    assert _sent(providers["beta"])[1:] == [("user", "Why?")]
    assert len(_sent(providers["alpha"])) == 4


async def test_a_model_no_longer_usable_is_skipped_and_the_thread_goes_on(  # type: ignore[no-untyped-def]
        make_services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    providers = {"alpha": ScriptedProvider("alpha", [Reply("Four.")]),
                 "keyed": ScriptedProvider("keyed", [Reply("4.")])}
    first = await _ask(make_services(providers), "2+2?", models=["alpha", "keyed"])
    monkeypatch.delenv("OPENAI_API_KEY")
    services = make_services(providers)
    second = await _ask(services, "And 3+3?", continue_from=first.id)
    assert second.models == ["alpha"]
    assert [s["model"] for s in second.skipped] == ["keyed"]
    assert "OPENAI_API_KEY" in second.skipped[0]["reason"]
    assert "goes on without it" in second.skipped[0]["reason"]
    assert providers["keyed"].calls == 1


async def test_no_usable_model_left_is_an_input_error(  # type: ignore[no-untyped-def]
        make_services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    providers = {"keyed": ScriptedProvider("keyed", [Reply("4.")])}
    first = await _ask(make_services(providers), "2+2?", models=["keyed"])
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(InputError, match="no model of this thread can answer now"):
        await _ask(make_services(providers), "And 3+3?", continue_from=first.id)


async def test_unknown_thread_and_explicit_models_are_refused(make_services) -> None:  # type: ignore[no-untyped-def]
    providers = {"alpha": ScriptedProvider("alpha", [Reply("Four.")])}
    services = make_services(providers)
    with pytest.raises(InputError, match="no ask or thread with id 'nope'"):
        await _ask(services, "Q?", continue_from="nope")
    first = await _ask(services, "Q?", models=["alpha"])
    with pytest.raises(InputError, match="leave out the models"):
        await _ask(services, "Q2?", continue_from=first.id, models=["alpha"])
    assert providers["alpha"].calls == 1 and services.store.asks.count() == 1


async def test_oldest_turns_that_do_not_fit_are_dropped_and_said(make_services) -> None:  # type: ignore[no-untyped-def]
    # tiny's window is 300 tokens; each turn here is about 110 (two 200-character texts).
    long_q, long_a = "Why " + "x" * 196, "Because " + "y" * 192
    providers = {"tiny": ScriptedProvider("tiny", [Reply(long_a)]),
                 "alpha": ScriptedProvider("alpha", [Reply(long_a)])}
    services = make_services(providers)
    first = await _ask(services, long_q + "1", models=["tiny", "alpha"], max_tokens=20)
    second = await _ask(services, long_q + "2", continue_from=first.id, max_tokens=20)
    third = await _ask(services, long_q + "3", continue_from=first.id, max_tokens=20)
    # Turn 3: tiny keeps only turn 2 (the newest), alpha (8192 tokens) keeps both.
    assert [c for r, c in _sent(providers["tiny"]) if r == "user"] == [long_q + "2", long_q + "3"]
    assert len(_sent(providers["alpha"])) == 6
    assert second.thread is not None and second.thread.trimmed == {}
    assert third.thread is not None and third.thread.trimmed == {"tiny": 1}
    stored = services.store.asks.get(third.id)
    assert stored is not None and stored.thread == third.thread


def _with_synthesis(record: AskRecord) -> AskRecord:
    consensus = ConsensusRecord(consensus_kind=ConsensusKind.SYNTHESIS, synthesized_by="judge-x",
                                consensus_answer="Both say Paris.")
    return record.model_copy(update={"consensus": consensus})


async def test_the_synthesis_of_the_previous_turn_comes_before_the_question(  # type: ignore[no-untyped-def]
        make_services) -> None:
    providers = {"alpha": ScriptedProvider("alpha", [Reply("Paris.")])}
    services = make_services(providers)
    first = _with_synthesis(await _ask(services, "Capital?", models=["alpha"]))
    assert turn_synthesis(first) == ("judge-x", "Both say Paris.")
    history = ThreadHistory([first])
    from drux.types import Message

    spec = services.config.catalog.model("alpha")
    sent = history.messages(spec, Message("system", "S"), "Population?", 100)
    assert [m.role for m in sent] == ["system", "user", "assistant", "user"]
    assert "written by judge-x" in sent[-1].content and "Both say Paris." in sent[-1].content
    assert sent[-1].content.endswith("Population?")
    assert turn_synthesis(await _ask(services, "Plain?", models=["alpha"])) is None
