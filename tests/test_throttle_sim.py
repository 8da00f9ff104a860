"""The simulated Graph's JSON batching and throttle model, held to Microsoft's documented shapes.

Sources (shared/reference/graph-reference.md §7 and the pages it cites):
- JSON batching, learn.microsoft.com/graph/json-batching: request body
  `{"requests": [{"id", "method", "url", "headers"?}]}`, at most 20 requests; response body
  `{"responses": [{"id", "status", "headers", "body"}]}` where `body` is a JSON object (not a
  string); urls relative to the version root, with or without a leading slash.
- Throttling, learn.microsoft.com/graph/throttling: the 429 body
  `{"error": {"code": "TooManyRequests", "message": ..., "innerError": {"date", "request-id",
  "client-request-id"}}}` and the `Retry-After` header (seconds).
- Service limits, learn.microsoft.com/graph/throttling-limits: identity and access (token bucket
  of resource units per app+tenant, S/M/L 3,500/5,000/8,000 per 10 s, request costs and
  modifiers, `x-ms-resource-unit`, `x-ms-throttle-limit-percentage` above 0.8,
  `x-ms-throttle-scope` `<Scope>/<Limit>/<ApplicationId>/<TenantId>`,
  `x-ms-throttle-information` `ResourceUnitLimitExceeded`); identity and access reports
  (5 requests / 10 s per app per tenant, and "GET signInActivity: 10 requests per minute",
  includes/throttling-entra-logs-reports.md, on top of the users GET's directory units);
  identity protection and conditional access (1 request / s per tenant for all apps, no
  `Retry-After` on 429); Intune per-area limits.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from m365apk.demo.server import SimulatedGraph
from m365apk.demo.tenant import TenantData, load_profile
from m365apk.demo.throttle import (
    LIMITS,
    Latency,
    Limit,
    ThrottleModel,
    charges_of,
    directory_limit,
)
from m365apk.scanner import pacing


@pytest.fixture(scope="module")
def tenant() -> TenantData:
    return load_profile("board", users=300)


def _client(sim: SimulatedGraph, tenant: TenantData) -> httpx.Client:
    access = httpx.post(
        sim.token_url_for(tenant.tenant_id),
        data={
            "grant_type": "client_credentials",
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "scope": "https://graph.microsoft.com/.default",
        },
    ).json()["access_token"]
    return httpx.Client(base_url=sim.graph_url, headers={"Authorization": f"Bearer {access}"})


@pytest.fixture(scope="module")
def plain(tenant: TenantData) -> Iterator[tuple[SimulatedGraph, httpx.Client]]:
    with SimulatedGraph(tenant) as sim, _client(sim, tenant) as client:
        yield sim, client


# --- $batch ---------------------------------------------------------------------------------


def test_batch_answers_each_inner_request_as_its_own_get(plain) -> None:
    sim, graph = plain
    user = graph.get("/users?$top=1&$select=id").json()["value"][0]["id"]
    sim.reset_log()
    answer = graph.post(
        "/$batch",
        json={
            "requests": [
                {"id": "1", "method": "GET", "url": f"/users/{user}/authentication/methods"},
                {"id": "2", "method": "GET", "url": "users?$select=id&$top=5"},
                {
                    "id": "3",
                    "method": "GET",
                    "url": "/users/$count",
                    "headers": {"ConsistencyLevel": "eventual"},
                },
                {"id": "4", "method": "GET", "url": "/groups/nope/members"},
                {"id": "5", "method": "GET", "url": "/nonsense"},
            ]
        },
    )
    assert answer.status_code == 200
    responses = {r["id"]: r for r in answer.json()["responses"]}
    assert set(responses) == {"1", "2", "3", "4", "5"}
    assert responses["1"]["status"] == 200
    assert isinstance(responses["1"]["body"], dict)  # a JSON object, not a string
    assert "value" in responses["1"]["body"]
    assert responses["1"]["headers"]["Content-Type"].startswith("application/json")
    assert len(responses["2"]["body"]["value"]) == 5
    assert "@odata.nextLink" in responses["2"]["body"]
    assert responses["3"]["status"] == 200 and int(responses["3"]["body"]) == 300
    assert responses["4"]["status"] == 404
    assert responses["4"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert responses["5"]["status"] == 400
    inner = [r for r in sim.requests if r.inner]
    assert len(inner) == 5
    assert [r.status for r in inner] == [200, 200, 200, 404, 400]
    outer = [r for r in sim.requests if not r.inner]
    assert [(r.method, r.path) for r in outer] == [("POST", "/v1.0/$batch")]


def test_batch_inner_requests_keep_permissions(tenant: TenantData) -> None:
    from m365apk.demo.tenant import without_permission

    lacking = without_permission(tenant, "UserAuthenticationMethod.Read.All")
    with SimulatedGraph(lacking) as sim, _client(sim, lacking) as graph:
        user = graph.get("/users?$top=1&$select=id").json()["value"][0]["id"]
        answer = graph.post(
            "/$batch",
            json={
                "requests": [
                    {"id": "a", "method": "GET", "url": f"/users/{user}/authentication/methods"}
                ]
            },
        ).json()
    (only,) = answer["responses"]
    assert only["status"] == 403
    assert only["body"]["error"]["code"] == "Authorization_RequestDenied"


def test_batch_of_more_than_twenty_is_refused(plain) -> None:
    _, graph = plain
    requests = [{"id": str(i), "method": "GET", "url": "/organization"} for i in range(21)]
    answer = graph.post("/$batch", json={"requests": requests})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadRequest"
    assert graph.post("/$batch", json={"requests": requests[:20]}).status_code == 200


def test_batch_needs_a_token_and_a_body(plain, tenant: TenantData) -> None:
    sim, graph = plain
    assert httpx.post(f"{sim.graph_url}/$batch", json={"requests": []}).status_code == 401
    assert graph.post("/$batch", content=b"not json").status_code == 400
    assert graph.post("/$batch", json={"requests": [{"id": "1"}, {"id": "1"}]}).status_code == 400


# --- the throttle model, arithmetic (no HTTP, injected clock) -------------------------------


class Clock:
    """A clock tests move by hand: no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


