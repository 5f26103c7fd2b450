"""The Ask form's options (max tokens, temperature, rounds, synthesis), checked against
the server's limits.

Form fields arrive as text: an empty field means "the default", anything else must
be a number in range, or the form comes back with the question kept and one clear
error (never a bare 422 page).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from drux.deliberation import MAX_ROUNDS
from drux.errors import InputError
from drux.services.options import MAX_ANSWER_TOKENS, MaxTokens, Rounds
from drux.validation import MAX_TEMPERATURE, Temperature


class FormOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The ask's own limits; the server's page cap is checked after.
    max_tokens: MaxTokens | None = None
    temperature: Temperature | None = None
    rounds: Rounds = 1
    synthesize: bool = False

    @field_validator("max_tokens", "temperature", mode="before")
    @classmethod
    def _blank_is_the_default(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


def max_tokens_cap(server_max: int | None) -> int:
    """The most an ask from the pages may ask for: the server's setting, else the API's."""
    return min(server_max or MAX_ANSWER_TOKENS, MAX_ANSWER_TOKENS)


def form_options(max_tokens: str, temperature: str, server_max: int | None, *,
                 rounds: str = "1", synthesize: str | None = None) -> FormOptions:
    """The options as typed; a blank max tokens becomes the server's page default."""
    cap = max_tokens_cap(server_max)
    try:
        opts = FormOptions.model_validate({"max_tokens": max_tokens, "temperature": temperature,
                                           "rounds": rounds.strip() or 1,
                                           "synthesize": synthesize == "on"})
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        if field == "rounds":
            raise InputError(f"rounds must be a whole number from 1 to {MAX_ROUNDS}") from None
        if field == "max_tokens":
            raise InputError(f"max tokens must be a whole number from 1 to {cap}") from None
        raise InputError(f"temperature must be a number from 0 to {MAX_TEMPERATURE:g}") from None
    if opts.max_tokens is not None and opts.max_tokens > cap:
        raise InputError(f"max tokens must be a whole number from 1 to {cap}")
    if opts.max_tokens is None:
        opts.max_tokens = server_max
    return opts


def options_form(server_max: int | None, max_tokens: str = "",
                 temperature: str = "", rounds: str = "1",
                 synthesize: str | None = None) -> dict[str, Any]:
    """What ask.html needs to show the options (as typed, so an error keeps them)."""
    return {"max_tokens": max_tokens, "temperature": temperature,
            "max_tokens_cap": max_tokens_cap(server_max), "rounds": rounds,
            "max_rounds": MAX_ROUNDS, "synthesize": synthesize == "on"}
