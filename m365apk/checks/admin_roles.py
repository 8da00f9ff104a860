"""Basismaatregel 4: who has access; here, how many Global Administrators there are."""

from __future__ import annotations

from m365apk.checks.base import (
    AffectedObject,
    Area,
    Check,
    CheckResult,
    Evidence,
    Severity,
    Source,
    Status,
    reads,
)
from m365apk.checks.base import affected as sorted_affected
from m365apk.checks.common import (
    clauses,
    privileged_holders,
    unread_eligibility,
    unread_group_eligibility,
)
from m365apk.checks.populations import GLOBAL_ADMIN, unexpanded_role_groups
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

GA_MIN = 2  # one spare account so the school is never locked out
GA_MAX = 4  # CIS M365 1.1.3
GA_NAME = "Global Administrator"


def _pim_for_groups(snapshot: Snapshot) -> Msg | None:
    """On a P2 tenant a role-assignable group holding Global Administrator can have members who
    are only eligible for the group (PIM for Groups). They are read per group
    (pimGroupEligibility) and counted by `privileged_holders`; a group whose eligible members
    were not read makes the count undetermined rather than too low."""
    return unread_group_eligibility(snapshot, GLOBAL_ADMIN)


def evaluate_ga_count(snapshot: Snapshot) -> CheckResult:
    """Every person holding Global Administrator, active or PIM-eligible (directly or through a
    role-assignable group), counted once; active and eligible are shown apart."""
    holders = {
        uid: h
        for uid, h in privileged_holders(snapshot).items()
        if GLOBAL_ADMIN in h.get("role_ids", ())
    }
    unresolved = unexpanded_role_groups(snapshot, GLOBAL_ADMIN)
    unread_pim = unread_eligibility(snapshot, GLOBAL_ADMIN)
    pim_groups = _pim_for_groups(snapshot)
    if pim_groups:
        unread_pim = clauses([unread_pim, pim_groups])
    service_principals = sorted(
        a["principalId"]
        for a in snapshot.dataset("roleAssignments").data
        if a["roleDefinitionId"] == GLOBAL_ADMIN
        and (a.get("principal") or {}).get("@odata.type") == "#microsoft.graph.servicePrincipal"
    )
    active = {uid for uid, h in holders.items() if GA_NAME in h.get("active", ())}
    objects = [
        AffectedObject(
            id=uid,
            display_name=user.get("displayName"),
            detail=Msg.join(
                [
                    user.get("userPrincipalName"),  # tenant data
                    Msg("admin.global_admin_count.active")
                    if uid in active
                    else Msg("admin.global_admin_count.eligible"),
                    Msg("admin.global_admin_count.guest")
                    if (user.get("userType") or "").lower() == "guest"
                    else None,
                    Msg("admin.global_admin_count.disabled")
                    if user.get("accountEnabled") is False
                    else None,
                ]
            ),
        )
        for uid, user in holders.items()
    ]
    shown, total = sorted_affected(objects)
    count = len(holders)
    # Only an enabled account keeps the school from being locked out; an account whose state
    # is not known may be either.
    enabled = [uid for uid, u in holders.items() if u.get("accountEnabled") is True]
    unsure = [uid for uid, u in holders.items() if u.get("accountEnabled") is None]
    evidence = Evidence(
        counts={
            "globale_beheerders": count,
            "actief": len(active),
            "in_aanmerking": count - len(active),
            "ingeschakeld": sum(u.get("accountEnabled") is not False for u in holders.values()),
            "groepen_niet_uitgelezen": len(unresolved),
            "service_principals": len(service_principals),
        },
        affected=shown,
        affected_total=total,
    )
    threshold = f"{GA_MIN} tot en met {GA_MAX} globale beheerders (actief en in aanmerking)"
    split = Msg("admin.global_admin_count.split", active=len(active), eligible=count - len(active))
    reason: Msg | None
    if count > GA_MAX:
        status = Status.FAIL
        reason = Msg("admin.global_admin_count.too_many", n=count, split=split)
    elif unresolved or unread_pim:
        groups = (
            Msg("admin.global_admin_count.groups_unread", n=len(unresolved)) if unresolved else None
        )
        return CheckResult(
            check_id=GA_COUNT.id,
            status=Status.UNKNOWN,
            reason=Msg(
                "admin.global_admin_count.undetermined",
                n=count,
                split=split,
                why=clauses([groups, unread_pim]),
            ),
            measured=count,
            threshold=threshold,
            evidence=evidence,
        )
    elif len(enabled) + len(unsure) < GA_MIN:
        # The minimum is there so the school is never locked out: a disabled account signs in
        # to nothing, and no Global Administrator at all is below it too.
        status = Status.FAIL
        reason = (
            Msg("admin.global_admin_count.none")
            if count == 0
            else Msg(
                "admin.global_admin_count.too_few_usable",
                n=count,
                usable=len(enabled) + len(unsure),
                minimum=GA_MIN,
            )
        )
    elif len(enabled) < GA_MIN:
        # Whether the minimum is met rests on accounts whose state Graph did not give.
        return CheckResult(
            check_id=GA_COUNT.id,
            status=Status.UNKNOWN,
            reason=Msg(
                "admin.global_admin_count.state_unknown",
                n=count,
                enabled=len(enabled),
                unsure=len(unsure),
                minimum=GA_MIN,
            ),
            measured=count,
            threshold=threshold,
            evidence=evidence,
        )
    else:
        status, reason = Status.PASS, None
    return CheckResult(
        check_id=GA_COUNT.id,
        status=status,
        reason=reason,
        measured=count,
        threshold=threshold,
        evidence=evidence,
    )


GA_COUNT = Check(
    id="admin.global_admin_count",
    area=Area.ADMIN_ROLES,
    severity=Severity.HIGH,
    datasets=("roleAssignments", "roleGroupMembers"),
    # PIM-eligible holders (Entra ID P2), directly or through PIM for Groups, and their
    # accounts; absent on P1/A1 tenants.
    optional=("users", "roleEligibilitySchedules", "pimGroupEligibility"),
    reads=reads(
        population="highly_privileged",
        properties={
            "roleAssignments": ("roleDefinitionId", "principalId", "principal"),
            "roleGroupMembers": ("id",),
            "roleEligibilitySchedules": ("roleDefinitionId", "principalId"),
            "pimGroupEligibility": ("principalId", "accessId"),
            "users": ("accountEnabled", "userType"),
        },
    ),
    basismaatregelen=(4,),
    norms=("ID.01", "ID.02"),  # a count is assignment (ID.01), not a periodic review (ID.05)
    sources=(
        Source(
            "CIS Microsoft 365 Foundations 1.1.3: between two and four global admins",
            "https://www.cisecurity.org/benchmark/microsoft_365",
        ),
        Source(
            "CISA SCuBA MS.AAD.7.1v1: at least two, at most eight; Microsoft recommends fewer "
            "than five",
            "https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md",
        ),
    ),
    evaluate=evaluate_ga_count,
)