TID, APP = "tenant-1", "app-1"


@pytest.mark.parametrize(
    ("users", "capacity"), [(1, 3500), (49, 3500), (50, 5000), (500, 5000), (501, 8000)]
)
def test_directory_bucket_by_tenant_size(users: int, capacity: float) -> None:
    assert directory_limit(users).capacity == capacity
    assert directory_limit(users).window == 10.0


@pytest.mark.parametrize(
    ("path", "query", "bucket", "cost"),
    [
        ("/organization", "", "directory", 1),
        ("/users", "", "directory", 2),
        ("/users", "$select=id", "directory", 1),
        ("/users", "$select=id&$top=999", "directory", 1),
        ("/users", "%24select=id", "directory", 1),  # encoded as clients send it
        ("/applications", "", "directory", 2),
        ("/groups/g1/members", "", "directory", 3),
        ("/groups/g1/members", "$select=id", "directory", 2),
        ("/groups/g1/transitiveMembers", "", "directory", 5),
        ("/subscribedSkus", "", "directory", 3),
        ("/servicePrincipals/s1/appRoleAssignments", "", "directory", 2),
        ("/oauth2PermissionGrants", "", "directory", 2),
        ("/roleManagement/directory/roleAssignments", "$expand=principal", "directory", 2),
        (
            "/roleManagement/directory/roleAssignments",
            "$expand=principal&$select=id",
            "directory",
            1,
        ),
        ("/users/u1/authentication/methods", "$top=5", "directory", 1),  # never below 1
        ("/users", "$top=10", "directory", 1),
        ("/users", "$top=20", "directory", 2),
        ("/auditLogs/signIns", "$select=id", "reports", 1),
        ("/auditLogs/directoryAudits", "", "reports", 1),
        ("/reports/authenticationMethods/userRegistrationDetails", "", "reports", 1),
        ("/identity/conditionalAccess/policies", "", "ca", 1),
        ("/identity/conditionalAccess/namedLocations", "", "ca", 1),
        ("/identityProtection/riskyUsers", "", "ca", 1),
        ("/identityProtection/riskDetections", "", "ca", 1),
        ("/deviceManagement/managedDevices", "", "intune_devices", 1),
        ("/deviceManagement/deviceCompliancePolicies", "", "intune_config", 1),
        ("/deviceManagement", "", "intune_config", 1),
        ("/security/secureScores", "", "directory", 1),
        # signInActivity counts in its own bucket too; the primary bucket stays directory
        ("/users", "$select=id,signInActivity&$top=500", "directory", 1),
    ],
)
def test_costs_and_classes(path: str, query: str, bucket: str, cost: int) -> None:
    decision = ThrottleModel(clock=Clock()).admit(TID, APP, 1000, path, query)
    assert (decision.bucket, decision.cost, decision.allowed) == (bucket, cost, True)


