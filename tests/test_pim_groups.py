"""PIM for Groups and PIM notification recipients (issue 25, findings 6 and 11), each test named
after the tenant situation it guards against.

A role-assignable group that holds Global Administrator is a second door to the role: whoever
PIM for Groups makes eligible for its membership activates Global Administrator by activating
membership, under the group's own policy (scopeType Group, roleDefinitionId "member"), not the
role's. Microsoft's default PIM policy alerts the default recipients (isDefaultRecipientsEnabled)
even with no recipients listed: that is not "nobody", though CISA asks for an added recipient.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from m365apk.checks.base import CheckResult, Status
from m365apk.checks.common import privileged_holders
from m365apk.checks.registry import all_checks
from m365apk.demo import graph_schema
from m365apk.demo.server import ROUTE_TYPES, SimulatedGraph
from m365apk.demo.tenant import _Builder, _profile_data, load_profile, without_permission
from m365apk.runs.scan import run_scan
from m365apk.scanner.auth import LoopbackClientSecretCredential
from m365apk.scanner.datasets import DATASETS
from m365apk.scanner.graph import GraphSettings
from m365apk.snapshot import Dataset, DatasetStatus, Snapshot

from .conftest import FAST
from .snapshots import exactly

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
GA = "62e90394-69f5-4237-9190-012177145e10"
GA_HOLDER = {
    "id": "a-ga",
    "principalId": "u-ga",
    "roleDefinitionId": GA,
    "principal": {"@odata.type": "#microsoft.graph.user", "id": "u-ga"},
}
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
ICT_BEHEER = "0b6f1c2e-3d4a-4b5c-8d9e-0f1a2b3c4d5e"
NOODACCOUNT = "11111111-1111-4111-8111-111111111111"
ICT_1 = "22222222-2222-4222-8222-222222222222"
ICT_2 = "33333333-3333-4333-8333-333333333333"
ICT_3 = "44444444-4444-4444-8444-444444444444"
TEACHER = "55555555-5555-4555-8555-555555555555"
ALERT_RULES = (
    "Notification_Admin_Admin_Eligibility",
    "Notification_Admin_Admin_Assignment",
    "Notification_Admin_EndUser_Assignment",
)

CHECKS = {c.id: c for c in all_checks()}
ROLE_POLICY_ROUTE = "/policies/roleManagementPolicyAssignments"
ELIGIBILITY_ROUTE = "/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances"


def rules(
    approval: bool, recipients: list[str], defaults: bool = True, level: str = "All"
) -> list[dict[str, Any]]:
    """A PIM policy's approval and admin alert rules, in Graph's v1.0 shape."""
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
                "notificationLevel": level,
                "isDefaultRecipientsEnabled": defaults,
                "notificationRecipients": list(recipients),
            }
            for rule_id in ALERT_RULES
        ),
    ]


def role_policies(
    approval: bool = True, recipients: tuple[str, ...] = ("security@ict-partner.nl",), **kw: Any
) -> list[dict[str, Any]]:
    return [
        {
            "id": f"DirectoryRole_x_{role}",
            "scopeId": "/",
            "scopeType": "DirectoryRole",
            "roleDefinitionId": role,
            "policy": {"rules": rules(approval, list(recipients), **kw)},
        }
        for role in HIGHLY_PRIVILEGED
    ]


def group_policy(gid: str, approval: bool, recipients: list[str], **kw: Any) -> list[dict]:
    """A group's member and owner policies (PIM for Groups); the owner policy left open."""
    return [
        {
            "id": f"Group_{gid}_{access}",
            "scopeId": gid,
            "scopeType": "Group",
            "roleDefinitionId": access,
            "policy": {
                "rules": rules(approval, recipients, **kw)
                if access == "member"
                else rules(False, [], defaults=False)
            },
        }
        for access in ("member", "owner")
    ]


def user(uid: str, name: str) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.user",
        "id": uid,
        "displayName": name,
        "userPrincipalName": f"{name.lower().replace(' ', '.')}@school.nl",
        "accountEnabled": True,
        "userType": "Member",
    }


def group_assignment(gid: str, role: str = GA, name: str = "ICT-beheer") -> dict[str, Any]:
    principal = {"@odata.type": "#microsoft.graph.group", "id": gid, "displayName": name}
    return {"id": f"a-{gid}", "principalId": gid, "roleDefinitionId": role, "principal": principal}


