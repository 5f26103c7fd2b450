"""Score a panel's answers: pairwise judgments -> clusters -> score, claims, contradictions."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import unicodedata
from collections.abc import Awaitable, Callable
from itertools import combinations

import numpy as np

from drux.consensus import clustering, score
from drux.consensus.backends import (
    JUDGE_PROMPT,
    AgreementBackend,
    CrossBackend,
    FastBackend,
    HybridBackend,
    Judge,
    JudgeBackend,
    PairJudge,
    PairJudgment,
    TextJudge,
)
from drux.consensus.calibrate import load_calibration
from drux.consensus.claims import Claim, build_claims
from drux.consensus.cut import judge_cut_pairs, said_text
from drux.consensus.judge_local import ModelLoader, local_logprob_judge
from drux.consensus.result import ConsensusResult, Contradiction, Position, gist
from drux.errors import DruxError, InputError
from drux.types import ChatRequest, Completion, Message
from drux.verdicts import has_consensus

BACKENDS = ("cross", "fast", "judge", "hybrid")
DEFAULT_BACKEND = "fast"
NEEDS_JUDGE = ("judge", "hybrid")


@functools.cache
def fast_backend() -> FastBackend:
    """One fast backend per process (its embedder and judgment cache are shared)."""
    return FastBackend()


@functools.cache
def cross_backend() -> CrossBackend:
    """One cross-encoder backend per process (on the fast backend's reading of answers)."""
    return CrossBackend(fast_backend())


async def build_judge(provider: ModelLoader | TextJudge) -> AgreementBackend | TextJudge:
    """The best judge a provider allows: graded log-odds when its model can be loaded
    in this process (a ``ModelLoader``, as local models are), else the provider itself
    as a text judge (one-word replies through ``ascore_answers``)."""
    if isinstance(provider, ModelLoader):
        return await local_logprob_judge(provider)
    return provider


def not_scored(reason: str, backend: str, families: dict[str, str]) -> ConsensusResult:
    return ConsensusResult(score=None, verdict="n/a", backend=backend, reason=reason,
                           families=dict(families))


def _kinds(reasons: list[str]) -> list[str]:
    kinds = [r.split(":", 1)[0] for r in reasons if r]
    return list(dict.fromkeys(kinds)) or ["meaning"]


def make_backend(backend: str, judge: Judge | None) -> AgreementBackend:
    if backend == "cross":
        return cross_backend()
    if backend == "fast":
        return fast_backend()
    if backend in ("judge", "hybrid"):
        if judge is None:
            raise InputError(f"the {backend} backend needs a judge model (configure one, or use --backend fast)")
        llm = judge_backend(judge)
        return llm if backend == "judge" else HybridBackend(fast_backend(), llm)
    raise InputError(f"unknown consensus backend {backend!r}; choose from {', '.join(BACKENDS)}")


def judge_backend(judge: Judge) -> AgreementBackend:
    """The agreement backend a judge stands for."""
    if isinstance(judge, TextJudge):
        return JudgeBackend(sync_provider_judge(judge))
    if isinstance(judge, AgreementBackend):
        return judge  # ready: a LogprobJudge, a JudgeBackend
    return JudgeBackend(judge)


def judge_request(question: str, a: str, b: str) -> ChatRequest:
    prompt = JUDGE_PROMPT.format(question=question, a=a, b=b)
    return ChatRequest(messages=[Message("user", prompt)], temperature=0.0, max_tokens=3)


def sync_provider_judge(provider: TextJudge) -> PairJudge:
    """Call an async text judge from synchronous scoring (only where no event loop runs)."""

    def ask(question: str, a: str, b: str) -> str:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(provider.complete(judge_request(question, a, b))).text
        raise InputError("a Provider judge inside an event loop needs `await ascore_answers(...)`")

    return ask


def score_with(backend: AgreementBackend, question: str, answers: dict[str, str],
               families: dict[str, str], truncated: frozenset[str] = frozenset()) -> ConsensusResult:
    """Score ``answers``; ``truncated``: the models whose answers the token limit cut (each is
    judged on what it says: see ``cut.py``)."""
    ids = list(answers)
    cut = frozenset(m for m in ids if m in truncated)
    judged = {m: said_text(answers[m]) if m in cut else answers[m] for m in ids}
    texts = [judged[m] for m in ids]
    fams = [families.get(m, m) for m in ids]
    judgments = backend.judge_pairs(question, texts)
    if cut and isinstance(backend, FastBackend | CrossBackend):
        judgments.update(judge_cut_pairs(backend, question, texts, [m in cut for m in ids]))
    embed = (backend.embedder.encode
             if isinstance(backend, FastBackend | CrossBackend | HybridBackend) else None)
    claims = build_claims(question, judged, embed=embed, truncated=cut,
                          pair_clash=_pair_clash(ids, judgments))
    judgments = with_claim_clashes(judgments, claims, ids)
    k = len(ids)
    agreement = np.eye(k)
    contradict = np.zeros((k, k), dtype=bool)
    for (i, j), jd in judgments.items():
        agreement[i, j] = agreement[j, i] = jd.agreement
        contradict[i, j] = contradict[j, i] = jd.relation == "contradict"
    weights = score.family_weights(fams)
    groups = clustering.cluster(agreement, weights=weights)
    raw = score.compute(agreement, contradict, fams, groups)
    # The user sees the calibrated number (and the verdict reads it); the raw geometric
    # score stays in the breakdown so the mapping can be checked and refitted.
    calibrated = load_calibration().apply(backend.name, raw.score, k)
    breakdown = dataclasses.replace(raw, score=calibrated)
    heads = [clustering.representative(g, agreement) for g in groups]
    agreed = has_consensus(breakdown.score)
    return ConsensusResult(
        score=breakdown.score,
        verdict=score.verdict(breakdown.score),
        backend=backend.name,
        clusters=[[ids[i] for i in g] for g in groups],
        matrix={ids[i]: {ids[j]: float(agreement[i, j]) for j in range(k)} for i in range(k)},
        consensus_model=ids[heads[0]],
        # Below the no-consensus threshold the largest group is only one position of several.
        consensus_answer=answers[ids[heads[0]]] if agreed else None,
        consensus_kind="representative" if agreed else None,
        claims=claims,
        contradictions=_contradictions(ids, judgments),
        families={m: f for m, f in zip(ids, fams, strict=True)},
        breakdown={"mean_agreement": breakdown.mean_agreement,
                   "majority_share": breakdown.majority_share,
                   "contradiction_rate": breakdown.contradiction_rate,
                   "effective_votes": breakdown.effective_votes,
                   "raw_score": raw.score},
        positions=[Position(gist(answers[ids[h]]), [ids[i] for i in g], ids[h])
                   for g, h in zip(groups, heads, strict=True)],
        truncated=sorted(cut),
    )


def _pair_clash(ids: list[str], judgments: dict[tuple[int, int], PairJudgment]
                ) -> Callable[[str, str], list[str] | None]:
    index = {m: i for i, m in enumerate(ids)}

    def clash(a: str, b: str) -> list[str] | None:
        i, j = index[a], index[b]
        jd = judgments[(min(i, j), max(i, j))]
        return (list(jd.reasons) or ["meaning: the answers cannot both be true"]) \
            if jd.relation == "contradict" else None

    return clash


def with_claim_clashes(judgments: dict[tuple[int, int], PairJudgment], claims: list[Claim],
                       ids: list[str]) -> dict[tuple[int, int], PairJudgment]:
    """The pair judgments, with every clash the claim map found marked as a contradiction of
    that pair, so the groups, the explanation and the claim map tell one story. The
    agreement (and so the score) is the backend's own."""
    index = {m: i for i, m in enumerate(ids)}
    out = dict(judgments)
    for claim in claims:
        for other in claim.contradicted_by:
            i, j = sorted((index[claim.models[0]], index[other]))
            jd = out[(i, j)]
            if jd.relation != "contradict":
                own = claim.clash_reasons.get(other, [])
                out[(i, j)] = PairJudgment(jd.agreement, "contradict",
                                           [*jd.reasons, *(r for r in own if r not in jd.reasons)]
                                           or ["claim"])
    return out


def _contradictions(ids: list[str], judgments: dict[tuple[int, int], PairJudgment]) -> list[Contradiction]:
    out = []
    for (i, j), jd in sorted(judgments.items(), key=lambda kv: kv[1].agreement):
        if jd.relation == "contradict":
            out.append(Contradiction((ids[i], ids[j]), _kinds(jd.reasons), list(jd.reasons)))
    return out


def validate(question: str, answers: dict[str, str]) -> dict[str, str]:
    if not isinstance(question, str):
        raise InputError("the question must be text")
    return {m: a for m, a in answers.items() if isinstance(a, str) and not _blank(a)}


def _blank(text: str) -> bool:
    """Nothing visible: whitespace, zero-width characters and direction marks (format 'Cf')."""
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in text)


