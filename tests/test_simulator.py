"""The simulated Graph answers as Graph does where our client must cope (over real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from m365apk.demo.server import Fault, SimulatedGraph
from m365apk.demo.tenant import TenantData, available_profiles, load_profile, without_permission
from m365apk.snapshot.licences import summarise

GA = "62e90394-69f5-4237-9190-012177145e10"


@pytest.fixture(scope="module")
def board() -> TenantData:
    return load_profile("board", users=2500)


@pytest.fixture(scope="module")
def sim(board: TenantData) -> Iterator[SimulatedGraph]:
    with SimulatedGraph(board) as s:
        yield s


def token(sim: SimulatedGraph, tenant: TenantData, secret: str | None = None) -> httpx.Response:
    return httpx.post(
        sim.token_url_for(tenant.tenant_id),
        data={
            "grant_type": "client_credentials",
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret if secret is None else secret,
            "scope": "https://graph.microsoft.com/.default",
        },
    )


@pytest.fixture(scope="module")
def graph(sim: SimulatedGraph, board: TenantData) -> Iterator[httpx.Client]:
    access = token(sim, board).json()["access_token"]
    with httpx.Client(
        base_url=sim.graph_url, headers={"Authorization": f"Bearer {access}"}
    ) as client:
        yield client


def test_profiles_exist() -> None:
    assert {"weak", "good", "board"} <= set(available_profiles())


def test_users_page_by_top_with_absolute_opaque_next_links(graph: httpx.Client, sim) -> None:
    url = "/users?$select=id,displayName&$top=999"
    ids: list[str] = []
    pages = 0
    while url:
        page = graph.get(url).json()
        pages += 1
        ids += [u["id"] for u in page["value"]]
        assert all(set(u) == {"id", "displayName"} for u in page["value"])
        url = page.get("@odata.nextLink")
        if url:
            assert url.startswith(sim.graph_url + "/users?")
            query = parse_qs(urlsplit(url).query)
            assert query["$select"] == ["id,displayName"] and "$skiptoken" in query
    assert pages == 3 and len(ids) == len(set(ids)) == 2500


def test_default_page_size_is_100(graph: httpx.Client) -> None:
    page = graph.get("/users").json()
    assert len(page["value"]) == 100 and "@odata.nextLink" in page


@pytest.mark.parametrize(
    "url, code",
    [
        ("/users?$top=1000", "Request_UnsupportedQuery"),
        ("/users?$select=id,noSuchField", "BadRequest"),
        ("/users?$filter=city eq 'Utrecht'", "Request_UnsupportedQuery"),
        ("/users?$count=true", "Request_BadRequest"),
        ("/users?$skiptoken=forged", "Directory_ExpiredPageToken"),
        ("/nonsense", "BadRequest"),
    ],
)
def test_bad_queries_get_graph_400s(graph: httpx.Client, url: str, code: str) -> None:
    response = graph.get(url)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and "request-id" in error["innerError"]


def test_filter_and_count_with_eventual_consistency(graph: httpx.Client, board) -> None:
    enabled = sum(bool(u["accountEnabled"]) for u in board.users)
    headers = {"ConsistencyLevel": "eventual"}
    page = graph.get(
        "/users?$filter=accountEnabled eq true&$count=true&$top=5", headers=headers
    ).json()
    assert page["@odata.count"] == enabled and len(page["value"]) == 5
    count = graph.get("/users/$count", headers=headers)
    assert count.headers["content-type"].startswith("text/plain")
    assert int(count.text) == 2500
    assert graph.get("/users/$count").status_code == 400


def test_role_assignments_expand_principal(graph: httpx.Client) -> None:
    page = graph.get(
        f"/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq '{GA}'"
        "&$expand=principal"
    ).json()
    assert page["@odata.context"].endswith("roleAssignments(principal())")
    assert len(page["value"]) == 3
    for a in page["value"]:
        assert a["principal"]["@odata.type"] == "#microsoft.graph.user"
        assert a["principal"]["id"] == a["principalId"]


def test_group_members_and_missing_group(graph: httpx.Client, board: TenantData) -> None:
    group = next(g for g in board.groups if g["isAssignableToRole"])
    members = graph.get(f"/groups/{group['id']}/members?$select=id,displayName").json()
    assert len(members["value"]) == 3
    assert all(m["@odata.type"] == "#microsoft.graph.user" for m in members["value"])
    missing = graph.get("/groups/00000000-0000-0000-0000-000000000000/members")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "Request_ResourceNotFound"


def test_registration_report_shape(graph: httpx.Client) -> None:
    row = graph.get("/reports/authenticationMethods/userRegistrationDetails?$top=1").json()
    detail = row["value"][0]
    for name in ("id", "userPrincipalName", "isAdmin", "isMfaCapable", "methodsRegistered"):
        assert name in detail
    assert detail["userType"] in ("member", "guest")


def test_missing_permission_is_403_authorization_request_denied(board: TenantData) -> None:
    # Directory.Read.All also grants user reads, as in Graph: remove both.
    tenant = without_permission(without_permission(board, "User.Read.All"), "Directory.Read.All")
    with SimulatedGraph(tenant) as sim:
        access = token(sim, tenant).json()["access_token"]
        response = httpx.get(
            f"{sim.graph_url}/users", headers={"Authorization": f"Bearer {access}"}
        )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "Authorization_RequestDenied"


def test_report_without_entra_p1_is_403_non_premium() -> None:
    weak = load_profile("weak")
    assert not weak.has_entra_p1
    with SimulatedGraph(weak) as sim:
        access = token(sim, weak).json()["access_token"]
        response = httpx.get(
            f"{sim.graph_url}/reports/authenticationMethods/userRegistrationDetails",
            headers={"Authorization": f"Bearer {access}"},
        )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"


def test_token_errors_are_entra_shaped(board: TenantData) -> None:
    with SimulatedGraph(board, secret_expired=False) as sim:
        wrong = token(sim, board, secret="wrong")
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        assert wrong.json()["error_description"].startswith("AADSTS7000215")
        assert httpx.get(f"{sim.graph_url}/users").status_code == 401
        forged = httpx.get(f"{sim.graph_url}/users", headers={"Authorization": "Bearer a.b.c"})
        assert forged.json()["error"]["code"] == "InvalidAuthenticationToken"
    with SimulatedGraph(board, secret_expired=True) as sim:
        expired = token(sim, board)
        assert expired.json()["error_codes"] == [7000222]


def test_a_token_from_another_simulator_is_refused(board: TenantData) -> None:
    with SimulatedGraph(board) as one, SimulatedGraph(board) as two:
        access = token(one, board).json()["access_token"]
        response = httpx.get(
            f"{two.graph_url}/users", headers={"Authorization": f"Bearer {access}"}
        )
    assert response.status_code == 401


def test_injected_faults_come_first_then_normal_answers(board: TenantData) -> None:
    with SimulatedGraph(board) as sim:
        access = token(sim, board).json()["access_token"]
        headers = {"Authorization": f"Bearer {access}"}
        sim.inject(
            "/organization",
            Fault(429, retry_after=3),
            Fault(429),
            Fault(503),
            Fault(200, body=b"{not json"),
        )
        answers = [httpx.get(f"{sim.graph_url}/organization", headers=headers) for _ in range(5)]
    assert [a.status_code for a in answers] == [429, 429, 503, 200, 200]
    assert answers[0].headers["Retry-After"] == "3"
    assert "Retry-After" not in answers[1].headers
    assert answers[0].json()["error"]["code"] == "TooManyRequests"
    assert answers[3].content == b"{not json"
    assert answers[4].json()["value"][0]["id"] == board.tenant_id
    statuses = [r.status for r in sim.requests if r.path == "/v1.0/organization"]
    assert statuses == [429, 429, 503, 200, 200]


def test_a_broader_permission_also_grants_the_read(board: TenantData) -> None:
    tenant = without_permission(board, "User.Read.All")  # Directory.Read.All remains
    with SimulatedGraph(tenant) as sim:
        access = token(sim, tenant).json()["access_token"]
        response = httpx.get(
            f"{sim.graph_url}/users", headers={"Authorization": f"Bearer {access}"}
        )
    assert response.status_code == 200


def test_only_loopback(board: TenantData) -> None:
    with SimulatedGraph(board) as sim:
        assert urlsplit(sim.base_url).hostname == "127.0.0.1"


def test_profiles_are_deterministic_and_scale() -> None:
    a, b = load_profile("board", users=1000), load_profile("board", users=1000)
    assert a.users == b.users and a.registration_details == b.registration_details
    big = load_profile("board", users=20000)
    assert len(big.users) == 20000
    students = sum(
        any(lic["skuId"] == "18250162-5d87-4436-a834-d795c15c80f3" for lic in u["assignedLicenses"])
        for u in big.users
    )
    assert 0.85 < students / 20000 < 0.92  # a school board is mostly pupils
    with pytest.raises(ValueError, match="minstens"):
        load_profile("board", users=3)


def test_weak_and_good_profiles_say_what_the_issue_asks() -> None:
    weak, good = load_profile("weak"), load_profile("good")
    assert summarise(weak.subscribed_skus).entra_plan == "free"
    assert not weak.security_defaults["isEnabled"]
    assert sum(a["roleDefinitionId"] == GA for a in weak.role_assignments) == 6
    assert summarise(good.subscribed_skus).entra_plan in ("p1", "p2")
    assert 2 <= sum(a["roleDefinitionId"] == GA for a in good.role_assignments) <= 4
    enforcing = [
        p
        for p in good.conditional_access_policies
        if p["state"] == "enabled"
        and "mfa" in p["grantControls"]["builtInControls"]
        and "All" in p["conditions"]["users"]["includeUsers"]
    ]
    assert enforcing
    staff_mfa = [r["isMfaCapable"] for r in good.registration_details if r["userType"] == "member"]
    assert sum(staff_mfa) / len(staff_mfa) > 0.8


def test_custom_app_management_policies_and_what_they_apply_to(graph: httpx.Client) -> None:
    # Graph's list does not return the appliesTo relationship; appliesTo is its own call.
    policies = graph.get("/policies/appManagementPolicies").json()["value"]
    assert policies and all("appliesTo" not in p for p in policies)
    assert {"id", "isEnabled", "restrictions"} <= set(policies[0])
    url = f"/policies/appManagementPolicies/{policies[0]['id']}/appliesTo"
    targets = graph.get(url, params={"$select": "id,appId,displayName,createdDateTime"}).json()
    assert targets["value"][0]["@odata.type"] == "#microsoft.graph.application"
    assert {"id", "createdDateTime"} <= set(targets["value"][0])
    missing = graph.get("/policies/appManagementPolicies/nope/appliesTo")
    assert missing.status_code == 404


def test_applies_to_wants_application_read_all_and_policy_read_all(board: TenantData) -> None:
    # "Application.Read.All and Policy.Read.All" (List appliesTo, v1.0): one of them is not enough.
    policy_id = board.static["/policies/appManagementPolicies"]["value"][0]["id"]
    tenant = without_permission(
        without_permission(board, "Application.Read.All"), "Directory.Read.All"
    )
    with SimulatedGraph(tenant) as sim:
        access = token(sim, tenant).json()["access_token"]
        headers = {"Authorization": f"Bearer {access}"}
        listed = httpx.get(f"{sim.graph_url}/policies/appManagementPolicies", headers=headers)
        applies = httpx.get(
            f"{sim.graph_url}/policies/appManagementPolicies/{policy_id}/appliesTo",
            headers=headers,
        )
    assert listed.status_code == 200
    assert applies.status_code == 403
    assert applies.json()["error"]["code"] == "Authorization_RequestDenied"


def test_enterprise_apps_carry_their_own_credentials_without_secrets() -> None:
    weak = load_profile("weak", users=20)
    rooster = next(sp for sp in weak.service_principals if sp["displayName"] == "Rooster Sync Tool")
    (secret,) = rooster["passwordCredentials"]
    assert secret["secretText"] is None and len(secret["hint"]) == 3
    assert secret["startDateTime"] < secret["endDateTime"]
    assert all(sp["keyCredentials"] == [] for sp in weak.service_principals)