def test_directory_token_bucket_refills_continuously() -> None:
    clock = Clock()
    model = ThrottleModel(clock=clock)
    for _ in range(1750):  # 3,500 RU (S) at 2 RU per GET /users
        assert model.admit(TID, APP, 10, "/users", "").allowed
    refused = model.admit(TID, APP, 10, "/users", "")
    assert not refused.allowed and refused.retry_after == 1  # 2 RU at 350 RU/s: < 1 s
    assert refused.headers["Retry-After"] == "1"
    clock.now += 2 / 350 + 1e-6  # 2 RU later (and a hair)
    assert model.admit(TID, APP, 10, "/users", "").allowed
    assert not model.admit(TID, APP, 10, "/users", "").allowed
    clock.now += 10.0  # a full window refills to capacity, never beyond it
    for _ in range(1750):
        assert model.admit(TID, APP, 10, "/users", "").allowed
    assert not model.admit(TID, APP, 10, "/users", "").allowed


def test_buckets_are_per_app_per_tenant_except_conditional_access() -> None:
    model = ThrottleModel(clock=Clock())
    for _ in range(5):
        assert model.admit(TID, APP, 10, "/auditLogs/signIns", "").allowed
    assert not model.admit(TID, APP, 10, "/auditLogs/signIns", "").allowed
    assert model.admit(TID, "other-app", 10, "/auditLogs/signIns", "").allowed
    assert model.admit("tenant-2", APP, 10, "/auditLogs/signIns", "").allowed
    # Directory is a separate bucket: reports do not drain it.
    assert model.admit(TID, APP, 10, "/organization", "").allowed
    # CA + identity protection: 1 request/s per tenant for all apps, shared by the paths.
    assert model.admit(TID, APP, 10, "/identity/conditionalAccess/policies", "").allowed
    assert not model.admit(TID, "other-app", 10, "/identityProtection/riskyUsers", "").allowed
    assert model.admit("tenant-2", APP, 10, "/identity/conditionalAccess/policies", "").allowed


def test_reports_five_per_ten_seconds_with_retry_after() -> None:
    clock = Clock()
    model = ThrottleModel(clock=clock)
    for _ in range(5):
        assert model.admit(TID, APP, 10, "/auditLogs/directoryAudits", "").allowed
    refused = model.admit(TID, APP, 10, "/auditLogs/directoryAudits", "")
    assert refused.retry_after == 2  # one request refills in 10 s / 5
    assert "x-ms-resource-unit" not in refused.headers  # directory headers only
    clock.now += 2.0
    assert model.admit(TID, APP, 10, "/auditLogs/directoryAudits", "").allowed


def test_conditional_access_429_has_no_retry_after() -> None:
    clock = Clock()
    model = ThrottleModel(clock=clock)
    assert model.admit(TID, APP, 10, "/identity/conditionalAccess/policies", "").allowed
    refused = model.admit(TID, APP, 10, "/identity/conditionalAccess/policies", "")
    assert not refused.allowed
    assert refused.retry_after is None and "Retry-After" not in refused.headers
    clock.now += 1.0
    assert model.admit(TID, APP, 10, "/identity/conditionalAccess/policies", "").allowed


