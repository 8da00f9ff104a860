"""The board document and the appendix (issue 27 points 1, 2, 4, 8): one model, two documents.
The bestuursrapport says who does what, by when and at what cost, what was not checked and
why, and carries the snapshot's fingerprint; the bijlage says each finding once."""

from __future__ import annotations

import html as html_lib
import re
from collections import Counter
from datetime import timedelta

import pytest

from m365apk.checks.base import Status
from m365apk.reports import view
from m365apk.reports.board_data import ActionDetail, Licence
from m365apk.reports.html import render_appendix, render_board, write_reports
from m365apk.reports.i18n import catalogue
from m365apk.reports.model import DatasetProblem, Report
from m365apk.reports.view import actions


def text_of(page: str) -> str:
    page = re.sub(r"<style>.*?</style>", " ", page, flags=re.DOTALL)
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def section(page: str, id_: str) -> str:
    start = page.index(f'id="{id_}"')
    return page[start : page.index("</section>", start)]


def sentences(page: str) -> list[str]:
    """The visible sentences of a page: each block (paragraph, cell, list item) cut at a full
    stop before a capital; a sentence has five words or more and ends in . ! or ?"""
    page = re.sub(r"<(style|summary)>.*?</\1>", " ", page, flags=re.DOTALL)
    page = re.sub(
        r"<(td|th|li|p|h\d|dt|dd|caption|figcaption|div|section|tr|br)\b[^>]*>", "\n", page
    )
    text = html_lib.unescape(re.sub(r"<[^>]+>", " ", page))
    out = []
    for block in text.split("\n"):
        block = re.sub(r"\s+", " ", block).strip()
        for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\u201c\"(])", block):
            if len(s.split()) >= 5 and s[-1] in ".!?":
                out.append(s)
    return out


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("profile", ["weak", "good", "board"])
def test_appendix_prints_each_finding_sentence_once(demo_reports, profile, lang) -> None:
    """Finding 1: "Beveiligingsstandaarden staan uit en er is geen ingeschakeld beleid…" stood
    14 times in the weak report. A later check refers to the first one instead; those
    references name another check each time, they are not the finding again."""
    ui = catalogue(lang)["ui"]
    page = render_appendix(demo_reports[profile], lang)
    # The manual checkpoints are questions, not findings (several Exchange questions say alike
    # that the Admin API does not return the setting).
    manual = section(page, "handmatig")
    page = page.replace(manual, "")
    found = [
        s
        for s in sentences(page)
        if not s.startswith((ui["same_finding"], ui["same_why"])) and ui["same_fix"] not in s
    ]
    assert len(found) > 40  # the test sees the findings, not only headings
    twice = {s: n for s, n in Counter(found).items() if n > 1}
    assert twice == {}


def test_appendix_refers_to_the_first_check_with_the_same_finding(demo_reports) -> None:
    """A sentence that several checks' findings share (the weak school: security defaults off
    and no Conditional Access policy) is printed with the first; the others refer to it."""
    report = demo_reports["weak"]
    shared = Counter(
        s for c in report.checks for s in set(view.sentences(c.result.reason or "")) if len(s) > 40
    )
    repeated = [s for s, n in shared.items() if n > 1]
    assert repeated, "the weak school has findings that share a sentence"
    text = text_of(render_appendix(report))
    for sentence in repeated:
        assert text.count(sentence) == 1, sentence
    assert "Dezelfde bevinding als bij" in text


def test_appendix_lists_measures_and_norms_as_titles_without_the_finding_again(
    demo_reports,
) -> None:
    report = demo_reports["weak"]
    page = render_appendix(report)
    details = page[page.index('id="details"') : page.index('id="normenkader"')]
    norms = page[page.index('id="normenkader"') : page.index('id="controles"')]
    for c in report.checks:
        reason = view.plain_reason(c.result.reason)
        if reason and len(reason) > 40:
            assert reason not in html_lib.unescape(details), c.id
            assert reason not in html_lib.unescape(norms), c.id
    assert 'href="#check-mfa.enforced_for_all"' in details and "✘" in details


