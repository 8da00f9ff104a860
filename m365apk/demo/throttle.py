"""Graph's documented throttling, simulated: token buckets per service, request costs, the 429
answer and its headers, and a latency model per page.

Sources (checked 2026-11; the live pages may change, shared/reference/graph-reference.md §7):

- [TL] learn.microsoft.com/graph/throttling-limits ("Microsoft Graph service-specific throttling
  limits"), sections "Identity and access service limits", "Identity and access reports
  service limits", "Identity protection and conditional access service limits" and the Intune
  includes (includes/throttling-intune-device-configuration.md,
  includes/throttling-intune-devices.md in microsoftgraph/microsoft-graph-docs-contrib).
  The reports section is includes/throttling-entra-logs-reports.md: its table rows
  "Any | 122 requests per 10 seconds | Five requests per 10 seconds" and
  "GET signInActivity | 10 requests per minute | 10 requests per minute" (per app for all
  tenants | per app per tenant). A GET of users with signInActivity in `$select` is such a GET
  (microsoft-graph-docs-contrib issue #8653: "If pulling the signInActivity ... there is a
  throttling limit of 10 requests per 1 minute"); it still costs its directory resource units.
- [TG] learn.microsoft.com/graph/throttling (429 + Retry-After; retries count against limits).

Model, per bucket: a token bucket that holds `capacity` tokens, refills continuously at
`capacity / window` tokens per second and starts full. A request costs `cost` tokens (resource
units for the directory bucket, 1 for the others). Most requests count against one bucket; a
GET of users with signInActivity counts against two (directory, its resource units, and
signInActivity, 1). A request passes when every one of its buckets holds its cost there, and
then takes it from all of them; else it is answered 429 and consumes nothing from any bucket.
Retry-After (where Graph sends it) is the whole seconds until every bucket that refused holds
the cost again (the longest of their waits). The directory [TL] is documented as a token
bucket; for the other services [TL] gives "N requests per T seconds", which we model the same way
(a sliding-window counter would be stricter at the window's edges; Graph does not say).

Only the limits one scanning app can meet are modelled: per app per tenant where [TL] gives one,
else per tenant (conditional access and identity protection: "per tenant for all apps", so in
the simulator the scanner's own requests are all there is in it). The global 130,000 requests /
10 s per app is not modelled (not reachable at school scale, graph-reference §7.1).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl


@dataclass(frozen=True)
class Limit:
    """One documented limit: `capacity` tokens per `window` seconds."""

    name: str  # bucket name in the request log
    capacity: float
    window: float
    scope: str  # x-ms-throttle-scope's <Scope>: Tenant_Application | Tenant | Application
    retry_after: bool  # whether Graph's 429 carries Retry-After
    resource_units: bool = False  # costs in resource units (+ x-ms-resource-unit headers)
    information: str = "RequestLimitExceeded"  # x-ms-throttle-information [U] outside directory

    @property
    def rate(self) -> float:
        return self.capacity / self.window


# [TL] Identity and access: application+tenant pair, resource units per 10 s by tenant size
# ("S - under 50 users, M - between 50 and 500 users, and L - above 500 users").
DIRECTORY_SIZES = ((50, 3_500.0), (501, 5_000.0), (math.inf, 8_000.0))


def directory_limit(users: int) -> Limit:
    capacity = next(c for bound, c in DIRECTORY_SIZES if users < bound)
    return Limit(
        "directory",
        capacity,
        10.0,
        "Tenant_Application",
        retry_after=True,
        resource_units=True,
        information="ResourceUnitLimitExceeded",
    )


LIMITS = {
    # [TL] Identity and access reports: "Any: 5 requests per 10 seconds", per app per tenant.
    "reports": Limit("reports", 5.0, 10.0, "Tenant_Application", retry_after=True),
    # [TL] Same table: "GET signInActivity: 10 requests per minute" per app per tenant. Charged
    # on top of the directory cost of the users GET (SIGN_IN_ACTIVITY_PATH). Retry-After: [TL]
    # does not say; assumed sent, as for the other reports limits and [TG]'s 429 in general
    # [simulator choice].
    "signInActivity": Limit("signInActivity", 10.0, 60.0, "Tenant_Application", retry_after=True),
    # [TL] The same table's other column, "Limit per app for all tenants": "Any: 122 requests
    # per 10 seconds" and "GET signInActivity: 10 requests per minute". One multi-tenant app
    # (a provider's scan-all) shares these over every school it reads: the sector's
    # signInActivity pages all pass through one 10-per-minute bucket. Charged on top of the
    # per-tenant bucket of the same request (APP_WIDE); keyed by app only.
    "reports_app": Limit("reports_app", 122.0, 10.0, "Application", retry_after=True),
    "signInActivity_app": Limit("signInActivity_app", 10.0, 60.0, "Application", retry_after=True),
    # [TL] Identity protection and conditional access: "Any: 1 request per second", per tenant
    # for all apps; "do not return a Retry-After header on 429 Too Many Requests responses".
    "ca": Limit("ca", 1.0, 1.0, "Tenant", retry_after=False),
    # [TL] Intune device configuration (deviceManagement, deviceCompliancePolicy,
    # deviceConfiguration, ...): "Any: 1000 requests per 20 seconds" per app per tenant
    # (2000 per tenant for all apps).
    "intune_config": Limit("intune_config", 1_000.0, 20.0, "Tenant_Application", True),
    # [TL] Intune devices (managedDevice, ...): "Any: 2000 requests per 20 seconds" per app per
    # tenant (4000 per tenant for all apps).
    "intune_devices": Limit("intune_devices", 2_000.0, 20.0, "Tenant_Application", True),
}

# Path (relative to the version root) -> (bucket, base cost). First match wins; one table.
# Directory base costs are [TL]'s "base request costs" table ("Any requests not listed have a
# base cost of 1"); other buckets count requests (cost 1).
CLASSES: tuple[tuple[re.Pattern[str], str, int], ...] = tuple(
    (re.compile(pattern), bucket, cost)
    for pattern, bucket, cost in (
        # [TL] reports include (throttling-entra-logs-reports.md): signIn, directoryAudit,
        # authentication method reports (reports/authenticationMethods/*, which serves
        # userRegistrationDetails; graph-reference §7.1 marks that one [U]).
        (r"^/auditLogs/signIns(/|$)", "reports", 1),
        (r"^/auditLogs/directoryAudits(/|$)", "reports", 1),
        (r"^/auditLogs/provisioning(/|$)", "reports", 1),
        (r"^/reports/authenticationMethods(/|$)", "reports", 1),
        # [TL] identity protection and CA include: conditionalAccessPolicy, namedLocation,
        # riskyUser, riskDetection (and the rest of identityProtection/*).
        (r"^/identity/conditionalAccess(/|$)", "ca", 1),
        (r"^/identityProtection(/|$)", "ca", 1),
        # [TL] Intune includes: managedDevice is "Intune devices"; deviceManagement itself,
        # deviceCompliancePolicy and deviceConfiguration are "Intune device configuration".
        (r"^/deviceManagement/managedDevices(/|$)", "intune_devices", 1),
        (r"^/deviceManagement(/|$)", "intune_config", 1),
        # [TL] identity and access base request costs (GET).
        (r"^/users$", "directory", 2),
        (r"^/applications$", "directory", 2),
        (r"^/applications/[^/]+/extensionProperties$", "directory", 2),
        (r"^/contracts$", "directory", 3),
        (r"^/domains/[^/]+/domainNameReferences$", "directory", 4),
        (r"^/groups/[^/]+/members$", "directory", 3),
        (r"^/groups/[^/]+/transitiveMembers$", "directory", 5),
        (r"^/oauth2PermissionGrants(/[^/]+)?$", "directory", 2),
        (r"^/servicePrincipals/[^/]+/appRoleAssignments$", "directory", 2),
        (r"^/subscribedSkus$", "directory", 3),
        (
            r"^/users/[^/]+/(licenseDetails|memberOf|ownedObjects|transitiveMemberOf)$",
            "directory",
            2,
        ),
        # Everything else: the identity and access default ("any identity path not listed": 1).
        # Non-identity services we read (secureScores, backupRestore, SharePoint settings) have
        # no documented limit of their own; they count here too [simulator choice].
        (r"", "directory", 1),
    )
)


def classify(path: str) -> tuple[str, int]:
    """(bucket, base cost) of a GET on `path` (relative to /v1.0 or /beta)."""
    for pattern, bucket, cost in CLASSES:
        if pattern.search(path):
            return bucket, cost
    raise AssertionError("the last row matches everything")


# GETs of the user list whose $select holds signInActivity count against the signInActivity
# limit too (a single user, /users/{id}?$select=signInActivity, is not read by the scanner;
# [TL] names the resource, so it would count too).
SIGN_IN_ACTIVITY_PATH = re.compile(r"^/users(/[^/]+)?$")


def selects_sign_in_activity(query: str) -> bool:
    """Whether `$select` names signInActivity: the query parsed (%24select, %2C between the
    names as next links carry them), names compared case-insensitively as Graph does."""
    return any(
        key.lower() == "$select" and name.strip().lower() == "signinactivity"
        for key, value in parse_qsl(query, keep_blank_values=True)
        for name in value.split(",")
    )


# Per-tenant buckets whose requests also count against a limit per app for all tenants.
APP_WIDE = {"reports": "reports_app", "signInActivity": "signInActivity_app"}


def charges_of(path: str, query: str, *, app_wide: bool = True) -> list[tuple[str, int]]:
    """Every bucket a GET on `path` counts against, with its base cost there: classify's bucket
    first (the primary one), then signInActivity where it applies, then the limits per app for
    all tenants of those (`app_wide`)."""
    buckets = [classify(path)]
    if SIGN_IN_ACTIVITY_PATH.search(path) and selects_sign_in_activity(query):
        buckets.append(("signInActivity", 1))
    if app_wide:
        buckets += [(APP_WIDE[b], 1) for b, _ in list(buckets) if b in APP_WIDE]
    return buckets


def request_cost(base: int, query: str) -> int:
    """[TL] "Other factors that affect a request cost": $select -1, $expand +1, $top < 20 -1;
    "A request cost can never be lower than 1"."""
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    cost = base
    if params.get("$select"):
        cost -= 1
    if params.get("$expand"):
        cost += 1
    top = params.get("$top", "")
    if top.isdigit() and int(top) < 20:
        cost -= 1
    return max(1, cost)


@dataclass(frozen=True)
class Latency:
    """Time Graph takes to answer one page: `base` + `per_object` for each object returned.

    Defaults (an assumption, not a documented figure): ~150 ms for a small Graph GET from West
    Europe, what Graph Explorer and client logs typically show for directory reads, plus
    0.25 ms per object, so a full 999-object page of users takes ~400 ms (directory pages of
    999 are commonly observed at 0.3-1 s). Override for other assumptions."""

    base: float = 0.150
    per_object: float = 0.00025

    def of(self, objects: int) -> float:
        return self.base + self.per_object * max(0, objects)


# Tokens refill in float steps (5 s and then 1 s at 1/6 per second is 0.9999999999999999, not
# 1): a bucket within this of the cost holds it, so Retry-After's whole seconds are enough.
EPSILON = 1e-9


@dataclass
class _Charge:
    """One bucket a request counts against, while the model weighs it."""

    bucket: str
    limit: Limit
    cost: int
    key: tuple[str, ...]
    held: float = 0.0  # tokens in the bucket now (after the refill)

    @property
    def holds(self) -> bool:
        return self.held >= self.cost - EPSILON

    @property
    def wait(self) -> int:
        """Whole seconds until the bucket holds the cost (at least 1)."""
        return max(1, math.ceil((self.cost - self.held) / self.limit.rate - EPSILON))

    @property
    def usage(self) -> float:
        return (self.limit.capacity - self.held) / self.limit.capacity


@dataclass
class Decision:
    """The throttle model's verdict on one request.

    `bucket`, `cost`, `limit` and `usage` are the primary bucket's: the first the request counts
    against (directory for a users GET) when it passes, the one that refused it (the longest
    wait) when it is a 429. `charges` lists every (bucket, cost) the request counts against;
    a 429 took none of them."""

    bucket: str
    cost: int
    allowed: bool
    limit: Limit
    retry_after: int | None = None  # whole seconds, only where Graph sends it
    usage: float = 0.0  # fraction of the bucket in use after this request
    headers: dict[str, str] = field(default_factory=dict)
    charges: tuple[tuple[str, int], ...] = ()


class ThrottleModel:
    """Token buckets per (bucket, tenant[, app]), and per (bucket, app) for the limits per app
    for all tenants (off with `app_wide=False`: each tenant alone, as if every school had its
    own app). Thread-safe; the clock is injectable so tests need not sleep (`clock` returns
    seconds, monotonic)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        latency: Latency | None = None,
        limits: dict[str, Limit] | None = None,
        app_wide: bool = True,
    ) -> None:
        self.clock = clock
        self.app_wide = app_wide
        self.latency = latency or Latency()
        self.limits = dict(LIMITS if limits is None else limits)
        self._buckets: dict[tuple[str, ...], list[float]] = {}  # key -> [tokens, last time]
        self._lock = threading.Lock()

    def limit_for(self, bucket: str, users: int) -> Limit:
        if bucket == "directory":
            return self.limits.get("directory") or directory_limit(users)
        return self.limits[bucket]

    def admit(self, tenant_id: str, app_id: str, users: int, path: str, query: str) -> Decision:
        """Charge one GET to every bucket it counts against, or, if any of them lacks the
        tokens, to none (a 429)."""
        parts: list[_Charge] = []
        for bucket, base in charges_of(path, query, app_wide=self.app_wide):
            limit = self.limit_for(bucket, users)
            cost = request_cost(base, query) if limit.resource_units else 1
            key = (
                (bucket, tenant_id)
                if limit.scope == "Tenant"
                else (bucket, "*", app_id)
                if limit.scope == "Application"
                else (bucket, tenant_id, app_id)
            )
            parts.append(_Charge(bucket, limit, cost, key))
        with self._lock:
            now = self.clock()
            for part in parts:
                state = self._buckets.get(part.key)
                if state is None:
                    state = self._buckets[part.key] = [part.limit.capacity, now]
                state[0] = min(part.limit.capacity, state[0] + (now - state[1]) * part.limit.rate)
                state[1] = now
                part.held = state[0]
            allowed = all(part.holds for part in parts)
            if allowed:
                for part in parts:
                    self._buckets[part.key][0] -= part.cost
                    part.held -= part.cost
        charges = tuple((part.bucket, part.cost) for part in parts)
        if allowed:
            primary = parts[0]
            limit, cost = primary.limit, primary.cost
            usage = primary.usage
            decision = Decision(primary.bucket, cost, True, limit, usage=usage, charges=charges)
            if limit.resource_units:
                # [TL] "Regular responses": x-ms-resource-unit always; the limit percentage
                # "returned only when the application consumed more than 0.8 of its limit".
                decision.headers["x-ms-resource-unit"] = str(cost)
                if usage > 0.8:
                    decision.headers["x-ms-throttle-limit-percentage"] = f"{usage:.2f}"
            return decision
        # Refused: every bucket short of its cost waits; the longest wait is the answer's (on a
        # tie the first, primary, bucket's).
        wait, refused = 0, parts[0]
        for part in parts:
            if not part.holds and part.wait > wait:
                wait, refused = part.wait, part
        bucket, limit, cost, usage = refused.bucket, refused.limit, refused.cost, refused.usage
        decision = Decision(bucket, cost, False, limit, usage=usage, charges=charges)
        if limit.retry_after:
            decision.retry_after = wait
            decision.headers["Retry-After"] = str(wait)
        if limit.resource_units:
            # [TL] "Throttled responses": <Scope>/<Limit>/<ApplicationId>/<TenantId>.
            decision.headers["x-ms-throttle-scope"] = f"{limit.scope}/Read/{app_id}/{tenant_id}"
            decision.headers["x-ms-throttle-information"] = limit.information
        return decision

    def snapshot(self) -> dict[str, Any]:
        """Tokens left per bucket key (for tests and diagnostics)."""
        with self._lock:
            return {"/".join(k): v[0] for k, v in self._buckets.items()}


# [TG] and the sample in learn.microsoft.com/graph/throttling ("Sample response"): a 429 answers
# {"error": {"code": "TooManyRequests", "message": ..., "innerError": {...}}}.
THROTTLED_MESSAGE = "Please retry again later."
