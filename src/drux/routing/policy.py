"""``RoutingPolicy``: every routing knob in one small value, with sensible defaults.

``RoutingPolicy.from_dict`` reads the shape a ``[routing]`` table in drux.toml
would have::

    [routing]
    deadline = 120
    max_chain = 4
    [routing.retry]
    max_attempts = 2
    [routing.breaker]
    cooldown = 15
    [routing.hedge]
    enabled = true
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from drux.errors import ConfigError
from drux.routing.breaker import BreakerPolicy
from drux.routing.hedge import HedgePolicy
from drux.routing.retry import RetryPolicy


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    hedge: HedgePolicy = field(default_factory=HedgePolicy)
    deadline: float = 120.0  # whole routed call, when the request has no timeout
    # Silence between chunks after the first one that counts as a broken stream.
    stream_idle_timeout: float | None = 60.0
    # Cap on one attempt's wait for its answer or first token (hang before headers).
    attempt_timeout: float | None = None
    context_fallback: bool = True
    fallback_on_bad_request: bool = False
    use_equivalents: bool = True  # equivalents come before fallbacks in the chain
    max_chain: int = 4

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoutingPolicy:
        """Build from a ``[routing]`` table; unknown keys are a ``ConfigError``."""
        nested = {"retry": RetryPolicy, "breaker": BreakerPolicy, "hedge": HedgePolicy}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in nested:
                if not isinstance(value, dict):
                    raise ConfigError(f"[routing.{key}] must be a table")
                kwargs[key] = _build(nested[key], value, f"routing.{key}")
            else:
                kwargs[key] = value
        return _build(cls, kwargs, "routing")


def _build(kind: Any, values: dict[str, Any], where: str) -> Any:
    known = {f.name for f in fields(kind)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"[{where}] unknown keys: {', '.join(sorted(unknown))}")
    types = {f.name: str(f.type) for f in fields(kind)}
    for key, value in values.items():
        if key not in ("retry", "breaker", "hedge"):
            _check_value(where, key, types[key], value)
    try:
        return kind(**values)
    except TypeError as exc:
        raise ConfigError(f"[{where}] {exc}") from None


_FRACTIONS = {"failure_rate", "quantile"}
_MAY_BE_ZERO = {"min_calls", "min_samples"}


def _check_value(where: str, key: str, annotation: str, value: Any) -> None:
    """Booleans are true/false; counts whole numbers >= 1; times and rates numbers >= 0."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if annotation == "bool":
        ok, want = isinstance(value, bool), "true or false"
    elif annotation == "int":
        low = 0 if key in _MAY_BE_ZERO else 1
        ok, want = number and isinstance(value, int) and value >= low, f"a whole number >= {low}"
    elif key in _FRACTIONS:
        ok, want = number and 0 < value <= 1, "a number above 0 and at most 1"
    else:
        ok, want = number and 0 <= value < float("inf"), "a number of at least 0"
    if not ok:
        raise ConfigError(f"[{where}] {key} must be {want}")
