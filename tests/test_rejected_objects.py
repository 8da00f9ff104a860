"""Issue 26, finding 10: one object that breaks its contract is dropped with its id in the
evidence and makes the dataset incomplete; it does not take the other objects with it.

Before, one 300 kB displayName made the whole users dataset malformed (every check reading
users unknown, nothing said which account). Now the account is named, the others are kept as
evidence, and each check that needs the dataset is unknown naming it. A page whose envelope is
broken (not JSON, no `value` list) still makes the dataset malformed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from m365apk.checks.base import Status
from m365apk.checks.registry import all_checks
from m365apk.scanner.datasets import DATASETS
from m365apk.scanner.graph import GraphClient, GraphSettings
from m365apk.snapshot import Dataset, DatasetStatus, Snapshot

from .conftest import FAST, StaticCredential
from .graph_batch import batch_route
from .snapshots import GA, SKUS, assignment, ok, registration, snapshot, user

BASE = "https://graph.microsoft.com/v1.0"
CHECKS = {c.id: c for c in all_checks()}


def run(coro):
    return asyncio.run(coro)


def client(**options: Any) -> GraphClient:
    return GraphClient(StaticCredential(), GraphSettings(**{**FAST, **options}))


def page(items: list[Any], next_link: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"@odata.context": f"{BASE}/$metadata#x", "value": items}
    if next_link:
        body["@odata.nextLink"] = next_link
    return httpx.Response(200, json=body)


def teachers(n: int) -> list[dict[str, Any]]:
    return [user(f"t{i}") for i in range(n)]


def devices(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"d{i}",
            "deviceName": f"LAPTOP-{i}",
            "operatingSystem": "Windows",
            "osVersion": "10.0.22631.4169",
            "complianceState": "compliant",
            "isEncrypted": True,
            "managedDeviceOwnerType": "company",
        }
        for i in range(n)
    ]


@respx.mock
def read(name: str, items: list[Any]) -> Dataset:
    respx.get(f"{BASE}{DATASETS[name].path}").mock(return_value=page(items))
    return run(client().dataset(DATASETS[name]))


# -- plain collections --------------------------------------------------------------------------


def test_one_user_with_a_300_kb_display_name_is_dropped_not_the_users_dataset() -> None:
    users = teachers(5)
    users[2]["displayName"] = "x" * 300_000
    ds = read("users", users)
    assert ds.status is DatasetStatus.INCOMPLETE and not ds.ok
    assert [u["id"] for u in ds.data] == ["t0", "t1", "t3", "t4"]  # the others kept
    assert ds.rejected_objects == 1 and len(ds.rejected) == 1
    assert ds.rejected[0].startswith("t2: displayName")
    assert "xxxx" not in ds.rejected[0] and "xxxx" not in (ds.error_message or "")
    assert ds.error_code == "objects_rejected" and ds.items is None


def test_a_check_reading_users_with_one_account_dropped_is_unknown_naming_that_account() -> None:
    users = teachers(5)
    users[2]["displayName"] = "x" * 300_000
    ds = read("users", users)
    result = CHECKS["mfa.registration_coverage"].run(
        snapshot(
            users=ds,
            subscribedSkus=ok(SKUS),
            roleAssignments=ok([assignment("t0", GA)]),
            userRegistrationDetails=ok([registration(f"t{i}", True) for i in range(5)]),
        )
    )
    assert result.status is Status.UNKNOWN
    assert "t2" in result.reason and "displayName" in result.reason
    english = result.reason_in("en") or ""
    assert "t2" in english and "left out" in english, english


def test_one_managed_device_with_a_wrong_type_is_dropped_with_its_id() -> None:
    found = devices(4)
    found[1]["isEncrypted"] = "partly"  # a boolean in Graph's contract
    ds = read("managedDevices", found)
    assert ds.status is DatasetStatus.INCOMPLETE
    assert [d["id"] for d in ds.data] == ["d0", "d2", "d3"]
    assert len(ds.rejected) == 1
    assert ds.rejected[0].startswith("d1: isEncrypted: Input should be a valid boolean")
    result = CHECKS["devices.encryption"].run(snapshot(managedDevices=ds))
    assert result.status is Status.UNKNOWN and "d1" in result.reason


def test_a_device_without_an_id_is_named_by_its_place_over_every_page() -> None:
    first, second = devices(3), devices(5)[3:]
    del second[1]["id"]  # the 5th object of the collection
    url = f"{BASE}/deviceManagement/managedDevices"
    with respx.mock:
        respx.get(url).mock(side_effect=[page(first, f"{url}?$skiptoken=2"), page(second)])
        ds = run(client().dataset(DATASETS["managedDevices"]))
    assert ds.status is DatasetStatus.INCOMPLETE and ds.pages == 2
    assert [d["id"] for d in ds.data] == ["d0", "d1", "d2", "d3"]
    assert ds.rejected == ["#5: id: Field required"]


def test_a_thousand_broken_accounts_are_counted_but_only_fifty_named() -> None:
    users = teachers(1000)
    for u in users[:-1]:
        u["accountEnabled"] = "sometimes"
    ds = read("users", users)
    assert ds.status is DatasetStatus.INCOMPLETE and [u["id"] for u in ds.data] == ["t999"]
    assert ds.rejected_objects == 999 and len(ds.rejected) == 50
    again = Dataset.model_validate_json(ds.model_dump_json())
    assert again.rejected == ds.rejected and again.rejected_objects == 999


@pytest.mark.parametrize(
    "body",
    [
        b'{"value": [ {"id": ',  # not JSON
        b'{"@odata.context": "x"}',  # no value list
        b'{"value": {"id": "t0"}}',  # value an object
        b'{"value": [], "@odata.nextLink": 5}',  # a next link that is no string
    ],
)
def test_a_page_whose_envelope_is_broken_still_makes_the_users_dataset_malformed(body) -> None:
    with respx.mock:
        respx.get(f"{BASE}/users").mock(return_value=httpx.Response(200, content=body))
        ds = run(client().dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.MALFORMED and ds.data is None and not ds.rejected


def test_a_page_that_keeps_its_contract_is_read_whole_and_ok() -> None:
    ds = read("users", teachers(3))
    assert ds.ok and not ds.rejected and ds.rejected_objects == 0 and len(ds.data) == 3


def test_a_snapshot_written_before_rejected_objects_existed_still_reads() -> None:
    old = snapshot(users=ok(teachers(2))).model_dump(mode="json")
    for ds in old["datasets"].values():
        ds.pop("rejected"), ds.pop("rejected_objects")
    again = Snapshot.model_validate(old)
    assert again.dataset("users").rejected == [] and again.dataset("users").ok


# -- fan-outs, in and outside $batch ------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 20])
@respx.mock
def test_one_role_group_member_breaking_its_contract_inside_a_batch_leaves_that_group_unread(
    batch_size: int,
) -> None:
    """A key whose answer held a broken object is not read whole: it is unread (checks take
    the keys they are given as read in full) and the object is named under it."""
    batch_route()
    members = [user(f"m{i}") for i in range(3)]
    members[1]["userPrincipalName"] = ["m1@school.nl"]  # a string in Graph's contract
    respx.get(f"{BASE}/groups/g1/members").mock(return_value=page([user("a0")]))
    respx.get(f"{BASE}/groups/g2/members").mock(return_value=page(members))
    graph = client(batch_size=batch_size)
    ds = run(graph.fan_out(DATASETS["roleGroupMembers"], ["g1", "g2"]))
    assert (graph.stats.batched_requests > 0) is (batch_size > 1)
    assert ds.status is DatasetStatus.INCOMPLETE and not ds.ok
    assert ds.unread_keys == ["g2"] and list(ds.data) == ["g1"]
    assert ds.rejected == ["g2/m1: userPrincipalName: Input should be a valid string"]
    assert ds.rejected_objects == 1
    group = assignment("g2", GA, kind="group")
    result = CHECKS["admin.global_admin_count"].run(
        snapshot(roleAssignments=ok([assignment("a0", GA), group]), roleGroupMembers=ds)
    )
    assert result.status is Status.UNKNOWN
    assert "g2" in result.reason and "m1" in result.reason


@pytest.mark.parametrize("batch_size", [1, 20])
@respx.mock
def test_a_group_not_found_and_one_with_a_broken_member_are_both_unread(batch_size: int) -> None:
    batch_route()
    broken = [{"id": "m0", "accountEnabled": "partly"}]
    respx.get(f"{BASE}/groups/g1/members").mock(return_value=page([user("a0")]))
    respx.get(f"{BASE}/groups/g2/members").mock(
        return_value=httpx.Response(404, json={"error": {"code": "Request_ResourceNotFound"}})
    )
    respx.get(f"{BASE}/groups/g3/members").mock(return_value=page(broken))
    graph = client(batch_size=batch_size)
    ds = run(graph.fan_out(DATASETS["roleGroupMembers"], ["g1", "g2", "g3"]))
    assert ds.status is DatasetStatus.INCOMPLETE
    assert ds.unread_keys == ["g2", "g3"] and list(ds.data) == ["g1"]
    assert len(ds.rejected) == 1
    assert ds.rejected[0].startswith("g3/m0: accountEnabled: Input should be a valid boolean")
    assert "2 van 3" in (ds.error_message or "")


def test_a_users_page_of_which_no_account_keeps_its_contract_is_malformed_naming_them() -> None:
    """Not one object breaking its contract but the answer: malformed as before, the accounts
    still named in the evidence."""
    users = teachers(3)
    for u in users:
        u["assignedLicenses"] = "all"
    ds = read("users", users)
    assert ds.status is DatasetStatus.MALFORMED and ds.data is None
    assert "value.0.assignedLicenses" in (ds.error_message or "")
    assert [r.split(":")[0] for r in ds.rejected] == ["t0", "t1", "t2"]


@pytest.mark.parametrize("batch_size", [1, 20])
@respx.mock
def test_a_role_group_whose_only_member_is_broken_beside_an_empty_group_is_unread_not_malformed(
    batch_size: int,
) -> None:
    batch_route()
    respx.get(f"{BASE}/groups/g1/members").mock(return_value=page([]))
    respx.get(f"{BASE}/groups/g2/members").mock(return_value=page([{"displayName": "no id"}]))
    graph = client(batch_size=batch_size)
    ds = run(graph.fan_out(DATASETS["roleGroupMembers"], ["g1", "g2"]))
    assert ds.status is DatasetStatus.INCOMPLETE and ds.data == {"g1": []}
    assert ds.unread_keys == ["g2"] and ds.rejected == ["g2/#1: id: Field required"]


@pytest.mark.parametrize("batch_size", [1, 20])
@respx.mock
def test_role_groups_of_which_no_member_keeps_its_contract_are_malformed(batch_size: int) -> None:
    batch_route()
    for key in ("g1", "g2"):
        respx.get(f"{BASE}/groups/{key}/members").mock(return_value=page([{"id": 5}]))
    graph = client(batch_size=batch_size)
    ds = run(graph.fan_out(DATASETS["roleGroupMembers"], ["g1", "g2"]))
    assert ds.status is DatasetStatus.MALFORMED and ds.data is None
    assert ds.unread_keys == ["g1", "g2"] and ds.rejected_objects == 2


@pytest.mark.parametrize("batch_size", [1, 20])
@respx.mock
def test_a_forbidden_group_beside_one_with_a_broken_member_is_forbidden_naming_both(
    batch_size: int,
) -> None:
    batch_route()
    respx.get(f"{BASE}/groups/g1/members").mock(
        return_value=httpx.Response(403, json={"error": {"code": "Authorization_RequestDenied"}})
    )
    respx.get(f"{BASE}/groups/g2/members").mock(
        return_value=page([user("a0"), {"id": "m1", "userType": 3}])
    )
    graph = client(batch_size=batch_size)
    ds = run(graph.fan_out(DATASETS["roleGroupMembers"], ["g1", "g2"]))
    assert ds.status is DatasetStatus.FORBIDDEN and ds.data is None
    assert ds.unread_keys == ["g1", "g2"] and ds.rejected[0].startswith("g2/m1: userType")