def score_answers(question: str, answers: dict[str, str], families: dict[str, str], *,
                  backend: str = DEFAULT_BACKEND, judge: Judge | None = None,
                  truncated: frozenset[str] = frozenset()) -> ConsensusResult:
    """``truncated``: the models whose answers the token limit cut (finish reason "length")."""
    usable = validate(question, answers)
    if len(usable) < 2:
        got = "no successful answer" if not usable else "only one successful answer"
        return not_scored(f"{got}; a consensus needs at least two", backend, families)
    return score_with(make_backend(backend, judge), question, usable, families,
                      frozenset(truncated))


async def ascore_answers(question: str, answers: dict[str, str], families: dict[str, str], *,
                         backend: str = DEFAULT_BACKEND, judge: Judge | None = None,
                         synthesize: bool = False,
                         truncated: frozenset[str] = frozenset()) -> ConsensusResult:
    """Async twin for services: a text judge is awaited on the caller's event loop.

    With ``synthesize`` and a text judge, the judge also writes the consensus answer
    from the largest cluster's answers (``consensus_kind == "synthesis"``), only when
    there is a consensus.
    """
    usable = validate(question, answers)
    if backend not in NEEDS_JUDGE or not isinstance(judge, TextJudge) or len(usable) < 2:
        result = await asyncio.to_thread(score_answers, question, answers, families,
                                         backend=backend, judge=judge, truncated=truncated)
    else:
        said = [said_text(a) if m in truncated else a for m, a in usable.items()]
        replies = await _judge_replies(judge.complete, question, said)
        table = JudgeBackend(lambda q, a, b: replies[(a, b)])
        result = await asyncio.to_thread(score_answers, question, usable, families,
                                         backend=backend, judge=table, truncated=truncated)
    if synthesize and isinstance(judge, TextJudge) and result.has_consensus:
        await _synthesize(judge, question, result, usable)
    return result


