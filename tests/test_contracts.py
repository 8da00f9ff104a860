"""Response contracts (issue 11, findings 1, 7 and 13): held against Graph's own v1.0 schema,
and what the client does with an answer that breaks them."""

from __future__ import annotations

import asyncio
import json
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import httpx
import pytest
import respx
import typing_extensions

from m365apk.checks.base import Status
from m365apk.checks.registry import all_checks
from m365apk.demo.server import Fault, SimulatedGraph
from m365apk.demo.tenant import load_profile
from m365apk.runs.scan import run_scan
from m365apk.scanner.auth import LoopbackClientSecretCredential
from m365apk.scanner.datasets import DATASETS
from m365apk.scanner.graph import GraphClient, GraphSettings
from m365apk.snapshot import DatasetStatus

from .conftest import FAST

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "../shared/reference/graph-schema-v1.0.json"
if not SCHEMA_PATH.is_file():  # worktrees live beside main, the reference beside them
    SCHEMA_PATH = Path("/work/shared/reference/graph-schema-v1.0.json")
NS = "microsoft.graph."
BASE = "https://graph.microsoft.com/v1.0"

# Types m365apk reads that the extracted reference does not hold (groupSetting, PIM for Groups'
# eligibility instances and appManagementPolicy are v1.0, but not in the extract); their
# contracts are checked by the simulator tests only (demo/graph_schema.py SUPPLEMENT).
NOT_IN_REFERENCE = {
    "messageRule",  # inbox rules (List rules); in demo/graph_schema.py SUPPLEMENT
    "groupSetting",
    "privilegedAccessGroupEligibilityScheduleInstance",
    "appManagementPolicy",
}
# Required although Graph's metadata allows null or absence: a check would read absence as a
# setting's value ("disabled", "no reviewers") or as an object without its key. An answer
# without them is not one we can judge on, so the dataset is malformed, never a pass.
NEEDED = {
    ("authenticationMethodsPolicy", "authenticationMethodConfigurations"),  # navigation, inline
    ("authenticationMethodConfiguration", "state"),
    ("backupRestoreRoot", "serviceStatus"),
    ("serviceStatus", "status"),
    ("unifiedRoleAssignment", "principalId"),
    ("unifiedRoleAssignment", "roleDefinitionId"),
    ("unifiedRoleEligibilityScheduleInstance", "principalId"),
    ("unifiedRoleEligibilityScheduleInstance", "roleDefinitionId"),
    ("unifiedRoleAssignmentScheduleInstance", "principalId"),
    ("unifiedRoleAssignmentScheduleInstance", "roleDefinitionId"),
    ("appRoleAssignment", "principalId"),
    ("appRoleAssignment", "resourceId"),
    ("subscribedSku", "skuId"),
    ("assignedLicense", "skuId"),
    ("servicePlanInfo", "servicePlanId"),
    ("verifiedDomain", "name"),
    ("appRole", "id"),
}
# Beta only: kept by datasets read from beta (labelled /beta in the endpoint), never selected.
# None today: the antivirus check reads v1.0's Defender setting in the Windows configuration
# profile instead of the beta-only compliance-policy fields.
BETA_ONLY: set[tuple[str, str]] = set()


@cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())["types"]


def _chain(name: str) -> list[dict[str, Any]]:
    out, current = [], NS + name
    while current:
        found = schema()[current]
        out.append(found)
        current = found["base"]
    return out


def properties(name: str) -> dict[str, dict[str, Any]]:
    """Structural properties of a type with its bases."""
    return {k: v for t in reversed(_chain(name)) for k, v in t["properties"].items()}


def derived(name: str) -> list[str]:
    out = []
    for full, t in schema().items():
        base = t["base"]
        while base:
            if base == NS + name:
                out.append(full.removeprefix(NS))
                break
            base = schema()[base]["base"]
    return out


