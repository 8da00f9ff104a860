"""The one people model: every account in the snapshot with what conditional access and the
people checks judge it by, built once per snapshot (design.md: "People are judged through one
model"). No check builds its own population from raw user records.

Each person carries:

* the directory roles conditional access sees: built-in roles assigned at tenant scope ("/"),
  active or eligible (PIM), directly or through a role-assignable group whose members were read,
  of every role, not only the privileged ones (a policy that excludes Helpdesk Administrator
  leaves out a teacher who holds it). Conditional access does not target administrative-unit
  scoped assignments (Microsoft: "Other role types aren't supported, including administrative
  unit-scoped roles and custom roles"), so those are kept apart (`scoped_roles`);
* the groups it is in, among the groups whose members the scan read (transitively);
* guest type, whether the account is enabled, its population (staff, student, guest, other),
  and break-glass standing.

The populations checks judge (staff, students, guests, admins, highly privileged) are views on
the same model. Entries are read-only and shared between the checks of a snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from m365apk.checks.common import (
    PRIVILEGED_ROLES,
    break_glass,
    group_members,
    pim_group_eligible_members,
    privileged_holders,
    users,
)
from m365apk.checks.derived import per_snapshot
from m365apk.checks.pim import HIGHLY_PRIVILEGED
from m365apk.checks.populations import GUEST, STAFF, STUDENT, classify_users
from m365apk.snapshot import DatasetStatus, Snapshot

_NONE: frozenset[str] = frozenset()
_NO_RECORD: Mapping[str, Any] = MappingProxyType({})
TENANT_SCOPE = "/"

# Every dataset the model reads (directly or through the helpers it calls): the cache answers
# afresh when one of them is replaced. A helper that starts reading another dataset adds it here.
DATASETS = (
    "users",
    "subscribedSkus",
    "roleAssignments",
    "roleGroupMembers",
    "roleEligibilitySchedules",
    "conditionalAccessGroupMembers",
    "pimGroupEligibility",
)


class Person(NamedTuple):
    """One account as the checks judge it, read-only. Only `id` is needed to ask the CA
    engine; the rest defaults to "nothing known" (a synthetic person such as the next guest).
    A tuple: 100,000 of them are made per board in a fraction of a frozen dataclass's time."""

    id: str
    roles: frozenset[str] = _NONE  # role template ids CA sees: tenant scope, active or eligible
    guest: bool = False
    groups: frozenset[str] = _NONE  # among the groups whose members were read
    upn: str | None = None
    name: str | None = None
    enabled: bool = True
    population: str | None = None  # staff | student | guest | other; None: not an enabled user
    break_glass: bool = False
    # True when the roles are known to be complete whatever the snapshot could not read (the
    # next guest holds none); otherwise the engine asks what the role data left unread.
    roles_certain: bool = False
    privileged: frozenset[str] = _NONE  # privileged role ids, any scope (privileged_holders)
    scoped_roles: frozenset[str] = _NONE  # held only at an administrative-unit (or other) scope
    # Part of `roles` whose scope Graph did not give: they count for exclusions (a policy that
    # excludes one may leave the person out) but never include the person for certain.
    unsure_roles: frozenset[str] = _NONE
    # The record the person was built from (a user, or a role holder with `roles` names), for
    # evidence (display name, UPN, role names); not part of the person's identity.
    record: Mapping[str, Any] = _NO_RECORD

    @property
    def admin(self) -> bool:
        return bool(self.privileged)


# The next guest the school invites: a policy that names the current guests one by one, or
# a group of them, does not cover the next one.
NEXT_GUEST = Person(
    id="toekomstige-gast",
    guest=True,
    population=GUEST,
    roles_certain=True,
    record=MappingProxyType({"id": "toekomstige-gast", "userType": "Guest"}),
)


# The properties a person's roles rest on (a check's `reads`).
ROLE_PROPERTIES: dict[str, tuple[str, ...]] = {
    "roleAssignments": ("roleDefinitionId", "principalId", "directoryScopeId", "principal"),
}
# ... and their population and guest type.
USER_PROPERTIES: dict[str, tuple[str, ...]] = {
    "users": ("accountEnabled", "userType", "assignedLicenses"),
}


