"""Render the scored report: report.json, a self-contained Dutch report.html, and normen.csv.

Every view is rendered from the same Report, so no two can disagree. The HTML is Jinja2 with
autoescaping on: everything from the tenant (names, UPNs, policy and app names) is untrusted
text and is never marked safe.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from m365apk.reports.i18n import catalogue, localized
from m365apk.reports.model import Report

SYMBOLS = {
    "pass": "✔",
    "fail": "✘",
    "partial": "◐",
    "not_applicable": "–",
    "not_licensed": "○",
    "unknown": "?",
    "accepted": "≈",
}
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
EFFORT_RANK = {"klein": 0, "middel": 1, "groot": 2}

_env = Environment(
    loader=PackageLoader("m365apk.reports", "templates"),
    autoescape=select_autoescape(["html", "j2"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def render_html(report: Report, lang: str = "nl") -> str:
    messages = catalogue(lang)
    report = localized(report, lang)
    todo = sorted(
        (c for c in report.checks if c.result.status.value in ("fail", "partial")),
        key=lambda c: (
            SEVERITY_RANK[c.severity],
            EFFORT_RANK.get(c.effort, 1),
            c.result.status.value != "fail",
            c.title,
        ),
    )
    return _env.get_template("report.html.j2").render(
        r=report,
        lang=lang,
        t=messages["ui"],
        todo=todo,
        checks={c.id: c for c in report.checks},
        manual={m.id: m for m in report.manual},
        symbols=SYMBOLS,
        status_text=messages["statuses"],
        severity_text=messages["severity"],
        effort_text=messages["effort"],
        dataset_status_text=messages["dataset_status"],
        norm_status_text=messages["norm_status"],
        answers=messages["answers"],
    )


def render_norms_csv(report: Report) -> str:
    """The norm view for the Normenkader self-assessment, as Dutch Excel opens it: UTF-8 with
    BOM (added on write) and semicolons."""
    dutch = catalogue("nl")  # the self-assessment is in Dutch
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(
        ["norm", "titel", "domein", "status norm", "indicatief", "controle", "uitkomst", "bron"]
    )
    for norm in report.norms:
        for check in norm.checks:
            writer.writerow(
                [
                    norm.id,
                    norm.title or "",
                    norm.domain_name,
                    dutch["norm_status"][norm.status],
                    "ja" if norm.indicatief else "nee",
                    f"{check.id}: {check.title}",
                    dutch["statuses"][check.status],
                    norm.source or "",
                ]
            )
    return buffer.getvalue()


def write_reports(report: Report, out_dir: Path, lang: str = "nl") -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "report.json",
        "html": out_dir / "report.html",
        "csv": out_dir / "normen.csv",
    }
    paths["json"].write_text(report.to_json(), encoding="utf-8")
    paths["html"].write_text(render_html(report, lang), encoding="utf-8")
    paths["csv"].write_text(render_norms_csv(report), encoding="utf-8-sig", newline="")
    return paths