def known(name: str) -> dict[str, dict[str, Any] | str]:
    """Every property Graph may send for an object of this type: its own and its bases',
    navigation properties, and those of derived types (collections are polymorphic)."""
    found: dict[str, dict[str, Any] | str] = {}
    for t in [name, *derived(name)]:
        for part in _chain(t):
            found.update({k: v for k, v in part["navigation"].items() if k not in found})
        for k, v in properties(t).items():
            found.setdefault(k, v)
    return found


def required_keys(contract: type) -> set[str]:
    """Required fields as pydantic sees them (NotRequired[...] marks the others; typing's
    __required_keys__ misreads string annotations)."""
    hints = typing.get_type_hints(contract, include_extras=True)
    return {n for n, a in hints.items() if "NotRequired" not in str(get_origin(a))}


def _typed_dicts(annotation: Any) -> list[type]:
    """The TypedDicts inside an annotation (list[X], X | None, NotRequired[X])."""
    if typing_extensions.is_typeddict(annotation):
        return [annotation]
    origin = get_origin(annotation)
    if origin in (list, Union, types.UnionType) or str(origin).endswith("NotRequired"):
        return [t for a in get_args(annotation) for t in _typed_dicts(a)]
    return []


def _element(graph_type: str) -> str:
    inner = graph_type.removeprefix("Collection(").removesuffix(")")
    return inner.removeprefix(NS)


def walk(contract: type, graph_type: str, where: str = "") -> list[tuple[str, str, str, bool]]:
    """(place, graph type, field, required) for every field of a contract, nested ones too."""
    rows = []
    hints = typing.get_type_hints(contract, include_extras=True)
    fields = known(graph_type)
    for name, annotation in hints.items():
        required = name in required_keys(contract)
        rows.append((f"{where}{name}", graph_type, name, required))
        prop = fields.get(name)
        if prop is None:
            continue
        target = _element(prop if isinstance(prop, str) else prop["type"])
        if NS + target in schema():
            for nested in _typed_dicts(annotation):
                rows += walk(nested, target, f"{where}{name}.")
    return rows


# Datasets read from Graph (the e-mail DNS records and the audit log probe are not).
SPECS = sorted(
    (s for s in DATASETS.values() if getattr(s, "source", "graph") == "graph"),
    key=lambda s: s.name,
)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_dataset_names_its_v1_type(spec) -> None:
    assert spec.graph_type, f"{spec.name}: graph_type missing"
    assert spec.graph_type in NOT_IN_REFERENCE or NS + spec.graph_type in schema()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_selected_field_exists_on_the_v1_type(spec) -> None:
    """Finding 13: Graph answers an unknown $select property with 400 (publisherName is
    beta-only on servicePrincipal), so the whole dataset would fail on a real tenant."""
    if spec.graph_type in NOT_IN_REFERENCE or spec.api_version != "v1.0":
        pytest.skip("not in the reference extract" if spec.api_version == "v1.0" else "beta")
    fields = known(spec.graph_type)
    unknown = [f for f in spec.select if f not in fields]
    assert not unknown, f"{spec.name}: not on v1.0 {spec.graph_type}: {unknown}"
    unknown = [f for f in spec.expand if f.split("(")[0] not in fields]
    assert not unknown, f"{spec.name}: cannot expand {unknown}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_contract_agrees_with_the_v1_schema(spec) -> None:
    """Every field kept exists on the type (or a derived type); every required field is one
    Graph always returns (non-nullable, or a collection: OData never sends a collection as
    null), or one listed in NEEDED with the reason."""
    if spec.graph_type in NOT_IN_REFERENCE:
        pytest.skip("not in the reference extract")
    beta = {(t, n) for t, n in BETA_ONLY if spec.api_version == "beta"}
    problems = []
    for place, graph_type, name, required in walk(spec.item, spec.graph_type):
        if name.startswith("@odata."):
            continue
        prop = known(graph_type).get(name)
        if prop is None:
            if (graph_type, name) not in beta:
                problems.append(f"{place}: not on v1.0 {graph_type}")
            continue
        if not required or isinstance(prop, str):  # navigation: only in NEEDED
            if required and (graph_type, name) not in NEEDED:
                problems.append(f"{place}: required navigation property")
            continue
        always = not prop["nullable"] or prop["type"].startswith("Collection(")
        if not always and (graph_type, name) not in NEEDED:
            problems.append(f"{place}: required, but nullable on {graph_type}")
    assert not problems, problems


