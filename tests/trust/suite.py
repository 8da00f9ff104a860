"""The generic trust suite's machinery: for every registered check, transformations of a snapshot
derived from what the check declares it reads (`Check.datasets`, `alternatives`, `optional`
and `Check.reads`), each with the relation its verdict must keep.

No check is named here. A family of transformations applies to a check because of its
declaration:

- datasets: every dataset it reads made unreadable (forbidden, error, throttled, malformed),
  partial (incomplete) or empty.
- ca_exclusion (judges conditional_access): a user, group or role a member of its population
  holds excluded from one enabled CA policy, or from every one; also a role granted to the
  member first and then excluded (a teacher or a partner's guest holding Helpdesk
  Administrator).
- credentials: a long-lived password credential on an application or a service principal.
- app_permissions: an escalation permission granted to an unverified third-party app.
- nulls: a property it reads (declared, and every nullable property of a single object it
  reads) set to null or dropped; an evolvable enum set to unknownFutureValue.
- population: its population removed, disabled, its licences unrecognised, or the
  accountEnabled property missing from every account.
- trust: an approval or break-glass entry widened to a group holding the whole population (with
  and without end date and owner), or to a daily-use account.

A check without a declaration (older code, third-party plugins) gets a conservative one
derived from its datasets (`declaration`). A check with a declaration should always name the
properties its verdict rests on: an empty declaration counts as none.

Snapshots are copied only where a transformation changes them, and every transformation makes
a new Snapshot object (checks/derived.py keeps answers per snapshot object).

Holding older code (e.g. 68356c4) to the fix's declarations: write the fix's
`python -m m365apk checks --json` to a file and set M365APK_TRUST_DECLARATIONS to its path
before running tests/test_trust_suite.py in the older checkout (copy tests/trust and the test
file there); checks without a declaration of their own then borrow it.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from m365apk.snapshot import Dataset, DatasetStatus, Snapshot

FAMILIES = (
    "datasets",
    "ca_exclusion",
    "ca_narrowing",
    "credentials",
    "app_permissions",
    "nulls",
    "population",
    "trust",
)

PASS, FAIL, PARTIAL = "pass", "fail", "partial"
NOT_APPLICABLE, NOT_LICENSED, UNKNOWN, ACCEPTED = (
    "not_applicable",
    "not_licensed",
    "unknown",
    "accepted",
)

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
HELPDESK_ADMIN = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
MICROSOFT_TENANTS = frozenset(
    {"f8cdef31-a31e-4b4a-93e4-5f571e91255a", "72f988bf-86f1-41af-91ab-2d7cd011db47"}
)
# Microsoft Graph application permissions that let an app make itself anything (ids from the
# Microsoft Graph permissions reference; ScubaGear's RiskyPermissions.json lists the same).
ESCALATION = {
    "RoleManagement.ReadWrite.Directory": "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8",
    "AppRoleAssignment.ReadWrite.All": "06b708a9-e830-4db3-a914-8e69da51d44f",
    "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
}
# Identifiers the suite makes up (recognisable in any output).
SUITE_GROUP = "7e57c0de-0000-4000-8000-00000000a11a"
SUITE_APP = "7e57c0de-0000-4000-8000-0000000000a1"
SUITE_TENANT = "7e57c0de-0000-4000-8000-0000000000aa"
SUITE_KEY = "7e57c0de-0000-4000-8000-0000000000c1"

SAMPLE = 3  # members per population, applications, service principals

# --- relations ---------------------------------------------------------------------------------

NOT_BETTER = "not_better"
NOT_PASS = "not_pass"
NO_INVENTED = "no_invented"  # no reason naming None / null / unknownFutureValue anew
NO_INVENTED_NULL = "no_invented_null"  # no reason naming None / null anew
NOT_TURNED_PASS = "not_turned_pass"  # never pass unless it passed before
# A setting made null or absent: no fail or partial on a value it no longer measures, and no
# fall to a worse verdict (a null is not a setting: unknown, or what it was).
NO_UNMEASURED = "no_unmeasured"

NO_INVENTED_NONE = "no_invented_none"  # no reason naming None / unknownFutureValue anew
_INVENTED = {
    NO_INVENTED: re.compile(r"\b(None|null|unknownFutureValue)\b"),
    NO_INVENTED_NULL: re.compile(r"\b(None|null)\b"),
    # a property set to null may be said to be null, never "None" (Python's word)
    NO_INVENTED_NONE: re.compile(r"\b(None|unknownFutureValue)\b"),
}


def better(before: str, after: str) -> bool:
    """pass > partial > fail; accepted beats fail and partial; fail or partial (or accepted)
    turning not_applicable or not_licensed is better too; unknown is never better."""
    if after in (before, UNKNOWN):
        return False
    if after == PASS:
        return True
    if after == ACCEPTED:
        return before in (FAIL, PARTIAL)
    if after == PARTIAL:
        return before == FAIL
    if after in (NOT_APPLICABLE, NOT_LICENSED):
        return before in (FAIL, PARTIAL, ACCEPTED)
    return False


def _said(result: Any) -> str:
    """The reason, and the measured value unless the verdict is unknown (an unknown verdict
    that shows the property as null says what Graph gave)."""
    if result is None:
        return ""
    said = str(getattr(result, "reason", None) or "")
    measured = getattr(result, "measured", None)
    if measured is not None and _status(result) != UNKNOWN:
        said += " " + json.dumps(measured, default=str, ensure_ascii=False)
    return said


_RANK = {PASS: 3, ACCEPTED: 2.5, PARTIAL: 2, FAIL: 1}


def _guessed(before: Any, after: Any) -> bool:
    """A setting made null (or absent) judged as a failing value: the verdict fell from one
    measured state to a worse one instead of becoming unknown."""
    b, a = _status(before), _status(after)
    return a in (FAIL, PARTIAL) and b in _RANK and _RANK[a] < _RANK[b]


def _empty_measure(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_empty_measure(v) for v in value.values())
    return value is None


def _unmeasured(before: Any, after: Any) -> bool:
    """A fail or partial on a value it no longer measured: the check showed the value behind
    its fail or partial before, and now fails without one."""
    return (
        _status(before) in (FAIL, PARTIAL)
        and _status(after) in (FAIL, PARTIAL)
        and not _empty_measure(getattr(before, "measured", None))
        and _empty_measure(getattr(after, "measured", None))
    )


def broken(relations: Iterable[str], before: Any, after: Any) -> str | None:
    """The first relation the pair breaks, in words, or None."""
    b, a = _status(before), _status(after)
    order = [NOT_PASS, NOT_TURNED_PASS, NOT_BETTER, *_INVENTED, NO_UNMEASURED]
    for relation in sorted(relations, key=order.index):
        if relation == NOT_PASS and a == PASS:
            return "never pass"
        if relation == NOT_TURNED_PASS and a == PASS and b != PASS:
            return "never turns pass"
        if relation == NOT_BETTER and better(b, a):
            return "never better"
        if relation in _INVENTED:
            pattern = _INVENTED[relation]
            new = set(pattern.findall(_said(after))) - set(pattern.findall(_said(before)))
            if new:
                return f"reason names {', '.join(sorted(new))}"
        if relation == NO_UNMEASURED and _unmeasured(before, after):
            return "judged a value it did not measure"
        if relation == NO_UNMEASURED and _guessed(before, after):
            return "judged a missing value as a failing one"
    return None


def _status(result: Any) -> str:
    status = getattr(result, "status", None)
    return str(getattr(status, "value", status))


# --- declarations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decl:
    population: str | None
    settings: tuple[str, ...]
    properties: dict[str, tuple[str, ...]]
    judges: tuple[str, ...]
    declared: bool


def _borrowed() -> dict[str, dict[str, Any]]:
    """Declarations from another checkout's `m365apk checks --json` (the file named by
    M365APK_TRUST_DECLARATIONS): to hold code that predates them (e.g. 68356c4) to the same
    declarations as the fix. Empty without the variable."""
    path = os.environ.get("M365APK_TRUST_DECLARATIONS")
    return _declarations_in(path) if path else {}


@functools.cache
def _declarations_in(path: str) -> dict[str, dict[str, Any]]:
    listed = json.loads(Path(path).read_text("utf-8"))
    entries = listed if isinstance(listed, list) else listed.get("checks", [])
    return {e["id"]: e.get("reads") or {} for e in entries}


def declaration(check: Any) -> Decl:
    """The check's `reads`, or (none, or an empty one) a conservative one from its datasets."""
    reads = getattr(check, "reads", None)
    if reads is not None and (
        reads.population or reads.settings or reads.properties or reads.judges
    ):
        return Decl(
            population=reads.population,
            settings=tuple(reads.settings),
            properties={k: tuple(v) for k, v in reads.properties},
            judges=tuple(reads.judges),
            declared=True,
        )
    other = _borrowed().get(check.id)
    if other and any(other.get(k) for k in ("population", "settings", "properties", "judges")):
        return Decl(
            population=other.get("population"),
            settings=tuple(other.get("settings") or ()),
            properties={k: tuple(v) for k, v in (other.get("properties") or {}).items()},
            judges=tuple(other.get("judges") or ()),
            declared=True,
        )
    ds = set(check.all_datasets)
    required = set(check.datasets)
    population = None
    if "roleAssignments" in required:
        population = "admins"
    elif "users" in required:
        population = "users"
    judges = []
    if "conditionalAccessPolicies" in ds:
        judges.append("conditional_access")
    if "applications" in ds:
        judges.append("credentials")
    if {"appRoleAssignedTo", "oauth2PermissionGrants"} <= ds:
        judges.append("app_permissions")
    settings = ("approved_exclusions", "break_glass") if "conditionalAccessPolicies" in ds else ()
    properties = {"users": ("accountEnabled", "userType")} if "users" in ds else {}
    return Decl(population, settings, properties, tuple(judges), declared=False)


