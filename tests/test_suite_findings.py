"""Issue 25: what the generic trust suite (tests/test_trust_suite.py) found in the apps, PIM,
Global Administrator and authentication-methods checks, each as a tenant situation judged
through the registered checks (all_checks() + check.run), never through a helper of the fix.

- A Global Administrator count that passes while no account holding the role can sign in.
- PIM settings and "nothing outside PIM" judged as in order in an answer in which nobody holds
  Global Administrator (Entra refuses to remove the caller's own Global Administrator role, so
  no tenant has none: such an answer is not the directory's).
- App permissions that cannot be named (the resource app's appRoles missing from the answer)
  read as "no permissions"; consent grants without consentType or scope read as harmless.
- A user consenting an app to a scope that lets it make itself Global Administrator.
- A default app-credential policy whose service-principal rules Graph gave as null.
- A reusable Temporary Access Pass whose lifetime Graph did not give, shown as a measured null.
- A backup product whose permissions cannot be named, or whose enabled state is null, called
  broken.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from m365apk.checks.base import CheckResult, Status
from m365apk.checks.registry import all_checks
from m365apk.snapshot import Snapshot

from .snapshots import exactly

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SCHOOL = "5c5c5c5c-0000-4000-8000-000000000001"
VENDOR = "7e7e7e7e-0000-4000-8000-000000000002"
GRAPH_SP = "9a9a9a9a-0000-4000-8000-000000000003"
GRAPH_APP = "00000003-0000-0000-c000-000000000000"
GA = "62e90394-69f5-4237-9190-012177145e10"
HELPDESK = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
HIGHLY_PRIVILEGED = (
    GA,
    "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
    "29232cdf-9323-42fd-ade2-1d097af3e4de",
    "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "158c047a-c907-4556-b7ef-446551a6b5f7",
)
# Microsoft Graph application-permission ids (permissions reference, Application column).
MAIL_READ = "810c84a8-4a9e-49e6-bf7d-12d183f40d01"
MAIL_READWRITE = "e2a3a72e-5f79-4c64-b1b1-878b674786c9"
FILES_READWRITE = "75359482-378d-4052-8f01-80520e7db3cd"
GRAPH_ROLES = {
    MAIL_READ: "Mail.Read",
    MAIL_READWRITE: "Mail.ReadWrite",
    FILES_READWRITE: "Files.ReadWrite.All",
}


def snapshot(**datasets: Any) -> Snapshot:
    return exactly(SCHOOL, NOW, **datasets)


def run(check_id: str, s: Snapshot) -> CheckResult:
    (check,) = [c for c in all_checks() if c.id == check_id]
    return check.run(s)


# --- Global Administrators and PIM --------------------------------------------------------------


def person(uid: str, name: str, enabled: bool | None = True) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.user",
        "id": uid,
        "displayName": name,
        "userPrincipalName": f"{name.lower().replace(' ', '.')}@school.nl",
        "accountEnabled": enabled,
        "userType": "Member",
    }


def holding(p: dict[str, Any], role: str) -> dict[str, Any]:
    return {
        "id": f"a-{p['id']}-{role[:8]}",
        "principalId": p["id"],
        "roleDefinitionId": role,
        "directoryScopeId": "/",
        "principal": p,
    }


def roles_snapshot(people: list[dict[str, Any]], role_of: dict[str, str], **more: Any) -> Snapshot:
    assignments = [holding(p, role_of[p["id"]]) for p in people]
    return snapshot(
        users=people,
        roleAssignments=assignments,
        roleGroupMembers={},
        roleEligibilitySchedules=[],
        pimGroupEligibility={},
        **more,
    )


def test_school_whose_two_global_administrators_are_both_disabled_is_below_the_minimum() -> None:
    # The minimum of two is there so the school is never locked out: two disabled accounts
    # holding the role sign in to nothing.
    people = [person("u-1", "ICT Een", enabled=False), person("u-2", "ICT Twee", enabled=False)]
    result = run("admin.global_admin_count", roles_snapshot(people, {"u-1": GA, "u-2": GA}))
    assert result.status is Status.FAIL
    assert result.reason
    enabled = [person("u-1", "ICT Een"), person("u-2", "ICT Twee")]
    assert (
        run("admin.global_admin_count", roles_snapshot(enabled, {"u-1": GA, "u-2": GA})).status
        is Status.PASS
    )


def test_school_with_no_global_administrator_at_all_fails_with_a_reason() -> None:
    people = [person("u-1", "Helpdesk Een")]
    result = run("admin.global_admin_count", roles_snapshot(people, {"u-1": HELPDESK}))
    assert result.status is Status.FAIL
    assert result.reason  # says why, not a bare fail


def alert_rules(approval: bool) -> list[dict[str, Any]]:
    return [
        {
            "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyApprovalRule",
            "id": "Approval_EndUser_Assignment",
            "setting": {"isApprovalRequired": approval},
        },
        *(
            {
                "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyNotificationRule",
                "id": rule_id,
                "notificationType": "Email",
                "recipientType": "Admin",
                "notificationLevel": "All",
                "isDefaultRecipientsEnabled": True,
                "notificationRecipients": ["security@ict-partner.nl"],
            }
            for rule_id in (
                "Notification_Admin_Admin_Eligibility",
                "Notification_Admin_Admin_Assignment",
                "Notification_Admin_EndUser_Assignment",
            )
        ),
    ]


def pim_snapshot(role_of: dict[str, str]) -> Snapshot:
    """Every highly privileged role's PIM policy as CISA asks (approval, alerts to an added
    recipient); active assignments made through PIM (with a start date)."""
    people = [person(uid, f"Beheerder {uid}") for uid in role_of]
    policies = [
        {
            "id": f"DirectoryRole_x_{role}",
            "scopeId": "/",
            "scopeType": "DirectoryRole",
            "roleDefinitionId": role,
            "policy": {"rules": alert_rules(True)},
        }
        for role in HIGHLY_PRIVILEGED
    ]
    schedules = [
        {
            "id": f"s-{uid}",
            "principalId": uid,
            "roleDefinitionId": role,
            "directoryScopeId": "/",
            "assignmentType": "Assigned",
            "memberType": "Direct",
            "startDateTime": "2026-01-05T08:00:00Z",
        }
        for uid, role in role_of.items()
    ]
    return roles_snapshot(
        people,
        role_of,
        roleManagementPolicyAssignments=policies,
        roleAssignmentSchedules=schedules,
        pimGroupPolicyAssignments={},
    )


def test_pim_settings_in_an_answer_where_nobody_holds_global_administrator_are_not_in_order() -> (
    None
):
    # Graph's answer names only a Helpdesk Administrator: every tenant has a Global
    # Administrator, so which groups hold a role, and which assignments were made outside PIM,
    # is not what this answer shows.
    answer = pim_snapshot({"u-1": HELPDESK})
    for cid in ("admin.pim_ga_approval", "admin.pim_alerts", "admin.pim_outside_assignments"):
        assert run(cid, answer).status is not Status.PASS, cid
    # The same policies with a Global Administrator in the answer are in order.
    complete = pim_snapshot({"u-1": HELPDESK, "u-2": GA})
    for cid in ("admin.pim_ga_approval", "admin.pim_alerts", "admin.pim_outside_assignments"):
        assert run(cid, complete).status is Status.PASS, cid


# --- app permissions ------------------------------------------------------------------------------


def vendor_app(verified: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "id": "sp-vendor",
        "appId": "app-vendor",
        "displayName": "Rooster Plus",
        "appOwnerOrganizationId": VENDOR,
        "accountEnabled": True,
        "servicePrincipalType": "Application",
        "verifiedPublisher": {"verifiedPublisherId": "1234567" if verified else None},
        **extra,
    }


def graph(with_roles: bool = True) -> dict[str, Any]:
    sp: dict[str, Any] = {"id": GRAPH_SP, "appId": GRAPH_APP, "displayName": "Microsoft Graph"}
    if with_roles:
        sp["appRoles"] = [
            {"id": rid, "value": name, "displayName": name} for rid, name in GRAPH_ROLES.items()
        ]
    return sp


def granted(app: dict[str, Any], *role_ids: str) -> dict[str, list[dict[str, Any]]]:
    return {
        GRAPH_SP: [
            {
                "id": f"ra-{app['id']}-{rid[:8]}",
                "appRoleId": rid,
                "principalId": app["id"],
                "principalDisplayName": app["displayName"],
                "principalType": "ServicePrincipal",
                "resourceId": GRAPH_SP,
                "resourceDisplayName": "Microsoft Graph",
                "createdDateTime": "2025-03-01T08:00:00Z",
            }
            for rid in role_ids
        ]
    }


def apps_snapshot(
    apps: list[dict[str, Any]],
    assigned: dict[str, list[dict[str, Any]]] | None = None,
    grants: list[dict[str, Any]] | None = None,
    with_roles: bool = True,
) -> Snapshot:
    return snapshot(
        servicePrincipals=apps,
        resourceServicePrincipals=[graph(with_roles)],
        appRoleAssignedTo=assigned or {},
        oauth2PermissionGrants=grants or [],
    )


def test_unverified_app_reading_all_mail_while_graphs_app_roles_are_missing_is_not_in_order() -> (
    None
):
    # The resource app's appRoles were not in Graph's answer: the app's permission can only be
    # given by id. "No permissions" would be a guess; Mail.Read it is.
    app = vendor_app()
    unnamed = apps_snapshot([app], granted(app, MAIL_READ, MAIL_READWRITE), with_roles=False)
    for cid in ("apps.inventory", "apps.high_privilege_consent"):
        assert run(cid, unnamed).status is Status.UNKNOWN, cid
    named = apps_snapshot([app], granted(app, MAIL_READ, MAIL_READWRITE))
    assert run("apps.inventory", named).status is Status.FAIL
    assert run("apps.high_privilege_consent", named).status is Status.FAIL


def grant(consent: Any, scope: Any, client: str = "sp-vendor") -> dict[str, Any]:
    return {
        "id": f"g-{consent}-{scope}",
        "clientId": client,
        "consentType": consent,
        "principalId": "u-teacher" if consent == "Principal" else None,
        "resourceId": GRAPH_SP,
        "scope": scope,
    }


def test_teacher_consenting_an_app_to_role_management_is_a_risky_user_consent() -> None:
    # RoleManagement.ReadWrite.Directory lets the app, acting as a consenting admin, make
    # itself Global Administrator; consented for everyone to an unverified app, the same.
    for consent, scope in (
        ("Principal", "openid profile RoleManagement.ReadWrite.Directory"),
        ("AllPrincipals", "openid Application.ReadWrite.All"),
    ):
        s = apps_snapshot([vendor_app()], grants=[grant(consent, scope)])
        assert run("apps.user_consented_risky", s).status is Status.FAIL, consent


def test_consent_grants_whose_consent_type_or_scope_graph_left_out_are_not_harmless() -> None:
    for broken in (
        grant(None, "openid Mail.Read"),
        grant("unknownFutureValue", "openid Mail.Read"),
        grant("Principal", None),
    ):
        s = apps_snapshot([vendor_app()], grants=[broken])
        assert run("apps.user_consented_risky", s).status is Status.UNKNOWN, broken
    # A grant of nothing (an empty scope) is harmless.
    s = apps_snapshot([vendor_app()], grants=[grant("Principal", "")])
    assert run("apps.user_consented_risky", s).status is Status.PASS


# --- app credentials -----------------------------------------------------------------------------


def strict() -> dict[str, Any]:
    def rule(rtype: str, life: str | None = None) -> dict[str, Any]:
        return {
            "restrictionType": rtype,
            "state": "enabled",
            "maxLifetime": life,
            "restrictForAppsCreatedAfterDateTime": None,
            "excludeActors": None,
        }

    return {
        "passwordCredentials": [rule("passwordAddition")],
        "keyCredentials": [rule("asymmetricKeyLifetime", "P365D")],
    }


def credentials_snapshot(default: dict[str, Any], apps: list[dict[str, Any]]) -> Snapshot:
    return snapshot(
        appManagementPolicy={"id": "00000000-0000-0000-0000-000000000000", **default},
        appManagementPolicies=[],
        appManagementPolicyAppliesTo={},
        organization=[{"id": SCHOOL, "createdDateTime": "2019-08-01T10:00:00Z"}],
        applications=[],
        servicePrincipals=apps,
    )


def test_default_credential_policy_whose_enterprise_app_rules_graph_gave_as_null_is_unknown() -> (
    None
):
    s = credentials_snapshot(
        {
            "isEnabled": True,
            "applicationRestrictions": strict(),
            "servicePrincipalRestrictions": None,
        },
        [],
    )
    result = run("apps.credential_policy", s)
    assert result.status is Status.UNKNOWN
    assert "servicePrincipalRestrictions" in str(result.reason)


def test_enterprise_app_with_a_ten_year_secret_under_a_strict_policy_is_a_finding() -> None:
    # The policy binds credentials added from now on (Graph enforces it when one is added):
    # the secret that predates it is apps.long_lived_credentials' finding, and the policy check
    # does not claim to judge the credentials that exist.
    start = NOW - timedelta(days=400)
    secret = {
        "keyId": "k-1",
        "displayName": "koppeling leerlingvolgsysteem",
        "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endDateTime": (start + timedelta(days=3650)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    app = vendor_app(passwordCredentials=[secret], keyCredentials=[])
    s = credentials_snapshot(
        {
            "isEnabled": True,
            "applicationRestrictions": strict(),
            "servicePrincipalRestrictions": strict(),
        },
        [app],
    )
    assert run("apps.long_lived_credentials", s).status is Status.FAIL
    (policy,) = [c for c in all_checks() if c.id == "apps.credential_policy"]
    assert "credentials" not in policy.reads.judges


# --- Temporary Access Pass --------------------------------------------------------------------


def test_reusable_temporary_access_pass_without_a_lifetime_in_graphs_answer_shows_no_null() -> None:
    tap = {
        "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration",
        "id": "TemporaryAccessPass",
        "state": "enabled",
        "isUsableOnce": False,
        "defaultLifetimeInMinutes": 60,
        "includeTargets": [{"targetType": "group", "id": "all_users"}],
        "excludeTargets": [],
    }
    s = snapshot(
        authenticationMethodsPolicy={
            "id": "authenticationMethodsPolicy",
            "authenticationMethodConfigurations": [tap],
        }
    )
    result = run("mfa.temporary_access_pass", s)
    assert result.status is Status.FAIL  # a reusable pass is measured
    assert "null" not in json.dumps(result.measured)
    assert "maximumLifetimeInMinutes" in str(result.reason)


# --- back-up product ------------------------------------------------------------------------------


def test_backup_product_whose_permissions_graph_could_not_name_is_not_called_broken() -> None:
    product = {
        "id": "sp-veeam",
        "appId": "app-veeam",
        "displayName": "Veeam Backup for Microsoft 365",
        "appOwnerOrganizationId": VENDOR,
        "accountEnabled": True,
    }
    rights = granted(product, MAIL_READ, FILES_READWRITE)
    unnamed = snapshot(
        servicePrincipals=[product],
        resourceServicePrincipals=[graph(with_roles=False)],
        appRoleAssignedTo=rights,
    )
    assert run("backup.third_party_product", unnamed).status is Status.UNKNOWN
    state_unknown = snapshot(
        servicePrincipals=[{**product, "accountEnabled": None}],
        resourceServicePrincipals=[graph()],
        appRoleAssignedTo=rights,
    )
    assert run("backup.third_party_product", state_unknown).status is Status.UNKNOWN
    named = snapshot(
        servicePrincipals=[product],
        resourceServicePrincipals=[graph()],
        appRoleAssignedTo=rights,
    )
    assert run("backup.third_party_product", named).status is Status.PASS


def test_default_credential_policy_rule_in_a_state_graph_added_since_is_not_read_as_off() -> None:
    rules = strict()
    rules["passwordCredentials"][0]["state"] = "unknownFutureValue"
    s = credentials_snapshot(
        {
            "isEnabled": True,
            "applicationRestrictions": rules,
            "servicePrincipalRestrictions": strict(),
        },
        [],
    )
    result = run("apps.credential_policy", s)
    assert result.status is Status.UNKNOWN
    assert "passwordAddition" in str(result.reason)


def test_admin_whose_licence_is_missing_from_subscribed_skus_is_not_a_separate_account() -> None:
    """An empty or short subscribedSkus answer: the admin's licence plans are unknown, so whether
    the admin account has a mailbox is too (it was a pass: "no mailbox plan found")."""
    from .snapshots import FACULTY, assignment, user

    admin = user("adm1", "staff")
    assert admin["assignedLicenses"] == [{"skuId": FACULTY}]
    snap = snapshot(
        users=[admin, user("adm2", "other")],
        subscribedSkus=[],  # the faculty licence the admin holds is not listed
        roleAssignments=[assignment("adm1"), assignment("adm2")],
        roleGroupMembers={},
    )
    check = next(c for c in all_checks() if c.id == "admin.separate_admin_accounts")
    assert check.run(snap).status is not Status.PASS
