"""What many checks share: privileged roles and their holders, tenant settings (approved
exclusions, break-glass), group members, and a compact way to build a result. Conditional
access itself is read only by the engine (conditional_access.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import cache
from types import MappingProxyType
from typing import Any

from m365apk.checks import trust
from m365apk.checks.base import AffectedObject, CheckResult, Evidence, Source, Status
from m365apk.checks.base import affected as sorted_affected
from m365apk.checks.derived import per_snapshot
from m365apk.checks.reference_data import privileged_roles
from m365apk.messages import Msg
from m365apk.snapshot import DatasetStatus, Snapshot

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"

# Privileged directory roles (template ids -> name): the roles Microsoft labels PRIVILEGED plus
# CISA SCuBA's highly privileged roles, kept as dated data in mappings/privileged_roles.yaml.
PRIVILEGED_ROLES: dict[str, str] = privileged_roles()

# The 14 admin roles an "MFA for admins" policy must include (Maester MT.1006, CIS 5.2.2.1).
ADMIN_MFA_ROLES = frozenset(
    {
        "62e90394-69f5-4237-9190-012177145e10",
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "b0f54661-2d74-4c50-afa3-1ec803f12efe",
        "fe930be7-5e62-47db-91af-98c3a49a38b1",
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "158c047a-c907-4556-b7ef-446551a6b5f7",
        "966707d0-3269-4727-9be2-8c3a10f19b9d",
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
    }
)

CIS = "https://www.cisecurity.org/benchmark/microsoft_365"
SCUBA_AAD = "https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md"
EIDSCA = "https://maester.dev/docs/tests/eidsca/"


# Microsoft's own tenants: apps they own are first-party, not third parties.
MICROSOFT_TENANTS = frozenset(
    {"f8cdef31-a31e-4b4a-93e4-5f571e91255a", "72f988bf-86f1-41af-91ab-2d7cd011db47"}
)


def app_permissions(snapshot: Snapshot) -> dict[str, set[str]]:
    """Service principal id -> the application permissions (app role values) granted to it on
    Microsoft Graph, Exchange Online and SharePoint Online."""
    names = {
        role["id"]: role.get("value") or ""
        for sp in snapshot.dataset("resourceServicePrincipals").data or []
        for role in sp.get("appRoles") or []
    }
    held: dict[str, set[str]] = {}
    for assignments in (snapshot.dataset("appRoleAssignedTo").data or {}).values():
        for a in assignments:
            held.setdefault(a["principalId"], set()).add(names.get(a["appRoleId"], a["appRoleId"]))
    return held


def src(name: str, url: str) -> Source:
    return Source(name, url)


def make(
    check_id: str,
    status: Status,
    reason: str | None = None,
    *,
    measured: Any = None,
    threshold: str | None = None,
    counts: dict[str, int] | None = None,
    objects: Iterable[AffectedObject] = (),
) -> CheckResult:
    shown, total = sorted_affected(list(objects))
    return CheckResult(
        check_id=check_id,
        status=status,
        reason=reason,
        measured=measured,
        threshold=threshold,
        evidence=Evidence(counts=counts or {}, affected=shown, affected_total=total),
    )


def obj(item: dict[str, Any], detail: str | None = None) -> AffectedObject:
    """An affected object; without a `detail` its UPN (tenant data, never translated)."""
    if detail is None and item.get("userPrincipalName"):
        detail = Msg.literal(item["userPrincipalName"])
    return AffectedObject(
        id=str(item.get("id", "")),
        display_name=item.get("displayName") or item.get("userDisplayName"),
        detail=detail,
    )


@per_snapshot("users")
def users(snapshot: Snapshot) -> Mapping[str, dict[str, Any]]:
    """User id -> user (read-only: one answer for every check of the snapshot)."""
    return MappingProxyType({u["id"]: u for u in snapshot.dataset("users").data or []})


def resolve(snapshot: Snapshot, ref: str) -> str:
    """A UPN or object id from the tenant settings -> object id (unknown refs stay as given)."""
    return trust.resolve(snapshot, ref)


def group_members(snapshot: Snapshot) -> dict[str, set[str]]:
    """Group id -> member ids, for every group whose members the scan read (groups named in
    conditional access, transitively where Graph gave that, and role-assignable groups)."""
    out: dict[str, set[str]] = {}
    for name in ("roleGroupMembers", "conditionalAccessGroupMembers"):
        ds = snapshot.dataset(name)
        if ds.ok and isinstance(ds.data, dict):
            for gid, members in ds.data.items():
                out.setdefault(gid, set()).update(m["id"] for m in members)
    # Nested groups: a member that is itself a read group brings its members (transitively).
    changed = True
    while changed:
        changed = False
        for members in out.values():
            extra = set().union(*(out[m] for m in members & out.keys())) - members
            if extra:
                members |= extra
                changed = True
    return out


def break_glass(snapshot: Snapshot) -> dict[str, str]:
    """Object id -> reason, for the break-glass accounts named in the tenant settings (users,
    and the members of break-glass groups whose members the scan read) that look like one by
    Microsoft's guidance; the others do not count (checks/trust.py, which says why)."""
    return trust.break_glass_accounts(snapshot)


