"""Issue 26, the Graph client's side: a Retry-After in every form HTTP allows (RFC 9110:
delta-seconds, IMF-fixdate, RFC 850, asctime), reckoned against the answer's own Date, bounded by
the deadline, on plain GETs and inside $batch; an object Graph answers twice counted once; an
answer that trickles in cut off by a bound on the whole request."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx

from m365apk.scanner.datasets import DATASETS
from m365apk.scanner.graph import GraphClient, GraphSettings
from m365apk.snapshot import Dataset, DatasetStatus

from .conftest import FAST, StaticCredential
from .graph_batch import BASE, answer

DEVICES = f"{BASE}/deviceManagement/managedDevices"
JSON = {"Content-Type": "application/json"}
USERS = f"{BASE}/users"
METHODS = DATASETS["userAuthenticationMethods"]
MEMBERS = DATASETS["roleGroupMembers"]


def client(**options: Any) -> GraphClient:
    settings = GraphSettings(**{**FAST, **options})
    return GraphClient(StaticCredential(), settings)


def timed(coro) -> tuple[Any, float]:
    async def go():
        start = asyncio.get_running_loop().time()
        result = await coro
        return result, asyncio.get_running_loop().time() - start

    return asyncio.run(go())


# -- the three forms of an HTTP-date (RFC 9110 §5.6.7) -----------------------------------------


def imf_fixdate(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)  # Sun, 06 Nov 1994 08:49:37 GMT


def rfc850(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%A, %d-%b-%y %H:%M:%S GMT")  # Sunday, 06-Nov-94 ...


def asctime(when: datetime) -> str:
    return time.asctime(when.astimezone(UTC).timetuple())  # Sun Nov  6 08:49:37 1994


FORMS = {"imf-fixdate": imf_fixdate, "rfc850": rfc850, "asctime": asctime}


def test_rfc9110_examples_in_all_three_forms_are_the_same_instant() -> None:
    from m365apk.scanner.graph import retry_after_seconds

    date = "Sun, 06 Nov 1994 08:49:30 GMT"
    for value in (
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ):
        assert retry_after_seconds(value, date) == 7.0, value
    assert retry_after_seconds("120", date) == 120.0
    assert retry_after_seconds("Sun, 06 Nov 1994 08:49:00 GMT", date) == 0.0  # in the past


@pytest.mark.parametrize("value", ["soon", "-5", "1e9", "nan", "1.5e3", "Sun, 99 Foo 1994", ""])
def test_unreadable_retry_after_is_no_retry_after(value: str) -> None:
    from m365apk.scanner.graph import retry_after_seconds

    assert retry_after_seconds(value, "Sun, 06 Nov 1994 08:49:30 GMT") is None


def throttled_once(retry_after: str, date: str | None) -> Any:
    """A Graph that answers 429 (with this Retry-After and Date) once, then the page."""
    calls = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            headers = {"Retry-After": retry_after}
            if date:
                headers["Date"] = date
            body = {"error": {"code": "TooManyRequests", "message": "slow down"}}
            return httpx.Response(429, json=body, headers=headers)
        return httpx.Response(200, json={"value": [{"id": "d1", "complianceState": "compliant"}]})

    return handle, calls


@pytest.mark.parametrize("form", sorted(FORMS))
def test_retry_after_date_from_a_server_clock_three_hours_behind_is_waited_on_a_plain_get(
    form: str,
) -> None:
    """The date is one second after the answer's Date; our clock is three hours later. Waited
    for 1 s (not 0 s, as against our clock; the asctime form was a TypeError: data lost)."""
    server_now = datetime.now(UTC) - timedelta(hours=3)
    handle, calls = throttled_once(FORMS[form](server_now + timedelta(seconds=1)), None)
    handle_date = imf_fixdate(server_now)
    with respx.mock:
        respx.get(DEVICES).mock(side_effect=lambda r: _with_date(handle(r), handle_date))
        ds, elapsed = timed(client().dataset(DATASETS["managedDevices"]))
    assert ds.status is DatasetStatus.OK and len(ds.data) == 1, ds.error_message
    assert len(calls) == 2
    assert 0.9 <= elapsed < 5


def _with_date(response: httpx.Response, date: str) -> httpx.Response:
    response.headers["Date"] = date
    return response


def test_server_clock_two_hours_ahead_waits_two_seconds_not_7201() -> None:
    """Finding 3: 'Graph vraagt 7201 s te wachten' and a throttled dataset, in 19 of 19 cells."""
    server_now = datetime.now(UTC) + timedelta(hours=2)
    handle, calls = throttled_once(
        imf_fixdate(server_now + timedelta(seconds=2)), imf_fixdate(server_now)
    )
    with respx.mock:
        respx.get(DEVICES).mock(side_effect=handle)
        ds, elapsed = timed(client().dataset(DATASETS["managedDevices"]))
    assert ds.status is DatasetStatus.OK, ds.error_message
    assert len(calls) == 2
    assert 1.9 <= elapsed < 6


def test_retry_after_in_asctime_form_on_a_plain_get_is_retried_not_a_type_error() -> None:
    """Finding 2: the dataset was lost as 'TypeError' instead of retried."""
    handle, calls = throttled_once(asctime(datetime.now(UTC) + timedelta(seconds=1)), None)
    with respx.mock:
        respx.get(DEVICES).mock(side_effect=handle)
        ds, _ = timed(client().dataset(DATASETS["managedDevices"]))
    assert ds.status is DatasetStatus.OK and ds.error_code != "TypeError", ds.error_message
    assert len(calls) == 2


@pytest.mark.parametrize("value", ["soon", "1e9", "Sun, 99 Foo 1994 08:49:37 GMT"])
def test_unreadable_retry_after_falls_back_to_the_buckets_backoff(value: str) -> None:
    handle, calls = throttled_once(value, None)
    with respx.mock:
        respx.get(DEVICES).mock(side_effect=handle)
        ds, elapsed = timed(asyncio.wait_for(client().dataset(DATASETS["managedDevices"]), 10))
    assert ds.status is DatasetStatus.OK and len(calls) == 2, ds.error_message
    assert elapsed < 2  # FAST's backoff, not a second and not 'Graph vraagt 1e9 s te wachten'


def test_retry_after_beyond_the_tenant_deadline_is_not_waited_for() -> None:
    """A wait the deadline would cut off anyway: the dataset is throttled at once and says what
    Graph asked, instead of holding the scan until its time-out."""
    date = datetime.now(UTC)
    handle, calls = throttled_once(imf_fixdate(date + timedelta(seconds=60)), imf_fixdate(date))
    settings = {"deadline_seconds": 30.0, "retry_after_max_seconds": 120.0}
    with respx.mock:
        respx.get(DEVICES).mock(side_effect=handle)
        ds, elapsed = timed(
            asyncio.wait_for(client(**settings).dataset(DATASETS["managedDevices"]), 10)
        )
    assert ds.status is DatasetStatus.THROTTLED and ds.error_code == "retry_after_too_long"
    assert ds.error_message == "Graph vraagt 60 s te wachten"
    assert len(calls) == 1 and elapsed < 2


# -- inside $batch -------------------------------------------------------------------------------


def methods_page(key: str, next_link: str | None = None, ids: list[str] | None = None) -> dict:
    kind = "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod"
    body: dict = {"value": [{"@odata.type": kind, "id": i} for i in (ids or [f"m-{key}"])]}
    if next_link:
        body["@odata.nextLink"] = next_link
    return body


def batch_throttling_once(key: str, retry_after: str, date: str | None) -> tuple[Any, list]:
    """POST $batch: the first batch answers `key`'s request 429 with this Retry-After (and the
    batch answer this Date, as Graph sends it: on the envelope, not on inner answers)."""
    batches: list[list[dict]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests = json.loads(request.content)["requests"]
        batches.append(requests)
        responses = []
        for inner in requests:
            user = inner["url"].split("/")[2]
            if user == key and len(batches) == 1:
                error = {"error": {"code": "TooManyRequests", "message": "later"}}
                throttled = httpx.Response(429, json=error, headers={"Retry-After": retry_after})
                responses.append(answer(inner, throttled))
            else:
                responses.append(answer(inner, httpx.Response(200, json=methods_page(user))))
        headers = {"Date": date} if date else {}
        return httpx.Response(200, json={"responses": responses}, headers=headers)

    return handle, batches


@pytest.mark.parametrize("form", sorted(FORMS))
def test_retry_after_date_inside_batch_waits_and_the_key_is_read(form: str) -> None:
    """Finding 2: an asctime date inside a batch killed the whole scan (ExceptionGroup)."""
    server_now = datetime.now(UTC) - timedelta(hours=3)  # against the batch's Date, not ours
    retry_after = FORMS[form](server_now + timedelta(seconds=1))
    handle, batches = batch_throttling_once("u2", retry_after, imf_fixdate(server_now))
    with respx.mock:
        respx.post(f"{BASE}/$batch").mock(side_effect=handle)
        ds, elapsed = timed(client().fan_out(METHODS, ["u1", "u2", "u3"]))
    assert ds.status is DatasetStatus.OK and sorted(ds.data) == ["u1", "u2", "u3"]
    assert [len(b) for b in batches] == [3, 1]  # only the throttled key again
    assert 0.9 <= elapsed < 5


def test_server_clock_two_hours_ahead_inside_batch_waits_one_second_not_7201() -> None:
    server_now = datetime.now(UTC) + timedelta(hours=2)
    retry_after = imf_fixdate(server_now + timedelta(seconds=1))
    handle, batches = batch_throttling_once("u1", retry_after, imf_fixdate(server_now))
    with respx.mock:
        respx.post(f"{BASE}/$batch").mock(side_effect=handle)
        ds, elapsed = timed(client().fan_out(METHODS, ["u1", "u2"]))
    assert ds.status is DatasetStatus.OK, ds.error_message
    assert len(batches) == 2 and 0.9 <= elapsed < 5


def test_retry_after_in_asctime_form_inside_batch_waits_and_scan_completes(tmp_path) -> None:
    """Finding 2 as it was found: the simulated Graph answers one user's methods, inside a
    batch, 429 with an asctime Retry-After. The scan waits, reads that user and completes."""
    from m365apk.checks.registry import all_checks
    from m365apk.demo.server import Fault, SimulatedGraph
    from m365apk.demo.tenant import load_profile
    from m365apk.runs.scan import run_scan
    from m365apk.scanner.auth import LoopbackClientSecretCredential

    tenant = load_profile("weak", users=30)
    with SimulatedGraph(tenant) as sim:
        user = sorted(u["id"] for u in tenant.users)[0]
        soon = asctime(datetime.now(UTC) + timedelta(seconds=1))
        sim.inject(f"/users/{user}/authentication/methods", Fault(429, retry_after_text=soon))
        cred = LoopbackClientSecretCredential(sim.token_url, tenant.client_id, tenant.client_secret)
        settings = GraphSettings(base_url=sim.base_url, **FAST)
        out = run_scan(
            cred, settings, all_checks(), tenant_id=tenant.tenant_id, out_dir=tmp_path, source="t"
        )
        inner = [r for r in sim.requests if r.inner and user in r.path]
    methods = out.snapshot.dataset("userAuthenticationMethods")
    assert methods.status is DatasetStatus.OK and user in methods.data
    assert [r.status for r in inner][:2] == [429, 200]  # inside a batch, then read
    assert (tmp_path / "report.json").is_file()


def test_a_surprise_inside_one_batch_is_that_batchs_keys_outcome_never_the_scans() -> None:
    """Whatever one batch's answer holds, the dataset says what went wrong with its keys;
    no exception leaves fan_out (it took every other dataset down as an ExceptionGroup)."""

    def handle(request: httpx.Request) -> httpx.Response:
        requests = json.loads(request.content)["requests"]
        responses = [
            {"id": r["id"], "status": 429, "headers": {"Retry-After": ["not", "a", "string"]}}
            for r in requests
        ]
        return httpx.Response(200, json={"responses": responses})

    with respx.mock:
        respx.post(f"{BASE}/$batch").mock(side_effect=handle)
        ds, _ = timed(client(max_retries=1).fan_out(METHODS, ["u1", "u2"]))
    assert ds.status is DatasetStatus.THROTTLED and ds.unread_keys == ["u1", "u2"]


# -- duplicate ids across pages -----------------------------------------------------------------


def devices(start: int, n: int) -> list[dict]:
    return [
        {"id": f"d{i}", "complianceState": "noncompliant" if i % 3 == 0 else "compliant"}
        for i in range(start, start + n)
    ]


def test_page_repeated_managed_devices_counted_once() -> None:
    """Finding 4: with one page served twice, managedDevices counted 558 devices and 18
    non-compliant instead of 279 and 9."""
    pages = [
        {"value": devices(0, 100), "@odata.nextLink": f"{DEVICES}?$skiptoken=p2"},
        {"value": devices(100, 100), "@odata.nextLink": f"{DEVICES}?$skiptoken=p3"},
        {"value": devices(200, 79), "@odata.nextLink": f"{DEVICES}?$skiptoken=p3-again"},
        {"value": devices(200, 79)},  # the last page once more
    ]
    with respx.mock:
        respx.get(DEVICES).mock(side_effect=[httpx.Response(200, json=p) for p in pages])
        ds, _ = timed(client().dataset(DATASETS["managedDevices"]))
    assert ds.status is DatasetStatus.OK and ds.pages == 4
    assert len(ds.data) == 279 and len({d["id"] for d in ds.data}) == 279
    assert sum(d["complianceState"] == "noncompliant" for d in ds.data) == 93
    assert ds.duplicates_dropped == 79
    assert [d["id"] for d in ds.data] == [f"d{i}" for i in range(279)]  # the first kept, in order


def test_member_listed_on_two_pages_of_a_role_group_is_counted_once() -> None:
    """The same inside a batch: a role group's members, page two repeating one member."""
    key = "role-group-1"
    url = f"{BASE}/groups/{key}/members"

    def member(i: int) -> dict:
        return {
            "@odata.type": "#microsoft.graph.user",
            "id": f"u{i}",
            "userPrincipalName": f"u{i}@x",
        }

    def handle(request: httpx.Request) -> httpx.Response:
        requests = json.loads(request.content)["requests"]
        responses = []
        for inner in requests:
            group = inner["url"].split("/")[2]
            body = {"value": [member(0), member(1)]}
            if group == key:
                body["@odata.nextLink"] = f"{url}?$skiptoken=2"
            responses.append(answer(inner, httpx.Response(200, json=body)))
        return httpx.Response(200, json={"responses": responses})

    with respx.mock:
        respx.post(f"{BASE}/$batch").mock(side_effect=handle)
        respx.get(url).mock(
            return_value=httpx.Response(200, json={"value": [member(1), member(2)]})
        )
        ds, _ = timed(client().fan_out(MEMBERS, [key, "role-group-2"]))
    assert ds.status is DatasetStatus.OK, ds.error_message
    assert [m["id"] for m in ds.data[key]] == ["u0", "u1", "u2"]
    assert ds.duplicates_dropped == 1


