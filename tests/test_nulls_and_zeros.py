"""Issue 25, findings 8, 9 and 10: zero is not everything, null is not a setting, and one
missing property does not reject a whole dataset. Each test is a tenant situation, run through
the public checks (`all_checks()` + `check.run(snapshot)`) or the Graph client's contracts.

Microsoft's documented example answers are quoted from microsoft-graph-docs-contrib
(api-reference/v1.0/api/domain-list.md, sharepointsettings-get.md,
intune-deviceconfig-devicemanagement-get.md), as Microsoft publishes them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import respx

from m365apk.checks.base import Status
from m365apk.checks.registry import all_checks
from m365apk.scanner.datasets import DATASETS
from m365apk.scanner.graph import GraphClient
from m365apk.snapshot import Dataset

from .snapshots import FACULTY, SKUS, ok, registration, snapshot, user

BASE = "https://graph.microsoft.com/v1.0"
CHECKS = {c.id: c for c in all_checks()}


def run(check_id: str, **datasets: Dataset):
    return CHECKS[check_id].run(snapshot(**datasets))


def staff(n: int, **fields: Any) -> list[dict]:
    out = []
    for i in range(n):
        u = user(f"t{i}")
        u.update(fields)
        out.append(u)
    return out


AUTHZ: dict[str, Any] = {
    "id": "authorizationPolicy",
    "allowInvitesFrom": "adminsAndGuestInviters",
    "allowedToSignUpEmailBasedSubscriptions": False,
    "allowedToUseSSPR": False,
    "allowEmailVerifiedUsersToJoinOrganization": False,
    "allowUserConsentForRiskyApps": False,
    "guestUserRoleId": "2af84b1e-32c8-42b7-82bc-daa82404023b",
    "defaultUserRolePermissions": {
        "allowedToCreateApps": False,
        "allowedToCreateTenants": False,
        "allowedToReadBitlockerKeysForOwnedDevice": False,
        "permissionGrantPoliciesAssigned": [],
    },
}


def authz(**changes: Any) -> Dataset:
    return ok({**AUTHZ, **changes})


# --- finding 8: zero is not everything ------------------------------------------------------

# A faculty licence whose mailbox plan is one Microsoft added after mappings/service_plans.yaml.
NEW_PLAN_SKUS = [
    {
        "skuId": FACULTY,
        "skuPartNumber": "STANDARDWOFFPACK_FACULTY",
        "capabilityStatus": "Enabled",
        "servicePlans": [
            {"servicePlanId": "p-new", "servicePlanName": "EXCHANGE_S_STANDARD_EDU_2027"},
            {"servicePlanId": "p-spo", "servicePlanName": "SHAREPOINTSTANDARD_EDU"},
        ],
    }
]


def _backup(protected: int, skus: list[dict], users: list[dict]) -> dict[str, Dataset]:
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
        "subscribedSkus": ok(skus),
        "users": ok(users),
    }


def test_backup_policy_covering_0_of_0_mailboxes_because_the_mailbox_plan_is_unknown() -> None:
    """40 teachers whose mailbox plan the mapping does not know: the mailbox population is
    empty, and an active policy protecting nothing read as 0 of 0 = 100%: a pass."""
    datasets = _backup(0, NEW_PLAN_SKUS, staff(40))
    exchange = run("backup.m365_exchange", **datasets)
    assert exchange.status is Status.UNKNOWN, exchange
    assert "40" in exchange.reason and "100%" in exchange.reason
    assert run("backup.coverage", **datasets).status is not Status.PASS


def test_backup_of_mailboxes_whose_licence_is_missing_from_subscribed_skus_is_not_a_pass() -> None:
    """Every teacher's licence is absent from subscribedSkus (plans unreadable)."""
    datasets = _backup(0, SKUS[1:], staff(10))
    assert run("backup.m365_exchange", **datasets).status is Status.UNKNOWN
    assert run("backup.m365_onedrive", **datasets).status is Status.UNKNOWN


def test_backup_policy_in_a_tenant_whose_accounts_have_no_mailbox_is_not_applicable() -> None:
    """Measured emptiness: licences read, none of them carries a mailbox."""
    datasets = _backup(0, SKUS, staff(5))  # the fixture's SKUs list no plans
    result = run("backup.m365_exchange", **datasets)
    assert result.status is Status.NOT_APPLICABLE, result
    assert run("backup.coverage", **datasets).status is not Status.PASS


