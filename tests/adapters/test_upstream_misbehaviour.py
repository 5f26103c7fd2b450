"""Upstream vendors that misbehave (odd waits, wrong shapes, errors sent with a 200),
through each real SDK and the gateway's lean client: each ends as a typed drux
error or a correct answer, never a raw exception."""

from __future__ import annotations

import pytest
from adapter_kit import PROTOCOLS, MakeProvider, ask

from drux.errors import RateLimitError
from drux.gateway.errors import from_drux

from fakes import Fail, FakeServer

# "1e400" and a 400-digit number are read by float() as infinity.
ENDLESS_WAITS = ["inf", "nan", "1e400", "9" * 400]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("wait", ENDLESS_WAITS, ids=["inf", "nan", "1e400", "400-digits"])
async def test_a_retry_after_that_is_not_a_finite_number_is_no_wait(
    protocol: str, wait: str, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    # It was kept as inf/nan: the gateway's Retry-After header (int(inf)) then failed
    # with a 500, and a NaN wait compared false with every limit.
    if protocol == "gemini" and not wait.isdigit():
        pytest.skip("Gemini's RetryInfo delay is digits only")
    fake_llm.default = Fail("rate_limit", retry_after=wait)
    with pytest.raises(RateLimitError) as info:
        await make_provider(protocol).complete(ask())
    assert info.value.retry_after is None and info.value.retryable
    assert from_drux(info.value).status == 429