def test_licence_listed_twice_is_counted_once() -> None:
    """subscribedSkus keeps no `id`: a licence is its skuId."""
    sku = {
        "skuId": "078d2b04-f1bd-4111-bbd4-b4b1b354cef4",
        "skuPartNumber": "AAD_PREMIUM",
        "capabilityStatus": "Enabled",
        "prepaidUnits": {"enabled": 100},
        "consumedUnits": 10,
        "servicePlans": [],
    }
    skus = f"{BASE}/subscribedSkus"
    pages = [{"value": [sku], "@odata.nextLink": f"{skus}?$skiptoken=2"}, {"value": [sku]}]
    with respx.mock:
        respx.get(skus).mock(side_effect=[httpx.Response(200, json=p) for p in pages])
        ds, _ = timed(client().dataset(DATASETS["subscribedSkus"]))
    assert ds.status is DatasetStatus.OK, ds.error_message
    assert len(ds.data) == 1 and ds.duplicates_dropped == 1


def test_snapshot_from_before_duplicates_were_counted_still_reads() -> None:
    old = {"status": "ok", "endpoint": "GET /v1.0/users", "permission": "User.Read.All"}
    assert Dataset.model_validate(old).duplicates_dropped == 0


# -- a bound on the whole request -----------------------------------------------------------------