def test_intune_limits_per_area() -> None:
    model = ThrottleModel(clock=Clock())
    for _ in range(1000):
        assert model.admit(TID, APP, 10, "/deviceManagement/deviceConfigurations", "").allowed
    refused = model.admit(TID, APP, 10, "/deviceManagement/deviceCompliancePolicies", "")
    assert not refused.allowed and refused.retry_after == 1
    for _ in range(2000):  # managedDevices is a separate area with twice the limit
        assert model.admit(TID, APP, 10, "/deviceManagement/managedDevices", "").allowed
    assert not model.admit(TID, APP, 10, "/deviceManagement/managedDevices", "").allowed


def test_limit_percentage_only_above_eighty_percent() -> None:
    model = ThrottleModel(clock=Clock())
    seen = []
    for _ in range(3500):  # S tenant, 1 RU each
        decision = model.admit(TID, APP, 10, "/organization", "")
        assert decision.headers["x-ms-resource-unit"] == "1"
        seen.append(decision.headers.get("x-ms-throttle-limit-percentage"))
    assert seen[2799] is None  # exactly 0.8 used
    assert seen[2800] == "0.80"  # 2,801 of 3,500 = 0.8003: above 0.8
    assert seen[-1] == "1.00"
    refused = model.admit(TID, APP, 10, "/organization", "")
    assert refused.headers["x-ms-throttle-scope"] == f"Tenant_Application/Read/{APP}/{TID}"
    assert refused.headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"


# --- signInActivity: 10 per minute per app per tenant, on top of the directory units ---------

SIA = "$select=id,signInActivity&$top=500"


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        ("/users", SIA, [("directory", 2), ("signInActivity", 1), ("signInActivity_app", 1)]),
        # a next link: %24 for $, %2C between the names, and a $skiptoken
        (
            "/users",
            "%24select=id%2CsignInActivity&%24top=500&%24skiptoken=abc",
            [("directory", 2), ("signInActivity", 1), ("signInActivity_app", 1)],
        ),
        (
            "/users",
            "$select=ID, SIGNINACTIVITY",
            [("directory", 2), ("signInActivity", 1), ("signInActivity_app", 1)],
        ),
        (
            "/users/u1",
            "$select=signInActivity",
            [("directory", 1), ("signInActivity", 1), ("signInActivity_app", 1)],
        ),
        ("/users", "$select=id,displayName&$top=999", [("directory", 2)]),
        ("/users", "$select=id,signInActivityX", [("directory", 2)]),  # a name, not a substring
        ("/users", "$filter=signInActivity", [("directory", 2)]),  # not selected
        ("/users", "", [("directory", 2)]),
        ("/groups", "$select=signInActivity", [("directory", 1)]),  # users only
    ],
)
def test_charges_of(path: str, query: str, expected: list) -> None:
    assert charges_of(path, query) == expected  # base costs: $select etc. come in admit


def test_sign_in_activity_ten_per_minute_then_one_every_six_seconds() -> None:
    clock = Clock()
    model = ThrottleModel(clock=clock)
    for _ in range(10):
        decision = model.admit(TID, APP, 6000, "/users", SIA)
        assert decision.allowed
        assert decision.charges == (
            ("directory", 1),
            ("signInActivity", 1),
            ("signInActivity_app", 1),
        )
        assert (decision.bucket, decision.cost) == ("directory", 1)  # the primary charge
        assert decision.headers["x-ms-resource-unit"] == "1"  # directory headers as before
    refused = model.admit(TID, APP, 6000, "/users", SIA)
    assert not refused.allowed and refused.bucket == "signInActivity"
    assert refused.retry_after == 6 and refused.headers["Retry-After"] == "6"  # 60 s / 10
    # not a directory refusal: no resource-unit headers
    assert "x-ms-throttle-scope" not in refused.headers
    assert "x-ms-resource-unit" not in refused.headers
    clock.now += 5.0
    again = model.admit(TID, APP, 6000, "/users", SIA)
    assert not again.allowed and again.retry_after == 1
    clock.now += 1.0  # 6 s after the eleventh: one more passes, the next does not
    assert model.admit(TID, APP, 6000, "/users", SIA).allowed
    assert not model.admit(TID, APP, 6000, "/users", SIA).allowed
    # per app per tenant, and per app for all tenants: another app reads on, but this app's
    # next tenant is held by the app's own bucket (the same ten a minute, all tenants together)
    assert model.admit(TID, "other-app", 6000, "/users", SIA).allowed
    refused = model.admit("tenant-2", APP, 6000, "/users", SIA)
    assert not refused.allowed and refused.bucket == "signInActivity_app"
    assert refused.retry_after == 6
    alone = ThrottleModel(clock=clock, app_wide=False)  # as if each school had its own app
    for _ in range(10):
        assert alone.admit(TID, APP, 6000, "/users", SIA).allowed
    assert alone.admit("tenant-2", APP, 6000, "/users", SIA).allowed