def user_assignment(u: dict[str, Any], role: str = GA) -> dict[str, Any]:
    return {"id": f"a-{u['id']}", "principalId": u["id"], "roleDefinitionId": role, "principal": u}


def snapshot(**datasets: Any) -> Snapshot:
    return exactly("t", NOW, **datasets)


def run(check_id: str, s: Snapshot) -> CheckResult:
    return CHECKS[check_id].run(s)


def reason(result: CheckResult) -> str:
    return result.reason_in("en") or ""


NOODACCOUNT_USER = user(NOODACCOUNT, "Noodaccount")
ICT_MEMBERS = [user(ICT_1, "Ict Een"), user(ICT_2, "Ict Twee"), user(ICT_3, "Ict Drie")]
TEACHER_USER = user(TEACHER, "Juf Jansen")
USERS = [NOODACCOUNT_USER, *ICT_MEMBERS, TEACHER_USER]


def ict_beheer_tenant(
    group_rules: list[dict[str, Any]] | Dataset,
    roles: list[dict[str, Any]] | None = None,
    assignment: dict[str, Any] | None = None,
) -> Snapshot:
    """ICT-beheer, a role-assignable group, holds Global Administrator beside a break-glass
    account; the teacher is eligible (PIM for Groups) for membership of ICT-beheer."""
    return snapshot(
        users=USERS,
        roleAssignments=[
            user_assignment(NOODACCOUNT_USER),
            assignment or group_assignment(ICT_BEHEER),
        ],
        roleGroupMembers={ICT_BEHEER: ICT_MEMBERS},
        roleEligibilitySchedules=[],
        roleManagementPolicyAssignments=roles if roles is not None else role_policies(),
        pimGroupPolicyAssignments=group_rules
        if isinstance(group_rules, Dataset)
        else {ICT_BEHEER: group_rules},
        pimGroupEligibility={
            ICT_BEHEER: [
                {
                    "id": "e1",
                    "groupId": ICT_BEHEER,
                    "principalId": TEACHER,
                    "accessId": "member",
                    "memberType": "direct",
                }
            ]
        },
    )


# --- finding 6: PIM for Groups ----------------------------------------------------------------


def test_ict_beheer_holding_global_admin_whose_members_activate_without_approval_fails() -> None:
    s = ict_beheer_tenant(group_policy(ICT_BEHEER, approval=False, recipients=["soc@school.nl"]))
    result = run("admin.pim_ga_approval", s)
    assert result.status is Status.FAIL
    assert "ICT-beheer" in reason(result)
    assert any(o.display_name == "ICT-beheer" for o in result.evidence.affected)


def test_ict_beheer_membership_activated_without_any_alert_fails() -> None:
    silent = group_policy(ICT_BEHEER, approval=True, recipients=[], defaults=False)
    result = run("admin.pim_alerts", ict_beheer_tenant(silent))
    assert result.status is Status.FAIL
    assert "ICT-beheer" in reason(result)
    assert "Nobody is alerted" in reason(result)


def test_ict_beheer_with_approval_and_alerts_to_the_security_mailbox_passes() -> None:
    guarded = group_policy(ICT_BEHEER, approval=True, recipients=["soc@school.nl"])
    s = ict_beheer_tenant(guarded)
    assert run("admin.pim_ga_approval", s).status is Status.PASS
    assert run("admin.pim_alerts", s).status is Status.PASS


def test_group_only_eligible_for_global_admin_whose_members_activate_without_approval_fails() -> (
    None
):
    s = ict_beheer_tenant(group_policy(ICT_BEHEER, approval=False, recipients=["soc@school.nl"]))
    # ICT-beheer holds Global Administrator only as eligible (PIM for Entra roles).
    s.datasets["roleAssignments"].data = [user_assignment(NOODACCOUNT_USER)]
    s.datasets["roleEligibilitySchedules"].data = [
        {"id": "r1", "principalId": ICT_BEHEER, "roleDefinitionId": GA}
    ]
    assert run("admin.pim_ga_approval", s).status is Status.FAIL


def test_group_holding_global_admin_whose_pim_settings_were_not_read_is_unknown() -> None:
    refused = Dataset(
        status=DatasetStatus.FORBIDDEN,
        endpoint="GET /v1.0/policies/roleManagementPolicyAssignments",
        permission="RoleManagementPolicy.Read.AzureADGroup",
        http_status=403,
        error_code="Authorization_RequestDenied",
    )
    s = ict_beheer_tenant(refused)
    for check_id in ("admin.pim_ga_approval", "admin.pim_alerts"):
        result = run(check_id, s)
        assert result.status is Status.UNKNOWN, check_id
        assert "ICT-beheer" in reason(result)
        assert "RoleManagementPolicy.Read.AzureADGroup" in reason(result)


