"""Per-object fan-outs as JSON batches (GraphClient.fan_out): grouping, inner answers, malformed
batches, and the request count of the A1 fallback. A batch never makes a dataset look complete
that a request per key would not have."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m365apk.errors import AuthError
from m365apk.scanner.datasets import DATASETS
from m365apk.scanner.graph import GraphClient, GraphSettings
from m365apk.snapshot import DatasetStatus

from .conftest import FAST, StaticCredential
from .graph_batch import BASE, batch_route

METHODS = DATASETS["userAuthenticationMethods"]
MEMBERS = DATASETS["roleGroupMembers"]
METHODS_URL = r"^https://graph\.microsoft\.com/v1\.0/users/(?P<key>[^/]+)/authentication/methods$"


def run(coro):
    return asyncio.run(coro)


def client(**options: Any) -> GraphClient:
    return GraphClient(StaticCredential(), GraphSettings(**{**FAST, **options}))


def methods_page(key: str) -> httpx.Response:
    kind = "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod"
    return httpx.Response(200, json={"value": [{"@odata.type": kind, "id": f"m-{key}"}]})


def error(status: int, code: str, headers: dict | None = None) -> httpx.Response:
    body = {"error": {"code": code, "message": code}}
    return httpx.Response(status, json=body, headers=headers or {})


def serve_methods(answer=None) -> respx.Route:
    def handle(request: httpx.Request, key: str) -> httpx.Response:
        return (answer and answer(key)) or methods_page(key)

    return respx.route(method="GET", url__regex=METHODS_URL).mock(side_effect=handle)


# -- grouping and the request as it is sent --------------------------------------------------------


@respx.mock
def test_keys_go_in_batches_of_at_most_twenty_and_all_are_read() -> None:
    seen: list[list[dict]] = []
    batch_route(seen=seen)
    serve_methods()
    c = client()
    keys = [f"u{i:02d}" for i in range(45)]
    ds = run(c.fan_out(METHODS, keys))
    assert ds.status is DatasetStatus.OK and sorted(ds.data) == keys
    assert sorted(len(b) for b in seen) == [5, 20, 20]
    assert c.stats.http_requests == 3 and c.stats.batched_requests == 45
    assert ds.pages == 45 and ds.data["u07"][0]["id"] == "m-u07"


@respx.mock
def test_inner_requests_carry_the_same_query_as_a_plain_read() -> None:
    seen: list[list[dict]] = []
    batch_route(seen=seen)
    route = respx.get(url__regex=r".*/groups/[^/]+/members.*").mock(
        return_value=httpx.Response(200, json={"value": []})
    )
    run(client().fan_out(MEMBERS, ["g1", "g2"]))
    plain = client(batch_size=1)
    run(plain.read(MEMBERS, MEMBERS.key_builder(plain.sdk, "g1")))
    sent = route.calls[-1].request.url  # the plain GET, after the two inside the batch
    inner = httpx.URL(BASE + seen[0][0]["url"])
    assert seen[0][0]["method"] == "GET" and seen[0][0]["url"].startswith("/groups/g1/members?")
    assert inner.path == sent.path and dict(inner.params) == dict(sent.params)
    assert "$select" in dict(inner.params) and dict(inner.params)["$top"] == "999"
    assert seen[0][0]["headers"]["x-ms-throttle-priority"] == "low"


# -- inner answers ---------------------------------------------------------------------------------


@respx.mock
def test_inner_404_leaves_the_dataset_incomplete_with_the_key_listed() -> None:
    batch_route()
    serve_methods(lambda k: error(404, "Request_ResourceNotFound") if k == "u2" else None)
    ds = run(client().fan_out(METHODS, ["u1", "u2", "u3"]))
    assert ds.status is DatasetStatus.INCOMPLETE and not ds.ok
    assert ds.unread_keys == ["u2"] and sorted(ds.data) == ["u1", "u3"]


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (403, "Authorization_RequestDenied", DatasetStatus.FORBIDDEN),
        (403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", DatasetStatus.NOT_LICENSED),
        (500, "InternalServerError", DatasetStatus.ERROR),
        (400, "BadRequest", DatasetStatus.ERROR),
    ],
)
@respx.mock
def test_inner_refusal_is_the_datasets_status(status, code, expected) -> None:
    batch_route()
    serve_methods(lambda k: error(status, code) if k == "u1" else None)
    ds = run(client().fan_out(METHODS, ["u1", "u2"]))
    assert ds.status is expected and ds.data is None and ds.unread_keys == ["u1"]
    assert ds.error_code == code and ds.http_status == status


@respx.mock
def test_inner_429_is_retried_alone_after_its_retry_after() -> None:
    seen: list[list[dict]] = []
    batch_route(seen=seen)
    calls = {"u2": 0}

    def answer(key: str):
        if key == "u2":
            calls["u2"] += 1
            if calls["u2"] == 1:
                return error(429, "TooManyRequests", {"Retry-After": "0"})
        return None

    serve_methods(answer)
    c = client()
    ds = run(c.fan_out(METHODS, ["u1", "u2", "u3"]))
    assert ds.status is DatasetStatus.OK and sorted(ds.data) == ["u1", "u2", "u3"]
    assert [len(b) for b in seen] == [3, 1]
    assert seen[1][0]["url"].startswith("/users/u2/")
    assert c.stats.throttled_responses == 1 and c.stats.retries == 1


@respx.mock
def test_inner_429_that_persists_is_throttled_never_complete() -> None:
    batch_route()
    serve_methods(
        lambda k: error(429, "TooManyRequests", {"Retry-After": "0"}) if k == "u1" else None
    )
    c = client(max_retries=2)
    ds = run(c.fan_out(METHODS, ["u1", "u2"]))
    assert ds.status is DatasetStatus.THROTTLED and not ds.ok and ds.unread_keys == ["u1"]
    assert c.stats.throttled_responses == 3


@respx.mock
def test_inner_retry_after_beyond_the_cap_is_not_waited_for() -> None:
    batch_route()
    serve_methods(
        lambda k: error(429, "TooManyRequests", {"Retry-After": "3600"}) if k == "u1" else None
    )
    ds = run(
        asyncio.wait_for(client(retry_after_max_seconds=30).fan_out(METHODS, ["u1", "u2"]), 10)
    )
    assert (
        ds.status is DatasetStatus.THROTTLED
        and ds.error_message == "Graph vraagt 3600 s te wachten"
    )


@respx.mock
def test_inner_503_is_retried() -> None:
    batch_route()
    calls = {"n": 0}

    def answer(key: str):
        if key == "u1":
            calls["n"] += 1
            if calls["n"] == 1:
                return error(503, "serviceNotAvailable")
        return None

    serve_methods(answer)
    ds = run(client().fan_out(METHODS, ["u1", "u2"]))
    assert ds.status is DatasetStatus.OK and calls["n"] == 2


@respx.mock
def test_inner_next_link_is_followed_with_plain_gets() -> None:
    batch_route()
    link = f"{BASE}/groups/g1/members?$top=999&$skiptoken=page2"
    member = {"@odata.type": "#microsoft.graph.user", "id": "a", "displayName": "A"}

    def members(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("$skiptoken") == "page2":
            return httpx.Response(200, json={"value": [{**member, "id": "b"}]})
        if "/g1/" in request.url.path:
            return httpx.Response(200, json={"value": [member], "@odata.nextLink": link})
        return httpx.Response(200, json={"value": []})

    route = respx.get(url__regex=r".*/groups/[^/]+/members.*").mock(side_effect=members)
    c = client()
    ds = run(c.fan_out(MEMBERS, ["g1", "g2"]))
    assert ds.status is DatasetStatus.OK
    assert [m["id"] for m in ds.data["g1"]] == ["a", "b"] and ds.data["g2"] == []
    assert ds.pages == 3 and c.stats.http_requests == 2  # the batch, then page 2 of g1
    assert route.call_count == 3  # two inside the batch, one plain GET


@respx.mock
def test_inner_next_link_to_another_host_is_refused() -> None:
    batch_route()
    respx.get(url__regex=r".*/groups/[^/]+/members.*").mock(
        return_value=httpx.Response(
            200, json={"value": [], "@odata.nextLink": "https://evil.example/v1.0/groups/g/members"}
        )
    )
    ds = run(client().fan_out(MEMBERS, ["g1", "g2"]))
    assert ds.status is DatasetStatus.MALFORMED and not ds.ok


# -- malformed batches -----------------------------------------------------------------------------


def _drop_last(body, requests):
    return {"responses": body["responses"][:-1]}


def _unknown_id(body, requests):
    body["responses"][0]["id"] = "999"
    return body


def _duplicate(body, requests):
    return {"responses": [body["responses"][0], *body["responses"]]}


def _text_body(body, requests):
    body["responses"][0]["body"] = "not an object"
    return body


def _no_value(body, requests):
    body["responses"][0]["body"] = {"values": []}
    return body


def _status_text(body, requests):
    body["responses"][0]["status"] = "ok"
    return body


def _no_responses(body, requests):
    return {"value": []}


def _created(body, requests):
    body["responses"][0]["status"] = 201
    return body


@pytest.mark.parametrize(
    "rewrite",
    [
        _drop_last,
        _unknown_id,
        _duplicate,
        _text_body,
        _no_value,
        _status_text,
        _no_responses,
        _created,
    ],
)
@respx.mock
def test_malformed_batch_answer_is_malformed_never_success(rewrite) -> None:
    batch_route(rewrite=rewrite)
    serve_methods()
    ds = run(client().fan_out(METHODS, ["u1", "u2", "u3"]))
    assert ds.status is DatasetStatus.MALFORMED and not ds.ok
    assert ds.unread_keys


@pytest.mark.parametrize("content", [b"<html>gateway</html>", b'{"responses": [', b"[]"])
@respx.mock
def test_unreadable_batch_body_is_malformed(content: bytes) -> None:
    respx.post(f"{BASE}/$batch").mock(return_value=httpx.Response(200, content=content))
    ds = run(client().fan_out(METHODS, ["u1", "u2"]))
    assert ds.status is DatasetStatus.MALFORMED and ds.unread_keys == ["u1", "u2"]


@respx.mock
def test_batch_refused_as_a_whole_marks_every_key() -> None:
    respx.post(f"{BASE}/$batch").mock(return_value=error(403, "Authorization_RequestDenied"))
    ds = run(client().fan_out(METHODS, ["u1", "u2"]))
    assert ds.status is DatasetStatus.FORBIDDEN and ds.unread_keys == ["u1", "u2"]


@respx.mock
def test_server_without_batch_falls_back_to_one_get_per_key() -> None:
    batch = respx.post(f"{BASE}/$batch").mock(return_value=error(405, "Request_BadRequest"))
    route = serve_methods()
    c = client()
    ds = run(c.fan_out(METHODS, [f"u{i}" for i in range(45)]))
    assert ds.status is DatasetStatus.OK and len(ds.data) == 45
    assert batch.call_count == 1 and route.call_count == 45  # asked once, then per key
    assert c.stats.batched_requests == 0


def test_authentication_failure_inside_a_batch_stops_the_scan() -> None:
    from azure.core.exceptions import ClientAuthenticationError

    class Expired:
        async def get_token(self, *a, **k):
            raise ClientAuthenticationError(message="AADSTS7000222: expired")

    c = GraphClient(Expired(), GraphSettings(**FAST))
    with respx.mock, pytest.raises(AuthError, match="verlopen"):
        run(c.fan_out(METHODS, ["u1", "u2"]))


# -- metamorphic: a failed inner answer never reads as complete ----------------------------------

OUTCOMES = ("ok", "404", "403", "429", "500", "text", "missing")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(OUTCOMES), min_size=2, max_size=25))
def test_dataset_is_ok_only_when_every_key_was_read(outcomes: list[str]) -> None:
    keys = [f"u{i}" for i in range(len(outcomes))]
    fate = dict(zip(keys, outcomes, strict=True))

    def answer(key: str):
        kind = fate[key]
        if kind in ("404", "403", "500"):
            return error(int(kind), "Some_Error")
        if kind == "429":
            return error(429, "TooManyRequests", {"Retry-After": "0"})
        return None

    def rewrite(body, requests):
        key_of = {r["id"]: r["url"].split("/")[2] for r in requests}
        kept = []
        for r in body["responses"]:
            kind = fate[key_of[r["id"]]]
            if kind == "missing":
                continue
            if kind == "text":
                r["body"] = "<html>"
            kept.append(r)
        return {"responses": kept}

    with respx.mock:
        batch_route(rewrite=rewrite)
        serve_methods(answer)
        ds = run(client(max_retries=1).fan_out(METHODS, keys))
    everything_read = all(o == "ok" for o in outcomes)
    assert ds.ok is everything_read
    if not everything_read:
        assert ds.unread_keys
        assert set(ds.unread_keys) >= {k for k, o in fate.items() if o in ("404", "403", "429")}


# -- the A1 fallback at 5,000 users ----------------------------------------------------------------


@respx.mock
def test_a1_fallback_at_5000_users_needs_at_most_a_fifteenth_of_the_requests() -> None:
    """Per-user authentication methods (tenants without Entra ID P1): one GET per user was 5,000
    requests; batched it is 250, within the target of 1/15 (#16)."""
    batch_route()
    serve_methods()
    c = client()
    keys = [f"user-{i:04d}" for i in range(5000)]
    ds = run(c.fan_out(METHODS, keys))
    assert ds.status is DatasetStatus.OK and len(ds.data) == 5000 and ds.pages == 5000
    assert c.stats.http_requests <= len(keys) / 15
    assert c.stats.http_requests == 250 and c.stats.batched_requests == 5000


def test_batched_urls_are_the_ones_the_sdk_builds_for_every_key() -> None:
    """The fan-out's URLs come from one SDK-built template (the per-request template expansion
    was most of a fan-out's client CPU): for ids they must equal what the request builder itself
    builds, and any key a URI template would encode goes through the builder."""
    from m365apk.scanner.datasets import DATASETS
    from m365apk.scanner.graph import GraphClient, GraphSettings

    client = GraphClient(object(), GraphSettings(base_url="https://graph.example.test"))
    for name in ("userAuthenticationMethods", "roleGroupMembers", "appRoleAssignedTo"):
        spec = DATASETS[name]
        keys = [
            "3f2a9c1e-0b1d-4e5f-8a7b-1c2d3e4f5a6b",
            "Abc.def_~-9",
            "piet@school.nl",
            "a b/c?d",
            "m365apkkeyslot",
        ]
        adapter = client._adapter(spec)
        for key, url in client._key_urls(spec, keys, adapter):
            builder = spec.key_builder(client.sdk, key)
            info = builder.to_get_request_information(client._config(spec, builder, True))
            adapter.set_base_url_for_request_information(info)
            assert url == info.url, (name, key)
