"""The judge model for the judge/hybrid consensus backends.

A local llama.cpp model judges by log-probabilities of its first answer token
(graded, cheap); any other configured model (a cloud model, say) judges as a
text provider with constrained output. The judge is unrouted: a substitute
judge would silently change what the score means.
"""

from __future__ import annotations

from drux.consensus.backends import AgreementBackend, TextJudge
from drux.consensus.engine import build_judge
from drux.errors import InputError
from drux.services import Services

DEFAULT_JUDGE = "qwen2.5-1.5b"


async def make_judge(services: Services, model_id: str | None = None) -> AgreementBackend | TextJudge:
    model_id = model_id or DEFAULT_JUDGE
    spec = services.config.catalog.model(model_id)
    usable, reason = services.readiness(spec)
    if not usable:
        raise InputError(f"judge model {model_id} is not usable: {reason}")
    return await build_judge(services.unrouted_provider(spec))
