"""The Graph client: msgraph-sdk's pipeline (auth, retries, telemetry) with raw-bytes transfer.

Requests are built with the SDK's request builders and sent through its request adapter as raw
bytes; pages are then validated by pydantic into plain dicts holding only the fields we keep.
The SDK's typed models cost milliseconds per object, this path microseconds (benchmarks/).
Every endpoint's outcome becomes a `Dataset` with a status; errors are recorded, not raised,
except authentication failures, which no other endpoint would survive either.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NotRequired
from urllib.parse import urlsplit

import httpx
from azure.core.exceptions import ClientAuthenticationError
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import (
    BaseMiddleware,
    BodyInspectionHandler,
    HeadersInspectionHandler,
    RedirectHandler,
    RetryHandler,
    UrlReplaceHandler,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_core import GraphClientFactory
from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_json
from typing_extensions import TypedDict

from m365apk.errors import AuthError
from m365apk.scanner.datasets import DatasetSpec, keyed
from m365apk.scanner.exchange import ExchangeClient, exchange_endpoint
from m365apk.scanner.graph_models import ENVELOPE, object_adapter, page_adapter
from m365apk.scanner.pacing import Pacer
from m365apk.scanner.tls import ssl_context
from m365apk.snapshot import CollectionStats, Dataset, DatasetStatus

GRAPH_URL = "https://graph.microsoft.com"
# kiota's default handlers we leave out (GraphClient.__post_init__ says why).
_UNUSED_MIDDLEWARE = (
    RetryHandler,
    RedirectHandler,
    UrlReplaceHandler,
    HeadersInspectionHandler,
    BodyInspectionHandler,
)
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
ERROR_MAP: dict[str, Any] = {"XXX": ODataError}

# Graph's answers when the tenant lacks the licence an endpoint needs (graph-reference §0.1).
LICENCE_ERROR_CODES = {
    "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
    "AadPremiumLicenseRequired",
}


# A school tenant reads in seconds to minutes; a board of 100,000 accounts in well under this.
DEFAULT_DEADLINE_SECONDS = 1800.0

# Where `_Wire` leaves what a request was charged per throttling bucket, for `_Retry`.
CHARGED = "m365apk.charged"

# Graph's answers worth another try after a wait (graph-reference §7): throttling, unavailable.
RETRY_STATUSES = frozenset({429, 503, 504})


@dataclass
class GraphSettings:
    base_url: str = GRAPH_URL
    # Exchange Online Admin API base URL; None: the one of base_url's cloud, or base_url itself
    # for a Graph that is no Microsoft cloud (the simulator serves both): scanner/exchange.py.
    exchange_url: str | None = None
    timeout_seconds: float = 60.0
    # Requests in flight per tenant. Graph documents no concurrency limit for the directory
    # and reports services (only Outlook's 4 per mailbox, which we do not read); its limits
    # are the per-bucket rates that `Pacer` keeps to. 8 lets a scan's ~40 plain reads finish
    # in about five round trips (benchmarks/scan_benchmark.py) without a burst a throttling
    # Graph front end would answer with 429s.
    max_concurrency: int = 8
    max_retries: int = 6  # per request, for 429/503/504
    backoff_seconds: float = 2.0  # first wait when Graph sends no Retry-After; doubles
    backoff_max_seconds: float = 60.0
    jitter_seconds: float = 1.0
    # A Retry-After beyond this is not waited for: the dataset is throttled ("Graph vraagt N s
    # te wachten"), the scan goes on. Graph's own waits are seconds to a few minutes.
    retry_after_max_seconds: float = 120.0
    transport_retries: int = 3  # connection reset, refused, broken answer; timeouts are not
    # One request as a whole (connect, every read, the whole body): `timeout_seconds` bounds
    # each read alone, so an answer that trickles in a byte at a time (a slow-loris proxy)
    # would otherwise hold its slot until the tenant deadline. Never beyond the deadline
    # (`request_bound`): a scan given less time than this is bounded by its deadline.
    request_timeout_seconds: float = 300.0
    # A safety net, far above any school (a 100,000-user board is ~100 pages of 999): a Graph
    # that keeps handing out new next links must not keep the scan busy forever.
    max_pages: int = 2000
    max_response_bytes: int = 32 * 1024 * 1024  # one page of 999 users is well under 1 MB
    # The whole tenant: datasets still unread after this are unknown ("time-out"), the
    # report is still written. None: no deadline.
    deadline_seconds: float | None = DEFAULT_DEADLINE_SECONDS
    # DNS server (IP[:port]) for the e-mail domain records; None: the system resolver, which is
    # only asked when scanning the real Graph (a simulated tenant's domains are not public).
    dns_server: str | None = None
    # The opt-in audit log probe (only when its check is selected): polling bounds, in seconds.
    audit_probe_poll_seconds: float = 10.0
    audit_probe_wait_seconds: float = 300.0
    # Opt-in reads asked for by name (DatasetSpec.opt_in), e.g. "mail-rules" (`--mail-rules`):
    # every mailbox's inbox rules. A dataset not asked for is not collected and says so.
    opt_in: frozenset[str] = frozenset()
    # Pace each throttling bucket by Graph's documented limits (scanner/pacing.py), so a scan
    # waits for its turn instead of collecting 429s. Off: only react to 429s.
    pacing: bool = True
    # Sent on every request: a background scan is throttled before interactive tools are
    # (identity and access; the limits themselves do not change). None: not sent.
    throttle_priority: str | None = "low"
    # Per-object fan-outs go as JSON batches of this many requests (Graph allows 20); 1: one
    # GET per object.
    batch_size: int = 20

    def request_bound(self) -> float:
        """Seconds one request may take in all: `request_timeout_seconds`, below the deadline."""
        bound = self.request_timeout_seconds
        if self.deadline_seconds is not None:
            bound = min(bound, self.deadline_seconds)
        return bound

    def wait_bound(self) -> float:
        """The longest Retry-After waited for: `retry_after_max_seconds`, within the deadline."""
        bound = self.retry_after_max_seconds
        if self.deadline_seconds is not None:
            bound = min(bound, self.deadline_seconds)
        return bound


class WaitTooLong(Exception):
    """Graph asked to wait longer than we are willing to (GraphSettings.retry_after_max_seconds)."""

    def __init__(self, status: int, seconds: float) -> None:
        super().__init__(f"Graph vraagt {seconds:.0f} s te wachten")
        self.status, self.seconds = status, seconds


class Redirected(Exception):
    """A 3xx: Graph does not redirect data requests; another host's answer is not the tenant's."""

    def __init__(self, status: int, location: str) -> None:
        host = urlsplit(location).netloc or location or "?"
        super().__init__(f"doorverwezen naar {host}; doorverwijzingen worden niet gevolgd")
        self.status = status


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"antwoord groter dan {limit // (1024 * 1024)} MB")


class TooSlow(httpx.TimeoutException):
    """The whole request took longer than `GraphSettings.request_bound` (a trickling answer)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"Graph antwoordde niet binnen {seconds:g} s; verzoek afgebroken")
        self.seconds = seconds


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds, reckoned from the response's own Date."""
    headers = response.headers
    return retry_after_seconds(headers.get("Retry-After"), headers.get("Date"))


