"""SharePoint and OneDrive to CISA SCuBA's SharePoint baseline as far as Graph v1.0's
sharepointSettings reaches (issue 28, point 4): the checks on snapshots collected from the
simulated schools, and the baseline's coverage as data, stated in docs/sharepoint.md."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from m365apk.checks.base import Status
from m365apk.checks.manual import manual_items
from m365apk.checks.registry import all_checks
from m365apk.checks.sharepoint import CHECKS, GUEST_RESHARING, SHARING_DOMAINS, UNMANAGED_SYNC
from m365apk.cli import main
from m365apk.demo.server import SimulatedGraph
from m365apk.demo.tenant import TenantData, load_profile, without_permission
from m365apk.mappings.scuba import scuba_sharepoint
from m365apk.runs.scan import run_scan
from m365apk.scanner.auth import LoopbackClientSecretCredential
from m365apk.scanner.graph import GraphSettings
from m365apk.snapshot import DatasetStatus, Snapshot

from .conftest import FAST

DOC = Path(__file__).resolve().parent.parent / "docs" / "sharepoint.md"
SETTINGS = "sharepointSettings"


def collect(tenant: TenantData, out: Path) -> Snapshot:
    with SimulatedGraph(tenant) as sim:
        cred = LoopbackClientSecretCredential(sim.token_url, tenant.client_id, tenant.client_secret)
        return run_scan(
            cred,
            GraphSettings(base_url=sim.base_url, **FAST),
            list(CHECKS),
            tenant_id=tenant.tenant_id,
            out_dir=out,
            source="test",
        ).snapshot


@pytest.fixture(scope="module")
def weak(tmp_path_factory) -> Snapshot:
    return collect(load_profile("weak", users=20), tmp_path_factory.mktemp("weak"))


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Snapshot:
    return collect(load_profile("good", users=20), tmp_path_factory.mktemp("good"))


def setting(snapshot: Snapshot, **changes: Any) -> Snapshot:
    """The snapshot with properties of the SharePoint settings changed (None: null; a value
    of `...`: the property left out of Graph's answer)."""
    ds = snapshot.datasets[SETTINGS]
    data = {k: v for k, v in {**ds.data, **changes}.items() if v is not ...}
    changed = ds.model_copy(update={"data": data, "items": len(data)})
    return snapshot.model_copy(update={"datasets": {**snapshot.datasets, SETTINGS: changed}})


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_the_good_board_passes_and_the_weak_school_fails(check, weak, good) -> None:
    assert check.run(good).status is Status.PASS
    assert check.run(weak).status is Status.FAIL


def test_a_school_sharing_with_any_domain_fails_but_an_allow_list_passes(weak, good) -> None:
    """MS.SHAREPOINT.1.3v1: the weak school shares with anyone from any domain."""
    found = SHARING_DOMAINS.run(weak)
    assert found.status is Status.FAIL and "beveiligingsgroepen" in (found.reason or "")
    assert SHARING_DOMAINS.run(setting(weak, sharingDomainRestrictionMode="blockList")).status is (
        Status.FAIL
    )
    passed = SHARING_DOMAINS.run(good)
    assert passed.measured["sharingAllowedDomainList"] == ["sivon.nl", "kennisnet.nl"]


def test_a_school_that_shares_nothing_outside_has_no_domains_to_limit(weak) -> None:
    internal = setting(weak, sharingCapability="disabled")
    assert SHARING_DOMAINS.run(internal).status is Status.NOT_APPLICABLE
    assert GUEST_RESHARING.run(internal).status is Status.NOT_APPLICABLE


def test_guests_resharing_what_they_do_not_own_fails_while_guests_may_come_in(weak) -> None:
    existing = setting(weak, sharingCapability="existingExternalUserSharingOnly")
    assert GUEST_RESHARING.run(existing).status is Status.FAIL


def test_a_school_whose_onedrive_syncs_to_any_home_computer_fails(weak, good) -> None:
    """CIS 7.3.2. The settings' contract dropped isUnmanagedSyncAppForTenantRestricted before
    issue 28: the check was then unknown for every school."""
    assert "isUnmanagedSyncAppForTenantRestricted" in weak.datasets[SETTINGS].data
    found = UNMANAGED_SYNC.run(weak)
    assert found.status is Status.FAIL
    assert UNMANAGED_SYNC.run(good).measured["domeinen"] == 1


def test_a_school_whose_domain_lists_graph_left_null_is_not_shown_empty_lists(good) -> None:
    """allowList (or the sync restriction) on, but Graph gave no list (null): the verdict rests
    on the mode, and what was measured leaves the list out rather than show it empty."""
    unsaid = setting(good, sharingAllowedDomainList=None, allowedDomainGuidsForSyncApp=None)
    domains = SHARING_DOMAINS.run(unsaid)
    assert domains.status is Status.PASS
    assert "sharingAllowedDomainList" not in domains.measured
    sync = UNMANAGED_SYNC.run(unsaid)
    assert sync.status is Status.PASS and "domeinen" not in sync.measured
    empty = setting(good, sharingAllowedDomainList=[], allowedDomainGuidsForSyncApp=[])
    assert SHARING_DOMAINS.run(empty).measured["sharingAllowedDomainList"] == []
    assert UNMANAGED_SYNC.run(empty).measured["domeinen"] == 0


@pytest.mark.parametrize(
    ("check", "prop"),
    [
        (SHARING_DOMAINS, "sharingDomainRestrictionMode"),
        (SHARING_DOMAINS, "sharingCapability"),
        (GUEST_RESHARING, "isResharingByExternalUsersEnabled"),
        (UNMANAGED_SYNC, "isUnmanagedSyncAppForTenantRestricted"),
    ],
    ids=lambda v: getattr(v, "id", v),
)
@pytest.mark.parametrize("value", [None, ..., "unknownFutureValue"], ids=["null", "absent", "ufv"])
def test_a_setting_graph_did_not_give_is_unknown_naming_it(check, prop, value, good) -> None:
    found = check.run(setting(good, **{prop: value}))
    assert found.status is Status.UNKNOWN, (found.status, found.reason)
    assert prop in (found.reason or "")


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_unreadable_settings_are_unknown_with_the_reason(check, tmp_path) -> None:
    tenant = without_permission(load_profile("good", users=20), "SharePointTenantSettings.Read.All")
    snapshot = collect(tenant, tmp_path)
    assert snapshot.datasets[SETTINGS].status is DatasetStatus.FORBIDDEN
    found = check.run(snapshot)
    assert found.status is Status.UNKNOWN
    assert "SharePointTenantSettings.Read.All" in (found.reason or "")


# -- the baseline as data -----------------------------------------------------------------------

CURRENT = {
    "MS.SHAREPOINT.1.1v1",
    "MS.SHAREPOINT.1.2v1",
    "MS.SHAREPOINT.1.3v1",
    "MS.SHAREPOINT.2.1v1",
    "MS.SHAREPOINT.2.2v1",
    "MS.SHAREPOINT.3.1v1",
    "MS.SHAREPOINT.3.2v1",
    "MS.SHAREPOINT.3.3v1",
}
REMOVED = {"MS.SHAREPOINT.1.4v1", "MS.SHAREPOINT.4.1v1", "MS.SHAREPOINT.4.2v1"}


def test_every_policy_of_the_baseline_is_listed_once_with_its_coverage() -> None:
    baseline = scuba_sharepoint()
    ids = [p.id for p in baseline.policies]
    assert len(ids) == len(set(ids))
    assert {p.id for p in baseline.current} == CURRENT
    assert set(ids) - CURRENT == REMOVED
    for policy in baseline.current:
        assert policy.covered or policy.gap or policy.out_of_scope, policy.id
        assert policy.graph, f"{policy.id}: which property, or why Graph has none"


def test_every_named_check_and_manual_item_exists() -> None:
    checks = {c.id for c in all_checks(opt_in=True)}
    manual = {m.id for m in manual_items()}
    for policy in scuba_sharepoint().policies:
        assert set(policy.checks) <= checks, policy.id
        assert set(policy.manual) <= manual, policy.id


def test_the_docs_state_the_coverage_as_computed() -> None:
    summary = scuba_sharepoint().summary()
    text = DOC.read_text("utf-8")
    assert f"heeft {summary['totaal']} beleidsregels" in text
    assert f"dekt er {summary['gedekt']} van de {summary['totaal']}" in text
    assert f"{summary['als_controle']} met een automatische controle" in text
    assert f"{summary['alleen_handmatig']} als handmatig controlepunt" in text
    listed = set(re.findall(r"^\| (MS\.SHAREPOINT\.\d\.\dv\d) \|", text, flags=re.MULTILINE))
    assert listed == CURRENT


def test_checks_json_names_the_sharepoint_policies(capsys) -> None:
    assert main(["checks", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["sharepoint.sharing_domains"]["scuba"] == ["MS.SHAREPOINT.1.3v1"]
    assert rows["surface.external_sharing"]["scuba"] == ["MS.SHAREPOINT.1.1v1"]
    assert rows["mfa.legacy_auth_blocked"]["scuba"] == ["MS.AAD.1.1v1"]
