"""One scan, start to finish: collect -> snapshot -> evaluate -> report. Nothing flows back."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from m365apk.checks.base import Check, CheckResult, asked
from m365apk.checks.evaluate import evaluate
from m365apk.checks.exceptions import RiskException
from m365apk.checks.manual import Attestation
from m365apk.errors import AuthError
from m365apk.mappings.loader import Mappings
from m365apk.reports.html import write_reports
from m365apk.reports.model import Peers, PlanItem, Previous, Report, build_report
from m365apk.scanner.collector import Progress, collect
from m365apk.scanner.datasets import DATASETS
from m365apk.scanner.graph import GraphClient, GraphSettings
from m365apk.snapshot import DatasetStatus, Snapshot
from m365apk.snapshot.model import file_sha256
from m365apk.snapshot.settings import TenantSettings


@dataclass
class ScanOutput:
    snapshot: Snapshot
    results: list[CheckResult]
    report: Report
    paths: dict[str, Path]


@dataclass(frozen=True)
class ReportOptions:
    """What shapes a report besides the snapshot: provider mappings and accepted risks."""

    mappings: Mappings | None = None
    exceptions: tuple[RiskException, ...] = ()
    attestations: tuple[Attestation, ...] = ()
    pdf: bool = False
    pseudonymise: bool = False
    previous: Previous | None = None
    peers: Peers | None = None
    lang: str = "nl"
    plan: tuple[PlanItem, ...] = ()  # last year's filled-in actieplan


def report_from_snapshot(
    snapshot: Snapshot,
    checks: list[Check],
    out_dir: Path,
    options: ReportOptions | None = None,
    snapshot_sha256: str | None = None,
    staged: list[tuple[Path, Path]] = (),  # type: ignore[assignment]
) -> ScanOutput:
    options = options or ReportOptions()
    out_dir.mkdir(parents=True, exist_ok=True)
    opt_in = {name for name, spec in DATASETS.items() if spec.opt_in}
    checks = [c for c in checks if asked(c, snapshot, opt_in)]
    results = evaluate(snapshot, checks)
    report = build_report(
        snapshot,
        checks,
        results,
        mappings=options.mappings,
        exceptions=list(options.exceptions),
        attestations=list(options.attestations),
        pseudonymise=options.pseudonymise,
        previous=options.previous,
        peers=options.peers,
        plan=list(options.plan),
    )
    if snapshot_sha256:  # which evidence file this verdict comes from
        report = report.model_copy(update={"snapshot_sha256": snapshot_sha256})
    paths = write_reports(report, out_dir, options.lang, pdf=options.pdf, staged=staged)
    return ScanOutput(snapshot, results, report, paths)


async def _collect(
    credential: Any,
    settings: GraphSettings,
    checks: list[Check],
    tenant_id: str,
    source: str,
    progress: Progress | None,
    on_page: Any = None,
    tenant_settings: TenantSettings | None = None,
) -> Snapshot:
    client = GraphClient(credential, settings, on_page=on_page)
    try:
        names = {name for check in checks for name in check.all_datasets}
        return await collect(
            client,
            names,
            tenant_id=tenant_id,
            source=source,
            progress=progress,
            settings=tenant_settings,
            # azure-identity's credentials and the loopback one keep the client id here.
            app_id=getattr(credential, "_client_id", None),
        )
    finally:
        await client.aclose()


def run_scan(
    credential: Any,
    settings: GraphSettings,
    checks: list[Check],
    *,
    tenant_id: str,
    out_dir: Path,
    source: str = "graph",
    progress: Progress | None = None,
    on_page: Any = None,
    options: ReportOptions | None = None,
    tenant_settings: TenantSettings | None = None,
) -> ScanOutput:
    snapshot = _run(
        _collect(
            credential, settings, checks, tenant_id, source, progress, on_page, tenant_settings
        )
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    # The evidence is on disk before anything else can go wrong.
    # It replaces the old snapshot together with the reports made from it (one set).
    snapshot_path = out_dir / "snapshot.json"
    staged = out_dir / ".snapshot.staged.json"  # a killed run's is overwritten
    snapshot.write(staged)
    try:
        output = report_from_snapshot(
            snapshot,
            checks,
            out_dir,
            options,
            snapshot_sha256=file_sha256(staged),
            staged=[(staged, snapshot_path)],
        )
    finally:
        if staged.exists():  # the report failed: the evidence is kept all the same
            os.replace(staged, snapshot_path)
    output.paths["snapshot"] = snapshot_path
    return output


def _run(coroutine: Any) -> Any:
    """asyncio.run, minus a measured ~150 MB transient peak at its shutdown on a 100,000-user
    scan (benchmarks/scan_benchmark.py): a plain event loop, closed by hand. Called from code
    that already runs a loop (a notebook, Playwright's sync API), it runs in its own thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_here(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_run_here, coroutine).result()


def _run_here(coroutine: Any) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def consent_problem(snapshot: Snapshot) -> AuthError | None:
    """Every endpoint refused us: the app has no (admin-consented) permissions in this tenant."""
    # An Exchange Admin API that is not there for the organisation says nothing about consent.
    statuses = {d.status for d in snapshot.datasets.values()} - {
        DatasetStatus.NOT_COLLECTED,
        DatasetStatus.NOT_AVAILABLE,
    }
    if statuses == {DatasetStatus.FORBIDDEN}:
        return AuthError(
            "Geen enkele Graph-toestemming werkt in deze tenant: is admin consent gegeven "
            "voor de app? (rapport is wel geschreven)"
        )
    return None
