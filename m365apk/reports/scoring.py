"""The score: explainable, stable, and never moved by what could not be measured.

Each evaluated check earns points for its status (pass 1, partial 0.5, fail 0), weighted by its
severity (critical 4, high 3, medium 2, low 1; both in mappings/scoring.yaml). The score is
100 x earned / possible over the evaluated checks, rounded half up. Checks that are unknown,
not licensed or not applicable are left out and counted as coverage; accepted risks are shown
apart, outside the score. Nothing evaluated means no score at all, never 0 or 100.

Worked example (also computed by tests/test_scoring.py and shown in the README):

    check  severity  status          weight  points
    A      critical  pass            4       4 x 1   = 4
    B      high      fail            3       3 x 0   = 0
    C      medium    partial         2       2 x 0.5 = 1
    D      low       pass            1       1 x 1   = 1
    E      high      unknown         -       left out (coverage)
    score = 100 x (4 + 0 + 1 + 1) / (4 + 3 + 2 + 1) = 60  ->  "4 van 5 controles vastgesteld"
    verdict: aandacht_nodig (not >= 90; not < 60; no critical fail)

That is the technical verdict. `judge` then decides whether "Op orde" holds up: only when no
check a measure depends on was left undetermined for want of data, enough of its applicable
checks were determined, every handmatig controlepunt is answered (and answered yes or not
applicable) and, for the whole, the scan was complete. Otherwise "Op orde" becomes "Aandacht
nodig", and the reasons (`blockers`) travel with the score so the report can say why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel

STATUSES = (
    "pass",
    "partial",
    "fail",
    "accepted",
    "unknown",
    "not_licensed",
    "not_applicable",
)


class OpOrdeRequires(BaseModel):
    """What "Op orde" asks beyond the technical score (see mappings/scoring.yaml)."""

    no_status: list[str] = []
    min_coverage: float = 0.0
    manual_answered: bool = False
    manual_answers_ok: list[str] = []
    complete_scan: bool = False


class VerdictRule(BaseModel):
    min_score: float | None = None
    below_score: float | None = None
    no_fail_with_severity: list[str] = []
    any_fail_with_severity: list[str] = []
    requires: OpOrdeRequires = OpOrdeRequires()


class ScoringConfig(BaseModel):
    severity_weights: dict[str, float]
    status_points: dict[str, float]
    verdicts: dict[str, VerdictRule]
    labels: dict[str, str]


@cache
def load_scoring() -> ScoringConfig:
    text = (resources.files("m365apk.mappings") / "scoring.yaml").read_text(encoding="utf-8")
    return ScoringConfig.model_validate(yaml.safe_load(text))


class Score(BaseModel):
    score: int | None
    points: float
    max_points: float
    evaluated: int
    total: int
    accepted: int
    counts: dict[str, int]
    coverage_text: str
    verdict: str
    verdict_text: str
    technical_verdict: str = ""  # the verdict from the checks alone, before `judge`
    manual_total: int = 0
    manual_answered: int = 0
    manual_not_ok: int = 0  # answered, but not with yes / not applicable
    # Why "Op orde" does not hold (codes: unreadable, coverage, manual_open, manual_not_ok,
    # partial_scan); recorded whatever the technical verdict, so the report can explain it.
    blockers: list[str] = []


def _round(value: float) -> int:
    return int(Decimal(str(value)).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def score_items(items: Iterable[tuple[str, str]], config: ScoringConfig | None = None) -> Score:
    """Score (severity, status) pairs. Order never matters: only sums are taken."""
    config = config or load_scoring()
    pairs = list(items)
    counts = dict.fromkeys(STATUSES, 0)
    points = possible = 0.0
    failed_severities: set[str] = set()
    for severity, status in pairs:
        counts[status] = counts.get(status, 0) + 1
        if status in config.status_points:
            weight = config.severity_weights[severity]
            points += weight * config.status_points[status]
            possible += weight
            if status == "fail":
                failed_severities.add(severity)
    evaluated = sum(counts[s] for s in config.status_points)
    score = _round(100 * points / possible) if possible else None
    verdict = _verdict(score, failed_severities, config)
    return Score(
        score=score,
        points=points,
        max_points=possible,
        evaluated=evaluated,
        total=len(pairs),
        accepted=counts.get("accepted", 0),
        counts=dict(sorted(counts.items())),
        coverage_text=f"{evaluated} van {len(pairs)} controles vastgesteld",
        verdict=verdict,
        verdict_text=config.labels[verdict],
        technical_verdict=verdict,
    )


BLOCKERS = ("unreadable", "coverage", "manual_open", "manual_not_ok", "partial_scan")


def judge(
    score: Score,
    manual_answers: Sequence[str | None] = (),
    *,
    partial_scan: bool = False,
    config: ScoringConfig | None = None,
) -> Score:
    """The verdict a measure (or the whole) may carry: "Op orde" only when the checks are
    determined and in order and the handmatige controlepunten are answered.

    `manual_answers` holds one entry per handmatig controlepunt: its answer, or None when open.
    """
    config = config or load_scoring()
    req = config.verdicts["op_orde"].requires
    answered = [a for a in manual_answers if a is not None]
    not_ok = [a for a in answered if req.manual_answers_ok and a not in req.manual_answers_ok]
    applicable = score.total - score.counts.get("not_applicable", 0)
    determined = score.evaluated + score.accepted
    blockers = []
    if any(score.counts.get(status, 0) for status in req.no_status):
        blockers.append("unreadable")
    if applicable and determined / applicable < req.min_coverage:
        blockers.append("coverage")
    if req.manual_answered and len(answered) < len(manual_answers):
        blockers.append("manual_open")
    if not_ok:
        blockers.append("manual_not_ok")
    if req.complete_scan and partial_scan:
        blockers.append("partial_scan")
    technical = score.technical_verdict or score.verdict
    verdict = "aandacht_nodig" if technical == "op_orde" and blockers else technical
    return score.model_copy(
        update={
            "verdict": verdict,
            "verdict_text": config.labels[verdict],
            "technical_verdict": technical,
            "manual_total": len(manual_answers),
            "manual_answered": len(answered),
            "manual_not_ok": len(not_ok),
            "blockers": blockers,
        }
    )


def _verdict(score: int | None, failed: set[str], config: ScoringConfig) -> str:
    if score is None:
        return "niet_vastgesteld"
    bad = config.verdicts["onvoldoende"]
    if (bad.below_score is not None and score < bad.below_score) or failed & set(
        bad.any_fail_with_severity
    ):
        return "onvoldoende"
    good = config.verdicts["op_orde"]
    if (good.min_score is None or score >= good.min_score) and not failed & set(
        good.no_fail_with_severity
    ):
        return "op_orde"
    return "aandacht_nodig"