@dataclass(frozen=True, slots=True)
class RoleReading:
    """What the model could not see about roles: role ids some of whose holders may be
    missing (a group holding it whose members were not read, an eligible principal that is
    not resolvable), or every role (`all_unread`) when the role assignments themselves were
    not read."""

    all_unread: bool
    unresolved: frozenset[str]

    def unknown(self, role: str) -> bool:
        return self.all_unread or role in self.unresolved


@dataclass(frozen=True, slots=True)
class People:
    by_id: Mapping[str, Person]
    roles: RoleReading


Held = dict[str, set[str]]


def _roles(
    snapshot: Snapshot, known: set[str]
) -> tuple[Held, Held, Held, dict[str, dict[str, Any]], RoleReading]:
    """(person -> tenant-scope role ids, person -> other-scope role ids, person -> role ids of
    unknown scope, principals seen only in role data, what could not be read), for every
    directory role, active and eligible."""
    tenant: Held = {}
    scoped: Held = {}
    unsure: Held = {}
    seen: dict[str, dict[str, Any]] = {}
    unresolved: set[str] = set()
    members = snapshot.dataset("roleGroupMembers")
    groups = members.data if members.ok and isinstance(members.data, dict) else {}

    def give(uid: str, role: str, item: dict[str, Any]) -> None:
        # directoryScopeId is nullable (an app-scoped assignment has appScopeId instead):
        # only "/" without an app scope is the tenant; an absent scope is not known.
        scope = item.get("directoryScopeId")
        if "directoryScopeId" not in item or (scope is None and "appScopeId" not in item):
            unsure.setdefault(uid, set()).add(role)
            return
        into = tenant if scope == TENANT_SCOPE and not item.get("appScopeId") else scoped
        into.setdefault(uid, set()).add(role)

    # Group id -> the roles it holds, active or eligible (with the assignment, for its scope):
    # PIM for Groups makes whoever is eligible for its membership an eligible holder of them.
    group_held: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    assignments = snapshot.dataset("roleAssignments")
    for a in assignments.data or [] if assignments.ok else []:
        role = a["roleDefinitionId"]
        principal = a.get("principal") or {}
        kind = principal.get("@odata.type")
        if kind == "#microsoft.graph.group" or a["principalId"] in groups:
            group_held.setdefault(a["principalId"], []).append((role, a))
            found = groups.get(a["principalId"])
            if found is None:
                unresolved.add(role)
                continue
            for m in found:
                seen.setdefault(m["id"], m)
                give(m["id"], role, a)
        elif kind == "#microsoft.graph.user" or (kind is None and a["principalId"] in known):
            if principal:
                seen.setdefault(a["principalId"], principal)
            give(a["principalId"], role, a)
        elif kind is None:
            unresolved.add(role)  # no principal expanded: a user, or a group of unknown members
    eligible = snapshot.dataset("roleEligibilitySchedules")
    for e in eligible.data or [] if eligible.ok else []:
        role, pid = e["roleDefinitionId"], e["principalId"]
        if pid not in known and pid not in seen:
            group_held.setdefault(pid, []).append((role, e))  # not a user: a group
        if pid in groups:
            for m in groups[pid]:
                seen.setdefault(m["id"], m)
                give(m["id"], role, e)
        elif pid in known or pid in seen:
            give(pid, role, e)
        else:
            unresolved.add(role)  # a group whose members were not read, or unknown principal
    for gid, pid in pim_group_eligible_members(snapshot):
        for role, item in group_held.get(gid, ()):
            give(pid, role, item)
    for gid in _pim_unread(snapshot, set(group_held)):
        unresolved.update(role for role, _ in group_held[gid])
    reading = RoleReading(
        all_unread=not assignments.ok or _eligibility_unread(snapshot),
        unresolved=frozenset(unresolved),
    )
    return tenant, scoped, unsure, seen, reading


