"""The provider's portfolio page (overzicht.html): every school's latest APK, its trend, the
weakest basismaatregelen across schools, stale scans and tenants with missing permissions.
Read from the history, so it shows exactly what was recorded."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from m365apk.mappings.loader import load_mappings
from m365apk.reports import humanize
from m365apk.reports.html import _env
from m365apk.reports.i18n import catalogue
from m365apk.runs.history import History, ScanRow
from m365apk.runs.tenants import TenantsFile
from m365apk.snapshot.files import write_text_atomic

STALE_DAYS = 400  # a yearly APK plus a month's grace


@dataclass
class SchoolLine:
    name: str
    tenant_id: str
    school_type: str | None
    latest: ScanRow | None
    last_good: ScanRow | None
    trend: list[int | None] = field(default_factory=list)
    delta: int | None = None
    vs_median: int | None = None
    report_link: str | None = None
    stale: bool = False
    never: bool = False  # no successful APK on record at all
    attention: str | None = None
    band: str | None = None


# Score bands: with every school "Onvoldoende" the verdict column separates nothing; the band
# shows which schools are closest and which need the provider first.
BANDS = ((90, "90–100"), (75, "75–89"), (60, "60–74"), (40, "40–59"), (0, "0–39"))


def band(score: int) -> str:
    return next(label for floor, label in BANDS if score >= floor)


def build_overview(config: TenantsFile, history: History, now: datetime) -> dict:
    names = load_mappings().basismaatregelen
    lines: list[SchoolLine] = []
    latest_scores: list[int] = []
    per_measure: dict[int, list[int]] = {bm: [] for bm in names}
    for tenant in sorted(config.tenants, key=lambda t: t.name.lower()):
        scans = history.scans(tenant.tenant_id)
        good = [s for s in scans if s.outcome in ("ok", "partial")]
        latest = scans[-1] if scans else None
        last_good = good[-1] if good else None
        line = SchoolLine(tenant.name, tenant.tenant_id, tenant.school_type, latest, last_good)
        line.trend = [s.score for s in good[-5:]]
        if len(good) >= 2 and good[-1].score is not None and good[-2].score is not None:
            line.delta = good[-1].score - good[-2].score
        if last_good:
            if last_good.score is not None:
                latest_scores.append(last_good.score)
            for bm, (score, _) in history.measures(last_good.id).items():
                if score is not None:
                    per_measure[bm].append(score)
            if last_good.report_path:
                line.report_link = os.path.relpath(last_good.report_path, config.output)
            age = now - datetime.fromisoformat(last_good.finished_at)
            line.stale = age.days > STALE_DAYS
        else:
            line.stale = line.never = True
        if line.last_good and line.last_good.score is not None:
            line.band = band(line.last_good.score)
        if latest and latest.outcome in ("auth_error", "config_error", "error"):
            line.attention = f"laatste scan mislukt: {latest.error}"
        elif latest and latest.outcome == "partial":
            line.attention = "onvolledige scan: toestemmingen of gegevens ontbreken"
        lines.append(line)
    median = statistics.median(latest_scores) if latest_scores else None
    for line in lines:
        if median is not None and line.last_good and line.last_good.score is not None:
            line.vs_median = round(line.last_good.score - median)
    weakest = sorted(
        (
            (statistics.median(scores), bm, names[bm].title, len(scores))
            for bm, scores in per_measure.items()
            if scores
        ),
    )[:3]
    return {
        "lines": lines,
        "median": median,
        "schools": len(latest_scores),
        "weakest": weakest,
        "stale": [line for line in lines if line.stale],
        "attention": [line for line in lines if line.attention],
        "now": now,
        "stale_days": STALE_DAYS,
        "verdicts": catalogue("nl")["verdicts"],
        "outcomes": catalogue("nl")["outcomes"],
        "day": humanize.day,
    }


def write_overview(config: TenantsFile, history: History, now: datetime) -> Path:
    data = build_overview(config, history, now)
    html = _env.get_template("overview.html.j2").render(**data)
    config.output.mkdir(parents=True, exist_ok=True)
    path = config.output / "overzicht.html"
    return write_text_atomic(path, html)
