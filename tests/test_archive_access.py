"""The report for the archive and for everyone (issue 27 point 8, findings 1 and 10): every HTML
document of the report set and the provider's overview pass axe-core's WCAG 2.2 AA rules at phone
and desk width, the skip link lands on the verdict, and the PDF Chromium prints is fit to file:
no page that holds only a heading, half-empty pages only where a section ends, bookmarks that
keep their spaces, ids that wrap at sensible points, and the fonts the Dockerfile promises.

The report set is every document `demo --pdf` writes (report.html today; bestuursrapport.html and
bijlage.html with their PDFs when they exist): a document that is not there is skipped. One
browser for the module, one page per document and width, each demo generated once."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from pypdf import PdfReader

from m365apk.checks.registry import all_checks
from m365apk.cli import main
from m365apk.errors import ConfigError
from m365apk.reports.pdf import FLAGS, find_browser

pytestmark = pytest.mark.browser

DOCUMENTS = ("report", "bestuursrapport", "bijlage")
PDFS = ("bestuursrapport", "bijlage")  # --pdf prints the two documents; report.html holds both
WIDTHS = (390, 1366)
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
FOOTER = re.compile(r"^(Pagina|Page) \d+ (van|of) \d+")
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    try:
        executable = find_browser()
    except ConfigError:
        pytest.fail("Chromium ontbreekt: apt-get install chromium (scripts/test.sh zorgt ervoor)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=list(FLAGS[1:]))
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def report_set(tmp_path_factory) -> Path:
    """The weak school (the longest report: most findings, most ids), HTML and PDF."""
    folder = tmp_path_factory.mktemp("weak-pdf")
    assert main(["demo", "--profile", "weak", "--out", str(folder), "--quiet", "--pdf"]) == 0
    return folder


def document(folder: Path, name: str, suffix: str) -> Path:
    path = folder / f"{name}.{suffix}"
    assert path.is_file(), f"{path.name} is missing from the report set"
    return path


def open_at(browser: Browser, html: Path, width: int) -> Page:
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.goto(html.resolve().as_uri(), wait_until="load")
    return page


def narrow_rules(page: Page) -> str:
    """The declarations of the page's stylesheets that apply at phone width only."""
    css = " ".join(page.eval_on_selector_all("style", "els => els.map(e => e.textContent)"))
    out = []
    for start in (m.end() for m in re.finditer(r"@media[^{]*max-width[^{]*\{", css)):
        depth, i = 1, start
        while depth and i < len(css):
            depth += {"{": 1, "}": -1}.get(css[i], 0)
            i += 1
        out.append(css[start:i])
    return " ".join(out)


