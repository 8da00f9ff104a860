"""actieplan.csv / .xlsx (issue 14 point 8): one row per open finding and open handmatig
controlepunt, the school's columns empty; filled in and given back next year, the report shows
what was planned and what was done."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from m365apk.cli import main
from m365apk.errors import ConfigError
from m365apk.reports.actionplan import COLUMNS, load_action_plan


@pytest.fixture(scope="module")
def weak(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("weak")
    assert main(["demo", "--profile", "weak", "--out", str(out), "--quiet"]) == 0
    return out


def read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))


def test_one_row_per_open_finding_and_open_point(weak) -> None:
    import json

    rows = read_csv(weak / "actieplan.csv")
    assert rows[0] == COLUMNS
    report = json.loads((weak / "report.json").read_text("utf-8"))
    findings = [c["id"] for c in report["checks"] if c["result"]["status"] in ("fail", "partial")]
    open_points = [m["id"] for m in report["manual"] if m["status"] == "open"]
    assert sorted(r[0] for r in rows[1:]) == sorted(findings + open_points)
    ga = next(r for r in rows if r[0] == "admin.global_admin_count")
    assert ga[4] == "6 globale beheerders" and ga[5] == "2 tot en met 4 globale beheerders"
    assert all(r[8] == r[9] == "" and r[10] == "open" for r in rows[1:])  # the school fills in


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_filled_in_plan_comes_back_next_year(weak, tmp_path, kind) -> None:
    if kind == "csv":
        rows = read_csv(weak / "actieplan.csv")
        for row in rows[1:]:
            if row[0] in ("admin.global_admin_count", "password.smart_lockout"):
                row[8:11] = ["ICT Partner", "2026-12-31", "gepland"]
        rows.append(
            [
                "password.smart_lockout",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "Directeur",
                "2026-06-01",
                "gedaan",
            ]
        )
        plan = tmp_path / "plan.csv"
        with plan.open("w", encoding="utf-8-sig", newline="") as f:
            csv.writer(f, delimiter=";").writerows(rows)
    else:
        from openpyxl import load_workbook

        book = load_workbook(weak / "actieplan.xlsx")
        sheet = book.active
        assert [c.value for c in sheet[1]] == COLUMNS
        for row in sheet.iter_rows(min_row=2):
            if row[0].value == "admin.global_admin_count":
                row[8].value, row[9].value, row[10].value = "ICT Partner", "2026-12-31", "gepland"
        sheet.append(["password.smart_lockout"] + [""] * 7 + ["Directeur", "2026-06-01", "gedaan"])
        plan = tmp_path / "plan.xlsx"
        book.save(plan)
    out = tmp_path / "next"
    argv = ["demo", "--profile", "weak", "--out", str(out), "--quiet", "--action-plan", str(plan)]
    assert main(argv) == 0
    import json

    review = {
        r["id"]: r for r in json.loads((out / "report.json").read_text("utf-8"))["plan_review"]
    }
    ga = review["admin.global_admin_count"]
    assert (ga["owner"], ga["planned_status"], ga["now"]) == ("ICT Partner", "gepland", "open")
    assert review["password.smart_lockout"]["now"] == "opgelost"  # it passes in this scan
    page = (out / "report.html").read_text("utf-8")
    assert "Actieplan van vorig jaar" in page and "31 december 2026" in page


def test_a_file_that_is_no_plan_is_one_line(tmp_path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a;b\n1;2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="x.csv: geen actieplan"):
        load_action_plan(bad)
