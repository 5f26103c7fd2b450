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

The policies are frozen pydantic dataclasses: checked once when built (a bad value
is a one-line ``ConfigError`` naming the table and key), then read as plain
attributes on the hot paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from drux.routing.breaker import BreakerPolicy
from drux.routing.hedge import HedgePolicy
from drux.routing.retry import RetryPolicy
from drux.validation import Count, Flag, Seconds, config_error


@dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class RoutingPolicy:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    hedge: HedgePolicy = field(default_factory=HedgePolicy)
    deadline: Seconds = 120.0  # whole routed call, when the request has no timeout
    # Silence between chunks after the first one that counts as a broken stream.
    stream_idle_timeout: Seconds | None = 60.0
    # Cap on one attempt's wait for its answer or first token (hang before headers).
    attempt_timeout: Seconds | None = None
    context_fallback: Flag = True
    fallback_on_bad_request: Flag = False
    use_equivalents: Flag = True  # equivalents come before fallbacks in the chain
    max_chain: Count = 4

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutingPolicy:
        """Build from a ``[routing]`` table; a bad or unknown key is a ``ConfigError``."""
        try:
            return _ROUTING.validate_python(data)
        except ValidationError as exc:
            raise config_error(exc, cls, "routing") from None


_ROUTING = TypeAdapter(RoutingPolicy)
