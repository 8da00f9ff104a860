"""The report's languages: one message catalogue per language (reports/messages/*.yaml).

Dutch is the source language: report.json is always Dutch (it is the evidence), and the HTML
and PDF are rendered in the language asked for. A check from a plugin without an English text
keeps its Dutch one; findings (reasons) are written by the checks and stay Dutch.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from m365apk.reports.model import Report

LANGUAGES = ("nl", "en")


@cache
def catalogue(lang: str) -> dict[str, Any]:
    if lang not in LANGUAGES:
        raise ValueError(f"onbekende taal {lang!r}; kies uit {', '.join(LANGUAGES)}")
    text = (resources.files("m365apk.reports") / "messages" / f"{lang}.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def localized(report: Report, lang: str) -> Report:
    """The report with check, measure and manual texts in `lang` (scores untouched)."""
    if lang == "nl":
        return report
    messages = catalogue(lang)
    verdicts = messages["verdicts"]
    checks = messages.get("checks", {})
    measures = messages.get("basismaatregelen", {})
    manual = messages.get("manual", {})
    ui = messages["ui"]

    def score(s: Any) -> Any:
        text = ui["coverage_text"].format(evaluated=s.evaluated, total=s.total)
        return s.model_copy(update={"verdict_text": verdicts[s.verdict], "coverage_text": text})

    return report.model_copy(
        update={
            "overall": score(report.overall),
            "checks": [_check(c, checks.get(c.id, {}), report) for c in report.checks],
            "basismaatregelen": [
                b.model_copy(update={**measures.get(b.id, {}), "score": score(b.score)})
                for b in report.basismaatregelen
            ],
            "norms": [
                n.model_copy(
                    update={
                        "checks": [
                            x.model_copy(update={"title": _text(checks, x.id, "title", x.title)})
                            for x in n.checks
                        ]
                    }
                )
                for n in report.norms
            ],
            "manual": [
                m.model_copy(
                    update={
                        "question": _text(manual, m.id, "question", m.question),
                        "evidence_expected": _text(manual, m.id, "evidence", m.evidence_expected),
                    }
                )
                for m in report.manual
            ],
        }
    )


def _check(entry: Any, texts: dict[str, str], report: Report) -> Any:
    update = {k: v for k, v in texts.items() if k in ("title", "why", "fix", "threshold")}
    if texts.get("fix_free") and report.licences.entra_plan == "free":
        update["fix"] = texts["fix_free"]  # advice that fits an A1 school's licence
    return entry.model_copy(update=update)


def _text(texts: dict[str, Any], key: str, field: str, default: str) -> str:
    return (texts.get(key) or {}).get(field, default)
