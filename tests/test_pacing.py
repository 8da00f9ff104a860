"""Pacing (scanner/pacing.py): buckets, costs, Graph's signals. A fake clock and sleep make every
wait exact and instant; nothing here measures real time."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json

import httpx
import pytest
import respx

from m365apk.scanner import pacing
from m365apk.scanner.datasets import DATASETS
from m365apk.scanner.graph import GraphClient, GraphSettings
from m365apk.scanner.pacing import (
    DIRECTORY,
    INTUNE_CONFIGURATION,
    INTUNE_DEVICES,
    PROTECTION_CA,
    REPORTS,
    REPORTS_APP,
    SIGN_IN_ACTIVITY,
    SIGN_IN_ACTIVITY_APP,
    Pacer,
    classify,
)

from .conftest import FAST, StaticCredential

BASE = "https://graph.microsoft.com/v1.0"


class FakeTime:
    """A clock that only moves when someone sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def pacer(t: FakeTime, **kwargs) -> Pacer:
    options = dict(
        backoff_seconds=2.0, backoff_max_seconds=60.0, jitter_seconds=0.0, margin_seconds=0.0
    )
    options.update(kwargs)
    return Pacer(clock=t.clock, sleep=t.sleep, **options)


def run(coro):
    return asyncio.run(coro)


# -- which bucket, what cost ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/v1.0/users", [(DIRECTORY, 2)]),
        ("/v1.0/users?$select=id,displayName&$top=999", [(DIRECTORY, 1)]),
        (
            "/v1.0/users?%24select=id%2CsignInActivity&%24top=999",
            [(DIRECTORY, 1), (SIGN_IN_ACTIVITY, 1), (SIGN_IN_ACTIVITY_APP, 1)],
        ),
        ("/v1.0/users?$top=999&$skiptoken=abc", [(DIRECTORY, 2)]),
        ("/v1.0/groups/g1/members", [(DIRECTORY, 3)]),
        ("/v1.0/groups/g1/members?$select=id&$top=999", [(DIRECTORY, 2)]),
        ("/v1.0/groups/g1/transitiveMembers?$expand=manager", [(DIRECTORY, 6)]),
        ("/v1.0/subscribedSkus", [(DIRECTORY, 3)]),
        ("/v1.0/servicePrincipals/s1/appRoleAssignments?$top=5", [(DIRECTORY, 1)]),
        ("/v1.0/servicePrincipals/s1/appRoleAssignedTo?$top=999", [(DIRECTORY, 1)]),
        ("/v1.0/oauth2PermissionGrants", [(DIRECTORY, 2)]),
        ("/v1.0/applications?$select=id&$top=999", [(DIRECTORY, 1)]),
        ("/v1.0/organization?$select=id", [(DIRECTORY, 1)]),  # never below 1
        ("/v1.0/roleManagement/directory/roleAssignments?$expand=principal", [(DIRECTORY, 2)]),
        ("/v1.0/policies/authorizationPolicy", [(DIRECTORY, 1)]),
        ("/v1.0/users/u1/authentication/methods", [(DIRECTORY, 1)]),
        ("/v1.0/auditLogs/signIns?$top=200", [(REPORTS, 1), (REPORTS_APP, 1)]),
        ("/v1.0/auditLogs/directoryAudits", [(REPORTS, 1), (REPORTS_APP, 1)]),
        (
            "/v1.0/reports/authenticationMethods/userRegistrationDetails?$top=999",
            [(REPORTS, 1), (REPORTS_APP, 1)],
        ),
        ("/v1.0/identity/conditionalAccess/policies", [(PROTECTION_CA, 1)]),
        ("/v1.0/identityProtection/riskyUsers?$filter=x", [(PROTECTION_CA, 1)]),
        ("/v1.0/deviceManagement/managedDevices?$select=id", [(INTUNE_DEVICES, 1)]),
        ("/v1.0/deviceManagement/deviceCompliancePolicies", [(INTUNE_CONFIGURATION, 1)]),
        ("/beta/deviceManagement?$select=settings", [(INTUNE_CONFIGURATION, 1)]),
        ("/v1.0/$batch", []),  # its inner requests are charged, one by one
        ("/v1.0/security/secureScores?$top=1", []),  # a service we do not pace
    ],
)
def test_paths_map_to_their_bucket_and_documented_cost(url: str, expected: list) -> None:
    assert classify("GET", "https://graph.microsoft.com" + url) == expected