def break_glass_groups(snapshot: Snapshot) -> dict[str, str]:
    """Group id -> reason for break-glass groups that count (their exclusion is approved):
    members read, and every member an emergency account (checks/trust.py)."""
    return trust.break_glass_groups(snapshot)


def approved(snapshot: Snapshot) -> dict[str, str]:
    """Users and groups whose exclusion from policies is approved and counts: break-glass
    accounts and groups that look like one, and approved exclusions within their bounds (an
    owner, an end date not passed, not most of the accounts, the staff or the admins;
    checks/trust.py). Object id -> reason."""
    out = dict(break_glass(snapshot))
    out.update(break_glass_groups(snapshot))
    out.update({k: g.reason for k, g in trust.approvals(snapshot).people.items()})
    return out


def privileged_holders(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    """User id -> principal for every person holding a privileged role: active (directly or
    through a role-assignable group whose members were read) or eligible through PIM
    (roleEligibilitySchedules, read on P2 tenants; or eligible for membership of a group holding
    the role, PIM for Groups: pimGroupEligibility), counted once per person. Each entry has
    `roles` (names, active and eligible), `role_ids` (template ids), `active` and `eligible`
    (names) so reports can show them apart."""
    holders: dict[str, dict[str, Any]] = {}
    members = snapshot.dataset("roleGroupMembers")
    directory = users(snapshot)

    def add(person: dict[str, Any], role: str, kind: str) -> None:
        entry = holders.setdefault(
            person["id"],
            {
                **directory.get(person["id"], {}),
                **person,
                "roles": set(),
                "role_ids": set(),
                "active": set(),
                "eligible": set(),
            },
        )
        entry["roles"].add(PRIVILEGED_ROLES[role])
        entry["role_ids"].add(role)
        entry[kind].add(PRIVILEGED_ROLES[role])

    for assignment in snapshot.dataset("roleAssignments").data or []:
        role = assignment["roleDefinitionId"]
        if role not in PRIVILEGED_ROLES:
            continue
        principal = assignment.get("principal") or {}
        kind = principal.get("@odata.type")
        found = []
        if kind == "#microsoft.graph.user":
            found = [principal]
        elif kind == "#microsoft.graph.group" and members.ok:
            found = members.data.get(assignment["principalId"], [])
        for person in found:
            add(person, role, "active")
    # Group id -> the privileged roles it holds (active or eligible): PIM for Groups makes
    # whoever is eligible for its membership an eligible holder of those roles.
    group_roles: dict[str, set[str]] = {}
    for assignment in snapshot.dataset("roleAssignments").data or []:
        if (assignment.get("principal") or {}).get("@odata.type") == "#microsoft.graph.group":
            role = assignment["roleDefinitionId"]
            if role in PRIVILEGED_ROLES:
                group_roles.setdefault(assignment["principalId"], set()).add(role)
    eligible = snapshot.dataset("roleEligibilitySchedules")
    for e in (eligible.data or []) if eligible.ok else []:
        role = e["roleDefinitionId"]
        if role not in PRIVILEGED_ROLES:
            continue
        pid = e["principalId"]
        if pid in directory:
            add(directory[pid], role, "eligible")
            continue
        group_roles.setdefault(pid, set()).add(role)  # not a user: an eligible group
        if members.ok and pid in members.data:  # an eligible role-assignable group
            for person in members.data[pid]:
                add(person, role, "eligible")
    for gid, person in pim_group_eligible_members(snapshot):
        if person in directory:
            for role in group_roles.get(gid, ()):
                add(directory[person], role, "eligible")
    return holders


def pim_group_eligible_members(snapshot: Snapshot) -> list[tuple[str, str]]:
    """(group id, principal id) for everyone PIM for Groups makes eligible for membership of a
    group holding a directory role (pimGroupEligibility, read on P2 tenants; accessId member:
    an eligible owner holds no role until they add a member)."""
    ds = snapshot.dataset("pimGroupEligibility")
    if ds.status not in (DatasetStatus.OK, DatasetStatus.INCOMPLETE) or not isinstance(
        ds.data, dict
    ):
        return []
    return [
        (gid, e["principalId"])
        for gid, items in ds.data.items()
        for e in items or []
        if (e.get("accessId") or "").lower() == "member" and e.get("principalId")
    ]


def unread_group_eligibility(snapshot: Snapshot, role: str | None = None) -> Msg | None:
    """Why people eligible through PIM for Groups may be missing from `privileged_holders`:
    a group holding the role (or any privileged role) whose eligible members were not read.
    None when there is none, or the tenant has no Entra ID P2 (no PIM for Groups to miss)."""
    ds = snapshot.dataset("pimGroupEligibility")
    if ds.status is DatasetStatus.NOT_LICENSED or snapshot.licences.entra_plan in ("free", "p1"):
        return None
    roles = {role} if role else set(PRIVILEGED_ROLES)
    groups = {
        a["principalId"]
        for a in snapshot.dataset("roleAssignments").data or []
        if a["roleDefinitionId"] in roles
        and (a.get("principal") or {}).get("@odata.type") == "#microsoft.graph.group"
    }
    eligible = snapshot.dataset("roleEligibilitySchedules")
    directory = users(snapshot)
    groups |= {
        e["principalId"]
        for e in ((eligible.data or []) if eligible.ok else [])
        if e["roleDefinitionId"] in roles and e["principalId"] not in directory
    }
    read = set(ds.data) if isinstance(ds.data, dict) else set()
    if ds.status is DatasetStatus.OK:
        missing = groups - read
    elif (
        ds.status is DatasetStatus.NOT_COLLECTED
        and snapshot.licences.entra_plan != "p2"
        and not eligible.ok  # eligibility is read only on P2 tenants: a sign of P2
    ):
        return None  # not asked (an older snapshot) and no sign of P2
    else:
        missing = groups - read if ds.status is DatasetStatus.INCOMPLETE else groups
    if not missing:
        return None
    return Msg(
        "common.eligibility.groups_unread",
        n=len(missing),
        source=ds.endpoint or "pimGroupEligibility",
        status=ds.status.value,
    )


def unread_eligibility(snapshot: Snapshot, role: str | None = None) -> Msg | None:
    """Why PIM-eligible role holders may be missing from `privileged_holders`, or None.
    Eligibility exists only with Entra ID P2: not_licensed (or a tenant known to lack P2) means
    there is none to miss."""
    ds = snapshot.dataset("roleEligibilitySchedules")
    if ds.ok:
        directory = users(snapshot)
        members = snapshot.dataset("roleGroupMembers")
        known = set(directory) | set(members.data or {} if members.ok else {})
        unresolved = {
            e["principalId"]
            for e in ds.data or []
            if e["roleDefinitionId"] in PRIVILEGED_ROLES
            and (role is None or e["roleDefinitionId"] == role)
            and e["principalId"] not in known
        }
        if unresolved:
            return Msg("common.eligibility.unresolved", n=len(unresolved))
        return None
    if ds.status is DatasetStatus.NOT_LICENSED or snapshot.licences.entra_plan in ("free", "p1"):
        return None
    if ds.status is DatasetStatus.NOT_COLLECTED and snapshot.licences.entra_plan != "p2":
        return None  # not asked (an older snapshot) and no sign of P2
    return Msg(
        "common.eligibility.unreadable",
        source=ds.endpoint or "roleEligibilityScheduleInstances",
        status=ds.status.value,
    )


def role_text(holder: dict[str, Any]) -> Msg:
    """Role names; a role held only as PIM-eligible is marked so (active and eligible apart)."""
    if not holder.get("roles"):
        return _no_roles()  # asked for every staff member of a board: made once
    eligible_only = set(holder.get("eligible", ())) - set(holder.get("active", ()))
    roles: list[str] = [
        Msg("common.role_eligible", role=r) if r in eligible_only else r
        for r in sorted(holder.get("roles", ()))
    ]
    return Msg("common.roles", roles=roles)


@cache
def _no_roles() -> Msg:
    return Msg("common.roles", roles=[])


def clauses(items: Iterable[Msg | None]) -> Msg | None:
    """The given clauses as one, separated by semicolons (None when there are none)."""
    out: Msg | None = None
    for item in items:
        if item:
            out = item if out is None else Msg("common.clauses", first=out, second=item)
    return out


def parse_time(value: str | None) -> datetime | None:
    """Graph's timestamps are UTC (ISO 8601, `Z`): one without an offset is read as UTC too,
    so comparing it with the scan's (aware) time cannot fail. None when absent or not a time."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)  # Python 3.11 reads `Z` and 7 fraction digits
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def pct(part: int, whole: int) -> float | None:
    """`part` of `whole` in percent; None for 0 of 0 (issue 25: an empty population is never
    100%: the caller says whether its emptiness is measured or unknown)."""
    return round(100.0 * part / whole, 1) if whole else None
