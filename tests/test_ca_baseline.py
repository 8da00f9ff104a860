"""Issue 15, conditional access beyond MFA: each check named after the real-tenant situation,
and the same metamorphic property as the engine's own: a narrower policy never improves a
verdict."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m365apk.checks.base import Status

from .snapshots import GA, USER_ADMIN, assignment, ok
from .test_conditional_access import policy, status, tenant

DEVICE_CODE = "ca.device_code_blocked"
PHR_ADMINS = "ca.phishing_resistant_admins"
PHR_ALL = "ca.phishing_resistant_all"
USER_RISK = "ca.high_user_risk_blocked"
SIGNIN_RISK = "ca.high_signin_risk_blocked"
GUESTS = "ca.guests_mfa"
BREAK_GLASS = "ca.break_glass_excluded"
PHR = {
    "id": "00000000-0000-0000-0000-000000000004",
    "displayName": "Phishing-resistant MFA",
    "allowedCombinations": ["windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor"],
}
MFA_STRENGTH = {
    "id": "00000000-0000-0000-0000-000000000002",
    "displayName": "Multifactor authentication",
    "allowedCombinations": ["fido2", "password,microsoftAuthenticatorPush", "password,sms"],
}


def block(name: str, **conditions: Any) -> dict[str, Any]:
    return policy(name, controls=["block"], **conditions)


def device_code(name: str = "CA010", methods: str = "deviceCodeFlow", **kw: Any) -> dict:
    return block(name, authenticationFlows={"transferMethods": methods}, **kw)


def admins_phr(name: str = "CA013", **kw: Any) -> dict[str, Any]:
    users = {"includeUsers": [], "includeRoles": [GA, USER_ADMIN]}
    return policy(name, users=users, controls=[], strength=PHR, **kw)


# --- device code flow (SCuBA MS.AAD.3.9) --------------------------------------------------------


def test_device_code_flow_blocked_for_everyone_passes() -> None:
    assert status(DEVICE_CODE, tenant(device_code())) is Status.PASS


def test_block_of_device_code_and_authentication_transfer_together_still_blocks_device_code() -> (
    None
):
    policy_ = device_code(methods="deviceCodeFlow,authenticationTransfer")
    assert status(DEVICE_CODE, tenant(policy_)) is Status.PASS


def test_device_code_block_in_report_only_mode_fails() -> None:
    snap = tenant(device_code(state="enabledForReportingButNotEnforced"))
    assert status(DEVICE_CODE, snap) is Status.FAIL


def test_device_code_block_that_leaves_out_exchange_online_is_partial() -> None:
    snap = tenant(device_code(exclude_apps=["00000002-0000-0ff1-ce00-000000000000"]))
    assert status(DEVICE_CODE, snap) is Status.PARTIAL


def test_security_defaults_do_not_block_the_device_code_flow() -> None:
    assert status(DEVICE_CODE, tenant(sd=True)) is Status.FAIL


def test_a_legacy_block_alone_is_not_a_partial_device_code_block() -> None:
    legacy = block("CA002", clientAppTypes=["exchangeActiveSync", "other"])
    assert status(DEVICE_CODE, tenant(legacy)) is Status.FAIL


# --- phishing-resistant MFA (3.6, 3.1) ---------------------------------------------------------


def test_admin_roles_with_phishing_resistant_strength_pass() -> None:
    assert status(PHR_ADMINS, tenant(admins_phr())) is Status.PASS


def test_ordinary_mfa_strength_is_not_phishing_resistant() -> None:
    users = {"includeUsers": [], "includeRoles": [GA]}
    snap = tenant(policy("CA013", users=users, controls=[], strength=MFA_STRENGTH))
    assert status(PHR_ADMINS, snap) is Status.FAIL


def test_phishing_resistant_strength_or_compliant_device_is_not_phishing_resistant() -> None:
    users = {"includeUsers": [], "includeRoles": [GA]}
    snap = tenant(policy("CA013", users=users, controls=["compliantDevice"], strength=PHR))
    assert status(PHR_ADMINS, snap) is Status.FAIL


def test_policy_on_global_admins_only_leaves_user_administrators_uncovered() -> None:
    users = {"includeUsers": [], "includeRoles": [GA]}
    snap = tenant(
        policy("CA013", users=users, controls=[], strength=PHR),
        admins=(("adm1", GA), ("adm2", USER_ADMIN)),
    )
    assert status(PHR_ADMINS, snap) is Status.PARTIAL


def test_phishing_resistant_for_admins_only_is_partial_for_everyone() -> None:
    assert status(PHR_ALL, tenant(admins_phr())) is Status.PARTIAL


# --- risk (2.1, 2.3) --------------------------------------------------------------------------


def test_high_user_risk_blocked_passes_and_password_change_does_not() -> None:
    assert status(USER_RISK, tenant(block("CA011", userRiskLevels=["high"]))) is Status.PASS
    change = policy("CA011", controls=["mfa", "passwordChange"], operator="AND")
    change["conditions"]["userRiskLevels"] = ["high"]
    assert status(USER_RISK, tenant(change)) is Status.FAIL


def test_sign_in_risk_block_only_at_medium_does_not_cover_high() -> None:
    snap = tenant(block("CA012", signInRiskLevels=["medium"]))
    assert status(SIGNIN_RISK, snap) is Status.FAIL
    snap = tenant(block("CA012", signInRiskLevels=["medium", "high"]))
    assert status(SIGNIN_RISK, snap) is Status.PASS


# --- guests and emergency accounts (Maester MT.1016, MT.1005) -----------------------------------


def test_all_users_mfa_policy_covers_guests() -> None:
    snap = tenant(policy(), guest_admins=("s2",))  # s2 is a guest account
    assert status(GUESTS, snap) is Status.PASS
    # Without any guest account it is no pass of 0 guests (issue 25: zero is not everything).
    assert status(GUESTS, tenant(policy())) is Status.NOT_APPLICABLE


def test_mfa_policy_that_excludes_guest_types_leaves_guests_without_mfa() -> None:
    excluded = {
        "guestOrExternalUserTypes": "internalGuest,b2bCollaborationGuest,b2bCollaborationMember",
        "externalTenants": {"membershipKind": "all"},
    }
    snap = tenant(policy(users={"excludeGuestsOrExternalUsers": excluded}))
    assert status(GUESTS, snap) is Status.FAIL


BG = {"break_glass": [{"user": "s0", "reason": "noodaccount"}]}


def bg_tenant(*policies: dict[str, Any], **kw: Any) -> Any:
    """s0 recorded as emergency account and one by Microsoft's guidance: Global Administrator,
    cloud-only, no interactive sign-in within 30 days (checks/trust.py)."""
    roles = [assignment("adm1"), assignment("adm2"), assignment("s0")]
    return tenant(
        *policies, settings=BG, roleAssignments=ok(roles), userSignInActivity=ok([]), **kw
    )


def test_emergency_account_excluded_everywhere_without_phishing_resistant_mfa_is_partial() -> None:
    # Microsoft (security-emergency-access, 2025-02) asks phishing-resistant MFA for them.
    users = {"excludeUsers": ["s0"]}
    snap = bg_tenant(policy(users=users), device_code(users=users))
    assert status(BREAK_GLASS, snap) is Status.PARTIAL


def test_emergency_account_excluded_from_blocks_with_phishing_resistant_mfa_passes() -> None:
    users = {"excludeUsers": ["s0"]}
    phr = policy("CA014", users={"includeUsers": ["s0"]}, controls=[], strength=PHR)
    snap = bg_tenant(policy(users=users), device_code(users=users), phr)
    assert status(BREAK_GLASS, snap) is Status.PASS


def test_emergency_account_caught_by_one_block_policy_fails() -> None:
    snap = bg_tenant(policy(users={"excludeUsers": ["s0"]}), device_code())
    assert status(BREAK_GLASS, snap) is Status.FAIL


def test_emergency_account_caught_by_an_mfa_policy_is_no_lockout() -> None:
    snap = bg_tenant(policy(), device_code(users={"excludeUsers": ["s0"]}))
    assert status(BREAK_GLASS, snap) is Status.PARTIAL


def test_emergency_accounts_not_named_in_the_settings_are_unknown() -> None:
    assert status(BREAK_GLASS, tenant(policy())) is Status.UNKNOWN


# --- narrowing never improves ----------------------------------------------------------------

RANK = {Status.PASS: 2, Status.PARTIAL: 1, Status.FAIL: 0}
# The emergency-account check asks the opposite of the others (that policies leave those accounts
# out), so for it a narrower policy may rightly be better; its own property is below.
CHECKED = (DEVICE_CODE, PHR_ADMINS, PHR_ALL, USER_RISK, SIGNIN_RISK, GUESTS)
PROFILE = settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
base_st = st.sampled_from(
    [
        device_code(),
        admins_phr(),
        policy("CA014", controls=[], strength=PHR),
        block("CA011", userRiskLevels=["high"]),
        block("CA012", signInRiskLevels=["high"]),
        policy("CA001", users={"excludeUsers": ["s0"]}),
    ]
)


def _narrow(kind: str, p: dict[str, Any]) -> None:
    cond, users = p["conditions"], p["conditions"]["users"]
    if kind == "report_only":
        p["state"] = "enabledForReportingButNotEnforced"
    elif kind == "exclude_user":
        users["excludeUsers"] = [*users.get("excludeUsers", []), "adm1"]
    elif kind == "exclude_role":
        users["excludeRoles"] = [GA]
    elif kind == "exclude_guests":
        users["excludeGuestsOrExternalUsers"] = {
            "guestOrExternalUserTypes": "internalGuest,b2bCollaborationGuest",
            "externalTenants": {"membershipKind": "all"},
        }
    elif kind == "exclude_app":
        cond["applications"]["excludeApplications"] = ["00000002-0000-0ff1-ce00-000000000000"]
    elif kind == "browser_only":
        cond["clientAppTypes"] = ["browser"]
    elif kind == "or_control":
        p["grantControls"]["builtInControls"] = [
            *p["grantControls"]["builtInControls"],
            "compliantDevice",
        ]
    elif kind == "outside_trusted":
        cond["locations"] = {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}


@PROFILE
@given(
    base=st.lists(base_st, min_size=1, max_size=4),
    index=st.integers(min_value=0, max_value=3),
    kind=st.sampled_from(
        [
            "report_only",
            "exclude_user",
            "exclude_role",
            "exclude_guests",
            "exclude_app",
            "browser_only",
            "or_control",
            "outside_trusted",
        ]
    ),
)
def test_narrowing_a_policy_never_improves_a_verdict(base: list, index: int, kind: str) -> None:
    policies = [copy.deepcopy(p) for p in base]
    for i, p in enumerate(policies):
        p["displayName"], p["id"] = f"CA{i:03d}", f"id-{i}"
    narrowed = copy.deepcopy(policies)
    _narrow(kind, narrowed[index % len(narrowed)])
    for check_id in CHECKED:
        before = status(check_id, bg_tenant(*policies))
        after = status(check_id, bg_tenant(*narrowed))
        if before in RANK and after in RANK:
            assert RANK[after] <= RANK[before], (check_id, kind, before, after)
        else:
            assert not (after is Status.PASS and before is not Status.PASS), (check_id, kind)


@PROFILE
@given(base=st.lists(base_st, min_size=1, max_size=4), index=st.integers(0, 3))
def test_catching_the_emergency_account_in_a_policy_that_can_lock_it_out_fails(
    base: list, index: int
) -> None:
    """Excluded from every policy it is at best partial (no phishing-resistant MFA asked of it);
    caught by a block it fails; caught by a policy it passes with its phishing-resistant method
    it is no lockout (Microsoft's guidance asks exactly that policy)."""
    policies = [copy.deepcopy(p) for p in base]
    for i, p in enumerate(policies):
        p["displayName"], p["id"] = f"CA{i:03d}", f"id-{i}"
        p["conditions"]["users"]["excludeUsers"] = ["s0"]
    caught = copy.deepcopy(policies)
    chosen = caught[index % len(caught)]
    target = chosen["conditions"]["users"]
    target["excludeUsers"], target["includeUsers"] = [], ["All"]
    before = status(BREAK_GLASS, bg_tenant(*policies))
    after = status(BREAK_GLASS, bg_tenant(*caught))
    assert before is Status.PARTIAL, before
    if "block" in chosen["grantControls"]["builtInControls"]:
        assert after is Status.FAIL, after
    else:
        assert after in (Status.PARTIAL, Status.PASS), after
