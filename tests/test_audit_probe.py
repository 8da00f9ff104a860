"""The opt-in audit log probe: it runs only when asked for, creates one query through Graph's
audit log query API, waits for it, and never says "in orde" without records to show."""

from __future__ import annotations

from pathlib import Path

import pytest

from m365apk.checks.audit_probe import UNIFIED_AUDIT_LOG
from m365apk.checks.base import Status
from m365apk.checks.evaluate import evaluate
from m365apk.cli import _checks, main
from m365apk.demo import audit
from m365apk.demo.server import SimulatedGraph
from m365apk.demo.tenant import TenantData, load_profile, without_permission
from m365apk.runs.scan import run_scan
from m365apk.scanner.auth import LoopbackClientSecretCredential
from m365apk.scanner.graph import GraphSettings
from m365apk.snapshot import DatasetStatus, Snapshot

from .conftest import FAST


def probe(tenant: TenantData, out: Path, **settings: float) -> tuple[Snapshot, SimulatedGraph]:
    with SimulatedGraph(tenant) as sim:
        cred = LoopbackClientSecretCredential(sim.token_url, tenant.client_id, tenant.client_secret)
        snapshot = run_scan(
            cred,
            GraphSettings(base_url=sim.base_url, **{**FAST, **settings}),
            [UNIFIED_AUDIT_LOG],
            tenant_id=tenant.tenant_id,
            out_dir=out,
            source="test",
        ).snapshot
    return snapshot, sim


def status(snapshot: Snapshot) -> Status:
    return evaluate(snapshot, [UNIFIED_AUDIT_LOG])[0].status


def test_the_probe_is_not_part_of_a_scan_unless_asked_for() -> None:
    assert UNIFIED_AUDIT_LOG.id not in {c.id for c in _checks(None, audit_probe=False)}
    assert UNIFIED_AUDIT_LOG.id in {c.id for c in _checks(None, audit_probe=True)}


@pytest.mark.integration
def test_demo_without_the_flag_creates_no_query_in_the_tenant(tmp_path, monkeypatch) -> None:
    created: list[dict] = []
    original = audit.AuditSearch.create
    monkeypatch.setattr(
        audit.AuditSearch, "create", lambda self, body: created.append(body) or original(self, body)
    )
    assert (
        main(["demo", "--profile", "good", "--users", "20", "--out", str(tmp_path), "--quiet"]) == 0
    )
    assert created == []


@pytest.mark.integration
def test_school_whose_audit_log_records_passes_after_the_query_ran(tmp_path) -> None:
    snapshot, sim = probe(load_profile("good", users=20), tmp_path)
    assert status(snapshot) is Status.PASS
    posts = [r for r in sim.requests if r.method == "POST" and "auditLog" in r.path]
    polls = [
        r
        for r in sim.requests
        if r.method == "GET" and "/auditLog/queries/" in r.path and not r.path.endswith("records")
    ]
    assert len(posts) == 1 and polls  # created once, then read until it succeeded


@pytest.mark.integration
def test_school_with_the_audit_log_switched_off_fails(tmp_path) -> None:
    snapshot, _ = probe(load_profile("weak", users=20), tmp_path)
    assert status(snapshot) is Status.FAIL


@pytest.mark.integration
def test_query_still_running_at_the_deadline_is_unknown_never_pass(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(audit, "STEPS", ("notStarted", "running"))
    snapshot, _ = probe(load_profile("good", users=20), tmp_path, audit_probe_wait_seconds=0.05)
    dataset = snapshot.dataset("unifiedAuditLogProbe")
    assert dataset.status is DatasetStatus.ERROR and dataset.error_code == "time-out"
    assert status(snapshot) is Status.UNKNOWN


@pytest.mark.integration
def test_without_audit_query_consent_the_probe_is_unknown(tmp_path) -> None:
    tenant = without_permission(load_profile("good", users=20), "AuditLogsQuery.Read.All")
    snapshot, _ = probe(tenant, tmp_path)
    assert snapshot.dataset("unifiedAuditLogProbe").status is DatasetStatus.FORBIDDEN
    assert status(snapshot) is Status.UNKNOWN


def test_permissions_name_the_audit_query_permission(capsys) -> None:
    assert main(["permissions"]) == 0
    assert "AuditLogsQuery.Read.All" in capsys.readouterr().out.split()


def test_every_permission_says_why_it_is_asked(capsys) -> None:
    assert main(["permissions", "--why"]) == 0
    rows = [line.split(None, 1) for line in capsys.readouterr().out.splitlines()]
    assert rows and all(len(row) == 2 and row[1].strip() for row in rows), rows
    # Exchange.ManageAsAppV2: Office 365 Exchange Online; read-only by its client's allow-list
    assert all(
        (".Read" in row[0] or row[0] == "Exchange.ManageAsAppV2") and "Write" not in row[0]
        for row in rows
    )
