"""Privileged Identity Management settings (basismaatregel 4, Entra ID P2): highly privileged
roles are handed out through PIM, Global Administrator activation needs approval, and assigning
or activating a highly privileged role alerts someone (CISA SCuBA MS.AAD.7.5–7.9).

Only the roles CISA calls highly privileged are judged (SCuBA aad.md, "highly privileged roles");
a role that has no PIM policy in Graph's answer is not judged as "in orde" but named.
"""

from __future__ import annotations

from typing import Any

from m365apk.checks.base import AffectedObject, Area, CheckResult, Severity, Status, check_family
from m365apk.checks.common import GLOBAL_ADMIN, SCUBA_AAD, make, obj, src
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

P2 = "Microsoft Entra ID P2"
PIM_DOCS = (
    "https://learn.microsoft.com/entra/id-governance/privileged-identity-management/"
    "pim-how-to-change-default-settings"
)
MAESTER = "https://maester.dev/docs/tests/cisa/entra"

# CISA SCuBA's "highly privileged roles" (baselines/aad.md, section 7), by template id.
HIGHLY_PRIVILEGED = {
    GLOBAL_ADMIN: "Global Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c": "SharePoint Administrator",
    "29232cdf-9323-42fd-ade2-1d097af3e4de": "Exchange Administrator",
    "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2": "Hybrid Identity Administrator",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
    "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
}

_check = check_family(area=Area.ADMIN_ROLES, bm=(4,), norms=("ID.01", "ID.02"), licence=P2)


