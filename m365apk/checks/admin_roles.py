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
)
from m365apk.checks.base import affected as sorted_affected
from m365apk.checks.populations import GLOBAL_ADMIN, role_holders, unexpanded_role_groups
from m365apk.snapshot import Snapshot

GA_MIN = 2  # one spare account so the school is never locked out
GA_MAX = 4  # CIS M365 1.1.3


def evaluate_ga_count(snapshot: Snapshot) -> CheckResult:
    holders = role_holders(snapshot, GLOBAL_ADMIN)
    unresolved = unexpanded_role_groups(snapshot, GLOBAL_ADMIN)
    service_principals = sorted(
        a["principalId"]
        for a in snapshot.dataset("roleAssignments").data
        if a["roleDefinitionId"] == GLOBAL_ADMIN
        and (a.get("principal") or {}).get("@odata.type") == "#microsoft.graph.servicePrincipal"
    )
    objects = [
        AffectedObject(
            id=uid,
            display_name=user.get("displayName"),
            detail=" ".join(
                filter(
                    None,
                    [
                        user.get("userPrincipalName"),
                        "(gast)" if (user.get("userType") or "").lower() == "guest" else None,
                        "(uitgeschakeld)" if user.get("accountEnabled") is False else None,
                    ],
                )
            ),
        )
        for uid, user in holders.items()
    ]
    shown, total = sorted_affected(objects)
    count = len(holders)
    evidence = Evidence(
        counts={
            "globale_beheerders": count,
            "ingeschakeld": sum(u.get("accountEnabled") is not False for u in holders.values()),
            "groepen_niet_uitgelezen": len(unresolved),
            "service_principals": len(service_principals),
        },
        affected=shown,
        affected_total=total,
    )
    threshold = f"{GA_MIN} tot en met {GA_MAX} globale beheerders"
    if count > GA_MAX:
        status, reason = Status.FAIL, None  # unread groups can only add to an excess
    elif unresolved:
        return CheckResult(
            check_id=GA_COUNT.id,
            status=Status.UNKNOWN,
            reason=(
                f"{count} globale beheerders gevonden, maar de leden van {len(unresolved)} "
                "roltoewijsbare groep(en) met deze rol konden niet worden gelezen "
                "(toestemming GroupMember.Read.All)."
            ),
            measured=count,
            threshold=threshold,
            evidence=evidence,
        )
    elif count < GA_MIN:
        status, reason = Status.FAIL, None
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
    title="Aantal globale beheerders",
    area=Area.ADMIN_ROLES,
    severity=Severity.HIGH,
    datasets=("roleAssignments", "roleGroupMembers"),
    basismaatregelen=(4,),
    norms=("ID.01", "ID.02"),  # a count is assignment (ID.01), not a periodic review (ID.05)
    threshold=f"{GA_MIN} tot en met {GA_MAX} globale beheerders",
    sources=(
        Source(
            "CIS Microsoft 365 Foundations 1.1.3: tussen twee en vier globale beheerders",
            "https://www.cisecurity.org/benchmark/microsoft_365",
        ),
        Source(
            "CISA SCuBA MS.AAD.7.1v1: minimaal twee, maximaal acht; Microsoft raadt minder "
            "dan vijf aan",
            "https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md",
        ),
    ),
    why=(
        "Een globale beheerder kan alles in de omgeving: alle mail lezen, accounts overnemen, "
        "gegevens wissen. Elk extra account met die rol is een extra deur voor een aanvaller. "
        "Twee is het minimum, zodat de school niet buitengesloten raakt."
    ),
    fix=(
        "Entra-beheercentrum > Roles & admins > Global Administrator: verwijder de rol bij "
        "iedereen die hem niet dagelijks nodig heeft en geef een beperktere rol (bijv. User "
        "Administrator of Helpdesk Administrator). Houd twee noodaccounts (break-glass) "
        "aan, cloud-only en met sterke MFA. Beheerders werken met een apart beheeraccount, "
        "niet met hun dagelijkse account."
    ),
    evaluate=evaluate_ga_count,
)
