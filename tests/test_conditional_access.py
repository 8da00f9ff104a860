"""Issue 10: real-tenant situations that gave a false "in orde" on the MFA and admin checks.
One named regression per numbered situation (1-11), each asserting the exact status; every
snapshot is Graph-shaped (field names as Graph returns them)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from m365apk.checks.base import Status
from m365apk.checks.builtin import BUILTIN_CHECKS
from m365apk.checks.common import ADMIN_MFA_ROLES
from m365apk.snapshot import DatasetStatus, Snapshot
from m365apk.snapshot.settings import TenantSettings

from .snapshots import GA, USER_ADMIN, assignment, failed, ok, registration, snapshot, user

CHECKS = {c.id: c for c in BUILTIN_CHECKS}
ALL = "mfa.enforced_for_all"
ADMINS = "mfa.enforced_for_admins"
LEGACY = "mfa.legacy_auth_blocked"
AUTHENTICATOR = "mfa.authenticator_context"
GA_COUNT = "admin.global_admin_count"
RATIO = "admin.least_privilege_ratio"
WITHOUT_MFA = "admin.admins_without_mfa"

EXO = "00000002-0000-0ff1-ce00-000000000000"
SPO = "00000003-0000-0ff1-ce00-000000000000"
GUEST_TYPES = (
    "internalGuest,b2bCollaborationGuest,b2bCollaborationMember,b2bDirectConnectUser,"
    "otherExternalUser,serviceProvider"
)
ADMIN_GROUP = "grp-admins"


def policy(
    name: str = "CA001",
    *,
    users: dict[str, Any] | None = None,
    apps: list[str] | None = None,
    exclude_apps: list[str] | None = None,
    clients: list[str] | None = None,
    controls: list[str] | None = None,
    operator: str = "OR",
    state: str = "enabled",
    strength: dict[str, Any] | None = None,
    **conditions: Any,
) -> dict[str, Any]:
    """A policy as Graph v1.0 returns it; default: enabled, All users, All apps, MFA."""
    base_users = {
        "includeUsers": ["All"],
        "excludeUsers": [],
        "includeGroups": [],
        "excludeGroups": [],
        "includeRoles": [],
        "excludeRoles": [],
        "includeGuestsOrExternalUsers": None,
        "excludeGuestsOrExternalUsers": None,
    }
    grant: dict[str, Any] = {
        "operator": operator,
        "builtInControls": ["mfa"] if controls is None else controls,
        "customAuthenticationFactors": [],
        "termsOfUse": [],
    }
    if strength is not None:
        grant["authenticationStrength"] = strength
    return {
        "id": f"id-{name}",
        "displayName": name,
        "state": state,
        "conditions": {
            "userRiskLevels": [],
            "signInRiskLevels": [],
            "clientAppTypes": clients or ["all"],
            "platforms": None,
            "locations": None,
            "devices": None,
            "authenticationFlows": None,
            "applications": {
                "includeApplications": apps or ["All"],
                "excludeApplications": exclude_apps or [],
                "includeUserActions": [],
            },
            "users": {**base_users, **(users or {})},
            **conditions,
        },
        "grantControls": grant,
        "sessionControls": None,
    }


def block_legacy(name: str = "CA002", **kw: Any) -> dict[str, Any]:
    return policy(name, clients=["exchangeActiveSync", "other"], controls=["block"], **kw)


def guests(types: str = GUEST_TYPES) -> dict[str, Any]:
    return {
        "guestOrExternalUserTypes": types,
        "externalTenants": {
            "@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants",
            "membershipKind": "all",
        },
    }


def tenant(
    *policies: dict[str, Any],
    admins: tuple[tuple[str, str], ...] = (("adm1", GA), ("adm2", GA)),
    sd: bool = False,
    settings: dict[str, Any] | None = None,
    members: dict[str, list[str]] | None = None,
    guest_admins: tuple[str, ...] = (),
    **over: Any,
) -> Snapshot:
    ids = {uid for uid, _ in admins}
    people = [user(f"s{i}") for i in range(3)] + [user(uid, "other") for uid in sorted(ids)]
    people = [{**p, "userType": "Guest"} if p["id"] in guest_admins else p for p in people]
    roles = []
    for uid, role in admins:
        a = assignment(uid, role)
        if uid in guest_admins:
            a["principal"]["userType"] = "Guest"
        roles.append(a)
    datasets = dict(
        users=ok(people),
        securityDefaults=ok({"id": "00000000-0000-0000-0000-000000000005", "isEnabled": sd}),
        conditionalAccessPolicies=ok(list(policies)),
        conditionalAccessGroupMembers=ok(
            {g: [{"id": m} for m in ms] for g, ms in (members or {}).items()}
        ),
        roleAssignments=ok(roles),
        userRegistrationDetails=ok([registration(p["id"], True) for p in people]),
        roleEligibilitySchedules=failed(DatasetStatus.NOT_LICENSED),  # no PIM without P2
    )
    datasets.update(over)
    snap = snapshot(**datasets)
    if settings is not None:
        snap.settings = TenantSettings.model_validate(settings)
    return snap


def status(check_id: str, snap: Snapshot) -> Status:
    return CHECKS[check_id].run(snap).status


def reason(check_id: str, snap: Snapshot) -> str:
    r = CHECKS[check_id].run(snap)
    return (r.reason or "") + " " + " ".join(o.detail or "" for o in r.evidence.affected)


# --- 1. OR'ed grant ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "other",
    ["compliantDevice", "domainJoinedDevice", "approvedApplication", "compliantApplication"],
)
def test_situation_01_mfa_or_compliant_device_does_not_enforce_mfa(other: str) -> None:
    snap = tenant(policy(controls=["mfa", other], operator="OR"), block_legacy())
    assert status(ALL, snap) is Status.FAIL
    assert status(ADMINS, snap) is Status.FAIL
    assert "CA001 vraagt MFA óf" in reason(ALL, snap)


def test_situation_01_mfa_and_compliant_device_does_enforce_mfa() -> None:
    snap = tenant(policy(controls=["mfa", "compliantDevice"], operator="AND"), block_legacy())
    assert status(ALL, snap) is Status.PASS


def test_situation_01_strength_counts_only_when_every_combination_is_multifactor() -> None:
    weak = {
        "displayName": "Eigen",
        "requirementsSatisfied": "mfa",
        "allowedCombinations": ["password,microsoftAuthenticatorPush", "sms"],
    }
    strong = {
        "displayName": "Phishingbestendig",
        "requirementsSatisfied": "mfa",
        "allowedCombinations": ["fido2", "windowsHelloForBusiness"],
    }
    assert status(ALL, tenant(policy(controls=[], strength=weak))) is Status.FAIL
    assert status(ALL, tenant(policy(controls=[], strength=strong))) is Status.PASS


# --- 2. narrowed policies ----------------------------------------------------------------------

NARROWINGS: dict[str, tuple[dict[str, Any], str]] = {
    "client_app_types_browser_only": (
        {"clients": ["browser"]},
        "CA001 geldt alleen voor browser",
    ),
    "exclude_exchange_online": ({"exclude_apps": [EXO]}, "CA001 sluit Exchange Online uit"),
    "exclude_sharepoint": ({"exclude_apps": [SPO]}, "CA001 sluit SharePoint Online uit"),
    "platforms": (
        {"platforms": {"includePlatforms": ["android", "iOS"], "excludePlatforms": []}},
        "CA001 geldt alleen voor deze platforms: android, iOS",
    ),
    "outside_trusted_locations": (
        {"locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}},
        "CA001 geldt alleen buiten vertrouwde locaties",
    ),
    "user_risk": ({"userRiskLevels": ["high"]}, "CA001 geldt alleen bij gebruikersrisico high"),
    "sign_in_risk": (
        {"signInRiskLevels": ["medium", "high"]},
        "CA001 geldt alleen bij aanmeldrisico high, medium",
    ),
    "device_filter": (
        {
            "devices": {
                "deviceFilter": {"mode": "exclude", "rule": 'device.trustType -eq "AzureAD"'}
            }
        },
        "CA001 sluit apparaten uit met filter",
    ),
    "authentication_flows": (
        {"authenticationFlows": {"transferMethods": "deviceCodeFlow"}},
        "CA001 geldt alleen voor verificatiestroom deviceCodeFlow",
    ),
}


@pytest.mark.parametrize("case", sorted(NARROWINGS))
def test_situation_02_narrowed_mfa_policy_is_at_best_partial_and_names_the_gap(case: str) -> None:
    kw, text = NARROWINGS[case]
    snap = tenant(policy(**kw), block_legacy())
    assert status(ALL, snap) is Status.PARTIAL
    assert text in reason(ALL, snap)
    assert status(ADMINS, snap) is Status.PARTIAL


def test_situation_02_gap_covered_by_another_policy_passes() -> None:
    # CA001 leaves Exchange Online out, CA004 requires MFA for exactly that app.
    snap = tenant(policy(exclude_apps=[EXO]), policy("CA004", apps=[EXO]), block_legacy())
    assert status(ALL, snap) is Status.PASS
    assert status(ADMINS, snap) is Status.PASS
    # Modern clients get MFA, legacy clients are blocked: every client type is covered.
    snap = tenant(policy(clients=["browser", "mobileAppsAndDesktopClients"]), block_legacy())
    assert status(ALL, snap) is Status.PASS


# --- 3. guests and external users --------------------------------------------------------------


def test_situation_03_excluded_guest_or_external_types_are_an_exclusion() -> None:
    snap = tenant(policy(users={"excludeGuestsOrExternalUsers": guests()}), block_legacy())
    assert status(ALL, snap) is Status.PARTIAL
    assert "gast-/externe gebruikerstypen" in reason(ALL, snap)


def test_situation_03_included_guest_types_cover_what_another_policy_leaves_out() -> None:
    snap = tenant(
        policy(users={"excludeGuestsOrExternalUsers": guests()}),
        policy("CA005", users={"includeUsers": [], "includeGuestsOrExternalUsers": guests()}),
        block_legacy(),
    )
    assert status(ALL, snap) is Status.PASS


def test_situation_03_guest_admin_excluded_by_guest_types_is_uncovered() -> None:
    snap = tenant(
        policy(users={"excludeGuestsOrExternalUsers": guests("b2bCollaborationGuest")}),
        guest_admins=("adm2",),
    )
    assert status(ADMINS, snap) is Status.FAIL


# --- 4. risk remediation is not MFA ------------------------------------------------------------


def test_situation_04_user_risk_policy_mfa_and_password_change_is_not_general_mfa() -> None:
    snap = tenant(
        policy(
            "CA010", controls=["mfa", "passwordChange"], operator="AND", userRiskLevels=["high"]
        ),
        block_legacy(),
    )
    assert status(ALL, snap) is Status.FAIL
    assert status(ADMINS, snap) is Status.FAIL
    assert "risicobeleid" in reason(ALL, snap)


# --- 5. admins, per role holder ----------------------------------------------------------------


def test_situation_05_all_users_policy_excluding_global_admin_role_leaves_them_uncovered() -> None:
    snap = tenant(policy(users={"excludeRoles": [GA]}))
    assert status(ADMINS, snap) is Status.FAIL
    assert "sluit rol Global Administrator uit" in reason(ADMINS, snap)


def test_situation_05_excluded_admin_group_leaves_its_members_uncovered() -> None:
    snap = tenant(policy(users={"excludeGroups": [ADMIN_GROUP]}), members={ADMIN_GROUP: ["adm1"]})
    assert status(ADMINS, snap) is Status.FAIL


def test_situation_05_role_list_policy_does_not_cover_holders_of_other_roles() -> None:
    snap = tenant(
        policy(users={"includeUsers": [], "includeRoles": [GA]}),
        admins=(("adm1", GA), ("adm2", GA), ("adm3", USER_ADMIN)),
    )
    assert status(ADMINS, snap) is Status.FAIL


def test_situation_05_policy_on_the_fourteen_admin_roles_misses_a_hybrid_identity_admin() -> None:
    hybrid = "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2"  # privileged, not in Maester's 14
    snap = tenant(
        policy(users={"includeUsers": [], "includeRoles": sorted(ADMIN_MFA_ROLES)}),
        admins=(("adm1", GA), ("adm2", GA), ("adm3", hybrid)),
    )
    assert status(ADMINS, snap) is Status.FAIL


def test_situation_05_policy_on_the_admin_group_covers_its_members() -> None:
    snap = tenant(
        policy(users={"includeUsers": [], "includeGroups": [ADMIN_GROUP]}),
        members={ADMIN_GROUP: ["adm1", "adm2"]},
    )
    assert status(ADMINS, snap) is Status.PASS


def test_situation_05_policy_on_exactly_the_held_roles_covers_them() -> None:
    snap = tenant(
        policy(users={"includeUsers": [], "includeRoles": [GA, USER_ADMIN]}),
        admins=(("adm1", GA), ("adm2", GA), ("adm3", USER_ADMIN)),
    )
    assert status(ADMINS, snap) is Status.PASS


def test_situation_05_unread_excluded_group_makes_admins_unknown() -> None:
    snap = tenant(policy(users={"excludeGroups": [ADMIN_GROUP]}))  # members not read
    assert status(ADMINS, snap) is Status.UNKNOWN


# --- 6. legacy authentication ------------------------------------------------------------------


def test_situation_06_legacy_block_excluding_an_app_or_guests_is_partial() -> None:
    snap = tenant(policy(), block_legacy(exclude_apps=[EXO]))
    assert status(LEGACY, snap) is Status.PARTIAL
    assert "CA002 sluit Exchange Online uit" in reason(LEGACY, snap)
    snap = tenant(policy(), block_legacy(users={"excludeGuestsOrExternalUsers": guests()}))
    assert status(LEGACY, snap) is Status.PARTIAL
    assert status(LEGACY, tenant(policy(), block_legacy())) is Status.PASS


def test_situation_06_report_only_legacy_block_enforces_nothing() -> None:
    snap = tenant(policy(), block_legacy(state="enabledForReportingButNotEnforced"))
    assert status(LEGACY, snap) is Status.FAIL
    assert "alleen-rapportagemodus" in reason(LEGACY, snap)


# --- 7. Authenticator context ------------------------------------------------------------------


def _methods_policy(state: str = "enabled", include: str = "all_users", exclude: str | None = None):
    target = {"targetType": "group", "id": exclude or "00000000-0000-0000-0000-000000000000"}
    feature = {
        "state": "enabled",
        "includeTarget": {"targetType": "group", "id": include},
        "excludeTarget": target,
    }
    return ok(
        {
            "id": "authenticationMethodsPolicy",
            "authenticationMethodConfigurations": [
                {
                    "id": "MicrosoftAuthenticator",
                    "state": state,
                    "featureSettings": {
                        "displayAppInformationRequiredState": feature,
                        "displayLocationInformationRequiredState": feature,
                    },
                }
            ],
        }
    )


def test_situation_07_authenticator_context_for_one_group_does_not_count() -> None:
    snap = snapshot(authenticationMethodsPolicy=_methods_policy(include="grp-pilot"))
    assert status(AUTHENTICATOR, snap) is Status.FAIL
    snap = snapshot(authenticationMethodsPolicy=_methods_policy(exclude="grp-docenten"))
    assert status(AUTHENTICATOR, snap) is Status.FAIL
    assert status(AUTHENTICATOR, snapshot(authenticationMethodsPolicy=_methods_policy())) is (
        Status.PASS
    )


def test_situation_07_authenticator_disabled_is_not_applicable() -> None:
    snap = snapshot(authenticationMethodsPolicy=_methods_policy(state="disabled"))
    assert status(AUTHENTICATOR, snap) is Status.NOT_APPLICABLE


# --- 8. PIM-eligible admins --------------------------------------------------------------------


def _eligible(uid: str, role: str = GA) -> dict[str, Any]:
    return {"id": f"e-{uid}", "principalId": uid, "roleDefinitionId": role, "directoryScopeId": "/"}


def test_situation_08_three_active_and_ten_eligible_global_admins_is_not_three() -> None:
    eligible = [f"pim{i}" for i in range(10)]
    snap = tenant(
        policy(),
        admins=(("adm1", GA), ("adm2", GA), ("adm3", GA)),
        roleEligibilitySchedules=ok([_eligible(u) for u in eligible] + [_eligible("adm1")]),
    )
    snap.datasets["users"].data += [user(u, "other") for u in eligible]
    r = CHECKS[GA_COUNT].run(snap)
    assert r.status is Status.FAIL
    assert r.measured == 13  # adm1 is active and eligible: one person
    assert r.evidence.counts["actief"] == 3 and r.evidence.counts["in_aanmerking"] == 10


def test_situation_08_ga_group_on_a_p2_tenant_is_unknown_without_pim_for_groups() -> None:
    group = assignment("grp-ga", GA, kind="group")
    snap = tenant(
        policy(),
        roleAssignments=ok([assignment("adm1"), assignment("adm2"), group]),
        roleGroupMembers=ok({"grp-ga": [{"id": "adm3"}]}),
        roleEligibilitySchedules=ok([]),
    )
    r = CHECKS[GA_COUNT].run(snap)
    assert r.status is Status.UNKNOWN and "PIM voor groepen" in (r.reason or "")


def test_situation_08_eligible_admins_count_for_least_privilege_and_mfa() -> None:
    snap = tenant(
        policy(),
        admins=(("adm1", GA), ("ua1", USER_ADMIN), ("ua2", USER_ADMIN)),
        roleEligibilitySchedules=ok([_eligible("pim1"), _eligible("pim2")]),
    )
    snap.datasets["users"].data += [user("pim1", "other"), user("pim2", "other")]
    snap.datasets["userRegistrationDetails"].data.append(registration("pim1", True))
    snap.datasets["userRegistrationDetails"].data.append(registration("pim2", False))
    assert status(RATIO, snap) is Status.FAIL  # 3 GA (1 active, 2 eligible) > 2 others
    assert status(WITHOUT_MFA, snap) is Status.FAIL  # pim2 is an eligible GA without MFA


# --- 9. A1 fallback: per-user methods ----------------------------------------------------------


def _a1(methods: dict[str, list[str]], sms: str = "disabled", **over: Any) -> Snapshot:
    # As Graph answers: every configuration has both target lists (excludeTargets often empty)
    # and each target its targetType.
    everyone = [{"targetType": "group", "id": "all_users"}]
    configs = [
        {"id": "Sms", "state": sms, "includeTargets": everyone, "excludeTargets": []},
        {"id": "Voice", "state": "disabled", "includeTargets": everyone, "excludeTargets": []},
        {
            "id": "MicrosoftAuthenticator",
            "state": "enabled",
            "includeTargets": everyone,
            "excludeTargets": [],
        },
        {
            "id": "SoftwareOath",
            "state": "disabled",
            "includeTargets": everyone,
            "excludeTargets": [],
        },
    ]
    kinds = {
        "app": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
        "phone": "#microsoft.graph.phoneAuthenticationMethod",
        "oath": "#microsoft.graph.softwareOathAuthenticationMethod",
    }
    snap = tenant(
        admins=(("adm1", GA), ("adm2", GA)),
        userRegistrationDetails=failed(DatasetStatus.NOT_LICENSED),
        userAuthenticationMethods=ok(
            {uid: [{"@odata.type": kinds[k], "id": k} for k in ks] for uid, ks in methods.items()}
        ),
        authenticationMethodsPolicy=ok({"authenticationMethodConfigurations": configs}),
        **over,
    )
    return snap


def test_situation_09_guest_admin_not_read_by_the_fallback_is_unknown() -> None:
    snap = _a1({"adm1": ["app"]}, guest_admins=())
    snap = tenant(
        admins=(("adm1", GA), ("gast1", GA)),
        guest_admins=("gast1",),
        userRegistrationDetails=failed(DatasetStatus.NOT_LICENSED),
        userAuthenticationMethods=snap.datasets["userAuthenticationMethods"],
        authenticationMethodsPolicy=snap.datasets["authenticationMethodsPolicy"],
    )
    assert status(WITHOUT_MFA, snap) is Status.UNKNOWN


def test_situation_09_phone_counts_only_when_sms_or_voice_is_enabled() -> None:
    assert status(WITHOUT_MFA, _a1({"adm1": ["app"], "adm2": ["phone"]})) is Status.FAIL
    assert status(WITHOUT_MFA, _a1({"adm1": ["app"], "adm2": ["phone"]}, sms="enabled")) is (
        Status.PASS
    )


def test_situation_09_method_counts_only_when_its_configuration_is_enabled() -> None:
    assert status(WITHOUT_MFA, _a1({"adm1": ["app"], "adm2": ["oath"]})) is Status.FAIL


# --- 10. security defaults first; per-user MFA ---------------------------------------------------


def test_situation_10_security_defaults_pass_whatever_the_ca_endpoint_answers() -> None:
    snap = tenant(sd=True, conditionalAccessPolicies=failed(DatasetStatus.FORBIDDEN))
    assert status(ALL, snap) is Status.PASS
    assert status(ADMINS, snap) is Status.PASS
    assert status(LEGACY, snap) is Status.PASS


def test_situation_10_without_sd_or_ca_per_user_mfa_is_not_established() -> None:
    snap = tenant()  # no policies, everyone has an MFA method: per-user MFA may be on
    assert status(ALL, snap) is Status.UNKNOWN
    assert "Niet vastgesteld" in reason(ALL, snap)
    snap = tenant()
    snap.datasets["userRegistrationDetails"].data[0] = registration("s0", False)
    assert status(ALL, snap) is Status.FAIL  # s0 has no method: nothing asks for MFA


# --- 11. tenant settings -----------------------------------------------------------------------


def test_situation_11_approved_exclusion_can_name_an_application_with_expiry() -> None:
    intune = "d4ebce55-015a-49b5-a083-c84d1797ae8c"
    entry = {
        "application": intune,
        "reason": "Intune-inschrijving",
        "owner": "ICT",
        "expires": "2027-01-01",
    }
    snap = tenant(
        policy(exclude_apps=[intune]), block_legacy(), settings={"approved_exclusions": [entry]}
    )
    assert status(ALL, snap) is Status.ACCEPTED  # an approval never makes a pass (#25)
    expired = {**entry, "expires": str(date(2026, 10, 1))}  # before the scan date
    snap = tenant(
        policy(exclude_apps=[intune]), block_legacy(), settings={"approved_exclusions": [expired]}
    )
    assert status(ALL, snap) is Status.PARTIAL
    assert "verlopen op 2026-10-01" in reason(ALL, snap)


def test_situation_11_approved_exclusion_can_name_guest_types() -> None:
    entry = {
        "guests_or_external": "b2bDirectConnectUser",
        "reason": "Gedeelde kanalen",
        "owner": "ICT",
        "expires": "2027-08-01",
    }
    excluded = {"excludeGuestsOrExternalUsers": guests("b2bDirectConnectUser")}
    snap = tenant(policy(users=excluded), block_legacy(), settings={"approved_exclusions": [entry]})
    assert status(ALL, snap) is Status.ACCEPTED


def test_situation_11_approved_exclusion_can_name_a_role() -> None:
    sync = "d29b2b05-8046-44ba-8758-1e26182fcf32"  # Directory Synchronization Accounts
    entry = {
        "role": sync,
        "reason": "Entra Connect-synchronisatieaccount (Maester MT.1020)",
        "owner": "ICT",
        "expires": "2027-08-01",
    }
    snap = tenant(policy(users={"excludeRoles": [sync]}), block_legacy())
    assert status(ALL, snap) is Status.PARTIAL
    snap = tenant(
        policy(users={"excludeRoles": [sync]}),
        block_legacy(),
        settings={"approved_exclusions": [entry]},
    )
    assert status(ALL, snap) is Status.ACCEPTED


def test_situation_11_break_glass_group_takes_effect() -> None:
    snap = tenant(
        policy(users={"excludeGroups": ["grp-bg"]}),
        block_legacy(users={"excludeGroups": ["grp-bg"]}),
        settings={"break_glass": [{"group": "grp-bg", "reason": "Noodaccounts"}]},
        members={"grp-bg": ["adm2"]},
        userSignInActivity=ok([]),  # no recent interactive sign-in: no daily use
    )
    assert status(ALL, snap) is Status.PASS
    assert status(LEGACY, snap) is Status.PASS
    assert status(ADMINS, snap) is Status.PASS


def test_situation_11_malformed_entries_are_rejected_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="precies één van user"):
        TenantSettings.model_validate({"break_glass": [{"reason": "x"}]})
    with pytest.raises(ValueError, match="onbekend gast-/extern gebruikerstype"):
        TenantSettings.model_validate(
            {"approved_exclusions": [{"guests_or_external": "vrienden", "reason": "x"}]}
        )


def test_situation_05_nested_group_in_an_included_group_is_expanded() -> None:
    snap = tenant(
        policy(users={"includeUsers": [], "includeGroups": ["outer"]}),
        members={"outer": ["inner"], "inner": ["adm1", "adm2"]},
    )
    assert status(ADMINS, snap) is Status.PASS


# --- acceptance 3: only the engine reads conditional-access policy fields -----------------------

CA_FIELDS = {
    "grantControls",
    "builtInControls",
    "authenticationStrength",
    "sessionControls",
    "includeUsers",
    "excludeUsers",
    "includeGroups",
    "excludeGroups",
    "includeRoles",
    "excludeRoles",
    "includeGuestsOrExternalUsers",
    "excludeGuestsOrExternalUsers",
    "includeApplications",
    "excludeApplications",
    "clientAppTypes",
    "includePlatforms",
    "includeLocations",
    "excludeLocations",
    "userRiskLevels",
    "signInRiskLevels",
    "authenticationFlows",
    "deviceFilter",
}


def _strings(path: Path) -> list[tuple[str, bool]]:
    """Every string constant in a module (docstrings left out), and whether it sits directly
    in a tuple (how checks declare their datasets)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    in_tuple = {id(e) for node in ast.walk(tree) if isinstance(node, ast.Tuple) for e in node.elts}
    return [
        (node.value, id(node) in in_tuple)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_acceptance_3_only_the_engine_reads_conditional_access_fields() -> None:
    import m365apk.checks

    package = Path(m365apk.checks.__file__).parent
    engine = package / "conditional_access.py"
    assert CA_FIELDS & {s for s, _ in _strings(engine)}  # the test can see what it looks for
    for module in sorted(package.glob("*.py")):
        if module == engine:
            continue
        for value, in_tuple in _strings(module):
            assert value not in CA_FIELDS, f"{module.name} reads CA field {value!r}"
            if "conditionalAccess" in value:
                # Only as a dataset name in a declaration tuple (datasets=, optional=, ...).
                assert in_tuple, f"{module.name} reads {value!r} outside a dataset declaration"


def test_one_engine_judges_each_person_as_a_fresh_engine_would() -> None:
    """The engine keeps covers() per set of applying policies (#16): people in the same tenant
    with different exclusions, groups, roles and guest status must still get their own
    verdicts, whatever the order they are asked in."""
    from m365apk.checks.conditional_access import MFA, Engine, Person

    snap = tenant(
        policy("all-but-adm1", users={"excludeUsers": ["adm1"]}, clients=["browser"]),
        policy(
            "other-clients",
            users={"excludeGroups": [ADMIN_GROUP]},
            clients=["mobileAppsAndDesktopClients"],
        ),
        policy("admins", users={"includeUsers": [], "includeRoles": [GA]}),
        members={ADMIN_GROUP: ["adm2", "s1"]},
        guest_admins=("s2",),
    )
    people = [
        Person(id="adm1", roles={GA}, guest=False),
        Person(id="adm2", roles={GA}, guest=False),
        Person(id="s0", roles=set(), guest=False),
        Person(id="s1", roles=set(), guest=False),
        Person(id="s2", roles=set(), guest=True),
    ]
    fresh = {p.id: Engine(snap).person(p, MFA) for p in people}
    assert {v.state for v in fresh.values()} >= {"covered", "partial"}  # not all alike
    for order in (people, people[::-1], people[2:] + people[:2]):
        shared = Engine(snap)
        assert {p.id: shared.person(p, MFA) for p in order} == fresh