def _rules(snapshot: Snapshot) -> dict[str, dict[str, dict[str, Any]]]:
    """Role template id -> rule id -> rule, from the role management policy assignments."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for assignment in snapshot.dataset("roleManagementPolicyAssignments").data or []:
        role = assignment.get("roleDefinitionId")
        rules = ((assignment.get("policy") or {}).get("rules")) or []
        if role:
            out.setdefault(role, {}).update({r.get("id"): r for r in rules if r.get("id")})
    return out


def _role(role_id: str, detail: Msg) -> AffectedObject:
    return AffectedObject(id=role_id, display_name=HIGHLY_PRIVILEGED[role_id], detail=detail)


def evaluate_outside_pim(snapshot: Snapshot) -> CheckResult:
    """An active assignment with no start date was made directly, not through PIM (the way
    Maester's Test-MtCisaUnmanagedRoleAssignment and ScubaGear judge MS.AAD.7.5)."""
    cid = OUTSIDE_PIM.id
    threshold = "Geen actieve toewijzing van een zeer bevoorrechte rol buiten PIM om"
    names = {u["id"]: u for u in snapshot.dataset("users").data or []}
    outside = [
        a
        for a in snapshot.dataset("roleAssignmentSchedules").data or []
        if a.get("roleDefinitionId") in HIGHLY_PRIVILEGED
        and a.get("assignmentType") in ("Assigned", None)
        and not a.get("startDateTime")
    ]
    counts = {"buiten_pim": len(outside)}
    if not outside:
        return make(cid, Status.PASS, threshold=threshold, counts=counts)
    objects = [
        obj(
            names.get(a.get("principalId"), {"id": a.get("principalId")}),
            Msg(
                "admin.pim_outside_assignments.detail",
                role=HIGHLY_PRIVILEGED[a["roleDefinitionId"]],
            ),
        )
        for a in outside
    ]
    return make(
        cid,
        Status.FAIL,
        Msg("admin.pim_outside_assignments.found", n=len(outside)),
        threshold=threshold,
        counts=counts,
        objects=objects,
    )


def evaluate_ga_approval(snapshot: Snapshot) -> CheckResult:
    cid = GA_APPROVAL.id
    threshold = "Activeren van Global Administrator vraagt goedkeuring"
    rule = _rules(snapshot).get(GLOBAL_ADMIN, {}).get("Approval_EndUser_Assignment")
    if rule is None:
        return make(
            cid,
            Status.UNKNOWN,
            Msg("admin.pim_ga_approval.no_rule"),
            threshold=threshold,
        )
    required = (rule.get("setting") or {}).get("isApprovalRequired")
    if required is True:
        return make(cid, Status.PASS, threshold=threshold, measured={"isApprovalRequired": True})
    return make(
        cid,
        Status.FAIL,
        Msg("admin.pim_ga_approval.not_required"),
        threshold=threshold,
        measured={"isApprovalRequired": required},
    )


def _notifies(rule: dict[str, Any] | None) -> bool:
    """A notification rule alerts someone the school chose: extra recipients are set. Microsoft's
    default recipients (the role's admins) alone are what SCuBA asks to extend."""
    return bool(rule and rule.get("notificationRecipients"))


# Notification rule id -> the catalogue key naming the moment it alerts on.
ALERTS = {
    "Notification_Admin_Admin_Eligibility": "admin.pim_alerts.on_eligible",
    "Notification_Admin_Admin_Assignment": "admin.pim_alerts.on_active",
    "Notification_Admin_EndUser_Assignment": "admin.pim_alerts.on_activate",
}


def evaluate_alerts(snapshot: Snapshot) -> CheckResult:
    """MS.AAD.7.7 (SHALL): assigning any highly privileged role alerts; 7.8 (SHALL): activating
    Global Administrator alerts; 7.9 (SHOULD): activating the other roles alerts."""
    cid = ALERTS_CHECK.id
    threshold = "Melding bij toewijzen en activeren van elke zeer bevoorrechte rol"
    rules = _rules(snapshot)
    unread = [r for r in HIGHLY_PRIVILEGED if r not in rules]
    shall: list[AffectedObject] = []
    should: list[AffectedObject] = []
    for role_id in HIGHLY_PRIVILEGED:
        if role_id in unread:
            continue
        gaps = [rule for rule in ALERTS if not _notifies(rules[role_id].get(rule))]
        if not gaps:
            continue
        item = _role(role_id, Msg("admin.pim_alerts.no_alert", on=[Msg(ALERTS[g]) for g in gaps]))
        activation_only = gaps == ["Notification_Admin_EndUser_Assignment"]
        (should if activation_only and role_id != GLOBAL_ADMIN else shall).append(item)
    counts = {
        "rollen_zonder_melding": len(shall) + len(should),
        "rollen_niet_gelezen": len(unread),
    }
    objects = shall + should + [_role(r, Msg("admin.pim_alerts.role_unread")) for r in unread]
    if shall:
        return make(
            cid,
            Status.FAIL,
            Msg("admin.pim_alerts.nobody_alerted", roles=[o.display_name or o.id for o in shall]),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    if unread:
        return make(
            cid,
            Status.UNKNOWN,
            Msg("admin.pim_alerts.unread", roles=[HIGHLY_PRIVILEGED[r] for r in unread]),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    if should:
        return make(
            cid,
            Status.PARTIAL,
            Msg("admin.pim_alerts.advice", roles=[o.display_name or o.id for o in should]),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    return make(cid, Status.PASS, threshold=threshold, counts=counts)


OUTSIDE_PIM = _check(
    id="admin.pim_outside_assignments",
    severity=Severity.HIGH,
    datasets=("roleAssignmentSchedules", "users"),
    sources=(
        src("CISA SCuBA MS.AAD.7.5v1", SCUBA_AAD),
        src("Maester Test-MtCisaUnmanagedRoleAssignment", MAESTER),
    ),
    evaluate=evaluate_outside_pim,
)

GA_APPROVAL = _check(
    id="admin.pim_ga_approval",
    severity=Severity.MEDIUM,
    datasets=("roleManagementPolicyAssignments",),
    sources=(
        src("CISA SCuBA MS.AAD.7.6v1", SCUBA_AAD),
        src("Microsoft: PIM role settings", PIM_DOCS),
    ),
    evaluate=evaluate_ga_approval,
)

ALERTS_CHECK = _check(
    id="admin.pim_alerts",
    severity=Severity.MEDIUM,
    datasets=("roleManagementPolicyAssignments",),
    sources=(
        src("CISA SCuBA MS.AAD.7.7v1, 7.8v1, 7.9v1", SCUBA_AAD),
        src("Maester Test-MtCisaAssignmentNotification", MAESTER),
    ),
    evaluate=evaluate_alerts,
)

CHECKS = [OUTSIDE_PIM, GA_APPROVAL, ALERTS_CHECK]