def test_every_dataset_the_scanner_reads_is_classified_without_error() -> None:
    for spec in DATASETS.values():
        if spec.source == "graph":
            classify("GET", f"{BASE}{spec.path.replace('{id}', 'x')}")


# -- token bucket arithmetic ---------------------------------------------------------------------


def test_reports_bucket_allows_five_then_one_every_two_seconds() -> None:
    t = FakeTime()
    p = pacer(t)
    url = f"{BASE}/auditLogs/signIns"

    async def go():
        for _ in range(8):
            await p.acquire("GET", url)

    run(go())
    assert t.sleeps == [2.0, 2.0, 2.0]  # 5 per 10 s: the burst, then the refill rate exactly


def test_waits_only_as_long_as_the_limit_requires() -> None:
    t = FakeTime()
    p = pacer(t)
    ca = f"{BASE}/identity/conditionalAccess/policies"

    async def go():
        await p.acquire("GET", ca)
        t.now += 0.4  # time passes doing other things
        await p.acquire("GET", ca)  # 1 per second: 0.6 s more
        t.now += 5.0  # a long pause refills, but never beyond the bucket
        await p.acquire("GET", ca)
        await p.acquire("GET", ca)

    run(go())
    assert t.sleeps == [0.6, 1.0]


def test_directory_limit_follows_tenant_size() -> None:
    t = FakeTime()
    p = pacer(t)
    assert p.bucket(DIRECTORY).capacity == 3500  # S until the users are known
    for users, size, units in (
        (49, "S", 3500),
        (50, "M", 5000),
        (500, "M", 5000),
        (501, "L", 8000),
    ):
        p.set_user_count(users)
        assert (p.size, p.bucket(DIRECTORY).capacity) == (size, units)


