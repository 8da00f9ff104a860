"""Scan benchmark: simulated school boards of 1,000 / 20,000 / 100,000 users over loopback.

For each size it starts the simulated Graph in its own process (so its memory is not ours),
runs one full scan (collect -> snapshot -> checks -> report.json/html) in a fresh child
process, and prints wall time, HTTP requests and the child's peak RSS. Then it measures the
per-object cost of our parsing (pydantic into plain dicts) against msgraph-sdk's typed
deserialisation of the same userRegistrationDetails pages.

By default the simulator runs its throttle model (demo/throttle.py: Graph's documented limits
per bucket and a latency per page, base 150 ms + 0.25 ms per object) and writes its request
log; from that log the benchmark computes the FLOOR, the least wall time Graph's documented
limits and the page chains allow for the requests the scan needed, and prints actual / floor
per dataset and in total, with the 429s the scan ran into.

The floor model (a lower bound; optimistic on purpose):

- Needed requests: every logged Graph GET (inner $batch requests included, the outer POST not)
  that was not answered 429 by the throttle model. A 429 is waste: it costs a round trip and
  tells the client nothing it could not have known from the documented limit.
- Chains: the pages of one collection read (same tenant, path and query but $skiptoken) must
  follow one another; a chain takes at least the sum of its pages' latencies (the latency
  model's time for each page, as logged). Different chains may run in parallel, without limit.
- Buckets: a bucket (demo/throttle.py: directory, reports, signInActivity, ca, intune_*)
  starts full with C tokens and refills at r = C / window tokens per second. Requests costing
  T tokens in all need at least max(0, T - C) / r seconds before the last one is admitted, plus
  that last request's latency (the least latency among the bucket's requests). A request
  counts in every bucket it was charged to (the log's `charges`): a users page with
  signInActivity costs directory units and 1 of signInActivity's 10 per minute, so at 100,000
  users its 200 pages need at least (200 - 10) / (10 / 60 s) = 1,140 s.
- Floor = max(longest chain, slowest bucket). Dependencies between collections (a fan-out needs
  the list it fans out over; CA needs roles) are ignored, so the true optimum may be higher.
- Per dataset (the path with ids replaced by {id}): the same bound over that dataset's
  requests alone; "actual" is the span from the dataset's first request to its last answer.
- 429s: counted per bucket; "avoidable" are those in a bucket whose limit is documented (all
  the simulator models: a client that paces by the documented limits never meets them here;
  on real Graph the CA bucket is shared with other apps in the tenant).

    python benchmarks/scan_benchmark.py                 # 1k, 20k, 100k users, throttle model
    python benchmarks/scan_benchmark.py --sizes 1000 --no-throttle --latency-ms 5

With --no-throttle the child also measures this machine's bare costs beside the scan
(`machine_floor`: json.loads of everything collected, one GET through a plain
httpx.AsyncClient, one pass over the users) and prints the client's CPU as a multiple of them:
on shared machines CPU speed drifts by tens of percent between runs, the ratio much less.

Figures, not assertions: the tests stay deterministic and fast; this script reports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

TARGET_RSS_MB = 300.0  # at 100,000 users (issue #16 target 1)
TARGET_US_PER_OBJECT, TARGET_US_PER_USER = 10.0, 25.0  # client CPU at 100,000 users (target 2)


def start_simulator(
    profile: str,
    users: int,
    latency_ms: float,
    *,
    throttle: bool = False,
    request_log: Path | None = None,
) -> tuple[subprocess.Popen, str]:
    command = [
        sys.executable,
        "-m",
        "m365apk.demo.server",
        "--profile",
        profile,
        "--users",
        str(users),
        "--latency-ms",
        str(latency_ms),
    ]
    if throttle:
        command.append("--throttle")
    if request_log is not None:
        command += ["--request-log", str(request_log)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def child_scan(base_url: str, profile: str, out: Path, pacing: bool = True) -> None:
    """Runs in a fresh process: one scan, then prints its figures as JSON."""
    from m365apk.checks.registry import all_checks
    from m365apk.demo.tenant import demo_settings, load_profile
    from m365apk.runs import gcpolicy
    from m365apk.runs.scan import _collect, _run, report_from_snapshot
    from m365apk.scanner.auth import LoopbackClientSecretCredential
    from m365apk.scanner.graph import GraphSettings
    from m365apk.snapshot.model import file_sha256

    creds = load_profile(profile)  # same app credentials whatever the size
    token_url = f"{base_url}/{creds.tenant_id}/oauth2/v2.0/token"
    checks = all_checks()
    gcpolicy.tune()  # as the CLI does
    started = time.perf_counter()
    cpu = time.process_time()
    # run_scan's steps, one by one, to time the collection's CPU apart from the rest
    snapshot = _run(
        _collect(
            LoopbackClientSecretCredential(token_url, creds.client_id, creds.client_secret),
            GraphSettings(base_url=base_url, pacing=pacing),
            checks,
            creds.tenant_id,
            f"benchmark:{profile}",
            None,
            # the demo's tenant settings (emergency accounts, approved exclusions), so the
            # printed verdicts are the ones `m365apk demo` gives (#16 point 4)
            tenant_settings=demo_settings(profile),
        )
    )
    collect_cpu = time.process_time() - cpu
    out.mkdir(parents=True, exist_ok=True)
    snapshot.write(out / "snapshot.json")
    write_cpu = time.process_time() - cpu - collect_cpu
    output = report_from_snapshot(
        snapshot, checks, out, snapshot_sha256=file_sha256(out / "snapshot.json")
    )
    total_cpu = time.process_time() - cpu
    wall = time.perf_counter() - started
    stats = output.snapshot.stats
    peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    # Only against the quick simulator: the throttle model would charge (and delay) the
    # floor's own requests. After the scan's peak is read: the floor allocates too.
    floor = {} if pacing else machine_floor(base_url, creds, output.snapshot)
    print(
        json.dumps(
            {
                "wall_s": round(wall, 2),
                "collect_s": stats.duration_seconds,
                "http_requests": stats.http_requests,
                "retries": stats.retries,
                "peak_rss_mb": peak_rss_mb,
                "users": len(output.snapshot.dataset("users").data or []),
                "objects": collected_objects(output.snapshot),
                "collect_cpu_s": round(collect_cpu, 3),
                "total_cpu_s": round(total_cpu, 3),
                "write_cpu_s": round(write_cpu, 3),  # the snapshot file
                "statuses": {r.check_id: r.status.value for r in output.results},
                "snapshot_mb": round((out / "snapshot.json").stat().st_size / 2**20, 1),
                **floor,
            }
        )
    )


def machine_floor(base_url: str, creds: object, snapshot: object, rounds: int = 3) -> dict:
    """What this machine needs for the scan's bare work, measured here beside it (CPU speed
    varies by tens of percent between runs on shared machines; a ratio to this is steadier):
    json.loads of everything collected (as compact JSON: no fields we drop, so less than
    Graph sent) and one GET through a plain httpx.AsyncClient (no SDK, no middleware) against
    the same simulator, best of `rounds`. Together: the least CPU any httpx-based Python
    collection of the same objects in the same number of requests could take."""
    import httpx
    from pydantic_core import to_json

    from m365apk.scanner.auth import LoopbackClientSecretCredential
    from m365apk.scanner.graph import GRAPH_SCOPE

    def best(work: Callable[[], None]) -> float:
        """Least CPU seconds of `rounds` runs of `work`."""
        least = float("inf")
        for _ in range(rounds):
            t = time.process_time()
            work()
            least = min(least, time.process_time() - t)
        return least

    blobs = [
        to_json(d.data)
        for d in snapshot.datasets.values()  # type: ignore[attr-defined]
        if d.data is not None
    ]
    users = snapshot.dataset("users").data or []  # type: ignore[attr-defined]
    credential = LoopbackClientSecretCredential(
        f"{base_url}/{creds.tenant_id}/oauth2/v2.0/token",  # type: ignore[attr-defined]
        creds.client_id,  # type: ignore[attr-defined]
        creds.client_secret,  # type: ignore[attr-defined]
    )

    async def per_request(n: int = 200) -> float:
        token = (await credential.get_token(GRAPH_SCOPE)).token
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{base_url}/v1.0/organization"
        async with httpx.AsyncClient(timeout=30) as client:
            for _ in range(20):  # connection and first-use costs out of the way
                (await client.get(url, headers=headers)).raise_for_status()
            least = float("inf")
            for _ in range(rounds):  # awaited, so not `best`
                t = time.process_time()
                for _ in range(n):
                    await (await client.get(url, headers=headers)).aread()
                least = min(least, (time.process_time() - t) / n)
            return least

    def decode() -> None:
        for blob in blobs:
            json.loads(blob)

    def one_pass() -> None:
        for user in users:
            user.get("accountEnabled")

    return {
        "floor_decode_s": round(best(decode), 3),
        "floor_request_ms": round(asyncio.run(per_request()) * 1000, 3),
        "floor_user_pass_us": round(best(one_pass) / max(1, len(users)) * 1e6, 3),
    }


def collected_objects(snapshot: object) -> int:
    """Objects Graph returned: list items, fan-out items per key, 1 per single object."""
    count = 0
    for dataset in snapshot.datasets.values():  # type: ignore[attr-defined]
        data = dataset.data
        if isinstance(data, list):
            count += len(data)
        elif isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
            count += sum(len(v) for v in data.values())
        elif data is not None:
            count += 1
    return count


def scan_once(
    profile: str, users: int, latency_ms: float, throttle: bool, keep_logs: Path | None = None
) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "requests.jsonl"
        sim, base_url = start_simulator(
            profile, users, latency_ms, throttle=throttle, request_log=log
        )
        try:
            out = Path(tmp) / "out"
            done = subprocess.run(
                [sys.executable, __file__, "--child", base_url, "--profile", profile, "--out", out]
                + ([] if throttle else ["--no-throttle"]),
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise SystemExit(f"scan failed:\n{done.stderr}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            sim.terminate()
            sim.wait(timeout=10)
        result["log"] = read_log(log)
        if keep_logs is not None and log.exists():
            keep_logs.mkdir(parents=True, exist_ok=True)
            (keep_logs / f"requests-{profile}-{users}.jsonl").write_bytes(log.read_bytes())
        return result


# --- the floor ------------------------------------------------------------------------------

_ID_SEGMENT = re.compile(r"^(?=.*\d)[0-9A-Za-z@.%_-]{16,}$|^[0-9a-f-]{36}$")


def dataset_of(path: str) -> str:
    """/v1.0/groups/3f2a.../members -> groups/{id}/members (a dataset's requests together)."""
    first, *rest = path.split("/")[2:]
    return "/".join([first, *("{id}" if _ID_SEGMENT.match(p) else p for p in rest)])


def read_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def bucket_limits() -> dict[str, tuple[float, float]]:
    """(capacity, refill per second) per bucket name, for the tenant sizes of the log."""
    from m365apk.demo.throttle import LIMITS

    return {name: (limit.capacity, limit.rate) for name, limit in LIMITS.items()}


def charges_of(record: dict) -> list[tuple[str, int]]:
    """Every (bucket, cost) a logged request was charged; a log without `charges` (older
    simulators) knew only its one bucket."""
    if "charges" in record:
        return [(bucket, cost) for bucket, cost in record["charges"]]
    return [(record["bucket"], record["cost"])] if record["bucket"] else []


def floor_of(records: Iterable[dict], directory_capacity: float) -> float:
    """The floor (module docstring) of these requests, in seconds."""
    limits = bucket_limits()
    limits["directory"] = (directory_capacity, directory_capacity / 10.0)
    chains: dict[str, float] = defaultdict(float)
    tokens: dict[tuple[str, str], float] = defaultdict(float)
    least: dict[tuple[str, str], float] = {}
    for r in records:
        chains[r["chain"]] += r["latency"]
        for bucket, cost in charges_of(r):
            key = (bucket, r["tenant"])
            tokens[key] += cost
            least[key] = min(least.get(key, r["latency"]), r["latency"])
    bounds = list(chains.values())
    for key, needed in tokens.items():
        capacity, rate = limits[key[0]]
        bounds.append(max(0.0, needed - capacity) / rate + least[key])
    return max(bounds, default=0.0)


def directory_capacity(users: int) -> float:
    from m365apk.demo.throttle import directory_limit

    return directory_limit(users).capacity


def floor_report(log: list[dict], users: int) -> dict:
    """Actual vs floor per dataset and in total, and the 429s, from the simulator's log."""
    gets = [r for r in log if r["method"] == "GET" and r["path"].startswith(("/v1.0", "/beta"))]
    needed = [r for r in gets if not r["throttled"]]
    capacity = directory_capacity(users)
    per: dict[str, list[dict]] = defaultdict(list)
    for r in gets:
        per[dataset_of(r["path"])].append(r)
    datasets = {}
    for name, records in sorted(per.items()):
        ok = [r for r in records if not r["throttled"]]
        start = min(r["start"] for r in records)
        actual = max(r["time"] for r in records) - start
        datasets[name] = {
            "requests": len(ok),
            "throttled": len(records) - len(ok),
            "actual_s": actual,
            "floor_s": floor_of(ok, capacity),
        }
    throttled = Counter(r["bucket"] for r in gets if r["throttled"])
    known = set(bucket_limits()) | {"directory"}
    if gets:
        start = min(r["start"] for r in gets)
        actual = max(r["time"] for r in gets) - start
    else:
        actual = 0.0
    return {
        "actual_s": actual,
        "floor_s": floor_of(needed, capacity),
        "requests": len(needed),
        "inner": sum(1 for r in gets if r["inner"]),
        "throttled": dict(throttled),
        "avoidable": sum(n for b, n in throttled.items() if b in known),
        "datasets": datasets,
    }


def print_floor(report: dict) -> None:
    def ratio(actual: float, floor: float) -> str:
        return f"{actual / floor:5.1f}x" if floor > 0 else "    -"

    print(
        f"  Graph GETs {report['requests']} needed ({report['inner']} inside $batch);"
        f" 429s {sum(report['throttled'].values())}"
        f" (avoidable {report['avoidable']}; per bucket {report['throttled'] or '{}'})"
    )
    print(
        f"  actual {report['actual_s']:.1f} s / floor {report['floor_s']:.1f} s ="
        f" {ratio(report['actual_s'], report['floor_s'])}"
    )
    print(f"    {'dataset':<58} {'req':>5} {'429':>4} {'actual s':>8} {'floor s':>8} {'ratio':>6}")
    for name, d in report["datasets"].items():
        print(
            f"    {name[:58]:<58} {d['requests']:>5} {d['throttled']:>4} {d['actual_s']:>8.2f}"
            f" {d['floor_s']:>8.2f} {ratio(d['actual_s'], d['floor_s']):>6}"
        )


def parse_cost(pages: int = 3) -> dict:
    """µs per object: our pydantic path vs msgraph-sdk typed models, same bytes."""
    from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
    from msgraph.generated.models.user_registration_details_collection_response import (
        UserRegistrationDetailsCollectionResponse,
    )

    from m365apk.demo.tenant import load_profile
    from m365apk.scanner.graph import _page_validator
    from m365apk.scanner.graph_models import UserRegistrationDetail

    tenant = load_profile("board", users=999 * pages)
    bodies = [
        json.dumps({"value": tenant.registration_details[i * 999 : (i + 1) * 999]}).encode()
        for i in range(pages)
    ]
    objects = sum(len(json.loads(b)["value"]) for b in bodies)

    validator = _page_validator(UserRegistrationDetail)
    reps = 20
    t = time.perf_counter()
    for _ in range(reps):
        for body in bodies:
            validator.validate_json(body)
    ours = (time.perf_counter() - t) / (reps * objects)

    factory = JsonParseNodeFactory()
    # First page separately: it pays the SDK's one-off lazy imports.
    t = time.perf_counter()
    factory.get_root_parse_node("application/json", bodies[0]).get_object_value(
        UserRegistrationDetailsCollectionResponse
    )
    first = time.perf_counter() - t
    t = time.perf_counter()
    for body in bodies:
        factory.get_root_parse_node("application/json", body).get_object_value(
            UserRegistrationDetailsCollectionResponse
        )
    sdk = (time.perf_counter() - t) / objects
    return {
        "objects": objects,
        "ours_us_per_object": round(ours * 1e6, 2),
        "sdk_us_per_object": round(sdk * 1e6, 1),
        "sdk_first_page_s": round(first, 2),
        "ratio_sdk_over_ours": round(sdk / ours, 1),
    }


def print_machine_floor(r: dict) -> None:
    floor = r["floor_decode_s"] + r["http_requests"] * r["floor_request_ms"] / 1000
    print(
        f"  this machine, bare: json.loads of all objects {r['floor_decode_s']:.2f} s,"
        f" plain httpx {r['floor_request_ms']:.2f} ms/request -> collect floor {floor:.2f} s"
        f" = {floor / max(1, r['objects']) * 1e6:.1f} µs/object (ours"
        f" {r['collect_cpu_s'] / max(floor, 1e-9):.1f}x); one bare pass over the users"
        f" {r['floor_user_pass_us']:.2f} µs/user"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,20000,100000")
    parser.add_argument(
        "--latency-ms",
        type=float,
        help="fixed latency per request (default: 0 with the throttle model, else 20)",
    )
    parser.add_argument(
        "--no-throttle",
        action="store_true",
        help="without the simulator's throttle and latency model, and without the client's"
        " pacing (the quick path: CPU figures in seconds, not minutes)",
    )
    parser.add_argument("--profile", default="board")
    parser.add_argument("--child", metavar="BASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--skip-parse", action="store_true")
    parser.add_argument(
        "--keep-logs", type=Path, metavar="DIR", help="keep the simulator's request logs here"
    )
    args = parser.parse_args()
    if args.child:
        # Without the simulator's limits the client's pacing is off too: it would otherwise
        # keep to Graph's 10 signInActivity pages a minute against a server that has none.
        child_scan(args.child, args.profile, args.out, pacing=not args.no_throttle)
        return

    throttle = not args.no_throttle
    latency_ms = args.latency_ms if args.latency_ms is not None else (0.0 if throttle else 20.0)
    model = "throttle model on" if throttle else "throttle model off"
    print(f"m365apk scan benchmark — profile {args.profile}, {model}, latency {latency_ms:g} ms")
    print(
        f"{'users':>8} {'wall s':>7} {'collect s':>9} {'requests':>8} {'peak RSS MB':>11}"
        f" {'snapshot MB':>11}  checks"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        r = scan_once(args.profile, size, latency_ms, throttle, args.keep_logs)
        counts = Counter(r["statuses"].values())
        checks = f"{len(r['statuses'])} checks: " + ", ".join(
            f"{v} {k}" for k, v in sorted(counts.items())
        )
        print(
            f"{size:>8} {r['wall_s']:>7} {r['collect_s']:>9} {r['http_requests']:>8}"
            f" {r['peak_rss_mb']:>11} {r['snapshot_mb']:>11}  {checks}"
        )
        per_object = r["collect_cpu_s"] / max(1, r["objects"]) * 1e6
        per_user = r["total_cpu_s"] / max(1, r["users"]) * 1e6
        print(
            f"  client CPU: collect {r['collect_cpu_s']:.1f} s for {r['objects']:,} objects ="
            f" {per_object:.1f} µs/object; end to end {r['total_cpu_s']:.1f} s ="
            f" {per_user:.1f} µs/user (snapshot file {r['write_cpu_s']:.1f} s, checks and"
            f" reports {r['total_cpu_s'] - r['collect_cpu_s'] - r['write_cpu_s']:.1f} s)"
        )
        if "floor_decode_s" in r:
            print_machine_floor(r)
        if size == 100_000:
            ok = r["peak_rss_mb"] <= TARGET_RSS_MB
            cpu_ok = per_object <= TARGET_US_PER_OBJECT and per_user <= TARGET_US_PER_USER
            print(
                f"  targets 100k: peak RSS <= {TARGET_RSS_MB:g} MB: {'met' if ok else 'NOT met'};"
                f" <= {TARGET_US_PER_OBJECT:g} µs/object and <= {TARGET_US_PER_USER:g} µs/user:"
                f" {'met' if cpu_ok else 'NOT met'}"
            )
        if throttle:
            print_floor(floor_report(r["log"], size))
    if not args.skip_parse:
        p = parse_cost()
        print(
            f"parsing {p['objects']} userRegistrationDetails:"
            f" ours {p['ours_us_per_object']} µs/object,"
            f" msgraph-sdk typed {p['sdk_us_per_object']} µs/object"
            f" (first page incl. imports {p['sdk_first_page_s']} s) — SDK is"
            f" {p['ratio_sdk_over_ours']}× slower"
        )


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
