"""Issue 10, metamorphic properties of the conditional-access engine: from any generated tenant,
making a policy narrower never makes a check's status better, and making it broader never makes
it worse.

Order of statuses: pass > partial > fail. unknown, not_licensed and not_applicable stand apart:
they are not better or worse than a verdict, so a pair with one of them is compared only in
that a narrower policy may never turn a non-pass into a pass (and a broader one never a pass
into a non-pass)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m365apk.checks.base import Status
from m365apk.snapshot import Snapshot

from .snapshots import GA, USER_ADMIN
from .test_conditional_access import ADMINS, ALL, CHECKS, EXO, LEGACY, SPO, guests, policy, tenant

RANK = {Status.PASS: 2, Status.PARTIAL: 1, Status.FAIL: 0}
CHECKED = (ALL, ADMINS, LEGACY)
GROUPS = {"grp-a": ["adm1", "s0"], "grp-b": ["adm2"]}  # grp-c is named but never read
ADMIN_SET = (("adm1", GA), ("adm2", USER_ADMIN), ("gst", GA))
PROFILE = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def not_better(before: Status, after: Status) -> bool:
    if before in RANK and after in RANK:
        return RANK[after] <= RANK[before]
    return not (after is Status.PASS and before is not Status.PASS)


# --- generated tenants ------------------------------------------------------------------------

users_st = st.one_of(
    st.just({"includeUsers": ["All"]}),
    st.builds(
        lambda roles, groups: {"includeUsers": [], "includeRoles": roles, "includeGroups": groups},
        st.lists(st.sampled_from([GA, USER_ADMIN]), unique=True, max_size=2),
        st.lists(st.sampled_from(["grp-a", "grp-b", "grp-c"]), unique=True, max_size=2),
    ),
)
policy_st = st.builds(
    lambda name, users, apps, clients, controls, operator, state: policy(
        name,
        users=users,
        apps=apps,
        clients=clients,
        controls=controls,
        operator=operator,
        state=state,
    ),
    st.sampled_from(["CA001", "CA002", "CA003", "CA004"]),
    users_st,
    st.sampled_from([None, None, [EXO]]),
    st.sampled_from([None, None, ["exchangeActiveSync", "other"], ["browser"]]),
    st.sampled_from([["mfa"], ["mfa"], ["block"], ["mfa", "compliantDevice"], ["compliantDevice"]]),
    st.sampled_from(["OR", "AND"]),
    st.sampled_from(["enabled", "enabled", "enabled", "enabledForReportingButNotEnforced"]),
)
policies_st = st.lists(policy_st, min_size=1, max_size=4)


def build(policies: list[dict[str, Any]]) -> Snapshot:
    for i, p in enumerate(policies):  # unique names, so gaps name one policy
        p["displayName"] = f"CA{i:03d}"
        p["id"] = f"id-{i}"
    return tenant(*policies, admins=ADMIN_SET, guest_admins=("gst",), members=GROUPS)


def statuses(policies: list[dict[str, Any]]) -> dict[str, Status]:
    snap = build(copy.deepcopy(policies))
    return {cid: CHECKS[cid].run(snap).status for cid in CHECKED}


# --- mutations ---------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _users(p: dict[str, Any]) -> dict[str, Any]:
    return p["conditions"]["users"]


def _add(key: str, value: Any) -> Mutation:
    def m(p: dict[str, Any]) -> None:
        _users(p)[key] = sorted(set(_users(p)[key]) | {value})

    return m


def _cond(key: str, value: Any) -> Mutation:
    def m(p: dict[str, Any]) -> None:
        p["conditions"][key] = value

    return m


def _exclude_app(app: str) -> Mutation:
    def m(p: dict[str, Any]) -> None:
        apps = p["conditions"]["applications"]
        apps["excludeApplications"] = sorted(set(apps["excludeApplications"]) | {app})

    return m


def _or_control(control: str) -> Mutation:
    def m(p: dict[str, Any]) -> None:
        grant = p["grantControls"]
        grant["operator"] = "OR"
        grant["builtInControls"] = sorted(set(grant["builtInControls"]) | {control})

    return m


def _state(state: str) -> Mutation:
    def m(p: dict[str, Any]) -> None:
        p["state"] = state

    return m


def _drop_first(key: str) -> Mutation:
    def m(p: dict[str, Any]) -> None:
        _users(p)[key] = _users(p)[key][1:]

    return m


def _clients(clients: list[str]) -> Mutation:
    def m(p: dict[str, Any]) -> None:
        current = set(p["conditions"]["clientAppTypes"])
        if "all" in current:
            current = {"browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "other"}
        p["conditions"]["clientAppTypes"] = sorted(current & set(clients)) or ["browser"]

    return m


NARROWER: dict[str, Mutation] = {
    "exclude user": _add("excludeUsers", "adm1"),
    "exclude staff user": _add("excludeUsers", "s1"),
    "exclude read group": _add("excludeGroups", "grp-a"),
    "exclude unread group": _add("excludeGroups", "grp-c"),
    "exclude role GA": _add("excludeRoles", GA),
    "exclude role User Admin": _add("excludeRoles", USER_ADMIN),
    "exclude guests": _cond("users", None),  # replaced below (needs the users dict)
    "exclude Exchange Online": _exclude_app(EXO),
    "exclude SharePoint": _exclude_app(SPO),
    "client types": _clients(["browser", "other"]),
    "platforms": _cond("platforms", {"includePlatforms": ["android"], "excludePlatforms": []}),
    "outside trusted locations": _cond(
        "locations", {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}
    ),
    "user risk": _cond("userRiskLevels", ["high"]),
    "sign-in risk": _cond("signInRiskLevels", ["medium", "high"]),
    "device filter": _cond("devices", {"deviceFilter": {"mode": "include", "rule": "x"}}),
    "authentication flows": _cond("authenticationFlows", {"transferMethods": "deviceCodeFlow"}),
    "OR compliant device": _or_control("compliantDevice"),
    "OR terms of use": lambda p: p["grantControls"].update(operator="OR", termsOfUse=["tou-1"]),
    "report-only": _state("enabledForReportingButNotEnforced"),
    "disabled": _state("disabled"),
    "remove an included role": _drop_first("includeRoles"),
    "remove an included group": _drop_first("includeGroups"),
}
NARROWER["exclude guests"] = lambda p: _users(p).update(
    excludeGuestsOrExternalUsers=guests("b2bCollaborationGuest,internalGuest")
)


def _clear(key: str) -> Mutation:
    def m(p: dict[str, Any]) -> None:
        _users(p)[key] = []

    return m


BROADER: dict[str, Mutation] = {
    "remove user exclusions": _clear("excludeUsers"),
    "remove group exclusions": _clear("excludeGroups"),
    "remove role exclusions": _clear("excludeRoles"),
    "remove guest exclusions": lambda p: _users(p).update(excludeGuestsOrExternalUsers=None),
    "all apps, no exclusions": lambda p: p["conditions"]["applications"].update(
        includeApplications=["All"], excludeApplications=[]
    ),
    "all client types": _cond("clientAppTypes", ["all"]),
    "no location condition": _cond("locations", None),
    "no platform condition": _cond("platforms", None),
    "no risk condition": lambda p: p["conditions"].update(userRiskLevels=[], signInRiskLevels=[]),
    "enable": _state("enabled"),
    "include all users": _add("includeUsers", "All"),
    "include role GA": _add("includeRoles", GA),
    "include read group": _add("includeGroups", "grp-b"),
    "drop OR'ed non-MFA controls": lambda p: p["grantControls"].update(
        builtInControls=[c for c in p["grantControls"]["builtInControls"] if c in ("mfa", "block")]
        or p["grantControls"]["builtInControls"],
        termsOfUse=[],
    ),
}


def _check(before: list[dict[str, Any]], after: list[dict[str, Any]], label: str) -> None:
    old, new = statuses(before), statuses(after)
    for cid in CHECKED:
        assert not_better(old[cid], new[cid]), f"{label}: {cid} {old[cid]} -> {new[cid]}"


@PROFILE
@given(policies_st, st.data())
def test_narrowing_a_policy_never_improves_a_verdict(policies: list[dict], data: st.DataObject):
    index = data.draw(st.integers(0, len(policies) - 1), label="policy")
    name = data.draw(st.sampled_from(sorted(NARROWER)), label="narrowing")
    narrowed = copy.deepcopy(policies)
    NARROWER[name](narrowed[index])
    _check(policies, narrowed, f"narrower ({name})")


@PROFILE
@given(policies_st, st.data())
def test_broadening_a_policy_never_worsens_a_verdict(policies: list[dict], data: st.DataObject):
    # Start from a narrowed tenant so broadening has something to undo.
    index = data.draw(st.integers(0, len(policies) - 1), label="policy")
    for name in data.draw(st.lists(st.sampled_from(sorted(NARROWER)), max_size=3), label="pre"):
        NARROWER[name](policies[index])
    name = data.draw(st.sampled_from(sorted(BROADER)), label="broadening")
    broader = copy.deepcopy(policies)
    BROADER[name](broader[index])
    old, new = statuses(policies), statuses(broader)
    for cid in CHECKED:
        # Broader is "not better" read the other way round: the old may not beat the new.
        assert not_better(new[cid], old[cid]), f"broader ({name}): {cid} {old[cid]} -> {new[cid]}"


def test_status_order_is_written_down() -> None:
    assert RANK[Status.PASS] > RANK[Status.PARTIAL] > RANK[Status.FAIL]
    assert not set(RANK) & {Status.UNKNOWN, Status.NOT_LICENSED, Status.NOT_APPLICABLE}
    assert not_better(Status.PASS, Status.UNKNOWN) and not not_better(Status.UNKNOWN, Status.PASS)
