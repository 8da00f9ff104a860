"""The score: explainable, stable, and never raised by what could not be measured.

Each check earns points for its status (pass 1, partial 0.5, fail 0), weighted by its
severity (critical 4, high 3, medium 2, low 1; both in mappings/scoring.yaml). A check that
could not be determined (unknown: its data could not be read) weighs as not met: 0 points out
of its weight, so data that goes missing can only lower the score, never raise it. The score is
100 x earned / possible over those checks, rounded half up. Checks that are not licensed or not
applicable are left out of the score (the tenant lacks the licence; there is nothing to judge);
accepted risks are shown apart, outside the score. Nothing weighed means no score at all, never
0 or 100.

Coverage counts what was determined: pass, partial, fail, accepted and not applicable (a check
that is not applicable was determined: there is nothing to judge). Not determined are unknown
and not licensed.

Worked example (also computed by tests/test_scoring.py and shown in docs/rapport.md):

    check  severity  status          weight  points
    A      critical  pass            4       4 x 1   = 4
    B      high      fail            3       3 x 0   = 0
    C      medium    partial         2       2 x 0.5 = 1
    D      low       pass            1       1 x 1   = 1
    E      high      unknown         3       3 x 0   = 0  (not determined: weighs as not met)
    F      low       not_applicable  -       left out (determined: nothing to judge)
    score = 100 x (4 + 0 + 1 + 1) / (4 + 3 + 2 + 1 + 3) = 46  ->  "5 van 6 controles vastgesteld"
    verdict: onvoldoende (below 60)

The technical verdict: "onvoldoende" below 60 or with a failed critical check; "op orde" from 90
without a failed critical or high check and without an undetermined critical check; otherwise
"aandacht nodig". `judge` then decides whether "Op orde" holds up: only when no check a measure
depends on was left undetermined for want of data, enough of its applicable checks were
determined, every handmatig controlepunt is answered (and answered yes or not applicable) and,
for the whole, the scan was complete. Otherwise "Op orde" becomes "Aandacht nodig", and the
reasons (`blockers`) travel with the score so the report can say why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel

from m365apk.messages import catalogue

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
    # no check of these severities left undetermined (unknown or not licensed)
    no_undetermined_with_severity: list[str] = []
    any_fail_with_severity: list[str] = []
    # a check of these severities undetermined: no judgement either way (niet vastgesteld)
    any_undetermined_with_severity: list[str] = []
    requires: OpOrdeRequires = OpOrdeRequires()


class ScoringConfig(BaseModel):
    severity_weights: dict[str, float]
    status_points: dict[str, float]
    # Statuses of checks that could not be determined but still weigh in the score (as not met).
    undetermined_points: dict[str, float] = {}
    # Statuses that count as determined in the coverage besides those with points.
    determined_without_points: list[str] = ["accepted", "not_applicable"]
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
    evaluated: int  # measured: pass, partial or fail
    total: int
    # Determined: measured, accepted or not applicable. Not determined: unknown, not licensed.
    determined: int = 0
    # Not determined for want of data (unknown), weighed in the score as not met.
    weighed_as_not_met: int = 0
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
    undetermined_severities: set[str] = set()
    weighed = {**config.undetermined_points, **config.status_points}
    determined_statuses = set(config.status_points) | set(config.determined_without_points)
    for severity, status in pairs:
        counts[status] = counts.get(status, 0) + 1
        if status in weighed:
            weight = config.severity_weights[severity]
            points += weight * weighed[status]
            possible += weight
            if status == "fail":
                failed_severities.add(severity)
        if status not in determined_statuses:
            undetermined_severities.add(severity)
    evaluated = sum(counts[s] for s in config.status_points)
    determined = sum(counts.get(s, 0) for s in determined_statuses)
    score = _round(100 * points / possible) if possible else None
    verdict = _verdict(score, failed_severities, config, undetermined_severities)
    return Score(
        score=score,
        points=points,
        max_points=possible,
        evaluated=evaluated,
        total=len(pairs),
        determined=determined,
        weighed_as_not_met=sum(counts.get(s, 0) for s in config.undetermined_points),
        accepted=counts.get("accepted", 0),
        counts=dict(sorted(counts.items())),
        coverage_text=catalogue("nl")["ui"]["coverage_text"].format(
            determined=determined, total=len(pairs)
        ),
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


def _verdict(
    score: int | None,
    failed: set[str],
    config: ScoringConfig,
    undetermined: set[str] = frozenset(),  # type: ignore[assignment]
) -> str:
    if score is None:
        return "niet_vastgesteld"
    bad = config.verdicts["onvoldoende"]
    if (bad.below_score is not None and score < bad.below_score) or failed & set(
        bad.any_fail_with_severity
    ):
        return "onvoldoende"
    # A critical check that could not be determined may be the failing one: any verdict above
    # "onvoldoende" would then be a guess, and losing data would improve the verdict.
    unsure = config.verdicts.get("niet_vastgesteld")
    if unsure and undetermined & set(unsure.any_undetermined_with_severity):
        return "niet_vastgesteld"
    good = config.verdicts["op_orde"]
    if (
        (good.min_score is None or score >= good.min_score)
        and not failed & set(good.no_fail_with_severity)
        and not undetermined & set(good.no_undetermined_with_severity)
    ):
        return "op_orde"
    return "aandacht_nodig"
