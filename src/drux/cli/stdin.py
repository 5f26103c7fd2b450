"""Text piped into a command (``cat notes.md | drux ask "Summarise this"``).

Only a pipe or a file is read. A terminal never is (that would wait for typing), nor is
a character device such as ``/dev/null`` (cron, CI runners, ``< /dev/null``).
"""

from __future__ import annotations

import os
import stat
import sys

from drux.errors import InputError


def stdin_is_piped() -> bool:
    """True when stdin is a pipe or a regular file, or a stream with no descriptor that
    is not a terminal (an embedding program's or a test runner's)."""
    stream = sys.stdin
    if stream is None or stream.closed:
        return False
    try:
        if stream.isatty():
            return False
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError):  # no descriptor of its own (io.UnsupportedOperation is both)
        return True
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def piped_text() -> str | None:
    """What was piped in, decoded as UTF-8; None when stdin is not piped.

    Reading stops a little past the longest text an ask takes (as bytes: up to 4 per
    character), so a huge file is refused by its length without being read whole.
    """
    if not stdin_is_piped():
        return None
    from drux.services.options import MAX_CONTEXT_CHARS, MAX_QUESTION_CHARS

    cap = 4 * max(MAX_CONTEXT_CHARS, MAX_QUESTION_CHARS)
    stream = sys.stdin
    raw = stream.buffer.read(cap + 1) if hasattr(stream, "buffer") else stream.read(cap + 1)
    if isinstance(raw, str):
        return raw
    if len(raw) > cap:  # over every limit whatever the bytes: the length check words it
        return raw.decode("utf-8", errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the text piped in is not valid UTF-8") from None
