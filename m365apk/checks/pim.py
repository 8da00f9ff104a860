"""Privileged Identity Management settings (basismaatregel 4, Entra ID P2): highly privileged
roles are handed out through PIM, Global Administrator activation needs approval, and assigning
or activating a highly privileged role alerts someone (CISA SCuBA MS.AAD.7.5–7.9).

Only the roles CISA calls highly privileged are judged (SCuBA aad.md, "highly privileged roles");
a role that has no PIM policy in Graph's answer is not judged as "in orde" but named.

A role-assignable group that holds such a role is a second way to it (PIM for Groups): whoever
activates membership of the group activates the role. The group's own member-activation policy
(scopeType Group, roleDefinitionId "member") is judged beside the role's; a group whose policy
was not read leaves the verdict undetermined.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from m365apk.checks.base import (
    AffectedObject,
    Area,
    CheckResult,
    Severity,
    Status,
    check_family,
    reads,
)
from m365apk.checks.common import GLOBAL_ADMIN, SCUBA_AAD, clauses, make, obj, src
from m365apk.messages import Msg
from m365apk.snapshot import DatasetStatus, Snapshot

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


GROUP_POLICIES = "pimGroupPolicyAssignments"
GROUP = "#microsoft.graph.group"


def role_groups(snapshot: Snapshot, roles: Iterable[str]) -> dict[str, set[str]]:
    """Group id -> the given roles (template ids) it holds, active (a role-assignable group in
    roleAssignments) or eligible (a principal of roleEligibilitySchedules that is no user the
    scan read). Through such a group its members, and whoever PIM for Groups lets activate
    membership, hold the role. Read conservatively: an assignment without its role, or whose
    principal's type is not given and that is no user the scan read, may be such a group."""
    wanted = set(roles)
    users = snapshot.dataset("users")
    known = {u["id"] for u in users.data or []} if users.ok else set()
    out: dict[str, set[str]] = {}

    def holds(item: dict[str, Any]) -> set[str]:
        role = item.get("roleDefinitionId")
        return wanted if role is None else {role} & wanted

    for a in snapshot.dataset("roleAssignments").data or []:
        kind = (a.get("principal") or {}).get("@odata.type")
        pid = a.get("principalId")
        if not pid or not holds(a):
            continue
        if kind == GROUP or (kind is None and pid not in known):
            out.setdefault(pid, set()).update(holds(a))
    eligible = snapshot.dataset("roleEligibilitySchedules")
    read_groups = set(_group_data(snapshot, GROUP_POLICIES)) | set(
        _group_data(snapshot, "pimGroupEligibility")
    )
    for e in (eligible.data or []) if eligible.ok else []:
        pid = e.get("principalId")
        if not pid or not holds(e):
            continue
        # Without the users read, a principal may be a user or a group: taken as a group (its
        # policy then reads as not read, so the verdict stays open rather than passing).
        if pid in read_groups or pid not in known:
            out.setdefault(pid, set()).update(holds(e))
    return out


def _group_data(snapshot: Snapshot, name: str) -> dict[str, list[dict[str, Any]]]:
    """A PIM for Groups fan-out's answers per group: what was read, also of an incomplete
    read (the groups not read are the ones absent)."""
    ds = snapshot.dataset(name)
    if ds.status not in (DatasetStatus.OK, DatasetStatus.INCOMPLETE):
        return {}
    return ds.data if isinstance(ds.data, dict) else {}


