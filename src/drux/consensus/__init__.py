"""The consensus engine: how much do the answers agree, on what, and where do they clash.

    from drux.consensus import score_answers
    result = score_answers(question, {"m1": "...", "m2": "..."}, {"m1": "qwen", "m2": "gemma"})
    result.score, result.verdict, result.explanation(), result.to_dict()
"""

from drux.consensus.backends import AgreementBackend, FastBackend, JudgeBackend, PairJudgment
from drux.consensus.claims import Claim
from drux.consensus.engine import BACKENDS, ascore_answers, build_judge, score_answers
from drux.consensus.result import ConsensusResult, Contradiction

__all__ = [
    "BACKENDS",
    "AgreementBackend",
    "Claim",
    "ConsensusResult",
    "Contradiction",
    "FastBackend",
    "JudgeBackend",
    "PairJudgment",
    "ascore_answers",
    "build_judge",
    "score_answers",
]
