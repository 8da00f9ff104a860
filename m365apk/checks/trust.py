"""Bounded trust in tenant settings (design.md: "Tenant settings are trusted within bounds").

A school records break-glass accounts and approved exclusions from conditional access in its
tenant settings (snapshot/settings.py). A setting is the school's word, not a fact: trusted
without bounds, one line ("all staff are excluded, approved") turns any finding into "in orde".
This module is the one place that decides which settings count; the CA engine
(conditional_access.py), `admin.break_glass` and every other check ask it, so they cannot
disagree.

Approved exclusions count only
* with an owner and an end date that has not passed on the scan date (an older file without
  them still reads; the approval is ignored and the result says why);
* when they do not cover the population the check judges, nor the staff, nor the admins:
  an approval that reaches half of any of these or more (`MOST`) is the rule, not an exception.
  Half, not "more than half": with two admins, excluding one from MFA excludes half of them.
  A group whose members the scan did not read cannot be bounded, so it does not count.
An approval that counts never makes a check pass: it makes it `accepted` (the check says which
approval, its owner, end date and reason).

A break-glass entry counts only when the account looks like an emergency access account by
Microsoft's guidance (`EMERGENCY_ACCESS`, "Manage emergency access accounts in Microsoft Entra
ID", 2025-02): it exists and is enabled, it is cloud-only (not `onPremisesSyncEnabled`), it is
not a guest, it holds Global Administrator (actively or eligible, directly or through a group),
and it is not used day to day: no interactive sign-in (`signInActivity.lastSignInDateTime`)
within `DAY_TO_DAY_DAYS` before the scan. A mail-enabled account can be legitimate (Microsoft
recommends one to forward admin notifications), so a mailbox is no bound. When the sign-in
activity or the role assignments could not be read, the entry is not verified: it does not
count, and what depends on it is unknown rather than passed. A break-glass group counts only
when its members were read and every member counts.

`DAY_TO_DAY_DAYS` = 30. A teacher's or an admin's daily account signs in interactively every
working week; 30 days covers every school holiday but the summer. Microsoft asks that emergency
accounts be used only in an emergency and in drills "at least every 90 days", each sign-in
raising an alert and a review: an interactive sign-in within 30 days is either daily use or a
drill, and the result names its date so the school can say which. Counting a daily-use account
as an emergency account would hide its exclusions (a false "in orde"); the other mistake costs
a question.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any

from m365apk.checks.derived import per_snapshot
from m365apk.messages import Msg
from m365apk.snapshot import DatasetStatus, Snapshot
from m365apk.snapshot.settings import Approved

EMERGENCY_ACCESS = (
    "https://learn.microsoft.com/entra/identity/role-based-access-control/security-emergency-access"
)
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
DAY_TO_DAY_DAYS = 30
# An approval reaching this share of a population (or more) covers the population itself.
MOST = 0.5
# Graph guest accounts (userType Guest) are internal or B2B collaboration guests.
GUEST_ACCOUNT_TYPES = frozenset({"internalGuest", "b2bCollaborationGuest"})


# --- approvals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """An approved exclusion that counts: what it approves and the school's own words."""

    kind: str  # user | group | application | role | guests_or_external
    target: str  # as written in the tenant settings (tenant data)
    reason: str
    owner: str
    expires: date

    def text(self) -> Msg:
        """The approval in words: target, owner, end date and reason (tenant data, shown as
        written in every language)."""
        return Msg(
            "trust.approval",
            what=self.target,
            owner=self.owner,
            date=self.expires.isoformat(),
            reason=self.reason,
        )


@dataclass
class Approvals:
    """The approved exclusions that count for one check's population, by what they approve,
    and a line (Msg) per approval that does not count, saying which bound it is outside."""

    people: dict[str, Grant] = field(default_factory=dict)  # user or group object id
    apps: dict[str, Grant] = field(default_factory=dict)
    roles: dict[str, Grant] = field(default_factory=dict)
    guest_types: dict[str, Grant] = field(default_factory=dict)
    ignored: list[Msg] = field(default_factory=list)

    def all(self) -> list[Grant]:
        found = [*self.people.values(), *self.apps.values(), *self.roles.values()]
        found += self.guest_types.values()
        return list(dict.fromkeys(found))


