"""Basismaatregel 10: does the Microsoft 365 unified audit log (Purview) record? Only with the
opt-in audit log query (`--audit-probe`); without it the handmatig controlepunt
`manual.unified_audit_log` stays the evidence and this check is not part of the scan.

What is measured: whether records exist in the last seven days. A school where nothing at all
was logged for a week (mail, files, sign-ins) almost certainly has the log switched off.
"""

from __future__ import annotations

from m365apk.checks.base import Area, CheckResult, Severity, Status, check_family, reads
from m365apk.checks.common import CIS, make, src
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

AUDIT_DOCS = "https://learn.microsoft.com/purview/audit-log-enable-disable"
QUERY_DOCS = "https://learn.microsoft.com/graph/api/resources/security-auditlogquery"
CHECK_ID = "audit.unified_audit_log"

_check = check_family(area=Area.AUDIT_LOGGING, bm=(10,), norms=("SM.04",))


def evaluate_probe(snapshot: Snapshot) -> CheckResult:
    data = snapshot.dataset("unifiedAuditLogProbe").data or {}
    threshold = "Het auditlog heeft records in de laatste 7 dagen"
    if "recordsFound" not in data:
        return make(
            CHECK_ID,
            Status.UNKNOWN,
            Msg("audit.unified_audit_log.no_outcome"),
            threshold=threshold,
        )
    start, end = data.get("windowStart", "?")[:10], data.get("windowEnd", "?")[:10]
    window = Msg("audit_probe.window", start=start, end=end)
    measured = {"records_gevonden": data["recordsFound"], "periode": str(window)}
    if data["recordsFound"] > 0:
        return make(CHECK_ID, Status.PASS, threshold=threshold, measured=measured)
    return make(
        CHECK_ID,
        Status.FAIL,
        Msg("audit.unified_audit_log.no_records", window=window),
        threshold=threshold,
        measured=measured,
    )


UNIFIED_AUDIT_LOG = _check(
    id=CHECK_ID,
    reads=reads(properties={"unifiedAuditLogProbe": ("recordsFound", "windowStart", "windowEnd")}),
    severity=Severity.HIGH,
    datasets=("unifiedAuditLogProbe",),
    sources=(
        src("Microsoft: turn auditing on or off", AUDIT_DOCS),
        src("Microsoft Graph: auditLogQuery", QUERY_DOCS),
        src("CIS Microsoft 365 Foundations 3.1.1", CIS),
    ),
    evaluate=evaluate_probe,
    opt_in="audit-probe",
)

CHECKS = [UNIFIED_AUDIT_LOG]