MAIL_SKUS = [
    {
        **NEW_PLAN_SKUS[0],
        "servicePlans": [
            {"servicePlanId": "p-exo", "servicePlanName": "EXCHANGE_S_STANDARD"},
            {"servicePlanId": "p-spo", "servicePlanName": "SHAREPOINTSTANDARD_EDU"},
        ],
    }
]


def test_backup_whose_coverage_depends_on_accounts_without_account_enabled_is_unknown() -> None:
    """40 teachers with a mailbox, 10 of whose records lack accountEnabled; 36 mailboxes
    protected: 90% if the 10 can sign in, 100% if they are disabled. Not judged either way."""
    people = staff(40)
    for u in people[30:]:
        del u["accountEnabled"]
    result = run("backup.m365_exchange", **_backup(36, MAIL_SKUS, people))
    assert result.status is Status.UNKNOWN, result
    assert "accountEnabled" in result.reason
    # 39 protected: a pass whether they are counted or not.
    assert run("backup.m365_exchange", **_backup(39, MAIL_SKUS, people)).status is Status.PASS


def test_users_without_account_enabled_in_the_record_still_count_for_sspr() -> None:
    """Graph's accountEnabled is nullable: 20 teachers whose record lacks it, none of whom can
    reset a password, made SSPR coverage not_applicable ('no staff')."""
    people = staff(20)
    for u in people:
        del u["accountEnabled"]
    rows = [{**registration(u["id"], False), "isSsprCapable": False} for u in people]
    result = run("password.sspr_staff", users=ok(people), userRegistrationDetails=ok(rows))
    # Disabled or not, nobody can reset: not judged as "nobody to judge". Whether they are
    # staff who can sign in at all is what Graph did not say, and the reason gives the count.
    assert result.status is Status.UNKNOWN, result
    assert "20" in result.reason and "accountEnabled" in result.reason


def test_teachers_without_account_enabled_beside_enabled_ones_are_counted_for_sspr() -> None:
    """10 enabled teachers and 20 whose record lacks accountEnabled, only 4 of the enabled
    able to reset: counted or not, coverage stays under 50%."""
    people = staff(30)
    for u in people[10:]:
        del u["accountEnabled"]
    rows = [{**registration(u["id"], i < 4), "isSsprCapable": i < 4} for i, u in enumerate(people)]
    result = run("password.sspr_staff", users=ok(people), userRegistrationDetails=ok(rows))
    assert result.status is Status.FAIL, result
    assert result.evidence.counts["medewerkers"] == 30
    assert result.evidence.counts["ingeschakeld_onbekend"] == 20


def test_users_with_account_enabled_null_still_count_for_mfa_registration() -> None:
    people = staff(10, accountEnabled=None)
    rows = [registration(u["id"], False) for u in people]
    result = run(
        "mfa.registration_coverage",
        users=ok(people),
        roleAssignments=ok([]),
        userRegistrationDetails=ok(rows),
    )
    assert result.status is not Status.NOT_APPLICABLE
    assert result.status is Status.FAIL, result


def test_teachers_missing_from_the_registration_report_are_not_left_out_of_sspr() -> None:
    """The report lists 2 of 10 teachers, both able to reset: that is not 100%."""
    people = staff(10)
    rows = [{**registration(u["id"], True), "isSsprCapable": True} for u in people[:2]]
    result = run("password.sspr_staff", users=ok(people), userRegistrationDetails=ok(rows))
    assert result.status is Status.FAIL, result
    assert result.evidence.counts["niet_in_rapport"] == 8


def test_tenant_whose_licences_name_no_staff_is_unknown_for_sspr_not_not_applicable() -> None:
    people = [user(f"o{i}", kind="other") for i in range(5)]
    rows = [{**registration(u["id"], False), "isSsprCapable": False} for u in people]
    result = run("password.sspr_staff", users=ok(people), userRegistrationDetails=ok(rows))
    assert result.status is Status.UNKNOWN, result


def test_tenant_without_any_guest_has_no_stale_guest_finding() -> None:
    """No guests at all is a measured fact (not applicable), not 0 of 0 stale = 100%."""
    result = run("surface.stale_guests", users=ok(staff(3)), userSignInActivity=ok([]))
    assert result.status is Status.NOT_APPLICABLE, result


