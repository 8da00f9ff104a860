"""The SCuBA Entra checks added for coverage: directory switches, PIM role settings and app
credentials, each named after the tenant situation it guards against."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from m365apk.checks import app_credentials, directory, pim
from m365apk.checks.base import Check, Status
from m365apk.checks.evaluate import evaluate
from m365apk.snapshot import Snapshot

from .snapshots import exactly

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
GA = "62e90394-69f5-4237-9190-012177145e10"
# A Global Administrator held directly by a user: every tenant has one.
GA_HOLDER = {
    "id": "a-ga",
    "principalId": "u-ga",
    "roleDefinitionId": "62e90394-69f5-4237-9190-012177145e10",
    "principal": {"@odata.type": "#microsoft.graph.user", "id": "u-ga"},
}


def snapshot(**datasets: Any) -> Snapshot:
    return exactly("t", NOW, **datasets)


def status(check: Check, s: Snapshot) -> Status:
    return evaluate(s, [check])[0].status


# --- directory switches ------------------------------------------------------------------------


def test_authorization_policy_answered_as_empty_object_is_unknown_not_the_default() -> None:
    s = snapshot(authorizationPolicy={}, sharepointSettings={})
    for check in directory.CHECKS:
        assert status(check, s) is Status.UNKNOWN, check.id


def test_tenant_creation_left_null_is_unknown_not_a_default() -> None:
    """Issue 25 (null is not a setting): a null is not read as Microsoft's default."""
    s = snapshot(
        authorizationPolicy={"defaultUserRolePermissions": {"allowedToCreateTenants": None}}
    )
    assert status(directory.TENANT_CREATION, s) is Status.UNKNOWN
    s = snapshot(
        authorizationPolicy={"defaultUserRolePermissions": {"allowedToCreateTenants": True}}
    )
    assert status(directory.TENANT_CREATION, s) is Status.FAIL


def test_pupils_reading_their_own_bitlocker_keys_fails() -> None:
    perms = {"allowedToReadBitlockerKeysForOwnedDevice": True}
    s = snapshot(authorizationPolicy={"defaultUserRolePermissions": perms})
    assert status(directory.BITLOCKER_KEYS, s) is Status.FAIL


def test_risky_app_consent_null_is_unknown_never_a_pass() -> None:
    """Issue 25: Microsoft documents false as the default, but a null is not a value Graph
    gave; the check is unknown and names the property."""
    s = snapshot(authorizationPolicy={"allowUserConsentForRiskyApps": None})
    assert status(directory.RISKY_APP_CONSENT, s) is Status.UNKNOWN
    s = snapshot(authorizationPolicy={"allowUserConsentForRiskyApps": False})
    assert status(directory.RISKY_APP_CONSENT, s) is Status.PASS
    s = snapshot(authorizationPolicy={"allowUserConsentForRiskyApps": True})
    assert status(directory.RISKY_APP_CONSENT, s) is Status.FAIL


# --- PIM -----------------------------------------------------------------------------------------


def notify(rule_id: str, recipients: list[str]) -> dict[str, Any]:
    return {"id": rule_id, "notificationRecipients": recipients}


def policy_assignment(role: str, approval: bool, recipients: list[str]) -> dict[str, Any]:
    rules = [
        {"id": "Approval_EndUser_Assignment", "setting": {"isApprovalRequired": approval}},
        *(notify(r, recipients) for r in pim.ALERTS),
    ]
    return {"roleDefinitionId": role, "policy": {"rules": rules}}


def all_roles(approval: bool = True, recipients: tuple[str, ...] = ("ict@school.nl",)) -> list:
    return [policy_assignment(r, approval, list(recipients)) for r in pim.HIGHLY_PRIVILEGED]


def test_pim_settings_for_every_highly_privileged_role_pass() -> None:
    s = snapshot(
        roleAssignments=[GA_HOLDER],
        roleEligibilitySchedules=[],
        roleManagementPolicyAssignments=all_roles(),
    )
    assert status(pim.GA_APPROVAL, s) is Status.PASS
    assert status(pim.ALERTS_CHECK, s) is Status.PASS


def test_ga_activation_without_approval_fails() -> None:
    s = snapshot(
        roleAssignments=[GA_HOLDER],
        roleEligibilitySchedules=[],
        roleManagementPolicyAssignments=all_roles(approval=False),
    )
    assert status(pim.GA_APPROVAL, s) is Status.FAIL


def test_pim_answer_without_the_global_administrator_policy_is_unknown() -> None:
    rows = [r for r in all_roles() if r["roleDefinitionId"] != GA]
    s = snapshot(
        roleAssignments=[GA_HOLDER],
        roleEligibilitySchedules=[],
        roleManagementPolicyAssignments=rows,
    )
    assert status(pim.GA_APPROVAL, s) is Status.UNKNOWN
    assert status(pim.ALERTS_CHECK, s) is Status.UNKNOWN


def test_only_microsofts_default_recipients_is_no_alert() -> None:
    s = snapshot(
        roleAssignments=[GA_HOLDER],
        roleEligibilitySchedules=[],
        roleManagementPolicyAssignments=all_roles(recipients=()),
    )
    assert status(pim.ALERTS_CHECK, s) is Status.FAIL


def test_activation_alert_missing_for_exchange_admin_only_is_advice() -> None:
    rows = all_roles()
    exchange = next(r for r in rows if r["roleDefinitionId"].startswith("29232cdf"))
    for rule in exchange["policy"]["rules"]:
        if rule["id"] == "Notification_Admin_EndUser_Assignment":
            rule["notificationRecipients"] = []
    s = snapshot(
        roleAssignments=[GA_HOLDER],
        roleEligibilitySchedules=[],
        roleManagementPolicyAssignments=rows,
    )
    assert status(pim.ALERTS_CHECK, s) is Status.PARTIAL


