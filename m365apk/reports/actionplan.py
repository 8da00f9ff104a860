"""actieplan.csv and actieplan.xlsx: one row per open finding and open handmatig controlepunt,
with the columns the school fills in (eigenaar, streefdatum, status). Next year the filled-in
file goes back in (`--action-plan`), and the report shows what was planned and what was done.

Dutch, because the school works in it: CSV as Dutch Excel opens it (semicolons, UTF-8 with BOM),
and an .xlsx written with openpyxl.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from m365apk.errors import ConfigError
from m365apk.reports.i18n import catalogue
from m365apk.reports.model import PlanItem, Report
from m365apk.reports.view import actions, measured_text

COLUMNS = [
    "id",
    "soort",
    "basismaatregelen",
    "bevinding",
    "gemeten",
    "streefwaarde",
    "oplossing",
    "inspanning",
    "eigenaar",
    "streefdatum",
    "status",
]
FILLED_IN = ("eigenaar", "streefdatum", "status")  # the school's columns


def plan_rows(report: Report) -> list[list[str]]:
    messages = catalogue("nl")
    rows = []
    for action in actions(report, messages):
        for c in action.checks:
            rows.append(
                [
                    c.id,
                    f"controle: {action.title}",
                    ", ".join(map(str, c.basismaatregelen)),
                    c.title,
                    measured_text(c, messages, "nl") or "",
                    c.threshold,
                    c.fix,
                    messages["effort"].get(c.effort, c.effort),
                    "",
                    "",
                    "open",
                ]
            )
    for m in report.manual:
        if m.status == "open" or m.answer in ("nee", "gedeeltelijk"):
            rows.append(
                [
                    m.id,
                    "handmatig controlepunt",
                    ", ".join(map(str, m.basismaatregelen)),
                    m.question,
                    "open" if m.status == "open" else messages["answers"][m.answer or "nee"],
                    "beantwoord met ja, met bewijs",
                    m.evidence_expected,
                    "",
                    "",
                    "",
                    "open",
                ]
            )
    return rows


def render_action_plan_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(plan_rows(report))
    return buffer.getvalue()


def write_action_plan_xlsx(report: Report, path: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet.table import Table, TableStyleInfo

    book = Workbook()
    sheet = book.active
    sheet.title = "Actieplan"
    sheet.append(COLUMNS)
    rows = plan_rows(report)
    for row in rows:
        sheet.append(row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = {"bevinding": 45, "gemeten": 35, "streefwaarde": 35, "oplossing": 60}
    for i, name in enumerate(COLUMNS, 1):
        sheet.column_dimensions[sheet.cell(1, i).column_letter].width = widths.get(name, 16)
    sheet.freeze_panes = "A2"
    last = sheet.cell(1, len(COLUMNS)).column_letter
    table = Table(displayName="Actieplan", ref=f"A1:{last}{len(rows) + 1}")
    table.tableStyleInfo = TableStyleInfo(name="TableStyleLight9", showRowStripes=True)
    sheet.add_table(table)
    book.save(path)
    return path


def load_action_plan(path: Path) -> list[PlanItem]:
    """Read a filled-in actieplan (.csv or .xlsx). One line naming the file on any problem."""
    try:
        if path.suffix.lower() == ".xlsx":
            from openpyxl import load_workbook

            sheet = load_workbook(path, read_only=True, data_only=True).active
            raw = [
                ["" if v is None else str(v) for v in row]
                for row in sheet.iter_rows(values_only=True)  # type: ignore[union-attr]
            ]
        else:
            text = path.read_text(encoding="utf-8-sig")
            raw = list(csv.reader(io.StringIO(text), delimiter=";"))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{path}: actieplan niet te lezen ({exc})") from None
    except csv.Error as exc:  # e.g. a field over csv's 128 KiB limit
        raise ConfigError(f"{path}: geen actieplan-CSV ({exc})") from None
    if any("\x00" in cell for row in raw for cell in row):
        raise ConfigError(f"{path}: geen actieplan (bevat NUL-tekens; is het een tekstbestand?)")
    if not raw or "id" not in raw[0] or "status" not in raw[0]:
        raise ConfigError(f"{path}: geen actieplan (kolommen id en status ontbreken)")
    header = raw[0]
    items = []
    for row in raw[1:]:
        values = dict(zip(header, row, strict=False))
        if not values.get("id"):
            continue
        items.append(
            PlanItem(
                id=values["id"].strip(),
                title=values.get("bevinding", "").strip(),
                owner=values.get("eigenaar", "").strip() or None,
                due=values.get("streefdatum", "").strip() or None,
                status=values.get("status", "").strip().lower() or "open",
            )
        )
    return items
