"""The published JSON Schema of report.json (m365apk/reports/report.schema.json).

Regenerate after changing the report model, and bump REPORT_SCHEMA_VERSION when a change is not
backwards compatible:

    python -m m365apk.reports.schema
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from m365apk.reports.model import REPORT_SCHEMA_VERSION, Report

SCHEMA_ID = f"https://github.com/m365apk/m365apk/schemas/report-v{REPORT_SCHEMA_VERSION}.json"


def report_schema() -> dict[str, Any]:
    schema = Report.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }


def render() -> str:
    return json.dumps(report_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def published() -> str:
    return (resources.files("m365apk.reports") / "report.schema.json").read_text("utf-8")


if __name__ == "__main__":
    target = Path(__file__).with_name("report.schema.json")
    target.write_text(render(), encoding="utf-8")
    print(target)