def group_member_rules(snapshot: Snapshot) -> dict[str, dict[str, dict[str, Any]]]:
    """Group id -> rule id -> rule of the group's membership policy (roleDefinitionId
    "member"), for the groups whose PIM for Groups policy was read."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for gid, assignments in _group_data(snapshot, GROUP_POLICIES).items():
        for assignment in assignments:
            if (assignment.get("roleDefinitionId") or "").lower() != "member":
                continue
            rules = ((assignment.get("policy") or {}).get("rules")) or []
            out.setdefault(gid, {}).update({r.get("id"): r for r in rules if r.get("id")})
    return out


def group_names(snapshot: Snapshot) -> dict[str, str]:
    """Group id -> display name, from the expanded principals of the role assignments."""
    return {
        a["principalId"]: (a.get("principal") or {}).get("displayName") or a["principalId"]
        for a in snapshot.dataset("roleAssignments").data or []
        if (a.get("principal") or {}).get("@odata.type") == GROUP
    }


def holds_global_admin(snapshot: Snapshot, *names: str) -> bool:
    """Whether anyone (a user, a group, a service principal) holds Global Administrator in the
    given datasets that were read (default: the active and, on P2, the eligible assignments)."""
    for name in names or ("roleAssignments", "roleEligibilitySchedules"):
        ds = snapshot.dataset(name)
        if ds.ok and any(a.get("roleDefinitionId") == GLOBAL_ADMIN for a in ds.data or []):
            return True
    return False


def unread_holders(snapshot: Snapshot) -> Msg | None:
    """Why the groups holding a role cannot all be known: the active role assignments, or on a
    tenant with PIM the eligible ones, were not read."""
    problems = []
    assignments = snapshot.dataset("roleAssignments")
    if assignments.ok and not assignments.data:
        # Every tenant has a Global Administrator: an empty answer is not the directory's.
        problems.append(Msg("admin.pim_groups.no_assignments"))
    elif assignments.ok and not holds_global_admin(snapshot):
        # Nor is an answer in which nobody holds it, actively or eligible (Entra refuses to
        # remove the caller's own Global Administrator role so that no tenant has none).
        problems.append(Msg("admin.pim_groups.no_global_admin"))
    for name in ("roleAssignments", "roleEligibilitySchedules"):
        ds = snapshot.dataset(name)
        if ds.ok or ds.status is DatasetStatus.NOT_LICENSED:
            continue
        problems.append(
            Msg(
                "admin.pim_groups.holders_unread",
                source=ds.endpoint or name,
                status=ds.status.value,
            )
        )
    return clauses(problems)


def unread_groups(snapshot: Snapshot, groups: Iterable[str]) -> tuple[list[str], Msg | None]:
    """The groups among `groups` whose PIM for Groups policy was not read, and why (also when
    the groups holding a role could not all be known)."""
    holders = unread_holders(snapshot)
    rules = group_member_rules(snapshot)
    missing = sorted(g for g in groups if g not in rules)
    if not missing:
        return [], holders
    ds = snapshot.dataset(GROUP_POLICIES)
    names = group_names(snapshot)
    return missing, clauses(
        [
            Msg(
                "admin.pim_groups.unread",
                groups=[names.get(g, g) for g in missing],
                source=ds.endpoint or GROUP_POLICIES,
                status=ds.status.value,
            ),
            holders,
        ]
    )


def _group(gid: str, names: dict[str, str], roles: Iterable[str], detail: Msg) -> AffectedObject:
    held = [HIGHLY_PRIVILEGED.get(r, r) for r in sorted(roles)]
    return AffectedObject(
        id=gid,
        display_name=names.get(gid, gid),
        detail=Msg.join([Msg("admin.pim_groups.holds", roles=held), detail]),
    )


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
    if not outside and not holds_global_admin(snapshot, "roleAssignmentSchedules"):
        # No active Global Administrator in the answer: every tenant has one (Entra refuses to
        # remove the caller's own), so the answer is not the whole directory's; "nothing
        # outside PIM" would rest on assignments that were not there to see.
        return make(
            cid,
            Status.UNKNOWN,
            Msg("admin.pim_outside_assignments.no_global_admin"),
            threshold=threshold,
            counts=counts,
        )
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


def _approval(rules: dict[str, dict[str, Any]]) -> Any:
    """isApprovalRequired of the activation rule (None when the rule or setting is absent)."""
    rule = rules.get("Approval_EndUser_Assignment")
    return None if rule is None else (rule.get("setting") or {}).get("isApprovalRequired")


def evaluate_ga_approval(snapshot: Snapshot) -> CheckResult:
    """MS.AAD.7.6: activating Global Administrator needs approval, through the role itself and
    through every group that holds it (activating membership of such a group under PIM for
    Groups is activating Global Administrator)."""
    cid = GA_APPROVAL.id
    threshold = "Activeren van Global Administrator vraagt goedkeuring"
    role_rules = _rules(snapshot).get(GLOBAL_ADMIN, {})
    groups = role_groups(snapshot, [GLOBAL_ADMIN])
    group_rules = group_member_rules(snapshot)
    names = group_names(snapshot)
    missing, unread = unread_groups(snapshot, groups)
    open_groups = sorted(
        g for g in groups if g in group_rules and _approval(group_rules[g]) is not True
    )
    counts = {
        "groepen_met_global_admin": len(groups),
        "groepen_zonder_goedkeuring": len(open_groups),
        "groepen_niet_uitgelezen": len(missing),
    }
    objects = [
        _group(g, names, [GLOBAL_ADMIN], Msg("admin.pim_ga_approval.group_open"))
        for g in open_groups
    ] + [_group(g, names, [GLOBAL_ADMIN], Msg("admin.pim_groups.group_unread")) for g in missing]
    if "Approval_EndUser_Assignment" not in role_rules and not open_groups:
        return make(
            cid,
            Status.UNKNOWN,
            clauses([Msg("admin.pim_ga_approval.no_rule"), unread]),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    required = _approval(role_rules)
    measured = {"isApprovalRequired": required}
    if required is not True and "Approval_EndUser_Assignment" in role_rules:
        reason = Msg("admin.pim_ga_approval.not_required")
    else:
        reason = None
    if open_groups:
        reason = clauses(
            [
                reason,
                Msg(
                    "admin.pim_ga_approval.groups_open",
                    groups=[names.get(g, g) for g in open_groups],
                ),
            ]
        )
    if reason is not None:
        return make(
            cid,
            Status.FAIL,
            reason,
            threshold=threshold,
            measured=measured,
            counts=counts,
            objects=objects,
        )
    if unread:
        return make(
            cid,
            Status.UNKNOWN,
            unread,
            threshold=threshold,
            measured=measured,
            counts=counts,
            objects=objects,
        )
    return make(
        cid, Status.PASS, threshold=threshold, measured=measured, counts=counts, objects=objects
    )


def _notifies(rule: dict[str, Any] | None) -> str:
    """Who a notification rule alerts (unifiedRoleManagementPolicyNotificationRule):
    "extra" when the school added recipients (CISA asks a security monitoring mailbox), "default"
    when only Microsoft's default recipients get the mail (isDefaultRecipientsEnabled: the
    admins PIM mails by default), "none" when nobody does
    (no recipients, or notificationLevel None, or no rule)."""
    if not rule or (rule.get("notificationLevel") or "").lower() == "none":
        return "none"
    if rule.get("notificationRecipients"):
        return "extra"
    return "default" if rule.get("isDefaultRecipientsEnabled") is True else "none"


# Notification rule id -> the catalogue key naming the moment it alerts on.
ALERTS = {
    "Notification_Admin_Admin_Eligibility": "admin.pim_alerts.on_eligible",
    "Notification_Admin_Admin_Assignment": "admin.pim_alerts.on_active",
    "Notification_Admin_EndUser_Assignment": "admin.pim_alerts.on_activate",
}
ACTIVATION = "Notification_Admin_EndUser_Assignment"


def _gaps(rules: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Rule id -> "none" | "default" for each alert that reaches no recipient the school chose."""
    found = {rule: _notifies(rules.get(rule)) for rule in ALERTS}
    return {rule: who for rule, who in found.items() if who != "extra"}


