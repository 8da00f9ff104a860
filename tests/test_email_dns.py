"""E-mail domain protection (SPF, DMARC, DKIM, MTA-STS) through the real lookup path: dnspython
asking the simulated schools' DNS server on loopback, during a scan of the simulated Graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from m365apk.checks import email
from m365apk.checks.base import Status
from m365apk.checks.evaluate import evaluate
from m365apk.demo.dns import SimulatedDns
from m365apk.demo.server import SimulatedGraph
from m365apk.demo.tenant import TenantData, demo_settings, load_profile, profile_dns
from m365apk.runs.scan import run_scan
from m365apk.scanner import dns as dns_lookup
from m365apk.scanner.auth import LoopbackClientSecretCredential
from m365apk.scanner.graph import GraphSettings
from m365apk.snapshot import DatasetStatus, Snapshot

from .conftest import FAST

IDS = [c.id for c in email.CHECKS]
ORDER = {Status.PASS: 2, Status.PARTIAL: 1, Status.FAIL: 0}


def scan(tenant: TenantData, out: Path, dns: SimulatedDns | None) -> Snapshot:
    with SimulatedGraph(tenant) as sim:
        cred = LoopbackClientSecretCredential(sim.token_url, tenant.client_id, tenant.client_secret)
        settings = GraphSettings(
            base_url=sim.base_url, dns_server=dns.address if dns else None, **FAST
        )
        return run_scan(
            cred,
            settings,
            email.CHECKS,
            tenant_id=tenant.tenant_id,
            out_dir=out,
            source="test",
            tenant_settings=demo_settings(tenant.name),
        ).snapshot


def statuses(snapshot: Snapshot) -> dict[str, Status]:
    return {r.check_id: r.status for r in evaluate(snapshot, email.CHECKS)}


@pytest.fixture(autouse=True)
def quick_timeout(monkeypatch) -> None:
    monkeypatch.setattr(dns_lookup, "TIMEOUT_SECONDS", 0.3)


@pytest.mark.integration
def test_weak_school_without_dmarc_and_with_neutral_spf_fails_all(tmp_path) -> None:
    tenant = load_profile("weak", users=20)
    with SimulatedDns(tenant) as dns:
        snapshot = scan(tenant, tmp_path, dns)
    assert statuses(snapshot) == dict.fromkeys(IDS, Status.FAIL)
    lookups = snapshot.dataset("mailDomainDns").data["obsderegenboog.nl"]
    assert lookups["dmarc"]["status"] == "nxdomain"  # answered: there is no record
    assert ("_dmarc.obsderegenboog.nl", "TXT") in dns.queries
    # Microsoft's own *.onmicrosoft.com domain is not the school's to publish in.
    assert set(snapshot.dataset("mailDomainDns").data) == {"obsderegenboog.nl"}


@pytest.mark.integration
def test_good_school_with_reject_dmarc_strict_spf_and_dkim_passes_all(tmp_path) -> None:
    tenant = load_profile("good", users=20)
    with SimulatedDns(tenant) as dns:
        assert statuses(scan(tenant, tmp_path, dns)) == dict.fromkeys(IDS, Status.PASS)


@pytest.mark.integration
def test_dns_server_that_does_not_answer_gives_unknown_never_pass(tmp_path) -> None:
    tenant = load_profile("good", users=20)
    with SimulatedDns(tenant, silent=True) as dns:
        snapshot = scan(tenant, tmp_path, dns)
    assert snapshot.dataset("mailDomainDns").status is DatasetStatus.ERROR
    results = {r.check_id: r for r in evaluate(snapshot, email.CHECKS)}
    for result in results.values():
        assert result.status is Status.UNKNOWN
        assert "DNS" in (result.reason or "")


@pytest.mark.integration
def test_one_dmarc_lookup_timing_out_leaves_dmarc_unknown_and_the_rest_measured(tmp_path) -> None:
    tenant = load_profile("good", users=20)
    with SimulatedDns(tenant, drop={"_dmarc.voorbeeldonderwijs.nl"}) as dns:
        result = statuses(scan(tenant, tmp_path, dns))
    assert result["email.dmarc"] is Status.UNKNOWN
    assert result["email.spf"] is Status.PASS and result["email.dkim"] is Status.PASS


@pytest.mark.integration
def test_simulated_graph_without_a_dns_server_never_asks_the_outside_world(tmp_path) -> None:
    snapshot = scan(load_profile("good", users=20), tmp_path, None)
    dataset = snapshot.dataset("mailDomainDns")
    assert dataset.status is DatasetStatus.NOT_COLLECTED
    assert set(statuses(snapshot).values()) == {Status.UNKNOWN}


def _records(name: str) -> dict[str, dict[str, list[str]]]:
    return {k: {t: list(v) for t, v in types.items()} for k, types in profile_dns(name).items()}


@pytest.mark.integration
def test_mail_domain_routed_elsewhere_is_not_judged(tmp_path) -> None:
    tenant = load_profile("weak", users=20)
    records = _records("weak")
    records["obsderegenboog.nl"]["MX"] = ["10 mx.andere-provider.example"]
    with SimulatedDns(tenant, records=records) as dns:
        result = statuses(scan(tenant, tmp_path, dns))
    assert set(result.values()) == {Status.NOT_APPLICABLE}


@pytest.mark.integration
def test_removing_any_record_of_the_good_school_never_improves_a_verdict(tmp_path) -> None:
    tenant = load_profile("good", users=20)
    with SimulatedDns(tenant) as dns:
        before = statuses(scan(tenant, tmp_path / "base", dns))
    for name, types in _records("good").items():
        for rdtype in types:
            if rdtype == "MX":
                continue  # no MX: the domain no longer receives mail and is out of scope
            records = _records("good")
            del records[name][rdtype]
            with SimulatedDns(tenant, records=records) as dns:
                after = statuses(scan(tenant, tmp_path / f"{name}-{rdtype}", dns))
            for cid, status in after.items():
                assert status in ORDER, (name, rdtype, cid, status)
                assert ORDER[status] <= ORDER[before[cid]], (name, rdtype, cid, status)


# --- the record rules, one real-world record each -----------------------------------------------


@pytest.mark.parametrize(
    ("txt", "expected"),
    [
        (["v=spf1 include:spf.protection.outlook.com -all"], "pass"),
        (["v=spf1 include:spf.protection.outlook.com ~all"], "pass"),
        (["v=spf1 redirect=_spf.school.nl"], "unknown"),  # not followed: not claimed
        (["v=spf1 include:spf.protection.outlook.com ?all"], "fail"),
        (["v=spf1 include:spf.protection.outlook.com +all"], "fail"),
        (["v=spf1 include:spf.protection.outlook.com"], "fail"),
        (["v=spf1 -all", "v=spf1 include:spf.protection.outlook.com -all"], "fail"),
        (["MS=ms12345678"], "fail"),
    ],
)
def test_spf_rules(txt: list[str], expected: str) -> None:
    assert email.spf_verdict({"txt": {"status": "ok", "records": txt}})[0] == expected


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("v=DMARC1; p=reject; rua=mailto:d@school.nl", "pass"),
        ("v=DMARC1; p=quarantine; pct=100; rua=mailto:d@school.nl", "pass"),
        ("v=DMARC1; p=none; rua=mailto:d@school.nl", "fail"),
        ("v=DMARC1; p=reject; pct=25; rua=mailto:d@school.nl", "fail"),
        ("v=DMARC1; p=reject", "fail"),
        ("v=DMARC1; sp=reject; rua=mailto:d@school.nl", "fail"),
    ],
)
def test_dmarc_rules(record: str, expected: str) -> None:
    assert email.dmarc_verdict({"dmarc": {"status": "ok", "records": [record]}})[0] == expected


def test_dmarc_nxdomain_is_a_fail_and_a_timeout_is_unknown() -> None:
    assert email.dmarc_verdict({"dmarc": {"status": "nxdomain", "records": []}})[0] == "fail"
    assert email.dmarc_verdict({"dmarc": {"status": "timeout", "records": []}})[0] == "unknown"