def axe_violations(page: Page, width: int = 1366) -> list[dict]:
    """axe-core's WCAG 2.2 AA rules. Colour contrast, two thirds of axe's time on a long report,
    runs at desk width only when the phone-width rules change no colour (checked here)."""
    axe = (resources.files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")
    page.add_script_tag(content=axe)
    narrow_colours = re.search(r"(color|background)\s*:", narrow_rules(page))
    contrast = width >= 1024 or narrow_colours is not None
    result = page.evaluate(
        "async ([tags, contrast]) => await axe.run(document,"
        " {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'],"
        "  rules: {'color-contrast': {enabled: contrast}}})",
        [WCAG_22_AA, contrast],
    )
    return [
        {"id": v["id"], "nodes": [(n["target"], n["failureSummary"][:160]) for n in v["nodes"]][:4]}
        for v in result["violations"]
    ]


# --- The HTML: WCAG 2.2 AA and the skip link --------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", DOCUMENTS)
def test_report_documents_have_no_wcag22_aa_violations(chromium, report_set, name, width) -> None:
    """Finding 10: axe's WCAG 2.2 AA rules found too-small touch targets (the table of
    contents' links, the "Betrokken objecten" toggles), 2–6 per report."""
    page = open_at(chromium, document(report_set, name, "html"), width)
    assert axe_violations(page, width) == []
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_overview_has_no_wcag22_aa_violations(chromium, portfolio_demo, width) -> None:
    page = open_at(chromium, portfolio_demo[0] / "uitvoer" / "overzicht.html", width)
    assert axe_violations(page, width) == []
    page.close()


@pytest.mark.parametrize("name", DOCUMENTS)
def test_skip_link_lands_on_the_verdict_and_eerst_doen(chromium, report_set, name) -> None:
    """Finding 10: "Naar de inhoud" jumped to <main>, past the verdict and Eerst doen."""
    page = open_at(chromium, document(report_set, name, "html"), 390)
    skip = page.locator("a.skip")
    if skip.count() == 0 or page.locator("[class*='verdict-']").count() == 0:
        page.close()
        pytest.skip("no skip link or no verdict in this document")
    target = skip.get_attribute("href")
    assert target and target.startswith("#") and page.locator(target).count() == 1, target
    # The target is the verdict's block or comes before it; Eerst doen comes after it.
    following = page.evaluate(
        """sel => {
            const target = document.querySelector(sel);
            const reached = el => el && (el === target
                || (target.compareDocumentPosition(el)
                    & (Node.DOCUMENT_POSITION_FOLLOWING | Node.DOCUMENT_POSITION_CONTAINED_BY)));
            return {verdict: reached(document.querySelector("[class*='verdict-']")),
                    first: reached(document.querySelector("#eerst-doen")),
                    text: target.innerText};
        }""",
        target,
    )
    assert following["verdict"], f"{target} lies past the verdict"
    if page.locator("#eerst-doen").count():
        assert following["first"], f"{target} lies past Eerst doen"
    page.keyboard.press("Tab")  # the skip link is the first stop and shows itself
    assert page.evaluate("document.activeElement.className") == "skip"
    page.close()


# --- The PDF -----------------------------------------------------------------------------------


@cache
def _pdf(path: Path) -> tuple[PdfReader, list[list[str]]]:
    """The reader and each page's lines of text without the running footer."""
    reader = PdfReader(path)
    pages = [
        [line.strip() for line in p.extract_text().splitlines() if line.strip()]
        for p in reader.pages
    ]
    return reader, [[line for line in lines if not FOOTER.match(line)] for lines in pages]


def pdf(folder: Path, name: str) -> tuple[PdfReader, list[list[str]]]:
    return _pdf(document(folder, name, "pdf"))


def outline(reader: PdfReader) -> list[tuple[str, int]]:
    """Every bookmark in order: (title, page index)."""
    out: list[tuple[str, int]] = []

    def walk(items: list) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                out.append((item.title, reader.get_destination_page_number(item)))

    walk(reader.outline)
    return out


def normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize("name", PDFS)
def test_no_pdf_page_holds_only_a_heading_or_ends_on_one(report_set, name) -> None:
    """Finding 1: page 6 held only the "Deel 2" heading, page 1 ended on a bare "Eerst doen"."""
    reader, pages = pdf(report_set, name)
    starts: dict[int, list[str]] = {}
    for title, page in outline(reader):
        starts.setdefault(page, []).append(normalised(title))
    thin = [i + 1 for i, lines in enumerate(pages) if len(lines) < 3]
    assert thin == [], f"pages with fewer than three lines: {thin}"
    # the page's last lines are a whole heading that starts there (its bookmark points to it)
    ends_on_heading = [
        (i + 1, title)
        for i, lines in enumerate(pages[:-1])
        for title in starts.get(i, [])
        if normalised(" ".join(lines[-3:])).endswith(title)
    ]
    assert ends_on_heading == []


def _lowest_text(page) -> float:
    """How far down the page its body text reaches, as a fraction of the page's height."""
    height = float(page.mediabox.height)
    ys: list[float] = []

    def visit(text, cm, tm, font, size) -> None:
        if text.strip():
            ys.append(tm[5] * cm[3] + cm[5])

    page.extract_text(visitor_text=visit)
    body = [y for y in ys if y > 60]  # the running footer sits in the bottom margin
    return (height - min(body)) / height if body else 0.0


@pytest.mark.parametrize("name", PDFS)
def test_half_empty_pages_only_where_a_section_ends(report_set, name) -> None:
    """Finding 1: pages 3, 8 and 32 were more than half empty in the middle of a section."""
    reader, _ = pdf(report_set, name)
    section_starts = {page for _, page in outline(reader)}
    half_empty = [
        i + 1
        for i, page in enumerate(reader.pages[:-1])
        if _lowest_text(page) < 0.5 and i + 1 not in section_starts
    ]
    assert half_empty == [], "more than half empty while the next page goes on with the section"


@pytest.mark.parametrize("name", PDFS)
def test_bookmarks_keep_their_spaces(chromium, report_set, name) -> None:
    """Finding 1: 24 of 98 bookmarks lost the space where the heading's line wrapped
    ("…beheerderadmin.guest_or_synced_admins")."""
    reader, _ = pdf(report_set, name)
    bookmarks = [normalised(title) for title, _ in outline(reader)]
    areas = "|".join(sorted({c.id.split(".")[0] for c in all_checks(opt_in=True)}))
    glued = [
        b
        for b in bookmarks
        for m in re.finditer(rf"(?:{areas})\.[a-z_]+", b)
        if m.start() > 0 and not b[m.start() - 1].isspace()
    ]
    assert glued == [], "a check id glued to the word before it"
    page = open_at(chromium, document(report_set, name, "html"), 1366)
    page.emulate_media(media="print")
    headings = page.eval_on_selector_all(
        "h1, h2, h3, h4, h5, h6",
        "els => els.filter(e => e.checkVisibility()).map(e => e.textContent)",
    )
    page.close()
    assert bookmarks == [normalised(h) for h in headings]


@pytest.mark.parametrize("name", PDFS)
def test_ids_wrap_at_sensible_points(report_set, name) -> None:
    """Finding 1: a GUID in the table of affected objects broke over nine lines ("aa7-",
    "b7cc-", …): no line of the PDF is a fragment of a GUID of fewer than six characters."""
    _, pages = pdf(report_set, name)
    ids = set(GUID.findall((report_set / "report.json").read_text(encoding="utf-8")))
    assert ids, "the weak demo names objects by GUID"
    fragments = [
        (i + 1, line)
        for i, lines in enumerate(pages)
        for line in lines
        if len(line) < 6
        and re.search(r"[a-f-]", line)
        and re.fullmatch(r"[0-9a-f-]+", line)
        and any(line in guid for guid in ids)
    ]
    assert fragments == []


def _liberation_installed() -> bool:
    if not shutil.which("fc-match"):
        return False
    found = subprocess.run(
        ["fc-match", "-f", "%{family}", "Arial"], capture_output=True, text=True, check=False
    )
    return "Liberation Sans" in found.stdout


@pytest.mark.parametrize("name", PDFS)
def test_pdf_embeds_liberation_as_the_dockerfile_says(report_set, name) -> None:
    """Finding 10: the Dockerfile and README say the PDF uses Liberation for Arial; the font
    stack began with system-ui, which Debian resolves to DejaVu, and only DejaVu was embedded."""
    if not _liberation_installed():
        pytest.skip("fonts-liberation is not installed: Arial resolves to another font here")
    reader, _ = pdf(report_set, name)
    fonts = {
        str(font.get_object().get("/BaseFont"))
        for page in reader.pages
        for font in (page["/Resources"].get("/Font") or {}).values()
    }
    assert any("LiberationSans" in f for f in fonts), fonts
    assert not any(re.search(r"DejaVuSans(-Bold)?$", f) for f in fonts), fonts


# --- The chart ---------------------------------------------------------------------------------


def test_chart_names_each_basismaatregel(chromium, report_set) -> None:
    """Finding 1: the chart's bars were labelled 1–11 only; each now carries the measure's name,
    and every bar is equally long so that their fills compare."""
    from m365apk.reports.model import Report

    report = Report.model_validate_json((report_set / "report.json").read_text("utf-8"))
    titles = [f"{bm.id}. {bm.title}" for bm in report.basismaatregelen]
    page = open_at(chromium, report_set / "report.html", 1366)
    charts = page.eval_on_selector_all(
        "figure ul.bars",
        """lists => lists.map(ul => [...ul.children].map(li => [li.innerText,
            Math.round(li.querySelector('.bar').getBoundingClientRect().width)]))""",
    )
    page.close()
    chart = next((c for c in charts if len(c) == len(titles)), None)
    assert chart, f"no chart with a bar per basismaatregel among {len(charts)} charts"
    assert [t for t, (text, _) in zip(titles, chart, strict=True) if t not in text] == []
    widths = {width for _, width in chart}
    assert len(widths) == 1, widths
