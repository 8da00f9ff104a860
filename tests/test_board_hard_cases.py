"""The board document and the appendix in cases the demos do not show (issue 27): a school with
a very long name, many accepted risks, last year's plan full of its own long texts and a
previous APK; a consent that lets almost nothing be read; a tenant whose names carry markup.
The board stays within four A4 pages, nothing from the tenant is markup, and the appendix
still says each finding once."""

from __future__ import annotations

import html as html_lib
import itertools
import re
from collections import Counter

import pytest

from m365apk.checks.base import Status
from m365apk.reports.html import render_appendix, render_board
from m365apk.reports.i18n import catalogue
from m365apk.reports.model import ChangedCheck, Comparison, DatasetProblem, PlanReview
from tests.test_board import section, sentences

LONG_NAME = (
    "Stichting voor Openbaar Primair en Voortgezet Onderwijs in de Regio " * 4
    + "W" * 120  # one unbroken word: no break opportunity inside it
)
LONG_TEXT = "Koppeling met het leerlingvolgsysteem en de roosterapplicatie " * 5  # ~300 chars


def hard_school(report, lang: str = "nl"):
    """The weak school with everything the board can be asked to carry at once."""
    failing = [c for c in report.checks if c.result.status in (Status.FAIL, Status.PARTIAL)]
    accepted = {c.id for c in failing[3:25]}  # the first few stay findings for Eerst doen
    checks = [
        c.model_copy(
            update={
                "result": c.result.model_copy(
                    update={
                        "status": Status.ACCEPTED,
                        "reason": f"Geaccepteerd tot 2027-12-31: {LONG_TEXT}",
                        "reason_parts": None,
                    }
                )
            }
        )
        if c.id in accepted
        else c
        for c in report.checks
    ]
    plan = [
        PlanReview(
            id=f"eigen-punt-{i}",
            title=f"{LONG_TEXT}{i}",
            owner="IT-partner " + "Q" * 80,
            due="2026-06-01",
            planned_status="bezig",
            now="onbekend",
        )
        for i in range(40)
    ]
    changed = [ChangedCheck(id=c.id, title=c.title, was="pass", now="fail") for c in failing]
    comparison = Comparison(
        previous_run="apk-1",
        previous_date="2025-12-01",
        previous_score=40,
        previous_verdict="onvoldoende",
        score_delta=-25,
        measure_deltas={bm.id: -10 for bm in report.basismaatregelen},
        new_findings=changed,
        resolved=changed[:10],
        peers_median=61.0,
        peers_count=12,
    )
    tenant = report.tenant.model_copy(
        update={"display_name": LONG_NAME, "default_domain": "a" * 60 + ".onmicrosoft.com"}
    )
    return report.model_copy(
        update={"checks": checks, "plan_review": plan, "comparison": comparison, "tenant": tenant}
    )


def board_pages(report, lang: str, folder) -> int:
    from pypdf import PdfReader

    from m365apk.reports.pdf import write_pdf

    html = folder / f"bestuursrapport-{lang}.html"
    html.write_text(render_board(report, lang), encoding="utf-8")
    return len(PdfReader(write_pdf(html, html.with_suffix(".pdf"))).pages)


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["nl", "en"])
def test_board_of_a_long_named_school_with_accepted_risks_and_last_years_plan_fits_four_pages(
    demo_reports, tmp_path, lang
) -> None:
    """A name of 400 characters, 22 accepted risks, 40 rows of last year's plan in the school's
    own words and a previous APK: the board document still prints on four A4 pages at most."""
    assert board_pages(hard_school(demo_reports["weak"]), lang, tmp_path) <= 4