def test_active_global_admin_assigned_directly_outside_pim_fails() -> None:
    schedules = [
        {
            "id": "1",
            "principalId": "u1",
            "roleDefinitionId": GA,
            "assignmentType": "Assigned",
            "startDateTime": None,
        },
    ]
    s = snapshot(roleAssignmentSchedules=schedules, users=[{"id": "u1", "displayName": "Piet"}])
    assert status(pim.OUTSIDE_PIM, s) is Status.FAIL
    schedules[0]["startDateTime"] = "2025-01-01T00:00:00Z"
    assert status(pim.OUTSIDE_PIM, s) is Status.PASS


# --- app credentials --------------------------------------------------------------------------


def restriction(rtype: str, life: str | None = None, after: str = "2020-01-01T00:00:00Z") -> dict:
    return {
        "restrictionType": rtype,
        "state": "enabled",
        "maxLifetime": life,
        "restrictForAppsCreatedAfterDateTime": after,
    }


def app_policy(enabled: bool, pw: list, keys: list) -> dict[str, Any]:
    return {
        "isEnabled": enabled,
        "applicationRestrictions": {"passwordCredentials": pw, "keyCredentials": keys},
        "servicePrincipalRestrictions": {"passwordCredentials": pw, "keyCredentials": keys},
    }


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            app_policy(
                True,
                [restriction("passwordAddition")],
                [restriction("asymmetricKeyLifetime", "P365D")],
            ),
            Status.PASS,
        ),
        (
            app_policy(
                True,
                [restriction("passwordLifetime", "P180D")],
                [restriction("asymmetricKeyLifetime", "P365D")],
            ),
            Status.PARTIAL,
        ),
        (
            app_policy(
                True,
                [restriction("passwordAddition")],
                [restriction("asymmetricKeyLifetime", "P730D")],
            ),
            Status.PARTIAL,
        ),
        # a restriction that only starts next year does not protect anything yet
        (
            app_policy(
                True,
                [restriction("passwordAddition", after="2027-06-01T00:00:00Z")],
                [restriction("asymmetricKeyLifetime", "P365D")],
            ),
            Status.PARTIAL,
        ),
        (app_policy(False, [restriction("passwordAddition")], []), Status.FAIL),
        ({}, Status.UNKNOWN),
    ],
)
def test_app_credential_policy(policy: dict, expected: Status) -> None:
    s = snapshot(
        appManagementPolicy=policy,
        appManagementPolicies=[],
        appManagementPolicyAppliesTo={},
        # restrictions dated 2020 bind every object of a tenant created in 2021
        organization=[{"id": "t", "createdDateTime": "2021-06-01T00:00:00Z"}],
    )
    assert status(app_credentials.POLICY, s) is expected


def cred(start: str, end: str) -> dict[str, str]:
    return {"displayName": "k", "startDateTime": start, "endDateTime": end}


@pytest.mark.parametrize(
    ("secrets", "certs", "expected"),
    [
        ([cred("2026-06-01T00:00:00Z", "2026-11-28T00:00:00Z")], [], Status.PASS),
        ([cred("2025-06-01T00:00:00Z", "2027-06-01T00:00:00Z")], [], Status.FAIL),
        ([], [cred("2024-01-01T00:00:00Z", "2034-01-01T00:00:00Z")], Status.FAIL),
        ([cred("2023-01-01T00:00:00Z", "2025-01-01T00:00:00Z")], [], Status.PARTIAL),
        ([{"displayName": "k"}], [], Status.FAIL),
    ],
)
def test_existing_app_credentials(secrets: list, certs: list, expected: Status) -> None:
    apps = [
        {
            "id": "a",
            "displayName": "Rooster",
            "passwordCredentials": secrets,
            "keyCredentials": certs,
        }
    ]
    s = snapshot(applications=apps, servicePrincipals=[])
    assert status(app_credentials.EXISTING, s) is expected


def test_durations_as_graph_writes_them() -> None:
    assert app_credentials.parse_duration("P180D").days == 180
    assert app_credentials.parse_duration("P1DT12H").total_seconds() == 36 * 3600
    assert app_credentials.parse_duration("P1Y") is None  # not an Edm.Duration Graph sends


# --- collected through the simulated Graph -------------------------------------------------------


def test_collector_reads_custom_app_policies_their_targets_and_enterprise_app_credentials(
    tmp_path,
) -> None:
    from m365apk.demo.tenant import demo_settings, load_profile

    from .test_catalogue import collect

    s = collect(load_profile("weak", users=40), tmp_path, demo_settings("weak"))
    policies = s.dataset("appManagementPolicies")
    targets = s.dataset("appManagementPolicyAppliesTo")
    assert policies.ok and targets.ok
    (policy,) = policies.data
    assert "appliesTo" not in policy and policy["restrictions"] == {
        "passwordCredentials": [],
        "keyCredentials": [],
    }
    (target,) = targets.data[policy["id"]]
    assert target["@odata.type"] == "#microsoft.graph.application"
    assert target["createdDateTime"]
    rooster = next(
        sp for sp in s.dataset("servicePrincipals").data if sp["displayName"] == "Rooster Sync Tool"
    )
    (secret,) = rooster["passwordCredentials"]
    assert set(secret) <= {
        "keyId",
        "displayName",
        "startDateTime",
        "endDateTime",
        "customKeyIdentifier",
    }  # never the hint or secretText
    result = next(r for r in evaluate(s, [app_credentials.EXISTING]) if r.check_id == EXISTING_ID)
    assert result.status is Status.FAIL
    assert result.evidence.counts["bedrijfsapps"] >= 1


EXISTING_ID = "apps.long_lived_credentials"
