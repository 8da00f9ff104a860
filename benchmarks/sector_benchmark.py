"""Sector benchmark: the Dutch school sector's portfolio (1,100 school boards) scanned with
`m365apk scan-all` against the throttle-faithful simulated Graph on loopback.

The portfolio: board i (0 <= i < N) has tenant id 5ec70000-0000-4000-8000-{i:012d} and a size
drawn from a seeded lognormal: median 1,500 accounts (mu = ln 1500), sigma 0.9, clipped to
[300, 40,000]. That puts ~4 % of boards at the 300 floor, ~60 % between 300 and 2,000, ~9 %
above 5,000 and a tail to 40,000; the mean is ~2,250 accounts, so 1,100 boards hold ~2.5
million accounts, the order of the sector's pupils and staff. Profiles rotate board / good /
weak by a seeded draw (50 / 25 / 25 %), so licences and findings vary as in the field.

The simulator runs in its own process (`--serve`), with the throttle model on (demo/throttle.py:
documented limits per bucket and a latency per page; the limits per app for all tenants too,
unless --per-tenant-limits-only) and each tenant made on first use from
the seed (SimulatedGraph(tenant_factory=...), an LRU bounded by users). The scan runs as
`python -m m365apk.cli scan-all tenants.yaml --concurrency K --quiet` in a second process, with
the loopback credentials `m365apk demo --portfolio` uses (one app, a client secret from the
environment, http login on 127.0.0.1).

Printed: progress every 15 s, wall time, tenants per hour, CPU seconds per tenant and peak RSS
of scan-all with its worker processes (summed from /proc every second), the simulator's CPU and
peak RSS, the 429s the simulator answered per
bucket, and the tenants lost: a tenant whose scan ended with a dataset `throttled` (still 429
after every retry) or did not finish. Targets (issue #16): 1,100 tenants in <= 15 min on 2
cores, peak RSS <= 1 GB, no tenant lost to throttling. Figures, not assertions.

The floor: Graph allows GET signInActivity 10 times a minute per app *for all tenants*
(includes/throttling-entra-logs-reports.md), so one app reading every board needs at least
(signInActivity pages of the whole portfolio - 10) / 10 minutes, whatever the concurrency.
Printed before the run (estimated from the portfolio) and after it (from the simulator's
charges), beside the wall time: for the 1,100 boards of seed 2026, ~3,940 pages, 6.5 hours.

    python benchmarks/sector_benchmark.py --tenants 50
    python benchmarks/sector_benchmark.py                       # 1,100 boards
    python benchmarks/sector_benchmark.py --tenants 200 --concurrency 24 --seed 7
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

APP_ID = "5ec7a990-0000-4000-8000-000000000001"
SECRET_ENV = "M365APK_SECTOR_SECRET"
MEDIAN, SIGMA, LOW, HIGH = 1_500, 0.9, 300, 40_000
PROFILES = (("board", 0.5), ("good", 0.25), ("weak", 0.25))
TARGET_WALL_S, TARGET_RSS_MB = 15 * 60.0, 1024.0
APP_BUCKETS = ("signInActivity_app", "reports_app")
# Profiles whose licences (Entra ID P1) make the scan read signInActivity (the dataset's gate)
READS_SIGN_IN_ACTIVITY = ("board", "good")


def tenant_id(index: int) -> str:
    return f"5ec70000-0000-4000-8000-{index:012d}"


def portfolio(count: int, seed: int) -> list[tuple[str, str, int]]:
    """(tenant id, profile, accounts) per board, the same for the same seed."""
    rng = random.Random(seed)
    boards = []
    for i in range(count):
        size = int(min(HIGH, max(LOW, rng.lognormvariate(math.log(MEDIAN), SIGMA))))
        pick, profile = rng.random(), PROFILES[-1][0]
        for name, share in PROFILES:
            if pick < share:
                profile = name
                break
            pick -= share
        boards.append((tenant_id(i), profile, size))
    return boards


# --- the simulator process ------------------------------------------------------------------


def serve(count: int, seed: int, secret: str, cached_users: int, app_wide: bool = True) -> None:
    """`--serve`: the simulated Graph for the portfolio; on SIGTERM prints its figures."""
    from dataclasses import replace

    from m365apk.demo.server import SimulatedGraph
    from m365apk.demo.tenant import TenantData, load_profile
    from m365apk.demo.throttle import ThrottleModel

    boards = {
        tid: (i, profile, size) for i, (tid, profile, size) in enumerate(portfolio(count, seed))
    }

    made = Counter()  # tenants made more than once were evicted from the LRU while in use

    def factory(tid: str) -> TenantData | None:
        found = boards.get(tid)
        if found is None:
            return None
        made[tid] += 1
        index, profile, size = found
        tenant = load_profile(profile, users=size, seed=seed * 100_000 + index)
        return replace(
            tenant,
            tenant_id=tid,
            client_id=APP_ID,
            client_secret=secret,
            display_name=f"Schoolbestuur {index:04d} ({profile}, {size})",
        )

    sim = SimulatedGraph(
        [],
        throttle=ThrottleModel(app_wide=app_wide),
        tenant_factory=factory,
        cached_users=cached_users,
    )
    sim.serve_until_terminated(sim.base_url)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    guid = re.compile(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?=/|$)")
    routes = Counter(guid.sub("/{id}", r.path) for r in sim.requests)
    charged: Counter[str] = Counter()  # what the requests that passed cost, per bucket
    for r in sim.requests:
        if not r.throttled:
            for bucket, cost in r.charges or ():
                charged[bucket] += cost
    print(
        json.dumps(
            {
                "requests": len(sim.requests),
                "throttled": dict(Counter(r.bucket for r in sim.requests if r.throttled)),
                "inner": sum(1 for r in sim.requests if r.inner),
                "routes": dict(routes.most_common(5)),
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
                "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                "made_again": sum(n - 1 for n in made.values()),
                "app_wide": {b: charged[b] for b in APP_BUCKETS},
            }
        ),
        flush=True,
    )


# --- the benchmark --------------------------------------------------------------------------


def write_tenants(path: Path, base_url: str, boards: list[tuple[str, str, int]], k: int) -> None:
    import yaml

    path.write_text(
        yaml.safe_dump(
            {
                "output": "uitvoer",
                "graph_url": base_url,
                "login_url": base_url,
                "concurrency": k,
                "defaults": {"client_id": APP_ID, "credential": {"client_secret_env": SECRET_ENV}},
                "tenants": [
                    {"name": f"Schoolbestuur {i:04d}", "tenant_id": tid, "school_type": "bestuur"}
                    for i, (tid, _, _) in enumerate(boards)
                ],
            },
            sort_keys=False,
        ),
        encoding="utf-8",
    )


def finished(output: Path, run_id: str) -> list[Path]:
    return [p for p in output.glob(f"*/{run_id}") if p.is_dir()]


def snapshot_facts(folder: Path) -> tuple[list[str], float]:
    """Of one tenant's snapshot: the datasets that ended `throttled`, and the seconds it stood
    in line behind the app's other tenants (stats.in_line_seconds)."""
    try:
        snapshot = json.loads((folder / "snapshot.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ["(geen snapshot)"], 0.0
    datasets = snapshot.get("datasets") or {}
    throttled = sorted(name for name, d in datasets.items() if d.get("status") == "throttled")
    return throttled, float((snapshot.get("stats") or {}).get("in_line_seconds") or 0.0)


def tenant_durations(history: Path, run_id: str) -> list[float]:
    """Seconds each tenant's scan took (scan-all records them in its history)."""
    import sqlite3

    if not history.exists():
        return []
    with sqlite3.connect(history) as con:
        rows = con.execute(
            "SELECT duration_seconds FROM scans WHERE run_id = ? AND duration_seconds IS NOT NULL",
            (run_id,),
        ).fetchall()
    return [r[0] for r in rows]


TICKS = os.sysconf("SC_CLK_TCK")


def tree_sample(root: int, cpu: dict[int, float]) -> float:
    """Resident memory (MB) of a process and all its descendants (scan-all and its worker
    processes), from /proc, following /proc/<pid>/task/<tid>/children; updates `cpu` with each
    one's CPU seconds so far. getrusage knows only the largest single process, and nothing of
    workers that were killed rather than waited for."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        proc = Path(f"/proc/{pid}")
        try:
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cpu[pid] = max(cpu.get(pid, 0.0), (int(fields[11]) + int(fields[12])) / TICKS)
            for task in (proc / "task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
    return total / 1024


@dataclass
class Watch:
    """What `wait_for` saw of one scan-all run."""

    peak_rss_mb: float = 0.0
    cpu: dict[int, float] = field(default_factory=dict)  # pid -> CPU seconds
    done_in_target: int = 0  # tenants finished within TARGET_WALL_S


def wait_for(
    scan: subprocess.Popen,
    output: Path,
    run_id: str,
    count: int,
    started: float,
    limit: float,
    watch: Watch,
) -> float:
    """Waits for scan-all, printing progress every 15 s and sampling scan-all with its workers
    every second into `watch`; stops it after `limit` seconds (what is unfinished then counts
    as not finished); returns the wall time."""
    shown = started
    target_seen = False
    while scan.poll() is None:
        time.sleep(1.0)
        watch.peak_rss_mb = max(watch.peak_rss_mb, tree_sample(scan.pid, watch.cpu))
        elapsed = time.perf_counter() - started
        if not target_seen and elapsed >= TARGET_WALL_S:
            target_seen = True
            watch.done_in_target = len(finished(output, run_id))
        if elapsed > limit:
            print(f"  time limit ({limit:.0f} s) reached: scan-all stopped", flush=True)
            scan.terminate()
            scan.wait(timeout=60)
            break
        if time.perf_counter() - shown >= 15:
            shown = time.perf_counter()
            done = len(finished(output, run_id))
            rate = done / elapsed * 3600
            print(f"  {elapsed:7.0f} s  {done:5d}/{count} tenants  ({rate:,.0f}/h)", flush=True)
    if not target_seen:
        watch.done_in_target = len(finished(output, run_id))
    return time.perf_counter() - started


def app_wide_floor(requests: dict[str, int]) -> tuple[float, str]:
    """Seconds the limits per app for all tenants need for these requests (per bucket: what
    exceeds the full bucket, at its refill rate), and the bucket that sets it."""
    from m365apk.demo.throttle import LIMITS

    bounds = {
        name: max(0.0, needed - LIMITS[name].capacity) / LIMITS[name].rate
        for name, needed in requests.items()
    }
    name = max(bounds, key=lambda n: bounds[n], default="")
    return bounds.get(name, 0.0), name


def sign_in_activity_pages(boards: list[tuple[str, str, int]]) -> int:
    """The signInActivity pages the portfolio's scans need (an estimate: the users list holds
    the board's accounts; boards without P1 do not read it)."""
    from m365apk.scanner.datasets import DATASETS

    per_page = DATASETS["userSignInActivity"].top  # what the scan asks Graph for
    return sum(
        math.ceil(size / per_page)
        for _, profile, size in boards
        if profile in READS_SIGN_IN_ACTIVITY
    )


def run(
    count: int,
    k: int,
    seed: int,
    cached_users: int,
    limit: float = math.inf,
    rounds: int = 1,
    app_wide: bool = True,
) -> None:
    boards = portfolio(count, seed)
    sizes = sorted(size for _, _, size in boards)
    print(
        f"m365apk sector benchmark — {count} boards (seed {seed}), concurrency {k}; accounts:"
        f" {sum(sizes):,} in all, median {sizes[len(sizes) // 2]:,}, max {sizes[-1]:,};"
        f" profiles {dict(Counter(p for _, p, _ in boards))}",
        flush=True,
    )
    pages = sign_in_activity_pages(boards)
    floor, _ = app_wide_floor({"signInActivity_app": pages})
    print(
        f"floor by Graph's limits per app for all tenants (one app reads every board):"
        f" ~{pages:,} signInActivity pages at 10 a minute = {floor / 60:,.0f} min"
        + ("" if app_wide else " (not modelled in this run: --per-tenant-limits-only)"),
        flush=True,
    )
    secret = os.urandom(16).hex()
    env = {**os.environ, SECRET_ENV: secret}
    here = Path(__file__).resolve()
    sim = subprocess.Popen(
        [
            sys.executable,
            str(here),
            "--serve",
            "--tenants",
            str(count),
            "--seed",
            str(seed),
            "--sim-cache-users",
            str(cached_users),
            *([] if app_wide else ["--per-tenant-limits-only"]),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert sim.stdout is not None
    line = sim.stdout.readline().strip()
    if not line.startswith("READY "):
        sim.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    base_url = line.split(" ", 1)[1]
    try:
        measure(sim, base_url, boards, k, env, limit, rounds)
    finally:  # never leave our children behind (an interrupted run, a broken pipe)
        if sim.poll() is None:
            sim.kill()


def measure(
    sim: subprocess.Popen,
    base_url: str,
    boards: list[tuple[str, str, int]],
    k: int,
    env: dict,
    limit: float,
    rounds: int = 1,
) -> None:
    count = len(boards)
    with tempfile.TemporaryDirectory() as tmp:
        tenants = Path(tmp) / "tenants.yaml"
        write_tenants(tenants, base_url, boards, k)
        output = Path(tmp) / "uitvoer"
        for number in range(1, rounds + 1):
            # Round 2 and later run over the same history: last round's durations are in it
            # (history.durations), for measuring an order that uses them.
            print(f"round {number} of {rounds}", flush=True)
            one_round(output, tenants, f"sector-{number}", count, k, env, limit)
        sim.send_signal(signal.SIGTERM)
        sim_figures = json.loads(sim.stdout.read().strip().splitlines()[-1])
        sim.wait(timeout=30)
        print(
            f"simulator (all rounds): CPU {sim_figures['cpu_s']} s, peak RSS"
            f" {sim_figures['peak_rss_mb']} MB, {sim_figures['requests']:,} requests,"
            f" ({sim_figures['inner']:,} inside $batch), 429s {sim_figures['throttled'] or 0}"
        )
        print(f"  most requested          {sim_figures['routes']}")
        print(
            "  tenants made again      "
            f"{sim_figures.get('made_again', '?')} (evicted from the simulator's cache in use)"
        )
        needed = sim_figures.get("app_wide") or {}
        floor, bucket = app_wide_floor(needed)
        print(
            f"  app-wide requests       {needed}; floor by the limits per app for all tenants"
            f" {floor:,.0f} s ({bucket or '-'}) — compare with the wall time above"
        )


def one_round(
    output: Path, tenants: Path, run_id: str, count: int, k: int, env: dict, limit: float
) -> None:
    started = time.perf_counter()
    scan = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "m365apk.cli",
            "scan-all",
            str(tenants),
            "--run-id",
            run_id,
            "--concurrency",
            str(k),
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    out_text: list[str] = []
    reader = threading.Thread(target=lambda: out_text.append(scan.stdout.read()), daemon=True)
    err_text: list[str] = []
    err_reader = threading.Thread(target=lambda: err_text.append(scan.stderr.read()), daemon=True)
    reader.start()
    err_reader.start()
    watch = Watch()
    try:
        wall = wait_for(scan, output, run_id, count, started, limit, watch)
    finally:
        if scan.poll() is None:
            scan.kill()
    reader.join(5)
    err_reader.join(5)
    durations = tenant_durations(output / "history.sqlite", run_id)
    folders = finished(output, run_id)
    facts = {f.parent.name: snapshot_facts(f) for f in folders}
    lost = {name: sets for name, (sets, _) in facts.items() if sets}
    waited = sorted(seconds for _, seconds in facts.values() if seconds >= 1)
    missing = count - len(folders)
    cpu = sum(watch.cpu.values())
    rss = watch.peak_rss_mb
    print(f"scan-all exit code {scan.returncode}")
    if scan.returncode not in (0, 4) or missing:
        print((err_text[0] if err_text else "")[-3000:])
    done = len(folders)
    print(f"wall {wall:.0f} s ({wall / 60:.1f} min); {done} of {count} tenants finished:")
    print(f"  within 15 minutes       {watch.done_in_target}")
    print(f"  tenants per hour        {done / wall * 3600:,.0f}")
    print(
        f"  client CPU              {cpu:.0f} s in {len(watch.cpu)} processes,"
        f" {cpu / max(1, done):.2f} s per tenant"
    )
    print(f"  scan-all peak RSS       {rss:.0f} MB (with its workers, sampled every second)")
    if durations:
        d = sorted(durations)
        print(
            f"  seconds per tenant      median {d[len(d) // 2]:.1f}, p90"
            f" {d[int(len(d) * 0.9)]:.1f}, max {d[-1]:.1f}; in flight on average"
            f" {sum(d) / wall:.1f}"
        )
    if waited:
        print(
            f"  in line for the app     {len(waited)} tenants waited behind the others (Graph's"
            f" limits per app for all tenants): median {waited[len(waited) // 2]:.0f} s,"
            f" max {waited[-1]:.0f} s"
        )
    print(
        f"  tenants lost            {len(lost) + missing} ({missing} not finished,"
        f" {len(lost)} with a dataset throttled)"
    )
    for name, sets in sorted(lost.items())[:10]:
        print(f"    {name}: {', '.join(sets)}")
    if count == 1100:
        verdicts = [
            f"wall <= 15 min: {'met' if wall <= TARGET_WALL_S else 'NOT met'}",
            f"RSS <= 1 GB: {'met' if rss <= TARGET_RSS_MB else 'NOT met'}",
            f"none lost: {'met' if not lost and not missing else 'NOT met'}",
        ]
        print("  targets (issue #16): " + "; ".join(verdicts), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--sim-cache-users",
        type=int,
        default=250_000,
        help="users the simulator keeps made (its LRU of tenants); lower it to bound its RSS",
    )
    parser.add_argument(
        "--max-minutes", type=float, help="stop scan-all after this long and report what finished"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="scan-all this many times over the same history (round 2 has round 1's durations)",
    )
    parser.add_argument(
        "--per-tenant-limits-only",
        action="store_true",
        help="simulate Graph without its limits per app for all tenants (as if every board had"
        " its own app): the figures of runs before they were modelled",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    app_wide = not args.per_tenant_limits_only
    if args.serve:
        serve(args.tenants, args.seed, os.environ[SECRET_ENV], args.sim_cache_users, app_wide)
        return
    limit = args.max_minutes * 60 if args.max_minutes else math.inf
    run(
        args.tenants,
        args.concurrency,
        args.seed,
        args.sim_cache_users,
        limit,
        args.rounds,
        app_wide,
    )


if __name__ == "__main__":
    main()
