"""The Graph client: msgraph-sdk's pipeline (auth, retries, telemetry) with raw-bytes transfer.

Requests are built with the SDK's request builders and sent through its request adapter as raw
bytes; pages are then validated by pydantic into plain dicts holding only the fields we keep.
The SDK's typed models cost milliseconds per object, this path microseconds (benchmarks/).
Every endpoint's outcome becomes a `Dataset` with a status; errors are recorded, not raised,
except authentication failures, which no other endpoint would survive either.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from azure.core.exceptions import ClientAuthenticationError
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import BaseMiddleware, RetryHandler
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_core import GraphClientFactory
from pydantic import TypeAdapter, ValidationError

from m365apk.errors import AuthError
from m365apk.scanner.datasets import DatasetSpec
from m365apk.scanner.graph_models import page_adapter
from m365apk.snapshot import CollectionStats, Dataset, DatasetStatus

GRAPH_URL = "https://graph.microsoft.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
ERROR_MAP: dict[str, Any] = {"XXX": ODataError}

# Graph's answers when the tenant lacks the licence an endpoint needs (graph-reference §0.1).
LICENCE_ERROR_CODES = {
    "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
    "AadPremiumLicenseRequired",
}


@dataclass
class GraphSettings:
    base_url: str = GRAPH_URL
    timeout_seconds: float = 60.0
    max_concurrency: int = 4  # per tenant; Graph throttles per app per tenant
    max_retries: int = 6
    backoff_seconds: float = 2.0  # first wait when Graph sends no Retry-After; doubles
    backoff_max_seconds: float = 60.0
    jitter_seconds: float = 1.0
    # DNS server (IP[:port]) for the e-mail domain records; None: the system resolver, which is
    # only asked when scanning the real Graph (a simulated tenant's domains are not public).
    dns_server: str | None = None
    # The opt-in audit log probe (only when its check is selected): polling bounds, in seconds.
    audit_probe_poll_seconds: float = 10.0
    audit_probe_wait_seconds: float = 300.0


class _Backoff(RetryHandler):
    """Kiota's retry handler (429/503/504, honours Retry-After) with our backoff for answers
    without Retry-After, such as conditional access 429s."""

    def __init__(self, settings: GraphSettings) -> None:
        super().__init__(RetryHandlerOption(delay=0, max_retries=settings.max_retries))
        self._settings = settings

    def _get_delay_time_exp_backoff(self, retry_count: int, delay: float) -> float:
        s = self._settings
        wait = s.backoff_seconds * 2 ** max(retry_count - 1, 0)
        return min(s.backoff_max_seconds, wait + random.uniform(0, s.jitter_seconds))


class _Counter(BaseMiddleware):
    """Innermost middleware: sees every HTTP attempt, retries included."""

    def __init__(self, stats: CollectionStats) -> None:
        super().__init__()
        self.stats = stats

    async def send(
        self, request: httpx.Request, transport: httpx.AsyncBaseTransport
    ) -> httpx.Response:
        self.stats.http_requests += 1
        if "Retry-Attempt" in request.headers:
            self.stats.retries += 1
        response = await super().send(request, transport)
        if response.status_code == 429:
            self.stats.throttled_responses += 1
        return response


@dataclass
class Outcome:
    status: DatasetStatus
    http_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None


class MalformedResponse(Exception):
    pass


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
        middleware = [
            _Backoff(self.settings) if isinstance(m, RetryHandler) else m
            for m in KiotaClientFactory.get_default_middleware(None)
        ] + [_Counter(self.stats)]
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.timeout_seconds),
            limits=httpx.Limits(max_connections=self.settings.max_concurrency * 2),
        )
        GraphClientFactory.create_with_custom_middleware(middleware, client=http)
        self._http = http
        self.adapter = GraphRequestAdapter(auth, http)
        self.adapter.base_url = f"{self.settings.base_url.rstrip('/')}/v1.0"
        self.sdk = GraphServiceClient(request_adapter=self.adapter)
        self._gate = asyncio.Semaphore(self.settings.max_concurrency)
        self._host = urlsplit(self.settings.base_url).netloc
        self._pool: dict[str, str] = {}  # per client, so per tenant: nothing shared across

    async def aclose(self) -> None:
        await self._http.aclose()
        close = getattr(self.credential, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result

    # -- one request ---------------------------------------------------------------------------

    async def _send(self, request_info: Any) -> bytes:
        async with self._gate:
            raw = await self.adapter.send_primitive_async(request_info, "bytes", ERROR_MAP)
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

    async def _collection(self, spec: DatasetSpec, builder: Any) -> tuple[list[Any], int]:
        validator = _page_validator(spec.item)
        items: list[Any] = []
        pages = 0
        request = builder.to_get_request_information(self._config(spec, builder, True))
        while True:
            raw = await self._send(request)
            page = validator.validate_json(raw)
            pages += 1
            items.extend(self._shared(page["value"]))
            if self.on_page:
                self.on_page(spec.name, pages, len(items))
            next_link = page.get("@odata.nextLink")
            if not next_link or (spec.max_pages and pages >= spec.max_pages):
                return items, pages
            if urlsplit(next_link).netloc != self._host:
                # Never follow (or send our token) to a host we did not ask.
                raise MalformedResponse(f"nextLink wijst naar een andere host: {next_link!r}")
            builder = builder.with_url(next_link)
            request = builder.to_get_request_information(self._config(spec, builder, False))

    def _shared(self, items: list[Any]) -> list[Any]:
        """Let equal strings that repeat across objects and datasets (ids, user types, SKU ids,
        method names) be one object: a 100,000-user snapshot then fits in far less memory."""
        pool = self._pool
        for item in items:
            for key, value in item.items():
                if key in _SHARED_KEYS:
                    if isinstance(value, str):
                        item[key] = pool.setdefault(value, value)
                    elif isinstance(value, list):
                        item[key] = [
                            pool.setdefault(v, v) if isinstance(v, str) else _share_dict(v, pool)
                            for v in value
                        ]
        return items

    async def _object(self, spec: DatasetSpec, builder: Any) -> Any:
        request = builder.to_get_request_information(self._config(spec, builder, True))
        return _object_validator(spec.item).validate_json(await self._send(request))

    # -- datasets ------------------------------------------------------------------------------

    async def read(self, spec: DatasetSpec, builder: Any) -> tuple[Outcome, Any, int]:
        """Read one endpoint (all pages). Returns the outcome, the data and the page count."""
        try:
            if spec.collection:
                data, pages = await self._collection(spec, builder)
            else:
                data, pages = await self._object(spec, builder), 1
            return Outcome(DatasetStatus.OK), data, pages
        except ClientAuthenticationError as exc:
            raise AuthError(_auth_message(exc)) from None
        except Exception as exc:  # every other failure is recorded on the dataset
            return classify(exc), None, 0

    async def dataset(self, spec: DatasetSpec) -> Dataset:
        outcome, data, pages = await self.read(spec, spec.builder(self.sdk))
        return _dataset(spec, outcome, data, pages)

    async def fan_out(self, spec: DatasetSpec, keys: list[str]) -> Dataset:
        assert spec.key_builder is not None
        results = await asyncio.gather(
            *(self.read(spec, spec.key_builder(self.sdk, key)) for key in keys)
        )
        data: dict[str, Any] = {}
        pages = 0
        for key, (outcome, items, n) in zip(keys, results, strict=True):
            pages += n
            if outcome.status is DatasetStatus.OK:
                data[key] = items
            elif outcome.status is not DatasetStatus.NOT_FOUND:
                # One failure (403, throttling) means the set is incomplete: say so.
                return _dataset(spec, outcome, None, pages)
            # 404: a deleted object or a partner (GDAP) group; checks treat it as unread.
        return _dataset(spec, Outcome(DatasetStatus.OK), data, pages)


# Fields whose values repeat across many objects or datasets.
_SHARED_KEYS = frozenset(
    {
        "id",
        "userType",
        "assignedLicenses",
        "methodsRegistered",
        "systemPreferredAuthenticationMethods",
        "userPreferredMethodForSecondaryAuthentication",
        "lastUpdatedDateTime",
        "@odata.type",
        "roleDefinitionId",
        "principalId",
        "operatingSystem",
        "osVersion",
        "complianceState",
    }
)


def _share_dict(value: Any, pool: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: pool.setdefault(v, v) if isinstance(v, str) else v for k, v in value.items()}
    return value


_VALIDATORS: dict[tuple[str, type], TypeAdapter[Any]] = {}


def _page_validator(item: type) -> TypeAdapter[Any]:
    key = ("page", item)
    if key not in _VALIDATORS:
        _VALIDATORS[key] = page_adapter(item)
    return _VALIDATORS[key]


def _object_validator(item: type) -> TypeAdapter[Any]:
    key = ("object", item)
    if key not in _VALIDATORS:
        _VALIDATORS[key] = TypeAdapter(item)
    return _VALIDATORS[key]


def endpoint(spec: DatasetSpec) -> str:
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


def _dataset(spec: DatasetSpec, outcome: Outcome, data: Any, pages: int) -> Dataset:
    return Dataset(
        status=outcome.status,
        endpoint=endpoint(spec),
        permission=spec.permission,
        http_status=outcome.http_status,
        error_code=outcome.error_code,
        error_message=outcome.error_message,
        pages=pages,
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
        if code in LICENCE_ERROR_CODES:
            kind = DatasetStatus.NOT_LICENSED
        elif status == 403:
            kind = DatasetStatus.FORBIDDEN
        elif status == 404:
            kind = DatasetStatus.NOT_FOUND
        elif status == 429:
            kind = DatasetStatus.THROTTLED
        else:
            kind = DatasetStatus.ERROR
        return Outcome(kind, status, code, message)
    if isinstance(exc, httpx.TimeoutException):
        return Outcome(DatasetStatus.ERROR, None, "timeout", "Graph antwoordde niet op tijd")
    if isinstance(exc, httpx.TransportError):
        return Outcome(DatasetStatus.ERROR, None, "connection", f"verbindingsfout: {exc}")
    if isinstance(exc, ValidationError | json.JSONDecodeError | MalformedResponse):
        detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        return Outcome(
            DatasetStatus.ERROR, None, "malformed_response", f"onleesbaar antwoord: {detail}"
        )
    return Outcome(DatasetStatus.ERROR, None, type(exc).__name__, str(exc))


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