# --- finding 9: null is not a setting -------------------------------------------------------


def test_allow_invites_from_null_is_unknown_naming_the_property() -> None:
    """allowInvitesFrom is nullable: null read as 'everyone can invite' (an invented fail)."""
    result = run("surface.guest_invites", authorizationPolicy=authz(allowInvitesFrom=None))
    assert result.status is Status.UNKNOWN, result
    assert "allowInvitesFrom" in result.reason and "null" in result.reason
    assert "Iedereen" not in result.reason


def test_allow_invites_from_unknown_future_value_is_unknown_naming_the_value() -> None:
    result = run(
        "surface.guest_invites", authorizationPolicy=authz(allowInvitesFrom="unknownFutureValue")
    )
    assert result.status is Status.UNKNOWN, result
    assert "unknownFutureValue" in result.reason


def test_guest_user_role_id_unknown_future_value_is_unknown_naming_the_value() -> None:
    """Not one of the three guest roles Graph documents: not judged 'as member'."""
    result = run(
        "surface.guest_access", authorizationPolicy=authz(guestUserRoleId="unknownFutureValue")
    )
    assert result.status is Status.UNKNOWN, result
    assert "unknownFutureValue" in result.reason and "guestUserRoleId" in result.reason


def test_guest_user_role_id_null_is_unknown_not_member_like() -> None:
    result = run("surface.guest_access", authorizationPolicy=authz(guestUserRoleId=None))
    assert result.status is Status.UNKNOWN, result
    assert "guestUserRoleId" in result.reason


def test_guest_user_role_id_absent_leaves_only_guest_access_unknown() -> None:
    """A property one check declares, absent from the object: that check unknown (Check.run),
    the object's other checks still judged."""
    policy = {k: v for k, v in AUTHZ.items() if k != "guestUserRoleId"}
    access = run("surface.guest_access", authorizationPolicy=ok(policy))
    assert access.status is Status.UNKNOWN and "guestUserRoleId" in access.reason
    assert run("surface.guest_invites", authorizationPolicy=ok(policy)).status is Status.PASS


def test_risky_app_consent_null_is_not_a_pass() -> None:
    result = run(
        "apps.risky_app_consent", authorizationPolicy=authz(allowUserConsentForRiskyApps=None)
    )
    assert result.status is Status.UNKNOWN, result
    assert "allowUserConsentForRiskyApps" in result.reason


def test_tenant_creation_null_is_unknown_not_an_invented_fail() -> None:
    perms = {**AUTHZ["defaultUserRolePermissions"], "allowedToCreateTenants": None}
    result = run(
        "directory.tenant_creation", authorizationPolicy=authz(defaultUserRolePermissions=perms)
    )
    assert result.status is Status.UNKNOWN, result
    assert "allowedToCreateTenants" in result.reason


def test_sharing_capability_null_is_unknown_and_names_no_value() -> None:
    result = run("surface.external_sharing", sharepointSettings=ok({"sharingCapability": None}))
    assert result.status is Status.UNKNOWN, result
    assert "sharingCapability" in result.reason and "None" not in result.reason


def test_sharing_capability_unknown_future_value_is_unknown_naming_it() -> None:
    result = run(
        "surface.external_sharing",
        sharepointSettings=ok({"sharingCapability": "unknownFutureValue"}),
    )
    assert result.status is Status.UNKNOWN and "unknownFutureValue" in result.reason


def test_managed_domain_without_authentication_type_is_not_a_pass() -> None:
    """A domain whose answer lacks authenticationType was skipped as 'not managed': pass."""
    domain = {"id": "school.nl", "isVerified": True, "isRoot": True}
    result = run(
        "password.expiry",
        domains=ok([domain]),
        organization=ok([{"id": "o"}]),
    )
    assert result.status is Status.UNKNOWN, result


# --- finding 10: one missing property does not reject a whole dataset -----------------------

DOMAINS_EXAMPLE = {
    "value": [
        {
            "authenticationType": "authenticationType-value",
            "availabilityStatus": "availabilityStatus-value",
            "isAdminManaged": True,
            "isDefault": True,
            "isInitial": True,
            "isRoot": True,
            "id": "contoso.com",
            "supportedServices": ["Email", "OfficeCommunicationsOnline"],
        }
    ]
}