def without_consent(report):
    """Almost nothing could be read: every dataset but the organisation's answered 403 with
    the same Graph message (a consent that was never given, or given for too little)."""
    datasets = sorted({d for c in report.checks for d in c.datasets} - {"organization"})
    problems = [
        DatasetProblem(
            dataset=d,
            endpoint=f"GET /v1.0/{d}",
            status="forbidden",
            permission=f"{d}.Read.All",
            http_status=403,
            error_code="Authorization_RequestDenied",
            error_message="Insufficient privileges to complete the operation.",
        )
        for d in datasets
    ]
    checks = [
        c.model_copy(
            update={
                "result": c.result.model_copy(
                    update={"status": Status.UNKNOWN, "reason": "Niet vastgesteld."}
                )
            }
        )
        if set(c.datasets) & set(datasets)
        else c
        for c in report.checks
    ]
    return report.model_copy(update={"checks": checks, "unreadable": problems, "partial": True})


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_appendix_of_a_school_without_consent_prints_the_graph_message_once(
    demo_reports, lang
) -> None:
    """`demo --portfolio`'s school without consent: "HTTP 403 foutcode
    Authorization_RequestDenied: Insufficient privileges to complete the operation." stood 35
    times in the appendix's table of unreadable data, once per dataset."""
    page = render_appendix(without_consent(demo_reports["weak"]), lang)
    table = section(page, "gegevens")
    message = "Insufficient privileges to complete the operation."
    assert html_lib.unescape(table).count(message) == 1
    rows = re.findall(r"<tr><td>.*?</tr>", table[: table.index('id="scan"')], re.DOTALL)
    assert len(rows) > 20 and all("403" in row for row in rows)  # each row keeps its status
    twice = {s: n for s, n in Counter(sentences(table)).items() if n > 1}
    assert twice == {}


HOSTILE = '<script>alert("x")</script>\'"&amp;' + "L" * 300  # markup, quotes, no break


def hostile_names(report):
    """Tenant text everywhere the documents print it: names of affected objects (an app, a
    policy, a user), last year's plan and the answers to the manual checkpoints."""
    checks = []
    for c in report.checks:
        affected = [
            o.model_copy(update={"display_name": HOSTILE}) for o in c.result.evidence.affected
        ]
        evidence = c.result.evidence.model_copy(update={"affected": affected})
        checks.append(
            c.model_copy(update={"result": c.result.model_copy(update={"evidence": evidence})})
        )
    manual = [
        q.model_copy(
            update={
                "status": "beantwoord",
                "answer": "ja",
                "by": HOSTILE,
                "date": report.collected_at.date(),
                "evidence": HOSTILE,
                "note": HOSTILE,
            }
        )
        for q in report.manual
    ]
    plan = [
        PlanReview(
            id="eigen-punt",
            title=HOSTILE,
            owner=HOSTILE,
            due=HOSTILE,
            planned_status=HOSTILE,
            now="onbekend",
        )
    ]
    tenant = report.tenant.model_copy(update={"display_name": HOSTILE})
    return report.model_copy(
        update={"checks": checks, "manual": manual, "plan_review": plan, "tenant": tenant}
    )


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_tenant_names_with_markup_stay_text_in_both_documents(demo_reports, lang) -> None:
    report = hostile_names(demo_reports["weak"])
    for page in (render_board(report, lang), render_appendix(report, lang)):
        assert "<script" not in page.lower() and 'alert("x")' not in page
        body = page[page.index("<body") :]
        assert "&lt;script&gt;" in body  # printed, as text


