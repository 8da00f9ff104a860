"""Basismaatregel 10: are the logs there, readable, recent, kept long enough, and used?"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from m365apk.checks.base import Area, CheckResult, Severity, Status, check_family, reads
from m365apk.checks.common import CIS, SCUBA_AAD, make, obj, parse_time, src
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

RETENTION_DOCS = (
    "https://learn.microsoft.com/entra/identity/monitoring-health/reference-reports-data-retention"
)
# The window the legacySignIns dataset reads (the sign-in log's API retention with P1/P2).
LEGACY_WINDOW_DAYS = 30
LEGACY_MAX_ROWS = 20_000  # the collector reads at most this many (20 pages of 1,000)


def _recent(snapshot: Snapshot, items: list[dict[str, Any]], field: str, days: int) -> list[Any]:
    since = snapshot.collected_at - timedelta(days=days)
    return [i for i in items if (t := parse_time(i.get(field))) and t >= since]


def evaluate_directory_audit(snapshot: Snapshot) -> CheckResult:
    cid = DIRECTORY_AUDIT.id
    events = snapshot.dataset("directoryAudits").data or []
    recent = _recent(snapshot, events, "activityDateTime", 7)
    threshold = "Auditlog leesbaar, met gebeurtenissen uit de laatste 7 dagen"
    counts = {"gelezen": len(events), "laatste_7_dagen": len(recent)}
    if recent:
        return make(cid, Status.PASS, threshold=threshold, counts=counts)
    if events:
        return make(
            cid,
            Status.PARTIAL,
            Msg("audit.directory_audit_recent.old"),
            threshold=threshold,
            counts=counts,
        )
    # Entra writes its audit log on its own; it cannot be switched off. An empty log means no
    # directory changes in the retention window (a holiday, a new tenant), or a fault.
    return make(
        cid,
        Status.FAIL,
        Msg("audit.directory_audit_recent.empty"),
        threshold=threshold,
        counts=counts,
    )


def evaluate_signin_logs(snapshot: Snapshot) -> CheckResult:
    cid = SIGNIN_LOGS.id
    events = snapshot.dataset("signIns").data or []
    recent = _recent(snapshot, events, "createdDateTime", 7)
    threshold = "Aanmeldlogboek leesbaar, met aanmeldingen uit de laatste 7 dagen"
    counts = {"gelezen": len(events), "laatste_7_dagen": len(recent)}
    if recent:
        return make(cid, Status.PASS, threshold=threshold, counts=counts)
    # Sign-in logging cannot be switched off either: no recent sign-in means nobody signed
    # in interactively in 7 days (holiday, unused tenant) or the log is not delivered.
    return make(
        cid,
        Status.FAIL,
        Msg("audit.signin_logs.none_recent"),
        threshold=threshold,
        counts=counts,
    )


def evaluate_retention(snapshot: Snapshot) -> CheckResult:
    cid = RETENTION.id
    plan = snapshot.licences.entra_plan
    threshold = "Entra-logboeken minstens 30 dagen bewaard (langer via export)"
    days = {"free": 7, "p1": 30, "p2": 30}.get(plan)
    if days is None:
        return make(
            cid, Status.UNKNOWN, Msg("audit.retention.licences_unread"), threshold=threshold
        )
    measured = {"entra_id": plan, "bewaartermijn_dagen": days}
    if days >= 30:
        return make(
            cid,
            Status.PASS,
            Msg("audit.retention.thirty_days"),
            threshold=threshold,
            measured=measured,
        )
    return make(
        cid,
        Status.FAIL,
        Msg("audit.retention.seven_days"),
        threshold=threshold,
        measured=measured,
    )


def evaluate_legacy_signins(snapshot: Snapshot) -> CheckResult:
    cid = LEGACY_SIGNINS.id
    since = snapshot.collected_at - timedelta(days=LEGACY_WINDOW_DAYS)
    # The collector filtered on client and period already; check both again so an answer
    # that ignored the filter cannot make old or modern sign-ins count.
    events = [
        e
        for e in snapshot.dataset("legacySignIns").data or []
        if (t := parse_time(e.get("createdDateTime"))) and t >= since
    ]
    legacy = [e for e in events if (e.get("status") or {}).get("errorCode") == 0]
    window = Msg(
        "audit.window",
        start=since.date().isoformat(),
        end=snapshot.collected_at.date().isoformat(),
    )
    threshold = (
        f"Geen geslaagde aanmeldingen met verouderde protocollen in de laatste "
        f"{LEGACY_WINDOW_DAYS} dagen"
    )
    counts = {
        "venster_dagen": LEGACY_WINDOW_DAYS,
        "verouderde_aanmeldingen": len(events),
        "verouderd_geslaagd": len(legacy),
        "verouderd_mislukt": len(events) - len(legacy),
    }
    cut = (
        Msg("audit.legacy_signins.cut", rows=LEGACY_MAX_ROWS)
        if len(snapshot.dataset("legacySignIns").data or []) >= LEGACY_MAX_ROWS
        else None
    )
    if legacy:
        users = {e.get("userId") or e["id"]: e for e in legacy}
        return make(
            cid,
            Status.FAIL,
            Msg.join([Msg("audit.legacy_signins.found", window=window, count=len(users)), cut]),
            threshold=threshold,
            counts=counts,
            objects=[
                obj(
                    {"id": uid, "displayName": e.get("userPrincipalName")},
                    Msg.literal(e["clientAppUsed"]) if e.get("clientAppUsed") else None,
                )
                for uid, e in users.items()
            ],
        )
    return make(
        cid,
        Status.PASS,
        Msg.join([Msg("audit.legacy_signins.none", window=window), cut]),
        threshold=threshold,
        counts=counts,
    )


_check = check_family(area=Area.AUDIT_LOGGING, bm=(10,), norms=("SM.04",))


DIRECTORY_AUDIT = _check(
    id="audit.directory_audit_recent",
    reads=reads(properties={"directoryAudits": ("activityDateTime",)}),
    severity=Severity.HIGH,
    datasets=("directoryAudits",),
    sources=(
        src(
            "Microsoft: audit logs in Microsoft Entra ID",
            "https://learn.microsoft.com/entra/identity/monitoring-health/concept-audit-logs",
        ),
    ),
    evaluate=evaluate_directory_audit,
)
SIGNIN_LOGS = _check(
    id="audit.signin_logs",
    reads=reads(properties={"signIns": ("createdDateTime",)}),
    severity=Severity.HIGH,
    datasets=("signIns",),
    sources=(
        src(
            "Microsoft: sign-in logs",
            "https://learn.microsoft.com/entra/identity/monitoring-health/concept-sign-ins",
        ),
    ),
    evaluate=evaluate_signin_logs,
    licence="Microsoft Entra ID P1",
)
RETENTION = _check(
    id="audit.retention",
    reads=reads(properties={"subscribedSkus": ("capabilityStatus", "servicePlans.servicePlanId")}),
    severity=Severity.MEDIUM,
    datasets=("subscribedSkus",),
    sources=(src("Microsoft: Microsoft Entra data retention", RETENTION_DOCS),),
    evaluate=evaluate_retention,
)
LEGACY_SIGNINS = _check(
    id="audit.legacy_signins",
    reads=reads(
        properties={
            "legacySignIns": ("createdDateTime", "status.errorCode", "clientAppUsed", "userId")
        }
    ),
    severity=Severity.MEDIUM,
    datasets=("legacySignIns",),
    sources=(
        src("CIS Microsoft 365 Foundations 5.2.2.3", CIS),
        src("CISA SCuBA MS.AAD.1.1v1", SCUBA_AAD),
    ),
    evaluate=evaluate_legacy_signins,
    licence="Microsoft Entra ID P1",
    bm=(10, 5),
    norms=("SM.04", "SM.02"),  # legacy protocols bypass MFA: authentication, not network
)
CHECKS = [DIRECTORY_AUDIT, SIGNIN_LOGS, RETENTION, LEGACY_SIGNINS]
