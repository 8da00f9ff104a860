"""The provider's overview ranks schools (issue 27 point 7, finding 9): urgency first
(Onvoldoende, then critical findings, then the age of the last scan), with the columns a provider
ranks by, a link to every school's latest report (complete or not), every Onvoldoende school
under "Aandacht nodig", and a trend chart whose labels say which APK each bar is."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from m365apk.runs.history import History, ReportRows
from m365apk.runs.overview import build_overview, write_overview
from m365apk.runs.tenants import TenantsFile

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CRITICAL = "mfa.enforced_for_admins"  # severity critical
CRITICAL_2 = "admin.admins_without_mfa"  # severity critical
HIGH_OR_LOWER = "surface.stale_accounts"

IDS = {
    "Aa-school": "11111111-1111-4111-8111-111111111111",
    "Bb-school": "22222222-2222-4222-8222-222222222222",
    "Cc-school": "33333333-3333-4333-8333-333333333333",
    "Dd-school": "44444444-4444-4444-8444-444444444444",
}


def config(tmp_path: Path, names: list[str]) -> TenantsFile:
    return TenantsFile.model_validate(
        {
            "output": str(tmp_path),
            "defaults": {"client_id": "x", "credential": {"client_secret_env": "X"}},
            "tenants": [{"name": n, "tenant_id": IDS[n], "school_type": "po"} for n in names],
        }
    )


def scan(
    history: History,
    name: str,
    *,
    run: str,
    days_ago: int,
    score: int | None = 80,
    verdict: str | None = "aandacht_nodig",
    failing: tuple[str, ...] = (),
    outcome: str = "ok",
    report_path: Path | None = None,
    evaluated: int = 30,
    total: int = 40,
) -> None:
    when = NOW - timedelta(days=days_ago)
    report = None
    if outcome in ("ok", "partial"):
        report = SimpleNamespace(
            collected_at=when,
            tool=SimpleNamespace(version="t", mappings_version="m"),
            overall=SimpleNamespace(score=score, verdict=verdict, evaluated=evaluated, total=total),
        )
    checks = [(c, "fail", c) for c in failing] + [(HIGH_OR_LOWER, "pass", "x")]
    history.record(
        run_id=run,
        tenant_id=IDS[name],
        tenant_name=name,
        school_type="po",
        finished_at=when.isoformat(timespec="seconds"),
        outcome=outcome,
        error=None if report else "aanmelden mislukt",
        report=report,  # type: ignore[arg-type]
        report_path=report_path,
        rows=ReportRows(measures=[], checks=checks) if report else None,
    )


def rendered(tmp_path: Path, cfg: TenantsFile, history: History) -> str:
    return write_overview(cfg, history, NOW).read_text(encoding="utf-8")


def school_rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"<[^>]+>", " ", row) for row in body.split("<tr>")[1:]]


def test_onvoldoende_school_comes_first_though_its_name_sorts_last(tmp_path) -> None:
    cfg = config(tmp_path, ["Aa-school", "Dd-school"])
    with History(tmp_path / "h.sqlite") as history:
        scan(history, "Aa-school", run="r1", days_ago=300, score=80)
        scan(history, "Dd-school", run="r1", days_ago=1, score=40, verdict="onvoldoende")
        lines = build_overview(cfg, history, NOW)["lines"]
    assert [line.name for line in lines] == ["Dd-school", "Aa-school"]


def test_among_equal_verdicts_more_critical_findings_then_older_scan_rank_higher(
    tmp_path,
) -> None:
    cfg = config(tmp_path, ["Aa-school", "Bb-school", "Cc-school"])
    with History(tmp_path / "h.sqlite") as history:
        scan(history, "Aa-school", run="r1", days_ago=10)  # no critical finding, recent
        scan(history, "Bb-school", run="r1", days_ago=200)  # no critical finding, older
        scan(history, "Cc-school", run="r1", days_ago=5, failing=(CRITICAL, CRITICAL_2))
        lines = build_overview(cfg, history, NOW)["lines"]
    assert [line.name for line in lines] == ["Cc-school", "Bb-school", "Aa-school"]
    assert [line.critical for line in lines] == [2, 0, 0]


def test_overview_shows_critical_findings_coverage_and_age_of_the_scan(tmp_path) -> None:
    cfg = config(tmp_path, ["Aa-school"])
    with History(tmp_path / "h.sqlite") as history:
        scan(history, "Aa-school", run="r1", days_ago=30, failing=(CRITICAL,), evaluated=31)
        page = rendered(tmp_path, cfg, history)
    head = page.split("<thead>", 1)[1].split("</thead>", 1)[0]
    for column in ("Oordeel", "Kritieke bevindingen", "Dekking", "Laatste scan", "Trend"):
        assert f">{column}</th>" in head, column
    (row,) = school_rows(page)
    assert "31 van 40 controles" in row and "30 dagen geleden" in row
    assert re.search(r"Onvoldoende|Aandacht nodig", row)
    assert re.search(r"\s1\s", row), "one critical finding"


def test_school_with_only_incomplete_reports_links_to_its_latest_report(tmp_path) -> None:
    """The consent school: both scans failed, each left a report in '<run>.onvolledig'."""
    cfg = config(tmp_path, ["Aa-school"])
    folder = tmp_path / cfg.tenants[0].folder_name
    for run in ("apk-1", "apk-2"):
        (folder / f"{run}.onvolledig").mkdir(parents=True)
        (folder / f"{run}.onvolledig" / "report.html").write_text("<p>rapport</p>")
    with History(tmp_path / "h.sqlite") as history:
        scan(history, "Aa-school", run="apk-1", days_ago=40, outcome="auth_error")
        scan(history, "Aa-school", run="apk-2", days_ago=2, outcome="auth_error")
        page = rendered(tmp_path, cfg, history)
    (row,) = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr>")[1:]
    assert f'href="{cfg.tenants[0].folder_name}/apk-2.onvolledig/report.html"' in row
    assert "nog nooit" not in row
    assert "onvolledig" in re.sub(r"<[^>]+>", " ", row)


def test_school_whose_latest_scan_failed_links_to_the_newer_incomplete_report(tmp_path) -> None:
    cfg = config(tmp_path, ["Aa-school"])
    folder = tmp_path / cfg.tenants[0].folder_name
    (folder / "apk-1").mkdir(parents=True)
    (folder / "apk-1" / "report.html").write_text("<p>rapport</p>")
    (folder / "apk-2.onvolledig").mkdir(parents=True)
    (folder / "apk-2.onvolledig" / "report.html").write_text("<p>rapport</p>")
    with History(tmp_path / "h.sqlite") as history:
        scan(
            history,
            "Aa-school",
            run="apk-1",
            days_ago=300,
            report_path=folder / "apk-1" / "report.html",
        )
        scan(history, "Aa-school", run="apk-2", days_ago=2, outcome="auth_error")
        page = rendered(tmp_path, cfg, history)
    (row,) = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr>")[1:]
    assert "apk-2.onvolledig/report.html" in row


def test_onvoldoende_school_is_listed_under_aandacht_nodig(tmp_path) -> None:
    cfg = config(tmp_path, ["Aa-school", "Bb-school"])
    with History(tmp_path / "h.sqlite") as history:
        scan(
            history,
            "Aa-school",
            run="r1",
            days_ago=3,
            score=20,
            verdict="onvoldoende",
            failing=(CRITICAL,),
        )
        scan(history, "Bb-school", run="r1", days_ago=3, score=95, verdict="op_orde")
        page = rendered(tmp_path, cfg, history)
    attention = re.sub(r"<[^>]+>", " ", page.split('id="aandacht"', 1)[1])
    assert "Aa-school" in attention and "Onvoldoende" in attention
    assert "Bb-school" not in attention


# --- Through the provider's real flow: `demo --portfolio` -------------------------------------


@pytest.fixture(scope="module")
def portfolio(portfolio_demo) -> Path:
    return portfolio_demo[0] / "uitvoer"  # run once per session (conftest)


def test_portfolio_ranks_the_onvoldoende_school_first_and_links_the_consent_school(
    portfolio,
) -> None:
    page = (portfolio / "overzicht.html").read_text(encoding="utf-8")
    rows = school_rows(page)
    assert "Regenboog" in rows[0] and "Onvoldoende" in rows[0]
    vlinder = next(r for r in page.split("<tr>") if "Vlinder" in r)
    assert re.search(r'href="[^"]*apk-2\.onvolledig/report\.html"', vlinder)
    assert "nog nooit" not in page
    attention = page.split('id="aandacht"', 1)[1]
    assert "Regenboog" in attention and "Vlinder" in attention


def test_two_apks_in_one_year_get_labels_of_their_own_in_the_trend_chart(portfolio) -> None:
    """Both demo rounds ran in the same year (on the same day): the old chart said '2026' twice."""
    (report,) = portfolio.glob("obs-de-regenboog-*/apk-2/report.html")
    page = report.read_text(encoding="utf-8")
    chart = page.split('class="trend"', 1)[1].split("</figure>", 1)[0]
    labels = [
        re.sub(r"<[^>]+>", "", li.split('<span class="bar">', 1)[0]).strip()
        for li in chart.split("<li>")[1:]
    ]
    assert len(labels) == 2
    assert len(set(labels)) == 2, labels
    assert "per jaar" not in chart
