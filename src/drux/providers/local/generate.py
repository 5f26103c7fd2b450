"""One generation: the prompt, then the token loop in the worker thread.

Chat models are prompted with the chat template stored in their GGUF file;
base models (``template="fewshot"``) with a short "Q: … A: …" few-shot prompt
that stops at the next question or blank line. A prompt that does not fit the
window raises ``ContextWindowExceededError`` before anything is generated.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass

from drux.errors import ContextWindowExceededError, DruxError
from drux.providers.local.channel import End, TokenChannel
from drux.providers.local.pool import LoadedModel
from drux.providers.local.stops import StopScanner
from drux.types import Usage

_RANDOM_SEED = 0xFFFFFFFF  # llama.cpp's "pick a random seed"

FEWSHOT_INSTRUCTION = "Answer each question with a short, factual answer."
FEWSHOT_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("What is the capital of France?", "Paris."),
    ("How many legs does a spider have?", "Eight."),
    ("Who wrote the play Romeo and Juliet?", "William Shakespeare."),
)
FEWSHOT_STOPS = ("\nQ:", "\n\n")


def fewshot_prompt(messages: list[dict[str, str]]) -> str:
    """A plain-completion prompt for base models: instruction, examples, then the dialogue."""
    system = "\n\n".join(m["content"].strip() for m in messages if m["role"] == "system")
    lines = [system or FEWSHOT_INSTRUCTION, ""]
    for question, answer in FEWSHOT_EXAMPLES:
        lines += [f"Q: {question}", f"A: {answer}", ""]
    for message in messages:
        if message["role"] == "user":
            lines.append(f"Q: {message['content'].strip()}")
        elif message["role"] == "assistant":
            lines += [f"A: {message['content'].strip()}", ""]
    lines.append("A:")
    return "\n".join(lines)


@dataclass(slots=True)
class Plan:
    """Everything one generation needs, decided on the event loop before the thread starts."""

    messages: list[dict[str, str]]
    fewshot: bool
    temperature: float
    top_p: float
    max_tokens: int
    stop: list[str]
    seed: int | None


def generate(model: LoadedModel, plan: Plan, channel: TokenChannel,
             error: Callable[..., DruxError]) -> End:
    """The token loop. Runs in the worker thread with ``model.lock`` held."""
    if plan.fewshot:
        tokens, stops = model.text_prompt(fewshot_prompt(plan.messages)), list(FEWSHOT_STOPS)
    else:
        tokens, stops = model.chat_prompt(plan.messages)
    if len(tokens) >= model.n_ctx:
        raise error(ContextWindowExceededError,
                    f"the prompt is {len(tokens)} tokens; this model's window here is {model.n_ctx}. "
                    "Shorten the question")
    llm = model.llm
    # Start from an empty KV cache: reusing a cached prefix changes how the prompt is batched,
    # which moves logits slightly, so the same request and seed could give another answer.
    llm.reset()
    llm.set_seed(plan.seed if plan.seed is not None else _RANDOM_SEED)
    budget = min(plan.max_tokens, model.n_ctx - len(tokens))
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    scanner = StopScanner(plan.stop + stops, strip_leading=plan.fewshot)
    produced, finish = 0, "length"
    tokens_out = llm.generate(tokens, temp=plan.temperature, top_p=plan.top_p, top_k=40, min_p=0.05,
                              repeat_penalty=1.0)
    try:
        for token in tokens_out:
            if channel.stopped.is_set():
                finish = "cancelled"
                break
            if model.is_end(token):
                finish = "stop"
                break
            produced += 1
            text, hit = scanner.feed(decoder.decode(llm.detokenize([token])))
            if text:
                channel.put_text(text)
            if hit:
                return End("stop", Usage(len(tokens), produced))
            if produced >= budget:
                break
    finally:
        tokens_out.close()
    tail = scanner.feed(decoder.decode(b"", final=True))[0] + scanner.rest()
    if tail:
        channel.put_text(tail)
    return End(finish, Usage(len(tokens), produced))