@pytest.mark.browser
def test_a_long_unbroken_app_name_stays_within_the_printed_page(demo_reports, tmp_path) -> None:
    """An app, policy or user name of 300 characters without a space made the table of
    affected objects 4,600 px wide, and the weak demo's table of requests its licences do not
    allow 1,055 px: Chromium then shrinks every page of the PDF to fit (7 pt text instead of
    10.5). On paper no table is wider than the page; on a phone it scrolls a little at most."""
    from playwright.sync_api import sync_playwright

    from m365apk.reports.pdf import FLAGS, find_browser

    report = hostile_names(demo_reports["weak"])
    pages = []
    for name, render in (("bijlage", render_appendix), ("bestuursrapport", render_board)):
        pages.append(tmp_path / f"{name}.html")
        pages[-1].write_text(render(report), encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_browser(), args=list(FLAGS[1:]))
        try:
            # Printed, nothing may be wider than the page; on a phone a table may scroll
            # sideways (a region of its own), but not across a dozen screens.
            for html, (media, width, limit) in itertools.product(
                pages, (("print", 680, 681), ("screen", 390, 3 * 390))
            ):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.emulate_media(media=media)
                page.goto(html.resolve().as_uri())
                wide = page.evaluate(
                    """limit => [...document.querySelectorAll('table')]
                        .filter(t => t.getBoundingClientRect().width > limit)
                        .map(t => t.querySelector('caption')?.id)""",
                    limit,
                )
                assert wide == [], (html.name, media, wide[:5])
                page.close()
        finally:
            browser.close()


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_last_years_plan_with_manual_checkpoints_says_each_sentence_once(
    demo_reports, lang
) -> None:
    """Last year's plan that lists the Exchange checkpoints: each row printed the whole
    question, so "De Exchange Online Admin API geeft dat niet." stood once per row."""
    report = demo_reports["weak"]
    plan = [
        PlanReview(
            id=q.id,
            title=q.question,
            owner="IT-partner",
            due="2026-06-01",
            planned_status="open",
            now="open",
        )
        for q in report.manual
    ]
    page = render_appendix(report.model_copy(update={"plan_review": plan}), lang)
    page = page.replace(section(page, "handmatig"), "")  # the questions themselves
    twice = {s: n for s, n in Counter(sentences(page)).items() if n > 1}
    ui = catalogue(lang)["ui"]
    twice = {  # a reference to where a finding, why or fix stood first is no repeat
        s: n
        for s, n in twice.items()
        if not s.startswith((ui["same_finding"], ui["same_why"])) and ui["same_fix"] not in s
    }
    assert twice == {}
    plan_table = section(page, "actieplan")
    for q in report.manual:
        assert f'href="#{q.id}"' in plan_table  # the row leads to the checkpoint


def finding_sentences_twice(page: str, lang: str) -> dict[str, int]:
    """The appendix's sentences that stand twice, as tests/test_board.py counts them: the
    manual checkpoints are questions, and a reference to an earlier check is no repeat."""
    ui = catalogue(lang)["ui"]
    page = page.replace(section(page, "handmatig"), "")
    found = [
        s
        for s in sentences(page)
        if not s.startswith((ui["same_finding"], ui["same_why"])) and ui["same_fix"] not in s
    ]
    assert len(found) > 20
    return {s: n for s, n in Counter(found).items() if n > 1}


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("case", ["hard_school", "without_consent"])
def test_appendix_of_a_hard_case_prints_each_finding_sentence_once(
    demo_reports, case, lang
) -> None:
    report = {"hard_school": hard_school, "without_consent": without_consent}[case](
        demo_reports["weak"]
    )
    assert finding_sentences_twice(render_appendix(report, lang), lang) == {}


def test_pseudonymised_english_appendix_prints_each_finding_sentence_once(tmp_path) -> None:
    from m365apk.cli import main

    args = ["demo", "--profile", "weak", "--lang", "en", "--pseudonymise"]
    assert main([*args, "--out", str(tmp_path), "--quiet"]) == 0
    page = (tmp_path / "bijlage.html").read_text("utf-8")
    assert finding_sentences_twice(page, "en") == {}


def test_a_graph_message_ending_in_a_full_stop_ends_the_finding_once(demo_reports) -> None:
    """ "…Insufficient privileges to complete the operation.." in every check of a school
    without consent."""
    from m365apk.checks.base import _message

    problem = without_consent(demo_reports["weak"]).unreadable[0]
    assert problem.error_message.endswith("operation.")
    said = str(_message(problem))
    assert said.endswith("to complete the operation") and not said.endswith(".")


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_a_school_without_consent_is_first_told_to_grant_the_permissions(
    demo_reports, lang
) -> None:
    """Without consent, Eerst doen said "no open findings" or named only a paid action while
    eighty checks stood unread: its first row now asks for the missing permissions and a new
    scan, free, for the IT partner, within two weeks, and the rows stay at most three."""
    words = catalogue(lang)["ui"]
    report = without_consent(demo_reports["weak"])
    first = section(render_board(report, lang), "eerst-doen")
    rows = re.findall(r"<tr[ >].*?</tr>", first[first.index("<tbody>") :], re.DOTALL)
    assert 1 <= len(rows) <= 3
    assert 'id="eerst-machtigingen"' in rows[0] and words["grant_title"] in rows[0]
    assert "users.Read.All" in rows[0] and words["first_free"] in rows[0]
    # A school that granted everything is not asked to.
    assert "eerst-machtigingen" not in render_board(demo_reports["good"], lang)
