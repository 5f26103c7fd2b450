"""Pytest fixtures for the fakes; import them into a conftest to use them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import FakeServer


@pytest.fixture
def fake_llm() -> Iterator[FakeServer]:
    """A fresh fake vendor server on 127.0.0.1 for one test."""
    with FakeServer() as server:
        yield server
