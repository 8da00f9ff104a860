"""Who is who in a school tenant: staff, students, guests, other accounts, and admins.

Education licences name their audience (faculty vs student SKUs); accounts without either
(service, shared and unlicensed admin accounts) are 'other'.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from m365apk.checks.derived import per_snapshot
from m365apk.snapshot import Snapshot
from m365apk.snapshot.licences import audience_by_sku

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"

STAFF = "staff"
STUDENT = "student"
GUEST = "guest"
OTHER = "other"


# classify_users is asked by several checks (MFA, conditional access, SSPR) for one and the same
# snapshot; at 100,000 accounts it was measured running two to four times per evaluation (#16).
@per_snapshot("users", "subscribedSkus")
def classify_users(snapshot: Snapshot) -> Mapping[str, str]:
    """user id -> population, for every account that may sign in: only an account Graph says
    is disabled (accountEnabled false) is left out. A record without accountEnabled (Graph:
    nullable) counts, so the population never shrinks silently (issue 25); `enabled_unknown`
    names those accounts. Read-only: the same answer is handed to every check of this snapshot."""
    return MappingProxyType(_classify(snapshot))


def may_sign_in(user: Mapping[str, Any]) -> bool:
    """False only when Graph says the account is disabled; absent or null may sign in."""
    return user.get("accountEnabled") is not False


@per_snapshot("users")
def enabled_unknown(snapshot: Snapshot) -> frozenset[str]:
    """Ids of accounts whose record lacks accountEnabled (absent or null): counted as able to
    sign in, and a check may say how many it counted so."""
    return frozenset(
        u["id"] for u in snapshot.dataset("users").data or [] if u.get("accountEnabled") is None
    )


def _classify(snapshot: Snapshot) -> dict[str, str]:
    skus = snapshot.dataset("subscribedSkus")
    audience = audience_by_sku(skus.data) if skus.ok else {}
    overrides = {o.user.lower(): o.population for o in snapshot.settings.populations}
    result: dict[str, str] = {}
    # Once per account of a 100,000-account board: no work for what the tenant does not use.
    for user in snapshot.dataset("users").data or []:
        if user.get("accountEnabled") is False:
            continue
        uid = user["id"]
        if overrides:
            override = overrides.get(uid.lower()) or overrides.get(
                (user.get("userPrincipalName") or "").lower()
            )
            if override:  # the tenant's own list wins over licence-based guessing
                result[uid] = override
                continue
        kind = user.get("userType")
        if kind and kind.lower() == "guest":
            result[uid] = GUEST
            continue
        population = OTHER
        for lic in user.get("assignedLicenses") or ():
            found = audience.get(lic["skuId"])
            if found == STAFF:
                # Staff wins over student: a teacher with a student test licence is staff.
                population = STAFF
                break
            if found == STUDENT:
                population = STUDENT
        result[uid] = population
    return result


def role_holders(snapshot: Snapshot, role_id: str | None = None) -> dict[str, dict[str, Any]]:
    """Users holding (any or one) active directory role, directly or via a role-assignable
    group whose members were read. Keyed by user id."""
    holders: dict[str, dict[str, Any]] = {}
    members = snapshot.dataset("roleGroupMembers")
    for assignment in snapshot.dataset("roleAssignments").data or []:
        if role_id and assignment["roleDefinitionId"] != role_id:
            continue
        principal = assignment.get("principal") or {}
        kind = principal.get("@odata.type")
        if kind == "#microsoft.graph.user":
            holders[principal["id"]] = principal
        elif kind == "#microsoft.graph.group" and members.ok:
            for member in members.data.get(assignment["principalId"], []):
                holders[member["id"]] = member
    return holders


def unexpanded_role_groups(snapshot: Snapshot, role_id: str | None = None) -> list[str]:
    """Groups holding a role whose members we could not read."""
    members = snapshot.dataset("roleGroupMembers")
    return sorted(
        {
            a["principalId"]
            for a in snapshot.dataset("roleAssignments").data or []
            if (not role_id or a["roleDefinitionId"] == role_id)
            and (a.get("principal") or {}).get("@odata.type") == "#microsoft.graph.group"
            and not (members.ok and a["principalId"] in members.data)
        }
    )