def test_older_snapshot_without_pim_for_groups_with_a_group_holding_global_admin_is_unknown() -> (
    None
):
    not_asked = Dataset(status=DatasetStatus.NOT_COLLECTED, endpoint="x", permission="x")
    s = ict_beheer_tenant(not_asked)
    assert run("admin.pim_ga_approval", s).status is Status.UNKNOWN
    assert run("admin.pim_alerts", s).status is Status.UNKNOWN


def test_helpdesk_group_with_microsofts_default_group_policy_does_not_touch_global_admin() -> None:
    s = ict_beheer_tenant(
        group_policy(ICT_BEHEER, approval=False, recipients=[]),
        assignment=group_assignment(ICT_BEHEER, role=HELPDESK, name="RG-Helpdesk"),
    )
    assert run("admin.pim_ga_approval", s).status is Status.PASS
    assert run("admin.pim_alerts", s).status is Status.PASS


def test_teacher_eligible_for_ict_beheer_membership_counted_as_global_admin_holder() -> None:
    s = ict_beheer_tenant(group_policy(ICT_BEHEER, approval=True, recipients=["soc@school.nl"]))
    holder = privileged_holders(s)[TEACHER]
    assert "Global Administrator" in holder["eligible"]
    assert "Global Administrator" not in holder["active"]
    # Break-glass + three ICT-beheer members + the eligible teacher: five, one too many.
    result = run("admin.global_admin_count", s)
    assert result.status is Status.FAIL
    assert result.measured == 5
    teacher = next(o for o in result.evidence.affected if o.id == TEACHER)
    assert "eligible" in (teacher.detail_in("en") or "")


def test_eligible_owner_of_ict_beheer_is_not_counted_as_global_admin() -> None:
    s = ict_beheer_tenant(group_policy(ICT_BEHEER, approval=True, recipients=["soc@school.nl"]))
    s.datasets["pimGroupEligibility"].data[ICT_BEHEER][0]["accessId"] = "owner"
    assert TEACHER not in privileged_holders(s)


def test_eligible_members_of_ict_beheer_not_read_leaves_the_global_admin_count_open() -> None:
    s = ict_beheer_tenant(group_policy(ICT_BEHEER, approval=True, recipients=["soc@school.nl"]))
    s.datasets["pimGroupEligibility"] = Dataset(
        status=DatasetStatus.FORBIDDEN,
        endpoint="GET /v1.0/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances",
        permission="PrivilegedEligibilitySchedule.Read.AzureADGroup",
    )
    result = run("admin.global_admin_count", s)
    assert result.status is Status.UNKNOWN  # four read, a fifth may be eligible unread


# --- finding 11: Microsoft's default recipients ------------------------------------------------


def test_microsofts_default_pim_policy_alerts_the_default_recipients_not_nobody() -> None:
    s = snapshot(
        roleAssignments=[GA_HOLDER],
        roleEligibilitySchedules=[],
        roleManagementPolicyAssignments=role_policies(recipients=()),
    )
    result = run("admin.pim_alerts", s)
    # CISA MS.AAD.7.7/7.8 (and Maester, ScubaGear) ask an added recipient: still not in order.
    assert result.status is Status.FAIL
    text = reason(result)
    assert "Nobody" not in text
    assert "default recipients" in text
    assert all("default recipients" in (o.detail_in("en") or "") for o in result.evidence.affected)


def test_pim_policy_with_default_recipients_switched_off_and_no_recipients_alerts_nobody() -> None:
    s = snapshot(
        roleAssignments=[GA_HOLDER],
        roleEligibilitySchedules=[],
        roleManagementPolicyAssignments=role_policies(recipients=(), defaults=False),
    )
    result = run("admin.pim_alerts", s)
    assert result.status is Status.FAIL
    assert "Nobody is alerted" in reason(result)


@pytest.mark.parametrize("level", ["None", "none"])
def test_pim_alerts_with_notification_level_none_alert_nobody(level: str) -> None:
    policies = role_policies(recipients=("security@ict-partner.nl",), level=level)
    result = run(
        "admin.pim_alerts",
        snapshot(
            roleAssignments=[GA_HOLDER],
            roleEligibilitySchedules=[],
            roleManagementPolicyAssignments=policies,
        ),
    )
    assert result.status is Status.FAIL
    assert "Nobody is alerted" in reason(result)


