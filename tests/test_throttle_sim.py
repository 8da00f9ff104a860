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
  (5 requests / 10 s per app per tenant); identity protection and conditional access (1 request
  / s per tenant for all apps, no `Retry-After` on 429); Intune per-area limits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from m365apk.demo.server import SimulatedGraph
from m365apk.demo.tenant import TenantData, load_profile
from m365apk.demo.throttle import LIMITS, Latency, Limit, ThrottleModel, directory_limit


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