def test_measured_value_only_when_it_adds_to_the_finding() -> None:
    assert not view.adds_to_reason("6 globale beheerders", "Er zijn 6 globale beheerders.")
    assert not view.adds_to_reason(
        "Beveiligingsstandaarden staan uit", "Beveiligingsstandaarden staan uit."
    )
    assert view.adds_to_reason("27,3% van de medewerkers", "Niet iedereen kan MFA gebruiken.")
    assert not view.adds_to_reason(None, "x")


@pytest.mark.parametrize("profile", ["good", "board"])
def test_an_action_is_never_named_after_a_passing_check(demo_reports, profile) -> None:
    """Finding 3: "Dwing MFA af voor iedereen, beheerders eerst" while MFA for everyone was
    enforced; the items under it were advice, yet it ranked above a medium-severity action."""
    report = demo_reports[profile]
    status = {c.id: c.result.status.value for c in report.checks}
    assert status["mfa.enforced_for_all"] == "pass"
    for lang in ("nl", "en"):
        words = catalogue(lang)["actions"]["mfa"]  # "Zet MFA … aan voor iedereen, beheerders eerst"
        assert words not in text_of(render_board(report, lang))
        assert words not in text_of(render_appendix(report, lang))
    todo = actions(report, catalogue("nl"))
    names, rest = catalogue("nl")["actions"], catalogue("nl")["actions_rest"]
    for a in todo:
        if a.id not in view.group_heads():
            assert a.title == a.checks[0].title  # a check that is an action of its own
        elif status[view.group_heads()[a.id]] in ("fail", "partial"):
            assert a.title == names[a.id]
        else:  # a title that says what to do, not a check's name (a noun phrase)
            assert a.title == rest[a.id], a.id
    # Advice (only low-severity findings) after every requirement.
    kinds = [a.advice for a in todo]
    assert True in kinds and False in kinds
    assert kinds == sorted(kinds), [(a.id, a.advice) for a in todo]


def test_every_action_group_has_a_title_for_when_its_head_passes() -> None:
    for lang in ("nl", "en"):
        words = catalogue(lang)
        assert set(words["actions_rest"]) == set(view.group_heads()) == set(words["actions"])


def test_a_free_fix_comes_before_a_paid_one(demo_reports, monkeypatch) -> None:
    """Finding 2: the free fix stood in the appendix while a paid one led. In the weak school
    the app permissions (high) would win more points than the mail domain (high); with a
    licence needed for the apps, the free mail-domain fix comes first."""
    report = demo_reports["weak"]
    before = [a.id for a in actions(report, catalogue("nl"))]
    assert before.index("apps") < before.index("email")
    paid = ActionDetail(
        owner="it_partner",
        hours="4",
        deadline_days=90,
        licence=Licence("Microsoft Entra ID P1", "€ 5", "https://example.org", "2026-12-01"),
    )
    free = ActionDetail(owner="school", hours="1", deadline_days=30)
    monkeypatch.setattr(
        view, "action_detail", lambda a, lang="nl", failing=None: paid if a == "apps" else free
    )
    after = [a for a in actions(report, catalogue("nl"))]
    ids = [a.id for a in after]
    assert ids.index("email") < ids.index("apps")
    # Within a tier (critical, requirement or advice) no free action after a paid one.
    for tier in {(a.key()[0], a.key()[1]) for a in after}:
        paid_flags = [a.paid for a in after if (a.key()[0], a.key()[1]) == tier]
        assert paid_flags == sorted(paid_flags)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_eerst_doen_says_what_who_cost_and_by_when(demo_reports, lang) -> None:
    report = demo_reports["weak"]
    page = render_board(report, lang)
    first = section(page, "eerst-doen")
    rows = re.findall(r"<tr>\s*<td>.*?</tr>", first, flags=re.DOTALL)
    assert len(rows) == 3
    ui = catalogue(lang)["ui"]
    from m365apk.reports import humanize
    from m365apk.reports.board_data import action_detail

    for a, row in zip(actions(report, catalogue(lang)), rows, strict=False):
        detail = action_detail(a.id, lang, failing=[c.id for c in a.checks])
        text = text_of(row)
        assert ui[f"owner_{detail.owner}"] in text
        assert ui["first_hours"].format(hours=detail.hours) in text
        due = report.collected_at.date() + timedelta(days=detail.deadline_days)
        assert humanize.day(due, lang) in text
    assert 'href="bijlage.html#check-' in first  # the findings it solves, in the appendix


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("profile", ["weak", "good", "board"])
def test_board_document_has_no_command_line(demo_reports, profile, lang) -> None:
    """Finding 4: "(--tenant-config, of tenant_config in tenants.yaml)" in a red box on the
    cover. The school reads a plain sentence; the command-line detail is in the appendix."""
    report = demo_reports[profile]
    board = text_of(render_board(report, lang))
    assert not re.search(r"(?<![\w-])--[a-z]", board), "a command-line option"
    assert "tenants.yaml" not in board and "tenant_config" not in board
    if profile == "weak":
        assert 'id="instellingen-ontbreken"' in render_board(report, lang)
        assert "--tenant-config" in text_of(render_appendix(report, lang))