def test_plain_users_reads_are_not_limited_by_sign_in_activity() -> None:
    model = ThrottleModel(clock=Clock())
    for _ in range(10):
        assert model.admit(TID, APP, 6000, "/users", SIA).allowed
    assert not model.admit(TID, APP, 6000, "/users", SIA).allowed
    for query in ("$select=id,displayName&$top=999", "", "$top=999&$skiptoken=x"):
        decision = model.admit(TID, APP, 6000, "/users", query)
        assert decision.allowed and decision.charges == (("directory", decision.cost),)


def test_sign_in_activity_429_takes_no_directory_units() -> None:
    model = ThrottleModel(clock=Clock())
    for _ in range(10):
        assert model.admit(TID, APP, 6000, "/users", SIA).allowed
    before = model.snapshot()
    assert before[f"directory/{TID}/{APP}"] == 8000 - 10  # L tenant, 1 RU each
    assert before[f"signInActivity/{TID}/{APP}"] == 0
    for _ in range(5):
        assert not model.admit(TID, APP, 6000, "/users", SIA).allowed
    assert model.snapshot() == before


def test_directory_429_takes_no_sign_in_activity() -> None:
    clock = Clock()
    small = Limit(
        "directory", 4.0, 10.0, "Tenant_Application", True, True, "ResourceUnitLimitExceeded"
    )
    model = ThrottleModel(clock=clock, limits={**LIMITS, "directory": small})
    for _ in range(4):
        assert model.admit(TID, APP, 6000, "/organization", "").allowed
    refused = model.admit(TID, APP, 6000, "/users", SIA)
    assert not refused.allowed and refused.bucket == "directory"
    assert refused.retry_after == 3 and refused.headers["Retry-After"] == "3"  # 1 RU at 0.4/s
    assert refused.headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"
    assert model.snapshot()[f"signInActivity/{TID}/{APP}"] == 10  # untouched


def test_retry_after_is_the_longest_wait_of_the_buckets_that_refuse() -> None:
    clock = Clock()
    small = Limit(
        "directory", 10.0, 10.0, "Tenant_Application", True, True, "ResourceUnitLimitExceeded"
    )
    model = ThrottleModel(clock=clock, limits={**LIMITS, "directory": small})
    for _ in range(10):  # 1 RU and 1 signInActivity each: both buckets empty
        assert model.admit(TID, APP, 6000, "/users", SIA).allowed
    refused = model.admit(TID, APP, 6000, "/users", SIA)
    assert (refused.bucket, refused.retry_after) == ("signInActivity", 6)  # not directory's 1
    clock.now += 1.0  # directory holds 1 RU again; signInActivity still refuses
    refused = model.admit(TID, APP, 6000, "/users", SIA)
    assert (refused.bucket, refused.retry_after) == ("signInActivity", 5)
    clock.now += 5.0
    assert model.admit(TID, APP, 6000, "/users", SIA).allowed


# The client's pacing (scanner/pacing.py) and the simulator read the same documentation apart
# on purpose; their bucket names differ. They must still agree on what a request counts against.
CLIENT_NAMES = {
    "directory": pacing.DIRECTORY,
    "signInActivity": pacing.SIGN_IN_ACTIVITY,
    "signInActivity_app": pacing.SIGN_IN_ACTIVITY_APP,
    "reports": pacing.REPORTS,
    "reports_app": pacing.REPORTS_APP,
    "ca": pacing.PROTECTION_CA,
    "intune_devices": pacing.INTUNE_DEVICES,
    "intune_config": pacing.INTUNE_CONFIGURATION,
}


