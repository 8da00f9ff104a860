"""Issue 25, findings 4 and 5: app credentials from every source (applications and service
principals, default and custom app management policies, creation dates) and the permissions
that let an app make itself Global Administrator. Each test is a tenant situation, judged
through the registered checks (all_checks() + check.run)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from m365apk.checks.base import CheckResult, Status
from m365apk.checks.registry import all_checks
from m365apk.snapshot import Dataset, DatasetStatus, Snapshot

from .snapshots import exactly

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SCHOOL = "5c5c5c5c-0000-4000-8000-000000000001"
VENDOR = "7e7e7e7e-0000-4000-8000-000000000002"
GRAPH_SP = "9a9a9a9a-0000-4000-8000-000000000003"
# Microsoft Graph's application-permission ids (permissions reference, Application column).
ROLE_IDS = {
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
    "RoleManagement.ReadWrite.Directory": "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8",
    "AppRoleAssignment.ReadWrite.All": "06b708a9-e830-4db3-a914-8e69da51d44f",
    "UserAuthenticationMethod.ReadWrite.All": "50483e42-d915-4231-9639-7fdb7fd190e5",
}


def snapshot(**datasets: Any) -> Snapshot:
    return exactly(SCHOOL, NOW, **datasets)


def run(check_id: str, s: Snapshot) -> CheckResult:
    (check,) = [c for c in all_checks() if c.id == check_id]
    return check.run(s)


# --- finding 4: every credential source ---------------------------------------------------------


def rule(rtype: str, life: str | None = None, after: str | None = None) -> dict[str, Any]:
    return {
        "restrictionType": rtype,
        "state": "enabled",
        "maxLifetime": life,
        "restrictForAppsCreatedAfterDateTime": after,
        "excludeActors": None,
    }


def strict(after: str | None = None) -> dict[str, Any]:
    """No new secrets, certificates at most 365 days."""
    return {
        "passwordCredentials": [rule("passwordAddition", after=after)],
        "keyCredentials": [rule("asymmetricKeyLifetime", "P365D", after=after)],
    }


def policy_snapshot(
    default: dict[str, Any],
    custom: list[dict[str, Any]] | None = None,
    applies_to: dict[str, list[dict[str, Any]]] | None = None,
    applications: list[dict[str, Any]] | None = None,
) -> Snapshot:
    return snapshot(
        appManagementPolicy={"id": "00000000-0000-0000-0000-000000000000", **default},
        appManagementPolicies=custom or [],
        appManagementPolicyAppliesTo=applies_to or {},
        organization=[{"id": SCHOOL, "createdDateTime": "2019-08-01T10:00:00Z"}],
        applications=applications or [],
    )


def credential(start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {"displayName": "koppeling", "startDateTime": start, "endDateTime": end, **extra}


def test_both_sides_restricted_for_every_app_is_in_order() -> None:
    s = policy_snapshot(
        {
            "isEnabled": True,
            "applicationRestrictions": strict(),
            "servicePrincipalRestrictions": strict(),
        }
    )
    assert run("apps.credential_policy", s).status is Status.PASS


def test_service_principal_restrictions_empty_while_application_restrictions_set() -> None:
    # Graph says "nothing restricted" with empty lists (its documented GET example).
    s = policy_snapshot(
        {
            "isEnabled": True,
            "applicationRestrictions": strict(),
            "servicePrincipalRestrictions": {"passwordCredentials": [], "keyCredentials": []},
        }
    )
    result = run("apps.credential_policy", s)
    assert result.status is Status.PARTIAL
    assert result.measured["geheimen_geblokkeerd"] is True
    assert result.measured["bedrijfsapps_geheimen_geblokkeerd"] is False


def test_service_principal_restrictions_null_while_application_restrictions_set() -> None:
    # A null restriction object is not "no rules" (issue 25): unknown, naming the property.
    s = policy_snapshot(
        {
            "isEnabled": True,
            "applicationRestrictions": strict(),
            "servicePrincipalRestrictions": None,
        }
    )
    result = run("apps.credential_policy", s)
    assert result.status is Status.UNKNOWN
    assert "servicePrincipalRestrictions" in str(result.reason)


def test_restriction_only_for_apps_created_after_2025_with_older_apps() -> None:
    apps = [
        {"id": "old", "displayName": "Rooster (2023)", "createdDateTime": "2023-03-01T08:00:00Z"},
        {"id": "new", "displayName": "Printer (2025)", "createdDateTime": "2025-09-01T08:00:00Z"},
    ]
    s = policy_snapshot(
        {
            "isEnabled": True,
            "applicationRestrictions": strict(after="2025-01-01T00:00:00Z"),
            "servicePrincipalRestrictions": strict(),
        },
        applications=apps,
    )
    result = run("apps.credential_policy", s)
    assert result.status is Status.PARTIAL
    assert result.evidence.counts["app_registraties_van_voor_de_datum"] == 1
    assert [o.id for o in result.evidence.affected] == ["old"]


def test_service_principal_restriction_dated_after_the_tenant_was_created() -> None:
    # Graph v1.0 gives service principals no creation date: older ones may be outside it.
    s = policy_snapshot(
        {
            "isEnabled": True,
            "applicationRestrictions": strict(),
            "servicePrincipalRestrictions": strict(after="2025-01-01T00:00:00Z"),
        }
    )
    assert run("apps.credential_policy", s).status is Status.PARTIAL


def test_custom_app_management_policy_exempting_an_app() -> None:
    exempt = {
        "id": "c1",
        "displayName": "Uitzondering roosterkoppeling",
        "isEnabled": True,
        "restrictions": {"passwordCredentials": [], "keyCredentials": []},
    }
    target = {
        "@odata.type": "#microsoft.graph.application",
        "id": "app-rooster",
        "displayName": "Roosterkoppeling",
        "createdDateTime": "2024-02-01T08:00:00Z",
    }
    s = policy_snapshot(
        {
            "isEnabled": True,
            "applicationRestrictions": strict(),
            "servicePrincipalRestrictions": strict(),
        },
        custom=[exempt],
        applies_to={"c1": [target]},
    )
    result = run("apps.credential_policy", s)
    assert result.status is Status.PARTIAL
    assert [o.id for o in result.evidence.affected] == ["app-rooster"]


def test_custom_policy_switched_off_still_replaces_the_default_for_its_apps() -> None:
    off = {"id": "c2", "displayName": "Oud", "isEnabled": False, "restrictions": strict()}
    target = {"@odata.type": "#microsoft.graph.servicePrincipal", "id": "sp-x"}
    s = policy_snapshot(
        {
            "isEnabled": True,
            "applicationRestrictions": strict(),
            "servicePrincipalRestrictions": strict(),
        },
        custom=[off],
        applies_to={"c2": [target]},
    )
    assert run("apps.credential_policy", s).status is Status.PARTIAL


def test_custom_policies_unreadable_is_never_in_order() -> None:
    s = policy_snapshot(
        {
            "isEnabled": True,
            "applicationRestrictions": strict(),
            "servicePrincipalRestrictions": strict(),
        }
    )
    s.datasets["appManagementPolicies"] = Dataset(
        status=DatasetStatus.FORBIDDEN, endpoint="x", permission="Policy.Read.All"
    )
    assert run("apps.credential_policy", s).status is Status.UNKNOWN


def enterprise_app(**extra: Any) -> dict[str, Any]:
    return {
        "id": "sp-vendor",
        "displayName": "Leerlingvolgsysteem",
        "appOwnerOrganizationId": VENDOR,
        "passwordCredentials": [],
        "keyCredentials": [],
        **extra,
    }


def test_service_principal_with_a_five_year_client_secret() -> None:
    secret = credential("2024-01-10T00:00:00Z", "2029-01-10T00:00:00Z")
    s = snapshot(applications=[], servicePrincipals=[enterprise_app(passwordCredentials=[secret])])
    result = run("apps.long_lived_credentials", s)
    assert result.status is Status.FAIL
    assert [o.id for o in result.evidence.affected] == ["sp-vendor"]


def test_service_principal_with_a_ten_year_certificate() -> None:
    cert = credential("2024-01-10T00:00:00Z", "2034-01-10T00:00:00Z", usage="Verify")
    s = snapshot(applications=[], servicePrincipals=[enterprise_app(keyCredentials=[cert])])
    assert run("apps.long_lived_credentials", s).status is Status.FAIL


def test_saml_signing_certificate_entra_made_is_not_an_app_credential() -> None:
    tag = "QjVFMkYxRTM="
    sign = credential("2025-01-10T00:00:00Z", "2028-01-10T00:00:00Z", usage="Sign")
    verify = credential("2025-01-10T00:00:00Z", "2028-01-10T00:00:00Z", usage="Verify")
    password = credential("2025-01-10T00:00:00Z", "2028-01-10T00:00:00Z")
    sp = enterprise_app(
        keyCredentials=[sign | {"customKeyIdentifier": tag}, verify | {"customKeyIdentifier": tag}],
        passwordCredentials=[password | {"customKeyIdentifier": tag}],
    )
    s = snapshot(applications=[], servicePrincipals=[sp])
    assert run("apps.long_lived_credentials", s).status is Status.PASS


def test_service_principal_whose_credentials_graph_did_not_return_is_unknown() -> None:
    sp = {"id": "sp-vendor", "displayName": "X", "appOwnerOrganizationId": VENDOR}
    s = snapshot(applications=[], servicePrincipals=[sp])
    assert run("apps.long_lived_credentials", s).status is Status.UNKNOWN


# --- finding 5: escalation permissions ----------------------------------------------------------


def apps_snapshot(
    roles: list[str], verified: bool, grants: list[dict[str, Any]] | None = None
) -> Snapshot:
    app = {
        "id": "sp-app",
        "appId": "11111111-0000-4000-8000-000000000004",
        "displayName": "Handige tool",
        "appOwnerOrganizationId": VENDOR,
        "verifiedPublisher": {"displayName": "Leverancier B.V.", "verifiedPublisherId": "1234567"}
        if verified
        else {"displayName": None, "verifiedPublisherId": None},
    }
    graph = {
        "id": GRAPH_SP,
        "appId": "00000003-0000-0000-c000-000000000000",
        "displayName": "Microsoft Graph",
        "appRoles": [{"id": i, "value": v} for v, i in ROLE_IDS.items()],
    }
    assigned = [
        {
            "id": f"a{n}",
            "appRoleId": ROLE_IDS[role],
            "principalId": "sp-app",
            "principalType": "ServicePrincipal",
            "resourceId": GRAPH_SP,
        }
        for n, role in enumerate(roles)
    ]
    return snapshot(
        servicePrincipals=[app],
        resourceServicePrincipals=[graph],
        appRoleAssignedTo={GRAPH_SP: assigned},
        oauth2PermissionGrants=grants or [],
    )


def test_unverified_app_granted_role_management_readwrite_directory() -> None:
    s = apps_snapshot(["RoleManagement.ReadWrite.Directory"], verified=False)
    assert run("apps.high_privilege_consent", s).status is Status.FAIL


def test_unverified_app_granted_app_role_assignment_readwrite_all() -> None:
    s = apps_snapshot(["AppRoleAssignment.ReadWrite.All"], verified=False)
    result = run("apps.high_privilege_consent", s)
    assert result.status is Status.FAIL
    assert result.evidence.counts["met_escalatierechten_zonder_geverifieerde_uitgever"] == 1


def test_unverified_app_granted_user_authentication_method_readwrite_all() -> None:
    s = apps_snapshot(["UserAuthenticationMethod.ReadWrite.All"], verified=False)
    assert run("apps.high_privilege_consent", s).status is Status.FAIL


def test_verified_app_granted_app_role_assignment_readwrite_all_needs_a_look() -> None:
    s = apps_snapshot(["AppRoleAssignment.ReadWrite.All"], verified=True)
    assert run("apps.high_privilege_consent", s).status is Status.PARTIAL


def test_unverified_app_with_only_read_permissions_is_not_listed() -> None:
    s = apps_snapshot(["User.Read.All"], verified=False)
    assert run("apps.high_privilege_consent", s).status is Status.PASS


def test_admin_consented_role_management_for_themself_to_an_unverified_app() -> None:
    grant = {
        "id": "g1",
        "clientId": "sp-app",
        "consentType": "Principal",
        "principalId": "user-admin",
        "resourceId": GRAPH_SP,
        "scope": "openid RoleManagement.ReadWrite.Directory",
    }
    s = apps_snapshot([], verified=False, grants=[grant])
    assert run("apps.high_privilege_consent", s).status is Status.FAIL


def test_tenant_wide_delegated_app_role_assignment_to_an_unverified_app() -> None:
    grant = {
        "id": "g2",
        "clientId": "sp-app",
        "consentType": "AllPrincipals",
        "principalId": None,
        "resourceId": GRAPH_SP,
        "scope": "User.Read AppRoleAssignment.ReadWrite.All",
    }
    s = apps_snapshot([], verified=False, grants=[grant])
    assert run("apps.high_privilege_consent", s).status is Status.FAIL


def test_escalation_permission_known_only_by_its_id_still_counts() -> None:
    # The resource app's appRoles did not name the role: the grant carries only its id.
    s = apps_snapshot(["AppRoleAssignment.ReadWrite.All"], verified=False)
    s.datasets["resourceServicePrincipals"].data[0]["appRoles"] = []
    assert run("apps.high_privilege_consent", s).status is Status.FAIL


# --- the data and the declarations ---------------------------------------------------------------


def test_escalation_permissions_are_cited_data_with_fixed_ids() -> None:
    import re

    from m365apk.checks.reference_data import escalation_permissions

    data = escalation_permissions()
    guid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    assert {
        "RoleManagement.ReadWrite.Directory",
        "AppRoleAssignment.ReadWrite.All",
        "Application.ReadWrite.All",
        "UserAuthenticationMethod.ReadWrite.All",
    } <= set(data)
    assert len({e["id"] for e in data.values()}) == len(data)
    for name, entry in data.items():
        assert guid.match(entry["id"]), name
        assert entry["path"] in ("direct", "indirect", "unknown"), name
        assert entry["why"] and entry["docs"].startswith(
            "https://learn.microsoft.com/graph/permissions-reference#"
        ), name
        assert entry["docs"].endswith(name.lower().replace(".", "")), name
    # The same ids as in tests above, where these were spelled out independently.
    for name, role_id in ROLE_IDS.items():
        if name in data:
            assert data[name]["id"] == role_id


def test_apps_checks_declare_what_they_judge() -> None:
    checks = {c.id: c for c in all_checks()}
    for cid, judged in (
        ("apps.long_lived_credentials", "credentials"),
        ("apps.inventory", "app_permissions"),
        ("apps.high_privilege_consent", "app_permissions"),
    ):
        reads = checks[cid].reads
        assert judged in reads.judges, cid
        assert set(reads.property_map()) <= set(checks[cid].all_datasets), cid
    # The credential policy check judges the rules, not the credentials that exist (those are
    # apps.long_lived_credentials'); user consents judge delegated grants, not app roles an
    # admin granted (apps.high_privilege_consent's). Neither declares more than it judges.
    for cid, not_judged in (
        ("apps.credential_policy", "credentials"),
        ("apps.user_consented_risky", "app_permissions"),
    ):
        reads = checks[cid].reads
        assert not_judged not in reads.judges, cid
        assert set(reads.property_map()) <= set(checks[cid].all_datasets), cid
