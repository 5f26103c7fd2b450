"""``AskOptions``: what one ask may set, and the limits of each value.

The limits are written here once. The CLI builds ``AskOptions`` from its flags,
the web pages from their form, and the JSON API's ``AskCreate`` declares its fields
with the same types, so its 422s and its OpenAPI schema carry the same bounds.

A refused value raises ``InvalidFieldError`` naming the field (``max_tokens must be
between 1 and 8192``); each shell spells the field its own way (``--max-tokens``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic.dataclasses import dataclass
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from drux.deliberation import MAX_ROUNDS
from drux.records import AskSource
from drux.validation import Temperature, Unit, field_error

MAX_QUESTION_CHARS = 8000
MAX_CONTEXT_CHARS = 12000
MAX_SYSTEM_CHARS = 4000
MAX_ANSWER_TOKENS = 8192
MAX_TIMEOUT_S = 3600

# The question is stored and asked without surrounding blanks; blanks alone are empty.
Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                            max_length=MAX_QUESTION_CHARS)]
Context = Annotated[str, Field(max_length=MAX_CONTEXT_CHARS)]
# One ask's own system prompt (wins over the panel's and the model's); blanks alone are empty.
SystemPrompt = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                max_length=MAX_SYSTEM_CHARS)]
MaxTokens = Annotated[int, Field(ge=1, le=MAX_ANSWER_TOKENS)]
Timeout = Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S), Unit("seconds")]
Backend = Literal["cross", "fast", "judge", "hybrid"]
# Deliberation rounds: each is a whole panel run, so a few at most (``drux.deliberation``).
Rounds = Annotated[int, Field(ge=1, le=MAX_ROUNDS)]


@dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class AskOptions:
    """One ask's settings; ``None`` leaves a setting to the panel, the model or the defaults."""

    question: Question
    models: list[str] | None = None
    panel: str | None = None
    max_tokens: MaxTokens | None = None
    timeout: Timeout | None = None
    temperature: Temperature | None = None
    context: Context | None = None
    system: SystemPrompt | None = None
    article_id: str | None = None
    source: AskSource = AskSource.CLI
    consensus_backend: Backend = "fast"
    judge_model: str | None = None
    # The web account asking (None: the CLI, or a web app with no accounts) and whether
    # others may read the ask (the Hub's FAQ answers are everyone's).
    owner_id: int | None = None
    shared: bool = False
    # A follow-up: the ask (or thread) id, or a unique prefix, whose thread this ask
    # continues; its models are the thread's (services.threads).
    continue_from: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                    max_length=200)] | None = None
    # Round 2 and later: each model sees the others' answers (anonymised) and answers again.
    rounds: Rounds = 1
    # One model writes one answer from the panel's (never a vote); ``synthesizer`` picks the
    # model and implies ``synthesize`` (None: the default chairman, services.synthesis).
    synthesize: bool = False
    synthesizer: str | None = None

    @property
    def wants_synthesis(self) -> bool:
        return self.synthesize or self.synthesizer is not None

    @model_validator(mode="wrap")
    @classmethod
    def _one_line(cls, values: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # Every shell builds these from user input: the first problem, named, in one line
        # (an InputError, so the CLI and the web already report it), never pydantic's report.
        try:
            return handler(values)
        except ValidationError as exc:
            # Not ``cls``: slots=True builds a new class, and ``cls`` is the first one,
            # which has no fields to read the bounds from.
            raise field_error(exc, AskOptions) from None