@pytest.mark.parametrize(
    "url",
    [
        "/users?$select=id,signInActivity&$top=500",
        "/users?%24select=id%2CsignInActivity&%24top=500&%24skiptoken=abc",
        "/users?$select=id,SignInActivity",
        "/users/u1?$select=signInActivity",
        "/users?$select=id,displayName&$top=999",
        "/users?$top=999&$skiptoken=abc",
        "/users",
        "/groups/g1/members?$select=id&$top=999",
        "/auditLogs/signIns?$top=200",
        "/reports/authenticationMethods/userRegistrationDetails?$top=999",
        "/identity/conditionalAccess/policies",
        "/deviceManagement/managedDevices?$select=id",
    ],
)
def test_client_and_simulator_agree_on_the_buckets_of_a_request(url: str) -> None:
    path, _, query = url.partition("?")
    decision = ThrottleModel(clock=Clock()).admit(TID, APP, 6000, path, query)
    simulator = [(CLIENT_NAMES[bucket], cost) for bucket, cost in decision.charges]
    assert simulator == pacing.classify("GET", f"https://graph.microsoft.com/v1.0{url}")


def test_client_and_simulator_agree_on_the_sign_in_activity_limit() -> None:
    client = pacing.LIMITS[pacing.SIGN_IN_ACTIVITY]
    simulator = LIMITS["signInActivity"]
    assert (client.units, client.window) == (simulator.capacity, simulator.window) == (10, 60.0)


def test_latency_model() -> None:
    latency = Latency()
    assert latency.of(0) == pytest.approx(0.150)
    assert latency.of(999) == pytest.approx(0.400, abs=0.001)
    assert Latency(base=0.05, per_object=0.001).of(100) == pytest.approx(0.15)


# --- the throttle model over HTTP -----------------------------------------------------------

SMALL_DIRECTORY = Limit(
    "directory", 10.0, 10.0, "Tenant_Application", True, True, "ResourceUnitLimitExceeded"
)
NO_WAIT = Latency(base=0.0, per_object=0.0)


@pytest.fixture
def throttled(tenant: TenantData) -> Iterator[tuple[SimulatedGraph, httpx.Client, Clock]]:
    clock = Clock()
    model = ThrottleModel(
        clock=clock, latency=NO_WAIT, limits={**LIMITS, "directory": SMALL_DIRECTORY}
    )
    with SimulatedGraph(tenant, throttle=model) as sim, _client(sim, tenant) as client:
        yield sim, client, clock


def _assert_graph_429(answer_body: dict, headers: dict | httpx.Headers) -> None:
    """Graph's 429 (learn.microsoft.com/graph/throttling, "Sample response", and the live
    answer quoted in Microsoft Q&A 1138873): TooManyRequests with an innerError that carries
    the date and both request ids."""
    error = answer_body["error"]
    assert error["code"] == "TooManyRequests"
    assert error["message"]
    assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}


def test_directory_429_over_http(throttled) -> None:
    sim, graph, _ = throttled
    answers = [graph.get("/organization") for _ in range(10)]
    assert all(a.status_code == 200 for a in answers)
    assert [a.headers["x-ms-resource-unit"] for a in answers] == ["1"] * 10
    assert "x-ms-throttle-limit-percentage" not in answers[7].headers  # 8 of 10: not above
    assert answers[8].headers["x-ms-throttle-limit-percentage"] == "0.90"
    refused = graph.get("/organization")
    assert refused.status_code == 429
    _assert_graph_429(refused.json(), refused.headers)
    assert refused.headers["Retry-After"] == "1"
    tenant_id = sim.tenants[0].tenant_id
    client_id = sim.tenants[0].client_id
    assert refused.headers["x-ms-throttle-scope"] == (
        f"Tenant_Application/Read/{client_id}/{tenant_id}"
    )
    assert refused.headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"
    last = sim.requests[-1]
    assert (last.status, last.throttled, last.bucket, last.cost) == (429, True, "directory", 0)