_DELTA_SECONDS = re.compile(r"[0-9]+")


def retry_after_seconds(value: str | None, date: str | None = None) -> float | None:
    """Retry-After (RFC 9110 §10.2.3) in seconds from now, or None when absent or unreadable
    (the caller then backs off as without one). Either delta-seconds (what Graph sends) or an
    HTTP-date in any of its three forms, which a recipient must all accept (§5.6.7):
    IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, the obsolete RFC 850 `Sunday, 06-Nov-94
    08:49:37 GMT` and asctime `Sun Nov  6 08:49:37 1994` (no zone: GMT, as HTTP-dates are).
    A date is held against the same response's `Date` (the server's clock, `date`), not
    against ours: a server two hours ahead asking for 2 s means 2 s. Without a readable Date,
    our clock. A date in the past: no wait."""
    if value is None:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    now = _http_date(date.strip()) if date else None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except Exception:  # the parser raises TypeError, ValueError, IndexError, OverflowError...
        return None
    if when.tzinfo is None:  # asctime, or "-0000": HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    return when


class _Retry(BaseMiddleware):
    """Outermost: paces each request by its throttling bucket (`pacing.Pacer`), then retries
    429/503/504 (honouring Retry-After up to a cap) and transport errors with exponential
    backoff. It waits outside the concurrency slot (`_Wire` holds that only while a request is
    on the wire), so a bucket that must wait, or one throttled endpoint, does not stall the
    others."""

    def __init__(self, settings: GraphSettings, stats: CollectionStats, pacer: Pacer) -> None:
        super().__init__()
        self.settings, self.stats, self.pacer = settings, stats, pacer

    def _backoff(self, attempt: int) -> float:
        s = self.settings
        wait = s.backoff_seconds * 2**attempt
        return min(s.backoff_max_seconds, wait + random.uniform(0, s.jitter_seconds))

    async def send(
        self, request: httpx.Request, transport: httpx.AsyncBaseTransport
    ) -> httpx.Response:
        s = self.settings
        if s.throttle_priority:
            request.headers.setdefault("x-ms-throttle-priority", s.throttle_priority)
        attempt = 0
        while True:
            try:
                response = await super().send(request, transport)
            except httpx.TransportError as exc:
                # A hang already cost the full timeout; waiting it out again would only
                # multiply that. Resets and refusals are blips worth another try.
                if isinstance(exc, httpx.TimeoutException) or attempt >= s.transport_retries:
                    raise
                wait = self._backoff(attempt)
            else:
                status = response.status_code
                asked = _retry_after(response)
                charged = response.extensions.get(CHARGED, [])  # what `_Wire` took
                if status == 429:
                    self.stats.throttled_responses += 1
                elif not request.url.path.endswith("/$batch"):  # a batch's answers: `_batch`
                    self.pacer.observe(charged, status, response.headers)
                if status not in RETRY_STATUSES or attempt >= s.max_retries:
                    if status == 429 and (asked is None or asked <= s.wait_bound()):
                        self.pacer.throttled(charged, asked)  # the next request waits
                    return response
                if asked is not None and asked > s.wait_bound():
                    raise WaitTooLong(status, asked)
                wait = self._backoff(attempt) if asked is None else asked
                # A throttled bucket pauses for everyone in it; the retry then waits in
                # `_Wire` with them (Retry-After, else the bucket's own backoff).
                if status == 429 and self.pacer.throttled(charged, asked):
                    wait = 0.0
                await response.aclose()
            attempt += 1
            self.stats.retries += 1
            request.headers["Retry-Attempt"] = str(attempt)
            if wait:
                await asyncio.sleep(wait)