def _pim_unread(snapshot: Snapshot, groups: set[str]) -> set[str]:
    """Groups holding a role whose PIM for Groups eligible members were not read (none
    without Entra ID P2: no PIM for Groups to miss)."""
    ds = snapshot.dataset("pimGroupEligibility")
    if not groups or ds.status is DatasetStatus.NOT_LICENSED:
        return set()
    if snapshot.licences.entra_plan in ("free", "p1"):
        return set()
    if ds.status is DatasetStatus.NOT_COLLECTED and snapshot.licences.entra_plan != "p2":
        return set()  # not asked (an older snapshot) and no sign of P2
    read = set(ds.data) if isinstance(ds.data, dict) else set()
    if ds.status in (DatasetStatus.OK, DatasetStatus.INCOMPLETE):
        return groups - read
    return groups


def _eligibility_unread(snapshot: Snapshot) -> bool:
    """Eligible role holders may exist but could not be read (P2 tenant, dataset not ok)."""
    ds = snapshot.dataset("roleEligibilitySchedules")
    if ds.ok or ds.status is DatasetStatus.NOT_LICENSED:
        return False
    if snapshot.licences.entra_plan in ("free", "p1"):
        return False
    # Not asked (an older snapshot) and no sign of P2: there is none to miss.
    return not (ds.status is DatasetStatus.NOT_COLLECTED and snapshot.licences.entra_plan != "p2")


def _guest(record: Mapping[str, Any]) -> bool:
    """A guest account: userType Guest; where Graph gave no userType, a B2B guest's UPN still
    says so (`#EXT#`), so a missing property does not turn a guest into a member."""
    kind = record.get("userType")
    if kind:
        return str(kind).lower() == "guest"
    return "#EXT#" in str(record.get("userPrincipalName") or "").upper()


@per_snapshot(*DATASETS)
def model(snapshot: Snapshot) -> People:
    """Every account (the users read, and principals seen only in role data) as a Person,
    with what the model could not read about roles."""
    directory = users(snapshot)
    population = classify_users(snapshot)
    holders = privileged_holders(snapshot)
    standing = break_glass(snapshot)
    tenant, scoped, unsure, seen, reading = _roles(snapshot, set(directory))
    in_groups: dict[str, set[str]] = {}
    for gid, ids in group_members(snapshot).items():
        for uid in ids:
            in_groups.setdefault(uid, set()).add(gid)
    # Roles and group sets are shared where equal: thousands of staff hold none.
    interned: dict[frozenset[str], frozenset[str]] = {_NONE: _NONE}

    def intern(items: set[str] | None) -> frozenset[str]:
        key = frozenset(items) if items else _NONE
        return interned.setdefault(key, key)

    def rich(uid: str) -> Person:
        """A person with roles or groups: what conditional access sees of them."""
        holder = holders.get(uid)
        record = directory.get(uid) or holder or seen.get(uid) or {"id": uid}
        maybe = set(unsure.get(uid, ())) - set(tenant.get(uid, ()))
        held = set(tenant.get(uid, ())) | maybe
        only_scoped = set(scoped.get(uid, ())) - held
        # Roles other engineers' sources add to privileged_holders (PIM for Groups) count too,
        # unless this model saw them held only below tenant scope.
        privileged = set(holder.get("role_ids", ())) if holder else set()
        held |= privileged - only_scoped
        # A privileged role the model saw held (any scope) counts even where the holders list
        # missed it (a role assignment without its principal expanded).
        privileged |= (held | only_scoped) & PRIVILEGED_ROLES.keys()
        return Person(
            id=uid,
            roles=intern(held),
            guest=_guest(record),
            groups=intern(in_groups.get(uid)),
            upn=record.get("userPrincipalName"),
            name=record.get("displayName"),
            enabled=record.get("accountEnabled") is not False,
            population=population.get(uid),
            break_glass=uid in standing,
            privileged=intern(privileged),
            scoped_roles=intern(only_scoped),
            unsure_roles=intern(maybe),
            record=holder or record,
        )

    # Users first, in the order Graph gave them, then principals seen only in role data.
    out: dict[str, Person] = {}
    special = tenant.keys() | scoped.keys() | unsure.keys() | holders.keys() | in_groups.keys()
    for uid, record in directory.items():
        if uid in special:
            out[uid] = rich(uid)
            continue
        # Most accounts of a board: no roles, no groups read; nothing to work out.
        out[uid] = Person(
            uid,
            _NONE,
            _guest(record),
            _NONE,
            record.get("userPrincipalName"),
            record.get("displayName"),
            record.get("accountEnabled") is not False,
            population.get(uid),
            uid in standing,
            False,
            _NONE,
            _NONE,
            _NONE,
            record,
        )
    for uid in sorted((special | seen.keys()) - directory.keys()):
        out[uid] = rich(uid)
    return People(by_id=MappingProxyType(out), roles=reading)


