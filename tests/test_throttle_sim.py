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

from collections.abc import Iterator

import httpx
import pytest

from m365apk.demo.server import SimulatedGraph
from m365apk.demo.tenant import TenantData, load_profile


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
