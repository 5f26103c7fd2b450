"""One line from a pydantic ``ValidationError``: which field, and what it must be.

drux checks outside input with pydantic models (``extra="forbid"``): the drux.toml
tables, the ``[routing]`` policy and the ask options. ``first_problem`` turns the
first error into a ``Problem`` worded from the field's own type and bounds, so a
limit is written once, on the model, and the message follows it. Each shell then
spells the field its way: ``[models.x] max_tokens must be ...`` (drux.toml),
``--max-tokens must be ...`` (the CLI), ``max_tokens`` (the JSON API).

The refused value is never quoted: it may be an API key.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import Field, Strict, ValidationError
from pydantic.fields import FieldInfo

from drux.errors import ConfigError, InvalidFieldError


@dataclass(frozen=True, slots=True)
class Unit:
    """What a number or a list counts (``tokens``, ``seconds``, ``model names``); it only
    words the message."""

    name: str


@dataclass(frozen=True, slots=True)
class Problem:
    table: tuple[str, ...]  # nested tables under the one validated, e.g. ("retry",)
    field: str  # "" when the table itself is wrong
    text: str  # "must be a whole number of at least 1", "is empty", "unknown keys: a, b"

    def toml(self, where: str) -> str:
        """The drux.toml spelling: ``[where.table] field text``."""
        head = ".".join((where, *self.table))
        return f"[{head}] {self.field} {self.text}" if self.field else f"[{head}] {self.text}"


# Value kinds of drux.toml and [routing]: TOML has real types, so "3" is no number and
# 1 is no boolean (strict), while 30 is a fine number of seconds.
Flag = Annotated[bool, Strict()]
Text = Annotated[str, Strict()]
Count = Annotated[int, Strict(), Field(ge=1)]  # a whole number of at least 1
CountFromZero = Annotated[int, Strict(), Field(ge=0)]
Seconds = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, Strict(), Field(gt=0, le=1)]
Price = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]  # USD per million tokens
# Shared with the ask options, which are not strict (JSON and the CLI bring their own types).
MAX_TEMPERATURE = 2.0
Temperature = Annotated[float, Field(ge=0, le=MAX_TEMPERATURE)]
Names = Annotated[list[Text], Unit("model names")]

_UNKNOWN = {"extra_forbidden", "unexpected_keyword_argument"}
_RANGE = {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number"}
_TABLE = {"model_type", "model_attributes_type", "dataclass_type", "dataclass_args_type",
          "dict_type"}


def config_error(exc: ValidationError, model: type, where: str) -> ConfigError:
    """``[where.table] field must be ...``: one line naming the drux.toml table and key."""
    return ConfigError(first_problem(exc, model).toml(where))


def field_error(exc: ValidationError, model: type) -> InvalidFieldError:
    """An input error naming the field; shells spell the field as they call it."""
    problem = first_problem(exc, model)
    return InvalidFieldError(".".join((*problem.table, problem.field)).strip("."), problem.text)


def first_problem(exc: ValidationError | Sequence[Mapping[str, Any]], model: type) -> Problem:
    """Unknown keys first (all of them, as a typo is the likely cause), else the first error.

    ``exc`` may also be the error list itself (FastAPI hands its handlers only that)."""
    errors = exc.errors(include_url=False) if isinstance(exc, ValidationError) else exc
    unknown = [e for e in errors if e["type"] in _UNKNOWN]
    if unknown:
        table, _, _ = _locate(model, unknown[0]["loc"][:-1])
        names = sorted({str(e["loc"][-1]) for e in unknown
                        if _locate(model, e["loc"][:-1])[0] == table})
        return Problem(table, "", f"unknown keys: {', '.join(names)}")
    error = errors[0]
    table, field, info = _locate(model, error["loc"])
    if not field and error["type"] in _TABLE:
        return Problem(table, "", "must be a table")
    return Problem(table, field, _text(error, info))


def _fields(kind: Any) -> dict[str, FieldInfo] | None:
    # Models and pydantic dataclasses both keep their fields here.
    fields = getattr(kind, "__pydantic_fields__", None)
    return fields if isinstance(fields, dict) else None


def _locate(model: type, loc: tuple[int | str, ...]) -> tuple[tuple[str, ...], str,
                                                               FieldInfo | None]:
    """The nested tables, the field and its ``FieldInfo`` that an error location points at."""
    table: list[str] = []
    fields = _fields(model)
    for n, part in enumerate(loc):
        info = fields.get(str(part)) if fields is not None else None
        if info is None:
            return tuple(table), str(part), None
        nested = _fields(info.annotation)
        if nested is None:
            return tuple(table), str(part), info
        table.append(str(part))
        if n == len(loc) - 1:  # the nested table itself is wrong
            return tuple(table), "", info
        fields = nested
    return tuple(table), "", None


def _text(error: Any, info: FieldInfo | None) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "value_error":  # our own validators word it: "must be a URL ..."
        return str(ctx.get("error", error["msg"]))
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "is empty"
    if kind == "string_too_long":
        return f"has {len(error['input'])} characters; the limit is {ctx['max_length']}"
    if kind == "too_long":
        return f"has {ctx['actual_length']} items; the limit is {ctx['max_length']}"
    if info is None:
        return f"is not valid: {error['msg']}"
    if kind == "missing":
        return f"is required ({_want(info)})"
    return "must be " + _want(info, in_range_only=kind in _RANGE)


def _want(info: FieldInfo, *, in_range_only: bool = False) -> str:
    """What the field takes, from its type and bounds: "true or false", "a number between ..."."""
    kind, metadata = _shape(info)
    unit = next((m.name for m in metadata if isinstance(m, Unit)), None)
    if kind is bool:
        return "true or false"
    if get_origin(kind) is Literal:
        return _either([str(v) for v in get_args(kind)])
    if kind is int or kind is float:
        return _number(metadata, "a whole number" if kind is int else "a number", unit,
                       in_range_only)
    if kind is list or get_origin(kind) in (list, tuple):
        non_empty = any(isinstance(m, at.MinLen) and m.min_length > 0 for m in metadata)
        return f"a {'non-empty ' if non_empty else ''}list of {unit or 'strings'}"
    if kind is str:
        return "a string"
    return f"a {getattr(kind, '__name__', 'valid value')}"


def _number(metadata: list[Any], base: str, unit: str | None, in_range_only: bool) -> str:
    low: Any = None
    high: Any = None
    above = False
    for m in metadata:
        if isinstance(m, at.Ge):
            low = m.ge
        elif isinstance(m, at.Gt):
            low, above = m.gt, True
        elif isinstance(m, at.Le):
            high = m.le
    head = f"{base} of {unit}" if unit else base
    if high is None:  # one bound: the kind is always said ("a whole number of at least 1")
        if low is None:
            return head
        bound = f"{'above' if above else 'at least'} {_num(low)}"
        if unit:
            return f"{head}, {bound}"  # "a whole number of tokens, at least 256"
        return f"{head} {bound}" if above else f"{head} of {bound}"  # "a number of at least 0"
    span = (f"above {_num(low)} and at most {_num(high)}" if above
            else f"between {_num(low)} and {_num(high)}" if low is not None
            else f"at most {_num(high)}")
    if unit:
        span = f"{span} {unit}"
    # A number of the right kind out of range is told the range ("--max-tokens must be
    # between 1 and 8192"); a value of the wrong kind is told the kind too.
    return span if in_range_only else f"{base} {span}"


def _num(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _shape(info: FieldInfo) -> tuple[Any, list[Any]]:
    """The field's type without ``| None`` and ``Annotated``, and every bound found on the way
    (those of an optional field sit inside its annotation, not on the ``FieldInfo``)."""
    kind, metadata = info.annotation, list(info.metadata)
    while True:
        if get_origin(kind) is Annotated:
            kind, *extra = get_args(kind)
            for m in extra:
                metadata.extend(m.metadata if isinstance(m, FieldInfo) else [m])
        elif get_origin(kind) in (Union, types.UnionType):
            args = [a for a in get_args(kind) if a is not type(None)]
            if len(args) != 1:
                return kind, metadata
            kind = args[0]
        else:
            return kind, metadata


def _either(values: list[str]) -> str:
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"