def test_reports_and_ca_429_over_http(throttled) -> None:
    _, graph, clock = throttled
    for _ in range(5):
        assert graph.get("/auditLogs/directoryAudits").status_code == 200
    refused = graph.get("/auditLogs/directoryAudits")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
    _assert_graph_429(refused.json(), refused.headers)
    assert graph.get("/identity/conditionalAccess/policies").status_code == 200
    refused = graph.get("/identity/conditionalAccess/policies")
    assert refused.status_code == 429
    assert "Retry-After" not in refused.headers
    _assert_graph_429(refused.json(), refused.headers)
    clock.now += 1.0
    assert graph.get("/identity/conditionalAccess/policies").status_code == 200


def test_batch_inner_requests_are_throttled_one_by_one(throttled) -> None:
    sim, graph, _ = throttled
    sim.reset_log()
    requests = [
        {"id": str(i), "method": "GET", "url": "/auditLogs/directoryAudits"} for i in range(7)
    ]
    answer = graph.post("/$batch", json={"requests": requests})
    assert answer.status_code == 200
    statuses = [r["status"] for r in answer.json()["responses"]]
    assert statuses == [200] * 5 + [429] * 2
    for inner in answer.json()["responses"][5:]:
        assert inner["headers"]["Retry-After"] == "2"
        _assert_graph_429(inner["body"], inner["headers"])
    inner_log = [r for r in sim.requests if r.inner]
    assert len(inner_log) == 7
    assert [r.throttled for r in inner_log] == [False] * 5 + [True] * 2
    assert {r.bucket for r in inner_log} == {"reports"}


@pytest.fixture
def sign_in_limited(tenant: TenantData) -> Iterator[tuple[SimulatedGraph, httpx.Client, Clock]]:
    """Graph's own limits (M tenant: 5,000 RU per 10 s), no latency."""
    clock = Clock()
    model = ThrottleModel(clock=clock, latency=NO_WAIT)
    with SimulatedGraph(tenant, throttle=model) as sim, _client(sim, tenant) as client:
        yield sim, client, clock


def test_sign_in_activity_over_http_next_links_count(sign_in_limited) -> None:
    sim, graph, clock = sign_in_limited
    sim.reset_log()
    link = "/users?$select=id,signInActivity&$top=25"
    for _ in range(10):
        answer = graph.get(link)
        assert answer.status_code == 200 and answer.headers["x-ms-resource-unit"] == "1"
        link = answer.json()["@odata.nextLink"]
    assert "%2C" in link or "," in link
    # the client paces the simulator's own next link against signInActivity too
    assert (pacing.SIGN_IN_ACTIVITY, 1) in pacing.classify("GET", link)
    refused = graph.get(link)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "6"
    _assert_graph_429(refused.json(), refused.headers)
    assert graph.get("/users?$select=id&$top=25").status_code == 200  # plain reads go on
    pages = [r for r in sim.requests if r.path == "/v1.0/users"]
    charged = (("directory", 1), ("signInActivity", 1), ("signInActivity_app", 1))
    assert [r.charges for r in pages[:10]] == [charged] * 10
    last = pages[10]
    assert (last.status, last.throttled, last.bucket, last.cost, last.charges) == (
        429,
        True,
        "signInActivity",
        0,
        (),
    )
    clock.now += 6.0
    assert graph.get(link).status_code == 200


def test_batch_inner_sign_in_activity_requests_count_one_by_one(sign_in_limited) -> None:
    sim, graph, _ = sign_in_limited
    sim.reset_log()
    requests = [
        {"id": str(i), "method": "GET", "url": "users?$select=id,signInActivity&$top=5"}
        for i in range(12)
    ] + [{"id": "plain", "method": "GET", "url": "users?$select=id&$top=5"}]
    answer = graph.post("/$batch", json={"requests": requests})
    assert answer.status_code == 200
    responses = {r["id"]: r for r in answer.json()["responses"]}
    assert [responses[str(i)]["status"] for i in range(12)] == [200] * 10 + [429] * 2
    for i in (10, 11):
        assert responses[str(i)]["headers"]["Retry-After"] == "6"
        _assert_graph_429(responses[str(i)]["body"], responses[str(i)]["headers"])
    assert responses["plain"]["status"] == 200
    inner = [r for r in sim.requests if r.inner]
    assert [r.bucket for r in inner] == ["directory"] * 10 + ["signInActivity"] * 2 + ["directory"]
    assert sum(1 for r in inner for bucket, _ in r.charges if bucket == "signInActivity") == 10