def test_beta_is_used_only_where_a_beta_only_property_is_kept() -> None:
    """Finding 13: v1.0 unless a check needs what only beta has; then the endpoint says so."""
    from m365apk.scanner.graph import endpoint

    beta = [s for s in SPECS if s.api_version == "beta"]
    assert [s.name for s in beta] == []  # every dataset is read from v1.0
    for spec in beta:
        assert endpoint(spec).startswith("GET /beta/")
        kept = {name for _, t, name, _ in walk(spec.item, spec.graph_type)}
        assert kept & {n for t, n in BETA_ONLY}


def test_needed_exceptions_are_all_in_use() -> None:
    """NEEDED must not become a dumping ground: each entry is a required field somewhere."""
    used = {
        (graph_type, name)
        for spec in SPECS
        if spec.graph_type not in NOT_IN_REFERENCE
        for _, graph_type, name, required in walk(spec.item, spec.graph_type)
        if required
    }
    assert used >= NEEDED, NEEDED - used


def test_no_dataset_is_kept_whole_without_a_contract() -> None:
    from m365apk.scanner.graph_models import Whole

    assert [s.name for s in SPECS if s.item is Whole] == []


# Single objects whose contract requires nothing (issue 25: a nullable property no longer
# rejects the object): `{}` is then read, and the checks that read it guard themselves.
GUARDED_BY_CHECKS = {"sharepointSettings", "deviceManagementSettings"}


def test_single_object_contracts_require_something() -> None:
    """`{}` must never satisfy a single-object contract (finding 1), unless every check that
    reads the object guards what it needs itself (GUARDED_BY_CHECKS, tested below)."""
    for spec in SPECS:
        if not spec.collection and spec.name not in GUARDED_BY_CHECKS:
            assert required_keys(spec.item), spec.name


# -- what the client does with answers that break the contract --------------------------------


def run(coro):
    return asyncio.run(coro)


SINGLE = [s.name for s in SPECS if not s.collection]
BROKEN_OBJECTS = {
    "empty object": {},
    "value as object": {"value": {"id": "x"}},
    "only odata.context": {"@odata.context": f"{BASE}/$metadata#x"},
    "null fields": "null",
    "wrong types": "wrong",
}


def _good_object(name: str) -> dict[str, Any]:
    return {
        "securityDefaults": {"id": "p", "isEnabled": True},
        "authorizationPolicy": {
            "id": "authorizationPolicy",
            "allowInvitesFrom": "adminsAndGuestInviters",
            "allowedToSignUpEmailBasedSubscriptions": False,
            "allowedToUseSSPR": False,
            "allowEmailVerifiedUsersToJoinOrganization": False,
            "guestUserRoleId": "2af84b1e-32c8-42b7-82bc-daa82404023b",
            "defaultUserRolePermissions": {
                "allowedToCreateApps": False,
                "permissionGrantPoliciesAssigned": [],
            },
        },
        "authenticationMethodsPolicy": {
            "id": "authenticationMethodsPolicy",
            "authenticationMethodConfigurations": [{"id": "Sms", "state": "disabled"}],
        },
        "adminConsentRequestPolicy": {"isEnabled": True, "reviewers": []},
        "backupRestore": {"id": "", "serviceStatus": {"status": "enabled"}},
        "sharepointSettings": {"sharingCapability": "disabled"},
        "deviceManagementSettings": {"settings": {"secureByDefault": True}},
        "appManagementPolicy": {"id": "00000000-0000-0000-0000-000000000000", "isEnabled": True},
    }[name]