SHAREPOINT_EXAMPLE_OBJECT = {
    "@odata.type": "#microsoft.graph.sharepointSettings",
    "allowedDomainGuidsForSyncApp": [
        "bdd1ab9b-3fd0-4def-a761-ec8d7471732c",
        "ad31vb6b-5zd0-7tyg-m231-kj8d6578432c",
    ],
    "availableManagedPathsForSiteCreation": ["/sites/", "/teams/"],
    "deletedUserPersonalSiteRetentionPeriodInDays": 344,
    "excludedFileExtensionsForSyncApp": [".md", ".git"],
    "idleSessionSignOut": {
        "isEnabled": True,
        "warnAfterInSeconds": 120,
        "signOutAfterInSeconds": 300,
    },
    "imageTaggingOption": "basic",
    "isCommentingOnSitePagesEnabled": True,
    "isFileActivityNotificationEnabled": True,
    "isLegacyAuthProtocolsEnabled": False,
    "isLoopEnabled": True,
    "isMacSyncAppEnabled": False,
    "isRequireAcceptingUserToMatchInvitedUserEnabled": True,
    "isResharingByExternalUsersEnabled": True,
    "isSharePointMobileNotificationEnabled": True,
    "isSharePointNewsfeedEnabled": True,
    "isSiteCreationEnabled": True,
    "isSiteCreationUIEnabled": True,
    "isSitePagesCreationEnabled": True,
    "isSitesStorageLimitAutomatic": True,
    "isSyncButtonHiddenOnPersonalSite": True,
    "isUnmanagedSyncAppForTenantRestricted": True,
    "personalSiteDefaultStorageLimitInMB": 113664,
    "sharingAllowedDomainList": ["contoso.com", "fabrikam.com"],
    "sharingBlockedDomainList": ["contoso.com", "fabrikam.com"],
    "sharingCapability": "externalUserAndGuestSharing",
    "sharingDomainRestrictionMode": "allowList",
    "siteCreationDefaultManagedPath": "/sites/",
    "siteCreationDefaultStorageLimitInMB": 808034,
    "tenantDefaultTimezone": "(UTC-05:00) Eastern Time (US and Canada)",
}

DEVICE_MANAGEMENT_EXAMPLE = {
    "value": {
        "@odata.type": "#microsoft.graph.deviceManagement",
        "id": "0b283420-3420-0b28-2034-280b2034280b",
        "settings": {
            "@odata.type": "microsoft.graph.deviceManagementSettings",
            "deviceComplianceCheckinThresholdDays": 4,
            "isScheduledActionEnabled": True,
            "secureByDefault": True,
        },
        "intuneAccountId": "cf1549a1-49a1-cf15-a149-15cfa14915cf",
    }
}


@respx.mock
def _replay(name: str, body: Any, graph_client: GraphClient) -> Dataset:
    spec = DATASETS[name]
    respx.get(url__startswith=f"{BASE}{spec.path}").mock(
        return_value=httpx.Response(200, json=body)
    )
    return asyncio.run(graph_client.dataset(spec))


def test_microsofts_documented_domains_example_is_read_not_rejected(graph_client) -> None:
    """Microsoft's example of GET /domains leaves isVerified out (and shows a placeholder
    authenticationType): the whole domain list was rejected as malformed."""
    ds = _replay("domains", DOMAINS_EXAMPLE, graph_client)
    assert ds.ok, ds.error_message
    assert [d["id"] for d in ds.data] == ["contoso.com"]
    # The placeholder type is judged as what it is: not known to be managed or federated.
    result = run("password.expiry", domains=ds, organization=ok([{"id": "o"}]))
    assert result.status is Status.UNKNOWN, result
    assert "authenticationType-value" in str(result.evidence.affected[0].detail)


def test_microsofts_documented_domains_example_without_is_verified_still_looks_up_mail(
    graph_client,
) -> None:
    from m365apk.scanner.dns import mail_domains

    ds = _replay("domains", DOMAINS_EXAMPLE, graph_client)
    assert mail_domains(ds.data) == ["contoso.com"]


