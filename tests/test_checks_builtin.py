"""The two built-in checks on fixture snapshots: pass, fail, partial, not_licensed, unknown."""

from __future__ import annotations

from m365apk.checks.admin_roles import GA_COUNT
from m365apk.checks.base import Status
from m365apk.checks.mfa import REGISTRATION
from m365apk.snapshot import DatasetStatus

from .snapshots import (
    GA,
    USER_ADMIN,
    assignment,
    failed,
    ok,
    registration,
    snapshot,
    user,
)


def _mfa_snapshot(staff_capable: int, staff_total: int, admin_capable: bool = True, **over):
    users = [user(f"s{i}") for i in range(staff_total)]
    users += [user(f"l{i}", "student") for i in range(30)]
    users += [user("admin", "other"), user("gast", guest=True), user("oud", enabled=False)]
    regs = [registration(f"s{i}", i < staff_capable) for i in range(staff_total)]
    regs += [registration(f"l{i}", False) for i in range(30)]  # students are not scored
    regs += [registration("admin", admin_capable), registration("oud", False)]
    datasets = dict(
        users=ok(users),
        userRegistrationDetails=ok(regs),
        roleAssignments=ok([assignment("admin")]),
    )
    datasets.update(over)
    return snapshot(**datasets)


def test_mfa_pass_when_staff_and_admins_covered() -> None:
    r = REGISTRATION.run(_mfa_snapshot(96, 100))
    assert r.status is Status.PASS
    assert r.measured["medewerkers_pct"] == 96.0  # 96 of 100 staff + 1 admin = 97/101
    assert r.evidence.counts["medewerkers_en_beheerders"] == 101
    assert r.evidence.counts["zonder_mfa"] == 4
    assert r.evidence.counts["leerlingen"] == 30 and r.evidence.counts["leerlingen_met_mfa"] == 0


def test_mfa_partial_between_80_and_95() -> None:
    r = REGISTRATION.run(_mfa_snapshot(85, 100))
    assert r.status is Status.PARTIAL and "95%" in r.reason


def test_mfa_fail_below_80() -> None:
    r = REGISTRATION.run(_mfa_snapshot(25, 100))
    assert r.status is Status.FAIL
    assert r.evidence.affected_total == 75


def test_mfa_fail_when_an_admin_lacks_mfa_even_if_staff_are_fine() -> None:
    r = REGISTRATION.run(_mfa_snapshot(100, 100, admin_capable=False))
    assert r.status is Status.FAIL
    assert r.evidence.counts["beheerders_zonder_mfa"] == 1
    assert any("beheerder" in (a.detail or "") for a in r.evidence.affected)


def test_mfa_not_licensed_without_p1_and_without_fallback() -> None:
    snap = _mfa_snapshot(
        0,
        10,
        userRegistrationDetails=failed(
            DatasetStatus.NOT_LICENSED, "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
        ),
    )
    r = REGISTRATION.run(snap)
    assert r.status is Status.NOT_LICENSED
    assert "Authentication_RequestFromNonPremiumTenantOrB2CTenant" in r.reason


def test_mfa_unknown_without_p1_when_fallback_forbidden() -> None:
    snap = _mfa_snapshot(
        0,
        10,
        userRegistrationDetails=failed(
            DatasetStatus.NOT_LICENSED, "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
        ),
        userAuthenticationMethods=failed(DatasetStatus.FORBIDDEN),
    )
    r = REGISTRATION.run(snap)
    assert r.status is Status.UNKNOWN
    assert "UserAuthenticationMethod.Read.All" in r.reason or "X.Read.All" in r.reason


def test_mfa_fallback_per_user_methods_without_p1() -> None:
    strong = [
        {"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod", "id": "m"}
    ]
    weak = [
        {"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": "p"},
        {"@odata.type": "#microsoft.graph.emailAuthenticationMethod", "id": "e"},
    ]
    methods = {f"s{i}": (strong if i < 3 else weak) for i in range(10)} | {"admin": strong}
    snap = _mfa_snapshot(
        0,
        10,
        userRegistrationDetails=failed(DatasetStatus.NOT_LICENSED),
        userAuthenticationMethods=ok(methods),
        authenticationMethodsPolicy=ok(AUTHENTICATOR_FOR_ALL),
    )
    r = REGISTRATION.run(snap)
    assert r.status is Status.FAIL
    assert r.measured["bron"] == "authenticatiemethoden per gebruiker"
    assert r.evidence.counts["zonder_mfa"] == 7  # email is not a second factor