# --- collection: the simulated Graph answers PIM for Groups as Graph documents it ---------------


def collect(tenant: Any, out: Any) -> Snapshot:
    with SimulatedGraph(tenant) as sim:
        cred = LoopbackClientSecretCredential(sim.token_url, tenant.client_id, tenant.client_secret)
        output = run_scan(
            cred,
            GraphSettings(base_url=sim.base_url, **FAST),
            [CHECKS[c] for c in ("admin.pim_ga_approval", "admin.pim_alerts")]
            + [CHECKS["admin.global_admin_count"]],
            tenant_id=tenant.tenant_id,
            out_dir=out,
            source="test",
        )
    return output.snapshot


def helpdesk_group(tenant: Any) -> str:
    return next(g["id"] for g in tenant.groups if g["displayName"] == "RG-Helpdesk")


def test_scan_reads_each_role_holding_groups_pim_settings_and_eligible_members(tmp_path) -> None:
    good = load_profile("good", users=60)
    gid = helpdesk_group(good)
    teacher = next(u for u in good.users if u["id"] not in good.group_members[gid])
    static = copy.deepcopy(good.static)
    path = "/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances"
    static[path]["value"].append(
        {
            "id": "elig-1",
            "groupId": gid,
            "principalId": teacher["id"],
            "accessId": "member",
            "memberType": "direct",
            "startDateTime": "2026-01-01T00:00:00Z",
            "endDateTime": "2027-01-01T00:00:00Z",
            "eligibilityScheduleId": "elig-1",
        }
    )
    s = collect(replace(good, static=static), tmp_path)
    policies = s.dataset("pimGroupPolicyAssignments")
    assert policies.status is DatasetStatus.OK
    assert set(policies.data) == {gid}
    assert {a["roleDefinitionId"] for a in policies.data[gid]} == {"member", "owner"}
    assert all(a["scopeType"] == "Group" and a["scopeId"] == gid for a in policies.data[gid])
    assert "scopeType eq 'Group'" in (policies.endpoint or "")
    eligible = s.dataset("pimGroupEligibility")
    assert eligible.status is DatasetStatus.OK
    assert [e["principalId"] for e in eligible.data[gid]] == [teacher["id"]]
    # The directory roles' own policies are read as before, without the groups'.
    roles = s.dataset("roleManagementPolicyAssignments")
    assert roles.ok and all(a["scopeType"] == "DirectoryRole" for a in roles.data)
    assert "Helpdesk Administrator" in privileged_holders(s)[teacher["id"]]["eligible"]


def test_without_the_pim_for_groups_permission_only_the_group_settings_are_refused(
    tmp_path,
) -> None:
    good = without_permission(
        load_profile("good", users=60), "RoleManagementPolicy.Read.AzureADGroup"
    )
    s = collect(good, tmp_path)
    assert s.dataset("pimGroupPolicyAssignments").status is DatasetStatus.FORBIDDEN
    assert s.dataset("roleManagementPolicyAssignments").status is DatasetStatus.OK
    assert s.dataset("pimGroupEligibility").status is DatasetStatus.OK