# --- the suite's own view of people ------------------------------------------------------------


def _privileged() -> set[str]:
    from m365apk.checks.reference_data import privileged_roles

    return set(privileged_roles())


def _highly_privileged() -> set[str]:
    try:
        from m365apk.checks.pim import HIGHLY_PRIVILEGED
    except ImportError:  # pragma: no cover - a refactored module
        return {GLOBAL_ADMIN}
    return set(HIGHLY_PRIVILEGED)


def _data(snapshot: Snapshot, name: str, default: Any) -> Any:
    ds = snapshot.datasets.get(name)
    if ds is None or ds.data is None:
        return default
    return ds.data


class People:
    """Who is who in a snapshot, computed here from the raw datasets (not by the checks' own
    code: that is what is on trial)."""

    def __init__(self, snapshot: Snapshot) -> None:
        from m365apk.snapshot.licences import audience_by_sku

        self.snapshot = snapshot
        self.users = {u["id"]: u for u in _data(snapshot, "users", [])}
        skus = _data(snapshot, "subscribedSkus", [])
        audience = audience_by_sku(skus) if skus else {}
        overrides = {o.user.lower(): o.population for o in snapshot.settings.populations}
        self.kind: dict[str, str] = {}
        for uid, u in self.users.items():
            if not u.get("accountEnabled"):
                continue
            upn = (u.get("userPrincipalName") or "").lower()
            override = overrides.get(uid.lower()) or overrides.get(upn)
            if override:
                self.kind[uid] = {"student": "students", "guest": "guests"}.get(override, override)
                continue
            if (u.get("userType") or "").lower() == "guest":
                self.kind[uid] = "guests"
                continue
            found = "other"
            for lic in u.get("assignedLicenses") or ():
                aud = audience.get(lic.get("skuId"))
                if aud == "staff":
                    found = "staff"
                    break
                if aud == "student":
                    found = "students"
            self.kind[uid] = found
        self.groups: dict[str, set[str]] = {}
        for name in ("roleGroupMembers", "conditionalAccessGroupMembers"):
            data = _data(snapshot, name, {})
            if isinstance(data, dict):
                for gid, members in data.items():
                    self.groups.setdefault(gid, set()).update(m["id"] for m in members or [])
        self.groups_of: dict[str, list[str]] = {}
        for gid, members in sorted(self.groups.items()):
            for uid in members:
                self.groups_of.setdefault(uid, []).append(gid)
        self.roles: dict[str, set[str]] = {}
        for name in ("roleAssignments", "roleEligibilitySchedules", "roleAssignmentSchedules"):
            for a in _data(snapshot, name, []) or []:
                role, pid = a.get("roleDefinitionId"), a.get("principalId")
                principal = a.get("principal") or {}
                if principal.get("@odata.type") == "#microsoft.graph.group" or pid in self.groups:
                    for uid in self.groups.get(pid, ()):
                        self.roles.setdefault(uid, set()).add(role)
                else:
                    self.roles.setdefault(pid, set()).add(role)
        self.break_glass: set[str] = set()
        for entry in snapshot.settings.break_glass:
            if getattr(entry, "user", None):
                self.break_glass.add(self.resolve(entry.user))
            if getattr(entry, "group", None):
                self.break_glass |= self.groups.get(entry.group, set())

    def resolve(self, ref: str) -> str:
        lowered = ref.lower()
        for uid, u in self.users.items():
            if lowered in (uid.lower(), (u.get("userPrincipalName") or "").lower()):
                return uid
        return ref

    def members(self, population: str | None) -> list[str]:
        if population is None:
            return []
        if population == "users":
            found = set(self.kind)
        elif population in ("staff", "students", "guests"):
            found = {uid for uid, k in self.kind.items() if k == population}
        elif population in ("admins", "highly_privileged"):
            wanted = _privileged() if population == "admins" else _highly_privileged()
            found = {uid for uid, roles in self.roles.items() if roles & wanted}
            found &= set(self.kind)  # enabled accounts
        elif population == "break_glass":
            found = set(self.break_glass)
        else:
            found = set()
        return sorted(found)

    def sample(self, population: str | None) -> list[str]:
        """At most SAMPLE members, break-glass accounts aside (unless that is the population):
        a role holder, a group member, a guest, then the rest; each bucket by id."""
        members = self.members(population)
        if population != "break_glass":
            members = [m for m in members if m not in self.break_glass]
        buckets = [
            [m for m in members if self.roles.get(m)],
            [m for m in members if self.groups_of.get(m)],
            [m for m in members if self.kind.get(m) == "guests"],
            [m for m in members if self.kind.get(m) == "staff"],
            members,
        ]
        picked: list[str] = []
        while len(picked) < min(SAMPLE, len(members)):
            for bucket in buckets:
                left = [m for m in bucket if m not in picked]
                if left and len(picked) < SAMPLE:
                    picked.append(left[0])
        return picked

    def holds(self, uid: str) -> list[tuple[str, str]]:
        """(kind, id) of what a member holds that a CA policy can exclude."""
        out = [("user", uid)]
        out += [("group", g) for g in self.groups_of.get(uid, [])[:2]]
        out += [("role", r) for r in sorted(self.roles.get(uid, ()))[:2]]
        return out


