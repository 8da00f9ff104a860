"""Issue 25, finding 7 and "what to build" 5: a registered method counts only when the
authentication methods policy lets that person use it, and the policy's own settings (FIDO2,
Temporary Access Pass, Authenticator OTP: Maester's EIDSCA controls) are collected and judged.

Each test is a tenant situation; every verdict goes through the public check ids."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from pydantic import TypeAdapter

from m365apk.checks.base import Status
from m365apk.checks.registry import all_checks
from m365apk.demo.server import SimulatedGraph
from m365apk.demo.tenant import load_profile
from m365apk.runs.scan import run_scan
from m365apk.scanner import graph_models as gm
from m365apk.scanner.auth import LoopbackClientSecretCredential
from m365apk.scanner.datasets import DATASETS
from m365apk.scanner.graph import GraphSettings
from m365apk.snapshot import DatasetStatus

from .conftest import FAST
from .snapshots import assignment, failed, ok, snapshot, user

PHISHING = "mfa.phishing_resistant_admins"
FIDO2 = "mfa.fido2_settings"
TAP = "mfa.temporary_access_pass"
OTP = "mfa.authenticator_otp"
LEERLINGEN = "grp-leerlingen"
NS = "#microsoft.graph."
BEHEER = "grp-it-beheer"


def run(check_id: str, snap: Any):
    check = next(c for c in all_checks() if c.id == check_id)
    return check.run(snap)


def target(ident: str = "all_users", kind: str = "group") -> dict[str, Any]:
    return {"targetType": kind, "id": ident, "isRegistrationRequired": False}


# Graph's documented v1.0 answer (GET /policies/authenticationMethodsPolicy), with the
# settings EIDSCA looks at set to what Maester expects.
def configs() -> list[dict[str, Any]]:
    return [
        {
            "@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration",
            "id": "Fido2",
            "state": "enabled",
            "isSelfServiceRegistrationAllowed": True,
            "isAttestationEnforced": True,
            "keyRestrictions": {
                "isEnforced": True,
                "enforcementType": "allow",
                "aaGuids": ["cb69481e-8ff7-4039-93ec-0a2729a154a8"],
            },
            "includeTargets": [target()],
            "excludeTargets": [],
        },
        {
            "@odata.type": NS + "microsoftAuthenticatorAuthenticationMethodConfiguration",
            "id": "MicrosoftAuthenticator",
            "state": "enabled",
            "isSoftwareOathEnabled": False,
            "featureSettings": {},
            "includeTargets": [target()],
            "excludeTargets": [],
        },
        {
            "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration",
            "id": "TemporaryAccessPass",
            "state": "enabled",
            "defaultLifetimeInMinutes": 60,
            "defaultLength": 8,
            "minimumLifetimeInMinutes": 60,
            "maximumLifetimeInMinutes": 480,
            "isUsableOnce": True,
            "includeTargets": [target()],
            "excludeTargets": [],
        },
    ]


def policy(**changes: dict[str, Any]) -> dict[str, Any]:
    """The policy with per-method changes: policy(Fido2={"state": "disabled"})."""
    items = configs()
    for item in items:
        item.update(changes.get(item["id"], {}))
    return {
        "id": "authenticationMethodsPolicy",
        "policyMigrationState": "migrationComplete",
        "authenticationMethodConfigurations": items,
    }


def fido2_row(uid: str, methods: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": uid,
        "userType": "member",
        "isMfaCapable": True,
        "isMfaRegistered": True,
        "methodsRegistered": methods or ["fido2", "microsoftAuthenticatorPush"],
    }


def admin_tenant(methods_policy: dict[str, Any] | None, **extra: Any):
    """A school with one Global Administrator (the IT coordinator) and one student, the admin
    with a FIDO2 key registered (unless `registration` says otherwise)."""
    registration = extra.pop("registration", [fido2_row("u-ict"), {"id": "u-leerling"}])
    datasets = {
        "users": ok([user("u-ict"), user("u-leerling", "student")]),
        "roleAssignments": ok([assignment("u-ict")]),
        "userRegistrationDetails": ok(registration),
        "authenticationMethodsPolicy": (
            ok(methods_policy) if methods_policy is not None else failed(DatasetStatus.FORBIDDEN)
        ),
        "methodsPolicyGroupMembers": ok({}),
        **extra,
    }
    return snapshot(**datasets)


def members(**groups: list[str]) -> Any:
    return ok(
        {
            gid.replace("_", "-"): [
                {"@odata.type": "#microsoft.graph.user", "id": uid} for uid in uids
            ]
            for gid, uids in groups.items()
        }
    )


# -- finding 7: registered is not usable --------------------------------------------------------


def test_admin_with_a_registered_fido2_key_while_fido2_is_disabled_has_no_usable_method() -> None:
    result = run(PHISHING, admin_tenant(policy(Fido2={"state": "disabled"})))
    assert result.status is Status.FAIL
    assert "Fido2" in result.evidence.affected[0].detail


def test_fido2_enabled_only_for_group_leerlingen_does_not_cover_the_admin_outside_it() -> None:
    snap = admin_tenant(
        policy(Fido2={"includeTargets": [target(LEERLINGEN)]}),
        methodsPolicyGroupMembers=members(grp_leerlingen=["u-leerling"]),
    )
    result = run(PHISHING, snap)
    assert result.status is Status.FAIL
    assert result.evidence.counts["zonder_phishingbestendige_methode"] == 1


def test_admin_excluded_from_fido2_through_a_group_has_no_usable_method() -> None:
    snap = admin_tenant(
        policy(Fido2={"excludeTargets": [{"targetType": "group", "id": BEHEER}]}),
        methodsPolicyGroupMembers=members(grp_it_beheer=["u-ict"]),
    )
    assert run(PHISHING, snap).status is Status.FAIL


def test_fido2_for_a_group_whose_members_were_not_read_leaves_the_admin_unknown() -> None:
    snap = admin_tenant(
        policy(Fido2={"includeTargets": [target(BEHEER)]}),
        methodsPolicyGroupMembers=failed(DatasetStatus.FORBIDDEN),
    )
    result = run(PHISHING, snap)
    assert result.status is Status.UNKNOWN
    assert BEHEER in result.reason


def test_fido2_for_a_group_holding_nested_groups_is_unknown_for_an_admin_not_listed() -> None:
    nested = ok({BEHEER: [{"@odata.type": "#microsoft.graph.group", "id": "grp-sub"}]})
    snap = admin_tenant(
        policy(Fido2={"includeTargets": [target(BEHEER)]}), methodsPolicyGroupMembers=nested
    )
    assert run(PHISHING, snap).status is Status.UNKNOWN


def test_fido2_excluded_target_without_excludetargets_in_the_answer_is_not_a_pass() -> None:
    bare = policy()
    del bare["authenticationMethodConfigurations"][0]["excludeTargets"]
    assert run(PHISHING, admin_tenant(bare)).status is Status.UNKNOWN


def test_admin_in_the_fido2_group_whose_members_were_read_is_covered() -> None:
    snap = admin_tenant(
        policy(Fido2={"includeTargets": [target(BEHEER)]}),
        methodsPolicyGroupMembers=members(grp_it_beheer=["u-ict"]),
    )
    assert run(PHISHING, snap).status is Status.PASS


def test_admin_with_windows_hello_counts_whatever_the_fido2_setting() -> None:
    snap = admin_tenant(
        policy(Fido2={"state": "disabled"}),
        registration=[fido2_row("u-ict", ["windowsHelloForBusiness"])],
    )
    assert run(PHISHING, snap).status is Status.PASS


def test_methods_policy_unreadable_leaves_the_phishing_resistant_check_undetermined() -> None:
    assert run(PHISHING, admin_tenant(None)).status is Status.UNKNOWN


def test_admin_with_fido2_key_on_tenant_without_p1_and_fido2_disabled_has_no_method() -> None:
    """Without the registration report the per-user methods are read: same rule."""
    key = {"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "id": "k1"}
    snap = admin_tenant(
        policy(Fido2={"state": "disabled"}),
        userRegistrationDetails=failed(DatasetStatus.NOT_LICENSED),
        userAuthenticationMethods=ok({"u-ict": [key]}),
    )
    assert run(PHISHING, snap).status is Status.FAIL


def test_scanner_reads_the_members_of_groups_the_methods_policy_targets() -> None:
    spec = DATASETS["methodsPolicyGroupMembers"]
    done = {
        "authenticationMethodsPolicy": ok(
            policy(
                Fido2={
                    "includeTargets": [target(LEERLINGEN)],
                    "excludeTargets": [{"targetType": "group", "id": BEHEER}],
                },
                TemporaryAccessPass={"includeTargets": [target("u-1", "user")]},
            )
        )
    }
    assert spec.keys(done) == sorted([LEERLINGEN, BEHEER])
    assert spec.path == "/groups/{id}/members"


# -- EIDSCA: the policy's settings are collected, not dropped -----------------------------------


def test_the_scanner_keeps_fido2_tap_and_authenticator_otp_settings_graph_returns() -> None:
    kept = TypeAdapter(gm.AuthenticationMethodsPolicy).validate_python(policy())
    by_id = {c["id"]: c for c in kept["authenticationMethodConfigurations"]}
    assert by_id["Fido2"]["isAttestationEnforced"] is True
    assert by_id["Fido2"]["keyRestrictions"]["aaGuids"] == ["cb69481e-8ff7-4039-93ec-0a2729a154a8"]
    assert by_id["Fido2"]["isSelfServiceRegistrationAllowed"] is True
    assert by_id["TemporaryAccessPass"]["isUsableOnce"] is True
    assert by_id["TemporaryAccessPass"]["maximumLifetimeInMinutes"] == 480
    assert by_id["MicrosoftAuthenticator"]["isSoftwareOathEnabled"] is False


def test_settings_graph_sends_as_null_are_kept_as_null_not_a_rejected_policy() -> None:
    answer = policy(TemporaryAccessPass={"isUsableOnce": None, "excludeTargets": None})
    kept = TypeAdapter(gm.AuthenticationMethodsPolicy).validate_python(answer)
    tap = kept["authenticationMethodConfigurations"][2]
    assert tap["isUsableOnce"] is None and tap["excludeTargets"] is None


def settings(check_id: str, **changes: dict[str, Any]):
    return run(check_id, snapshot(authenticationMethodsPolicy=ok(policy(**changes))))


# -- EIDSCA AT01/AT02: Temporary Access Pass -------------------------------------------------------


def test_tap_usable_many_times_with_8_hour_lifetime_fails() -> None:
    result = settings(TAP, TemporaryAccessPass={"isUsableOnce": False})
    assert result.status is Status.FAIL
    assert "8" in result.reason


def test_tap_single_use_valid_for_thirty_days_is_partial() -> None:
    result = settings(TAP, TemporaryAccessPass={"maximumLifetimeInMinutes": 43200})
    assert result.status is Status.PARTIAL


def test_tap_single_use_valid_for_at_most_8_hours_passes() -> None:
    assert settings(TAP).status is Status.PASS


def test_tap_whose_one_time_setting_is_null_is_unknown_not_a_pass() -> None:
    result = settings(TAP, TemporaryAccessPass={"isUsableOnce": None})
    assert result.status is Status.UNKNOWN
    assert "isUsableOnce" in result.reason


def test_tap_switched_off_has_no_pass_to_judge() -> None:
    assert settings(TAP, TemporaryAccessPass={"state": "disabled"}).status is (
        Status.NOT_APPLICABLE
    )


# -- EIDSCA AM02: Authenticator OTP ---------------------------------------------------------------


def test_authenticator_otp_on_fails() -> None:
    result = settings(OTP, MicrosoftAuthenticator={"isSoftwareOathEnabled": True})
    assert result.status is Status.FAIL


def test_authenticator_otp_off_passes() -> None:
    assert settings(OTP).status is Status.PASS


def test_authenticator_otp_setting_absent_is_unknown() -> None:
    answer = policy()
    del answer["authenticationMethodConfigurations"][1]["isSoftwareOathEnabled"]
    result = run(OTP, snapshot(authenticationMethodsPolicy=ok(answer)))
    assert result.status is Status.UNKNOWN


def test_authenticator_off_means_there_is_no_otp_to_judge() -> None:
    result = settings(OTP, MicrosoftAuthenticator={"state": "disabled"})
    assert result.status is Status.NOT_APPLICABLE


# -- EIDSCA AF01, AF03-AF06: FIDO2 ---------------------------------------------------------------


def test_fido2_without_attestation_fails() -> None:
    assert settings(FIDO2, Fido2={"isAttestationEnforced": False}).status is Status.FAIL


def test_fido2_with_key_restrictions_off_is_partial() -> None:
    open_keys = {"isEnforced": False, "enforcementType": "block", "aaGuids": []}
    assert settings(FIDO2, Fido2={"keyRestrictions": open_keys}).status is Status.PARTIAL


def test_fido2_block_list_without_entries_restricts_nothing() -> None:
    empty = {"isEnforced": True, "enforcementType": "block", "aaGuids": []}
    assert settings(FIDO2, Fido2={"keyRestrictions": empty}).status is Status.PARTIAL


def test_fido2_enforcement_type_unknown_future_value_is_not_judged() -> None:
    future = {"isEnforced": True, "enforcementType": "unknownFutureValue", "aaGuids": ["x"]}
    result = settings(FIDO2, Fido2={"keyRestrictions": future})
    assert result.status is Status.UNKNOWN
    assert "unknownFutureValue" in result.reason


def test_fido2_attestation_null_is_unknown() -> None:
    assert settings(FIDO2, Fido2={"isAttestationEnforced": None}).status is Status.UNKNOWN


def test_fido2_with_attestation_and_an_allow_list_passes() -> None:
    assert settings(FIDO2).status is Status.PASS


def test_fido2_passkey_profile_without_attestation_fails_even_if_the_old_setting_says_on() -> None:
    profile = {
        "id": "00000000-0000-0000-0000-000000000001",
        "name": "Default passkey profile",
        "passkeyTypes": "deviceBound,synced",
        "attestationEnforcement": "disabled",
        "keyRestrictions": {"isEnforced": False, "enforcementType": "allow", "aaGuids": []},
    }
    result = settings(FIDO2, Fido2={"passkeyProfiles": [profile]})
    assert result.status is Status.FAIL
    assert "Default passkey profile" in result.reason


def test_fido2_switched_off_has_no_keys_to_restrict() -> None:
    assert settings(FIDO2, Fido2={"state": "disabled"}).status is Status.NOT_APPLICABLE


def test_each_methods_policy_check_declares_what_it_reads() -> None:
    for cid in (PHISHING, FIDO2, TAP, OTP):
        check = next(c for c in all_checks() if c.id == cid)
        assert "methods_policy" in check.reads.judges
        assert "authenticationMethodsPolicy" in check.reads.property_map()
    assert next(c for c in all_checks() if c.id == PHISHING).reads.population == "admins"


# -- through the simulated Graph ----------------------------------------------------------------


def test_simulated_school_with_fido2_only_for_the_helpdesk_group_reads_its_members(
    tmp_path,
) -> None:
    """The scan reads the members of the group FIDO2 is enabled for, and every admin outside
    that group, however many keys they registered, has no usable phishing-resistant method."""
    tenant = load_profile("good")
    helpdesk = next(g["id"] for g in tenant.groups if g["displayName"] == "RG-Helpdesk")
    static = copy.deepcopy(tenant.static)
    body = static["/policies/authenticationMethodsPolicy"]["object"]
    for item in body["authenticationMethodConfigurations"]:
        if item["id"] == "Fido2":
            item["includeTargets"] = [target(helpdesk)]
    rows = copy.deepcopy(tenant.registration_details)
    for row in rows:
        row["methodsRegistered"] = ["fido2", *row.get("methodsRegistered", [])]
    tenant = dataclasses.replace(tenant, static=static, registration_details=rows)
    check = next(c for c in all_checks() if c.id == PHISHING)
    with SimulatedGraph(tenant) as sim:
        cred = LoopbackClientSecretCredential(sim.token_url, tenant.client_id, tenant.client_secret)
        output = run_scan(
            cred,
            GraphSettings(base_url=sim.base_url, **FAST),
            [check],
            tenant_id=tenant.tenant_id,
            out_dir=tmp_path,
            source="test",
        )
    read = output.snapshot.dataset("methodsPolicyGroupMembers")
    assert read.ok and set(read.data) == {helpdesk}
    result = check.run(output.snapshot)
    assert result.status in (Status.PARTIAL, Status.FAIL)
    assert result.evidence.counts["zonder_phishingbestendige_methode"] >= 1


def test_fido2_group_known_only_from_conditional_access_proves_membership_not_absence() -> None:
    """The methods-policy read failed; the group's members were read for conditional access,
    where nested groups are not marked: the admin listed there is in, one not listed is open."""
    ca_members = ok({BEHEER: [{"id": "u-ict"}]})
    snap = admin_tenant(
        policy(Fido2={"includeTargets": [target(BEHEER)]}),
        methodsPolicyGroupMembers=failed(DatasetStatus.FORBIDDEN),
        conditionalAccessGroupMembers=ca_members,
    )
    assert run(PHISHING, snap).status is Status.PASS
    excluded = admin_tenant(
        policy(Fido2={"excludeTargets": [{"targetType": "group", "id": BEHEER}]}),
        methodsPolicyGroupMembers=failed(DatasetStatus.FORBIDDEN),
        conditionalAccessGroupMembers=ok({BEHEER: [{"id": "u-other"}]}),
    )
    assert run(PHISHING, excluded).status is Status.UNKNOWN


def test_fido2_migrated_to_passkey_profiles_without_the_profiles_in_the_answer_is_unknown() -> None:
    migrated = {"defaultPasskeyProfile": "00000000-0000-0000-0000-000000000001"}
    assert settings(FIDO2, Fido2=migrated).status is Status.UNKNOWN


def test_no_admin_found_is_not_a_tenant_without_admins() -> None:
    snap = admin_tenant(policy(), roleAssignments=ok([]))
    assert run(PHISHING, snap).status is Status.UNKNOWN