def accepted_reason(grants: Iterable[Grant]) -> Msg:
    """Why a check is `accepted`: it would fail without these approvals, each named with its
    owner, end date and reason."""
    texts = [g.text() for g in sorted(set(grants), key=lambda g: (g.kind, g.target))]
    return Msg("trust.accepted", approvals=texts)


def resolve(snapshot: Snapshot, ref: str) -> str:
    """A UPN or object id from the tenant settings -> object id (unknown refs stay as given)."""
    lowered = ref.lower()
    for user in snapshot.dataset("users").data or []:
        if lowered in (user["id"].lower(), (user.get("userPrincipalName") or "").lower()):
            return user["id"]
    return ref


def members_of(snapshot: Snapshot) -> dict[str, set[str]]:
    """Group id -> member ids (transitively), for every group whose members the scan read."""
    from m365apk.checks.common import group_members  # common delegates to this module

    return group_members(snapshot)


def _enabled(snapshot: Snapshot) -> set[str]:
    return {u["id"] for u in snapshot.dataset("users").data or [] if u.get("accountEnabled")}


def _staff(snapshot: Snapshot) -> set[str]:
    from m365apk.checks.populations import STAFF, classify_users

    return {uid for uid, kind in classify_users(snapshot).items() if kind == STAFF}


def _admins(snapshot: Snapshot) -> set[str]:
    from m365apk.checks.common import privileged_holders

    return set(privileged_holders(snapshot))


def _role_holders(snapshot: Snapshot, role: str, members: dict[str, set[str]]) -> set[str]:
    """Holders of a directory role (any role, not only the privileged ones): active
    assignments, PIM eligibility where read, through groups whose members were read."""
    principals = {
        a["principalId"]
        for a in snapshot.dataset("roleAssignments").data or []
        if a.get("roleDefinitionId") == role
    }
    eligible = snapshot.dataset("roleEligibilitySchedules")
    if eligible.ok:
        principals |= {
            e["principalId"] for e in eligible.data or [] if e.get("roleDefinitionId") == role
        }
    out = set(principals)
    for p in principals:
        out |= members.get(p, set())
    return out


def _reach(snapshot: Snapshot, a: Approved, members: dict[str, set[str]]) -> set[str] | None:
    """The accounts an approval excludes; None when that cannot be told (members unread)."""
    if a.user:
        return {resolve(snapshot, a.user)}
    if a.group:
        return members.get(a.group)
    if a.role:
        return _role_holders(snapshot, a.role, members)
    if set(a.types) & GUEST_ACCOUNT_TYPES:
        return {
            u["id"]
            for u in snapshot.dataset("users").data or []
            if (u.get("userType") or "").lower() == "guest"
        }
    return set()  # external users without an account in the tenant (direct connect, ...)


def approvals(snapshot: Snapshot, population: Collection[str] | None = None) -> Approvals:
    """The approved exclusions that count for a check judging `population` (ids; None: every
    enabled account), and why the others do not."""
    out = Approvals()
    settings = snapshot.settings.approved_exclusions
    if not settings:
        return out
    today = snapshot.collected_at.date()
    members = members_of(snapshot)
    judged = set(_enabled(snapshot) if population is None else population)
    bounds = (("population", judged), ("staff", _staff(snapshot)), ("admins", _admins(snapshot)))
    for a in settings:
        why = _outside(snapshot, a, today, members, bounds)
        if why is not None:
            out.ignored.append(Msg("trust.approval_ignored", what=a.target, why=why))
            continue
        # _outside made sure of the owner and the end date
        grant = Grant(_kind(a), a.target, a.reason, a.owner or "", a.expires or today)
        if a.user:
            out.people[resolve(snapshot, a.user)] = grant
        elif a.group:
            out.people[a.group] = grant
        elif a.application:
            out.apps[a.application] = grant
        elif a.role:
            out.roles[a.role] = grant
        for t in a.types:
            out.guest_types[t] = grant
    return out


def _kind(a: Approved) -> str:
    for kind in ("user", "group", "application", "role", "guests_or_external"):
        if getattr(a, kind):
            return kind
    return "user"


