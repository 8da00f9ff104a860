"""Issue 25, findings 1 and 2: people are judged with their roles and groups (the one people
model, checks/people.py), and a policy on registering security information is judged through
every one of its conditions. Each test is named after the tenant situation and goes through the
public check ids."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from m365apk.checks.base import Status
from m365apk.snapshot import DatasetStatus

from .snapshots import GA, USER_ADMIN, assignment, failed, ok, registration, user
from .test_conditional_access import CHECKS, policy, tenant

MANAGED = "ca.managed_device_staff"
REGISTRATION = "ca.secure_registration"
GUESTS = "ca.guests_mfa"
ADMINS = "mfa.enforced_for_admins"
PHR_ADMINS = "ca.phishing_resistant_admins"
BREAK_GLASS = "ca.break_glass_excluded"
HELPDESK = "729827e3-9c14-49f7-bb1b-9608f156bbb8"  # Helpdesk Administrator
TEAMS_ADMIN = "69091246-20e8-4a56-aa4d-066075b2a7a8"  # not on our privileged list
GROUP = "grp-ict"


def run(check_id: str, snap: Any) -> Any:
    return CHECKS[check_id].run(snap)


def managed_device(name: str = "CA020", **users: Any) -> dict[str, Any]:
    """All users, all apps: a compliant device required (SCuBA MS.AAD.3.7)."""
    return policy(name, controls=["compliantDevice"], users=users)


def registration_policy(
    name: str = "CA030", controls: tuple[str, ...] = ("compliantDevice",), **kw: Any
) -> dict[str, Any]:
    """Microsoft's 'secure security info registration' shape: the user action, no apps."""
    users = kw.pop("users", {})
    p = policy(name, controls=list(controls), users=users, **kw)
    p["conditions"]["applications"] = {
        "includeApplications": [],
        "excludeApplications": [],
        "includeUserActions": ["urn:user:registersecurityinfo"],
        "includeAuthenticationContextClassReferences": [],
    }
    return p


def with_roles(*extra: dict[str, Any], admins: tuple[tuple[str, str], ...] = (("adm1", GA),)):
    """Role assignments: the tenant's admins plus `extra` (a teacher's, a guest's)."""
    return ok([assignment(uid, role) for uid, role in admins] + list(extra))


# --- finding 1: people with their roles and groups ----------------------------------------------


def test_teacher_holding_global_admin_excluded_by_role_from_managed_device_policy_is_not_covered():
    snap = tenant(
        managed_device(excludeRoles=[GA]),
        admins=(("adm1", GA),),
        roleAssignments=with_roles(assignment("s0", GA)),
    )
    r = run(MANAGED, snap)
    assert r.status is Status.PARTIAL
    assert [o.id for o in r.evidence.affected] == ["s0"]
    assert "CA020 sluit rol Global Administrator uit" in (r.evidence.affected[0].detail or "")


def test_teacher_holding_helpdesk_admin_excluded_by_role_from_registration_policy_is_not_covered():
    snap = tenant(
        registration_policy(users={"excludeRoles": [HELPDESK]}),
        admins=(("adm1", GA),),
        roleAssignments=with_roles(assignment("s1", HELPDESK)),
    )
    r = run(REGISTRATION, snap)
    assert r.status is Status.PARTIAL
    assert [o.id for o in r.evidence.affected] == ["s1"]


def test_teacher_holding_a_role_outside_the_privileged_list_excluded_by_that_role_is_not_covered():
    """Teams Administrator is on no privileged list; a policy that excludes it still leaves
    the teacher who holds it out."""
    snap = tenant(
        managed_device(excludeRoles=[TEAMS_ADMIN]),
        admins=(("adm1", GA),),
        roleAssignments=with_roles(assignment("s2", TEAMS_ADMIN)),
    )
    r = run(MANAGED, snap)
    assert r.status is Status.PARTIAL
    assert [o.id for o in r.evidence.affected] == ["s2"]


def test_it_partners_guest_holding_a_role_excluded_by_role_from_guest_mfa_is_not_covered():
    guest = {**user("partner1", "other"), "userType": "Guest"}
    held = assignment("partner1", HELPDESK)
    held["principal"]["userType"] = "Guest"
    snap = tenant(
        policy("CA040", users={"excludeRoles": [HELPDESK]}),
        admins=(("adm1", GA),),
        roleAssignments=with_roles(held),
    )
    snap.datasets["users"].data.append(guest)
    r = run(GUESTS, snap)
    assert r.status is Status.PARTIAL
    assert [o.id for o in r.evidence.affected] == ["partner1"]


