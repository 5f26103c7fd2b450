"""Masking the API key a server echoed back: error messages are stored, printed and served."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import TypeVar
from urllib.parse import quote, quote_plus

from drux.errors import ProviderError

E = TypeVar("E", bound="ProviderError | None")


def without_secret(error: E, secret: str | None) -> E:
    """``error`` with ``secret`` (the API key sent) masked: some servers echo the key back in
    their error bodies, and error messages are stored, printed and served."""
    if error is None or not secret or len(secret) < 8:
        return error
    message = mask_secret(error.message, secret)
    if message != error.message:
        error.message = message
        error.args = (error.message,)
    if error.body is not None:
        # repr doubles the backslash of a JSON "\\/" left in the body: compare without them too.
        shown = (repr(error.body), str(error.body), repr(error.body).replace("\\", ""))
        if any(form in text for form in secret_forms(secret) for text in shown):
            error.body = None
    return error


def secret_forms(secret: str) -> list[str]:
    """``secret`` as a server may echo it: as sent, URL-encoded (``%2F``, ``%2f`` or ``+``
    for a space) or JSON-escaped (``\\/`` too); longest first."""
    return list(_forms(secret))


# Every answer's text is masked with its adapter's key: the forms are worked out once per key
# (a handful of keys per process), not on every call.
@lru_cache(maxsize=64)
def _forms(secret: str) -> tuple[str, ...]:
    url = quote(secret, safe="")
    escaped = json.dumps(secret)[1:-1]
    forms = {secret, url, quote_plus(secret, safe=""), escaped, escaped.replace("/", "\\/"),
             re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), url)}
    return tuple(sorted(forms, key=len, reverse=True))


def mask_secret(text: str, secret: str | None) -> str:
    """``text`` with every form of ``secret`` replaced by ``***``; keys shorter than 8
    characters are not masked (they would mask ordinary words)."""
    if not secret or len(secret) < 8:
        return text
    forms = _forms(secret)
    for form in forms:
        text = text.replace(form, "***")
    if text.endswith("…"):
        # ``short`` may have cut the echoed key in half: mask a trailing piece of it too.
        body = text[:-1]
        for form in forms:
            for size in range(len(form) - 1, 7, -1):
                if body.endswith(form[:size]):
                    return body[:-size] + "***…"
    return text


class StreamMasker:
    """Masks a secret in streamed text. A tail that could be the start of the secret is held
    back until the next piece shows whether it is, so a key split across two chunks is
    masked whole; held text is released with the stream's last chunk."""

    def __init__(self, secret: str | None) -> None:
        self._forms = secret_forms(secret) if secret and len(secret) >= 8 else []
        self._held = ""

    def feed(self, text: str) -> str:
        if not self._forms:
            return text
        text = self._held + text
        for form in self._forms:
            text = text.replace(form, "***")
        keep = self._held_back(text)
        self._held = text[len(text) - keep:] if keep else ""
        return text[:len(text) - keep]

    def _held_back(self, text: str) -> int:
        """The length of the longest tail of ``text``, shorter than the longest form, that
        begins a form. Only the places where a form's first character occurs are tried
        (``str.find``), not every length with every form: this runs on every chunk."""
        start = max(0, len(text) - len(self._forms[0]) + 1)
        best = 0
        for form in self._forms:
            at = text.find(form[0], start)
            while at != -1 and len(text) - at > best:  # earlier places: longer tails
                if form.startswith(text[at:]):
                    best = len(text) - at
                    break
                at = text.find(form[0], at + 1)
        return best

    def flush(self) -> str:
        """The held tail: masked if it is a long enough piece of the secret to matter."""
        rest, self._held = self._held, ""
        return "***" if len(rest) >= 8 else rest