def test_microsofts_documented_sharepoint_settings_are_judged(graph_client) -> None:
    """The documented settings object: anonymous sharing on (fail), legacy auth off (pass)."""
    ds = _replay("sharepointSettings", SHAREPOINT_EXAMPLE_OBJECT, graph_client)
    assert ds.ok, ds.error_message
    assert run("surface.external_sharing", sharepointSettings=ds).status is Status.FAIL
    assert run("surface.sharepoint_legacy_auth", sharepointSettings=ds).status is Status.PASS


def test_sharepoint_settings_without_sharing_capability_leave_legacy_auth_judged(
    graph_client,
) -> None:
    """sharingCapability (nullable) absent: only the check that reads it is unknown, naming
    it; the legacy-authentication setting in the same answer is still judged."""
    body = {k: v for k, v in SHAREPOINT_EXAMPLE_OBJECT.items() if k != "sharingCapability"}
    ds = _replay("sharepointSettings", body, graph_client)
    assert ds.ok, ds.error_message
    sharing = run("surface.external_sharing", sharepointSettings=ds)
    assert sharing.status is Status.UNKNOWN and "sharingCapability" in sharing.reason
    assert run("surface.sharepoint_legacy_auth", sharepointSettings=ds).status is Status.PASS


def test_microsofts_documented_sharepoint_settings_example_wrapped_in_value(
    graph_client,
) -> None:
    """The documentation shows the object inside `value`: read, and every check on it unknown
    naming the property it lacks (never a whole-dataset rejection, never a pass)."""
    ds = _replay("sharepointSettings", {"value": SHAREPOINT_EXAMPLE_OBJECT}, graph_client)
    assert ds.ok, ds.error_message
    for cid, prop in (
        ("surface.external_sharing", "sharingCapability"),
        ("surface.sharepoint_legacy_auth", "isLegacyAuthProtocolsEnabled"),
    ):
        result = run(cid, sharepointSettings=ds)
        assert result.status is Status.UNKNOWN and prop in result.reason, result


def test_microsofts_documented_device_management_example_is_read(graph_client) -> None:
    """GET /deviceManagement as documented (inside `value`): read; the compliance check that
    needs secureByDefault says it could not read it instead of the dataset being rejected."""
    ds = _replay("deviceManagementSettings", DEVICE_MANAGEMENT_EXAMPLE, graph_client)
    assert ds.ok, ds.error_message
    device = {"id": "d1", "operatingSystem": "Windows", "complianceState": "compliant"}
    result = run("devices.compliance", deviceManagementSettings=ds, managedDevices=ok([device]))
    assert result.status is Status.UNKNOWN, result


# --- the mechanisms, held against Graph's own schema ----------------------------------------


def _schema() -> dict[str, Any]:
    import json
    from importlib import resources

    text = resources.files("m365apk.demo").joinpath("graph-schema-v1.0.json").read_text("utf-8")
    return json.loads(text)


def test_enum_settings_judge_exactly_the_members_graph_documents() -> None:
    """Each enum a check judges knows every documented member but `unknownFutureValue`: a
    member Graph adds later is unknown by construction, and one it documents is never left
    out."""
    from m365apk.checks import surface

    enums = _schema()["enums"]
    for enum, judged in (
        ("allowInvitesFrom", surface.INVITES),
        ("sharingCapabilities", surface.SHARING),
    ):
        members = set(enums[f"microsoft.graph.{enum}"]["members"])
        assert set(judged) == members - {"unknownFutureValue"}, enum


