"""One warning when something starts failing, one line when it works again.

Background work that retries on its own (the gateway's usage writes and key reloads, the
heartbeats) would otherwise log the same failure on every try: a database down for ten
minutes filled the log with a line a second. Requests still log their own 503s.
"""

from __future__ import annotations

import logging


class OutageLog:
    """``failing``: what is not happening ("gateway usage not recorded yet"); ``back``: the
    line once it happens again."""

    def __init__(self, logger: logging.Logger, failing: str, back: str) -> None:
        self._log = logger
        self._failing = failing
        self._back = back
        self.failing = False

    def failed(self, err: BaseException, detail: str = "") -> None:
        if not self.failing:
            extra = f" ({detail})" if detail else ""
            self._log.warning("%s%s: %s; retrying until it works", self._failing, extra, err)
        self.failing = True

    def worked(self) -> None:
        if self.failing:
            self._log.warning("%s", self._back)
        self.failing = False