def _outside(
    snapshot: Snapshot,
    a: Approved,
    today: date,
    members: dict[str, set[str]],
    bounds: tuple[tuple[str, set[str]], ...],
) -> Msg | None:
    """Which bound an approval is outside, or None when it counts."""
    if not (a.owner or "").strip():
        return Msg("trust.bound.no_owner")
    if a.expires is None:
        return Msg("trust.bound.no_end_date")
    if a.expires < today:
        return Msg("trust.bound.expired", date=a.expires.isoformat())
    if a.application:
        return None  # an app is not people: no population to cover
    reach = _reach(snapshot, a, members)
    if reach is None:
        return Msg("trust.bound.members_unread")
    for name, people in bounds:
        hit = len(reach & people)
        if people and hit and hit >= MOST * len(people):
            return Msg("trust.bound.most", who=Msg(f"trust.who.{name}"), n=hit, total=len(people))
    return None


# --- break-glass accounts --------------------------------------------------------------------


@dataclass(frozen=True)
class Emergency:
    """A break-glass entry judged against Microsoft's guidance: counts when `problems` is empty
    and `unsure` is None."""

    id: str
    user: dict[str, Any] | None
    reason: str  # the school's own words
    group: str | None  # the break-glass group it came from, if any
    problems: tuple[Msg, ...] = ()  # why it is not an emergency account
    unsure: Msg | None = None  # why it could not be verified

    @property
    def counts(self) -> bool:
        return not self.problems and self.unsure is None

    def why_not(self) -> Msg | None:
        if self.problems:
            return Msg("trust.list", items=list(self.problems))
        return self.unsure


def _global_admins(snapshot: Snapshot, members: dict[str, set[str]]) -> tuple[set[str], bool]:
    """(accounts holding Global Administrator, active or eligible, directly or through a group
    whose members were read; whether every such group was read)."""
    ra = snapshot.dataset("roleAssignments")
    principals = {
        a["principalId"]: (a.get("principal") or {}).get("@odata.type")
        for a in ra.data or []
        if a.get("roleDefinitionId") == GLOBAL_ADMIN
    }
    eligible = snapshot.dataset("roleEligibilitySchedules")
    if eligible.ok:
        for e in eligible.data or []:
            if e.get("roleDefinitionId") == GLOBAL_ADMIN:
                principals.setdefault(e["principalId"], None)
    users = {u["id"] for u in snapshot.dataset("users").data or []}
    out, complete = set(), ra.ok
    for pid, kind in principals.items():
        if pid in members:
            out |= members[pid]
        elif kind == "#microsoft.graph.group" or (kind is None and pid not in users):
            complete = False  # a group (or an unknown principal) whose members were not read
        else:
            out.add(pid)
    return out, complete


def _last_interactive(snapshot: Snapshot) -> dict[str, str | None] | None:
    """User id -> last interactive sign-in; None when unreadable. Without Entra ID P1 Graph
    has no sign-in activity and the tenant no conditional access to hide an exclusion in: the
    day-to-day bound then does not apply (an empty answer), rather than making every
    break-glass entry of an A1 school unknown."""
    ds = snapshot.dataset("userSignInActivity")
    if ds.status is DatasetStatus.NOT_LICENSED:
        return {}
    if not ds.ok:
        return None
    return {
        a["id"]: (a.get("signInActivity") or {}).get("lastSignInDateTime") for a in ds.data or []
    }


# What judging a break-glass entry reads.
ENTRY_DATA = (
    "users",
    "roleAssignments",
    "roleGroupMembers",
    "conditionalAccessGroupMembers",
    "roleEligibilitySchedules",
    "userSignInActivity",
)