# --- copying ----------------------------------------------------------------------------------


def replace(
    snapshot: Snapshot,
    datasets: dict[str, Dataset] | None = None,
    settings: Any = None,
) -> Snapshot:
    """A new Snapshot object sharing everything it does not replace."""
    update: dict[str, Any] = {}
    if datasets:
        update["datasets"] = {**snapshot.datasets, **datasets}
    if settings is not None:
        update["settings"] = settings
    return snapshot.model_copy(update=update)


def with_data(snapshot: Snapshot, name: str, data: Any, **fields: Any) -> dict[str, Dataset]:
    ds = snapshot.datasets[name]
    return {name: ds.model_copy(update={"data": data, **fields})}


def settings_with(snapshot: Snapshot, **extra: list[dict[str, Any]]) -> Any:
    """The snapshot's tenant settings with entries added, built through the settings model as
    it is on this branch (fields it lacks are left out); None when the model refuses them."""
    settings = snapshot.settings
    model = type(settings)
    raw = settings.model_dump(mode="json", exclude_none=True)
    for key, entries in extra.items():
        item_model = model.model_fields[key].annotation.__args__[0]  # list[Approved] -> Approved
        known = set(item_model.model_fields)
        raw[key] = [
            *raw.get(key, []),
            *({k: v for k, v in e.items() if k in known} for e in entries),
        ]
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def _ok(snapshot: Snapshot, name: str) -> bool:
    ds = snapshot.datasets.get(name)
    return ds is not None and ds.status is DatasetStatus.OK


# --- transformations --------------------------------------------------------------------------

Build = Callable[[Snapshot], "Snapshot | None"]


@dataclass
class Transform:
    family: str
    key: str  # unique per profile; also its label in the matrix
    build: Build
    # A transformation that first changes the situation (e.g. grants a role) compares with
    # that prepared snapshot, not with the demo's.
    prepare_key: str | None = None
    prepare: Build | None = None


@dataclass
class Plan:
    transforms: dict[str, Transform] = field(default_factory=dict)
    users: dict[str, list[tuple[Any, frozenset[str]]]] = field(default_factory=dict)

    def add(self, t: Transform, check: Any, relations: Iterable[str]) -> None:
        self.transforms.setdefault(t.key, t)
        self.users.setdefault(t.key, []).append((check, frozenset(relations)))


# datasets -------------------------------------------------------------------------------------

_FAULTS = {
    DatasetStatus.FORBIDDEN: (403, "Authorization_RequestDenied"),
    DatasetStatus.ERROR: (500, "InternalServerError"),
    DatasetStatus.THROTTLED: (429, "TooManyRequests"),
    DatasetStatus.MALFORMED: (200, "response_contract"),
}


def _fault(status: DatasetStatus) -> Callable[[Dataset], Dataset]:
    http, code = _FAULTS[status]

    def make(ds: Dataset) -> Dataset:
        return ds.model_copy(
            update={
                "status": status,
                "http_status": http,
                "error_code": code,
                "error_message": f"trust suite: {status.value}",
                "data": None,
                "unread_keys": [],
            }
        )

    return make


