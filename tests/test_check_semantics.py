"""Issue 13: each check judged as Graph really behaves. One test per real-tenant situation that
gave a wrong verdict, named after that situation, asserting the exact status.

Snapshots are small and built by hand with Graph's field names (tests/snapshots.py); the clock
is the snapshot's collection time (2026-11-01), never the wall clock.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from m365apk.checks import admin_hygiene, audit, backup, devices, password, surface
from m365apk.checks.base import Status
from m365apk.checks.common import PRIVILEGED_ROLES, privileged_holders
from m365apk.checks.methods_migration import MIGRATION
from m365apk.checks.mfa_enforcement import WEAK_METHODS
from m365apk.checks.reference_data import os_support, stale_reference_data
from m365apk.mappings.loader import load_mappings
from m365apk.snapshot import DatasetStatus

from .snapshots import FACULTY, GA, assignment, failed, ok, snapshot, user

NOW = "2026-11-01T08:00:00Z"
TENANT = "00000000-0000-0000-0000-000000000001"
P1_SKU = "078d2b04-f1bd-4111-bbd4-b4b1b354cef4"
EXO_PLAN = "9aaf7827-d63c-4b61-89c3-182f06f82e5c"
SKUS = [
    {
        "skuId": FACULTY,
        "skuPartNumber": "STANDARDWOFFPACK_FACULTY",
        "capabilityStatus": "Enabled",
        "servicePlans": [
            {"servicePlanId": EXO_PLAN, "servicePlanName": "EXCHANGE_S_STANDARD"},
            {
                "servicePlanId": "0a4983bb-d3e5-4a09-95d8-b2d0127b3df5",
                "servicePlanName": "SHAREPOINTSTANDARD_EDU",
            },
        ],
    },
    {
        "skuId": P1_SKU,
        "skuPartNumber": "AAD_PREMIUM",
        "capabilityStatus": "Enabled",
        "servicePlans": [
            {
                "servicePlanId": "41781fb2-bc02-4b7c-bd55-b576c07bb09d",
                "servicePlanName": "AAD_PREMIUM",
            },
            {
                "servicePlanId": "113feb6c-3fe4-4440-bddc-54d774bf0318",
                "servicePlanName": "EXCHANGE_S_FOUNDATION",
            },
        ],
    },
]


def staff(n: int) -> list[dict]:
    return [user(f"s{i}", "staff") for i in range(n)]


# --- 1. SSPR --------------------------------------------------------------------------------


def test_sspr_disabled_by_policy_but_methods_registered_is_not_capable() -> None:
    people = staff(10)
    rows = [
        {"id": u["id"], "userType": "member", "isSsprRegistered": True, "isSsprEnabled": False}
        | {"isSsprCapable": False}
        for u in people
    ]
    s = snapshot(users=ok(people), userRegistrationDetails=ok(rows))
    assert password.SSPR.run(s).status is Status.FAIL


# --- 2. Intune marks devices without a policy compliant ---------------------------------------


def _devices(state: str = "compliant", os: str = "Windows", version: str = "10.0.26100.1") -> list:
    return [
        {"id": f"d{i}", "deviceName": f"LT-{i}", "operatingSystem": os, "osVersion": version}
        | {"complianceState": state, "isEncrypted": True}
        for i in range(20)
    ]


def test_all_devices_compliant_because_no_policy_exists_cannot_pass() -> None:
    s = snapshot(
        managedDevices=ok(_devices()),
        deviceManagementSettings=ok({"settings": {"secureByDefault": False}}),
    )
    result = devices.COMPLIANCE.run(s)
    assert result.status is Status.PARTIAL
    assert "zonder nalevingsbeleid" in (result.reason or "")


def test_compliance_setting_not_returned_is_unknown() -> None:
    s = snapshot(managedDevices=ok(_devices()), deviceManagementSettings=ok({"settings": None}))
    assert devices.COMPLIANCE.run(s).status is Status.UNKNOWN


def test_all_devices_compliant_with_secure_by_default_passes() -> None:
    s = snapshot(
        managedDevices=ok(_devices()),
        deviceManagementSettings=ok({"settings": {"secureByDefault": True}}),
    )
    assert devices.COMPLIANCE.run(s).status is Status.PASS


# --- 3. Policies assigned to no one --------------------------------------------------------


def _win_policy(assignments: list) -> dict:
    return {
        "@odata.type": "#microsoft.graph.windows10CompliancePolicy",
        "id": "p1",
        "displayName": "Windows basis",
        "bitLockerEnabled": True,
        "defenderEnabled": True,
        "assignments": assignments,
    }


ALL_USERS = {
    "id": "a",
    "target": {"@odata.type": "#microsoft.graph.allLicensedUsersAssignmentTarget"},
}
ONLY_EXCLUDED = {
    "id": "x",
    "target": {"@odata.type": "#microsoft.graph.exclusionGroupAssignmentTarget", "groupId": "g"},
}


def _defender_profile(assignments: list[dict[str, Any]]) -> dict[str, Any]:
    """Defender real-time protection in v1.0 lives in the Windows device-restrictions profile
    (windows10CompliancePolicy's antivirus fields are beta only)."""
    return {
        "@odata.type": "#microsoft.graph.windows10GeneralConfiguration",
        "id": "d",
        "displayName": "Windows - Defender",
        "defenderRequireRealTimeMonitoring": True,
        "assignments": assignments,
    }


def test_encryption_policy_assigned_to_no_one_fails() -> None:
    for assignments in ([], [ONLY_EXCLUDED]):
        s = snapshot(
            deviceCompliancePolicies=ok([_win_policy(assignments)]),
            deviceConfigurations=ok([_defender_profile(assignments)]),
        )
        assert devices.ENCRYPTION_REQUIRED.run(s).status is Status.FAIL
        assert devices.ANTIVIRUS.run(s).status is Status.FAIL
    s = snapshot(
        deviceCompliancePolicies=ok([_win_policy([ALL_USERS])]),
        deviceConfigurations=ok([_defender_profile([ALL_USERS])]),
    )
    assert devices.ENCRYPTION_REQUIRED.run(s).status is Status.PASS
    assert devices.ANTIVIRUS.run(s).status is Status.PASS


def test_update_ring_assigned_to_no_one_fails() -> None:
    ring = {
        "@odata.type": "#microsoft.graph.windowsUpdateForBusinessConfiguration",
        "id": "r1",
        "displayName": "Ring",
        "qualityUpdatesDeferralPeriodInDays": 3,
        "assignments": [],
    }
    assert devices.UPDATE_RINGS.run(snapshot(deviceConfigurations=ok([ring]))).status is (
        Status.FAIL
    )
    ring["assignments"] = [ALL_USERS]
    assert devices.UPDATE_RINGS.run(snapshot(deviceConfigurations=ok([ring]))).status is (
        Status.PASS
    )


# --- 4. Outdated OS on every platform we count -------------------------------------------


def test_nineteen_android_9_tablets_and_one_windows_10_laptop_fail() -> None:
    fleet = _devices(os="Android", version="9")[:19] + _devices(version="10.0.19045.5131")[:1]
    for i, d in enumerate(fleet):
        d["id"] = f"x{i}"
    result = devices.OUTDATED.run(snapshot(managedDevices=ok(fleet)))
    assert result.status is Status.FAIL
    assert result.evidence.counts["verouderd"] == 20


def test_windows_11_23h2_is_outdated_after_10_november_2026() -> None:
    before = snapshot(managedDevices=ok(_devices(version="10.0.22631.4602")))
    assert devices.OUTDATED.run(before).status is Status.PASS  # collected 1 Nov 2026
    after = before.model_copy(update={"collected_at": before.collected_at.replace(day=11)})
    assert devices.OUTDATED.run(after).status is Status.FAIL


def test_chromebooks_are_left_out_and_said() -> None:
    fleet = _devices(os="ChromeOS", version="120.0")[:10] + _devices()[:10]
    for i, d in enumerate(fleet):
        d["id"] = f"c{i}"
    result = devices.OUTDATED.run(snapshot(managedDevices=ok(fleet)))
    assert result.status is Status.PASS
    assert result.evidence.counts == {
        "apparaten": 20,
        "beoordeeld": 10,
        "niet_beoordeeld": 10,
        "verouderd": 0,
    }
    assert "ChromeOS" in (result.reason or "")


# --- 5. Legacy sign-ins over the whole window -------------------------------------------------


def test_legacy_smtp_sign_in_three_weeks_ago_fails() -> None:
    events = [
        {
            "id": "e1",
            "createdDateTime": "2026-10-10T07:00:00Z",
            "userId": "printer",
            "userPrincipalName": "printer@school.nl",
            "clientAppUsed": "Authenticated SMTP",
            "status": {"errorCode": 0},
        }
    ]
    result = audit.LEGACY_SIGNINS.run(snapshot(legacySignIns=ok(events)))
    assert result.status is Status.FAIL
    assert "2026-10-02 t/m 2026-11-01" in (result.reason or "")


def test_no_legacy_sign_ins_in_the_window_passes_and_names_it() -> None:
    old = {
        "id": "e0",
        "createdDateTime": "2026-09-01T07:00:00Z",  # outside the 30 days: not counted
        "clientAppUsed": "IMAP4",
        "status": {"errorCode": 0},
    }
    result = audit.LEGACY_SIGNINS.run(snapshot(legacySignIns=ok([old])))
    assert result.status is Status.PASS
    assert "Gemeten over 2026-10-02 t/m 2026-11-01" in (result.reason or "")


def test_legacy_sign_ins_are_read_over_the_window_server_side() -> None:
    from datetime import UTC, datetime

    from m365apk.scanner.datasets import DATASETS, at_time

    spec = at_time(DATASETS["legacySignIns"], datetime(2026, 11, 1, tzinfo=UTC))
    assert spec.filter is not None
    assert spec.filter.startswith("createdDateTime ge 2026-10-02T00:00:00Z and (")
    assert "clientAppUsed eq 'Authenticated SMTP'" in spec.filter
    assert spec.max_pages and spec.max_pages > 1


# --- 6 and 13. Back-up coverage ---------------------------------------------------------------


def _m365(protected: int) -> dict:
    return {
        "backupRestore": ok({"serviceStatus": {"status": "enabled"}}),
        "protectionPolicies": ok(
            [
                {
                    "@odata.type": f"#microsoft.graph.{k}ProtectionPolicy",
                    "id": k,
                    "displayName": k,
                    "status": "active",
                    "isEnabled": True,
                    "protectionPolicyArtifactCount": {"total": protected, "failed": 0},
                }
                for k in ("exchange", "oneDriveForBusiness", "sharePoint")
            ]
        ),
        "groups": ok([{"id": "g1", "groupTypes": ["Unified"]}]),
        "subscribedSkus": ok(SKUS),
        "users": ok(staff(40)),
    }


def test_microsoft_365_backup_protecting_one_mailbox_fails() -> None:
    s = snapshot(**_m365(1))
    assert backup.EXCHANGE.run(s).status is Status.FAIL
    assert backup.COVERAGE.run(s).status is Status.FAIL
    assert backup.EXCHANGE.run(s).measured["beschermd"] == 1


def test_microsoft_365_backup_protecting_every_mailbox_passes() -> None:
    s = snapshot(**_m365(40))
    assert backup.EXCHANGE.run(s).status is Status.PASS
    assert backup.COVERAGE.run(s).status is Status.PASS


def _keepit(enabled: bool = True) -> dict:
    roles = [
        {"id": "r-mail", "value": "full_access_as_app"},
        {"id": "r-f", "value": "Files.Read.All"},
    ]
    return {
        "servicePrincipals": ok(
            [{"id": "kp", "displayName": "Keepit Backup", "accountEnabled": enabled}]
        ),
        "resourceServicePrincipals": ok([{"id": "graph", "appRoles": roles}]),
        "appRoleAssignedTo": ok(
            {
                "graph": [
                    {"id": "1", "appRoleId": "r-mail", "principalId": "kp", "resourceId": "graph"},
                    {"id": "2", "appRoleId": "r-f", "principalId": "kp", "resourceId": "graph"},
                ]
            }
        ),
    }


def test_third_party_backup_with_rights_is_present_coverage_not_established() -> None:
    s = snapshot(**_keepit(), users=ok(staff(3)))
    result = backup.COVERAGE.run(s)
    assert result.status is Status.UNKNOWN
    assert "dekking niet vast te stellen" in (result.reason or "")


def test_backup_api_403_with_third_party_found_is_still_judged() -> None:
    refused = failed(DatasetStatus.FORBIDDEN)
    s = snapshot(
        **_keepit(),
        users=ok(staff(3)),
        backupRestore=refused,
        protectionPolicies=refused,
    )
    # Not "unknown because a dataset is missing": the product is seen, so the verdict is the
    # product's (present, coverage not established), and the 403 is named.
    result = backup.COVERAGE.run(s)
    assert result.status is Status.UNKNOWN
    assert "Keepit" in (result.reason or "")
    assert "Niet gelezen: Microsoft 365 Backup" in (result.reason or "")
    s.datasets["servicePrincipals"].data[0]["accountEnabled"] = True
    s.datasets["appRoleAssignedTo"].data["graph"].pop(0)  # no mail rights: mail is missing
    assert backup.COVERAGE.run(s).status is Status.FAIL


# --- 7. Tenant-wide delegated grants ----------------------------------------------------------


def test_unverified_app_with_admin_consented_mail_readwrite_for_all_users_fails() -> None:
    sp = {"id": "sp1", "appId": "app1", "displayName": "Handige Mailtool"}
    s = snapshot(
        servicePrincipals=ok([sp]),
        resourceServicePrincipals=ok([]),
        appRoleAssignedTo=ok({}),
        oauth2PermissionGrants=ok(
            [
                {
                    "id": "g1",
                    "clientId": "sp1",
                    "consentType": "AllPrincipals",
                    "resourceId": "graph",
                    "scope": "openid Mail.ReadWrite Files.ReadWrite.All",
                }
            ]
        ),
    )
    assert surface.INVENTORY.run(s).status is Status.FAIL
    assert surface.HIGH_PRIVILEGE.run(s).status is Status.FAIL
    assert surface.USER_CONSENTS.run(s).status is Status.FAIL


# --- 8. No Password Rule Settings object ------------------------------------------------------


def test_no_password_rule_settings_object_means_no_custom_list_fail() -> None:
    s = snapshot(groupSettings=ok([]))
    assert password.BANNED.run(s).status is Status.FAIL


# --- 9. Privileged roles from Microsoft's label -----------------------------------------------


def test_partner_tier2_and_security_operator_holders_are_admins() -> None:
    for role in ("e00e864a-17c5-4a4b-9c06-f5b95a8d5bd8", "5f2222b1-57c3-48ba-8ad5-d4759f1fde6f"):
        s = snapshot(users=ok([user("p")]), roleAssignments=ok([assignment("p", role)]))
        assert "p" in privileged_holders(s), role
    assert "0526716b-113d-4c15-b2c8-68e3c22b9f80" in PRIVILEGED_ROLES  # auth. policy admin
    assert GA in PRIVILEGED_ROLES


# --- 10. Weak methods before the migration is complete ---------------------------------------


def _methods(state: str | None) -> dict:
    return {
        "policyMigrationState": state,
        "authenticationMethodConfigurations": [
            {"id": "Sms", "state": "disabled"},
            {"id": "Voice", "state": "disabled"},
            {"id": "Email", "state": "disabled"},
        ],
    }


def test_sms_off_in_new_policy_before_migration_is_at_best_partial() -> None:
    s = snapshot(authenticationMethodsPolicy=ok(_methods("preMigration")))
    assert WEAK_METHODS.run(s).status is Status.PARTIAL
    assert MIGRATION.run(s).status is Status.FAIL
    s = snapshot(authenticationMethodsPolicy=ok(_methods("migrationInProgress")))
    assert MIGRATION.run(s).status is Status.PARTIAL
    s = snapshot(authenticationMethodsPolicy=ok(_methods("migrationComplete")))
    assert WEAK_METHODS.run(s).status is Status.PASS
    assert MIGRATION.run(s).status is Status.PASS


# --- 11. Admins licensed with Entra ID P1 only ------------------------------------------------


def test_admin_with_only_entra_p1_has_no_mailbox() -> None:
    admin = user("adm", kind="none") | {"assignedLicenses": [{"skuId": P1_SKU}]}
    s = snapshot(
        users=ok([admin]), subscribedSkus=ok(SKUS), roleAssignments=ok([assignment("adm")])
    )
    assert admin_hygiene.SEPARATE.run(s).status is Status.PASS


def test_admin_with_exchange_plan_disabled_has_no_mailbox() -> None:
    admin = user("adm") | {"assignedLicenses": [{"skuId": FACULTY, "disabledPlans": [EXO_PLAN]}]}
    s = snapshot(
        users=ok([admin]), subscribedSkus=ok(SKUS), roleAssignments=ok([assignment("adm")])
    )
    assert admin_hygiene.SEPARATE.run(s).status is Status.PASS
    admin["assignedLicenses"][0]["disabledPlans"] = []
    assert admin_hygiene.SEPARATE.run(s).status is Status.FAIL


# --- 12. The scanner's own app and the school's own apps --------------------------------------


def _apps_snapshot(*sps: dict) -> object:
    roles = [{"id": "r-dir", "value": "Directory.Read.All"}]
    return snapshot(
        servicePrincipals=ok(list(sps)),
        resourceServicePrincipals=ok([{"id": "graph", "appRoles": roles}]),
        appRoleAssignedTo=ok(
            {
                "graph": [
                    {"id": s["id"], "appRoleId": "r-dir", "principalId": s["id"]}
                    | {"resourceId": "graph"}
                    for s in sps
                ]
            }
        ),
        oauth2PermissionGrants=ok([]),
    )


def test_scanner_app_and_own_single_tenant_app_are_listed_not_failed() -> None:
    scanner = {"id": "sp-scan", "appId": "scan-app", "displayName": "m365apk scanner"}
    own = {"id": "sp-own", "appId": "own", "displayName": "Roosterkoppeling"}
    own["appOwnerOrganizationId"] = TENANT
    s = _apps_snapshot(scanner, own)
    s.tool.app_id = "scan-app"
    result = surface.INVENTORY.run(s)
    assert result.status is Status.PASS
    details = {o.display_name: o.detail for o in result.evidence.affected}
    assert details["m365apk scanner"].startswith("deze scan")
    assert details["Roosterkoppeling"].startswith("eigen app")
    stranger = {"id": "sp-x", "appId": "x", "displayName": "Onbekend"}
    assert surface.INVENTORY.run(_apps_snapshot(stranger)).status is Status.FAIL


# --- 14. Autumn intake ------------------------------------------------------------------------


def test_pupils_created_last_month_who_never_signed_in_are_not_stale() -> None:
    intake = {"createdDateTime": "2026-10-01T08:00:00Z"}
    pupils = [user(f"p{i}", "student") | intake for i in range(50)]
    veteran = user("v", "staff") | {"createdDateTime": "2020-01-01T08:00:00Z"}
    activity = [{"id": "v", "signInActivity": {"lastSuccessfulSignInDateTime": NOW}}]
    s = snapshot(users=ok([*pupils, veteran]), userSignInActivity=ok(activity))
    result = surface.STALE_ACCOUNTS.run(s)
    assert result.status is Status.PASS
    assert result.evidence.counts["jonger_dan_90_dagen"] == 50


def test_sign_in_times_without_an_offset_are_utc_not_a_failed_check() -> None:
    # Graph writes UTC with `Z`; a timestamp without an offset (a proxy or export that drops
    # it) must still compare with the scan's time, not make the check itself fail.
    old = {"createdDateTime": "2020-01-01T08:00:00"}
    people = [user(f"u{i}", "staff") | old for i in range(10)]
    activity = [
        {"id": f"u{i}", "signInActivity": {"lastSuccessfulSignInDateTime": "2021-03-01T08:00:00"}}
        for i in range(10)
    ]
    s = snapshot(users=ok(people), userSignInActivity=ok(activity))
    result = surface.STALE_ACCOUNTS.run(s)
    assert result.status is Status.FAIL, result.reason
    assert result.evidence.counts["ongebruikt_90_dagen"] == 10


def test_parse_time_reads_graph_stamps_and_refuses_what_is_no_time() -> None:
    from datetime import UTC, datetime

    from m365apk.checks.common import parse_time

    assert parse_time("2026-11-01T08:00:00.1234567Z") == datetime(
        2026, 11, 1, 8, 0, 0, 123456, tzinfo=UTC
    )
    assert parse_time("2026-11-01T08:00:00") == datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert parse_time("2026-11-01T10:00:00+02:00") == datetime(2026, 11, 1, 8, tzinfo=UTC)
    for nothing in (None, "", "gisteren", 20261101):
        assert parse_time(nothing) is None  # type: ignore[arg-type]


# --- 15. Subdomains and hybrid ----------------------------------------------------------------


def _domain(name: str, days: int | None, root: bool) -> dict:
    return {
        "id": name,
        "authenticationType": "Managed",
        "isVerified": True,
        "isRoot": root,
        "passwordValidityPeriodInDays": days,
    }


def test_verified_subdomain_with_null_inherits_root_never_expires() -> None:
    domains = [_domain("school.nl", 2147483647, True), _domain("leerling.school.nl", None, False)]
    s = snapshot(domains=ok(domains), organization=ok([{"id": TENANT}]))
    assert password.EXPIRY.run(s).status is Status.PASS


def test_hybrid_tenant_says_the_verdict_covers_cloud_only_accounts() -> None:
    s = snapshot(
        domains=ok([_domain("school.nl", 2147483647, True)]),
        organization=ok([{"id": TENANT, "onPremisesSyncEnabled": True}]),
    )
    result = password.EXPIRY.run(s)
    assert result.status is Status.PASS
    assert "lokale Active Directory" in (result.reason or "")


# --- 17. Secure Score: compare like with like -------------------------------------------------


def _score(current: float, maximum: float, average: float) -> object:
    return snapshot(
        secureScores=ok(
            [
                {
                    "id": "s",
                    "currentScore": current,
                    "maxScore": maximum,
                    "averageComparativeScores": [{"basis": "AllTenants", "averageScore": average}],
                }
            ]
        )
    )


def test_average_in_points_above_100_is_compared_as_points() -> None:
    # Microsoft's example: average 109 against a maximum of 697 (15.6%). 140 points = 20%.
    assert surface.SECURE_SCORE.run(_score(140, 697, 109)).status is Status.PASS
    assert surface.SECURE_SCORE.run(_score(20, 697, 109)).status is Status.FAIL


def test_average_whose_unit_decides_the_verdict_is_unknown() -> None:
    # 30% of the maximum: above 37 points (5.3%), below 37 percent.
    result = surface.SECURE_SCORE.run(_score(209, 697, 37))
    assert result.status is Status.UNKNOWN
    assert "niet" in (result.reason or "")


# --- 18. Logs measure activity ----------------------------------------------------------------


def test_empty_audit_log_in_a_holiday_is_worded_as_activity() -> None:
    result = audit.DIRECTORY_AUDIT.run(snapshot(directoryAudits=ok([])))
    assert result.status is Status.FAIL
    assert "vakantie" in (result.reason or "")
    assert "niets vastgelegd" not in (result.reason or "")


def test_legacy_auth_text_names_smtp_auth_as_what_remains() -> None:
    events = [
        {
            "id": "e",
            "createdDateTime": NOW,
            "clientAppUsed": "Authenticated SMTP",
            "status": {"errorCode": 0},
        }
    ]
    reason = audit.LEGACY_SIGNINS.run(snapshot(legacySignIns=ok(events))).reason or ""
    assert "SMTP AUTH is wat overblijft" in reason


# --- 19. Mappings that hold -------------------------------------------------------------------


def test_mappings_follow_what_each_check_measures() -> None:
    assert 3 not in surface.RISKY_USERS.basismaatregelen
    assert set(surface.RISKY_USERS.basismaatregelen) == {10, 4}
    assert "GO.02" not in surface.HIGH_PRIVILEGE.norms
    assert all(9 not in c.basismaatregelen for c in password.CHECKS if c.id.startswith("password"))
    from m365apk.checks.admin_roles import GA_COUNT

    assert "ID.05" not in GA_COUNT.norms and "ID.01" in GA_COUNT.norms
    m365 = (backup.EXCHANGE, backup.ONEDRIVE, backup.SHAREPOINT)
    assert all("BC.03" not in c.norms for c in m365)
    load_mappings()  # every norm id still exists


# --- Acceptance 2: data that ages says so -----------------------------------------------------


def test_reference_data_older_than_its_stated_age_is_reported() -> None:
    assert stale_reference_data(date(2026, 12, 1)) == []
    later = stale_reference_data(date(2027, 9, 1))
    assert {s.file for s in later} == {
        "privileged_roles.yaml",
        "os_support.yaml",
        "escalation_permissions.yaml",
    }
    assert all(
        f"bijgewerkt {'2026-12-07' if s.file.startswith('escalation') else '2026-11-27'}"
        in s.message
        for s in later
    )
    assert os_support()["platforms"]["windows"]["source"].startswith("https://learn.microsoft")


def test_doctor_and_report_appendix_warn_when_reference_data_is_stale() -> None:
    from m365apk.checks.evaluate import evaluate
    from m365apk.reports.html import render_html
    from m365apk.reports.model import build_report
    from m365apk.runs.setup import reference_data_warnings

    assert reference_data_warnings(date(2026, 12, 1)) == []
    assert len(reference_data_warnings(date(2027, 9, 1))) == 3

    checks = [password.BANNED]
    fresh = snapshot(groupSettings=ok([]))
    report = build_report(fresh, checks, evaluate(fresh, checks))
    assert report.reference_data_warnings == []
    old = fresh.model_copy(update={"collected_at": fresh.collected_at.replace(year=2027, month=9)})
    report = build_report(old, checks, evaluate(old, checks))
    assert len(report.reference_data_warnings) == 3
    html = render_html(report)
    assert "privileged_roles.yaml" in html and "os_support.yaml" in html