class Trickle(httpx.AsyncByteStream):
    """A body a few bytes at a time, each step far within any read timeout."""

    def __init__(self, body: bytes, step_seconds: float = 0.05, size: int = 4) -> None:
        self.body, self.step, self.size = body, step_seconds, size

    async def __aiter__(self):
        for start in range(0, len(self.body), self.size):
            await asyncio.sleep(self.step)
            yield self.body[start : start + self.size]


def slow_settings(bound: float) -> GraphSettings:
    settings = GraphSettings(timeout_seconds=2.0, **FAST)
    # Set after construction, so the situation reads on a client without the option too.
    settings.request_timeout_seconds = bound
    return settings


def test_slow_loris_answer_cut_off_by_request_bound() -> None:
    """Finding 8: the timeout applied per read, so an answer trickling in (here 4 bytes every
    50 ms, about 4 s for the page) was bounded only by the 1800 s tenant deadline."""
    body = json.dumps({"value": devices(0, 8)}).encode()

    def trickle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, stream=Trickle(body), headers={"Content-Type": "application/json"}
        )

    client_ = GraphClient(StaticCredential(), slow_settings(0.5))
    with respx.mock:
        route = respx.get(DEVICES).mock(side_effect=trickle)
        ds, elapsed = timed(client_.dataset(DATASETS["managedDevices"]))
    assert len(body) / 4 * 0.05 > 3  # the whole answer would take seconds
    assert ds.status is DatasetStatus.ERROR and ds.error_code == "timeout"
    assert ds.error_message == "Graph antwoordde niet binnen 0.5 s; verzoek afgebroken"
    assert ds.data is None and elapsed < 2
    assert route.call_count == 1  # a hang is not sent again: it would cost the bound again


def test_slow_loris_batch_answer_cut_off_by_request_bound() -> None:
    def trickle(request: httpx.Request) -> httpx.Response:
        requests = json.loads(request.content)["requests"]
        responses = [
            answer(r, httpx.Response(200, json=methods_page(r["url"].split("/")[2])))
            for r in requests
        ]
        body = json.dumps({"responses": responses}).encode()
        return httpx.Response(
            200, stream=Trickle(body), headers={"Content-Type": "application/json"}
        )

    client_ = GraphClient(StaticCredential(), slow_settings(0.5))
    with respx.mock:
        respx.post(f"{BASE}/$batch").mock(side_effect=trickle)
        ds, elapsed = timed(client_.fan_out(METHODS, ["u1", "u2"]))
    assert ds.status is DatasetStatus.ERROR and ds.error_code == "timeout"
    assert ds.unread_keys == ["u1", "u2"] and elapsed < 2


def test_the_request_bound_stays_within_the_tenant_deadline() -> None:
    assert GraphSettings().request_bound() == 300.0 < GraphSettings().deadline_seconds
    assert GraphSettings(deadline_seconds=60.0).request_bound() == 60.0
    assert GraphSettings(deadline_seconds=None, request_timeout_seconds=900).request_bound() == 900
