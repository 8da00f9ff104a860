"""report.json and report.html from fixture snapshots: deterministic, escaped, self-contained."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from m365apk.checks.evaluate import evaluate
from m365apk.checks.registry import all_checks, select_checks
from m365apk.reports.html import render_html, render_norms_csv, write_reports
from m365apk.reports.model import Report, build_report
from m365apk.snapshot import DatasetStatus, Snapshot

from .snapshots import assignment, failed, ok, registration, snapshot, user

XSS = ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>']


def tenant_snapshot(names: list[str] | None = None) -> Snapshot:
    names = names or ["Anna", "Bram", "Cor"]
    users = [user(f"u{i}") | {"displayName": n} for i, n in enumerate(names)]
    roles = [
        assignment(u["id"])
        | {"principal": {**assignment(u["id"])["principal"], "displayName": u["displayName"]}}
        for u in users
    ]
    return snapshot(
        users=ok(users),
        roleAssignments=ok(roles),
        userRegistrationDetails=ok([registration(u["id"], False) for u in users]),
    )


def report_for(snap: Snapshot) -> Report:
    checks = select_checks(all_checks(), ["mfa.registration_coverage", "admin.global_admin_count"])
    return build_report(snap, checks, evaluate(snap, checks))


def test_same_snapshot_gives_identical_json() -> None:
    snap = tenant_snapshot()
    again = Snapshot.model_validate_json(snap.model_dump_json())
    assert report_for(snap).to_json() == report_for(again).to_json()


def test_report_json_holds_scores_checks_and_all_basismaatregelen() -> None:
    report = report_for(tenant_snapshot())
    assert [b.id for b in report.basismaatregelen] == list(range(1, 12))
    # GA count passes (3, weight 3), MFA fails (critical, weight 4): 3/7.
    assert report.overall.score == 43 and report.overall.verdict == "onvoldoende"
    ga = next(c for c in report.checks if c.id == "admin.global_admin_count")
    assert ga.result.measured == 3 and ga.sources and ga.fix
    assert all(n.indicatief for c in report.checks for n in c.norms)  # all links are ours


def test_partial_scan_warns_on_the_first_screen_with_the_error() -> None:
    snap = tenant_snapshot()
    snap.datasets["roleAssignments"] = failed(DatasetStatus.FORBIDDEN)
    report = report_for(snap)
    assert report.partial
    html = render_html(report)
    cover = html[: html.index('id="eerst-doen"')]
    assert "Onvolledige scan" in cover and "X.Read.All" in cover
    # In plain words on the cover, with the checks that could not be determined; Graph's error
    # code only in the technical appendix (issue 14 finding 6, issue 11 point 5).
    assert "Authorization_RequestDenied" not in cover and "GET /v1.0" not in cover
    assert "Niet vastgesteld" in cover and "Aantal globale beheerders" in cover
    appendix = html[html.index('id="bijlage"') :]
    assert "Authorization_RequestDenied" in appendix


def test_not_licensed_is_reported_but_not_a_partial_scan() -> None:
    snap = tenant_snapshot()
    snap.datasets["userRegistrationDetails"] = failed(
        DatasetStatus.NOT_LICENSED, "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    )
    report = report_for(snap)
    assert not report.partial and report.not_licensed
    assert "Authentication_RequestFromNonPremiumTenantOrB2CTenant" in render_html(report)


def test_tenant_text_is_escaped_never_raw() -> None:
    html = render_html(report_for(tenant_snapshot(XSS)))
    for payload in XSS:
        assert payload not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "<script" not in html.lower()


def test_html_is_self_contained() -> None:
    html = render_html(report_for(tenant_snapshot()))
    assert '<html lang="nl">' in html
    # No resource is fetched: no src attributes, stylesheets or imports (links to sources are
    # plain anchors).
    assert not re.search(r"\ssrc\s*=", html)
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert "@media print" in html


def test_every_basismaatregel_has_a_section() -> None:
    html = render_html(report_for(tenant_snapshot()))
    for n in range(1, 12):
        assert f'id="bm-{n}"' in html


def test_status_is_written_not_only_coloured() -> None:
    html = render_html(report_for(tenant_snapshot()))
    assert "voldoet niet" in html


def test_norm_csv_opens_in_dutch_excel(tmp_path: Path) -> None:
    paths = write_reports(report_for(tenant_snapshot()), tmp_path)
    raw = paths["csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0] == "norm" and len(rows) > 1
    report = report_for(tenant_snapshot())
    assert len(rows) - 1 == sum(len(n.checks) for n in report.norms)
    assert render_norms_csv(report).count("\r\n") == len(rows)


def test_published_schema_is_current() -> None:
    from m365apk.reports.schema import published, render

    assert published() == render(), "run: python -m m365apk.reports.schema"


def test_reports_validate_against_the_published_schema(tmp_path: Path) -> None:
    import json

    import jsonschema

    from m365apk.reports.schema import published

    schema = json.loads(published())
    snap = tenant_snapshot(XSS)
    snap.datasets["roleAssignments"] = failed(DatasetStatus.FORBIDDEN)
    for report in (report_for(tenant_snapshot()), report_for(snap)):
        jsonschema.validate(json.loads(report.to_json()), schema)


def test_manual_items_are_open_until_answered_and_never_scored(tmp_path: Path) -> None:
    from datetime import date

    from m365apk.checks.manual import Attestation, load_attestations, manual_items
    from m365apk.mappings.loader import load_mappings

    load_mappings().validate_manual(manual_items())
    snap = tenant_snapshot()
    checks = select_checks(all_checks(), ["mfa.registration_coverage", "admin.global_admin_count"])
    results = evaluate(snap, checks)
    before = build_report(snap, checks, results)
    assert {m.status for m in before.manual} == {"open"}
    assert {b for m in before.manual for b in m.basismaatregelen} == set(range(1, 12))
    answer = Attestation(
        id="manual.restore_test",
        answer="ja",
        by="ICT Partner <b>",
        date=date(2026, 10, 1),
        evidence="https://intranet/verslag-hersteltest",
    )
    after = build_report(snap, checks, results, attestations=[answer])
    item = next(m for m in after.manual if m.id == "manual.restore_test")
    assert item.status == "beantwoord" and item.by == "ICT Partner <b>"
    # Statements never move the score; they only count towards whether "Op orde" holds.
    assert after.overall.score == before.overall.score
    assert (before.overall.manual_answered, after.overall.manual_answered) == (0, 1)
    html = render_html(after)
    assert "ICT Partner &lt;b&gt;" in html and 'id="handmatig"' in html
    bad = tmp_path / "a.yaml"
    bad.write_text("- {id: manual.nope, answer: ja, by: x, date: 2026-01-01}\n", encoding="utf-8")
    import pytest

    with pytest.raises(ValueError, match="onbekend controlepunt 'manual.nope'"):
        load_attestations(bad)


def test_advice_fits_the_licence() -> None:
    from m365apk.checks.registry import all_checks as every

    snap = tenant_snapshot()
    checks = select_checks(every(), ["mfa.enforced_for_all"])
    snap.datasets["securityDefaults"] = ok({"id": "x", "isEnabled": False})
    snap.datasets["conditionalAccessPolicies"] = ok([])
    for plan, expected in (
        ("free", "'Standaardinstellingen voor beveiliging' (Security defaults) aan"),
        ("p1", "Conditional Access"),
    ):
        snap.licences = snap.licences.model_copy(update={"known": True, "entra_plan": plan})
        report = build_report(snap, checks, evaluate(snap, checks))
        assert expected in report.checks[0].fix


def test_time_in_line_behind_the_apps_other_schools_explains_a_long_scan() -> None:
    """Scan-all of a whole portfolio with one app: the signInActivity pages of every school
    share Graph's 10 a minute, so a small school can take an hour. Its report says why, beside
    the duration, in the technical appendix; a school that waited for nobody says nothing."""
    snap = tenant_snapshot()
    snap.stats.duration_seconds, snap.stats.in_line_seconds = 3725.0, 3600.0
    html = render_html(report_for(snap))
    appendix = html[html.index('id="bijlage"') :]
    assert "3.725 s; daarvan 3.600 s in de rij achter andere scholen" in appendix
    assert "in de rij" not in html[: html.index('id="bijlage"')]  # not on the cover
    assert "in line behind other schools" in render_html(report_for(snap), lang="en")
    snap.stats.in_line_seconds = 0.0
    assert "in de rij" not in render_html(report_for(snap))


def test_scan_all_log_says_how_long_a_school_stood_in_line() -> None:
    """The provider's log line per school (scan-all) gives the same reason, from the slimmed
    outcome that scan-all keeps in memory."""
    from m365apk.runs.portfolio import TenantOutcome, _in_line, slimmed
    from m365apk.runs.tenants import TenantEntry

    snap = tenant_snapshot()
    snap.stats.in_line_seconds = 1234.4
    tenant = TenantEntry(name="OBS De Linde", tenant_id="11111111-2222-4333-8444-555555555555")
    outcome = slimmed(TenantOutcome(tenant, "ok", report=report_for(snap)))
    assert _in_line(outcome) == " (1234 s in de rij achter andere scholen: Graph-limieten per app)"
    snap.stats.in_line_seconds = 0.0
    assert _in_line(TenantOutcome(tenant, "ok", report=report_for(snap))) == ""
    assert _in_line(TenantOutcome(tenant, "auth_error", "geen toestemming")) == ""
