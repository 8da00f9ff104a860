"""The provider's portfolio page (overzicht.html): every school's latest APK ranked by urgency
(Onvoldoende first, then critical findings, then the age of the last scan), its trend, the
weakest basismaatregelen across schools, stale scans and schools that need attention.
Read from the history, so it shows exactly what was recorded."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from m365apk.checks.registry import all_checks
from m365apk.errors import ConfigError
from m365apk.mappings.loader import load_mappings
from m365apk.reports import humanize
from m365apk.reports.html import _env
from m365apk.reports.i18n import catalogue
from m365apk.runs.history import FINDING, History, ScanRow
from m365apk.runs.paths import path_segment
from m365apk.runs.tenants import TenantEntry, TenantsFile
from m365apk.snapshot.files import write_text_atomic

STALE_DAYS = 400  # a yearly APK plus a month's grace
GOOD = ("ok", "partial")


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
    report_scan: ScanRow | None = None  # the scan whose report the row links to
    report_complete: bool = False
    critical: int | None = None  # critical checks that fail or partly pass (None: no scan)
    age_days: int | None = None  # days since the last scan that produced a report
    stale: bool = False
    never: bool = False  # no successful APK on record at all
    attention: list[str] = field(default_factory=list)
    band: str | None = None

    @property
    def onvoldoende(self) -> bool:
        return bool(self.last_good and self.last_good.verdict == "onvoldoende")

    @property
    def coverage(self) -> tuple[int, int] | None:
        scan = self.last_good
        if scan is None or scan.evaluated is None or not scan.total:
            return None
        return scan.evaluated, scan.total

    def urgency(self) -> tuple[int, int, float, str]:
        """Onvoldoende first, then more critical findings, then the older (or missing) scan."""
        age = float("inf") if self.age_days is None else self.age_days
        return (0 if self.onvoldoende else 1, -(self.critical or 0), -age, self.name.lower())


# Score bands: with every school "Onvoldoende" the verdict column separates nothing; the band
# shows which schools are closest and which need the provider first.
BANDS = ((90, "90–100"), (75, "75–89"), (60, "60–74"), (40, "40–59"), (0, "0–39"))


def band(score: int) -> str:
    return next(label for floor, label in BANDS if score >= floor)


def _report_of(config: TenantsFile, tenant: TenantEntry, scan: ScanRow) -> Path | None:
    """The report a scan left: the recorded one, or the incomplete one a failed scan still wrote
    (`<run>.onvolledig/report.html`, which history does not record)."""
    if scan.report_path:  # as recorded (a merged shard's path need not exist here)
        return Path(scan.report_path)
    try:
        folder = config.output / path_segment(tenant.folder_name, "tenant")
        work = folder / f"{path_segment(scan.run_id, 'run')}.onvolledig" / "report.html"
    except ConfigError:  # a name that is no path segment has no report on disk
        return None
    return work if work.is_file() else None


def build_overview(config: TenantsFile, history: History, now: datetime) -> dict:
    names = load_mappings().basismaatregelen
    critical_ids = {c.id for c in all_checks() if c.severity.value == "critical"}
    texts = catalogue("nl")["overview"]
    lines: list[SchoolLine] = []
    latest_scores: list[int] = []
    per_measure: dict[int, list[int]] = {bm: [] for bm in names}
    for tenant in config.tenants:
        scans = history.scans(tenant.tenant_id)
        good = [s for s in scans if s.outcome in GOOD]
        latest = scans[-1] if scans else None
        last_good = good[-1] if good else None
        line = SchoolLine(tenant.name, tenant.tenant_id, tenant.school_type, latest, last_good)
        line.trend = [s.score for s in good[-5:]]
        if len(good) >= 2 and good[-1].score is not None and good[-2].score is not None:
            line.delta = good[-1].score - good[-2].score
        for scan in reversed(scans):  # the latest report, complete or not
            report = _report_of(config, tenant, scan)
            if report is not None:
                line.report_link = os.path.relpath(report, config.output)
                line.report_scan = scan
                line.report_complete = scan.outcome == "ok"
                break
        dated = last_good or line.report_scan
        if dated is not None:
            line.age_days = max(0, (now - datetime.fromisoformat(dated.finished_at)).days)
        if last_good:
            if last_good.score is not None:
                latest_scores.append(last_good.score)
            for bm, (score, _) in history.measures(last_good.id).items():
                if score is not None:
                    per_measure[bm].append(score)
            checks = history.checks(last_good.id)
            line.critical = sum(
                1
                for cid, (status, _) in checks.items()
                if cid in critical_ids and status in FINDING
            )
            line.stale = (line.age_days or 0) > STALE_DAYS
        else:
            line.stale = line.never = True
        if line.last_good and line.last_good.score is not None:
            line.band = band(line.last_good.score)
        if line.onvoldoende:
            line.attention.append(
                texts["attention_onvoldoende"].format(count=line.critical or 0)
                if line.critical
                else texts["attention_onvoldoende_plain"]
            )
        if latest and latest.outcome in ("auth_error", "config_error", "error"):
            line.attention.append(texts["attention_failed"].format(error=latest.error or "–"))
        elif latest and latest.outcome == "partial":
            line.attention.append(texts["attention_partial"])
        if line.never and not line.attention:
            line.attention.append(texts["attention_never"])
        elif line.stale and not line.never:
            line.attention.append(texts["attention_stale"].format(days=STALE_DAYS))
        lines.append(line)
    lines.sort(key=SchoolLine.urgency)
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
        "t": texts,
        "day": humanize.day,
    }


def write_overview(config: TenantsFile, history: History, now: datetime) -> Path:
    data = build_overview(config, history, now)
    html = _env.get_template("overview.html.j2").render(**data)
    config.output.mkdir(parents=True, exist_ok=True)
    path = config.output / "overzicht.html"
    return write_text_atomic(path, html)