AUTHENTICATOR_FOR_ALL = {
    "authenticationMethodConfigurations": [
        {
            "@odata.type": "#microsoft.graph."
            "microsoftAuthenticatorAuthenticationMethodConfiguration",
            "id": "MicrosoftAuthenticator",
            "state": "enabled",
            "includeTargets": [{"targetType": "group", "id": "all_users"}],
            "excludeTargets": [],
        }
    ]
}


def test_a1_school_whose_methods_policy_is_unreadable_is_not_judged_on_registered_methods() -> None:
    """Issue 25 finding 7, the per-user fallback: registered is not usable. Without the methods
    policy nobody can say whether a registered app may be used: unknown, not a coverage."""
    strong = [
        {"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod", "id": "m"}
    ]
    snap = _mfa_snapshot(
        0,
        10,
        userRegistrationDetails=failed(DatasetStatus.NOT_LICENSED),
        userAuthenticationMethods=ok({f"s{i}": strong for i in range(10)} | {"admin": strong}),
        authenticationMethodsPolicy=failed(DatasetStatus.FORBIDDEN),
    )
    r = REGISTRATION.run(snap)
    assert r.status is Status.UNKNOWN
    assert "Policy.Read.AuthenticationMethod" in r.reason


def test_a1_school_with_authenticator_excluded_for_an_unread_group_does_not_count_it() -> None:
    """Issue 25 finding 7: the Authenticator is excluded for a group whose members were not
    read; a teacher's registered Authenticator may not be usable, so it does not count."""
    strong = [
        {"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod", "id": "m"}
    ]
    policy = {
        "authenticationMethodConfigurations": [
            {
                **AUTHENTICATOR_FOR_ALL["authenticationMethodConfigurations"][0],
                "excludeTargets": [{"targetType": "group", "id": "ongelezen-groep"}],
            }
        ]
    }
    snap = _mfa_snapshot(
        0,
        10,
        userRegistrationDetails=failed(DatasetStatus.NOT_LICENSED),
        userAuthenticationMethods=ok({f"s{i}": strong for i in range(10)} | {"admin": strong}),
        authenticationMethodsPolicy=ok(policy),
    )
    assert REGISTRATION.run(snap).status is not Status.PASS


def test_mfa_unknown_when_users_unreadable() -> None:
    r = REGISTRATION.run(_mfa_snapshot(100, 100, users=failed(DatasetStatus.FORBIDDEN)))
    assert r.status is Status.UNKNOWN


def _ga_snapshot(n_ga: int, **over):
    assignments = [assignment(f"ga{i}") for i in range(n_ga)]
    assignments += [assignment("ua", USER_ADMIN)]
    datasets = dict(roleAssignments=ok(assignments))
    datasets.update(over)
    return snapshot(**datasets)


def test_ga_pass_between_two_and_four() -> None:
    for n in (2, 3, 4):
        r = GA_COUNT.run(_ga_snapshot(n))
        assert r.status is Status.PASS and r.measured == n


def test_ga_fail_too_many_and_too_few() -> None:
    six = GA_COUNT.run(_ga_snapshot(6))
    assert six.status is Status.FAIL and six.measured == 6 and six.evidence.affected_total == 6
    assert GA_COUNT.run(_ga_snapshot(1)).status is Status.FAIL


def test_ga_counts_role_group_members_once() -> None:
    group = assignment("grp", GA, kind="group")
    members = {"grp": [{"id": "ga0", "displayName": "x"}, {"id": "m2", "displayName": "y"}]}
    snap = _ga_snapshot(
        2,
        roleAssignments=ok([assignment("ga0"), assignment("ga1"), group]),
        roleGroupMembers=ok(members),
    )
    r = GA_COUNT.run(snap)
    assert r.measured == 3 and r.status is Status.PASS  # ga0 counted once


def test_ga_unknown_when_group_members_unreadable_and_count_low() -> None:
    group = assignment("grp", GA, kind="group")
    snap = _ga_snapshot(
        2,
        roleAssignments=ok([assignment("ga0"), assignment("ga1"), group]),
        roleGroupMembers=ok({}),
    )
    r = GA_COUNT.run(snap)
    assert r.status is Status.UNKNOWN and "groep" in r.reason


def test_ga_fail_stands_even_with_unreadable_group() -> None:
    group = assignment("grp", GA, kind="group")
    snap = _ga_snapshot(
        5,
        roleAssignments=ok([assignment(f"ga{i}") for i in range(5)] + [group]),
        roleGroupMembers=ok({}),
    )
    assert GA_COUNT.run(snap).status is Status.FAIL


def test_ga_unknown_when_roles_forbidden() -> None:
    r = GA_COUNT.run(_ga_snapshot(6, roleAssignments=failed(DatasetStatus.FORBIDDEN)))
    assert r.status is Status.UNKNOWN and "geen leesrecht" in r.reason