def _partial(ds: Dataset) -> Dataset:
    data = ds.data
    if isinstance(data, dict) and data and _is_fan_out(ds):
        keys = sorted(data)
        dropped = keys[len(keys) // 2 :]
        kept = {k: v for k, v in data.items() if k not in dropped}
        return ds.model_copy(
            update={"status": DatasetStatus.INCOMPLETE, "data": kept, "unread_keys": dropped}
        )
    if isinstance(data, dict) and not data:
        return ds.model_copy(
            update={"status": DatasetStatus.INCOMPLETE, "unread_keys": [SUITE_GROUP]}
        )
    if isinstance(data, list):
        return ds.model_copy(
            update={"status": DatasetStatus.INCOMPLETE, "data": data[: len(data) // 2]}
        )
    return ds.model_copy(update={"status": DatasetStatus.INCOMPLETE})


def _empty(ds: Dataset) -> Dataset:
    return ds.model_copy(update={"data": [] if isinstance(ds.data, list) else {}})


def _spec(name: str) -> Any:
    from m365apk.scanner.datasets import DATASETS

    return DATASETS.get(name)


def _is_fan_out(ds_or_name: Any) -> bool:
    name = ds_or_name if isinstance(ds_or_name, str) else None
    if name is None:
        # a Dataset: fan-outs are dicts of key -> list
        data = ds_or_name.data
        return isinstance(data, dict) and all(isinstance(v, list) for v in data.values())
    spec = _spec(name)
    return bool(spec is not None and spec.fan_out)


def _single(name: str) -> bool:
    spec = _spec(name)
    return spec is not None and not spec.collection and not spec.fan_out


def _requires_keys(name: str) -> bool:
    """Does the response contract refuse `{}` for this single object?"""
    import typing
    from typing import NotRequired

    from typing_extensions import is_typeddict

    item = getattr(_spec(name), "item", None)
    if item is None or not is_typeddict(item) or not getattr(item, "__total__", True):
        return False
    hints = typing.get_type_hints(item, include_extras=True)
    return any(typing.get_origin(h) is not NotRequired for h in hints.values())


def _keyed(name: str, data: dict[str, Any]) -> bool:
    """A single object of our own making keyed by id (mailDomainDns: domain -> lookups)."""
    spec = _spec(name)
    return bool(spec is not None and not spec.graph_type and data) and all(
        isinstance(v, dict) for v in data.values()
    )


def _dataset_transform(name: str, variant: str, change: Callable[[Dataset], Dataset]) -> Transform:
    def build(s: Snapshot) -> Snapshot | None:
        ds = s.datasets.get(name)
        if ds is None or not ds.ok:
            return None
        return replace(s, {name: change(ds)})

    return Transform("datasets", f"{name}:{variant}", build)


def _all_unreadable(names: tuple[str, ...]) -> Transform:
    def build(s: Snapshot) -> Snapshot | None:
        if not any(_ok(s, n) for n in names):
            return None
        fault = _fault(DatasetStatus.FORBIDDEN)
        return replace(s, {n: fault(s.datasets[n]) for n in names if n in s.datasets})

    return Transform("datasets", f"{'+'.join(names)}:all_forbidden", build)


def plan_datasets(plan: Plan, check: Any) -> None:
    for name in check.all_datasets:
        required = name in check.datasets
        strict = {NOT_PASS, NOT_BETTER} if required else {NOT_BETTER}
        for status in _FAULTS:
            plan.add(_dataset_transform(name, status.value, _fault(status)), check, strict)
        plan.add(_dataset_transform(name, "partial", _partial), check, strict)
        # An empty collection can be the truth (no risky users, no apps): only a single object
        # with nothing in it must not improve the verdict; neither may crash or invent.
        # A single object the contract refuses empty is malformed (above), never empty.
        single = _single(name)
        if not (single and _requires_keys(name)):
            empty = {NOT_BETTER, NO_INVENTED, NO_UNMEASURED} if single else {NO_INVENTED_NULL}
            plan.add(_dataset_transform(name, "empty", _empty), check, empty)
    if check.alternatives:
        plan.add(_all_unreadable(tuple(check.alternatives)), check, {NOT_PASS, NOT_BETTER})


# conditional access -----------------------------------------------------------------------------

_EXCLUDE_KEY = {"user": "excludeUsers", "group": "excludeGroups", "role": "excludeRoles"}


def enabled_policies(s: Snapshot) -> list[str]:
    if not _ok(s, "conditionalAccessPolicies"):
        return []
    return sorted(
        p["id"] for p in s.datasets["conditionalAccessPolicies"].data if p.get("state") == "enabled"
    )


def exclude(s: Snapshot, kind: str, ident: str, policies: Iterable[str] | None = None) -> Snapshot:
    """`ident` excluded (as a user, group or role) from the given enabled policies (all when
    None)."""
    chosen = set(enabled_policies(s) if policies is None else policies)
    key = _EXCLUDE_KEY[kind]
    out = []
    for p in s.datasets["conditionalAccessPolicies"].data:
        if p.get("id") in chosen:
            p = copy.deepcopy(p)
            conditions = p.get("conditions") or {}
            p["conditions"] = conditions
            users = conditions.get("users") or {}
            conditions["users"] = users
            users[key] = sorted({*(users.get(key) or []), ident})
        out.append(p)
    return replace(s, with_data(s, "conditionalAccessPolicies", out))


def grant_role(s: Snapshot, uid: str, role: str) -> Snapshot | None:
    """`uid` given `role` directly (a roleAssignments entry as Graph expands it)."""
    if not _ok(s, "roleAssignments"):
        return None
    user = People(s).users.get(uid, {"id": uid})
    principal = {
        "@odata.type": "#microsoft.graph.user",
        **{
            k: user.get(k)
            for k in ("id", "displayName", "userPrincipalName", "accountEnabled", "userType")
        },
    }
    assignment = {
        "id": f"trust-{role}-{uid}",
        "principalId": uid,
        "roleDefinitionId": role,
        "directoryScopeId": "/",
        "principal": principal,
    }
    data = [*s.datasets["roleAssignments"].data, assignment]
    return replace(s, with_data(s, "roleAssignments", data))


def plan_ca(plan: Plan, check: Any, decl: Decl, people: People, profile: str) -> None:
    if "conditional_access" not in decl.judges or decl.population in (None, "break_glass"):
        return
    policies = enabled_policies(people.snapshot)
    if not policies:
        return
    # A group holding the whole population excluded from every enabled policy.
    plan.add(
        Transform(
            "ca_exclusion",
            f"{decl.population}:population_group:every",
            lambda s: (lambda made: None if made is None else made[0])(
                with_group(s, decl.population)
            ),
        ),
        check,
        {NOT_BETTER, NOT_PASS},
    )
    for uid in people.sample(decl.population):
        things = people.holds(uid)
        for kind, ident in things:
            every = Transform(
                "ca_exclusion",
                f"{decl.population}:{uid}:{kind}:{ident}:every",
                lambda s, kind=kind, ident=ident: exclude(s, kind, ident),
            )
            plan.add(every, check, {NOT_BETTER, NOT_PASS})
            for pid in policies:
                one = Transform(
                    "ca_exclusion",
                    f"{decl.population}:{uid}:{kind}:{ident}:{pid}",
                    lambda s, kind=kind, ident=ident, pid=pid: exclude(s, kind, ident, [pid]),
                )
                plan.add(one, check, {NOT_BETTER})
        # The member given a role (a teacher or a partner's guest as Helpdesk Administrator),
        # that role then excluded: judged against the snapshot with the role.
        if HELPDESK_ADMIN not in people.roles.get(uid, set()):
            prepare_key = f"grant:{uid}:{HELPDESK_ADMIN}"

            def prepare(s: Snapshot, uid: str = uid) -> Snapshot | None:
                return grant_role(s, uid, HELPDESK_ADMIN)

            plan.add(
                Transform(
                    "ca_exclusion",
                    f"{decl.population}:{uid}:granted_role:{HELPDESK_ADMIN}:every",
                    lambda s: exclude(s, "role", HELPDESK_ADMIN),
                    prepare_key,
                    prepare,
                ),
                check,
                {NOT_BETTER, NOT_PASS},
            )


# Narrowing one enabled policy: a condition that leaves sign-ins out, report-only, or a control
# offered instead of MFA (design.md: none of these makes a verdict better).
_NARROWINGS = {
    "only_mobile_platforms": lambda p: _conditions(
        p, platforms={"includePlatforms": ["iOS", "android"], "excludePlatforms": []}
    ),
    "only_trusted_locations": lambda p: _conditions(
        p, locations={"includeLocations": ["AllTrusted"], "excludeLocations": []}
    ),
    "only_browser": lambda p: _conditions(p, clientAppTypes=["browser"]),
    "report_only": lambda p: {**p, "state": "enabledForReportingButNotEnforced"},
    "or_terms_of_use": lambda p: _or_control(p),
}


def _conditions(policy: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**policy, "conditions": {**(policy.get("conditions") or {}), **changes}}


def _or_control(policy: dict[str, Any]) -> dict[str, Any] | None:
    grant = policy.get("grantControls") or {}
    if not grant or "block" in (grant.get("builtInControls") or []):
        return None  # Graph allows no alternative beside block
    terms = [*(grant.get("termsOfUse") or []), SUITE_KEY]
    return {**policy, "grantControls": {**grant, "operator": "OR", "termsOfUse": terms}}


def narrow(s: Snapshot, policy_id: str, how: str) -> Snapshot | None:
    out, changed = [], False
    for p in s.datasets["conditionalAccessPolicies"].data:
        if p.get("id") == policy_id:
            new = _NARROWINGS[how](copy.deepcopy(p))
            if new is None:
                return None
            p, changed = new, True
        out.append(p)
    return replace(s, with_data(s, "conditionalAccessPolicies", out)) if changed else None


def plan_narrowing(plan: Plan, check: Any, decl: Decl, people: People) -> None:
    if "conditional_access" not in decl.judges:
        return
    for pid in enabled_policies(people.snapshot):
        for how in sorted(_NARROWINGS):
            plan.add(
                Transform(
                    "ca_narrowing",
                    f"{pid}:{how}",
                    lambda s, pid=pid, how=how: narrow(s, pid, how),
                ),
                check,
                {NOT_BETTER},
            )


# credentials and permissions ------------------------------------------------------------------


def _long_lived(s: Snapshot) -> dict[str, Any]:
    start = s.collected_at - timedelta(days=1)
    return {
        "keyId": SUITE_KEY,
        "displayName": "trust suite: valid 10 years",
        "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endDateTime": (start + timedelta(days=3650)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hint": "7e5",
        "customKeyIdentifier": None,
        "secretText": None,
    }


def add_credential(s: Snapshot, dataset: str, object_id: str) -> Snapshot | None:
    if not _ok(s, dataset):
        return None
    out = []
    for item in s.datasets[dataset].data:
        if item.get("id") == object_id:
            item = {
                **item,
                "passwordCredentials": [*(item.get("passwordCredentials") or []), _long_lived(s)],
            }
        out.append(item)
    return replace(s, with_data(s, dataset, out))


def third_party(s: Snapshot) -> list[dict[str, Any]]:
    own = s.tenant.tenant_id
    return sorted(
        (
            sp
            for sp in _data(s, "servicePrincipals", [])
            if sp.get("appOwnerOrganizationId") not in MICROSOFT_TENANTS | {own, None}
            and sp.get("appId") != s.tool.app_id
        ),
        key=lambda sp: sp["id"],
    )


def plan_credentials(plan: Plan, check: Any, decl: Decl, people: People) -> None:
    s = people.snapshot
    reads = set(check.all_datasets)
    if not reads & {"applications", "servicePrincipals"}:
        return
    relations = {NOT_BETTER, NOT_PASS} if "credentials" in decl.judges else {NOT_BETTER}
    for dataset in ("applications", "servicePrincipals"):
        items = sorted(_data(s, dataset, []), key=lambda i: i["id"])
        if dataset == "servicePrincipals":
            items = third_party(s) or items
        for item in items[:SAMPLE]:
            plan.add(
                Transform(
                    "credentials",
                    f"{dataset}:{item['id']}:password_10y",
                    lambda s, d=dataset, i=item["id"]: add_credential(s, d, i),
                ),
                check,
                relations,
            )


def grant_escalation(s: Snapshot, permission: str, delegated: bool = False) -> Snapshot | None:
    """An unverified third-party app (the first there is, else one made up) granted
    `permission` on Microsoft Graph: an app role, or tenant-wide delegated consent."""
    need = ("servicePrincipals", "resourceServicePrincipals")
    need += ("oauth2PermissionGrants",) if delegated else ("appRoleAssignedTo",)
    if not all(_ok(s, n) for n in need):
        return None
    graph = next(
        (sp for sp in s.datasets["resourceServicePrincipals"].data if sp["appId"] == GRAPH_APP_ID),
        None,
    )
    if graph is None:
        return None
    unverified = {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None}
    apps = third_party(s)
    if apps:
        target = {**apps[0], "verifiedPublisher": unverified}
    else:
        target = {
            "id": SUITE_APP,
            "appId": SUITE_APP,
            "displayName": "Trust suite app",
            "appOwnerOrganizationId": SUITE_TENANT,
            "accountEnabled": True,
            "servicePrincipalType": "Application",
            "verifiedPublisher": unverified,
            "tags": ["WindowsAzureActiveDirectoryIntegratedApp"],
        }
    sps = [sp for sp in s.datasets["servicePrincipals"].data if sp["id"] != target["id"]]
    changes = with_data(s, "servicePrincipals", sorted([*sps, target], key=lambda x: x["id"]))
    when = s.collected_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if delegated:
        grant = {
            "id": f"trust-{permission}",
            "clientId": target["id"],
            "consentType": "AllPrincipals",
            "principalId": None,
            "resourceId": graph["id"],
            "scope": f"openid {permission}",
        }
        changes |= with_data(
            s, "oauth2PermissionGrants", [*s.datasets["oauth2PermissionGrants"].data, grant]
        )
        return replace(s, changes)
    role_id = ESCALATION[permission]
    roles = graph.get("appRoles") or []
    if not any(r.get("id") == role_id for r in roles):
        role = {
            "id": role_id,
            "value": permission,
            "displayName": permission,
            "description": permission,
            "allowedMemberTypes": ["Application"],
            "isEnabled": True,
            "origin": "Application",
        }
        resources = [
            {**sp, "appRoles": [*roles, role]} if sp is graph else sp
            for sp in s.datasets["resourceServicePrincipals"].data
        ]
        changes |= with_data(s, "resourceServicePrincipals", resources)
    assignment = {
        "id": f"trust-{permission}",
        "appRoleId": role_id,
        "principalId": target["id"],
        "principalDisplayName": target.get("displayName"),
        "principalType": "ServicePrincipal",
        "resourceId": graph["id"],
        "resourceDisplayName": graph.get("displayName"),
        "createdDateTime": when,
    }
    fan = dict(s.datasets["appRoleAssignedTo"].data)
    fan[graph["id"]] = [*fan.get(graph["id"], []), assignment]
    changes |= with_data(s, "appRoleAssignedTo", fan)
    return replace(s, changes)


def plan_permissions(plan: Plan, check: Any, decl: Decl) -> None:
    reads = set(check.all_datasets)
    if not reads & {"appRoleAssignedTo", "oauth2PermissionGrants", "servicePrincipals"}:
        return
    relations = {NOT_BETTER, NOT_PASS} if "app_permissions" in decl.judges else {NOT_BETTER}
    for permission in sorted(ESCALATION):
        plan.add(
            Transform(
                "app_permissions",
                f"app_role:{permission}",
                lambda s, p=permission: grant_escalation(s, p),
            ),
            check,
            relations,
        )
    plan.add(
        Transform(
            "app_permissions",
            "delegated:RoleManagement.ReadWrite.Directory",
            lambda s: grant_escalation(s, "RoleManagement.ReadWrite.Directory", delegated=True),
        ),
        check,
        relations,
    )


# nulls -------------------------------------------------------------------------------------------


def _schema() -> Any:
    from m365apk.demo import graph_schema

    return graph_schema


def _type_of(type_name: str, path: tuple[str, ...]) -> tuple[dict[str, Any] | None, str | None]:
    """The schema entry of the last property on `path` and its type (None when unknown)."""
    gs = _schema()
    current = type_name
    entry = None
    for part in path:
        props = gs.properties(current) if current else {}
        entry = props.get(part)
        if entry is None:
            return None, None
        current = entry["type"]
        if current.startswith("Collection("):
            current = current[len("Collection(") : -1]
    return entry, current


def contract(name: str, path: tuple[str, ...]) -> tuple[bool, bool] | None:
    """(may be null, may be absent) for the property at `path` of the dataset's items, by the
    response contract the collector holds every answer to (scanner/graph_models.py): a
    snapshot never holds what the contract refuses. None when the contract does not say."""
    import types
    import typing
    from typing import NotRequired, Required

    from typing_extensions import is_typeddict

    item = getattr(_spec(name), "item", None)
    for depth, part in enumerate(path):
        if item is None or not is_typeddict(item):
            return None
        hints = typing.get_type_hints(item, include_extras=True)
        if part not in hints:
            return None
        hint = hints[part]
        absent = not getattr(item, "__total__", True)
        if typing.get_origin(hint) is NotRequired:
            absent, hint = True, typing.get_args(hint)[0]
        elif typing.get_origin(hint) is Required:
            absent, hint = False, typing.get_args(hint)[0]
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        options = typing.get_args(hint) if union else (hint,)
        if depth == len(path) - 1:
            return (type(None) in options or hint is Any), absent
        inner = [o for o in options if o is not type(None)]
        item = inner[0] if inner else None
        if typing.get_origin(item) is list:
            item = typing.get_args(item)[0]
    return None


def evolvable(type_name: str | None) -> bool:
    if not type_name:
        return False
    enum = _schema().schema()["enums"].get(type_name)
    return bool(enum and "unknownFutureValue" in enum.get("members", []))


def edit(value: Any, path: tuple[str, ...], op: str) -> Any:
    """`value` with the property at `path` (through lists) nulled, dropped or set to
    unknownFutureValue; copied only along the way."""
    if isinstance(value, list):
        return [edit(v, path, op) for v in value]
    if not isinstance(value, dict) or not path:
        return value
    head, rest = path[0], path[1:]
    if head not in value:
        return value
    out = dict(value)
    if rest:
        out[head] = edit(value[head], rest, op)
    elif op == "dropped":
        del out[head]
    elif op == "null":
        out[head] = None
    else:
        current = value[head]
        out[head] = ["unknownFutureValue"] if isinstance(current, list) else "unknownFutureValue"
    return out


def null_transform(name: str, path: tuple[str, ...], op: str) -> Transform:
    def build(s: Snapshot) -> Snapshot | None:
        ds = s.datasets.get(name)
        if ds is None or not ds.ok:
            return None
        data = ds.data
        if isinstance(data, dict) and (_is_fan_out(name) or _keyed(name, data)):
            new = {k: edit(v, path, op) for k, v in data.items()}
        else:
            new = edit(data, path, op)
        if new == data:
            return None  # nothing there to change
        return replace(s, with_data(s, name, new))

    return Transform("nulls", f"{name}.{'.'.join(path)}:{op}", build)


def plan_nulls(plan: Plan, check: Any, decl: Decl, snapshot: Snapshot) -> None:
    for name in check.all_datasets:
        ds = snapshot.datasets.get(name)
        spec = _spec(name)
        graph_type = f"microsoft.graph.{spec.graph_type}" if spec and spec.graph_type else ""
        # path -> (nullable, evolvable enum, declared)
        paths: dict[tuple[str, ...], tuple[bool, bool, bool]] = {}
        for prop in decl.properties.get(name, ()):
            path = tuple(prop.split("."))
            entry, kind = _type_of(graph_type, path) if graph_type else (None, None)
            nullable = entry is None or bool(entry.get("nullable", True))
            paths[path] = (nullable, evolvable(kind), True)
        single = spec is not None and not spec.collection and not spec.fan_out
        if single and ds is not None and isinstance(ds.data, dict) and graph_type:
            props = _schema().properties(graph_type)
            for key in sorted(ds.data):
                entry = props.get(key)
                if key == "id" or entry is None or not entry.get("nullable"):
                    continue
                kind = entry["type"]
                # Without a declaration, every property may be one the verdict rests on.
                paths.setdefault((key,), (True, evolvable(kind), not decl.declared))
        for path, (nullable, enum, read) in sorted(paths.items()):
            # What the response contract refuses (a property Graph always sends, missing or
            # null) never reaches a snapshot: the collector drops that object and marks the
            # dataset incomplete (the datasets family). Without a contract, the schema says.
            allowed = contract(name, path)
            may_null, may_drop = allowed if allowed is not None else (nullable, nullable)
            ops = (["null"] if may_null else []) + (["dropped"] if may_drop else [])
            extra = {NO_UNMEASURED} if single else set()
            for op in ops:
                said = NO_INVENTED_NONE if op == "null" else NO_INVENTED
                plan.add(null_transform(name, path, op), check, {NOT_BETTER, said} | extra)
            if enum:
                ufv = {NOT_BETTER, NO_INVENTED_NULL} | ({NOT_PASS} if read else set())
                plan.add(null_transform(name, path, "unknownFutureValue"), check, ufv)


# population --------------------------------------------------------------------------------------


def _users_edit(s: Snapshot, members: set[str], op: str) -> dict[str, Dataset]:
    """The members removed or disabled in users and wherever Graph repeats a user record."""
    changes: dict[str, Dataset] = {}

    def one(u: dict[str, Any]) -> dict[str, Any] | None:
        if u.get("id") not in members:
            return u
        if op == "removed":
            return None
        if op == "disabled":
            return {**u, "accountEnabled": False}
        out = dict(u)
        out.pop("accountEnabled", None)
        return out

    if _ok(s, "users"):
        changes |= with_data(
            s, "users", [x for x in map(one, s.datasets["users"].data) if x is not None]
        )
    if op != "removed":
        for name in ("roleGroupMembers", "conditionalAccessGroupMembers"):
            if _ok(s, name) and isinstance(s.datasets[name].data, dict):
                data = {k: [one(m) for m in v] for k, v in s.datasets[name].data.items()}
                changes |= with_data(s, name, data)
        if _ok(s, "roleAssignments"):
            data = [
                {**a, "principal": one(a["principal"])} if a.get("principal") else a
                for a in s.datasets["roleAssignments"].data
            ]
            changes |= with_data(s, "roleAssignments", data)
    return changes


def _drop_roles(s: Snapshot, members: set[str], roles: set[str]) -> dict[str, Dataset]:
    """The members' assignments of `roles` (direct, through a group, eligible) removed."""
    people = People(s)
    changes: dict[str, Dataset] = {}
    for name in ("roleAssignments", "roleEligibilitySchedules", "roleAssignmentSchedules"):
        if not _ok(s, name):
            continue
        kept = [
            a
            for a in s.datasets[name].data
            if not (
                a.get("roleDefinitionId") in roles
                and (
                    a.get("principalId") in members
                    or people.groups.get(a.get("principalId"), set()) & members
                )
            )
        ]
        changes |= with_data(s, name, kept)
    return changes


def population_transform(population: str, op: str) -> Transform:
    def build(s: Snapshot) -> Snapshot | None:
        people = People(s)
        members = set(people.members(population))
        if op == "unknown_licences":
            if not _ok(s, "subscribedSkus"):
                return None
            skus = [
                {
                    **sku,
                    "skuPartNumber": f"TRUST_UNKNOWN_SKU_{i}",
                    "servicePlans": [
                        {**p, "servicePlanName": f"TRUST_UNKNOWN_PLAN_{j}"}
                        for j, p in enumerate(sku.get("servicePlans") or [])
                    ],
                }
                for i, sku in enumerate(s.datasets["subscribedSkus"].data)
            ]
            return replace(s, with_data(s, "subscribedSkus", skus))
        if op == "no_accountEnabled":
            return replace(s, _users_edit(s, set(people.users), op))
        if not members:
            return s.model_copy()  # already none: the verdict itself must not be pass
        if population == "break_glass":
            settings = s.settings.model_copy(update={"break_glass": []})
            return replace(s, settings=settings)
        if population in ("admins", "highly_privileged") and op == "removed":
            roles = _privileged() if population == "admins" else _highly_privileged()
            return replace(s, _drop_roles(s, members, roles))
        return replace(s, _users_edit(s, members, op))

    return Transform("population", f"{population}:{op}", build)


def plan_population(plan: Plan, check: Any, decl: Decl) -> None:
    population = decl.population
    if population is None:
        return
    for op in ("removed", "disabled"):
        plan.add(population_transform(population, op), check, {NOT_PASS})
    # Who is staff, a student or has a mailbox comes from the licences: unrecognised ones
    # leave nobody in such a population.
    if population in ("users", "staff", "students") and "subscribedSkus" in check.all_datasets:
        plan.add(population_transform(population, "unknown_licences"), check, {NOT_PASS})
    if "users" in check.all_datasets:
        # Nobody known to be enabled: the population must not silently shrink (never better);
        # counting such accounts as enabled may still pass.
        plan.add(population_transform(population, "no_accountEnabled"), check, {NOT_BETTER})


# trust in tenant settings ---------------------------------------------------------------------


def _group_population(population: str | None) -> str:
    own = ("staff", "students", "guests", "admins", "highly_privileged")
    return population if population in own else "staff"


def _member_record(u: dict[str, Any]) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.user",
        **{
            k: u.get(k)
            for k in ("id", "displayName", "userPrincipalName", "accountEnabled", "userType")
        },
    }


def with_group(s: Snapshot, population: str | None) -> tuple[Snapshot, list[str]] | None:
    """A group holding the whole population (staff for populations a group of staff stands
    for), read as conditional access reads group members, excluded from every enabled
    policy."""
    people = People(s)
    wanted = _group_population(population)
    members = [m for m in people.members(wanted) if m not in people.break_glass]
    if not members or not enabled_policies(s):
        return None
    records = [_member_record(people.users[m]) for m in members]
    changes: dict[str, Dataset] = {}
    name = "conditionalAccessGroupMembers"
    if name in s.datasets and s.datasets[name].ok and isinstance(s.datasets[name].data, dict):
        changes |= with_data(s, name, {**s.datasets[name].data, SUITE_GROUP: records})
    else:
        changes[name] = Dataset(
            status=DatasetStatus.OK,
            endpoint="GET /v1.0/groups/{id}/members",
            permission="GroupMember.Read.All",
            pages=1,
            data={SUITE_GROUP: records},
        )
    if _ok(s, "groups"):
        group = {"id": SUITE_GROUP, "displayName": "Alle medewerkers (trust suite)"}
        changes |= with_data(s, "groups", [*s.datasets["groups"].data, group])
    return exclude(replace(s, changes), "group", SUITE_GROUP), members


def _bounds(s: Snapshot) -> dict[str, Any]:
    return {
        "expires": (s.collected_at + timedelta(days=365)).date().isoformat(),
        "owner": "ict-coordinator@school.example",
    }


def daily_use(s: Snapshot, population: str | None) -> tuple[Snapshot, dict[str, Any]] | None:
    """A member (a staff member where the population stands for everyone) with interactive
    sign-ins yesterday, excluded from every enabled policy."""
    people = People(s)
    wanted = population if population in ("staff", "admins", "highly_privileged") else "staff"
    members = [
        m
        for m in people.members(wanted)
        if m not in people.break_glass and people.users[m].get("userPrincipalName")
    ]
    if not members or not enabled_policies(s):
        return None
    user = people.users[members[0]]
    yesterday = (s.collected_at - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    activity = {
        "lastSignInDateTime": yesterday,
        "lastSuccessfulSignInDateTime": yesterday,
        "lastNonInteractiveSignInDateTime": yesterday,
    }
    changes: dict[str, Dataset] = {}
    if _ok(s, "userSignInActivity"):
        rows = [r for r in s.datasets["userSignInActivity"].data if r.get("id") != user["id"]]
        rows.append({"id": user["id"], "signInActivity": activity})
        changes |= with_data(s, "userSignInActivity", rows)
    return exclude(replace(s, changes), "user", user["id"]), user


def _situation(s: Snapshot, population: str | None, kind: str) -> Snapshot | None:
    """The exclusion alone, before any tenant setting vouches for it."""
    if kind == "population_group":
        made = with_group(s, population)
        return None if made is None else made[0]
    made_user = daily_use(s, population)
    return None if made_user is None else made_user[0]


def trust_transform(population: str | None, variant: str) -> Transform:
    """The exclusion (prepared), then a tenant setting that vouches for it: compared with the
    exclusion alone, the verdict must not improve."""
    kind = variant.split(":")[0]
    who = _group_population(population) if kind == "population_group" else population

    def build(t: Snapshot) -> Snapshot | None:
        if kind == "population_group":
            if variant.endswith("break_glass"):
                settings = settings_with(
                    t, break_glass=[{"group": SUITE_GROUP, "reason": "trust suite"}]
                )
            else:
                entry = {"group": SUITE_GROUP, "reason": "trust suite"}
                if variant.endswith("bounded"):
                    entry |= _bounds(t)
                settings = settings_with(t, approved_exclusions=[entry])
        else:
            people = People(t)
            wanted = who if who in ("staff", "admins", "highly_privileged") else "staff"
            members = [
                m
                for m in people.members(wanted)
                if m not in people.break_glass and people.users[m].get("userPrincipalName")
            ]
            if not members:
                return None
            upn = people.users[members[0]]["userPrincipalName"]
            if variant.endswith("break_glass"):
                settings = settings_with(t, break_glass=[{"user": upn, "reason": "trust suite"}])
            else:
                entry = {"user": upn, "reason": "trust suite", **_bounds(t)}
                settings = settings_with(t, approved_exclusions=[entry])
        if settings is None:
            return None  # the settings model cannot say this (e.g. an owner is required)
        return replace(t, settings=settings)

    label = _group_population(population) if kind == "population_group" else (who or "staff")
    return Transform(
        "trust",
        f"{label}:{variant}",
        build,
        prepare_key=f"trust:{label}:{kind}",
        prepare=lambda s: _situation(s, population, kind),
    )


def plan_trust(plan: Plan, check: Any, decl: Decl) -> None:
    if not decl.settings and decl.population != "break_glass":
        return
    variants = [
        "population_group:approved_open",
        "population_group:approved_bounded",
        "population_group:break_glass",
        "daily_use_account:break_glass",
        "daily_use_account:approved_bounded",
    ]
    # An entry out of bounds (it covers the population, or it is no break-glass account) is
    # ignored: never better than the exclusion alone. A bounded approval of one daily-use
    # account may make a fail "accepted", never a pass. A check judging break-glass
    # accounts never passes with an entry that is none.
    for variant in variants:
        bounded_one = variant == "daily_use_account:approved_bounded"
        relations = {NOT_TURNED_PASS} if bounded_one else {NOT_BETTER}
        if decl.population == "break_glass" and variant.endswith("break_glass"):
            relations |= {NOT_PASS}
        plan.add(trust_transform(decl.population, variant), check, relations)


# --- running ------------------------------------------------------------------------------------


@dataclass
class Cell:
    check_id: str
    profile: str
    family: str
    transform: str
    before: str
    after: str
    violation: str | None
    reason: str

    def line(self) -> str:
        return (
            f"{self.check_id} [{self.profile}] {self.family}:{self.transform}: "
            f"{self.before} -> {self.after} ({self.violation}); reason: {self.reason[:240]}"
        )


def make_plan(checks: list[Any], snapshot: Snapshot, profile: str) -> Plan:
    plan = Plan()
    people = People(snapshot)
    for check in checks:
        decl = declaration(check)
        plan_datasets(plan, check)
        plan_ca(plan, check, decl, people, profile)
        plan_narrowing(plan, check, decl, people)
        plan_credentials(plan, check, decl, people)
        plan_permissions(plan, check, decl)
        plan_nulls(plan, check, decl, snapshot)
        plan_population(plan, check, decl)
        plan_trust(plan, check, decl)
    return plan


def _run(check: Any, snapshot: Snapshot) -> Any:
    try:
        return check.run(snapshot)
    except Exception as exc:  # a crash is a finding of its own
        return _Raised(exc)


@dataclass
class _Raised:
    exc: Exception
    status: str = "raised"

    @property
    def reason(self) -> str:
        return f"{type(self.exc).__name__}: {self.exc}"

    measured: Any = None


def run_profile(checks: list[Any], snapshot: Snapshot, profile: str) -> list[Cell]:
    plan = make_plan(checks, snapshot, profile)
    base = {c.id: _run(c, snapshot) for c in checks}
    prepared: dict[str, Snapshot | None] = {}
    prepared_results: dict[tuple[str, str], Any] = {}
    cells: list[Cell] = []
    for key in sorted(plan.transforms):
        t = plan.transforms[key]
        start: Snapshot | None = snapshot
        if t.prepare_key:
            if t.prepare_key not in prepared:
                prepared[t.prepare_key] = t.prepare(snapshot) if t.prepare else None
            start = prepared[t.prepare_key]
        if start is None:
            continue
        after_snapshot = t.build(start)
        if after_snapshot is None:
            continue
        for check, relations in sorted(plan.users[key], key=lambda u: u[0].id):
            if t.prepare_key:
                pk = (t.prepare_key, check.id)
                if pk not in prepared_results:
                    prepared_results[pk] = _run(check, start)
                before = prepared_results[pk]
            else:
                before = base[check.id]
            after = _run(check, after_snapshot)
            violation = (
                f"raised {after.reason}" if isinstance(after, _Raised) else None
            ) or broken(relations, before, after)
            cells.append(
                Cell(
                    check_id=check.id,
                    profile=profile,
                    family=t.family,
                    transform=key,
                    before=_status(before),
                    after=_status(after),
                    violation=violation,
                    reason=str(getattr(after, "reason", "") or ""),
                )
            )
    return cells


def matrix(cells: list[Cell], check_ids: list[str]) -> str:
    """Checks x families: cells run / violations."""
    counts: dict[tuple[str, str], list[int]] = {}
    for c in cells:
        entry = counts.setdefault((c.check_id, c.family), [0, 0])
        entry[0] += 1
        entry[1] += c.violation is not None
    width = max([len(i) for i in check_ids] + [5])
    head = f"{'check':<{width}}  " + "  ".join(f"{f:>15}" for f in FAMILIES)
    lines = [head, "-" * len(head)]
    totals = {f: [0, 0] for f in FAMILIES}
    for cid in check_ids:
        row = []
        for f in FAMILIES:
            run, bad = counts.get((cid, f), [0, 0])
            totals[f][0] += run
            totals[f][1] += bad
            row.append(f"{run}/{bad}" if run else "-")
        lines.append(f"{cid:<{width}}  " + "  ".join(f"{r:>15}" for r in row))
    lines.append("-" * len(head))
    lines.append(
        f"{'total (run/violations)':<{width}}  "
        + "  ".join(f"{f'{t[0]}/{t[1]}':>15}" for t in totals.values())
    )
    run = sum(t[0] for t in totals.values())
    bad = sum(t[1] for t in totals.values())
    lines.append(f"trust suite: {len(check_ids)} checks, {run} cells run, {bad} violations")
    return "\n".join(lines)


# What the last run found, for the terminal summary (tests/conftest.py).
REPORT: list[str] = []
SUMMARY_FILE = "trust-suite-summary.txt"