def test_request_log_file(tenant: TenantData, tmp_path) -> None:
    log = tmp_path / "requests.jsonl"
    model = ThrottleModel(clock=Clock(), latency=Latency(base=0.001, per_object=0.00001))
    with (
        SimulatedGraph(tenant, throttle=model, request_log=str(log)) as sim,
        _client(sim, tenant) as graph,
    ):
        first = graph.get("/users?$select=id&$top=200").json()
        graph.get(first["@odata.nextLink"])
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    pages = [r for r in lines if r["path"] == "/v1.0/users"]
    assert [p["objects"] for p in pages] == [200, 100]
    assert pages[0]["chain"] == pages[1]["chain"]  # one collection read, two pages
    assert pages[0]["cost"] == 1 and pages[0]["bucket"] == "directory"
    assert pages[0]["charges"] == [["directory", 1]]
    assert pages[0]["latency"] == pytest.approx(0.001 + 200 * 0.00001)
    assert set(pages[0]) >= {"time", "status", "throttled", "inner", "tenant", "query"}


def test_throttling_is_off_by_default(plain) -> None:
    sim, graph = plain
    assert sim.throttle is None
    answers = [graph.get("/identity/conditionalAccess/policies") for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert "x-ms-resource-unit" not in answers[0].headers


# --- many tenants, made on first use --------------------------------------------------------


def test_tenant_factory_makes_tenants_lazily_and_bounds_the_cache() -> None:
    from dataclasses import replace

    made: list[str] = []
    ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(3)]

    def factory(tenant_id: str) -> TenantData | None:
        if tenant_id not in ids:
            return None
        made.append(tenant_id)
        base = load_profile("weak", users=60, seed=ids.index(tenant_id) + 1)
        return replace(base, tenant_id=tenant_id)

    with SimulatedGraph([], tenant_factory=factory, cached_users=130) as sim:
        firsts = []
        for tenant_id in ids + ids[:1]:
            tenant = sim.lazy_api(tenant_id).t
            with _client(sim, tenant) as graph:
                firsts.append(graph.get("/users?$select=id&$top=3").json()["value"])
        assert sim.lazy_api("99999999-0000-4000-8000-000000000000") is None
        assert len(sim._lazy) == 2  # 60 + 60 users fit in 130; the third evicted the first
    assert made == [*ids, ids[0]]  # the first was made again, and answers the same
    assert firsts[0] == firsts[3] and firsts[0] != firsts[1]


# --- the benchmark's floor counts every charge ----------------------------------------------


def _scan_benchmark():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "scan_benchmark.py"
    spec = importlib.util.spec_from_file_location("scan_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_floor_is_bounded_by_sign_in_activity() -> None:
    bench = _scan_benchmark()
    assert bench.bucket_limits()["signInActivity"] == (10.0, 10.0 / 60.0)
    # 100,000 users at 500 per page: 200 pages, each 1 RU and 1 of signInActivity's 10/min
    pages = [
        {
            "chain": "t/v1.0/users?$select=id,signInActivity",
            "latency": 0.275,
            "tenant": "t",
            "bucket": "directory",
            "cost": 1,
            "charges": [["directory", 1], ["signInActivity", 1]],
        }
        for _ in range(200)
    ]
    floor = bench.floor_of(pages, 8000.0)
    assert floor == pytest.approx((200 - 10) / (10 / 60) + 0.275)  # 1,140 s and a page
    # a log from before `charges` counts its one bucket
    old = [{k: v for k, v in p.items() if k != "charges"} for p in pages]
    assert bench.floor_of(old, 8000.0) == pytest.approx(200 * 0.275)  # the chain