@per_snapshot(*ENTRY_DATA)
def emergency_entries(snapshot: Snapshot) -> Mapping[str, Emergency]:
    """Every break-glass account the tenant settings name (users, and the read members of
    break-glass groups), judged; an account named twice is judged once. Asked by every engine
    of a snapshot: judged once (read-only)."""
    from m365apk.checks.common import parse_time

    entries = snapshot.settings.break_glass
    if not entries:
        return MappingProxyType({})
    members = members_of(snapshot)
    named: dict[str, tuple[str, str | None]] = {}
    for e in entries:
        if e.user:
            named.setdefault(resolve(snapshot, e.user), (e.reason, None))
    for e in entries:
        if e.group:
            for uid in sorted(members.get(e.group, ())):
                named.setdefault(uid, (e.reason, e.group))
    directory = {u["id"]: u for u in snapshot.dataset("users").data or []}
    admins, complete = _global_admins(snapshot, members)
    signins = _last_interactive(snapshot)
    since = snapshot.collected_at - timedelta(days=DAY_TO_DAY_DAYS)
    out = {}
    for uid, (reason, group) in named.items():
        user = directory.get(uid)
        problems: list[Msg] = []
        unsure: list[Msg] = []
        if user is None:
            problems.append(Msg("trust.break_glass.not_found"))
        else:
            if user.get("accountEnabled") is False:
                problems.append(Msg("trust.break_glass.disabled"))
            if user.get("onPremisesSyncEnabled"):
                problems.append(Msg("trust.break_glass.synced"))
            if (user.get("userType") or "").lower() == "guest":
                problems.append(Msg("trust.break_glass.guest"))
            # Graph sends onPremisesSyncEnabled null for a cloud-only account, but a record
            # without the property (or without accountEnabled or userType) says nothing.
            missing = [k for k in ("accountEnabled", "userType") if user.get(k) is None]
            missing += [k for k in ("onPremisesSyncEnabled",) if k not in user]
            if missing:
                unsure.append(Msg("trust.break_glass.property_missing", properties=missing))
            if uid not in admins:
                if complete:
                    problems.append(Msg("trust.break_glass.no_global_admin"))
                else:
                    unsure.append(Msg("trust.break_glass.roles_unread"))
            if signins is None:
                unsure.append(Msg("trust.break_glass.sign_ins_unread"))
            else:
                last = parse_time(signins.get(uid))
                if last is not None and last >= since:
                    problems.append(
                        Msg(
                            "trust.break_glass.daily_use",
                            date=last.date().isoformat(),
                            days=DAY_TO_DAY_DAYS,
                        )
                    )
        out[uid] = Emergency(
            id=uid,
            user=user,
            reason=reason,
            group=group,
            problems=tuple(problems),
            unsure=Msg("trust.list", items=unsure) if unsure else None,
        )
    return MappingProxyType(out)


def break_glass_accounts(snapshot: Snapshot) -> dict[str, str]:
    """Object id -> reason, for the break-glass accounts that count."""
    return {uid: e.reason for uid, e in emergency_entries(snapshot).items() if e.counts}


def break_glass_groups(snapshot: Snapshot) -> dict[str, str]:
    """Group id -> reason, for the break-glass groups that count: their members were read and
    every member counts as an emergency account."""
    entries = emergency_entries(snapshot)
    members = members_of(snapshot)
    return {
        e.group: e.reason
        for e in snapshot.settings.break_glass
        if e.group
        and members.get(e.group)
        and all(entries[m].counts for m in members[e.group] if m in entries)
    }


def unverified(snapshot: Snapshot) -> dict[str, Msg]:
    """Break-glass accounts and groups that could not be verified (object id -> why): what
    depends on them is unknown, not passed."""
    entries = emergency_entries(snapshot)
    out = {
        uid: Msg("trust.break_glass_ignored", what=_name(e), why=e.unsure)
        for uid, e in entries.items()
        if not e.problems and e.unsure is not None
    }
    members = members_of(snapshot)
    for g in snapshot.settings.break_glass:
        if not g.group or g.group in out:
            continue
        inside = [entries[m] for m in members.get(g.group, ()) if m in entries]
        if inside and not any(e.problems for e in inside) and any(e.unsure for e in inside):
            out[g.group] = Msg(
                "trust.break_glass_ignored",
                what=g.group,
                why=Msg("trust.break_glass.group_unverified"),
            )
    return out


def _name(e: Emergency) -> str:
    return str((e.user or {}).get("userPrincipalName") or e.id)


def ignored_break_glass(snapshot: Snapshot) -> list[Msg]:
    """A line per break-glass entry that does not count, with the bound it is outside."""
    entries = emergency_entries(snapshot)
    out = [
        Msg("trust.break_glass_ignored", what=_name(e), why=e.why_not())
        for e in entries.values()
        if not e.counts
    ]
    members = members_of(snapshot)
    for g in snapshot.settings.break_glass:
        if not g.group:
            continue
        if g.group not in members:
            why = Msg("trust.break_glass.group_unread")
        elif not members[g.group]:
            why = Msg("trust.break_glass.group_empty")
        elif any(not entries[m].counts for m in members[g.group] if m in entries):
            why = Msg("trust.break_glass.group_member")
        else:
            continue
        out.append(Msg("trust.break_glass_ignored", what=g.group, why=why))
    return out
