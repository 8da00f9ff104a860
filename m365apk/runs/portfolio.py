"""scan-all: every tenant in the provider's tenants file, concurrently and independently.

One tenant's failure (bad secret, no consent, Graph errors) is recorded for that tenant and
never stops another. Each tenant's output lands in its own folder, written to a temporary
folder first and renamed when complete; the history row follows in one transaction. A run
that is killed is resumed by running it again with the same run id: finished tenants are
skipped, the rest are scanned.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from m365apk.checks.base import Check
from m365apk.checks.exceptions import ExceptionsError, load_exceptions
from m365apk.checks.manual import AttestationError, load_attestations
from m365apk.errors import AuthError, ConfigError
from m365apk.reports.actionplan import load_action_plan
from m365apk.reports.model import Report
from m365apk.runs.history import History, ReportRows, report_rows
from m365apk.runs.lock import ScanAllLock
from m365apk.runs.paths import out_folder, path_segment, within
from m365apk.runs.scan import ReportOptions, consent_problem, run_scan
from m365apk.runs.shards import clear_done, write_done
from m365apk.runs.tenants import TenantEntry, TenantsFile
from m365apk.runs.workers import Job, processes_for, run_in_processes
from m365apk.scanner.auth import CredentialSpec, LoopbackClientSecretCredential
from m365apk.scanner.graph import GRAPH_URL, GraphSettings
from m365apk.scanner.pacing import set_app_share
from m365apk.snapshot.files import crash_point
from m365apk.snapshot.settings import load_settings

log = logging.getLogger("m365apk.portfolio")


@dataclass
class TenantOutcome:
    tenant: TenantEntry
    outcome: str  # ok | partial | auth_error | config_error | error | skipped
    error: str | None = None
    report: Report | None = None
    folder: Path | None = None
    snapshot: Path | None = None
    duration: float | None = None  # seconds the tenant's scan took
    rows: ReportRows | None = None  # history's rows of `report`, kept when the report is slimmed
    worker: int | None = None  # pid of the worker process that scanned it (None: this one)


def _credential(config: TenantsFile, tenant: TenantEntry) -> Any:
    cred = config.credential(tenant)
    client_id = config.client_id(tenant)
    if config.login_url and config.login_url.startswith("http://"):
        # The simulator over plain HTTP: the quick stand-in (why: scanner/auth.py).
        if not cred.client_secret_env:
            raise ConfigError("login_url werkt alleen met client_secret_env")
        secret = os.environ.get(cred.client_secret_env)
        if not secret:
            raise ConfigError(f"omgevingsvariabele {cred.client_secret_env} is niet gezet")
        url = f"{config.login_url.rstrip('/')}/{tenant.tenant_id}/oauth2/v2.0/token"
        return LoopbackClientSecretCredential(url, client_id, secret)
    if config.login_url and not config.login_url.startswith("https://"):
        raise ConfigError("login_url moet met http:// (simulator) of https:// beginnen")
    return CredentialSpec(
        tenant_id=tenant.tenant_id,
        client_id=client_id,
        certificate_path=cred.certificate,
        certificate_password_env=cred.certificate_password_env,
        client_secret_env=cred.client_secret_env,
        managed_identity=cred.managed_identity,
        authority=config.login_url,  # None for Entra itself; https for the simulator's TLS host
        ca_bundle=config.login_ca,
    ).build()


def _options(
    tenant: TenantEntry, base: ReportOptions, previous: Any = None, peers: Any = None
) -> ReportOptions:
    try:
        exceptions = tuple(load_exceptions(tenant.exceptions)) if tenant.exceptions else ()
        attestations = tuple(load_attestations(tenant.attestations)) if tenant.attestations else ()
    except (ExceptionsError, AttestationError) as exc:
        raise ConfigError(str(exc)) from None
    plan = tuple(load_action_plan(tenant.action_plan)) if tenant.action_plan else ()
    return ReportOptions(
        mappings=base.mappings,
        exceptions=exceptions,
        attestations=attestations,
        pdf=base.pdf,
        pseudonymise=base.pseudonymise,
        lang=base.lang,
        previous=previous,
        peers=peers,
        plan=plan,
    )


def scan_tenant(
    config: TenantsFile,
    tenant: TenantEntry,
    checks: list[Check],
    run_id: str,
    base: ReportOptions,
    previous: Any = None,
    peers: Any = None,
) -> TenantOutcome:
    started = time.monotonic()
    outcome = _scan_tenant(config, tenant, checks, run_id, base, previous, peers)
    outcome.duration = round(time.monotonic() - started, 3)
    return outcome


def _scan_tenant(
    config: TenantsFile,
    tenant: TenantEntry,
    checks: list[Check],
    run_id: str,
    base: ReportOptions,
    previous: Any,
    peers: Any,
) -> TenantOutcome:
    folder = path_segment(tenant.folder_name, "tenant")  # a slug already; checked in one place
    final = within(config.output, config.output / folder / path_segment(run_id, "run"))
    work = within(config.output, final.with_name(f"{run_id}.onvolledig"))
    shutil.rmtree(work, ignore_errors=True)
    try:
        settings = load_settings(tenant.tenant_config) if tenant.tenant_config else None
        output = run_scan(
            _credential(config, tenant),
            GraphSettings(
                base_url=config.graph_url or GRAPH_URL,
                deadline_seconds=config.deadline_seconds,
                opt_in=frozenset({"mail-rules"} if config.mail_rules_for(tenant) else ()),
            ),
            checks,
            tenant_id=tenant.tenant_id,
            out_dir=work,
            source="graph" if not config.graph_url else f"graph:{config.graph_url}",
            options=_options(tenant, base, previous, peers),
            tenant_settings=settings,
        )
        problem = consent_problem(output.snapshot)
        if problem:
            raise problem
    except AuthError as exc:
        return TenantOutcome(tenant, "auth_error", str(exc))
    except ConfigError as exc:
        return TenantOutcome(tenant, "config_error", str(exc))
    except Exception as exc:  # one school's failure must not stop the others
        log.exception("scan mislukt", extra={"tenant_id": tenant.tenant_id})
        return TenantOutcome(tenant, "error", f"{type(exc).__name__}: {exc}")
    crash_point("scan_all.staged")
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)  # the folder appears complete or not at all
    crash_point("scan_all.renamed")
    outcome = "partial" if output.report.partial else "ok"
    return TenantOutcome(
        tenant, outcome, report=output.report, folder=final, snapshot=final / "snapshot.json"
    )


def _slim(report: Report | None) -> Report | None:
    if report is None:
        return None
    empty: dict[str, Any] = {"checks": [], "norms": [], "basismaatregelen": [], "manual": []}
    return report.model_copy(update=empty)


def _in_line(outcome: TenantOutcome) -> str:
    """Why a school took long: the time it waited for the app's other schools (Graph's limits
    per app for all tenants), said beside its outcome when there was any."""
    waited = outcome.report.stats.in_line_seconds if outcome.report else 0.0
    if waited < 1:
        return ""
    return f" ({waited:.0f} s in de rij achter andere scholen: Graph-limieten per app)"


def slimmed(outcome: TenantOutcome) -> TenantOutcome:
    """The outcome with its report's verdict and history rows only: over a sector's 1,100
    schools whole reports would pile up in memory (they are on disk and in history)."""
    if outcome.report is None:
        return outcome
    rows = outcome.rows or report_rows(outcome.report)
    return replace(outcome, report=_slim(outcome.report), rows=rows)


def check_destination(config: TenantsFile, history_path: Path) -> None:
    """The output folder and the history file a round writes to, checked before anything is
    locked or written: a history file that is a folder, damaged, or someone else's database is
    refused and left as it is."""
    if history_path.is_dir():
        raise ConfigError(f"history {history_path} is een map; geef een bestand")
    out_folder(config.output, "output")
    History.verify(history_path)


def scan_all(
    config: TenantsFile,
    checks: list[Check],
    *,
    run_id: str,
    fresh: bool = False,
    peers: bool = False,
    shard: tuple[int, int] | None = None,
    history_path: Path | None = None,
    options: ReportOptions | None = None,
    on_done: Callable[[TenantOutcome], None] | None = None,
) -> list[TenantOutcome]:
    path_segment(run_id, "run")  # before anything is locked, read or removed
    check_destination(config, history_path or config.history_path)
    tenants = sorted(config.tenants, key=lambda t: t.tenant_id)
    if shard is not None:
        index, count = shard
        tenants = [t for i, t in enumerate(tenants) if i % count == index]
        # The shards read with one app, each in its own pod: each keeps to its part of Graph's
        # limits per app for all tenants.
        set_app_share(1 / count)
    base = options or ReportOptions()
    results: list[TenantOutcome] = []
    history_file = history_path or config.history_path
    with (
        ScanAllLock(config.output, history_file, run_id, shard),
        History(history_file) as history,
    ):
        if shard is not None:  # this shard's round is not done until it says so again
            clear_done(history_file)
        finished = set() if fresh else history.done(run_id)
        todo = [t for t in tenants if t.tenant_id not in finished]
        results += [TenantOutcome(t, "skipped") for t in tenants if t.tenant_id in finished]
        # Comparisons come from the history before this run writes to it.
        jobs = [
            Job(t, history.previous(t.tenant_id), history.peers(t.tenant_id) if peers else None)
            for t in todo
        ]

        def record(outcome: TenantOutcome) -> None:
            final = outcome.folder
            history.record(
                run_id=run_id,
                tenant_id=outcome.tenant.tenant_id,
                tenant_name=outcome.tenant.name,
                school_type=outcome.tenant.school_type,
                finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
                outcome=outcome.outcome,
                error=outcome.error,
                report=outcome.report,
                snapshot_path=outcome.snapshot,
                report_path=final / "report.html" if final else None,
                duration_seconds=outcome.duration,
                rows=outcome.rows,
            )
            log.info(
                "tenant klaar: %s%s",
                outcome.outcome,
                _in_line(outcome),
                extra={"tenant_id": outcome.tenant.tenant_id},
            )
            if on_done:
                on_done(outcome)
            results.append(slimmed(outcome))

        count = processes_for(config, len(jobs), checks)
        if count > 1:
            run_in_processes(config, checks, run_id, base, jobs, count, record)
        else:
            with ThreadPoolExecutor(max_workers=config.concurrency) as pool:
                futures = [
                    pool.submit(scan_tenant, config, j.tenant, checks, run_id, base, *j.context)
                    for j in jobs
                ]
                for future in as_completed(futures):
                    record(future.result())
                    crash_point("scan_all.recorded")
        if shard is not None:  # history-merge --wait merges once every shard has said this
            write_done(history_file, run_id, shard, len(results))
    return sorted(results, key=lambda r: r.tenant.name.lower())