SYNTHESIS_PROMPT = (
    "Question: {question}\n\nThese answers agree with each other:\n{answers}\n\n"
    "Write one short answer to the question that states only what they agree on."
)


async def _synthesize(judge: TextJudge, question: str, result: ConsensusResult,
                      answers: dict[str, str]) -> None:
    group = result.clusters[0]
    listed = "\n".join(f"- {answers[m]}" for m in group)
    request = ChatRequest(messages=[Message("user", SYNTHESIS_PROMPT.format(
        question=question, answers=listed))], temperature=0.0, max_tokens=200)
    try:
        text = (await judge.complete(request)).text.strip()
    except DruxError:
        return  # keep the representative answer
    if text:
        result.consensus_answer = text
        result.consensus_kind = "synthesis"
        result.synthesized_by = judge.name


async def _judge_replies(complete: Callable[[ChatRequest], Awaitable[Completion]], question: str,
                         texts: list[str]) -> dict[tuple[str, str], str]:
    pairs = {tuple(sorted((a, b))) for a, b in combinations(texts, 2) if a != b}
    replies: dict[tuple[str, str], str] = {}
    for a, b in sorted(pairs):  # one at a time: a local judge model serves one call at once
        replies[(a, b)] = (await complete(judge_request(question, a, b))).text
    for a in texts:
        replies.setdefault((a, a), "yes")
    return replies