def people(snapshot: Snapshot) -> Mapping[str, Person]:
    """User id -> Person for every account in the snapshot (read-only, shared)."""
    return model(snapshot).by_id


def person(snapshot: Snapshot, uid: str) -> Person:
    """The person with this id; one the snapshot does not know is a bare Person (no roles, no
    groups known)."""
    return people(snapshot).get(uid) or Person(id=uid, record=MappingProxyType({"id": uid}))


def role_reading(snapshot: Snapshot) -> RoleReading:
    return model(snapshot).roles


@per_snapshot(*DATASETS)
def _population(snapshot: Snapshot, kind: str) -> Mapping[str, Person]:
    everyone = people(snapshot)
    if kind == "guests":
        found = {u: p for u, p in everyone.items() if p.guest and p.enabled}
    elif kind == "admins":
        found = {u: p for u, p in everyone.items() if p.privileged and p.enabled}
    elif kind == "highly_privileged":
        found = {
            u: p
            for u, p in everyone.items()
            if p.enabled and p.privileged & HIGHLY_PRIVILEGED.keys()
        }
    elif kind == "break_glass":
        found = {u: p for u, p in everyone.items() if p.break_glass}
    elif kind == "users":
        found = {u: p for u, p in everyone.items() if p.population is not None}
    else:
        found = {u: p for u, p in everyone.items() if p.population == kind}
    return MappingProxyType(found)


def accounts(snapshot: Snapshot) -> Mapping[str, Person]:
    """Every enabled user account (the population "users"): the accounts classify_users
    places in a population."""
    return _population(snapshot, "users")


def nobody_enabled(snapshot: Snapshot) -> bool:
    """The user accounts were read and none is an enabled account: a requirement for everyone
    then holds for nobody, and "everyone is covered" would be 0 of 0."""
    return snapshot.dataset("users").ok and not accounts(snapshot)


@per_snapshot(*DATASETS)
def licences_unread(snapshot: Snapshot) -> int:
    """Enabled accounts whose record lacks `assignedLicenses` (absent or null) and that the
    tenant's own list does not place: whether they are staff or students is not known."""
    return sum(
        1
        for p in people(snapshot).values()
        if p.population not in (None, GUEST, STAFF, STUDENT)
        and p.record.get("assignedLicenses") is None
    )


def staff(snapshot: Snapshot) -> Mapping[str, Person]:
    """Enabled staff accounts (by licence, or the tenant's own population list)."""
    return _population(snapshot, STAFF)


def students(snapshot: Snapshot) -> Mapping[str, Person]:
    return _population(snapshot, STUDENT)


def guests(snapshot: Snapshot, *, with_next: bool = False) -> Mapping[str, Person]:
    """Enabled guest accounts (userType Guest); with `with_next`, also the next guest the
    school invites (NEXT_GUEST)."""
    found = _population(snapshot, "guests")
    if not with_next:
        return found
    return MappingProxyType({**found, NEXT_GUEST.id: NEXT_GUEST})


def admins(snapshot: Snapshot) -> Mapping[str, Person]:
    """Enabled holders of a privileged role, active or eligible, direct or through a group
    (a disabled account cannot sign in; the role checks judge those through
    common.privileged_holders)."""
    return _population(snapshot, "admins")


def highly_privileged(snapshot: Snapshot) -> Mapping[str, Person]:
    """Enabled holders of a highly privileged role (CISA SCuBA's list, checks/pim.py)."""
    return _population(snapshot, "highly_privileged")


def break_glass_people(snapshot: Snapshot) -> Mapping[str, Person]:
    """The break-glass accounts the tenant settings name, as far as the model counts them."""
    return _population(snapshot, "break_glass")