def test_what_was_not_checked_is_grouped_by_cause_with_product_names(demo_reports) -> None:
    report = demo_reports["weak"]
    part = section(render_board(report), "niet-gecontroleerd")
    text = text_of(part)
    assert "De APK leest" in text and "Hij controleert niet" in text  # the scope
    assert "Geen licentie voor Microsoft Entra ID P1" in text
    assert "Geen licentie voor Microsoft Entra ID P2" in text
    for raw in ("GET /v1.0", "licence_not_in_subscribedSkus", "(in A5)", "403"):
        assert raw not in text, raw
    unlicensed = [c for c in report.checks if c.result.status.value == "not_licensed"]
    assert len(unlicensed) > 12
    for c in unlicensed:  # each named on the board (at most twelve per cause)
        assert f'href="bijlage.html#check-{c.id}"' in part, c.id
    # And all of them, by cause, in the appendix.
    listed = section(render_appendix(report), "niet-vastgesteld")
    for c in report.checks:
        if c.result.status.value in ("unknown", "not_licensed"):
            assert f'href="#check-{c.id}"' in listed, c.id


def test_a_missing_permission_and_a_graph_error_are_causes_of_their_own(demo_reports) -> None:
    report = demo_reports["good"]
    checks = []
    for c in report.checks:
        if c.id in ("admin.global_admin_count", "apps.inventory"):
            result = c.result.model_copy(update={"status": Status.UNKNOWN, "reason": "x"})
            c = c.model_copy(update={"result": result})
        checks.append(c)
    ga = next(c for c in checks if c.id == "admin.global_admin_count")
    apps = next(c for c in checks if c.id == "apps.inventory")
    problems = [
        DatasetProblem(
            dataset=ga.datasets[0],
            endpoint="GET /v1.0/x",
            status="forbidden",
            permission="RoleManagement.Read.Directory",
            http_status=403,
        ),
        DatasetProblem(
            dataset=next(d for d in apps.datasets if d != ga.datasets[0]),
            endpoint="GET /v1.0/y",
            status="throttled",
            permission="Application.Read.All",
            http_status=429,
        ),
    ]
    broken = report.model_copy(update={"checks": checks, "unreadable": problems, "partial": True})
    groups = {(g.cause, g.what): [c.id for c in g.checks] for g in view.not_checked(broken)}
    assert "admin.global_admin_count" in groups[("permission", "RoleManagement.Read.Directory")]
    assert "apps.inventory" in groups[("graph_error", "")]
    board = render_board(broken)
    text = text_of(section(board, "niet-gecontroleerd"))
    assert "Toestemming ontbreekt: RoleManagement.Read.Directory" in text
    assert "Microsoft 365 gaf een fout of antwoordde niet op tijd" in text
    assert "429" not in text and "GET /v1.0" not in text
    # A partial scan still says so on the first screen.
    cover = board[: board.index('id="eerst-doen"')]
    assert 'id="onvolledig"' in cover and "Onvolledige scan" in cover


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_sign_off_carries_the_fingerprint_and_a_line_for_the_officer(demo_reports, lang) -> None:
    report = demo_reports["good"]
    assert report.snapshot_sha256 and len(report.snapshot_sha256) == 64
    signoff = section(render_board(report, lang), "ondertekening")
    ui = catalogue(lang)["ui"]
    assert report.snapshot_sha256 in signoff
    for key in (
        "sign_leader",
        "sign_officer",
        "signoff_by",
        "signoff_role",
        "signoff_date",
        "signoff_sign",
    ):
        assert ui[key] in html_lib.unescape(signoff), key
    assert "astgesteld" not in text_of(signoff)  # "vastgesteld" means "determined" elsewhere