def test_every_single_object_dataset_has_a_valid_example() -> None:
    assert set(SINGLE) == {
        "securityDefaults",
        "authorizationPolicy",
        "authenticationMethodsPolicy",
        "adminConsentRequestPolicy",
        "backupRestore",
        "sharepointSettings",
        "deviceManagementSettings",
        "appManagementPolicy",
    }


@pytest.mark.parametrize("name", SINGLE)
@respx.mock
def test_a_valid_single_object_is_ok(name: str, graph_client: GraphClient) -> None:
    spec = DATASETS[name]
    respx.get(f"{BASE}{spec.path}").mock(return_value=httpx.Response(200, json=_good_object(name)))
    ds = run(graph_client.dataset(spec))
    assert ds.status is DatasetStatus.OK, ds.error_message


@pytest.mark.parametrize("shape", sorted(BROKEN_OBJECTS))
@pytest.mark.parametrize("name", SINGLE)
@respx.mock
def test_single_object_breaking_its_contract_is_malformed(
    name: str, shape: str, graph_client: GraphClient
) -> None:
    """Finding 1: `{}`, `{"value": {...}}`, only `@odata.context`, nulls or wrong types where
    Graph always sends a value: the dataset is malformed, with the place named."""
    spec = DATASETS[name]
    body = BROKEN_OBJECTS[shape]
    if body == "null":
        body = {k: None for k in _good_object(name)}
    elif body == "wrong":
        body = {k: [1] for k in _good_object(name)}
    respx.get(f"{BASE}{spec.path}").mock(return_value=httpx.Response(200, json=body))
    ds = run(graph_client.dataset(spec))
    if ds.ok and name in GUARDED_BY_CHECKS:
        # Read (issue 25), but no check that reads it is judged on what is not there.
        for check, result in _checks_on(name, ds):
            assert result.status in (Status.UNKNOWN, Status.NOT_APPLICABLE), (check.id, result)
        return
    assert ds.status is DatasetStatus.MALFORMED and not ds.ok
    assert ds.error_code == "malformed_response" and ds.data is None
    assert ds.error_message.startswith("onleesbaar antwoord: ")


def _checks_on(name: str, ds) -> list:
    """Every check reading dataset `name`, run with `ds` read as it came and every other
    dataset it needs read and in order (one compliant, encrypted device)."""
    from .snapshots import ok, snapshot

    device = {
        "id": "d1",
        "operatingSystem": "Windows",
        "osVersion": "10.0.26100.1",
        "complianceState": "compliant",
        "isEncrypted": True,
    }
    snap = snapshot(**{name: ds, "managedDevices": ok([device])})
    return [(c, c.run(snap)) for c in all_checks() if name in c.all_datasets]