class _Wire(BaseMiddleware):
    """Innermost: one HTTP attempt inside the tenant's concurrency slot. Counts it, refuses
    redirects (3xx), and reads the body with a size cap."""

    def __init__(self, settings: GraphSettings, stats: CollectionStats, pacer: Pacer) -> None:
        super().__init__()
        self.settings, self.stats, self.pacer = settings, stats, pacer
        self.gate = asyncio.Semaphore(settings.max_concurrency)

    async def send(
        self, request: httpx.Request, transport: httpx.AsyncBaseTransport
    ) -> httpx.Response:
        try:
            content = request.content if request.method == "POST" else None
        except httpx.RequestNotRead:  # a streamed body: not a batch of ours
            content = None
        charged = self.pacer.costs(request.method, str(request.url), content)
        while True:
            # Wait for the bucket outside the slot; take its tokens inside, just before the
            # request goes out, so our clock and Graph's agree on when they were spent.
            await self.pacer.ready(charged)
            async with self.gate:
                full = self.pacer.take(charged)
                if full is None:
                    continue  # taken by another request meanwhile: wait again, outside
                taken_at = self.pacer.now()
                self.stats.http_requests += 1
                bound = self.settings.request_bound()
                try:
                    # The whole exchange, not each read: a trickling answer is cut off here.
                    async with asyncio.timeout(bound) as scope:
                        response, body = await self._exchange(request, transport, full, taken_at)
                except TimeoutError:
                    if scope.expired():
                        raise TooSlow(bound) from None
                    raise
                break
        answer_date = _ANSWER_DATE.get(None)
        if answer_date is not None:  # a batch's own Date, for its inner Retry-Afters
            answer_date["date"] = response.headers.get("Date")
        # The body is decoded now: hand it on without the transfer headers that described it.
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=bytes(body),
            request=request,
            extensions={**response.extensions, CHARGED: charged},
        )

    async def _exchange(
        self,
        request: httpx.Request,
        transport: httpx.AsyncBaseTransport,
        full: Any,
        taken_at: float,
    ) -> tuple[httpx.Response, bytearray]:
        """Send, then read the body with a size cap."""
        try:
            response = await super().send(request, transport)
        finally:
            self.pacer.answered(full, taken_at)
        try:
            if 300 <= response.status_code < 400:
                location = response.headers.get("Location", "")
                raise Redirected(response.status_code, location)
            limit = self.settings.max_response_bytes
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise TooLarge(limit)
        finally:
            await response.aclose()
        return response, body


# `_post_batch` sets a dict here; `_Wire` puts the batch answer's Date header in it (the
# inner answers' Retry-After dates are the server's, reckoned against its clock).
_ANSWER_DATE: ContextVar[dict[str, str | None] | None] = ContextVar("m365apk_answer_date")


@dataclass
class Outcome:
    status: DatasetStatus
    http_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    duplicates: int = 0  # objects dropped as a repeat of an id read before (`_pages`)
    # Objects dropped because each broke its own contract (`_read_page`): how many, and the
    # first `MAX_REJECTED_LISTED` as "id: reason". The others are kept; the dataset is then
    # incomplete.
    rejected: int = 0
    rejected_listed: list[str] = field(default_factory=list)
    # The page contract's first complaint where an object was refused ("value.0.displayName:
    # ..."): the reason when none was kept (`_nothing_kept`).
    refusal: str | None = None


# Rejected objects named in a dataset's evidence (the count says how many there were in all):
# one tenant's broken answer must not make a snapshot of megabytes of reasons.
MAX_REJECTED_LISTED = 50
# An id longer than this (or not printable) is no id to name an object by: its place is.
_MAX_NAMED_ID = 200


@dataclass
class _Rejects:
    """Objects of one read dropped for breaking their contract (`_read_page`)."""

    count: int = 0
    listed: list[str] = field(default_factory=list)
    refusal: str | None = None  # the first page's complaint (`Outcome.refusal`)

    def add(self, entries: list[str]) -> None:
        self.count += len(entries)
        room = MAX_REJECTED_LISTED - len(self.listed)
        if room > 0:
            self.listed.extend(entries[:room])


class MalformedResponse(Exception):
    pass


# Graph's limit of requests in one JSON batch (learn.microsoft.com/graph/json-batching).
BATCH_MAX = 20


@dataclass
class _Inner:
    """One request inside a batch: its key and URL."""

    key: str
    url: str  # absolute, as a plain GET would send it
    relative: str  # below the version root, as the batch names it


# A key made only of characters a URI template never encodes (RFC 6570 unreserved) goes into
# the URL as it is; `_KEY_SLOT` marks its place in a URL the SDK built once per batch.
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9._~-]+$")
_KEY_SLOT = "m365apkkeyslot"


class _BatchAnswer(TypedDict):
    id: str
    status: int
    headers: NotRequired[dict[str, Any] | None]
    body: NotRequired[Any]


class _BatchBody(TypedDict):
    responses: list[_BatchAnswer]


_BATCH_RESPONSE: TypeAdapter[Any] = TypeAdapter(_BatchBody)


