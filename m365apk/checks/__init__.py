"""Pluggable checks: pure functions of a snapshot. See base.py for the contract."""

from m365apk.checks.base import (
    AffectedObject,
    Area,
    Check,
    CheckResult,
    Evidence,
    Severity,
    Source,
    Status,
)

__all__ = [
    "AffectedObject",
    "Area",
    "Check",
    "CheckResult",
    "Evidence",
    "Severity",
    "Source",
    "Status",
]