@pytest.mark.parametrize(
    "body",
    [{}, {"value": {"id": "u1"}}, {"@odata.context": f"{BASE}/$metadata#users"}, {"value": None}],
    ids=["empty", "value-object", "value-missing", "value-null"],
)
@respx.mock
def test_collection_breaking_its_contract_is_malformed(body: Any, graph_client) -> None:
    respx.get(f"{BASE}/users").mock(return_value=httpx.Response(200, json=body))
    ds = run(graph_client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.MALFORMED and ds.data is None


@respx.mock
def test_unknown_properties_are_dropped_from_single_objects(graph_client: GraphClient) -> None:
    """Finding 7: a policy object is no longer kept whole; what no check reads is dropped."""
    body = {**_good_object("authorizationPolicy"), "extensionJunk": "x" * 1_000_000}
    body["defaultUserRolePermissions"]["junk"] = {"deep": "y" * 1000}
    respx.get(f"{BASE}/policies/authorizationPolicy").mock(
        return_value=httpx.Response(200, json=body)
    )
    ds = run(graph_client.dataset(DATASETS["authorizationPolicy"]))
    assert ds.ok and "extensionJunk" not in ds.data
    assert "junk" not in ds.data["defaultUserRolePermissions"]


@respx.mock
def test_a_50_mb_answer_never_reaches_the_snapshot(graph_client: GraphClient) -> None:
    """Finding 7: 50 MB in one answer is refused at the size cap (32 MB by default)."""
    body = json.dumps({**_good_object("authorizationPolicy"), "junk": "x" * (50 << 20)})
    respx.get(f"{BASE}/policies/authorizationPolicy").mock(
        return_value=httpx.Response(200, content=body.encode())
    )
    ds = run(graph_client.dataset(DATASETS["authorizationPolicy"]))
    assert ds.status is DatasetStatus.MALFORMED and ds.data is None
    assert "groter dan 32 MB" in ds.error_message


@respx.mock
def test_an_overlong_string_is_malformed_not_kept(graph_client: GraphClient) -> None:
    users = {"value": [{"id": "u1", "displayName": "x" * 100_000}]}
    respx.get(f"{BASE}/users").mock(return_value=httpx.Response(200, json=users))
    ds = run(graph_client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.MALFORMED and "value.0.displayName" in ds.error_message


# -- end to end: the checks on a malformed answer ---------------------------------------------


def _scan(profile: str, tmp_path: Path, *faults: tuple[str, Fault]):
    tenant = load_profile(profile)
    with SimulatedGraph(tenant) as sim:
        for path, fault in faults:
            sim.inject(path, *([fault] * 20))
        cred = LoopbackClientSecretCredential(sim.token_url, tenant.client_id, tenant.client_secret)
        return run_scan(
            cred,
            GraphSettings(base_url=sim.base_url, **FAST),
            all_checks(),
            tenant_id=tenant.tenant_id,
            out_dir=tmp_path,
            source="test",
        )


@pytest.mark.integration
def test_authorization_policy_answering_empty_object_leaves_its_checks_unknown(
    tmp_path: Path,
) -> None:
    """Finding 1 as it was found: `{}` from authorizationPolicy turned apps.user_consent and
    surface.self_service_signup from fail into pass on the weak school."""
    out = _scan("weak", tmp_path, ("/policies/authorizationPolicy", Fault(200, body=b"{}")))
    results = {r.check_id: r for r in out.results}
    for cid in ("apps.user_consent", "surface.self_service_signup"):
        assert results[cid].status is Status.UNKNOWN, results[cid]
        assert "onvolledig of onleesbaar" in results[cid].reason
    assert out.snapshot.dataset("authorizationPolicy").status is DatasetStatus.MALFORMED
    assert out.snapshot.partial


@pytest.mark.integration
def test_backup_and_methods_policy_without_their_settings_are_unknown(tmp_path: Path) -> None:
    out = _scan(
        "weak",
        tmp_path,
        ("/policies/authenticationMethodsPolicy", Fault(200, body=b'{"id": "x"}')),
        ("/solutions/backupRestore", Fault(200, body=b'{"@odata.context": "x"}')),
    )
    results = {r.check_id: r.status for r in out.results}
    assert results["mfa.weak_methods_disabled"] is Status.UNKNOWN
    assert results["backup.coverage"] is Status.UNKNOWN


@respx.mock
def test_a_page_with_more_items_than_graph_ever_sends_is_malformed(graph_client) -> None:
    from m365apk.scanner.graph_models import MAX_PAGE_ITEMS

    page = {"value": [{"id": f"u{i}"} for i in range(MAX_PAGE_ITEMS + 1)]}
    respx.get(f"{BASE}/users").mock(return_value=httpx.Response(200, json=page))
    ds = run(graph_client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.MALFORMED and "value" in ds.error_message