def test_school_without_entra_id_p2_is_not_asked_for_pim_for_groups(tmp_path) -> None:
    s = collect(load_profile("weak", users=60), tmp_path)
    for name in ("pimGroupPolicyAssignments", "pimGroupEligibility"):
        assert s.dataset(name).status is DatasetStatus.NOT_LICENSED, name


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances", ""),
        ("/policies/roleManagementPolicyAssignments", ""),
    ],
)
def test_simulated_graph_refuses_pim_lists_without_their_required_filter(path, query) -> None:
    good = load_profile("good", users=20)
    with SimulatedGraph(good) as sim:
        token = httpx.post(
            sim.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": good.client_id,
                "client_secret": good.client_secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        ).json()["access_token"]
        answer = httpx.get(
            f"{sim.graph_url}{path}{query}", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 400


def test_a_group_id_is_put_in_the_filter_and_nothing_else() -> None:
    from m365apk.scanner.datasets import keyed  # new with PIM for Groups

    spec = DATASETS["pimGroupPolicyAssignments"]
    gid = "0b6f1c2e-3d4a-4b5c-8d9e-0f1a2b3c4d5e"
    assert keyed(spec, gid).filter == f"scopeId eq '{gid}' and scopeType eq 'Group'"
    with pytest.raises(ValueError):
        keyed(spec, "x' or scopeType eq 'DirectoryRole")


def test_eligible_role_assignments_unread_leave_the_pim_settings_open() -> None:
    s = ict_beheer_tenant(group_policy(ICT_BEHEER, approval=True, recipients=["soc@school.nl"]))
    s.datasets["roleEligibilitySchedules"] = Dataset(
        status=DatasetStatus.FORBIDDEN, endpoint="x", permission="RoleEligibilitySchedule.Read"
    )
    # An eligible group holding Global Administrator could hide there: never a pass.
    assert run("admin.pim_ga_approval", s).status is Status.UNKNOWN
    assert run("admin.pim_alerts", s).status is Status.UNKNOWN


def test_simulated_school_where_ict_beheer_holds_global_admin_and_a_helpdesk_member_is_eligible(
    tmp_path,
) -> None:
    """End to end on the simulated Graph: the profile's group, its PIM for Groups policy
    (Microsoft's defaults: no approval, default recipients) and an eligible member."""
    spec = copy.deepcopy(_profile_data("good"))
    spec["groups"].append(
        {
            "key": "ict-beheer",
            "displayName": "ICT-beheer",
            "isAssignableToRole": True,
            "members": ["adm-ict"],
        }
    )
    spec["role_assignments"].append({"principal": "ict-beheer", "roles": ["Global Administrator"]})
    spec["eligible_group_members"] = [{"group": "ict-beheer", "principal": "hd1"}]
    tenant = _Builder(spec, "good", 60, 1, NOW.date()).build()
    with SimulatedGraph(tenant, capture=True) as sim:
        cred = LoopbackClientSecretCredential(sim.token_url, tenant.client_id, tenant.client_secret)
        output = run_scan(
            cred,
            GraphSettings(base_url=sim.base_url, **FAST),
            [CHECKS[c] for c in ("admin.pim_ga_approval", "admin.pim_alerts")]
            + [CHECKS["admin.global_admin_count"]],
            tenant_id=tenant.tenant_id,
            out_dir=tmp_path,
            source="test",
        )
        bodies = list(sim.bodies or [])
    results = {r.check_id: r for r in output.results}
    s = output.snapshot
    assert results["admin.pim_ga_approval"].status is Status.FAIL
    assert "ICT-beheer" in reason(results["admin.pim_ga_approval"])
    alerts = results["admin.pim_alerts"]
    assert alerts.status is Status.FAIL and "ICT-beheer" in reason(alerts)
    # Two groups: read in one $batch, each with its own group id in the $filter.
    policies = s.dataset("pimGroupPolicyAssignments").data
    assert len(policies) == 2
    assert all(a["scopeId"] == gid for gid, rows in policies.items() for a in rows)
    assert s.stats.batched_requests >= 4
    hd1 = next(u["id"] for u in tenant.users if u["displayName"] == "Helpdesk Daan Smits")
    assert "Global Administrator" in privileged_holders(s)[hd1]["eligible"]
    # Every PIM for Groups answer is one Graph v1.0 could give.
    pim_routes = {ROLE_POLICY_ROUTE, ELIGIBILITY_ROUTE}
    checked = [(route, body) for route, _, _, body in bodies if route in pim_routes]
    assert {route for route, _ in checked} == pim_routes
    for route, body in checked:
        for item in json.loads(body)["value"]:
            kind = ROUTE_TYPES[route]
            assert graph_schema.check(item, graph_schema.NS + kind, route) == []


def test_role_assignments_answered_empty_leave_the_pim_settings_open() -> None:
    s = snapshot(
        roleAssignments=[],
        roleEligibilitySchedules=[],
        roleManagementPolicyAssignments=role_policies(),
    )
    # Every tenant has a Global Administrator: an empty answer hides which groups hold roles.
    assert run("admin.pim_ga_approval", s).status is Status.UNKNOWN
    assert run("admin.pim_alerts", s).status is Status.UNKNOWN


def test_role_assignment_answered_without_its_principal_is_not_taken_for_a_user() -> None:
    s = ict_beheer_tenant(group_policy(ICT_BEHEER, approval=False, recipients=["soc@school.nl"]))
    for a in s.datasets["roleAssignments"].data:
        a.pop("principal")
    # ICT-beheer is no user the scan read: still judged as a group holding the role.
    assert run("admin.pim_ga_approval", s).status is Status.FAIL
    s.datasets["pimGroupPolicyAssignments"].data = {}
    assert run("admin.pim_ga_approval", s).status is Status.UNKNOWN
