"""The Graph client against respx-mocked Graph: paging, retries, errors, malformed bodies."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx

from m365apk.errors import AuthError
from m365apk.scanner.datasets import DATASETS
from m365apk.scanner.graph import GraphClient, GraphSettings
from m365apk.snapshot import DatasetStatus

from .conftest import FAST, StaticCredential
from .graph_batch import batch_route

BASE = "https://graph.microsoft.com/v1.0"
USERS = f"{BASE}/users"


def _users(start: int, n: int) -> list[dict]:
    return [
        {"id": f"u{i}", "displayName": f"User {i}", "accountEnabled": True, "extra": "dropped"}
        for i in range(start, start + n)
    ]


def _page(items: list[dict], next_link: str | None = None) -> httpx.Response:
    body: dict = {"@odata.context": f"{BASE}/$metadata#users", "value": items}
    if next_link:
        body["@odata.nextLink"] = next_link
    return httpx.Response(200, json=body)


def _error(status: int, code: str, message: str, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": code, "message": message}}, headers=headers or {}
    )


def run(coro):
    return asyncio.run(coro)


@respx.mock
def test_many_pages_are_followed_with_first_query_and_token(graph_client: GraphClient) -> None:
    pages = 7
    route = respx.get(USERS)
    responses = [
        _page(_users(i * 999, 999), f"{USERS}?$top=999&$skiptoken=tok{i + 1}")
        for i in range(pages - 1)
    ] + [_page(_users((pages - 1) * 999, 5))]
    route.side_effect = responses
    ds = run(graph_client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.OK
    assert ds.pages == pages
    assert len(ds.data) == (pages - 1) * 999 + 5
    assert len({u["id"] for u in ds.data}) == len(ds.data)
    assert "extra" not in ds.data[0]  # trimmed to the fields we keep
    first = route.calls[0].request
    assert first.url.params["$top"] == "999"
    assert "accountEnabled" in first.url.params["$select"]
    assert route.calls[3].request.url.params["$skiptoken"] == "tok3"
    assert all(c.request.headers["Authorization"] == "Bearer test-token" for c in route.calls)


@respx.mock
def test_requests_keep_the_sdk_user_agent_and_plain_dollar_parameters(
    graph_client: GraphClient,
) -> None:
    # The kiota handlers we keep: the SDK's User-Agent (Graph's advice for traffic it can
    # attribute) and OData parameter names sent as `$select`, not `%24select`.
    route = respx.get(USERS).mock(return_value=_page(_users(0, 1)))
    run(graph_client.dataset(DATASETS["users"]))
    request = route.calls[0].request
    assert "kiota-python" in request.headers["User-Agent"]
    assert b"$select=" in request.url.raw_path and b"%24select" not in request.url.raw_path


@respx.mock
def test_an_id_read_in_two_datasets_is_kept_once(graph_client: GraphClient) -> None:
    # 100,000 users are read three times over (users, registration details, sign-in
    # activity): their ids are one string each in memory, not three.
    # Ids longer than pydantic's own string cache holds (64 bytes), so only ours can share.
    people = [u | {"id": u["id"] + "-" + "x" * 70} for u in _users(0, 3)]
    respx.get(USERS).mock(return_value=_page(people))
    details = [{"id": u["id"], "isMfaRegistered": True} for u in people]
    respx.get(f"{BASE}/reports/authenticationMethods/userRegistrationDetails").mock(
        return_value=_page(details)
    )
    users = run(graph_client.dataset(DATASETS["users"])).data
    registered = run(graph_client.dataset(DATASETS["userRegistrationDetails"])).data
    assert [u["id"] for u in users] == [r["id"] for r in registered]
    assert all(u["id"] is r["id"] for u, r in zip(users, registered, strict=True))


@respx.mock
def test_429_with_retry_after_is_retried_after_that_delay() -> None:
    client = GraphClient(StaticCredential(), GraphSettings(**FAST))
    route = respx.get(USERS)
    route.side_effect = [
        _error(429, "TooManyRequests", "slow down", {"Retry-After": "1"}),
        _page(_users(0, 3)),
    ]
    loop_time = {}

    async def go():
        start = asyncio.get_running_loop().time()
        ds = await client.dataset(DATASETS["users"])
        loop_time["elapsed"] = asyncio.get_running_loop().time() - start
        return ds

    ds = run(go())
    assert ds.status is DatasetStatus.OK and len(ds.data) == 3
    assert route.call_count == 2
    assert loop_time["elapsed"] >= 0.95  # honoured Retry-After: 1
    assert client.stats.throttled_responses == 1 and client.stats.retries == 1


@respx.mock
def test_429_without_retry_after_backs_off_and_gives_up_as_throttled() -> None:
    settings = GraphSettings(max_retries=3, **FAST)
    client = GraphClient(StaticCredential(), settings)
    route = respx.get(f"{BASE}/identity/conditionalAccess/policies")
    route.side_effect = [_error(429, "TooManyRequests", "CA bucket")] * 4
    ds = run(client.dataset(DATASETS["conditionalAccessPolicies"]))
    assert route.call_count == 4  # first try + 3 retries
    assert ds.status is DatasetStatus.THROTTLED
    assert ds.http_status == 429 and ds.error_code == "TooManyRequests"
    assert client.stats.retries == 3


@respx.mock
def test_503_then_success(graph_client: GraphClient) -> None:
    route = respx.get(USERS)
    route.side_effect = [_error(503, "serviceNotAvailable", "busy"), _page(_users(0, 2))]
    ds = run(graph_client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.OK and route.call_count == 2


@respx.mock
def test_503_forever_is_an_error_not_a_result() -> None:
    client = GraphClient(StaticCredential(), GraphSettings(max_retries=2, **FAST))
    respx.get(USERS).mock(return_value=_error(503, "serviceNotAvailable", "down"))
    ds = run(client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.ERROR and ds.http_status == 503 and ds.data is None


@respx.mock
def test_403_missing_permission_is_forbidden_with_graph_code(graph_client: GraphClient) -> None:
    respx.get(USERS).mock(
        return_value=_error(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )
    )
    ds = run(graph_client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.FORBIDDEN
    assert ds.error_code == "Authorization_RequestDenied"
    assert ds.permission == "User.Read.All"


@respx.mock
def test_403_non_premium_is_not_licensed(graph_client: GraphClient) -> None:
    respx.get(f"{BASE}/reports/authenticationMethods/userRegistrationDetails").mock(
        return_value=_error(
            403,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        )
    )
    ds = run(graph_client.dataset(DATASETS["userRegistrationDetails"]))
    assert ds.status is DatasetStatus.NOT_LICENSED and ds.http_status == 403


@pytest.mark.parametrize(
    "body",
    [b'{"value": [ {"id": ', b"<html>gateway</html>", b'{"value": [{"displayName": "no id"}]}'],
)
@respx.mock
def test_malformed_json_is_malformed_with_reason(graph_client: GraphClient, body: bytes) -> None:
    respx.get(USERS).mock(return_value=httpx.Response(200, content=body))
    ds = run(graph_client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.MALFORMED
    assert ds.error_code == "malformed_response"
    assert ds.data is None


@respx.mock
def test_malformed_error_body_keeps_status(graph_client: GraphClient) -> None:
    respx.get(USERS).mock(return_value=httpx.Response(403, content=b"<html>denied</html>"))
    ds = run(graph_client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.FORBIDDEN and ds.http_status == 403


@respx.mock
def test_next_link_to_foreign_host_is_refused(graph_client: GraphClient) -> None:
    respx.get(USERS).mock(return_value=_page(_users(0, 1), "https://evil.example/v1.0/users"))
    evil = respx.get("https://evil.example/v1.0/users")
    ds = run(graph_client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.MALFORMED and "andere host" in ds.error_message
    assert not evil.called


@respx.mock
def test_timeout_is_an_error(graph_client: GraphClient) -> None:
    respx.get(USERS).mock(side_effect=httpx.ReadTimeout("slow"))
    ds = run(graph_client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.ERROR and ds.error_code == "timeout"


@respx.mock
def test_single_object_dataset(graph_client: GraphClient) -> None:
    respx.get(f"{BASE}/policies/identitySecurityDefaultsEnforcementPolicy").mock(
        return_value=httpx.Response(
            200, json={"id": "00000000-0000-0000-0000-000000000005", "isEnabled": False}
        )
    )
    ds = run(graph_client.dataset(DATASETS["securityDefaults"]))
    assert ds.status is DatasetStatus.OK and ds.data["isEnabled"] is False


@pytest.mark.parametrize("batch_size", [1, 20])
@respx.mock
def test_fan_out_404_on_one_group_leaves_the_dataset_incomplete(batch_size: int) -> None:
    # Issue 11, finding 2: a group that could not be read is not a group without members.
    graph_client = GraphClient(StaticCredential(), GraphSettings(batch_size=batch_size, **FAST))
    batch_route()
    respx.get(f"{BASE}/groups/g1/members").mock(return_value=_page(_users(0, 2)))
    respx.get(f"{BASE}/groups/g2/members").mock(
        return_value=_error(404, "Request_ResourceNotFound", "gone")
    )
    ds = run(graph_client.fan_out(DATASETS["roleGroupMembers"], ["g1", "g2"]))
    assert ds.status is DatasetStatus.INCOMPLETE and not ds.ok
    assert ds.unread_keys == ["g2"] and "1 van 2" in ds.error_message
    assert list(ds.data) == ["g1"] and len(ds.data["g1"]) == 2  # kept as evidence only


@pytest.mark.parametrize("batch_size", [1, 20])
@respx.mock
def test_fan_out_forbidden_marks_whole_dataset(batch_size: int) -> None:
    graph_client = GraphClient(StaticCredential(), GraphSettings(batch_size=batch_size, **FAST))
    batch_route()
    respx.get(f"{BASE}/groups/g1/members").mock(return_value=_page(_users(0, 2)))
    respx.get(f"{BASE}/groups/g2/members").mock(
        return_value=_error(403, "Authorization_RequestDenied", "no")
    )
    ds = run(graph_client.fan_out(DATASETS["roleGroupMembers"], ["g1", "g2"]))
    assert ds.status is DatasetStatus.FORBIDDEN and ds.data is None
    assert ds.unread_keys == ["g2"]


def test_authentication_failure_stops_the_scan() -> None:
    from azure.core.exceptions import ClientAuthenticationError

    class Expired:
        async def get_token(self, *a, **k):
            raise ClientAuthenticationError(
                message="AADSTS7000222: The provided client secret keys are expired."
            )

    client = GraphClient(Expired(), GraphSettings(**FAST))
    with respx.mock, pytest.raises(AuthError, match="verlopen"):
        run(client.dataset(DATASETS["users"]))


def test_concurrency_is_bounded() -> None:
    in_flight = {"now": 0, "max": 0}

    async def slow(request: httpx.Request) -> httpx.Response:
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        await asyncio.sleep(0.01)
        in_flight["now"] -= 1
        return _page([{"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": "p"}])

    # One GET per key (batch_size=1): the bound on requests in flight is what is tested.
    settings = GraphSettings(max_concurrency=3, batch_size=1, **FAST)
    client = GraphClient(StaticCredential(), settings)
    with respx.mock:
        respx.route(url__regex=r".*/authentication/methods$").mock(side_effect=slow)
        keys = [f"u{i}" for i in range(20)]
        ds = run(client.fan_out(DATASETS["userAuthenticationMethods"], keys))
    assert ds.status is DatasetStatus.OK and len(ds.data) == 20
    assert in_flight["max"] == 3


def test_secret_never_in_repr() -> None:
    from m365apk.scanner.auth import LoopbackClientSecretCredential

    cred = LoopbackClientSecretCredential("http://127.0.0.1:1/t/oauth2/v2.0/token", "app", "s3cr3t")
    assert "s3cr3t" not in repr(cred) and "s3cr3t" not in json.dumps(str(vars(cred).keys()))


# -- issue 11: transport (findings 3-6) ----------------------------------------------------------


@respx.mock
def test_redirect_to_another_host_is_not_followed_and_not_data(graph_client: GraphClient) -> None:
    """Finding 3: the SDK's redirect handler followed a 302 and stored the other host's
    `{"value": []}` as the tenant's users."""
    respx.get(USERS).mock(
        return_value=httpx.Response(302, headers={"Location": "https://evil.example/v1.0/users"})
    )
    evil = respx.get("https://evil.example/v1.0/users").mock(return_value=_page([]))
    ds = run(graph_client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.ERROR and ds.http_status == 302
    assert ds.error_code == "redirect" and "evil.example" in ds.error_message
    assert not evil.called and ds.data is None


@respx.mock
def test_redirect_on_the_same_host_is_not_followed_either(graph_client: GraphClient) -> None:
    respx.get(USERS).mock(
        return_value=httpx.Response(301, headers={"Location": f"{BASE}/users?x=1"})
    )
    ds = run(graph_client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.ERROR and ds.error_code == "redirect"


@respx.mock
def test_next_link_to_itself_stops_instead_of_looping(graph_client: GraphClient) -> None:
    """Finding 4: a next link to the page itself was followed 1,317 times in 40 s."""
    link = f"{USERS}?$skiptoken=same"
    route = respx.get(USERS).mock(return_value=_page(_users(0, 2), link))
    ds = run(graph_client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.MALFORMED and "herhaalt" in ds.error_message
    assert route.call_count == 2


@respx.mock
def test_next_link_to_another_path_is_refused(graph_client: GraphClient) -> None:
    respx.get(USERS).mock(return_value=_page(_users(0, 1), f"{BASE}/groups?$skiptoken=x"))
    groups = respx.get(f"{BASE}/groups")
    ds = run(graph_client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.MALFORMED and "ander pad" in ds.error_message
    assert not groups.called


@respx.mock
def test_endless_fresh_next_links_stop_at_the_page_cap() -> None:
    client = GraphClient(StaticCredential(), GraphSettings(max_pages=5, **FAST))
    counter = {"n": 0}

    def endless(request: httpx.Request) -> httpx.Response:
        counter["n"] += 1
        return _page(_users(counter["n"], 1), f"{USERS}?$skiptoken=t{counter['n']}")

    respx.get(USERS).mock(side_effect=endless)
    ds = run(client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.MALFORMED and "meer dan 5 pagina's" in ds.error_message
    assert counter["n"] == 5


@respx.mock
def test_huge_retry_after_is_not_waited_for() -> None:
    """Finding 5: `429 Retry-After: 170`, honoured six times, would take hours per tenant."""
    client = GraphClient(StaticCredential(), GraphSettings(retry_after_max_seconds=30, **FAST))
    route = respx.get(USERS).mock(
        return_value=_error(429, "TooManyRequests", "later", {"Retry-After": "3600"})
    )
    ds = run(asyncio.wait_for(client.dataset(DATASETS["users"]), timeout=10))
    assert ds.status is DatasetStatus.THROTTLED and ds.http_status == 429
    assert ds.error_message == "Graph vraagt 3600 s te wachten"
    assert route.call_count == 1


def test_the_concurrency_slot_is_free_while_waiting_for_retry_after() -> None:
    """Finding 5: the wait for Retry-After no longer holds the tenant's only slot, so another
    endpoint is read meanwhile. (One in another throttling bucket: the throttled bucket itself
    pauses for every request in it, tests/test_pacing.py.)"""
    client = GraphClient(StaticCredential(), GraphSettings(max_concurrency=1, **FAST))
    done: list[str] = []

    def throttled_once(request: httpx.Request) -> httpx.Response:
        if "Retry-Attempt" not in request.headers:
            return _error(429, "TooManyRequests", "wait", {"Retry-After": "1"})
        done.append("users")
        return _page(_users(0, 1))

    def devices(request: httpx.Request) -> httpx.Response:
        done.append("devices")
        return httpx.Response(200, json={"value": []})

    async def both():
        users = asyncio.ensure_future(client.dataset(DATASETS["users"]))
        await asyncio.sleep(0.2)  # users is now waiting out its Retry-After
        other = await client.dataset(DATASETS["managedDevices"])
        return await users, other

    with respx.mock:
        respx.get(USERS).mock(side_effect=throttled_once)
        respx.get(f"{BASE}/deviceManagement/managedDevices").mock(side_effect=devices)
        users, other = run(both())
    assert users.ok and other.ok
    assert done == ["devices", "users"]  # read during the wait, not after it


@respx.mock
def test_one_connection_reset_is_retried() -> None:
    """Finding 6: one reset lost the whole dataset."""
    client = GraphClient(StaticCredential(), GraphSettings(**FAST))
    route = respx.get(USERS)
    route.side_effect = [httpx.ReadError("Connection reset by peer"), _page(_users(0, 3))]
    ds = run(client.dataset(DATASETS["users"]))
    assert ds.ok and len(ds.data) == 3 and route.call_count == 2
    assert client.stats.retries == 1


@respx.mock
def test_persistent_connection_resets_give_up_as_an_error() -> None:
    client = GraphClient(StaticCredential(), GraphSettings(transport_retries=2, **FAST))
    route = respx.get(USERS).mock(side_effect=httpx.ConnectError("Connection reset by peer"))
    ds = run(client.dataset(DATASETS["users"]))
    assert ds.status is DatasetStatus.ERROR and ds.error_code == "connection"
    assert route.call_count == 3


def test_retry_after_as_http_date_is_understood() -> None:
    from email.utils import format_datetime

    from m365apk.scanner.graph import _retry_after

    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    wait = _retry_after(httpx.Response(429, headers={"Retry-After": soon}))
    assert wait is not None and 25 <= wait <= 31
    assert _retry_after(httpx.Response(429, headers={"Retry-After": "soon"})) is None


def test_tenant_deadline_makes_the_rest_unknown_and_the_scan_ends() -> None:
    """Finding 5: no overall deadline. A Graph that hangs on one endpoint now costs at most the
    deadline; what is unread then is an error "time-out", the rest is kept."""
    from m365apk.scanner.collector import collect

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return _page([])

    settings = GraphSettings(deadline_seconds=1.0, **FAST)
    client = GraphClient(StaticCredential(), settings)
    with respx.mock:
        respx.get(f"{BASE}/organization").mock(return_value=_page([{"id": "t"}]))
        respx.get(f"{BASE}/subscribedSkus").mock(return_value=_page([]))
        respx.get(f"{BASE}/domains").mock(side_effect=hang)

        async def go():
            start = asyncio.get_running_loop().time()
            snap = await collect(client, ["domains"], tenant_id="t", source="test")
            return snap, asyncio.get_running_loop().time() - start

        snapshot, elapsed = run(go())
    assert elapsed < 5
    assert snapshot.dataset("organization").ok
    domains = snapshot.dataset("domains")
    assert domains.status is DatasetStatus.ERROR and domains.error_code == "deadline"
    assert domains.error_message.startswith("time-out")
    assert snapshot.partial


def test_deadline_option_is_validated_and_reaches_the_settings(capsys) -> None:
    from m365apk.cli import _deadline, build_parser, main

    assert main(["demo", "--deadline", "0", "--quiet"]) == 2
    assert "--deadline" in capsys.readouterr().err
    args = build_parser().parse_args(["scan-all", "t.yaml", "--deadline", "90"])
    assert _deadline(args) == 90
    args = build_parser().parse_args(["scan", "--tenant-id", "x"])
    assert _deadline(args) == GraphSettings().deadline_seconds == 1800