def test_teacher_in_role_group_holding_global_admin_excluded_by_role_is_not_covered():
    """The role comes through a role-assignable group the teacher is in."""
    snap = tenant(
        managed_device(excludeRoles=[GA]),
        admins=(("adm1", GA),),
        roleAssignments=with_roles(assignment(GROUP, GA, kind="group")),
        roleGroupMembers=ok({GROUP: [{"id": "s0"}]}),
    )
    r = run(MANAGED, snap)
    assert r.status is Status.PARTIAL
    assert [o.id for o in r.evidence.affected] == ["s0"]


def test_teacher_eligible_for_global_admin_excluded_by_role_is_not_covered():
    eligible = {"id": "e-s1", "principalId": "s1", "roleDefinitionId": GA, "directoryScopeId": "/"}
    snap = tenant(
        managed_device(excludeRoles=[GA]),
        admins=(("adm1", GA),),
        roleEligibilitySchedules=ok([eligible]),
    )
    r = run(MANAGED, snap)
    assert r.status is Status.PARTIAL
    assert [o.id for o in r.evidence.affected] == ["s1"]


def test_staff_member_excluded_through_a_group_they_are_in_is_not_covered():
    snap = tenant(managed_device(excludeGroups=[GROUP]), members={GROUP: ["s1"]})
    r = run(MANAGED, snap)
    assert r.status is Status.PARTIAL
    assert [o.id for o in r.evidence.affected] == ["s1"]


def test_staff_with_role_groups_unread_and_a_policy_excluding_a_role_is_unknown():
    """Who holds Global Administrator through the unread group is not known: no pass."""
    snap = tenant(
        managed_device(excludeRoles=[GA]),
        admins=(("adm1", GA),),
        roleAssignments=with_roles(assignment(GROUP, GA, kind="group")),
        roleGroupMembers=failed(DatasetStatus.FORBIDDEN),
    )
    assert run(MANAGED, snap).status is Status.UNKNOWN


def test_user_administrator_scoped_to_an_administrative_unit_is_not_covered_by_a_role_policy():
    """Conditional access targets tenant-wide built-in roles only (Microsoft: administrative
    unit-scoped roles aren't supported), so a policy for User Administrators does not reach a
    User Administrator of one administrative unit."""
    scoped = assignment("ua1", USER_ADMIN)
    scoped["directoryScopeId"] = "/administrativeUnits/au-onderbouw"
    snap = tenant(
        policy("CA001", users={"includeUsers": [], "includeRoles": [GA, USER_ADMIN]}),
        admins=(("adm1", GA), ("ua1", USER_ADMIN)),
        roleAssignments=ok([assignment("adm1", GA), scoped]),
    )
    r = run(ADMINS, snap)
    assert r.status is Status.FAIL
    assert [o.id for o in r.evidence.affected] == ["ua1"]


def test_teacher_with_helpdesk_admin_of_one_administrative_unit_is_not_excluded_by_the_role():
    """The other way round: a policy excluding Helpdesk Administrator does not leave out the
    helpdesk administrator of one administrative unit; the teacher stays covered."""
    scoped = assignment("s1", HELPDESK)
    scoped["directoryScopeId"] = "/administrativeUnits/au-onderbouw"
    snap = tenant(
        managed_device(excludeRoles=[HELPDESK]),
        admins=(("adm1", GA),),
        roleAssignments=with_roles(scoped),
    )
    assert run(MANAGED, snap).status is Status.PASS


def test_next_guest_is_covered_by_an_all_users_policy_whatever_roles_are_unread():
    """The next guest holds no role, whatever role holders could not be read."""
    snap = tenant(
        policy("CA040", users={"excludeRoles": [TEAMS_ADMIN]}),
        admins=(("adm1", GA),),
        roleAssignments=with_roles(assignment(GROUP, TEAMS_ADMIN, kind="group")),
        roleGroupMembers=failed(DatasetStatus.FORBIDDEN),
    )
    r = run(GUESTS, snap)
    assert r.status is Status.NOT_APPLICABLE  # no guest account yet
    assert "een nieuwe gast zou wel onder afgedwongen MFA vallen" in (r.reason or "")


