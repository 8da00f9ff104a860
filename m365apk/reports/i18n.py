"""The report in the reader's language, from the catalogues in m365apk/messages/.

Dutch is the source language: report.json is always Dutch (it is the evidence), and the HTML
and PDF are rendered in the language asked for. Check texts come from the catalogue by check
id, findings from the catalogue keys they carry (`reason_parts`); a plugin's check without
catalogue entries keeps its own Dutch texts.
"""

from __future__ import annotations

from typing import Any

from m365apk.checks.base import not_asked
from m365apk.messages import LANGUAGES, Msg, catalogue
from m365apk.reports.model import Report

__all__ = ["LANGUAGES", "catalogue", "localized"]


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
    # The Normenkader is Dutch; the other languages translate each title and domain name.
    norm_titles = messages.get("norms", {})
    domains = messages.get("norm_domains", {})

    def norm_ref(n: Any) -> Any:
        return n.model_copy(update={"title": norm_titles.get(n.id, n.title)})

    def score(s: Any) -> Any:
        text = ui["coverage_text"].format(determined=s.determined, total=s.total)
        return s.model_copy(update={"verdict_text": verdicts[s.verdict], "coverage_text": text})

    return report.model_copy(
        update={
            "overall": score(report.overall),
            "unreadable": [_problem(p, lang) for p in report.unreadable],
            "not_licensed": [_problem(p, lang) for p in report.not_licensed],
            "reference_data_warnings": [
                Msg.from_json(parts).render(lang) for parts in report.reference_data_warning_parts
            ]
            or report.reference_data_warnings,
            "checks": [
                _check(c, checks.get(c.id, {}), report, lang).model_copy(
                    update={"norms": [norm_ref(n) for n in c.norms]}
                )
                for c in report.checks
            ],
            "basismaatregelen": [
                b.model_copy(
                    update={
                        **measures.get(b.id, {}),
                        "score": score(b.score),
                        "norms": [norm_ref(n) for n in b.norms],
                    }
                )
                for b in report.basismaatregelen
            ],
            "norms": [
                n.model_copy(
                    update={
                        "title": norm_titles.get(n.id, n.title),
                        "domain_name": domains.get(n.domain, n.domain_name),
                        "checks": [
                            x.model_copy(update={"title": _text(checks, x.id, "title", x.title)})
                            for x in n.checks
                        ],
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


def _check(entry: Any, texts: dict[str, str], report: Report, lang: str) -> Any:
    update: dict[str, Any] = {
        k: v for k, v in texts.items() if k in ("title", "why", "fix", "threshold")
    }
    if entry.licence_parts:
        update["licence"] = Msg.from_json(entry.licence_parts).render(lang)
    if texts.get("fix_free") and report.licences.entra_plan == "free":
        update["fix"] = texts["fix_free"]  # advice that fits an A1 school's licence
    result = entry.result
    update["result"] = result.model_copy(
        update={
            "reason": result.reason_in(lang),
            "measured": result.measured_in(lang),
            "evidence": result.evidence.model_copy(
                update={
                    "affected": [
                        a.model_copy(update={"detail": a.detail_in(lang)})
                        for a in result.evidence.affected
                    ]
                }
            ),
        }
    )
    return entry.model_copy(update=update)


def _problem(problem: Any, lang: str) -> Any:
    said = not_asked(problem)
    return problem.model_copy(update={"error_message": said.render(lang)}) if said else problem


def _text(texts: dict[str, Any], key: str, field: str, default: str) -> str:
    return (texts.get(key) or {}).get(field, default)
