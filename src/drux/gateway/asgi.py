"""The ASGI interface the gateway is written against (no framework on the hot path)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# A scope extension of ``drux gateway``'s server (gateway/serving.py), absent elsewhere:
# ``scope["extensions"][ON_DISCONNECT](callback)`` has ``callback()`` called when the client
# disconnects before the response is complete (soon, if it already has), until the
# ``cancel()`` of what it returns. Cheaper than a task waiting on ``receive()`` per call.
ON_DISCONNECT = "drux.on_disconnect"


class Cancellable(Protocol):
    def cancel(self) -> Any: ...