def test_sign_off_without_a_snapshot_file_says_so(demo_reports) -> None:
    report = demo_reports["good"].model_copy(update={"snapshot_sha256": None})
    signoff = text_of(section(render_board(report), "ondertekening"))
    assert catalogue("nl")["ui"]["sign_no_fingerprint"] in signoff


def test_glossary_explains_the_terms_the_board_uses_and_links_their_first_use(
    demo_reports,
) -> None:
    page = render_board(demo_reports["weak"])
    assert 'id="begrippen"' in page and 'id="begrip-mfa"' in page
    body = page[: page.index('id="begrippen"')]
    assert body.count('href="#begrip-mfa"') == 1  # the first use only
    first = body.index('href="#begrip-mfa"')
    assert re.search(r"(?<!\w)MFA(?!\w)", text_of(body[first:]))
    # A term is never linked inside another link (nested anchors are invalid HTML).
    for profile in ("weak", "good", "board"):
        for link in re.findall(r"<a\b.*?</a>", render_board(demo_reports[profile]), re.DOTALL):
            assert "<a " not in link[2:], link


def test_tenant_text_stays_text_in_the_board_document(demo_reports) -> None:
    payload = '<script>alert("MFA")</script>'
    report = demo_reports["weak"]
    report = report.model_copy(
        update={"tenant": report.tenant.model_copy(update={"display_name": payload})}
    )
    for page in (render_board(report), render_appendix(report)):
        assert payload not in page and "<script" not in page.lower()


def test_the_set_is_written_together_with_links_to_both_documents(demo_reports, tmp_path) -> None:
    paths = write_reports(demo_reports["board"], tmp_path)
    for key in ("html", "board_html", "appendix_html", "json"):
        assert paths[key].is_file(), key
    combined = paths["html"].read_text("utf-8")
    top = combined[: combined.index("<main")]
    assert 'href="bestuursrapport.html"' in top and 'href="bijlage.html"' in top
    assert combined.index('id="bestuursrapport"') < combined.index('id="bijlage"')
    board = paths["board_html"].read_text("utf-8")
    assert 'id="bijlage"' not in board and 'href="bijlage.html#check-' in board
    appendix = paths["appendix_html"].read_text("utf-8")
    assert 'id="voorblad"' not in appendix and 'id="check-apps.inventory"' in appendix
    assert Report.model_validate_json(paths["json"].read_text("utf-8")).checks


def test_many_missing_permissions_are_one_cause_naming_each_permission_once(demo_reports) -> None:
    """A consent that lacks most permissions: one line on the cover and one cause in "Wat niet
    is gecontroleerd", not a line per dataset (the board stays within four pages)."""
    report = demo_reports["good"]
    datasets = sorted({d for c in report.checks for d in c.datasets})[:20]
    problems = [
        DatasetProblem(
            dataset=d,
            endpoint=f"GET /v1.0/{d}",
            status="forbidden",
            permission="Directory.Read.All" if i % 2 else f"{d}.Read.All",
            http_status=403,
        )
        for i, d in enumerate(datasets)
    ]
    checks = [
        c.model_copy(
            update={"result": c.result.model_copy(update={"status": Status.UNKNOWN, "reason": "x"})}
        )
        if set(c.datasets) & set(datasets)
        else c
        for c in report.checks
    ]
    broken = report.model_copy(update={"checks": checks, "unreadable": problems, "partial": True})
    groups = [g for g in view.not_checked(broken) if g.cause == "permission"]
    assert len(groups) == 1
    named = groups[0].what.split(", ")
    assert named.count("Directory.Read.All") == 1 and len(named) == len(set(named)) == 11
    board = render_board(broken)
    cover = text_of(section(board, "onvolledig"))
    assert cover.count("Directory.Read.All") == 1
    part = section(board, "niet-gecontroleerd")
    assert part.count('href="bijlage.html#check-') <= 12 + 12  # capped per cause
    assert 'href="bijlage.html#niet-vastgesteld"' in part
