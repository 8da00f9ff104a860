"""Pace each Graph throttling bucket instead of running into 429s.

Graph throttles per service ("bucket"), mostly per app per tenant; a GraphClient is one tenant,
so each client keeps its own buckets. Two limits hold per app for all tenants (identity and
access reports: any request 122 per 10 s, GET signInActivity 10 per minute): those buckets are
one per process for every tenant it reads (`app_bucket`), taken in turn, and shared by
scan-all's worker processes (`SharedBucket`). Before a request goes out it takes its
cost from its bucket's tokens (an asyncio token bucket), waiting only as long as the documented
limit requires.
Graph's own signals then correct the estimate: `x-ms-resource-unit` (what the request really
cost), `x-ms-throttle-limit-percentage` (how much of the limit is used: slow down), and 429
(pause the bucket: Retry-After when Graph sends it, else a backoff per bucket).

The table below is the client's own reading of Microsoft's documentation, kept apart from the
simulator's on purpose: a mistake in one is then not silently mirrored by the other.
Source, unless noted: learn.microsoft.com/graph/throttling-limits (microsoft-graph-docs-contrib,
concepts/throttling-limits.md and its includes), read 2026-11; shared/reference/graph-reference.md
section 7.

Decisions, with their reasons:
* Tenant size for the directory bucket is unknown until the users are read: the smallest limit
  (S, 3,500 units per 10 s) is assumed until then. The collector reads every plain endpoint before
  any fan-out, so by the time request volume matters (per-user and per-group reads) the user count
  is in (`set_user_count`). Assuming S costs nothing in practice: 3,500 units is far more than a
  scan's plain reads; assuming L for a small school would run straight into 429s.
* Per-user authentication methods (`users/{id}/authentication/methods`) are counted in the
  directory bucket (cost 1), not in the reports bucket. The reports list names the resource
  "authenticationMethod", but Graph serves these reads without that 5-per-10-s limit in practice
  (scripts read them for thousands of users) and a yearly A1 scan of 5,000 users would otherwise
  take hours. If Graph does throttle them, its 429 pauses the bucket and the scan slows down.
* `x-ms-throttle-priority: low` is sent (GraphSettings.throttle_priority): documented for the
  identity and access service, it does not change the limits, only who is throttled first when
  throttling occurs. A yearly background scan should yield to the school's own (interactive)
  tools in the buckets shared by every app of the tenant, such as conditional access.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Limit:
    units: float  # per window: resource units (directory) or requests (all others)
    window: float  # seconds
    # Per tenant for all apps: another app's use counts too, so a 429 is not necessarily ours
    # and does not make us slower for the rest of the scan (it still pauses the bucket).
    shared: bool = False
    # Per app for all tenants: one bucket for every tenant this process reads (`app_bucket`).
    app_wide: bool = False


DIRECTORY = "directory"
REPORTS = "reports"
SIGN_IN_ACTIVITY = "signInActivity"
PROTECTION_CA = "identityProtectionConditionalAccess"
INTUNE_DEVICES = "intuneDevices"
INTUNE_CONFIGURATION = "intuneDeviceConfiguration"
REPORTS_APP = "reportsApp"
SIGN_IN_ACTIVITY_APP = "signInActivityApp"

# "Identity and access service limits": application+tenant pair, resource units per 10 s, by
# tenant size: S under 50 users, M 50-500, L above 500.
DIRECTORY_UNITS = {"S": 3500, "M": 5000, "L": 8000}

LIMITS: dict[str, Limit] = {
    DIRECTORY: Limit(DIRECTORY_UNITS["S"], 10.0),
    # "Identity and access reports service limits": 5 requests per 10 s per app per tenant
    # (signIn, directoryAudit, authentication methods reports, provisioning ...).
    REPORTS: Limit(5, 10.0),
    # Same section: GET signInActivity (users?$select=signInActivity), 10 requests per minute
    # per app per tenant, on top of the directory cost of listing users.
    SIGN_IN_ACTIVITY: Limit(10, 60.0),
    # Same table, column "Limit per app for all tenants" (includes/throttling-entra-logs-
    # reports.md): any request 122 per 10 s, GET signInActivity 10 per minute. A provider's
    # scan-all reads every school with one app, so all its tenants share these two: the whole
    # portfolio's signInActivity pages pass at 10 a minute, however many tenants run at once.
    REPORTS_APP: Limit(122, 10.0, app_wide=True),
    SIGN_IN_ACTIVITY_APP: Limit(10, 60.0, app_wide=True),
    # "Identity protection and conditional access service limits": 1 request per second per
    # tenant for all apps; 429 without Retry-After (riskyUser, riskDetection, namedLocation,
    # conditionalAccessPolicy).
    PROTECTION_CA: Limit(1, 1.0, shared=True),
    # "Intune devices service limits", any request: 2,000 per 20 s per app per tenant
    # (managedDevice and the other device resources).
    INTUNE_DEVICES: Limit(2000, 20.0),
    # "Intune device configuration service limits", any request: 1,000 per 20 s per app per
    # tenant (deviceConfiguration, deviceCompliancePolicy ...). The deviceManagement root
    # (its settings) is counted here too: the smaller of the two Intune limits [U].
    INTUNE_CONFIGURATION: Limit(1000, 20.0),
}

# A request in one of these buckets also counts against the limit per app for all tenants.
APP_WIDE = {REPORTS: REPORTS_APP, SIGN_IN_ACTIVITY: SIGN_IN_ACTIVITY_APP}

# Directory request costs ("base request costs"; any identity path not listed costs 1).
# Keys: the path with ids replaced by {id}. Costs for me/... apply to users/{id}/... too.
DIRECTORY_COSTS = {
    "applications": 2,
    "applications/{id}/extensionProperties": 2,
    "contracts": 3,
    "domains/{id}/domainNameReferences": 4,
    "groups/{id}/members": 3,
    "groups/{id}/transitiveMembers": 5,
    "oauth2PermissionGrants": 2,
    "oauth2PermissionGrants/{id}": 2,
    "servicePrincipals/{id}/appRoleAssignments": 2,
    "subscribedSkus": 3,
    "users": 2,
    "users/{id}/licenseDetails": 2,
    "users/{id}/memberOf": 2,
    "users/{id}/ownedObjects": 2,
    "users/{id}/transitiveMemberOf": 2,
}

# First path segments served by the identity and access (directory) service: the resources
# the section lists (application, device, directoryObject, directoryRole, domain, group,
# groupSetting, oauth2PermissionGrant, organization, policyBase, servicePrincipal,
# subscribedSku, user ...). roleManagement/directory and administrativeUnits are directory
# objects too, though not named there [U].
DIRECTORY_ROOTS = frozenset(
    {
        "administrativeUnits",
        "applications",
        "contracts",
        "devices",
        "directory",
        "directoryObjects",
        "directoryRoleTemplates",
        "directoryRoles",
        "domains",
        "groupSettingTemplates",
        "groupSettings",
        "groups",
        "me",
        "oauth2PermissionGrants",
        "organization",
        "policies",
        "roleManagement",
        "servicePrincipals",
        "subscribedSkus",
        "users",
    }
)

# The quickest answer any request of this process has had (seconds from taking its tokens):
# what a request needs without delays on the way (`Pacer.answered`). Process-wide, so scan-all's
# tenants learn it from one another.
_FASTEST = [float("inf")]

# Limit percentage above which Graph warns (it sends the header from 0.8 on).
SLOW_DOWN_FROM = 0.8
MIN_FACTOR = 0.1  # never slower than a tenth of the documented rate
RECOVERY_STEP = 0.02  # per response without a warning, back towards the documented rate
# Added to a wait: Graph counts a request when it arrives, a little after we send it, and one
# request can take a few milliseconds longer on the way than the next. Without this, the second
# of two requests one second apart (conditional access) can arrive 0.99 s after the first.
ARRIVAL_MARGIN = 0.05
# A tenant behind another in an app-wide bucket that holds tokens looks again this soon.
TURN_POLL_SECONDS = 0.02


def _segments(path: str) -> list[str]:
    """The resource path below the version root: /v1.0/users/x/y -> ['users', 'x', 'y']."""
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        if part in ("v1.0", "beta"):
            return parts[i + 1 :]
    return parts


def _shape(segments: list[str]) -> str:
    """users/abc/memberOf -> users/{id}/memberOf (every second segment is a key)."""
    return "/".join("{id}" if i % 2 else s for i, s in enumerate(segments))


def _query(query: str | Mapping[str, str]) -> dict[str, str]:
    pairs = query.items() if isinstance(query, Mapping) else parse_qsl(query)
    return {k.lstrip("$").lower(): v for k, v in pairs}


def directory_cost(segments: list[str], query: Mapping[str, str]) -> int:
    cost = DIRECTORY_COSTS.get(_shape(segments), 1)
    if "select" in query:
        cost -= 1
    if "expand" in query:
        cost += 1
    top = query.get("top", "")
    if top.isdigit() and int(top) < 20:
        cost -= 1
    return max(1, cost)


def classify(method: str, url: str) -> list[tuple[str, int]]:
    """The buckets a request counts against, with its cost in each. Empty: a service whose
    limits we do not pace (Graph's 429 still pauses that request)."""
    parts = urlsplit(url)
    segments = _segments(parts.path)
    # Fan-outs send thousands of requests that differ only in their ids: judged once per shape.
    # Below these roots the second segment names a service, not an object: kept as it is.
    named = bool(segments) and segments[0] in _SERVICE_ROOTS
    path = "/".join(segments) if named else _shape(segments)
    return list(_classify(method, path, parts.query))


_SERVICE_ROOTS = frozenset(
    {"auditLogs", "deviceManagement", "identity", "identityProtection", "reports"}
)


@lru_cache(maxsize=512)
def _classify(method: str, path: str, raw_query: str) -> tuple[tuple[str, int], ...]:
    segments = path.split("/") if path else []
    if not segments or segments[0].startswith("$"):  # $batch: its inner requests count
        return ()
    query = _query(raw_query)
    first = segments[0]
    if first == "auditLogs" or (
        first == "reports" and len(segments) > 1 and segments[1] == "authenticationMethods"
    ):
        return _with_app_wide([(REPORTS, 1)])
    if first == "identityProtection" or (
        first == "identity" and len(segments) > 1 and segments[1] == "conditionalAccess"
    ):
        return ((PROTECTION_CA, 1),)
    if first == "deviceManagement":
        if len(segments) > 1 and segments[1] == "managedDevices":
            return ((INTUNE_DEVICES, 1),)
        return ((INTUNE_CONFIGURATION, 1),)
    if first in DIRECTORY_ROOTS:
        buckets = [(DIRECTORY, directory_cost(segments, query))]
        if first == "users" and "signinactivity" in query.get("select", "").lower():
            buckets.append((SIGN_IN_ACTIVITY, 1))
        return _with_app_wide(buckets)
    return ()


def _with_app_wide(buckets: list[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """The buckets, then the limit per app for all tenants of each that has one (APP_WIDE)."""
    return (*buckets, *((APP_WIDE[name], 1) for name, _ in buckets if name in APP_WIDE))


class Bucket:
    """A token bucket of `limit.units` per `limit.window` seconds, starting full."""

    def __init__(self, name: str, limit: Limit, clock: Clock) -> None:
        self.name, self.limit = name, limit
        self.capacity = float(limit.units)
        self._clock = clock
        self.tokens = self.capacity
        self.stamp = clock()
        self.factor = 1.0  # share of the documented rate we allow ourselves (slow-down)
        self.paused_until = 0.0
        self.strikes = 0  # 429s without Retry-After in a row: the backoff grows with them
        # App-wide buckets: the pacers (tenants) waiting here, by turn (Pacer.turn), with the
        # number of their requests waiting.
        self.waiting: dict[int, int] = {}

    @property
    def rate(self) -> float:
        return self.capacity / self.limit.window * self.factor

    def _refill(self) -> float:
        now = self._clock()
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        return now

    def delay(self, cost: float) -> float:
        """Seconds until `cost` can be taken (0: now)."""
        now = self._refill()
        need = min(cost, self.capacity)  # a cost above the whole bucket waits for a full one
        wait = max(0.0, self.paused_until - now)
        if self.tokens < need:
            wait = max(wait, (need - self.tokens) / self.rate)
        return wait if wait > 1e-6 else 0.0

    def charge(self, extra: float) -> None:
        """Graph says the request cost more (or less) than we took."""
        self._refill()
        self.tokens = max(-self.capacity, min(self.capacity, self.tokens - extra))

    def warn(self, used: float) -> None:
        """x-ms-throttle-limit-percentage: `used` of the limit is spent (0.8 ... 1.8). Only the
        rest of the window is left, and the rate drops below what Graph measured."""
        self._refill()
        self.tokens = min(self.tokens, max(0.0, 1.0 - used) * self.capacity)
        self.factor = max(MIN_FACTOR, min(self.factor, SLOW_DOWN_FROM / used))

    def calm(self) -> None:
        """A response without a warning: creep back towards the documented rate."""
        self.strikes = 0
        if self.factor < 1.0:
            self._refill()
            self.factor = min(1.0, self.factor + RECOVERY_STEP)

    def throttled(self, pause: float, *, retry_after: bool) -> None:
        now = self._refill()
        # Several requests in flight are refused together: that is one event, not several.
        fresh = now >= self.paused_until
        self.tokens = min(self.tokens, 0.0)
        self.paused_until = max(self.paused_until, now + pause)
        if fresh and not retry_after:
            self.strikes += 1
        # Our own budget ran out: we were too fast. Not so for an app-wide bucket: its 429 is
        # as likely the tenant's own limit (the same request counts in both), and halving it
        # would slow every school of the run for the rest of the run.
        if fresh and not (self.limit.shared or self.limit.app_wide):
            self.factor = max(MIN_FACTOR, self.factor / 2)


# Buckets per app for all tenants, shared by every Pacer of this process with the same `app`
# (and clock); in scan-all's worker processes, shared by all of them (`share_app_buckets`).
_APP_BUCKETS: dict[tuple[str, str, Clock], Bucket] = {}
_SHARED_CELLS: dict[str, Any] = {}  # bucket name -> its state in memory shared by the workers
# The part of each app-wide limit this run may use: 1/N for one of N scan-all shards (separate
# pods reading with the same app, which cannot share memory).
_APP_SHARE = [1.0]
_TURNS = itertools.count()  # tenants' turns in the app-wide buckets: first come, first served
# Taking tokens and queueing for a turn from several threads (scan-all's tenants) at once; in
# worker processes one lock for all of them (re-entrant: a shared bucket locks it itself).
_LOCK: Any = threading.RLock()


class SharedBucket(Bucket):
    """An app-wide bucket whose state (tokens, time of the last refill, pause, slow-down) lives
    in memory shared by scan-all's worker processes, changed under their common lock: together
    they take what one process would, never more than the app's limit."""

    _FIELDS = ("tokens", "stamp", "paused_until", "factor", "capacity")

    def __init__(self, name: str, limit: Limit, clock: Clock, cells: Any, lock: Any) -> None:
        # Bucket.__init__ is not called: it would reset the state the other workers share.
        self.name, self.limit = name, limit
        self._clock, self._cells, self._lock = clock, cells, lock
        self.strikes = 0
        self.waiting = {}

    @staticmethod
    def cells(context: Any, limit: Limit) -> Any:
        """The shared state of a full bucket, made by the parent before the workers start."""
        units = float(limit.units) * _APP_SHARE[0]
        return context.RawArray("d", [units, time.monotonic(), 0.0, 1.0, units])

    def _refill(self) -> float:
        with self._lock:
            return super()._refill()

    def delay(self, cost: float) -> float:
        with self._lock:
            return super().delay(cost)

    def charge(self, extra: float) -> None:
        with self._lock:
            super().charge(extra)

    def warn(self, used: float) -> None:
        with self._lock:
            super().warn(used)

    def calm(self) -> None:
        with self._lock:
            super().calm()

    def throttled(self, pause: float, *, retry_after: bool) -> None:
        with self._lock:
            super().throttled(pause, retry_after=retry_after)


def _shared_field(index: int) -> property:
    def get(self: SharedBucket) -> float:
        return self._cells[index]

    def put(self: SharedBucket, value: float) -> None:
        self._cells[index] = value

    return property(get, put)


for _index, _field in enumerate(SharedBucket._FIELDS):
    setattr(SharedBucket, _field, _shared_field(_index))


def app_bucket_cells(context: Any) -> dict[str, Any]:
    """Shared state for every app-wide bucket, for `share_app_buckets` in each worker."""
    return {name: SharedBucket.cells(context, lim) for name, lim in LIMITS.items() if lim.app_wide}


def share_app_buckets(cells: dict[str, Any], lock: Any) -> None:
    """In a scan-all worker: the app-wide buckets are the ones in `cells`, shared with the
    other workers under `lock` (made by the parent: app_bucket_cells, context.RLock)."""
    global _LOCK
    _LOCK = lock
    _SHARED_CELLS.clear()
    _SHARED_CELLS.update(cells)
    _APP_BUCKETS.clear()


def set_app_share(share: float) -> None:
    """This run may use `share` (0 < share <= 1) of each app-wide limit: 1/N for one of N
    shards. For buckets made after the call (before the scan starts)."""
    _APP_SHARE[0] = min(1.0, max(1e-3, share))


def app_bucket(app: str, name: str, clock: Clock) -> Bucket:
    with _LOCK:
        key = (app, name, clock)
        if key not in _APP_BUCKETS:
            cells = _SHARED_CELLS.get(name) if clock is time.monotonic else None
            if cells is None:
                bucket = Bucket(name, LIMITS[name], clock)
                bucket.capacity = bucket.tokens = bucket.capacity * _APP_SHARE[0]
            else:
                bucket = SharedBucket(name, LIMITS[name], clock, cells, _LOCK)
            _APP_BUCKETS[key] = bucket
        return _APP_BUCKETS[key]


def forget_app_buckets() -> None:
    """A fresh start for the app-wide buckets (tests; a process that scans for another app)."""
    with _LOCK:
        _APP_BUCKETS.clear()


class Pacer:
    """The buckets of one client (one tenant), and its place in the app-wide ones.

    App-wide buckets serve their waiting tenants in the order the tenants started (`turn`):
    a school that started first has all of the app's signInActivity pages it needs before the
    next one gets any. Shared out evenly instead, 16 tenants reading 10 pages a minute together
    would each crawl at less than one page a minute, and a large board would run into its
    deadline; in turn, each reads at the documented rate, and the total is the same.
    """

    def __init__(
        self,
        *,
        enabled: bool = True,
        backoff_seconds: float = 2.0,
        backoff_max_seconds: float = 60.0,
        jitter_seconds: float = 1.0,
        margin_seconds: float = ARRIVAL_MARGIN,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        app: str = "",
    ) -> None:
        self.enabled = enabled
        self.app = app  # whose limits per app for all tenants: the Graph host, by default
        self.turn = next(_TURNS)
        # Wall time with a request of ours held by the app-wide buckets alone (`time_in_line`).
        self._held = 0
        self._held_since = 0.0
        self._held_seconds = 0.0
        self.margin_seconds = margin_seconds
        self.backoff_seconds, self.backoff_max_seconds = backoff_seconds, backoff_max_seconds
        self.jitter_seconds = jitter_seconds
        self._clock, self._sleep = clock, sleep
        self.buckets: dict[str, Bucket] = {}
        self.size = "S"

    def bucket(self, name: str) -> Bucket:
        if name not in self.buckets:
            if LIMITS[name].app_wide:
                self.buckets[name] = app_bucket(self.app, name, self._clock)
                return self.buckets[name]
            self.buckets[name] = Bucket(name, LIMITS[name], self._clock)
            if name == DIRECTORY:
                self.buckets[name].capacity = float(DIRECTORY_UNITS[self.size])
        return self.buckets[name]

    def set_user_count(self, users: int) -> None:
        """The tenant's size for the directory limit, once the users are read."""
        self.size = "S" if users < 50 else "M" if users <= 500 else "L"
        if DIRECTORY in self.buckets:
            bucket = self.buckets[DIRECTORY]
            bucket._refill()
            bucket.capacity = float(DIRECTORY_UNITS[self.size])
            bucket.tokens = min(bucket.tokens, bucket.capacity)

    def costs(
        self, method: str, url: str, content: bytes | None = None
    ) -> list[tuple[Bucket, int]]:
        """What a request costs, per bucket. A JSON batch costs what its inner requests cost:
        Graph judges each of them on its own (learn.microsoft.com/graph/json-batching)."""
        if not self.enabled:
            return []
        if method == "POST" and urlsplit(url).path.endswith("/$batch"):
            return self._batch_costs(url, content)
        return [(self.bucket(name), cost) for name, cost in classify(method, url)]

    def _batch_costs(self, url: str, content: bytes | None) -> list[tuple[Bucket, int]]:
        try:
            requests = json.loads(content or b"{}").get("requests") or []
        except (ValueError, AttributeError):
            return []
        root = url[: url.rindex("/$batch")]
        total: dict[str, int] = {}
        for inner in requests:
            if not isinstance(inner, dict) or not isinstance(inner.get("url"), str):
                continue
            for name, cost in classify(str(inner.get("method") or "GET"), root + inner["url"]):
                total[name] = total.get(name, 0) + cost
        return [(self.bucket(name), cost) for name, cost in total.items()]

    async def ready(self, charged: list[tuple[Bucket, int]]) -> None:
        """Wait until every bucket of the request holds its cost (or no longer pauses), and
        it is this tenant's turn in the app-wide ones. Takes nothing: the tokens are taken by
        `try_take` when the request goes on the wire."""
        own = [(b, c) for b, c in charged if not b.limit.app_wide]
        shared = [(b, c) for b, c in charged if b.limit.app_wide]
        queued = False  # in line for the app-wide buckets: only while ready for the rest
        try:
            while charged:
                wait = max((b.delay(c) for b, c in own), default=0.0)
                held = wait <= 0 and bool(shared)  # only the app's line holds it, if anything
                if held:
                    if not queued:
                        queued = self._queue(shared, 1)
                    wait = max(b.delay(c) for b, c in shared)
                    behind = [(b, c) for b, c in shared if not self._my_turn(b)]
                    if wait <= 0 and behind:
                        # An earlier tenant is about to take these tokens: look again right
                        # after it (what it leaves is ours if it is enough).
                        wait = TURN_POLL_SECONDS
                elif wait > 0 and queued:
                    queued = self._queue(shared, -1)
                if wait <= 0:
                    return
                # Graph counts a request when it arrives, which can trail our clock a little.
                wait += self.margin_seconds
                if held:
                    self._hold(1)
                try:
                    await self._sleep(wait)
                finally:
                    if held:
                        self._hold(-1)
        finally:
            if queued:
                self._queue(shared, -1)

    def _hold(self, step: int) -> None:
        with _LOCK:
            if step > 0 and self._held == 0:
                self._held_since = self._clock()
            self._held += step
            if step < 0 and self._held == 0:
                self._held_seconds += self._clock() - self._held_since

    def _queue(self, shared: list[tuple[Bucket, int]], step: int) -> bool:
        """Join (step 1) or leave (-1) the line of the app-wide buckets; True when in it."""
        with _LOCK:
            for bucket, _ in shared:
                left = bucket.waiting.get(self.turn, 0) + step
                if left > 0:
                    bucket.waiting[self.turn] = left
                else:
                    bucket.waiting.pop(self.turn, None)
        return step > 0

    def time_in_line(self) -> float:
        """Seconds a request of this tenant was held by the app-wide buckets alone, its own
        buckets ready: time the app's other tenants (or worker processes) took, not what this
        tenant's own limits need. Its deadline leaves this time out."""
        with _LOCK:
            ongoing = self._clock() - self._held_since if self._held else 0.0
            return self._held_seconds + ongoing

    def _my_turn(self, bucket: Bucket) -> bool:
        with _LOCK:
            return min(bucket.waiting, default=self.turn) >= self.turn

    def try_take(self, charged: list[tuple[Bucket, int]]) -> bool:
        """Take the request's cost from all its buckets, now, or from none."""
        return self.take(charged) is not None

    def take(self, charged: list[tuple[Bucket, int]]) -> list[Bucket] | None:
        """Take the request's cost from all its buckets, now, or from none (None). Returns the
        buckets that were full: see `answered`."""
        with _LOCK:  # app-wide buckets: another tenant's thread may take at the same time
            if any(bucket.delay(cost) > 0 for bucket, cost in charged):
                return None
            full = [bucket for bucket, _ in charged if bucket.tokens >= bucket.capacity - 1e-9]
            for bucket, cost in charged:
                bucket.tokens -= cost
            return full

    def answered(self, full: Iterable[Bucket], taken_at: float) -> None:
        """A request is answered; `full`: the buckets it was taken from while they were full.
        Graph's bucket was full then too, and stayed full (its refill wasted) until the request
        reached it, which on a loaded machine can be seconds after we took the tokens.
        Refilling from the take would then run ahead of Graph, and a later request meets a 429
        no documented limit required. So the part of the wait for this answer that the fastest
        answer seen in this process did not need (a delay on the way, as far as we can tell) is
        taken back from the refill: nothing on an idle machine, the delay on a loaded one."""
        elapsed = max(0.0, self._clock() - taken_at)
        fastest = _FASTEST[0] = min(_FASTEST[0], elapsed)
        delayed = elapsed - fastest
        if delayed <= 0:
            return
        with _LOCK:  # an app-wide bucket: other tenants (and workers) change it too
            for bucket in full:
                bucket._refill()
                bucket.tokens = max(-bucket.capacity, bucket.tokens - delayed * bucket.rate)

    async def acquire(self, method: str, url: str) -> list[tuple[Bucket, int]]:
        """Wait for and take a request's cost (what the wire does in two steps)."""
        charged = self.costs(method, url)
        while True:
            await self.ready(charged)
            if self.try_take(charged):
                return charged

    def observe(
        self, charged: Iterable[tuple[Bucket, int]], status: int, headers: Mapping[str, str]
    ) -> None:
        """A response (not a 429) to a request that was charged `charged`."""
        used = _float(headers.get("x-ms-throttle-limit-percentage"))
        units = _float(headers.get("x-ms-resource-unit"))
        for bucket, cost in charged:
            if units is not None and bucket.name == DIRECTORY:
                bucket.charge(units - cost)
            if used is not None and used >= SLOW_DOWN_FROM:
                bucket.warn(used)
            elif status < 400:
                bucket.calm()

    def throttled(self, charged: Iterable[tuple[Bucket, int]], retry_after: float | None) -> bool:
        """A 429: pause the request's buckets (Retry-After, else a backoff that grows per
        bucket). False when the request is in no bucket: the caller waits for it itself."""
        paused = False
        for bucket, _ in charged:
            if retry_after is not None:
                pause = retry_after
            else:
                wait = self.backoff_seconds * 2**bucket.strikes
                pause = min(self.backoff_max_seconds, wait + random.uniform(0, self.jitter_seconds))
            bucket.throttled(pause, retry_after=retry_after is not None)
            paused = True
        return paused

    def now(self) -> float:
        return self._clock()


def _float(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None
