"""Render the scored report: report.json, a self-contained Dutch report.html, and normen.csv.

Every view is rendered from the same Report, so no two can disagree. The HTML is Jinja2 with
autoescaping on: everything from the tenant (names, UPNs, policy and app names) is untrusted
text and is never marked safe.
"""

from __future__ import annotations

import csv
import html as html_lib
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from m365apk.reports import humanize
from m365apk.reports.actionplan import render_action_plan_csv, write_action_plan_xlsx
from m365apk.reports.board_data import (
    ActionDetail,
    Term,
    licence_for_product,
    portal_link,
    terms_used,
)
from m365apk.reports.i18n import catalogue, localized
from m365apk.reports.model import Report
from m365apk.reports.view import (
    Action,
    actions,
    adds_to_reason,
    blockers_text,
    measure_line,
    measured_text,
    not_checked,
    plain_reason,
    said_before,
    sentences,
    unreadable_groups,
    verdict_reason,
)
from m365apk.snapshot.files import crash_point, replaced_together

SYMBOLS = {
    "pass": "✔",
    "fail": "✘",
    "partial": "◐",
    "not_applicable": "⊘",
    "not_licensed": "○",
    "unknown": "?",
    "accepted": "≈",
}
_env = Environment(
    loader=PackageLoader("m365apk.reports", "templates"),
    autoescape=select_autoescape(["html", "j2"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def css_string(value: object) -> Markup:
    """Tenant text inside a CSS string in the <style> block (the PDF footer). HTML escaping is
    wrong there: a style element is raw text, so "&#39;" would print as is. Every character
    but letters, digits and spaces becomes a CSS escape ("\\27 "), which also keeps a quote, a
    backslash or "</style>" from ending the string or the element."""
    out = []
    for ch in str(value):
        if ch.isalnum() or ch == " ":
            out.append(ch)
        else:
            out.append(f"\\{ord(ch):x} ")
    return Markup("".join(out))


def shorten(value: object, limit: int) -> str:
    """Tenant text where the board document has room for a line or two (the school's name in
    the heading and the running footer, a row of last year's plan in the school's own words):
    cut at a word before `limit` characters, with an ellipsis. The appendix keeps it whole."""
    text = " ".join(str(value).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-\u2013") + "\u2026"


def breakable(value: object) -> Markup:
    """A Graph request (`GET /v1.0/users?$select=id,displayName,...&$top=999`) or an error code
    (`licence_not_in_subscribedSkus`) may break after a slash, ?, &, =, comma or underscore:
    without a space it widened its table past the printed page."""
    return Markup("<wbr>").join(escape(part) for part in re.split(r"(?<=[/?&,=_])", str(value)))


_env.filters["css_string"] = css_string
_env.filters["breakable"] = breakable
# A manual checkpoint named in last year's plan: its question, without the explanation that
# follows it in the table of checkpoints ("De Exchange Online Admin API geeft dat niet.").
_env.filters["first_sentence"] = lambda text: (sentences(str(text)) or [""])[0]
_env.filters["shorten"] = shorten


FIRST = 3  # "Eerst doen" on the cover: three actions a school can start on Monday
BOARD_FILE = "bestuursrapport.html"
APPENDIX_FILE = "bijlage.html"


@dataclass(frozen=True)
class FirstAction:
    """A row of "Eerst doen": the action, who does it, what it costs, by when."""

    action: Action
    detail: ActionDetail
    deadline: date


@dataclass
class GrantAction:
    """The first row of "Eerst doen" when the app lacks permissions: without them the checks
    that need them stay undetermined, and no other action can settle that (a school without
    consent saw "no open findings", or only a paid action, while 80 checks were unread)."""

    permissions: str  # as not_checked names them, comma-separated
    checks: list[Any]
    deadline: date


GRANT_DAYS = 14  # a permission is minutes of work; the school should not wait a quarter for it


def settings_missing(report: Report) -> bool:
    """No emergency accounts and no approved exclusions given: break-glass accounts then count as
    unapproved exclusions, which can flip the verdict (issue 14 finding 3)."""
    s = report.tenant_settings
    return s is not None and not s.break_glass and not s.approved_exclusions


def _localized(report: Report, lang: str) -> Report:
    report = localized(report, lang)
    return report.model_copy(
        update={
            "checks": [
                c.model_copy(
                    update={
                        "result": c.result.model_copy(
                            update={"reason": humanize.numbers_in(c.result.reason, lang)}
                        )
                    }
                )
                for c in report.checks
            ]
        }
    )


class _Glossary:
    """Links the first use of each glossary term in the board document to its entry in the
    begrippenlijst. Called from the template in document order; the text is escaped here, so
    tenant text that passes through stays text."""

    def __init__(self, terms: list[Term]) -> None:
        self.terms = terms
        self.linked: set[str] = set()

    def __call__(self, text: object) -> Markup:
        text = "" if text is None else str(text)
        out: list[str] = []
        pos = 0
        while True:
            best = None
            for term in self.terms:
                if term.term in self.linked:
                    continue
                m = term.pattern().search(text, pos)
                if m and (best is None or m.start() < best[1].start()):
                    best = (term, m)
            if best is None:
                break
            term, m = best
            self.linked.add(term.term)
            out.append(str(escape(text[pos : m.start()])))
            out.append(f'<a class="term" href="#{term_id(term)}">{escape(m.group(0))}</a>')
            pos = m.end()
        out.append(str(escape(text[pos:])))
        return Markup("".join(out))


def term_id(term: Term) -> str:
    return "begrip-" + re.sub(r"[^a-z0-9]+", "-", term.term.lower()).strip("-")


def _visible_text(page: str) -> str:
    page = re.sub(r"<style>.*?</style>", " ", page, flags=re.DOTALL)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", page))


def _context(report: Report, lang: str) -> dict[str, Any]:
    messages = catalogue(lang)
    report = _localized(report, lang)
    todo = actions(report, messages)
    scan_day = report.collected_at.date()
    first = [
        FirstAction(
            action=a,
            detail=a.detail(lang),
            deadline=scan_day + timedelta(days=a.detail(lang).deadline_days),
        )
        for a in todo[:FIRST]
    ]
    checks = {c.id: c for c in report.checks}
    counts = Counter(c.result.status.value for c in report.checks)
    measured = {c.id: measured_text(c, messages, lang) for c in report.checks}
    nc = not_checked(report)
    missing = next((g for g in nc if g.cause == "permission" and g.what), None)
    grant = (
        GrantAction(missing.what, missing.checks, scan_day + timedelta(days=GRANT_DAYS))
        if missing
        else None
    )
    if grant:  # still at most three rows
        first = first[: FIRST - 1]
    return dict(
        r=report,
        lang=lang,
        t=messages["ui"],
        todo=todo,
        first=first,
        grant=grant,
        counts=counts,
        manual_open=sum(m.status == "open" for m in report.manual),
        reason=verdict_reason(report.overall, report.checks, messages),
        measure_blockers={b.id: blockers_text(b.score, messages) for b in report.basismaatregelen},
        measure_line={b.id: measure_line(b, checks, messages) for b in report.basismaatregelen},
        measured=measured,
        measured_adds={
            c.id: adds_to_reason(measured[c.id], c.result.reason) for c in report.checks
        },
        said_before=said_before(report.checks),
        undetermined=[c for c in report.checks if c.result.status.value == "unknown"],
        not_checked=nc,
        unreadable_groups=unreadable_groups(report),
        # The Graph's message in the table of unreadable data: printed at the first dataset that
        # got it; the others name that one (a consent never given: 35 times the same sentence).
        message_first={
            m: next(p.dataset for p in report.unreadable if p.error_message == m)
            for m in {p.error_message for p in report.unreadable if p.error_message}
        },
        settings_missing=settings_missing(report),
        plain_reason={c.id: plain_reason(c.result.reason) for c in report.checks},
        portal={c.id: portal_link(c.id, lang) for c in report.checks},
        prices={g.what: licence_for_product(g.what, lang) for g in nc if g.cause == "licence"},
        verdict_text=messages["verdicts"],
        plan_now=messages["plan_now"],
        fmt=_Formatter(lang, messages),
        checks=checks,
        manual={m.id: m for m in report.manual},
        symbols=SYMBOLS,
        status_text=messages["statuses"],
        severity_text=messages["severity"],
        effort_text=messages["effort"],
        dataset_status_text=messages["dataset_status"],
        norm_status_text=messages["norm_status"],
        answers=messages["answers"],
        term_id=term_id,
    )


def _render(context: dict[str, Any], parts: tuple[str, ...]) -> str:
    """One page of the set: the board document, the appendix, or both (report.html). Links
    into the other document go to its own file when it is not on the page."""
    links = {
        "ax": "" if "appendix" in parts else APPENDIX_FILE,
        "bx": "" if "board" in parts else BOARD_FILE,
    }
    template = _env.get_template("report.html.j2")
    if "board" not in parts:
        return template.render(**context, **links, parts=parts, terms=[], gl=_Glossary([]))
    # The begrippenlijst holds the terms the board document uses: rendered once to find them,
    # then with the first use of each linked to its entry.
    draft = template.render(**context, **links, parts=("board",), terms=[], gl=_Glossary([]))
    terms = terms_used([_visible_text(draft)], context["lang"])
    return template.render(**context, **links, parts=parts, terms=terms, gl=_Glossary(terms))


def render_board(report: Report, lang: str = "nl") -> str:
    """bestuursrapport.html: the board document (at most four A4 pages)."""
    return _render(_context(report, lang), ("board",))


def render_appendix(report: Report, lang: str = "nl") -> str:
    """bijlage.html: the technical appendix, each finding once with its evidence."""
    return _render(_context(report, lang), ("appendix",))


def render_html(report: Report, lang: str = "nl") -> str:
    """report.html: the board document followed by the appendix, in one self-contained page."""
    return _render(_context(report, lang), ("board", "appendix"))


class _Formatter:
    """Numbers, dates and codes for people, in the report's language (see humanize)."""

    def __init__(self, lang: str, messages: dict) -> None:
        self.lang = lang
        self.words = messages["words"]
        self.labels = messages.get("labels", {})

    def day(self, value: object) -> str:
        return humanize.day(value, self.lang)  # type: ignore[arg-type]

    def day_or_text(self, value: str | None) -> str:
        """A date the school typed in: formatted when it is one, as typed when not."""
        try:
            return humanize.day(value, self.lang)
        except ValueError:
            return value or "–"

    def moment(self, value: object) -> str:
        return humanize.moment(value, self.lang)  # type: ignore[arg-type]

    def seconds(self, value: float) -> str:
        return humanize.seconds(value, self.lang)

    def number(self, value: float) -> str:
        return humanize.number(value, self.lang)

    def products(self, skus: list[str]) -> str:
        return humanize.products(skus, self.lang)

    def value(self, raw: object) -> str:
        return humanize.value(raw, self.lang, self.words, self.labels)

    def label(self, key: str) -> str:
        return humanize.key_label(key, self.labels)


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


def write_reports(
    report: Report,
    out_dir: Path,
    lang: str = "nl",
    *,
    pdf: bool = False,
    staged: list[tuple[Path, Path]] = (),  # type: ignore[assignment]
) -> dict[str, Path]:
    """The report set (and `staged` files that belong to it, the snapshot): written under
    temporary names, then renamed together, so a kill at any moment leaves the old set whole
    or the new one, never a mix."""
    from m365apk.reports.pdf import write_pdf

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "report.json",
        "html": out_dir / "report.html",
        "board_html": out_dir / BOARD_FILE,
        "appendix_html": out_dir / APPENDIX_FILE,
        "csv": out_dir / "normen.csv",
        "plan": out_dir / "actieplan.csv",
        "plan_xlsx": out_dir / "actieplan.xlsx",
    }
    if pdf:
        paths["board_pdf"] = out_dir / "bestuursrapport.pdf"
        paths["appendix_pdf"] = out_dir / "bijlage.pdf"
    with replaced_together(list(paths.values()), staged) as tmps:
        tmp = dict(zip(paths, tmps, strict=True))
        tmp["json"].write_text(report.to_json(), encoding="utf-8")
        crash_point("reports.json")
        context = _context(report, lang)
        tmp["html"].write_text(_render(context, ("board", "appendix")), encoding="utf-8")
        crash_point("reports.half")
        tmp["board_html"].write_text(_render(context, ("board",)), encoding="utf-8")
        tmp["appendix_html"].write_text(_render(context, ("appendix",)), encoding="utf-8")
        tmp["csv"].write_text(render_norms_csv(report), encoding="utf-8-sig", newline="")
        tmp["plan"].write_text(render_action_plan_csv(report), encoding="utf-8-sig", newline="")
        write_action_plan_xlsx(report, tmp["plan_xlsx"])
        if pdf:
            write_pdf(tmp["board_html"], tmp["board_pdf"])
            write_pdf(tmp["appendix_html"], tmp["appendix_pdf"])
        crash_point("reports.staged")
    crash_point("reports.done")
    return paths
