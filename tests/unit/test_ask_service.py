"""The ask service end to end with scripted providers and a real SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drux.config import load_config
from drux.errors import InputError, ModelNotFoundError, UnknownModelError
from drux.panel import Finished, Token
from drux.services import Services
from drux.services.ask import AskCreated, AskDone, AskOptions, Scored, run_ask

from scripted import Hang, Raise, Reply, ScriptedProvider, scripted_services
from waiting import PATIENCE_S

TOML = """
[models.alpha]
provider = "ollama"
family = "fam-a"
[models.beta]
provider = "ollama"
family = "fam-b"
system = "Beta's own system prompt."
temperature = 0.3
max_tokens = 50
[models.gamma]
provider = "ollama"
family = "fam-c"
[models.judgey]
provider = "ollama"
family = "fam-j"
[models.keyed]
provider = "openai"
model = "gpt-x"

[panels]
trio = ["alpha", "beta", "gamma"]
with-keyed = ["alpha", "keyed"]

[panels.strict]
models = ["alpha", "beta"]
system = "Answer in one word."
temperature = 0.7
max_tokens = 9
"""


@pytest.fixture
def make_services(drux_env: Path):  # type: ignore[no-untyped-def]
    with scripted_services(drux_env, TOML) as make:
        yield make


async def _run(services: Services, opts: AskOptions) -> list[object]:
    return [e async for e in run_ask(services, opts)]


async def test_ask_is_stored_with_answers_failures_and_score(make_services) -> None:  # type: ignore[no-untyped-def]
    providers = {
        "alpha": ScriptedProvider("alpha", [Reply("Water boils at 100 degrees Celsius.")]),
        "beta": ScriptedProvider("beta", [Reply("At sea level water boils at 100 C.")]),
        "gamma": ScriptedProvider("gamma", [Raise(ModelNotFoundError(
            "model withdrawn", provider="ollama", model="gamma"))]),
    }
    services = make_services(providers)
    events = await _run(services, AskOptions("When does water boil?", panel="trio"))
    created = events[0]
    assert isinstance(created, AskCreated)
    assert isinstance(events[-1], AskDone) and events[-1].status == "complete"
    assert any(isinstance(e, Scored) for e in events)
    record = services.store.asks.get(created.ask_id)
    assert record is not None
    answers = {a.model: a for a in record.answers}
    assert answers["alpha"].status == "done"
    assert answers["alpha"].text == "Water boils at 100 degrees Celsius."
    assert answers["alpha"].timings.total_s is not None
    assert answers["alpha"].usage.output_tokens == 6
    assert answers["gamma"].status == "failed"
    assert answers["gamma"].error.type == "model_not_found"
    assert "withdrawn" in answers["gamma"].error.message
    assert record.status == "complete"
    assert record.consensus is not None
    assert record.consensus.score is not None


async def test_single_answer_scores_na(make_services) -> None:  # type: ignore[no-untyped-def]
    providers = {
        "alpha": ScriptedProvider("alpha", [Reply("Only me.")]),
        "beta": ScriptedProvider("beta", [Raise(ModelNotFoundError("gone"))]),
    }
    services = make_services(providers)
    events = await _run(services, AskOptions("q?", models=["alpha", "beta"]))
    record = services.store.asks.get(events[0].ask_id)  # type: ignore[attr-defined]
    assert record.consensus.score is None
    assert record.consensus.reason


async def test_interrupted_ask_keeps_partial_text(make_services) -> None:  # type: ignore[no-untyped-def]
    providers = {
        "alpha": ScriptedProvider("alpha", [Reply("done quickly")]),
        "beta": ScriptedProvider("beta", [Reply("slow words " * 20, delay=0.05)]),
    }
    services = make_services(providers)
    ask_id = None
    # Interrupt once alpha has finished and beta is midway, however slow the machine (a fixed
    # sleep here once fired before either had happened).
    alpha_done, beta_midway = asyncio.Event(), asyncio.Event()
    beta_text = ""

    async def consume() -> None:
        nonlocal ask_id, beta_text
        async for e in run_ask(services, AskOptions("q?", models=["alpha", "beta"])):
            if isinstance(e, AskCreated):
                ask_id = e.ask_id
            elif isinstance(e, Finished) and e.model == "alpha":
                alpha_done.set()
            elif isinstance(e, Token) and e.model == "beta":
                beta_text += e.text
                if beta_text.startswith("slow words"):
                    beta_midway.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(PATIENCE_S):
        await alpha_done.wait()
        await beta_midway.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = services.store.asks.get(ask_id)  # type: ignore[arg-type]
    assert record.status == "partial"
    answers = {a.model: a for a in record.answers}
    assert answers["alpha"].status == "done"
    assert answers["alpha"].text == "done quickly"
    assert answers["beta"].status == "partial"
    assert answers["beta"].text.startswith("slow words")
    assert providers["beta"].cancelled == 1


async def test_a_briefly_busy_database_neither_ends_the_ask_nor_loses_an_answer(  # type: ignore[no-untyped-def]
    make_services, monkeypatch
) -> None:
    # Another writer holding the SQLite lock past the busy timeout made the first failed
    # write end the ask; a finished answer whose write failed was then left out.
    from drux.errors import StoreError

    providers = {"alpha": ScriptedProvider("alpha", [Reply("first answer")]),
                 "beta": ScriptedProvider("beta", [Reply("second answer " * 5, delay=0.02)])}
    services = make_services(providers)
    repo = services.store.asks
    real, failures = repo.update_answers, [2]  # both final writes fail; the last try works

    def busy(ask_id, updates):  # type: ignore[no-untyped-def]
        if failures[0]:
            failures[0] -= 1
            raise StoreError("cannot write to the database: OperationalError")
        return real(ask_id, updates)

    monkeypatch.setattr(repo, "update_answers", busy)
    events = await _run(services, AskOptions("q?", models=["alpha", "beta"]))
    assert isinstance(events[-1], AskDone) and events[-1].status == "complete"
    record = repo.get(events[0].ask_id)  # type: ignore[attr-defined]
    answers = {a.model: a for a in record.answers}
    assert answers["alpha"].status == "done" and answers["alpha"].text == "first answer"
    assert answers["beta"].status == "done"
    assert answers["beta"].text.strip() == ("second answer " * 5).strip()
    assert failures[0] == 0


async def test_all_failed_is_stored_as_failed(make_services) -> None:  # type: ignore[no-untyped-def]
    providers = {"alpha": ScriptedProvider("alpha", [Hang()]),
                 "beta": ScriptedProvider("beta", [Raise(ModelNotFoundError("gone"))])}
    services = make_services(providers)
    events = await _run(services, AskOptions("q?", models=["alpha", "beta"], timeout=0.2))
    assert isinstance(events[-1], AskDone) and events[-1].status == "failed"


@pytest.mark.parametrize("question", ["", "   \n\t "])
async def test_empty_question_is_rejected_before_anything_is_stored(make_services, question) -> None:  # type: ignore[no-untyped-def]
    services = make_services({})
    with pytest.raises(InputError, match="empty"):
        await _run(services, AskOptions(question, panel="trio"))
    assert services.store.asks.count() == 0


async def test_unknown_model_and_panel(make_services) -> None:  # type: ignore[no-untyped-def]
    services = make_services({})
    with pytest.raises(UnknownModelError, match="unknown model 'nope'"):
        await _run(services, AskOptions("q?", models=["nope"]))
    with pytest.raises(UnknownModelError, match="unknown panel"):
        await _run(services, AskOptions("q?", panel="nope"))
    # An unknown judge was only noticed after the whole panel had answered ("scoring failed").
    providers = {"alpha": ScriptedProvider("alpha", [Reply("a")])}
    services = make_services(providers)
    with pytest.raises(UnknownModelError, match="unknown model 'no-judge'"):
        await _run(services, AskOptions("q?", models=["alpha"], consensus_backend="judge",
                                        judge_model="no-judge"))
    assert providers["alpha"].calls == 0 and services.store.asks.count() == 0


async def test_panel_skips_unusable_members_and_says_why(make_services) -> None:  # type: ignore[no-untyped-def]
    services = make_services({"alpha": ScriptedProvider("alpha", [Reply("hi")])})
    events = await _run(services, AskOptions("q?", panel="with-keyed"))
    created = events[0]
    assert isinstance(created, AskCreated)
    assert created.models == ["alpha"]
    assert created.skipped == [{"model": "keyed", "reason": "set OPENAI_API_KEY"}]
    with pytest.raises(InputError, match="keyed is not usable: set OPENAI_API_KEY"):
        await _run(services, AskOptions("q?", models=["keyed"]))


async def test_too_long_question_is_an_input_error(make_services) -> None:  # type: ignore[no-untyped-def]
    services = make_services({})
    with pytest.raises(InputError, match="limit"):
        await _run(services, AskOptions("x" * 9000, panel="trio"))


async def test_providers_are_built_once_and_reused(make_services) -> None:  # type: ignore[no-untyped-def]
    built: list[str] = []
    providers = {"alpha": ScriptedProvider("alpha", [Reply("a")]),
                 "beta": ScriptedProvider("beta", [Reply("b")])}

    def counting(spec, config):  # type: ignore[no-untyped-def]
        built.append(spec.id)
        return providers[spec.id]

    services = Services(load_config(), provider_factory=counting)
    for _ in range(2):
        await _run(services, AskOptions("q?", models=["alpha", "beta"]))
    assert sorted(built) == ["alpha", "beta"]
    assert providers["alpha"].calls == 2


async def test_scoring_failure_keeps_answers_and_says_why(make_services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import drux.services.ask

    async def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("embedding model exploded")

    monkeypatch.setattr(drux.services.ask, "ascore_answers", broken)
    providers = {"alpha": ScriptedProvider("alpha", [Reply("yes")]),
                 "beta": ScriptedProvider("beta", [Reply("no")])}
    services = make_services(providers)
    events = await _run(services, AskOptions("q?", models=["alpha", "beta"]))
    assert isinstance(events[-1], AskDone) and events[-1].status == "complete"
    record = services.store.asks.get(events[0].ask_id)  # type: ignore[attr-defined]
    assert record.status == "complete"
    assert [a.text for a in record.answers] == ["yes", "no"]
    assert record.consensus.score is None
    assert "embedding model exploded" in record.consensus.reason


async def test_request_settings_ask_over_panel_over_model(make_services) -> None:  # type: ignore[no-untyped-def]
    providers = {"alpha": ScriptedProvider("alpha", [Reply("a")]),
                 "beta": ScriptedProvider("beta", [Reply("b")])}
    services = make_services(providers)
    await _run(services, AskOptions("q?", models=["beta"]))
    own = providers["beta"].requests[-1]
    assert (own.system, own.temperature, own.max_tokens) == ("Beta's own system prompt.", 0.3, 50)
    await _run(services, AskOptions("q?", panel="strict"))
    panel = providers["beta"].requests[-1]
    assert (panel.system, panel.temperature, panel.max_tokens) == ("Answer in one word.", 0.7, 9)
    await _run(services, AskOptions("q?", panel="strict", temperature=0.0, max_tokens=20))
    ask = providers["beta"].requests[-1]
    assert (ask.temperature, ask.max_tokens) == (0.0, 20)


async def test_the_asks_own_system_prompt_wins_and_is_stored(make_services) -> None:  # type: ignore[no-untyped-def]
    # `drux ask --system` had no way through: the panel's or the model's prompt was used.
    providers = {"alpha": ScriptedProvider("alpha", [Reply("a")]),
                 "beta": ScriptedProvider("beta", [Reply("b")])}
    services = make_services(providers)
    events = await _run(services, AskOptions("q?", panel="strict", system="  Reply in French. "))
    assert providers["beta"].requests[-1].system == "Reply in French."
    assert providers["alpha"].requests[-1].system == "Reply in French."
    record = services.store.asks.get(events[0].ask_id)  # type: ignore[attr-defined]
    assert record.params["system"] == "Reply in French."


async def test_a_failed_scoring_stores_its_reason_as_the_explanation(
        make_services, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # `drux ask` printed the reason as its explanation line; `drux show` had none to print.
    import drux.services.ask

    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("judge fell over")

    monkeypatch.setattr(drux.services.ask, "ascore_answers", broken)
    providers = {"alpha": ScriptedProvider("alpha", [Reply("yes")]),
                 "beta": ScriptedProvider("beta", [Reply("no")])}
    services = make_services(providers)
    events = await _run(services, AskOptions("q?", models=["alpha", "beta"]))
    scored = next(e for e in events if isinstance(e, Scored))
    record = services.store.asks.get(events[0].ask_id)  # type: ignore[attr-defined]
    assert record.consensus.explanation == scored.explanation
    assert "judge fell over" in scored.explanation


def test_ask_ids_are_long_random_and_never_look_like_options() -> None:
    from drux.store.asks import new_ask_id

    ids = {new_ask_id() for _ in range(3000)}
    assert len(ids) == 3000
    assert all(len(i) >= 22 and i[0] not in "-_" for i in ids)


async def test_judge_backend_with_a_text_judge_synthesises_the_consensus(make_services) -> None:  # type: ignore[no-untyped-def]
    providers = {
        "alpha": ScriptedProvider("alpha", [Reply("Water boils at 100 degrees.")]),
        "beta": ScriptedProvider("beta", [Reply("It boils at 100 C at sea level.")]),
        # One pair to judge ("yes": they agree), then the synthesis of the agreeing group.
        "judgey": ScriptedProvider("judgey", [Reply("yes"), Reply("Water boils at 100 C.")]),
    }
    services = make_services(providers)
    events = await _run(services, AskOptions("When does water boil?", models=["alpha", "beta"],
                                             consensus_backend="judge", judge_model="judgey"))
    record = services.store.asks.get(events[0].ask_id)  # type: ignore[attr-defined]
    consensus = record.consensus
    assert consensus.backend == "judge"
    assert consensus.score is not None and consensus.score > 50
    assert consensus.consensus_kind == "synthesis"
    assert consensus.consensus_answer == "Water boils at 100 C."
    assert providers["judgey"].calls == 2


@pytest.mark.parametrize("backend", ["judge", "hybrid"])
async def test_an_unusable_judge_is_refused_before_any_model_is_asked(make_services, backend) -> None:  # type: ignore[no-untyped-def]
    # Issue 12, case 6: every model ran first, then "scoring failed" printed twice (exit 0).
    providers = {"alpha": ScriptedProvider("alpha", [Reply("a")]),
                 "beta": ScriptedProvider("beta", [Reply("b")])}
    services = make_services(providers)
    with pytest.raises(InputError, match=f"the {backend} backend needs judge model keyed, which "
                                         "is not usable: set OPENAI_API_KEY"):
        await _run(services, AskOptions("q?", models=["alpha", "beta"], consensus_backend=backend,
                                        judge_model="keyed"))
    assert providers["alpha"].calls == providers["beta"].calls == 0
    assert services.store.asks.count() == 0
    # The fast backend needs no judge: the same judge setting is not checked for usability.
    await _run(services, AskOptions("q?", models=["alpha", "beta"], judge_model="keyed"))
    assert providers["alpha"].calls == 1


async def test_a_truncated_answer_is_marked_and_judged_on_what_it_says(make_services) -> None:  # type: ignore[no-untyped-def]
    # Issue 12, case 5: an answer cut by the token limit was not marked, and its missing end
    # could read as disagreement.
    full = "The primary colors are red, blue and yellow. Mixing them gives every other hue."
    providers = {"alpha": ScriptedProvider("alpha", [Reply(full)]),
                 "beta": ScriptedProvider("beta", [Reply(
                     "The primary colors are red, blue and yellow. Mixing them gives", finish="length")])}
    services = make_services(providers)
    events = await _run(services, AskOptions("Name the primary colors.", models=["alpha", "beta"]))
    record = services.store.asks.get(events[0].ask_id)  # type: ignore[attr-defined]
    assert [a.truncated for a in record.answers] == [False, True]
    consensus = record.consensus
    assert consensus.truncated == ["beta"]
    assert consensus.score is not None and consensus.score >= 75 and not consensus.contradictions
    mixing = next(c for c in consensus.claims if c.text.startswith("Mixing them gives every"))
    assert mixing.supported_by == ["alpha"] and mixing.not_reached_by == ["beta"]
    assert not mixing.unique  # silence of a cut answer is no "only alpha says so"
