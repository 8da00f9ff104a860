"""The README and docs/ stay current: the README's first screen is for a school leader and a
provider and stays short; every section that left it lives on in docs/; every check is in a
table, every command shown exists, every relative link resolves, every dependency says why."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from m365apk.checks.registry import all_checks
from m365apk.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
README_PATH = ROOT / "README.md"
README = README_PATH.read_text(encoding="utf-8")
DOC_PAGES = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README_PATH, *DOC_PAGES]
ALL_TEXT = "\n".join(p.read_text(encoding="utf-8") for p in PAGES)

# Pages other branches write (Exchange Online, the SharePoint baseline): the README links them
# before they are merged. Once present they are checked like any other page.
WRITTEN_ELSEWHERE = {"docs/exchange.md", "docs/sharepoint.md"}

# Every heading of the README before issue 27 (1000 lines), and where it lives now.
MOVED = {
    "Twee commando's": "README.md",
    "Het rapport": "docs/rapport.md",
    "Wat er gecontroleerd wordt": "docs/controles.md",
    "Een echte tenant scannen": "docs/echte-tenant.md",
    "1. Eén keer: de app-registratie (bij de IT-dienstverlener)": "docs/echte-tenant.md",
    "2. Per school: admin consent": "docs/echte-tenant.md",
    "3. Scannen": "docs/echte-tenant.md",
    "Opnieuw beoordelen zonder Graph": "docs/echte-tenant.md",
    "Per school vastleggen: noodaccounts, uitzonderingen, antwoorden": "docs/echte-tenant.md",
    "Licenties": "docs/echte-tenant.md",
    "Hoe voorwaardelijke toegang wordt beoordeeld": "docs/controles.md",
    "Alle scholen: de IT-dienstverlener": "docs/alle-scholen.md",
    "Op een schema, in een container": "docs/alle-scholen.md",
    "Uitvoer": "docs/rapport.md",
    "Zo wordt de score berekend": "docs/rapport.md",
    "Normen en basismaatregelen als data": "docs/rapport.md",
    "Hoe het werkt": "docs/ontwikkeling.md",
    "De gesimuleerde Graph": "docs/ontwikkeling.md",
    "Eigen controles toevoegen": "docs/ontwikkeling.md",
    "Voor ontwikkelaars": "docs/ontwikkeling.md",
    "Afhankelijkheden en waarom": "README.md",
    "Tests en benchmark": "docs/ontwikkeling.md",
}


def headings(path: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    return re.findall(r"^#{1,6} (.+?)\s*$", text, flags=re.MULTILINE)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def relative_links(path: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [t for t in targets if not re.match(r"[a-z]+:", t)]


def test_the_readme_is_short() -> None:
    assert len(README.splitlines()) < 200


def test_the_first_screen_has_the_two_commands_and_a_screenshot() -> None:
    first = "\n".join(README.splitlines()[:40])
    assert (
        "pip install . && m365apk demo                # installeren en een echte scan van de "
        "demoschool" in first
    )
    assert "./scripts/test.sh                            # de hele testsuite" in first
    assert "](docs/screenshots/" in first


def test_every_section_that_left_the_readme_is_under_docs() -> None:
    for title, where in MOVED.items():
        assert title in headings(ROOT / where), (title, where)


def test_the_readme_indexes_every_docs_page() -> None:
    for page in [*DOC_PAGES, *(ROOT / p for p in WRITTEN_ELSEWHERE)]:
        assert f"](docs/{page.name})" in README, page.name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    for link in relative_links(page):
        target, _, fragment = link.partition("#")
        file = (page.parent / target).resolve() if target else page
        name = file.relative_to(ROOT).as_posix() if file.is_relative_to(ROOT) else str(file)
        if name in WRITTEN_ELSEWHERE and not file.exists():
            continue
        assert file.is_file(), f"{page.name}: {link}"
        if fragment and file.suffix == ".md":
            assert fragment in {anchor(h) for h in headings(file)}, f"{page.name}: {link}"


def test_the_link_check_can_fail(tmp_path) -> None:
    page = tmp_path / "p.md"
    page.write_text("# Kop\n[a](ontbreekt.md) [b](#kop) `[c](x.md)`\n", encoding="utf-8")
    assert relative_links(page) == ["ontbreekt.md", "#kop"]
    assert anchor("Alle scholen: de IT-dienstverlener") == "alle-scholen-de-it-dienstverlener"


def test_every_check_is_in_a_docs_table() -> None:
    listed = set(re.findall(r"^\| `([a-z0-9_.]+)` \|", ALL_TEXT, flags=re.MULTILINE))
    assert {c.id for c in all_checks(opt_in=True)} <= listed


def test_every_command_in_the_docs_exists() -> None:
    used = set(re.findall(r"\bm365apk ([a-z][a-z-]+)", ALL_TEXT))
    assert used <= set(COMMANDS) | {"scanner"}, used - set(COMMANDS)
    assert "pip install . && m365apk demo" in README
    assert "./scripts/test.sh" in README  # the test command, which CI runs exactly
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.rstrip().endswith("\nexec ./scripts/test.sh")


def test_every_dependency_says_why_in_the_readme() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    section = README.split("## Afhankelijkheden en waarom", 1)[1].split("\n## ", 1)[0]
    assert len(section.strip().splitlines()) <= 20
    for spec in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        name = re.match(r"[A-Za-z0-9_.\-]+", spec).group(0)
        assert f"`{name}`" in section, name
