"""Run checks over a snapshot. Deterministic: results come back in check-id order."""

from __future__ import annotations

from m365apk.checks.base import Check, CheckResult, Status
from m365apk.snapshot import Snapshot


def evaluate(snapshot: Snapshot, checks: list[Check]) -> list[CheckResult]:
    results = []
    for check in sorted(checks, key=lambda c: c.id):
        try:
            results.append(check.run(snapshot))
        except Exception as exc:  # a broken (plug-in) check must not sink the whole APK
            results.append(
                CheckResult(
                    check_id=check.id,
                    status=Status.UNKNOWN,
                    reason=f"De controle zelf faalde ({type(exc).__name__}: {exc}).",
                )
            )
    return results