def test_directory_bucket_spends_resource_units() -> None:
    t = FakeTime()
    p = pacer(t)
    members = f"{BASE}/groups/g/members"  # 3 units

    async def go():
        for _ in range(3500 // 3):
            await p.acquire("GET", members)
        assert t.sleeps == []
        await p.acquire("GET", members)  # 2 units left: 1 more at 350 units/s

    run(go())
    assert t.sleeps == [pytest.approx(1 / 350, abs=1e-6)]


def test_buckets_are_independent() -> None:
    t = FakeTime()
    p = pacer(t)

    async def go():
        for _ in range(5):
            await p.acquire("GET", f"{BASE}/auditLogs/signIns")
        await p.acquire("GET", f"{BASE}/users")  # the reports bucket is empty, not this one
        await p.acquire("GET", f"{BASE}/identity/conditionalAccess/policies")

    run(go())
    assert t.sleeps == []


def test_pacing_off_never_waits() -> None:
    t = FakeTime()
    p = pacer(t, enabled=False)

    async def go():
        for _ in range(20):
            await p.acquire("GET", f"{BASE}/auditLogs/signIns")

    run(go())
    assert t.sleeps == [] and p.buckets == {}


# -- Graph's signals -----------------------------------------------------------------------------


def test_limit_percentage_slows_the_bucket_down_and_it_recovers() -> None:
    t = FakeTime()
    p = pacer(t)
    bucket = p.bucket(DIRECTORY)
    charged = p.costs("GET", f"{BASE}/users/u/authentication/methods")
    p.observe(charged, 200, {"x-ms-throttle-limit-percentage": "0.9"})
    assert bucket.tokens == pytest.approx(350)  # only the 10% Graph says is left
    assert bucket.factor == pytest.approx(0.8 / 0.9)
    p.observe(charged, 200, {"x-ms-throttle-limit-percentage": "1.6"})
    assert bucket.tokens == 0 and bucket.factor == pytest.approx(0.5)
    p.observe(charged, 200, {"x-ms-throttle-limit-percentage": "0.85"})  # no faster on a milder one
    assert bucket.factor == pytest.approx(0.5)
    for _ in range(10):
        p.observe(charged, 200, {})
    assert bucket.factor == pytest.approx(0.7)
    for _ in range(100):
        p.observe(charged, 200, {})
    assert bucket.factor == 1.0


def test_slowed_bucket_waits_longer_than_the_documented_rate() -> None:
    t = FakeTime()
    p = pacer(t)
    url = f"{BASE}/auditLogs/signIns"
    charged = p.costs("GET", url)
    p.observe(charged, 200, {"x-ms-throttle-limit-percentage": "1.6"})  # half speed, empty

    async def go():
        await p.acquire("GET", url)

    run(go())
    assert t.sleeps == [4.0]  # 1 request per 4 s instead of per 2 s


def test_resource_unit_header_corrects_the_charge() -> None:
    t = FakeTime()
    p = pacer(t)
    bucket = p.bucket(DIRECTORY)
    charged = p.costs("GET", f"{BASE}/organization")  # we charge 1
    bucket.tokens -= 1
    p.observe(charged, 200, {"x-ms-resource-unit": "5"})
    assert bucket.tokens == pytest.approx(3500 - 5)


def test_429_with_retry_after_pauses_the_bucket_that_long() -> None:
    t = FakeTime()
    p = pacer(t)
    url = f"{BASE}/users"

    async def go():
        charged = await p.acquire("GET", url)
        assert p.throttled(charged, 7.0) is True
        await p.acquire("GET", f"{BASE}/groups")  # another request in the same bucket waits too

    run(go())
    assert t.sleeps == [7.0]
    assert p.bucket(DIRECTORY).factor == 0.5  # our own budget: we were too fast


def test_429_without_retry_after_backs_off_per_bucket() -> None:
    t = FakeTime()
    p = pacer(t)
    ca = f"{BASE}/identity/conditionalAccess/policies"

    async def go():
        for _ in range(3):
            charged = await p.acquire("GET", ca)
            p.throttled(charged, None)
        await p.acquire("GET", ca)
        p.observe(p.costs("GET", ca), 200, {})  # a success resets the backoff
        charged = await p.acquire("GET", ca)
        p.throttled(charged, None)
        await p.acquire("GET", ca)

    run(go())
    assert t.sleeps == [2.0, 4.0, 8.0, 1.0, 2.0]
    # Shared with every app of the tenant: a 429 there is not proof we were too fast.
    assert p.bucket(PROTECTION_CA).factor == 1.0


def test_unpaced_request_is_not_paused_by_the_pacer() -> None:
    p = pacer(FakeTime())
    assert p.throttled(p.costs("GET", f"{BASE}/security/secureScores"), 3.0) is False


def test_a_cancelled_waiter_takes_no_tokens() -> None:
    """A deadline cancels a request waiting for its token: it must not spend the token."""
    t = FakeTime()

    async def go():
        forever = asyncio.Event()

        async def blocked(seconds: float) -> None:
            await forever.wait()

        p = Pacer(clock=t.clock, sleep=blocked, margin_seconds=0.0)
        url = f"{BASE}/auditLogs/signIns"
        for _ in range(5):
            await p.acquire("GET", url)
        waiter = asyncio.ensure_future(p.acquire("GET", url))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return p.bucket(REPORTS).tokens

    assert run(go()) == 0


# -- in the client ---------------------------------------------------------------------------------


def test_waiting_for_a_bucket_does_not_hold_the_concurrency_slot() -> None:
    """A request waiting for its bucket's token (conditional access: one per second) leaves the
    tenant's only slot to a request from another bucket."""
    client = GraphClient(StaticCredential(), GraphSettings(max_concurrency=1, **FAST))
    released = asyncio.Event()
    order: list[str] = []

    async def sleep(seconds: float) -> None:
        await released.wait()

    client.pacer._sleep = sleep

    def ca(request: httpx.Request) -> httpx.Response:
        order.append("ca")
        return httpx.Response(200, json={"value": []})

    def domains(request: httpx.Request) -> httpx.Response:
        order.append("domains")
        released.set()
        return httpx.Response(200, json={"value": []})

    async def go():
        first = await client.dataset(DATASETS["conditionalAccessPolicies"])
        second = asyncio.ensure_future(client.dataset(DATASETS["conditionalAccessPolicies"]))
        await asyncio.sleep(0.05)  # the second one now waits for its token
        other = await client.dataset(DATASETS["domains"])
        return first, await second, other

    with respx.mock:
        respx.get(f"{BASE}/identity/conditionalAccess/policies").mock(side_effect=ca)
        respx.get(f"{BASE}/domains").mock(side_effect=domains)
        results = run(go())
    assert all(r.ok for r in results)
    assert order == ["ca", "domains", "ca"]


def test_retry_after_pauses_the_bucket_for_the_retry_in_the_client() -> None:
    t = FakeTime()
    client = GraphClient(StaticCredential(), GraphSettings(**FAST))
    client.pacer._clock, client.pacer._sleep = t.clock, t.sleep
    client.pacer.margin_seconds = 0.0
    throttled = httpx.Response(
        429, json={"error": {"code": "TooManyRequests"}}, headers={"Retry-After": "9"}
    )
    with respx.mock:
        respx.get(f"{BASE}/users").mock(
            side_effect=[throttled, httpx.Response(200, json={"value": []})]
        )
        ds = run(client.dataset(DATASETS["users"]))
    assert ds.ok and t.sleeps == [9.0]
    assert client.stats.throttled_responses == 1 and client.stats.retries == 1


def test_429_without_retry_after_in_the_client_backs_off_by_bucket_then_gives_up() -> None:
    t = FakeTime()
    options = {**FAST, "backoff_seconds": 2.0, "backoff_max_seconds": 60.0, "max_retries": 3}
    client = GraphClient(StaticCredential(), GraphSettings(**options))
    client.pacer._clock, client.pacer._sleep = t.clock, t.sleep
    client.pacer.margin_seconds = 0.0
    with respx.mock:
        route = respx.get(f"{BASE}/identity/conditionalAccess/policies").mock(
            return_value=httpx.Response(429, json={"error": {"code": "TooManyRequests"}})
        )
        ds = run(client.dataset(DATASETS["conditionalAccessPolicies"]))
    assert route.call_count == 4 and ds.status.value == "throttled"
    assert t.sleeps == [2.0, 4.0, 8.0]  # per bucket, doubling; no Retry-After from this service


def test_priority_header_is_sent_and_can_be_switched_off() -> None:
    for priority, expected in (("low", "low"), (None, None)):
        client = GraphClient(StaticCredential(), GraphSettings(throttle_priority=priority, **FAST))
        with respx.mock:
            route = respx.get(f"{BASE}/domains").mock(
                return_value=httpx.Response(200, json={"value": []})
            )
            assert run(client.dataset(DATASETS["domains"])).ok
        assert route.calls[0].request.headers.get("x-ms-throttle-priority") == expected


def test_collector_tells_the_client_the_tenant_size() -> None:
    from m365apk.scanner.collector import collect

    client = GraphClient(StaticCredential(), GraphSettings(**FAST))
    users = [{"id": f"u{i}", "accountEnabled": True, "userType": "Member"} for i in range(600)]
    with respx.mock:
        respx.get(f"{BASE}/users").mock(return_value=httpx.Response(200, json={"value": users}))
        respx.route(host="graph.microsoft.com").mock(
            return_value=httpx.Response(
                403, json={"error": {"code": "Authorization_RequestDenied"}}
            )
        )
        run(collect(client, ["users"], tenant_id="t", source="test"))
    assert client.pacer.size == "L"


def test_limits_table_is_the_documented_one() -> None:
    limits = pacing.LIMITS
    assert (limits[REPORTS].units, limits[REPORTS].window) == (5, 10.0)
    assert (limits[PROTECTION_CA].units, limits[PROTECTION_CA].window) == (1, 1.0)
    assert limits[PROTECTION_CA].shared and not limits[DIRECTORY].shared
    assert pacing.DIRECTORY_UNITS == {"S": 3500, "M": 5000, "L": 8000}
    assert (limits[INTUNE_DEVICES].units, limits[INTUNE_DEVICES].window) == (2000, 20.0)
    assert (limits[INTUNE_CONFIGURATION].units, limits[INTUNE_CONFIGURATION].window) == (1000, 20.0)


def test_a_wait_keeps_a_small_margin_for_the_way_to_graph() -> None:
    """Graph counts a request when it arrives: a wait is the limit's plus a few hundredths."""
    t = FakeTime()
    p = pacer(t, margin_seconds=0.05)
    ca = f"{BASE}/identity/conditionalAccess/policies"

    async def go():
        await p.acquire("GET", ca)
        await p.acquire("GET", ca)

    run(go())
    assert t.sleeps == [1.05]


def test_a_batch_costs_what_its_inner_requests_cost() -> None:
    p = pacer(FakeTime())
    body = {
        "requests": [
            {"id": str(i), "method": "GET", "url": f"/groups/g{i}/members?$select=id"}
            for i in range(4)
        ]
        + [{"id": "9", "method": "GET", "url": "/auditLogs/signIns"}]
    }
    charged = p.costs("POST", f"{BASE}/$batch", json.dumps(body).encode())
    assert sorted((b.name, c) for b, c in charged) == [
        (DIRECTORY, 8),
        (REPORTS, 1),
        (REPORTS_APP, 1),
    ]
    assert p.costs("POST", f"{BASE}/$batch", b"<html>") == []


def test_tokens_are_taken_on_the_wire_not_while_queueing() -> None:
    """The tokens of a request are taken only when it goes out: one that waits for the
    concurrency slot has not spent them yet, so Graph and we agree on when they were spent."""
    t = FakeTime()
    p = pacer(t)
    charged = p.costs("GET", f"{BASE}/identity/conditionalAccess/policies")

    async def go():
        await p.ready(charged)  # allowed now ...
        t.now += 3.0  # ... but it queued for the slot meanwhile
        assert p.try_take(charged)
        assert not p.try_take(charged)  # the next one must wait a full second from here
        assert p.bucket(PROTECTION_CA).delay(1) == pytest.approx(1.0)

    run(go())


def test_requests_refused_together_count_as_one_throttling() -> None:
    t = FakeTime()
    p = pacer(t)
    users = p.costs("GET", f"{BASE}/users")
    ca = p.costs("GET", f"{BASE}/identity/conditionalAccess/policies")
    for _ in range(4):  # four requests in flight, all refused
        p.throttled(users, 1.0)
        p.throttled(ca, None)
    assert p.bucket(DIRECTORY).factor == 0.5
    assert p.bucket(PROTECTION_CA).strikes == 1


def test_a_burst_from_a_full_bucket_refills_from_its_answer_not_from_its_take(
    monkeypatch,
) -> None:
    """Regression (sector benchmark, loaded machine): the first identity-reports request left
    1.9 s after its tokens were taken; Graph's bucket, full until that request arrived, had
    refilled less than ours and the sixth request met a 429. When a request taken from a full
    bucket is answered later than the fastest answer seen, that delay no longer counts as
    refill."""
    from m365apk.scanner import pacing

    monkeypatch.setattr(pacing, "_FASTEST", [0.0])  # answers can come at once
    t = FakeTime()
    p = pacer(t)
    reports = p.costs("GET", f"{BASE}/auditLogs/signIns")
    bucket = p.bucket(REPORTS)
    taken_at = t.now
    full = p.take(reports)
    assert full == [bucket, p.bucket(REPORTS_APP)]  # taken from full buckets
    for _ in range(4):
        assert p.take(reports) == []  # the rest of the burst: no longer full
    assert bucket.delay(1) == pytest.approx(2.0)  # 5 per 10 s: one token in 2 s
    t.now += 1.9  # the first request's answer comes 1.9 s later
    p.answered(full, taken_at=taken_at)
    assert bucket.delay(1) == pytest.approx(2.0)  # two seconds from the answer, not from 0
    t.now += 2.0
    taken = p.take(reports)
    assert taken is not None and bucket not in taken  # (the app-wide one refilled meanwhile)


def test_an_answer_as_fast_as_ever_takes_nothing_back(monkeypatch) -> None:
    """On an idle machine (the answer took no longer than the fastest seen) the pace is the
    documented one: no round trip is added."""
    from m365apk.scanner import pacing

    monkeypatch.setattr(pacing, "_FASTEST", [0.15])
    t = FakeTime()
    p = pacer(t)
    reports = p.costs("GET", f"{BASE}/auditLogs/signIns")
    taken_at = t.now
    full = p.take(reports)
    for _ in range(4):
        p.take(reports)
    t.now += 0.15
    p.answered(full, taken_at=taken_at)
    assert p.bucket(REPORTS).delay(1) == pytest.approx(2.0 - 0.15)


def test_answers_from_a_bucket_that_was_not_full_change_nothing(monkeypatch) -> None:
    from m365apk.scanner import pacing

    monkeypatch.setattr(pacing, "_FASTEST", [0.0])
    t = FakeTime()
    p = pacer(t)
    reports = p.costs("GET", f"{BASE}/auditLogs/signIns")
    assert p.take(reports) == [p.bucket(REPORTS), p.bucket(REPORTS_APP)]
    taken_at = t.now
    assert p.take(reports) == []  # the second of the burst: the bucket was no longer full
    t.now += 0.5
    before = p.bucket(REPORTS).delay(1)
    p.answered([], taken_at=taken_at)
    assert p.bucket(REPORTS).delay(1) == before


# -- limits per app for all tenants (scan-all: one app, every school) ---------------------------

SIA_PAGE = f"{BASE}/users?$select=id,signInActivity&$top=500"


def test_tenants_of_one_app_share_its_ten_sign_in_activity_pages_a_minute() -> None:
    """Regression (sector scale): Microsoft documents GET signInActivity at 10 requests per
    minute per app for all tenants, not only per tenant; 16 schools read at once each at 10 a
    minute would meet 429s on 150 of every 160 pages."""
    t = FakeTime()
    first, second = pacer(t, app="graph.example"), pacer(t, app="graph.example")

    async def go():
        for _ in range(10):
            await first.acquire("GET", SIA_PAGE)
        await second.acquire("GET", SIA_PAGE)  # its own bucket is full; the app's is not

    run(go())
    assert t.sleeps == [6.0]  # 60 s / 10
    other = pacer(t, app="other-app.example")  # another app's buckets are its own
    assert other.costs("GET", SIA_PAGE)[2][0].delay(1) == 0


class VirtualTime:
    """Virtual time for several tenants at once: a sleeper wakes when every coroutine that can
    run has run, and the clock jumps to the earliest wake-up."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), woken))
        await woken

    async def drive(self, main) -> None:
        task = asyncio.ensure_future(main)
        while not task.done():
            for _ in range(50):  # everyone who can run, runs
                await asyncio.sleep(0)
            if self._sleepers and not task.done():
                when, _, woken = heapq.heappop(self._sleepers)
                self.now = max(self.now, when)
                woken.set_result(None)
        task.result()


def test_a_tenant_that_started_later_waits_for_the_earlier_ones_sign_in_activity() -> None:
    """In the app-wide buckets tenants take turns in the order they started, so a large board
    that started first reads at the documented rate instead of a sixteenth of it; the total
    pace is the app's ten a minute either way."""
    t = VirtualTime()
    options = dict(jitter_seconds=0.0, margin_seconds=0.0, app="turns.example")
    before, earlier, later = (Pacer(clock=t.clock, sleep=t.sleep, **options) for _ in range(3))
    taken: list[tuple[str, float]] = []

    async def read(p: Pacer, name: str, pages: int) -> None:
        for _ in range(pages):
            await p.acquire("GET", SIA_PAGE)
            taken.append((name, t.now))
            await t.sleep(0.3)  # the page's answer

    async def go():
        await read(before, "before", 10)  # a school before them emptied the app's bucket
        await asyncio.gather(read(earlier, "earlier", 5), read(later, "later", 3))

    asyncio.run(t.drive(go()))
    names = [name for name, _ in taken]
    assert names == ["before"] * 10 + ["earlier"] * 5 + ["later"] * 3
    times = [when for _, when in taken[10:]]
    assert all(b - a == pytest.approx(6.0, abs=0.01) for a, b in itertools.pairwise(times))
    assert later.time_in_line() > earlier.time_in_line() > 0  # it stood in line longer
    assert not before.costs("GET", SIA_PAGE)[2][0].waiting  # and nobody is left in it


def test_a_tenant_alone_waits_for_its_own_limit_not_in_line() -> None:
    """One school's signInActivity pages wait for the school's own ten a minute; that is the
    school's own time and stays inside its deadline (time_in_line 0)."""
    t = VirtualTime()
    alone = Pacer(clock=t.clock, sleep=t.sleep, jitter_seconds=0.0, app="alone.example")

    async def go():
        for _ in range(14):
            await alone.acquire("GET", SIA_PAGE)

    asyncio.run(t.drive(go()))
    assert t.now >= 1000.0 + 4 * 6.0  # four pages past the full bucket: waited
    assert alone.time_in_line() == 0.0


def test_one_of_four_shards_keeps_to_a_quarter_of_the_apps_limits() -> None:
    """scan-all --shard-count 4 runs four pods with one app: each may use a quarter of the
    app's signInActivity pages (portfolio.scan_all sets the share)."""
    pacing.set_app_share(1 / 4)
    p = pacer(FakeTime(), app="shard.example")
    bucket = p.bucket(SIGN_IN_ACTIVITY_APP)
    assert bucket.capacity == 2.5 and bucket.rate == pytest.approx(2.5 / 60)
    assert p.bucket(SIGN_IN_ACTIVITY).capacity == 10  # the tenant's own limit is its own
    import multiprocessing

    cells = pacing.app_bucket_cells(multiprocessing.get_context("spawn"))
    assert cells[SIGN_IN_ACTIVITY_APP][4] == 2.5  # and so do its worker processes


def _take_sign_in_activity(cells: dict | None, lock, tries: int, taken) -> None:
    """In a worker process: take a signInActivity page's tokens `tries` times, without waiting."""
    if cells is not None:
        pacing.share_app_buckets(cells, lock)
    p = Pacer(app="workers.example")
    charged = p.costs("GET", SIA_PAGE)
    with taken.get_lock():
        taken.value += sum(p.take(charged) is not None for _ in range(tries))


def test_worker_processes_share_the_apps_limit_not_multiply_it() -> None:
    """scan-all's worker processes read with one app: together they get the app's ten
    signInActivity pages a minute, not ten each."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")

    def run_workers(shared: bool) -> int:
        cells = pacing.app_bucket_cells(context) if shared else None
        lock, taken = context.RLock(), context.Value("i", 0)
        workers = [
            context.Process(target=_take_sign_in_activity, args=(cells, lock, 10, taken))
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert all(w.exitcode == 0 for w in workers)
        return taken.value

    # ten in all (a page more only if the workers took over six seconds to start)
    assert 10 <= run_workers(shared=True) <= 11
    assert run_workers(shared=False) == 20  # each its own bucket: what sharing prevents


def test_the_snapshot_keeps_the_time_the_school_stood_in_line_for_the_app() -> None:
    """The collector writes the client's time in line (Pacer.time_in_line) into the snapshot's
    stats: the evidence of why a school in a large scan-all took long."""
    from m365apk.scanner.collector import collect

    client = GraphClient(StaticCredential(), GraphSettings(**FAST))
    client.time_in_line = lambda: 312.25  # type: ignore[method-assign]
    with respx.mock:
        respx.route(host="graph.microsoft.com").mock(
            return_value=httpx.Response(200, json={"value": []})
        )
        snap = run(collect(client, ["domains"], tenant_id="t", source="test"))
    assert snap.stats.in_line_seconds == 312.25
    # and a snapshot from before the field was recorded still reads (nobody waited)
    old = snap.model_dump(mode="json")
    del old["stats"]["in_line_seconds"]
    assert type(snap).model_validate(old).stats.in_line_seconds == 0.0