def test_guest_without_user_type_but_with_an_external_upn_is_still_a_guest():
    guest = {**user("partner2", "other"), "userPrincipalName": "p_partner.nl#EXT#@school.nl"}
    del guest["userType"]
    excluded = {"excludeUsers": ["partner2"]}
    snap = tenant(policy("CA040", users=excluded), admins=(("adm1", GA),))
    snap.datasets["users"].data.append(guest)
    snap.datasets["userRegistrationDetails"].data.append(registration("partner2", True))
    assert run(GUESTS, snap).status is Status.PARTIAL


def test_emergency_account_holding_a_role_that_a_block_policy_targets_is_not_excluded():
    """The break-glass account also holds Teams Administrator (on no privileged list); a
    policy for that role catches it, so it can be locked out."""
    bg = {"break_glass": [{"user": "s2", "reason": "noodaccount"}]}
    targeted = policy(
        "CA050", users={"includeUsers": [], "includeRoles": [TEAMS_ADMIN]}, controls=["block"]
    )
    # s2 is an emergency account by Microsoft's guidance (checks/trust.py): Global
    # Administrator, no interactive sign-in in the last 30 days.
    snap = tenant(
        targeted,
        admins=(("adm1", GA),),
        roleAssignments=with_roles(assignment("s2", TEAMS_ADMIN), assignment("s2", GA)),
        userSignInActivity=ok([]),
        settings=bg,
    )
    r = run(BREAK_GLASS, snap)
    assert r.status is Status.FAIL
    assert [o.id for o in r.evidence.affected] == ["s2"]


# --- finding 2: registration judged through every condition -------------------------------------

MOBILE = ["android", "iOS"]


def test_registration_policy_only_for_ios_and_android_does_not_protect_registration_everywhere():
    platforms = {"includePlatforms": MOBILE, "excludePlatforms": []}
    snap = tenant(registration_policy(platforms=platforms))
    r = run(REGISTRATION, snap)
    assert r.status is Status.PARTIAL
    assert "CA030 geldt alleen voor deze platforms: android, iOS" in (r.reason or "")


def test_two_registration_policies_that_together_cover_all_platforms_protect_registration():
    mobile = {"includePlatforms": MOBILE, "excludePlatforms": []}
    rest = {"includePlatforms": ["all"], "excludePlatforms": MOBILE}
    snap = tenant(
        registration_policy("CA030", platforms=mobile),
        registration_policy("CA031", platforms=rest),
    )
    assert run(REGISTRATION, snap).status is Status.PASS


def test_registration_policy_only_for_browsers_does_not_protect_registration_from_apps():
    snap = tenant(registration_policy(clients=["browser"]))
    assert run(REGISTRATION, snap).status is Status.PARTIAL


def test_registration_policy_only_at_high_sign_in_risk_does_not_protect_registration():
    snap = tenant(registration_policy(signInRiskLevels=["high"]))
    assert run(REGISTRATION, snap).status is Status.PARTIAL


def test_registration_policy_with_a_device_filter_does_not_protect_registration_everywhere():
    devices = {"deviceFilter": {"mode": "include", "rule": 'device.trustType -eq "AzureAD"'}}
    snap = tenant(registration_policy(devices=devices))
    assert run(REGISTRATION, snap).status is Status.PARTIAL


def test_registration_blocked_outside_trusted_locations_protects_registration():
    where = {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}
    snap = tenant(registration_policy(controls=("block",), locations=where))
    assert run(REGISTRATION, snap).status is Status.PASS


def test_registration_blocked_outside_trusted_and_one_more_named_location_is_not_everywhere():
    where = {"includeLocations": ["All"], "excludeLocations": ["AllTrusted", "loc-home"]}
    snap = tenant(registration_policy(controls=("block",), locations=where))
    assert run(REGISTRATION, snap).status is Status.PARTIAL


def test_managed_device_for_registration_only_in_trusted_locations_protects_nothing_outside():
    where = {"includeLocations": ["AllTrusted"], "excludeLocations": []}
    snap = tenant(registration_policy(locations=where))
    assert run(REGISTRATION, snap).status is not Status.PASS


def test_registration_policy_asking_only_mfa_does_not_require_a_managed_device():
    assert run(REGISTRATION, tenant(registration_policy(controls=("mfa",)))).status is Status.FAIL


def test_registration_policy_for_all_platforms_and_locations_protects_registration():
    assert run(REGISTRATION, tenant(registration_policy())).status is Status.PASS


# --- the model itself ---------------------------------------------------------------------------


def test_staff_without_roles_or_groups_share_one_empty_set() -> None:
    """At 100,000 accounts the model gives no staff member a fresh empty set."""
    from m365apk.checks.people import people

    snap = tenant(policy(), admins=(("adm1", GA),))
    found = people(snap)
    assert found["s0"].roles is found["s1"].roles is found["s2"].groups
    assert people(snap) is found  # once per snapshot


