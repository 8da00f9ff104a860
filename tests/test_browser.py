"""The demo reports in a real browser (Debian's headless Chromium, driven by Playwright), and
the PDF printed from them: what a person sees, no console errors, no network, no script."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright
from pypdf import PdfReader

from m365apk.cli import main
from m365apk.demo.server import SimulatedGraph
from m365apk.demo.tenant import TenantData, load_profile
from m365apk.errors import ConfigError
from m365apk.mappings.loader import load_mappings
from m365apk.reports.model import Report
from m365apk.reports.pdf import FLAGS, find_browser
from m365apk.reports.view import actions

pytestmark = pytest.mark.browser

TITLES = [bm.title for bm in load_mappings().basismaatregelen.values()]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        executable = find_browser()  # as the report code finds it (M365APK_CHROMIUM, PATH)
    except ConfigError:
        pytest.fail(
            "Chromium ontbreekt: scripts/test.sh zorgt ervoor (of apt-get install chromium)"
        )
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=list(FLAGS[1:]))
        yield launched
        launched.close()


def open_report(browser: Browser, html: Path) -> tuple[object, list[str], list[str]]:
    page = browser.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(html.resolve().as_uri(), wait_until="load")
    return page, errors, requests


@pytest.fixture(scope="module")
def demo_reports(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for profile in ("weak", "good", "board"):
        folder = tmp_path_factory.mktemp(profile)
        assert main(["demo", "--profile", profile, "--out", str(folder), "--quiet", "--pdf"]) == 0
        out[profile] = folder
    return out


# The good demo scores 92, but its critical back-up coverage cannot be determined (a
# third-party product), so it is "Niet vastgesteld" and says why (issues 14 and 27).
@pytest.mark.parametrize(
    "profile, verdict", [("weak", "Onvoldoende"), ("good", "Niet vastgesteld")]
)
def test_demo_report_as_a_person_sees_it(browser, demo_reports, profile, verdict) -> None:
    page, errors, requests = open_report(browser, demo_reports[profile] / "report.html")
    cover = page.locator("#voorblad").inner_text()
    assert verdict in cover and "APK-oordeel" in cover and "/100" in cover
    assert page.locator("section.measure").count() == 11
    for n, title in enumerate(TITLES, 1):
        heading = page.locator(f"#bm-{n} h3")
        assert heading.is_visible() and title in heading.inner_text()
    assert errors == []
    assert [u for u in requests if not u.startswith("file://")] == []
    page.close()
    # The two documents open on their own, each linking into the other.
    for name in ("bestuursrapport.html", "bijlage.html"):
        page, errors, requests = open_report(browser, demo_reports[profile] / name)
        assert errors == [] and [u for u in requests if not u.startswith("file://")] == []
        page.close()


def test_pdf_has_a_section_for_each_basismaatregel(demo_reports) -> None:
    pdf = demo_reports["weak"] / "bijlage.pdf"
    reader = PdfReader(pdf)
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages))
    assert "Pagina 1 van" in text
    for n, title in enumerate(TITLES, 1):
        assert f"{n}. {title}" in text, title
    assert reader.pages[0].mediabox.width == pytest.approx(595, abs=2)  # A4 portrait


PAYLOADS = [
    '<script>window.__pwned = "script"</script>',
    '"><img src=x onerror="window.__pwned=\'img\'">',
    "<svg onload=\"window.__pwned='svg'\"></svg>",
]


def hostile(tenant: TenantData) -> TenantData:
    """The weak school where an admin, an app and the school itself carry payloads."""
    tenant.users[0]["displayName"] = PAYLOADS[0]
    tenant.users[1]["displayName"] = PAYLOADS[1]
    tenant.organization["displayName"] = PAYLOADS[2]
    for sp in tenant.service_principals:
        if sp["displayName"] == "Rooster Sync Tool":
            sp["displayName"] = PAYLOADS[1] + " Rooster"
    return tenant


def test_tenant_payloads_render_as_text_and_never_run(browser, tmp_path) -> None:
    tenant = hostile(load_profile("weak", seed=7))
    from m365apk.checks.registry import all_checks
    from m365apk.runs.scan import run_scan
    from m365apk.scanner.auth import LoopbackClientSecretCredential
    from m365apk.scanner.graph import GraphSettings

    from .conftest import FAST

    with SimulatedGraph(tenant) as sim:
        cred = LoopbackClientSecretCredential(sim.token_url, tenant.client_id, tenant.client_secret)
        run_scan(
            cred,
            GraphSettings(base_url=sim.base_url, **FAST),
            all_checks(),
            tenant_id=tenant.tenant_id,
            out_dir=tmp_path,
            source="test",
        )
    page, errors, requests = open_report(browser, tmp_path / "report.html")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("script").count() == 0 and page.locator("img").count() == 0
    text = page.locator("body").inner_text()
    assert PAYLOADS[0] in text and PAYLOADS[2] in page.locator("#voorblad h1").inner_text()
    assert errors == [] and [u for u in requests if not u.startswith("file://")] == []
    page.close()


def test_english_report_from_one_catalogue(browser, tmp_path) -> None:

    from m365apk.reports.i18n import catalogue

    assert main(["demo", "--out", str(tmp_path), "--quiet", "--lang", "en", "--pdf"]) == 0
    page, errors, requests = open_report(browser, tmp_path / "report.html")
    assert page.locator("html").get_attribute("lang") == "en"
    body = page.locator("body").inner_text()
    for text in (
        "APK (annual check-up) verdict",
        "First steps",
        "Summary per basic measure",
        "Why does this matter?",
        "Map your applications and environments",
        "Insufficient",
    ):
        assert text in body, text
    dutch_ui = set(catalogue("nl")["ui"].values()) - set(catalogue("en")["ui"].values())
    english_ui = " ".join(catalogue("en")["ui"].values())
    leftovers = [
        t for t in dutch_ui if len(t) > 12 and "{" not in t and t in body and t not in english_ui
    ]  # proper names (Normenkader IBP FO) are the same in both
    assert leftovers == []
    english = catalogue("en")
    from m365apk.checks.registry import all_checks

    assert set(english["checks"]) == {
        c.id for c in all_checks(opt_in=True)
    }  # every check translated
    assert errors == [] and [u for u in requests if not u.startswith("file://")] == []
    board = PdfReader(tmp_path / "bestuursrapport.pdf")
    text = " ".join(p.extract_text() for p in board.pages)
    assert "Page 1 of" in text and len(board.pages) <= 4
    assert "Page 1 of" in PdfReader(tmp_path / "bijlage.pdf").pages[0].extract_text()
    # report.json stays the Dutch evidence whatever the display language.
    assert "Breng je applicaties" in (tmp_path / "report.json").read_text(encoding="utf-8")
    page.close()


def test_browser_path_from_the_environment(monkeypatch, tmp_path) -> None:
    """scripts/test.sh hands over a browser that may not be on PATH (Playwright's download)."""
    monkeypatch.setenv("M365APK_CHROMIUM", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="M365APK_CHROMIUM"):
        find_browser()
    program = tmp_path / "chrome"
    program.write_text("#!/bin/sh\n", encoding="utf-8")
    program.chmod(0o755)
    monkeypatch.setenv("M365APK_CHROMIUM", str(program))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert find_browser() == str(program)


def _titles(outline: list) -> list[str]:
    out: list[str] = []
    for item in outline:
        out += _titles(item) if isinstance(item, list) else [item.title]
    return out


@pytest.mark.parametrize("profile", ["weak", "good", "board"])
def test_board_pdf_is_four_pages_at_most(demo_reports, profile) -> None:
    """Issue 27 finding 1 and acceptance 1: the PDF had grown to 104 pages. The board document
    is at most four A4 pages, "Eerst doen" whole on page 1, then the sign-off; the evidence is
    in the appendix, a PDF of its own."""
    from m365apk.reports.i18n import catalogue

    ui = catalogue("nl")["ui"]
    reader = PdfReader(demo_reports[profile] / "bestuursrapport.pdf")
    # NFKC: the PDF's text has ligatures ("ﬃ" in "officer").
    texts = [
        re.sub(r"\s+", " ", unicodedata.normalize("NFKC", p.extract_text())) for p in reader.pages
    ]
    assert len(reader.pages) <= 4, f"{profile}: {len(reader.pages)} pages"
    assert "Eerst doen" in texts[0] and ui["first_deadline"] in texts[0]
    report = Report.model_validate_json((demo_reports[profile] / "report.json").read_text("utf-8"))
    for a in actions(report, catalogue("nl"))[:3]:
        assert a.title[:30] in texts[0], a.title  # the whole table on page 1
    everything = " ".join(texts)
    for field in (
        "sign_leader",
        "sign_officer",
        "signoff_by",
        "signoff_role",
        "signoff_date",
        "signoff_sign",
    ):
        assert ui[field] in everything, field
    assert report.snapshot_sha256 and report.snapshot_sha256[:16] in everything.replace(" ", "")
    bookmarks = _titles(reader.outline)
    assert "Eerst doen" in bookmarks and ui["sign_title"] in bookmarks
    appendix = PdfReader(demo_reports[profile] / "bijlage.pdf")
    assert "Technische bijlage" in _titles(appendix.outline)
    assert "Eerst doen" not in _titles(appendix.outline)
    print(f"{profile}: board {len(reader.pages)} pages, appendix {len(appendix.pages)} pages")


def _structure(reader: PdfReader) -> list[tuple[str, set[int], list[str]]]:
    """The tagged PDF's structure elements in document order: (role, pages, roles of the
    children). Chromium tags its PDFs, so a table row split over two pages shows as one TR
    element whose marked content lies on two pages."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    page_of = {p.indirect_reference.idnum: i for i, p in enumerate(reader.pages)}

    def resolve(x):
        return x.get_object() if isinstance(x, IndirectObject) else x

    def kids(el) -> list:
        k = el.get("/K")
        return [] if k is None else list(k) if isinstance(k, ArrayObject) else [k]

    def pages(el, page: int | None) -> set[int]:
        el = resolve(el)
        if isinstance(el, int):
            return {page} if page is not None else set()
        if not isinstance(el, DictionaryObject):
            return set()
        if "/Pg" in el:
            page = page_of[el.raw_get("/Pg").idnum]
        if "/MCID" in el:
            return {page} if page is not None else set()
        return set().union(*(pages(k, page) for k in kids(el))) if kids(el) else set()

    out: list[tuple[str, set[int], list[str]]] = []

    def walk(el) -> None:
        el = resolve(el)
        if not isinstance(el, DictionaryObject):
            return
        if "/S" in el:
            roles = [str(resolve(k).get("/S")) for k in kids(el) if isinstance(resolve(k), dict)]
            out.append((str(el["/S"]), pages(el, None), roles))
        for k in kids(el):
            walk(k)

    walk(reader.trailer["/Root"]["/StructTreeRoot"])
    return out


@pytest.mark.parametrize("profile", ["weak", "good"])
def test_pdf_keeps_rows_whole_and_the_tables_of_the_board_on_one_page(
    demo_reports, profile
) -> None:
    """Issue 14 point 7: no table row split over two pages (a repeated header row spans pages
    by design); the board's "Eerst doen" and its table of basismaatregelen each on one page,
    and the appendix's chart of the basismaatregelen on one page."""
    board = _structure(PdfReader(demo_reports[profile] / "bestuursrapport.pdf"))
    appendix = _structure(PdfReader(demo_reports[profile] / "bijlage.pdf"))
    for elements in (board, appendix):
        rows = [(pages, roles) for role, pages, roles in elements if role == "/TR"]
        assert rows, "no tagged rows: the test could not see a split"
        split = [sorted(pages) for pages, roles in rows if len(pages) > 1 and "/TD" in roles]
        assert split == []
    tables = [pages for role, pages, _ in board if role == "/Table"]
    assert len(tables) >= 2 and all(len(pages) == 1 for pages in tables[:2])
    assert tables[0] == {0}  # Eerst doen on page 1
    chart = next(pages for role, pages, _ in appendix if role == "/Figure")
    assert len(chart) == 1


@pytest.mark.parametrize("school", ["'t Kofschip", 'De "Wilg" \\ Eik </style>'])
def test_pdf_footer_of_school_named_with_quotes_prints_the_name_itself(
    demo_reports, tmp_path, school
) -> None:
    """Issue 26 finding 9: the footer is a CSS string inside <style>; HTML escaping printed
    "&#39;t Kofschip". The name is CSS-escaped there and prints as written."""
    from m365apk.reports.html import render_html
    from m365apk.reports.model import Report
    from m365apk.reports.pdf import write_pdf

    report = Report.model_validate_json((demo_reports["weak"] / "report.json").read_text("utf-8"))
    report = report.model_copy(
        update={"tenant": report.tenant.model_copy(update={"display_name": school})}
    )
    html = tmp_path / "report.html"
    html.write_text(render_html(report), encoding="utf-8")
    pdf = write_pdf(html, tmp_path / "report.pdf")
    first = PdfReader(pdf).pages[0].extract_text()
    assert school in first
    assert "&#39;" not in first and "&quot;" not in first and "&#34;" not in first
