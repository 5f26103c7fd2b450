"""The local provider's text handling that needs no model: stop strings and the few-shot prompt."""

from __future__ import annotations

import asyncio
import threading

from drux.providers.local import FEWSHOT_EXAMPLES, fewshot_prompt
from drux.providers.local.channel import End, TokenChannel
from drux.providers.local.stops import StopScanner
from drux.types import Usage

from waiting import PATIENCE_S


def _run(stops: list[str], pieces: list[str], strip: bool = False) -> tuple[list[str], bool, str]:
    scanner = StopScanner(stops, strip_leading=strip)
    out: list[str] = []
    for piece in pieces:
        text, hit = scanner.feed(piece)
        out.append(text)
        if hit:
            return out, True, ""
    return out, False, scanner.rest()


def test_stop_split_across_pieces_is_never_shown() -> None:
    out, hit, _ = _run(["\nQ:"], [" Paris", ".\n", "Q", ": next"])
    assert hit
    assert "".join(out) == " Paris."
    assert out[1] == "."  # the newline is held back until it is known not to start a stop


def test_held_text_is_released_when_it_is_not_a_stop() -> None:
    out, hit, rest = _run(["\nQ:"], ["a\n", "b", "\n"])
    assert not hit
    assert out == ["a", "\nb", ""]
    assert rest == "\n"


def test_earliest_of_several_stops_wins() -> None:
    out, hit, _ = _run(["END", "\n\n"], ["one\n\ntwo END"])
    assert hit and out == ["one"]


def test_no_stops_passes_everything_through() -> None:
    out, hit, rest = _run([], ["a", "b\n"])
    assert out == ["a", "b\n"] and not hit and rest == ""


def test_leading_whitespace_is_stripped_once() -> None:
    out, _, _ = _run([], [" ", "  Paris", " is"], strip=True)
    assert out == ["", "Paris", " is"]


def test_fewshot_prompt_shape() -> None:
    prompt = fewshot_prompt([{"role": "user", "content": "  Who painted the Mona Lisa?\n"}])
    assert prompt.endswith("Q: Who painted the Mona Lisa?\nA:")
    for question, answer in FEWSHOT_EXAMPLES:
        assert f"Q: {question}\nA: {answer}\n\n" in prompt


def test_fewshot_prompt_uses_system_and_history() -> None:
    prompt = fewshot_prompt([
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "First?"},
        {"role": "assistant", "content": "One."},
        {"role": "user", "content": "Second?"},
    ])
    assert prompt.startswith("Answer in one word.\n")
    assert prompt.endswith("Q: First?\nA: One.\n\nQ: Second?\nA:")


async def test_channel_hands_over_batches_and_the_end_at_once() -> None:
    channel = TokenChannel(asyncio.get_running_loop(), interval=3600.0)
    channel.put_text("first")  # the first text wakes the loop at once

    def worker() -> None:
        for piece in ("a", "b", "c"):  # inside the interval: queued, no wake-up
            channel.put_text(piece)

    assert await channel.get() == ("first", None)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    # Every wake-up of the loop is sent from the thread and marked pending until taken:
    # queued text inside the interval must not have sent one.
    assert not channel._wake_pending, "queued text inside the interval must not wake the loop"
    waiting = asyncio.ensure_future(channel.get())
    channel.put_end(End("stop", Usage(3, 4)))
    text, end = await asyncio.wait_for(waiting, PATIENCE_S)
    assert text == "abc"
    assert isinstance(end, End) and end.usage.output_tokens == 4