def test_no_check_module_builds_a_person_from_raw_records() -> None:
    """Only the people model makes persons (design.md: one people model)."""
    package = Path(__file__).parents[1] / "m365apk" / "checks"
    for module in sorted(package.glob("*.py")):
        if module.name == "people.py":
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                assert name != "Person", f"{module.name} builds a Person itself"
                if isinstance(node.func, ast.Attribute) and node.func.attr == "of":
                    assert getattr(node.func.value, "id", None) != "Person", module.name


def test_registration_policy_after_microsofts_mfa_template_is_named_in_the_failure() -> None:
    """Microsoft's template asks MFA (or a Temporary Access Pass) to register: no managed
    device, so no protection in SCuBA's sense; the finding names the policy and why."""
    r = run(REGISTRATION, tenant(registration_policy(controls=("mfa",))))
    assert r.status is Status.FAIL
    assert "CA030 geldt voor het registreren van beveiligingsgegevens" in (r.reason or "")


# --- narrowing never improves a per-person verdict ----------------------------------------------

RANK = {Status.PASS: 2, Status.PARTIAL: 1, Status.FAIL: 0}
PER_PERSON = (MANAGED, REGISTRATION, GUESTS, ADMINS)


def _school(*policies: dict[str, Any]) -> Any:
    """A teacher holding Teams Administrator (s0), a teacher in the ICT group (s1), an IT
    partner's guest holding Helpdesk Administrator, and one Global Administrator."""
    held = assignment("partner1", HELPDESK)
    held["principal"]["userType"] = "Guest"
    snap = tenant(
        *policies,
        admins=(("adm1", GA),),
        roleAssignments=with_roles(assignment("s0", TEAMS_ADMIN), held),
        members={GROUP: ["s1", "adm1"]},
    )
    snap.datasets["users"].data.append({**user("partner1", "other"), "userType": "Guest"})
    return snap


def _narrowed(kind: str, p: dict[str, Any]) -> None:
    cond, users = p["conditions"], p["conditions"]["users"]
    if kind == "report_only":
        p["state"] = "enabledForReportingButNotEnforced"
    elif kind in ("teams_admin", "helpdesk", "global_admin"):
        role = {"teams_admin": TEAMS_ADMIN, "helpdesk": HELPDESK, "global_admin": GA}[kind]
        users["excludeRoles"] = [*users.get("excludeRoles", []), role]
    elif kind == "group":
        users["excludeGroups"] = [*users.get("excludeGroups", []), GROUP]
    elif kind == "mobile_only":
        cond["platforms"] = {"includePlatforms": MOBILE, "excludePlatforms": []}
    elif kind == "browser_only":
        cond["clientAppTypes"] = ["browser"]
    elif kind == "outside_trusted":
        cond["locations"] = {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}
    elif kind == "high_risk_only":
        cond["signInRiskLevels"] = ["high"]


def test_excluding_what_a_person_holds_or_narrowing_a_condition_never_improves_a_verdict() -> None:
    import copy
    import itertools

    bases = [
        managed_device(),
        registration_policy(),
        policy("CA001"),
        registration_policy("CA031", controls=("block",)),
    ]
    kinds = [
        "report_only",
        "teams_admin",
        "helpdesk",
        "global_admin",
        "group",
        "mobile_only",
        "browser_only",
        "outside_trusted",
        "high_risk_only",
    ]
    worse: set[tuple[str, str]] = set()
    for size in (1, 2):
        for chosen in itertools.combinations(bases, size):
            policies = [copy.deepcopy(p) for p in chosen]
            before = {c: run(c, _school(*policies)).status for c in PER_PERSON}
            for index, kind in itertools.product(range(size), kinds):
                narrowed = copy.deepcopy(policies)
                _narrowed(kind, narrowed[index])
                for check_id in PER_PERSON:
                    after = run(check_id, _school(*narrowed)).status
                    was = before[check_id]
                    if was in RANK and after in RANK:
                        assert RANK[after] <= RANK[was], (check_id, kind, was, after)
                        if RANK[after] < RANK[was]:
                            worse.add((check_id, kind))
                    else:
                        assert not (after is Status.PASS and was is not Status.PASS), (
                            check_id,
                            kind,
                        )
    # Not vacuous: a role or group a person holds, excluded, is seen by every per-person check.
    assert {(MANAGED, "teams_admin"), (REGISTRATION, "group"), (GUESTS, "helpdesk")} <= worse
    assert {(REGISTRATION, "mobile_only"), (REGISTRATION, "browser_only")} <= worse
    assert (ADMINS, "global_admin") in worse


