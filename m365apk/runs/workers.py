"""scan-all over several worker processes.

One Python process runs Python code on one core at a time, and a sector's run is CPU-bound
(parsing pages, the checks, the reports) once Graph's throttling is paced: measured on 2 cores,
one process with 16 tenant threads kept one core busy (benchmarks/sector_benchmark.py). So
scan-all starts a few worker processes; each scans the tenants it takes from a shared queue in
its own threads, exactly as a single process would, and sends back each tenant's outcome (the
report's verdict and history rows, not the whole report). The parent alone writes the history
and prints, so the history file keeps one writer.

Nothing is lost when a worker dies (killed for memory, a crash in a library): the parent knows
which tenants each worker had started, and records those as failed with the reason; tenants
not yet taken go to the other workers.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import pickle
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from m365apk.runs import gcpolicy

if TYPE_CHECKING:
    from m365apk.checks.base import Check
    from m365apk.runs.portfolio import TenantOutcome
    from m365apk.runs.scan import ReportOptions
    from m365apk.runs.tenants import TenantEntry, TenantsFile

log = logging.getLogger("m365apk.portfolio")

# Auto: worker processes only when there are at least this many tenants per core to share
# (a worker costs ~1 s of start-up and ~100 MB), and never more than this many workers.
TENANTS_PER_PROCESS = 4
MAX_AUTO_PROCESSES = 4
POLL_SECONDS = 1.0
PARENT_CHECK_SECONDS = 2.0


@dataclass(frozen=True)
class Job:
    """One tenant to scan, with what the history said of it before this run."""

    tenant: TenantEntry
    previous: Any = None
    peers: Any = None

    @property
    def context(self) -> tuple[Any, Any]:
        return self.previous, self.peers


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def processes_for(config: TenantsFile, jobs: int, checks: list[Check]) -> int:
    """How many worker processes: the tenants file's `processes`, else one per usable core
    when there are enough tenants to share; 1 means scan in this process."""
    wanted = config.processes
    if wanted is None:
        cpus = min(usable_cpus(), MAX_AUTO_PROCESSES)
        wanted = cpus if jobs >= TENANTS_PER_PROCESS * cpus else 1
    count = max(1, min(wanted, config.concurrency, jobs))
    if count > 1 and portable(checks) is None:
        log.warning("één proces: de gekozen checks zijn niet over te dragen naar werkprocessen")
        return 1
    return count


def _registry() -> dict[str, Check]:
    from m365apk.checks.registry import all_checks

    return {c.id: c for c in all_checks(opt_in=True)}


def portable(checks: list[Check]) -> tuple[str, Any] | None:
    """How the checks travel to a worker: by value when they pickle, else by id when every one
    is the registry's own object (the built-in checks are closures, which do not pickle; a
    worker finds the same ones by id); None when neither works (a caller's own Check)."""
    try:
        pickle.dumps(checks)
        return ("checks", checks)
    except Exception:
        pass
    registry = _registry()
    if all(registry.get(c.id) is c for c in checks):
        return ("ids", [c.id for c in checks])
    return None


def _resolve(sent: tuple[str, Any]) -> list[Check]:
    kind, value = sent
    if kind == "checks":
        return list(value)
    registry = _registry()
    return [registry[i] for i in value]


def _log_format() -> str | None:
    """The parent's log format (runs/logs.py), for the workers to log the same way."""
    from m365apk.runs.logs import JsonFormatter

    handlers = logging.getLogger("m365apk").handlers
    if not handlers:
        return None
    return "json" if isinstance(handlers[0].formatter, JsonFormatter) else "text"


def run_in_processes(
    config: TenantsFile,
    checks: list[Check],
    run_id: str,
    base: ReportOptions,
    jobs: list[Job],
    processes: int,
    record: Callable[[TenantOutcome], None],
) -> None:
    """Scan `jobs` in `processes` workers; `record` is called here, once per tenant."""
    from m365apk.runs.portfolio import TenantOutcome
    from m365apk.scanner.pacing import app_bucket_cells

    # spawn, not fork: the parent may run threads (logging, a scheduler), and a forked child
    # would inherit their locks mid-use.
    context = multiprocessing.get_context("spawn")
    inbox: Any = context.Queue()
    outbox: Any = context.Queue()
    threads = math.ceil(config.concurrency / processes)
    # The app-wide buckets (pacing.SharedBucket), made full here and shared by every worker.
    app_buckets = (app_bucket_cells(context), context.RLock())
    workers = [
        context.Process(
            target=_worker,
            args=(
                inbox,
                outbox,
                config,
                portable(checks),
                run_id,
                base,
                threads,
                _log_format(),
                app_buckets,
                os.getpid(),
            ),
            daemon=True,  # never outlive the parent
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for job in jobs:
        inbox.put(job)
    for _ in workers:
        inbox.put(None)
    pending = {job.tenant.tenant_id: job.tenant for job in jobs}
    started: dict[str, int] = {}  # tenant id -> pid of the worker scanning it
    try:
        while pending:
            try:
                message = outbox.get(timeout=POLL_SECONDS)
            except queue.Empty:
                _bury(workers, pending, started, record, TenantOutcome)
                continue
            if message[0] == "start":
                started[message[1]] = message[2]
            else:
                outcome = message[1]
                if pending.pop(outcome.tenant.tenant_id, None) is not None:
                    record(outcome)
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.terminate()


def _bury(
    workers: list[Any],
    pending: dict[str, TenantEntry],
    started: dict[str, int],
    record: Callable[[TenantOutcome], None],
    outcome_type: type[TenantOutcome],
) -> None:
    """Record the tenants of workers that died as failed; when every worker is gone, the
    tenants nobody took too."""
    dead = {w.pid: w.exitcode for w in workers if w.exitcode not in (None, 0)}
    for tenant_id, pid in list(started.items()):
        if pid in dead and tenant_id in pending:
            why = f"werkproces gestopt tijdens de scan (exitcode {dead[pid]})"
            record(outcome_type(pending.pop(tenant_id), "error", why))
    if pending and all(w.exitcode is not None for w in workers):
        for tenant_id in list(pending):
            record(outcome_type(pending.pop(tenant_id), "error", "geen werkproces meer over"))


def _exit_with_parent(parent: int) -> None:
    """scan-all stopped without telling us (SIGTERM from `docker stop`, SIGKILL): stop too, so
    no worker goes on scanning for a run nobody records. Its unfinished tenants are redone when
    the run is resumed."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(3)


def _worker(
    inbox: Any,
    outbox: Any,
    config: TenantsFile,
    sent: tuple[str, Any],
    run_id: str,
    base: ReportOptions,
    threads: int,
    log_format: str | None,
    app_buckets: tuple[dict[str, Any], Any],
    parent: int,
) -> None:
    """A worker process: take tenants from `inbox` while a thread is free, scan each, put its
    outcome (slimmed) in `outbox`. `parent` is scan-all's pid as the parent knew it: a parent
    killed while this worker was still importing is noticed too (os.getppid() asked here would
    already be the reaper's)."""
    if os.getppid() != parent:
        os._exit(3)
    from m365apk.runs.portfolio import TenantOutcome, scan_tenant, slimmed
    from m365apk.scanner.pacing import share_app_buckets

    # Graph's limits per app for all tenants hold for the workers together: one set of buckets.
    share_app_buckets(*app_buckets)

    if log_format:
        from m365apk.runs.logs import configure

        configure(log_format)
    checks = _resolve(sent)
    gcpolicy.tune()  # after the imports: they are frozen out of the collector's passes
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    free = threading.BoundedSemaphore(threads)

    def one(job: Job) -> None:
        try:
            outcome = scan_tenant(config, job.tenant, checks, run_id, base, *job.context)
        except BaseException as exc:  # scan_tenant records failures itself; this is a bug
            outcome = TenantOutcome(job.tenant, "error", f"{type(exc).__name__}: {exc}")
        finally:
            free.release()
        outcome.worker = os.getpid()
        outbox.put(("done", slimmed(outcome)))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        while True:
            free.acquire()  # take a tenant only when a thread can start it now
            job = inbox.get()
            if job is None:
                break
            outbox.put(("start", job.tenant.tenant_id, os.getpid()))
            pool.submit(one, job)
