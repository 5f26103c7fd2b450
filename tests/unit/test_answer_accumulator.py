"""One accumulator folds a stream into an answer, for collect(), the panel, the ask and the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator

from drux.panel import Token
from drux.types import AnswerAccumulator, Chunk, Usage, collect


def test_a_restart_drops_the_text_so_far_and_marks_the_answer_recovered() -> None:
    answer = AnswerAccumulator()
    shown = answer.parts  # what a live view holds on to
    answer.add(Chunk("broken ", deployment="a:x"))
    answer.add(Chunk("Paris", restart=True, deployment="b:y", substituted_for="x",
                     answered_by="y"))
    answer.add(Chunk(".", finish_reason="stop", usage=Usage(3, 2)))
    assert answer.text == "Paris." and "".join(shown) == "Paris."
    done = answer.completion("x", deployment="fallback")
    assert (done.text, done.deployment, done.finish_reason) == ("Paris.", "b:y", "stop")
    assert (done.substituted_for, done.answered_by, done.recovered) == ("x", "y", True)
    assert done.usage == Usage(3, 2)


def test_panel_tokens_fold_like_chunks_and_defaults_stand_in() -> None:
    answer = AnswerAccumulator()
    answer.add(Token("m", "half"))
    answer.add(Token("m", "", restart=True))
    answer.add(Token("m", "whole"))
    done = answer.completion("m", deployment="ollama", usage=Usage(output_tokens=1))
    assert (done.text, done.deployment, done.usage, done.finish_reason) == (
        "whole", "ollama", Usage(output_tokens=1), None)


async def test_collect_folds_a_stream() -> None:
    async def stream() -> AsyncIterator[Chunk]:
        yield Chunk("a")
        yield Chunk("b", restart=True)
        yield Chunk("c", finish_reason="length")

    done = await collect(stream(), model="m", deployment="d")
    assert (done.text, done.deployment, done.finish_reason, done.recovered) == (
        "bc", "d", "length", True)
    assert done.usage == Usage()
