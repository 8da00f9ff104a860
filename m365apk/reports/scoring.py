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
"""

from __future__ import annotations

from collections.abc import Iterable
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


class VerdictRule(BaseModel):
    min_score: float | None = None
    below_score: float | None = None
    no_fail_with_severity: list[str] = []
    any_fail_with_severity: list[str] = []


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