@dataclass
class GraphClient:
    credential: Any  # an azure-identity TokenCredential (sync or async)
    settings: GraphSettings = field(default_factory=GraphSettings)
    stats: CollectionStats = field(default_factory=CollectionStats)
    on_page: Callable[[str, int, int], None] | None = None  # dataset, pages, objects so far

    def __post_init__(self) -> None:
        host = urlsplit(self.settings.base_url).hostname or ""
        auth = AzureIdentityAuthenticationProvider(
            self.credential, scopes=[GRAPH_SCOPE], allowed_hosts=[host]
        )
        # No redirect handler (a 3xx is an error for the dataset, `_Wire`) and our own retries
        # instead of kiota's, which sleep while holding the concurrency slot. Nor the handlers
        # that do nothing for an app reading Graph: the /me replacement (no signed-in user;
        # it re-parses every URL) and the header and body inspection we never ask for. Kept:
        # the $-parameter decoding and the SDK's User-Agent.
        kept = [
            m
            for m in KiotaClientFactory.get_default_middleware(None)
            if not isinstance(m, _UNUSED_MIDDLEWARE)
        ]
        s = self.settings
        self.pacer = Pacer(
            enabled=s.pacing,
            backoff_seconds=s.backoff_seconds,
            backoff_max_seconds=s.backoff_max_seconds,
            jitter_seconds=s.jitter_seconds,
            # Every tenant read through this Graph host shares the limits per app for all
            # tenants: scan-all reads them all with one app (several apps in one tenants file
            # are paced as one: slower, never throttled).
            app=urlsplit(s.base_url).netloc,
        )
        middleware = [
            _Retry(self.settings, self.stats, self.pacer),
            *kept,
            _Wire(self.settings, self.stats, self.pacer),
        ]
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.timeout_seconds),
            limits=httpx.Limits(max_connections=self.settings.max_concurrency * 2),
            follow_redirects=False,
            verify=ssl_context(),  # built once per process, not once per tenant
        )
        GraphClientFactory.create_with_custom_middleware(middleware, client=http)
        self._http = http
        self.adapter = GraphRequestAdapter(auth, http)
        self.adapter.base_url = f"{self.settings.base_url.rstrip('/')}/v1.0"
        self.sdk = GraphServiceClient(request_adapter=self.adapter)
        # The few properties only Graph beta has are read from beta, by the same request
        # builders, through an adapter rooted there (the dataset's endpoint says /beta).
        self._beta = GraphRequestAdapter(auth, http)
        self._beta.base_url = f"{self.settings.base_url.rstrip('/')}/beta"
        self._pool: dict[str, str] = {}  # per client, so per tenant: nothing shared across
        self._batching = True  # until the server shows it has no $batch
        self._exchange: ExchangeClient | None = None
        self.tenant_id: str | None = None  # set by the collector: the Exchange URLs name it

    def exchange(self) -> ExchangeClient:
        """The tenant's Exchange Online Admin API reader, made when a dataset first needs it:
        same credential, settings, counters and pacing as this client."""
        if self._exchange is None:
            if not self.tenant_id:
                raise ValueError("Exchange-bron zonder tenant-id")
            self._exchange = ExchangeClient(
                self.credential, self.settings, self.stats, self.pacer, self.tenant_id
            )
        return self._exchange

    def set_user_count(self, users: int) -> None:
        """The tenant's number of users: its size class for Graph's directory limit."""
        self.pacer.set_user_count(users)

    def time_in_line(self) -> float:
        """Seconds this tenant waited behind the app's other tenants (pacing.Pacer)."""
        return self.pacer.time_in_line()

    async def aclose(self) -> None:
        if self._exchange is not None:
            await self._exchange.aclose()
        await self._http.aclose()
        close = getattr(self.credential, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result

    # -- one request ---------------------------------------------------------------------------

    def _adapter(self, spec: DatasetSpec) -> GraphRequestAdapter:
        return self._beta if spec.api_version == "beta" else self.adapter

    async def _send(self, request_info: Any, adapter: GraphRequestAdapter) -> bytes:
        # kiota expands the URI template each time `url` is read, three times per request
        # (auth, the httpx request, us); expanded once it is kept as the URL.
        adapter.set_base_url_for_request_information(request_info)
        request_info.url = request_info.url
        raw = await adapter.send_primitive_async(request_info, "bytes", ERROR_MAP)
        if raw is None:
            raise MalformedResponse("leeg antwoord")
        return raw

    @staticmethod
    def _config(spec: DatasetSpec, builder: Any, first_page: bool) -> RequestConfiguration:
        config: RequestConfiguration = RequestConfiguration()
        if first_page:
            params = {}
            if spec.select:
                params["select"] = list(spec.select)
            if spec.expand:
                params["expand"] = list(spec.expand)
            if spec.top:
                params["top"] = spec.top
            if spec.filter:
                params["filter"] = spec.filter
            if params:
                query_class = next(
                    getattr(type(builder), n)
                    for n in dir(type(builder))
                    if n.endswith("GetQueryParameters")
                )
                config.query_parameters = query_class(**params)
        for name, value in spec.headers.items():
            config.headers.add(name, value)
        return config

    async def _collection(
        self, spec: DatasetSpec, builder: Any
    ) -> tuple[list[Any], int, int, _Rejects]:
        request = builder.to_get_request_information(self._config(spec, builder, True))
        adapter = self._adapter(spec)
        raw = await self._send(request, adapter)
        return await self._pages(spec, builder, request.url, raw)

    async def _pages(
        self, spec: DatasetSpec, builder: Any, url: str, raw: Any
    ) -> tuple[list[Any], int, int, _Rejects]:
        """The first page (read from `url`: its bytes, or a batch's parsed body) and every page
        its next links lead to: the items, the page count, how many items were dropped as
        repeats of an id read before, and the objects dropped for breaking their contract."""
        keys = _shared_keys(spec.item)
        adapter = self._adapter(spec)
        first = urlsplit(url)
        seen: set[str] = {url}
        items: list[Any] = []
        ids: set[str] = set()
        identity = _id_field(spec.item)
        rejects = _Rejects()
        dropped = 0
        pages = 0
        served = 0  # objects on the pages before this one: a nameless object's place
        while True:
            pages += 1
            page, refused, count, refusal = _read_page(spec.item, raw, served, identity)
            del raw
            served += count
            if refused:
                rejects.add(refused)
                rejects.refusal = rejects.refusal or refusal
            fresh, repeats = _first_of_each_id(page["value"], ids, identity)
            dropped += repeats
            items.extend(self._shared(fresh, keys))
            if self.on_page:
                self.on_page(spec.name, pages, len(items))
            next_link = page.get("@odata.nextLink")
            if not next_link or (spec.max_pages and pages >= spec.max_pages):
                return items, pages, dropped, rejects
            _check_next_link(next_link, first, seen)
            if pages >= self.settings.max_pages:
                cap = self.settings.max_pages
                raise MalformedResponse(f"meer dan {cap} pagina's; gestopt (max_pages)")
            seen.add(next_link)
            builder = builder.with_url(next_link)
            request = builder.to_get_request_information(self._config(spec, builder, False))
            raw = await self._send(request, adapter)

    def _shared(self, items: list[Any], keys: tuple[str, ...]) -> list[Any]:
        """Let an id that recurs across datasets (a user's in users, registration details,
        sign-in activity, group members) be one string object: a 100,000-user snapshot then
        fits in far less memory. Values that repeat within a page (user types, SKU ids, method
        names) pydantic's own string cache already hands out as one object. `keys`: those of
        _SHARED_KEYS the item's shape has (no lookups for fields it cannot hold)."""
        share = self._pool.setdefault
        for key in keys:
            for item in items:
                value = item.get(key)
                if value.__class__ is str:
                    item[key] = share(value, value)
        return items

    async def _object(self, spec: DatasetSpec, builder: Any) -> Any:
        request = builder.to_get_request_information(self._config(spec, builder, True))
        raw = await self._send(request, self._adapter(spec))
        return _object_validator(spec.item).validate_json(raw)

    # -- datasets ------------------------------------------------------------------------------

    async def read(self, spec: DatasetSpec, builder: Any) -> tuple[Outcome, Any, int]:
        """Read one endpoint (all pages). Returns the outcome, the data and the page count."""
        try:
            if not spec.collection:
                return Outcome(DatasetStatus.OK), await self._object(spec, builder), 1
            data, pages, dropped, rejects = await self._collection(spec, builder)
            return _read_outcome(dropped, rejects), data, pages
        except ClientAuthenticationError as exc:
            raise AuthError(_auth_message(exc)) from None
        except Exception as exc:  # every other failure is recorded on the dataset
            return classify(exc), None, 0

    async def dataset(self, spec: DatasetSpec) -> Dataset:
        outcome, data, pages = await self.read(spec, spec.builder(self.sdk))
        if outcome.rejected and not data:
            outcome, data = _nothing_kept(outcome), None
        return _dataset(spec, outcome, data, pages)

    async def fan_out(self, spec: DatasetSpec, keys: list[str]) -> Dataset:
        """Read every key. Complete only when every key was read: a key that failed (404
        included: a deleted group, a partner's group) is listed in `unread_keys` and the dataset
        is `incomplete`, so no check judges role holders or CA coverage on part of the members."""
        assert spec.key_builder is not None
        size = min(self.settings.batch_size, BATCH_MAX)
        if size > 1 and len(keys) > 1 and self._batching and spec.collection:
            chunks = [keys[i : i + size] for i in range(0, len(keys), size)]
            # The first batch alone: it shows whether the server has $batch at all.
            read = await self._safe_batch(spec, chunks[0])
            for part in await asyncio.gather(*(self._safe_batch(spec, c) for c in chunks[1:])):
                read.update(part)
            results = [read[key] for key in keys]
        else:
            results = await asyncio.gather(
                *(self.read(keyed(spec, key), spec.key_builder(self.sdk, key)) for key in keys)
            )
        data: dict[str, Any] = {}
        pages = dropped = 0
        failed: list[tuple[str, Outcome]] = []
        rejects = _Rejects()
        for key, (outcome, items, n) in zip(keys, results, strict=True):
            pages += n
            dropped += outcome.duplicates
            if outcome.status is DatasetStatus.OK:
                data[key] = items
            elif outcome.status is DatasetStatus.NOT_FOUND and outcome.error_code in (
                spec.absent_codes
            ):
                continue  # nothing to read under this key (a user without a mailbox)
            else:
                failed.append((key, outcome))
            if outcome.rejected:
                # A key of which an object broke its contract is not read whole: it is unread
                # (checks take the keys in `data` as read in full), and its refused objects
                # are named under it ("key/id: reason").
                rejects.count += outcome.rejected - len(outcome.rejected_listed)
                rejects.add([f"{key}/{entry}" for entry in outcome.rejected_listed])
        if not failed:
            return _dataset(spec, Outcome(DatasetStatus.OK, duplicates=dropped), data, pages)
        unread = sorted(k for k, _ in failed)
        kept = bool(data) or any(items for _, items, _ in results)
        if rejects.count and not kept:
            # Not one object of any key kept its contract: the answers are broken, not one
            # object (`_nothing_kept`).
            broken = Outcome(DatasetStatus.INCOMPLETE, rejected=rejects.count)
            broken.rejected_listed = rejects.listed
            broken.refusal = next((o.refusal for o, _, _ in results if o.refusal), None)
            result = _dataset(spec, _nothing_kept(broken), None, pages)
            result.unread_keys = unread
            return result
        partial = (DatasetStatus.NOT_FOUND, DatasetStatus.INCOMPLETE)
        refused = [(k, o) for k, o in failed if o.status not in partial]
        if refused:
            # No permission, throttled, an error: the dataset says that, as a plain read would.
            result = _dataset(spec, refused[0][1], None, pages)
            result.unread_keys = unread
            result.rejected, result.rejected_objects = rejects.listed, rejects.count
            return result
        key, first = failed[0]
        why = "niet gevonden" if first.status is DatasetStatus.NOT_FOUND else "object afgewezen"
        outcome = Outcome(
            DatasetStatus.INCOMPLETE,
            first.http_status,
            first.error_code,
            f"{len(failed)} van {len(keys)} niet gelezen ({why}); eerste: {key}",
            duplicates=dropped,
            rejected=rejects.count,
            rejected_listed=rejects.listed,
        )
        result = _dataset(spec, outcome, data, pages)
        result.unread_keys = unread
        return result

    # -- JSON batching -------------------------------------------------------------------------

    async def _safe_batch(
        self, spec: DatasetSpec, keys: list[str]
    ) -> dict[str, tuple[Outcome, Any, int]]:
        """`_batch`, whose every failure but sign-in is its keys' outcome: one batch's surprise
        must not take the other batches, the dataset or the scan with it."""
        try:
            return await self._batch(spec, keys)
        except AuthError:
            raise
        except Exception as exc:
            outcome = classify(exc)
            return {key: (outcome, None, 0) for key in keys}

    async def _batch(
        self, spec: DatasetSpec, keys: list[str]
    ) -> dict[str, tuple[Outcome, Any, int]]:
        """Read up to 20 keys in one `POST $batch` (learn.microsoft.com/graph/json-batching).
        Each inner request is the one `read` would send (same request builder and query) and
        is paced and judged on its own: 200 is read (further pages by plain GETs), 429/503/504
        are sent again (only those, after their Retry-After), anything else is that key's
        outcome. A batch answer that cannot be matched to its requests is malformed for every
        key it should have answered; nothing of it counts as read."""
        assert spec.key_builder is not None
        s = self.settings
        adapter = self._adapter(spec)
        root = adapter.base_url.rstrip("/")
        pending: dict[str, _Inner] = {}
        for i, (key, url) in enumerate(self._key_urls(spec, keys, adapter)):
            pending[str(i + 1)] = _Inner(key, url, url[len(root) :])
        if not self._batching or not all(i.url.startswith(root + "/") for i in pending.values()):
            # No $batch on this server (an earlier batch found out), or a URL the batch cannot
            # name relative to its root: one GET per key, as before.
            reads = await asyncio.gather(
                *(
                    self.read(keyed(spec, i.key), spec.key_builder(self.sdk, i.key))
                    for i in pending.values()
                )
            )
            return {i.key: r for i, r in zip(pending.values(), reads, strict=True)}
        headers = dict(spec.headers)
        if s.throttle_priority:
            headers["x-ms-throttle-priority"] = s.throttle_priority
        done: dict[str, tuple[Outcome, Any, int]] = {}
        attempt = 0
        while pending:
            # The batch waits for and takes its inner requests' tokens on the wire (`_Wire`);
            # here each one's charge, to read its own answer's signals against.
            # Every key's request has the same path shape and query, so the same charge.
            first = next(iter(pending.values()))
            charge = self.pacer.costs("GET", first.url)
            charged = dict.fromkeys(pending, charge)
            body = json.dumps(
                {
                    "requests": [
                        {"id": rid, "method": "GET", "url": inner.relative, "headers": headers}
                        for rid, inner in pending.items()
                    ]
                }
            ).encode()
            try:
                answers = await self._post_batch(adapter, root, body, set(pending))
            except ClientAuthenticationError as exc:
                raise AuthError(_auth_message(exc)) from None
            except APIError as exc:
                if exc.response_status_code in (404, 405, 501) and not done and attempt == 0:
                    # No $batch here (a proxy, a simulator): one GET per key, as before.
                    self._batching = False
                    reads = await asyncio.gather(
                        *(
                            self.read(keyed(spec, inner.key), spec.key_builder(self.sdk, inner.key))
                            for inner in pending.values()
                        )
                    )
                    return {i.key: r for i, r in zip(pending.values(), reads, strict=True)}
                outcome = classify(exc)
                return done | {inner.key: (outcome, None, 0) for inner in pending.values()}
            except Exception as exc:  # malformed, too large, connection: every key alike
                outcome = classify(exc)
                return done | {inner.key: (outcome, None, 0) for inner in pending.values()}
            self.stats.batched_requests += len(pending)
            retry: dict[str, _Inner] = {}
            wait = 0.0
            for rid, inner in pending.items():
                answer = answers[rid]
                status = answer["status"]
                headers = answer["headers"]
                asked = retry_after_seconds(headers.get("retry-after"), headers.get("date"))
                if status == 429:
                    self.stats.throttled_responses += 1
                else:
                    self.pacer.observe(charged[rid], status, headers)
                if status in RETRY_STATUSES and attempt < s.max_retries:
                    if asked is not None and asked > s.wait_bound():
                        done[inner.key] = (classify(WaitTooLong(status, asked)), None, 0)
                        continue
                    paused = status == 429 and self.pacer.throttled(charged[rid], asked)
                    if not paused:
                        wait = max(wait, asked if asked is not None else self._backoff(attempt))
                    retry[rid] = inner
                    continue
                if status == 429 and (asked is None or asked <= s.wait_bound()):
                    self.pacer.throttled(charged[rid], asked)
                done[inner.key] = await self._inner_result(spec, inner, status, answer["body"])
            del answers
            if retry:
                attempt += 1
                self.stats.retries += len(retry)
                if wait:
                    await asyncio.sleep(wait)
            pending = retry
        return done

    def _key_urls(
        self, spec: DatasetSpec, keys: list[str], adapter: GraphRequestAdapter
    ) -> list[tuple[str, str]]:
        """The URL a plain GET would send for each key. The SDK's request builders expand a
        URI template per request (measured: most of a fan-out's client CPU), so they build one
        URL with a placeholder key, and plain keys (ids) take its place; any other key goes
        through the builder itself."""
        assert spec.key_builder is not None

        def built(key: str) -> str:
            builder = spec.key_builder(self.sdk, key)  # type: ignore[misc]
            info = builder.to_get_request_information(self._config(keyed(spec, key), builder, True))
            adapter.set_base_url_for_request_information(info)
            return str(info.url)

        template = built(_KEY_SLOT)
        head, slot, tail = template.partition(_KEY_SLOT)
        usable = slot and _KEY_SLOT not in tail
        return [
            (key, f"{head}{key}{tail}" if usable and _PLAIN_KEY.match(key) else built(key))
            for key in keys
        ]

    def _backoff(self, attempt: int) -> float:
        s = self.settings
        wait = s.backoff_seconds * 2**attempt
        return min(s.backoff_max_seconds, wait + random.uniform(0, s.jitter_seconds))

    async def _post_batch(
        self, adapter: GraphRequestAdapter, root: str, body: bytes, ids: set[str]
    ) -> dict[str, dict[str, Any]]:
        """Send one batch; its answers by request id, each exactly once, or MalformedResponse."""
        info = RequestInformation(Method.POST)
        info.url = f"{root}/$batch"
        info.headers.try_add("Accept", "application/json")
        info.set_stream_content(body, "application/json")
        answer_date: dict[str, str | None] = {}
        token = _ANSWER_DATE.set(answer_date)
        try:
            raw = await self._send(info, adapter)
        finally:
            _ANSWER_DATE.reset(token)
        responses = _BATCH_RESPONSE.validate_json(raw)["responses"]
        del raw
        answers: dict[str, dict[str, Any]] = {}
        for r in responses:
            rid = r["id"]
            if rid not in ids:
                raise MalformedResponse(f"batch: antwoord op onbekend verzoek {rid!r}")
            if rid in answers:
                raise MalformedResponse(f"batch: twee antwoorden op verzoek {rid!r}")
            headers = {str(k).lower(): str(v) for k, v in (r.get("headers") or {}).items()}
            # An inner answer's Retry-After date is reckoned against its own Date, else the
            # batch answer's (Graph sends Date on the batch, not on each inner answer).
            if "date" not in headers and answer_date.get("date"):
                headers["date"] = str(answer_date["date"])
            answers[rid] = {"status": r["status"], "headers": headers, "body": r.get("body")}
        missing = ids - set(answers)
        if missing:
            raise MalformedResponse(f"batch: geen antwoord op verzoek {sorted(missing)[0]!r}")
        return answers

    async def _inner_result(
        self, spec: DatasetSpec, inner: _Inner, status: int, body: Any
    ) -> tuple[Outcome, Any, int]:
        """One inner answer as `read` would have judged the same answer to a plain GET."""
        if status == 200:
            try:
                if not isinstance(body, dict):
                    raise MalformedResponse("batch: antwoord zonder JSON-object")
                builder = spec.key_builder(self.sdk, _KEY_SLOT)  # only for its next links
                items, pages, dropped, rejects = await self._pages(spec, builder, inner.url, body)
            except ClientAuthenticationError as exc:
                raise AuthError(_auth_message(exc)) from None
            except Exception as exc:
                return classify(exc), None, 0
            return _read_outcome(dropped, rejects), items, pages
        error = body.get("error") if isinstance(body, dict) else None
        code = message = None
        if isinstance(error, dict):
            code = error.get("code") if isinstance(error.get("code"), str) else None
            message = error.get("message") if isinstance(error.get("message"), str) else None
        if 300 <= status < 400:
            return (
                Outcome(DatasetStatus.ERROR, status, "redirect", "doorverwijzing in batch"),
                None,
                0,
            )
        if 200 <= status < 300:  # another success than the 200 a list read answers
            kind = DatasetStatus.MALFORMED
            code, message = "malformed_response", f"onleesbaar antwoord: status {status}"
        else:
            kind = _error_kind(status, code)
        return Outcome(kind, status, code, message), None, 0


# Fields whose values recur across datasets (`GraphClient._shared`).
_SHARED_KEYS = ("id", "principalId")


@functools.cache
def _shared_keys(item: type) -> tuple[str, ...]:
    """The _SHARED_KEYS an item's shape (a TypedDict, or plain dict) can hold."""
    fields = getattr(item, "__annotations__", None)
    if fields is None:  # a plain dict: any key may be there
        return _SHARED_KEYS
    return tuple(k for k in _SHARED_KEYS if k in fields)


_VALIDATORS: dict[tuple[str, type], TypeAdapter[Any]] = {}


def _page_validator(item: type) -> TypeAdapter[Any]:
    key = ("page", item)
    if key not in _VALIDATORS:
        _VALIDATORS[key] = page_adapter(item)
    return _VALIDATORS[key]


def _object_validator(item: type) -> TypeAdapter[Any]:
    key = ("object", item)
    if key not in _VALIDATORS:
        _VALIDATORS[key] = object_adapter(item)
    return _VALIDATORS[key]


def _read_page(
    item: type, raw: Any, served: int, identity: str
) -> tuple[Any, list[str], int, str | None]:
    """One collection page (bytes as Graph sent them, or a batch's parsed inner body) of
    `item` objects: the page, the objects refused ("id: reason"), how many objects it held,
    and what the page's contract said of it. A page whose envelope breaks its contract (not
    JSON, no `value` list, too many objects, a next link that is no string) is refused whole
    (ValidationError); an object that breaks its own contract (a wrong type, a 300 kB name, a
    required property missing) is dropped alone, named by its id (`identity`) or else by its
    place in the collection (`served` objects came before this page), and the others are kept.
    A whole page is checked in one go first: every page that keeps its contract costs what it
    did."""
    as_json = isinstance(raw, bytes | bytearray | memoryview)
    validator = _page_validator(item)
    try:
        page = validator.validate_json(raw) if as_json else validator.validate_python(raw)
        return page, [], len(page["value"]), None
    except ValidationError as whole:
        try:
            page = ENVELOPE.validate_json(raw) if as_json else ENVELOPE.validate_python(raw)
        except ValidationError:
            raise whole from None
        one = _object_validator(item)
        kept: list[Any] = []
        refused: list[str] = []
        for place, obj in enumerate(page["value"], start=served + 1):
            try:
                # JSON mode for what came as JSON: judged as it would be inside its page.
                judged = one.validate_json(to_json(obj)) if as_json else one.validate_python(obj)
                kept.append(judged)
            except ValidationError as exc:
                refused.append(f"{_object_name(obj, identity, place)}: {_first(exc)}")
        if not refused:  # the page broke its contract some other way than by one object
            raise whole from None
        count = len(page["value"])
        page["value"] = kept
        return page, refused, count, _first(whole)


def _nothing_kept(outcome: Outcome) -> Outcome:
    """A read of which objects were refused and none kept: not one object breaking its
    contract but the answer (a proxy's, an API changed under us), malformed as a whole. The
    refused objects stay named in the evidence."""
    first = outcome.refusal or (outcome.rejected_listed or [""])[0]
    return Outcome(
        DatasetStatus.MALFORMED,
        None,
        "malformed_response",
        f"onleesbaar antwoord: {first}",
        duplicates=outcome.duplicates,
        rejected=outcome.rejected,
        rejected_listed=outcome.rejected_listed,
    )


def _object_name(obj: Any, identity: str, place: int) -> str:
    """How an object refused is named in the evidence: its id, else its place ("#3")."""
    key = obj.get(identity) if isinstance(obj, dict) else None
    if isinstance(key, str) and 0 < len(key) <= _MAX_NAMED_ID and key.isprintable():
        return key
    return f"#{place}"


def _read_outcome(duplicates: int, rejects: _Rejects) -> Outcome:
    """A collection read whole (ok), or with objects refused for breaking their contract:
    incomplete, the others kept, the refused ones named."""
    if not rejects.count:
        return Outcome(DatasetStatus.OK, duplicates=duplicates)
    first = rejects.listed[0] if rejects.listed else ""
    return Outcome(
        DatasetStatus.INCOMPLETE,
        None,
        "objects_rejected",
        f"{rejects.count} object(en) afgewezen (contract); eerste: {first}",
        duplicates=duplicates,
        rejected=rejects.count,
        rejected_listed=rejects.listed,
        refusal=rejects.refusal,
    )


def _check_next_link(link: str, first: Any, seen: set[str]) -> None:
    """A next link continues the same request: same scheme, host and path, never seen before.
    Anything else is not Graph paging (and would carry our token elsewhere, or loop)."""
    url = urlsplit(link)
    if (url.scheme, url.netloc) != (first.scheme, first.netloc):
        # Never follow (or send our token) to a host we did not ask.
        raise MalformedResponse(f"nextLink wijst naar een andere host: {url.netloc or link!r}")
    if url.path.rstrip("/").lower() != first.path.rstrip("/").lower():
        raise MalformedResponse(f"nextLink wijst naar een ander pad: {url.path!r}")
    if link in seen:
        raise MalformedResponse("nextLink herhaalt een eerdere pagina")


def endpoint(spec: DatasetSpec) -> str:
    if spec.source == "exchange":
        return exchange_endpoint(spec)
    query = []
    if spec.select:
        query.append("$select=" + ",".join(spec.select))
    if spec.expand:
        query.append("$expand=" + ",".join(spec.expand))
    if spec.top:
        query.append(f"$top={spec.top}")
    if spec.filter:
        query.append(f"$filter={spec.filter}")
    suffix = ("?" + "&".join(query)) if query else ""
    return f"GET /{spec.api_version}{spec.path}{suffix}"


@functools.cache
def _id_field(item: type) -> str:
    """What identifies an item: its `id`, or for a shape that keeps none (subscribedSkus:
    the licence's `skuId`) that."""
    fields = getattr(item, "__annotations__", None)
    if fields is None or "id" in fields:
        return "id"
    return "skuId" if "skuId" in fields else "id"


def _first_of_each_id(
    items: list[Any], ids: set[str], identity: str = "id"
) -> tuple[list[Any], int]:
    """The items whose id (`identity`) was not seen before (in `ids`, which this adds to),
    and how many were. Graph pages a collection by a cursor; a page served twice (a proxy's
    retry, a replica behind) would count every device or account on it twice. The first is
    kept. Items without a string id are all kept."""
    fresh: list[Any] = []
    repeats = 0
    for item in items:
        key = item.get(identity) if isinstance(item, dict) else None
        if key.__class__ is str:
            if key in ids:
                repeats += 1
                continue
            ids.add(key)
        fresh.append(item)
    return (items, 0) if not repeats else (fresh, repeats)


def _dataset(spec: DatasetSpec, outcome: Outcome, data: Any, pages: int) -> Dataset:
    return Dataset(
        status=outcome.status,
        endpoint=endpoint(spec),
        permission=spec.permission,
        http_status=outcome.http_status,
        error_code=outcome.error_code,
        error_message=outcome.error_message,
        pages=pages,
        duplicates_dropped=outcome.duplicates,
        rejected=outcome.rejected_listed,
        rejected_objects=outcome.rejected,
        data=data,
    )


def classify(exc: Exception) -> Outcome:
    """Turn a failed read into a dataset status with Graph's own code and message."""
    if isinstance(exc, APIError):
        status = exc.response_status_code
        code = message = None
        error = getattr(exc, "error", None)
        if error is not None:
            code, message = error.code, error.message
        elif exc.message:
            message = str(exc.message)
        return Outcome(_error_kind(status, code), status, code, message)
    if isinstance(exc, WaitTooLong):
        kind = DatasetStatus.THROTTLED if exc.status == 429 else DatasetStatus.ERROR
        return Outcome(kind, exc.status, "retry_after_too_long", str(exc))
    if isinstance(exc, Redirected):
        return Outcome(DatasetStatus.ERROR, exc.status, "redirect", str(exc))
    if isinstance(exc, TooSlow):
        return Outcome(DatasetStatus.ERROR, None, "timeout", str(exc))
    if isinstance(exc, httpx.TimeoutException):
        return Outcome(DatasetStatus.ERROR, None, "timeout", "Graph antwoordde niet op tijd")
    if isinstance(exc, httpx.TransportError):
        return Outcome(DatasetStatus.ERROR, None, "connection", f"verbindingsfout: {exc}")
    if isinstance(exc, ValidationError):
        detail = _first(exc)
        return Outcome(
            DatasetStatus.MALFORMED, None, "malformed_response", f"onleesbaar antwoord: {detail}"
        )
    if isinstance(exc, json.JSONDecodeError | MalformedResponse | TooLarge | UnicodeError):
        return Outcome(
            DatasetStatus.MALFORMED, None, "malformed_response", f"onleesbaar antwoord: {exc}"
        )
    return Outcome(DatasetStatus.ERROR, None, type(exc).__name__, str(exc))


def _error_kind(status: int | None, code: str | None) -> DatasetStatus:
    if code in LICENCE_ERROR_CODES:
        return DatasetStatus.NOT_LICENSED
    if status == 403:
        return DatasetStatus.FORBIDDEN
    if status == 404:
        return DatasetStatus.NOT_FOUND
    if status == 429:
        return DatasetStatus.THROTTLED
    return DatasetStatus.ERROR


def _first(exc: ValidationError) -> str:
    """The first contract violation, named by its place: 'value.0.id: Field required'."""
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]


def _auth_message(exc: ClientAuthenticationError) -> str:
    text = str(exc.message or exc)
    for code, hint in (
        ("AADSTS7000222", "het clientgeheim is verlopen; maak een nieuw geheim aan"),
        ("AADSTS7000215", "het clientgeheim is onjuist"),
        ("AADSTS700016", "de app is niet gevonden in deze tenant: is admin consent gegeven?"),
        ("AADSTS90002", "de tenant bestaat niet; controleer de tenant-id"),
        ("AADSTS700027", "het certificaat hoort niet bij de app of is verlopen"),
    ):
        if code in text:
            return f"Aanmelden mislukt: {hint} ({code})."
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"Aanmelden mislukt: {first}"