def test_every_declared_property_exists_on_its_graph_type() -> None:
    """`reads.properties` of these checks name real v1.0 properties (nested ones too)."""
    from m365apk.scanner.datasets import DATASETS as SPECS

    types = _schema()["types"]

    def props(name: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while name:
            t = types[name]
            out.update(t["properties"])
            out.update({k: {"type": v} for k, v in t["navigation"].items()})
            name = t["base"]
        return out

    owned = ("surface.", "directory.", "password.", "apps.user_", "apps.admin_", "backup.")
    for check in all_checks():
        if not check.id.startswith(owned) or check.id.startswith("apps.user_consented"):
            continue
        for dataset, paths in check.reads.properties:
            graph_type = SPECS[dataset].graph_type
            if f"microsoft.graph.{graph_type}" not in types:
                continue
            for path in paths:
                name = f"microsoft.graph.{graph_type}"
                for part in path.split("."):
                    found = props(name).get(part)
                    assert found is not None, (check.id, dataset, path)
                    name = found["type"].removeprefix("Collection(").removesuffix(")")


def test_zero_of_zero_is_no_percentage() -> None:
    from m365apk.checks.common import pct

    assert pct(0, 0) is None
    assert pct(3, 4) == 75.0


def test_a_fan_out_is_not_read_as_a_single_object_missing_properties() -> None:
    """Check.run's property guard reads single objects only: a fan-out (a list per key read,
    or `{}` over no keys) is each check's own to judge."""
    from m365apk.checks.base import single_object

    assert not single_object(ok({"g1": [{"id": "u1"}]}))
    assert not single_object(ok({}))
    assert single_object(ok({}).model_copy(update={"pages": 1}))
    assert single_object(ok({"sharingCapability": "disabled"}))


PASSWORD_RULES = "5cf42378-d67d-4f36-ba46-e8b86229381d"


def _rules(**values: str | None) -> Dataset:
    return ok(
        [
            {
                "id": "s1",
                "templateId": PASSWORD_RULES,
                "values": [{"name": k, "value": v} for k, v in values.items()],
            }
        ]
    )


def test_lockout_threshold_null_in_the_password_rule_settings_is_not_the_default() -> None:
    """The tenant's Password Rule Settings hold a null threshold: it was read as the text
    'None' (a crash) or the default 10 (a pass)."""
    result = run(
        "password.smart_lockout",
        groupSettings=_rules(LockoutThreshold=None, LockoutDurationInSeconds="60"),
    )
    assert result.status is Status.UNKNOWN, result
    assert "LockoutThreshold" in result.reason


def test_lockout_looser_than_the_default_fails_even_with_one_value_missing() -> None:
    result = run("password.smart_lockout", groupSettings=_rules(LockoutThreshold="50"))
    assert result.status is Status.FAIL, result


def test_banned_password_check_switch_null_with_words_is_unknown() -> None:
    result = run(
        "password.banned_list",
        groupSettings=_rules(EnableBannedPasswordCheck=None, BannedPasswordList="school\tzomer"),
    )
    assert result.status is Status.UNKNOWN, result
    assert "EnableBannedPasswordCheck" in result.reason


def test_a_declared_path_through_a_collection_is_guarded_up_to_the_collection() -> None:
    from m365apk.checks.base import ABSENT, property_value

    policy = {"authenticationMethodConfigurations": [{"id": "Sms", "state": "disabled"}]}
    assert property_value(policy, "authenticationMethodConfigurations.isAttestationEnforced")
    assert property_value({}, "authenticationMethodConfigurations.state") is ABSENT
    assert property_value({"a": None}, "a.b") is ABSENT


def test_backup_when_the_user_records_lack_their_licences_is_not_a_pass() -> None:
    """assignedLicenses absent from every record (a collection Graph always sends): nobody
    seems to have a mailbox, and 0 of 0 would read as covered or not applicable."""
    people = staff(10)
    for u in people:
        del u["assignedLicenses"]
    result = run("backup.m365_exchange", **_backup(0, MAIL_SKUS, people))
    assert result.status is Status.UNKNOWN, result


def test_backup_when_the_licence_comes_without_its_service_plans_is_not_a_pass() -> None:
    skus = [{k: v for k, v in MAIL_SKUS[0].items() if k != "servicePlans"}]
    result = run("backup.m365_exchange", **_backup(0, skus, staff(10)))
    assert result.status is Status.UNKNOWN, result


APPLICATIONS_EXAMPLE = {
    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications",
    "value": [
        {
            "appId": "00000000-0000-0000-0000-000000000000",
            "identifierUris": ["http://contoso/"],
            "displayName": "My app",
            "publisherDomain": "contoso.com",
            "signInAudience": "AzureADMyOrg",
        }
    ],
}


def test_microsofts_documented_applications_example_is_read_not_rejected(graph_client) -> None:
    """GET /applications as documented: no id, no credential collections. The apps are read;
    the credentials check says this app's credentials were not read (never 'none')."""
    ds = _replay("applications", APPLICATIONS_EXAMPLE, graph_client)
    assert ds.ok, ds.error_message
    assert [a["displayName"] for a in ds.data] == ["My app"]
    result = run("apps.long_lived_credentials", applications=ds, servicePrincipals=ok([]))
    assert result.status is Status.UNKNOWN, result