def test_people_are_built_once_per_evaluation_and_afresh_when_break_glass_changes(
    monkeypatch,
) -> None:
    from m365apk.checks import derived, people
    from m365apk.checks.evaluate import evaluate
    from m365apk.checks.registry import all_checks
    from m365apk.snapshot.settings import BreakGlass

    calls = {"n": 0}
    real = people._roles

    def counting(*args: Any) -> Any:
        calls["n"] += 1
        return real(*args)

    monkeypatch.setattr(people, "_roles", counting)
    derived._CACHE.clear()
    snap = _school(managed_device(), registration_policy(), policy("CA001"))
    snap.datasets["userSignInActivity"] = ok([])  # adm1 counts as an emergency account
    evaluate(snap, all_checks())
    assert calls["n"] == 1
    snap.settings.break_glass.append(BreakGlass(user="adm1", reason="noodaccount"))
    assert people.people(snap)["adm1"].break_glass
    assert calls["n"] == 2


# --- what the engine could not read, and nobody to judge -----------------------------------------

ALL = "mfa.enforced_for_all"


def test_policy_whose_users_were_not_in_graphs_answer_is_not_judged_as_covering_nobody() -> None:
    """A policy without its users condition in the answer: it may be the MFA policy for
    everyone; not known, so no fail that names a value that is not there."""
    unread = policy("CA001")
    del unread["conditions"]["users"]
    r = run(ALL, tenant(unread))
    assert r.status is Status.UNKNOWN
    assert "CA001 kon niet worden beoordeeld" in (r.reason or "")


def test_policy_with_only_session_controls_has_a_null_grant_and_enforces_no_mfa() -> None:
    session_only = policy("CA090")
    session_only["grantControls"] = None
    assert run(ALL, tenant(session_only)).status is Status.FAIL


def test_a_tenant_whose_every_account_is_disabled_is_not_a_pass_for_everyone() -> None:
    flows = {"transferMethods": "deviceCodeFlow"}
    device_code = policy("CA010", controls=["block"], authenticationFlows=flows)
    assert run("ca.device_code_blocked", tenant(device_code)).status is Status.PASS
    snap = tenant(policy(), device_code, admins=(("adm1", GA),))
    for u in snap.datasets["users"].data:
        u["accountEnabled"] = False
    assert run(ALL, snap).status is Status.NOT_APPLICABLE
    assert run("ca.device_code_blocked", snap).status is Status.NOT_APPLICABLE


def test_admins_whose_accounts_are_all_disabled_leave_admin_mfa_undetermined() -> None:
    snap = tenant(policy(), admins=(("adm1", GA),))
    snap.datasets["users"].data = [
        {**u, "accountEnabled": u["id"] != "adm1"} for u in snap.datasets["users"].data
    ]
    assert run(ADMINS, snap).status is Status.UNKNOWN


def test_staff_whose_licences_are_missing_from_the_answer_are_not_no_staff() -> None:
    """Without assignedLicenses nobody can be placed as staff: undetermined, not 'no staff'."""
    snap = tenant(managed_device(excludeUsers=["s0"]), admins=(("adm1", GA),))
    for u in snap.datasets["users"].data:
        del u["assignedLicenses"]
    r = run(MANAGED, snap)
    assert r.status is Status.UNKNOWN
    assert "licenties niet in het antwoord van Graph" in (r.reason or "")


def test_teacher_eligible_through_pim_for_groups_for_a_role_excluded_by_role_is_not_covered():
    """ICT-beheer holds Teams Administrator; the teacher is eligible (PIM for Groups) for its
    membership, so once active the teacher holds the role a policy excludes."""
    snap = tenant(
        managed_device(excludeRoles=[TEAMS_ADMIN]),
        admins=(("adm1", GA),),
        roleAssignments=with_roles(assignment(GROUP, TEAMS_ADMIN, kind="group")),
        roleGroupMembers=ok({GROUP: []}),
        pimGroupEligibility=ok({GROUP: [{"id": "pe1", "principalId": "s2", "accessId": "member"}]}),
    )
    r = run(MANAGED, snap)
    assert r.status is Status.PARTIAL
    assert [o.id for o in r.evidence.affected] == ["s2"]
