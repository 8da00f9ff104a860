"""Logging for unattended runs: plain text for people, JSON lines for log collectors. Every
line about a tenant carries its tenant id; secrets never reach a log (we never log them, and
the credential objects do not print them)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="seconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "tenant_id": getattr(record, "tenant_id", None),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        tenant = getattr(record, "tenant_id", None)
        prefix = f"[{tenant}] " if tenant else ""
        return f"{record.levelname.lower()}: {prefix}{record.getMessage()}"


def configure(fmt: str = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("m365apk")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