def _gap_detail(gaps: dict[str, str]) -> Msg | None:
    nobody = [Msg(ALERTS[g]) for g, who in gaps.items() if who == "none"]
    default = [Msg(ALERTS[g]) for g, who in gaps.items() if who == "default"]
    return clauses(
        [
            Msg("admin.pim_alerts.no_alert", on=nobody) if nobody else None,
            Msg("admin.pim_alerts.default_only", on=default) if default else None,
        ]
    )


def evaluate_alerts(snapshot: Snapshot) -> CheckResult:
    """MS.AAD.7.7 (SHALL): assigning any highly privileged role alerts; 7.8 (SHALL): activating
    Global Administrator alerts; 7.9 (SHOULD): activating the other roles alerts. The same for
    the membership of every group holding such a role (PIM for Groups). Microsoft's default
    recipients alone do get the mail, so they are not "nobody"; CISA, Maester and ScubaGear
    still ask for an added recipient (a monitoring mailbox), so they do not meet the SHALL."""
    cid = ALERTS_CHECK.id
    threshold = "Melding bij toewijzen en activeren van elke zeer bevoorrechte rol"
    rules = _rules(snapshot)
    unread = [r for r in HIGHLY_PRIVILEGED if r not in rules]
    shall: list[AffectedObject] = []
    should: list[AffectedObject] = []
    nobody: list[str] = []  # names of roles and groups where some SHALL alert reaches nobody
    default_only: list[str] = []
    for role_id in HIGHLY_PRIVILEGED:
        if role_id in unread:
            continue
        gaps = _gaps(rules[role_id])
        if not gaps:
            continue
        item = _role(role_id, _gap_detail(gaps) or Msg("admin.pim_alerts.role_unread"))
        activation_only = list(gaps) == [ACTIVATION]
        if activation_only and role_id != GLOBAL_ADMIN:
            should.append(item)
            continue
        shall.append(item)
        (nobody if "none" in gaps.values() else default_only).append(HIGHLY_PRIVILEGED[role_id])
    groups = role_groups(snapshot, HIGHLY_PRIVILEGED)
    group_rules = group_member_rules(snapshot)
    names = group_names(snapshot)
    missing, groups_unread = unread_groups(snapshot, groups)
    for gid in sorted(g for g in groups if g in group_rules):
        gaps = _gaps(group_rules[gid])
        if not gaps:
            continue
        item = _group(
            gid, names, groups[gid], _gap_detail(gaps) or Msg("admin.pim_groups.group_unread")
        )
        activation_only = list(gaps) == [ACTIVATION]
        if activation_only and GLOBAL_ADMIN not in groups[gid]:
            should.append(item)
            continue
        shall.append(item)
        (nobody if "none" in gaps.values() else default_only).append(names.get(gid, gid))
    counts = {
        "rollen_zonder_melding": len(shall) + len(should),
        "rollen_niet_gelezen": len(unread),
        "groepen_met_rol": len(groups),
        "groepen_niet_uitgelezen": len(missing),
    }
    objects = (
        shall
        + should
        + [_role(r, Msg("admin.pim_alerts.role_unread")) for r in unread]
        + [_group(g, names, groups[g], Msg("admin.pim_groups.group_unread")) for g in missing]
    )
    if shall:
        return make(
            cid,
            Status.FAIL,
            clauses(
                [
                    Msg("admin.pim_alerts.nobody_alerted", roles=nobody) if nobody else None,
                    Msg("admin.pim_alerts.only_default", roles=default_only)
                    if default_only
                    else None,
                ]
            ),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    if unread or groups_unread:
        return make(
            cid,
            Status.UNKNOWN,
            clauses(
                [
                    Msg("admin.pim_alerts.unread", roles=[HIGHLY_PRIVILEGED[r] for r in unread])
                    if unread
                    else None,
                    groups_unread,
                ]
            ),
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
    # It judges the active assignments of the highly privileged roles, whoever holds them
    # (a disabled account's assignment made outside PIM is one still): no population of people.
    reads=reads(
        properties={
            "roleAssignmentSchedules": (
                "roleDefinitionId",
                "assignmentType",
                "startDateTime",
                "principalId",
            )
        },
    ),
    sources=(
        src("CISA SCuBA MS.AAD.7.5v1", SCUBA_AAD),
        src("Maester Test-MtCisaUnmanagedRoleAssignment", MAESTER),
    ),
    evaluate=evaluate_outside_pim,
)


# What the two PIM-settings checks read: the role policies, the groups holding a role (active
# and eligible) and those groups' PIM for Groups policies.
_POLICY_PROPERTIES = {
    "roleManagementPolicyAssignments": ("roleDefinitionId", "policy.rules"),
    "pimGroupPolicyAssignments": ("roleDefinitionId", "policy.rules"),
    "roleAssignments": ("roleDefinitionId", "principalId", "principal"),
    "roleEligibilitySchedules": ("roleDefinitionId", "principalId"),
}
# They judge the roles' PIM policies (and those of the groups holding a role), which apply
# whoever holds the role now: no population of people. An answer in which nobody holds Global
# Administrator leaves the groups holding a role undetermined (unread_holders), never a pass.
# Which groups hold a role must be known (active and eligible assignments); their policies are
# judged when read, and a group holding a role whose policy was not read leaves it unknown.
_HOLDERS = ("roleAssignments", "roleEligibilitySchedules")
_GROUP_SOURCES = ("pimGroupPolicyAssignments", "users")

GA_APPROVAL = _check(
    id="admin.pim_ga_approval",
    severity=Severity.MEDIUM,
    datasets=("roleManagementPolicyAssignments", *_HOLDERS),
    optional=_GROUP_SOURCES,
    reads=reads(properties=_POLICY_PROPERTIES),
    sources=(
        src("CISA SCuBA MS.AAD.7.6v1", SCUBA_AAD),
        src("Microsoft: PIM role settings", PIM_DOCS),
    ),
    evaluate=evaluate_ga_approval,
)

ALERTS_CHECK = _check(
    id="admin.pim_alerts",
    severity=Severity.MEDIUM,
    datasets=("roleManagementPolicyAssignments", *_HOLDERS),
    optional=_GROUP_SOURCES,
    reads=reads(properties=_POLICY_PROPERTIES),
    sources=(
        src("CISA SCuBA MS.AAD.7.7v1, 7.8v1, 7.9v1", SCUBA_AAD),
        src("Maester Test-MtCisaAssignmentNotification", MAESTER),
    ),
    evaluate=evaluate_alerts,
)

CHECKS = [OUTSIDE_PIM, GA_APPROVAL, ALERTS_CHECK]
