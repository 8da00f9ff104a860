"""Exchange Online, read without PowerShell: the Exchange Online Admin API (public preview).

What Microsoft documents (read 2026-12, each page "Preview, not available in all organizations,
subject to change"):

* Overview: https://learn.microsoft.com/exchange/reference/admin-api-overview - a REST surface
  of a few Exchange cmdlets as POST-only endpoints.
* Get started: https://learn.microsoft.com/exchange/reference/admin-api-get-started -
  ``POST <BaseUrl>/adminapi/v2.0/<TenantID>/<EndpointName>`` with the base URL per cloud
  (Microsoft 365 and GCC https://outlook.office365.com, 21Vianet https://outlook.office365.cn,
  GCC High https://outlook.office365.us, DoD https://outlook-dod.office365.us); the body is a
  ``{"CmdletInput": {"CmdletName": ..., "Parameters": {...}}}`` envelope; large results come in
  pages with ``@odata.nextLink`` (the next page is the same POST, same body, to that link);
  ``$select`` on the URL chooses the properties; ``X-AnchorMailbox`` routes the request.
* Authentication: https://learn.microsoft.com/exchange/reference/admin-api-authentication -
  app-only: application permission ``Exchange.ManageAsAppV2`` on "Office 365 Exchange Online"
  with admin consent, a token for ``https://outlook.office365.com/.default``, and an Exchange
  RBAC role for the app's service principal ("Without the appropriate RBAC role assignments,
  even valid tokens fail with the error: 403 Forbidden"); per endpoint: OrganizationConfig and
  AcceptedDomain need "View-Only Organization Management", Mailbox, MailboxFolderPermission and
  the group member endpoints "Recipient Management".
* Endpoints: https://learn.microsoft.com/exchange/reference/admin-api-endpoints-reference and
  its pages, e.g. .../admin-api-endpoints-organization-config (one object, no paging, no
  parameters; "Any other cmdlet in the body of this endpoint results in an error") and
  .../admin-api-endpoints-mailbox (Get-Mailbox with Identity, ResultSize,
  IncludeGrantSendOnBehalfToWithDisplayNames).

``X-AnchorMailbox`` for app-only calls that target no one mailbox: the organisation's system
mailbox, ``APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@<TenantID>`` (the same
GUID in every organisation), as the get-started page's routing section and the public clients
built on it use it.

What Microsoft does not document: the answer of an organisation where the preview is not
switched on. We read it as "not available" (dataset status ``not_available``) when the first
page of a documented endpoint answers 404 (the endpoint does not exist there), or when an error
says the API or feature is not available or not enabled; the checks are then unknown with that
reason and the handmatige controlepunten remain. A 401 or 403 is "forbidden" with what settles
it (the permission, admin consent, the RBAC role).

Pacing: Microsoft documents no rate limit for the Admin API, so no bucket paces it ahead
(scanner/pacing.py classifies no /adminapi path); a 429 or 503 is waited out and retried with
Retry-After or backoff exactly as for Graph (the same `_Retry` middleware), and what is still
throttled after every retry is `throttled`.

Read-only by construction: the client can only send the Get- cmdlets of `ALLOWED_CMDLETS`, with
the parameters listed there; anything else raises `CmdletRefused` before a token is asked or a
byte is sent (tests/test_exchange.py).
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NotRequired
from urllib.parse import quote, urlsplit

import httpx
from azure.core.exceptions import ClientAuthenticationError
from kiota_http.middleware.middleware import REQUEST_OPTIONS_KEY
from msgraph_core import GraphClientFactory
from pydantic import ConfigDict, with_config
from pydantic_core import to_json
from typing_extensions import TypedDict

from m365apk.scanner.tls import ssl_context
from m365apk.snapshot import CollectionStats, Dataset, DatasetStatus

if TYPE_CHECKING:
    from m365apk.scanner.datasets import DatasetSpec
    from m365apk.scanner.graph import GraphSettings
    from m365apk.scanner.pacing import Pacer

EXCHANGE_PERMISSION = "Exchange.ManageAsAppV2"
EXCHANGE_RESOURCE = "Office 365 Exchange Online"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
ADMIN_API = "adminapi/v2.0"
EXCHANGE_URL = "https://outlook.office365.com"
# The organisation's system mailbox: the routing hint for app-only calls with no mailbox target.
SYSTEM_MAILBOX = "bb558c35-97f1-4cb9-8ff7-d53741dc928c"

# Graph host -> Exchange Online base URL of the same cloud (admin-api-get-started, "Supported
# environments and base URLs"; Graph's national cloud hosts: learn.microsoft.com/graph/deployments).
CLOUDS = {
    "graph.microsoft.com": EXCHANGE_URL,
    "graph.microsoft.us": "https://outlook.office365.us",
    "dod-graph.microsoft.us": "https://outlook-dod.office365.us",
    "microsoftgraph.chinacloudapi.cn": "https://outlook.office365.cn",
}

# The built-in Exchange role groups Microsoft's table names per endpoint
# (admin-api-authentication, "Permissions for app-only flow").
RBAC_ROLE_GROUPS = {
    "OrganizationConfig": "View-Only Organization Management",
    "AcceptedDomain": "View-Only Organization Management",
    "Mailbox": "Recipient Management",
    "MailboxFolderPermission": "Recipient Management",
}

# The only cmdlets this client can send: cmdlet -> (endpoint, the parameters it may carry).
# Exact names: a case variant, padding or any other cmdlet is refused, not normalised.
ALLOWED_CMDLETS: dict[str, tuple[str, frozenset[str]]] = {
    "Get-OrganizationConfig": ("OrganizationConfig", frozenset()),
    "Get-AcceptedDomain": ("AcceptedDomain", frozenset({"Identity", "ResultSize"})),
    "Get-Mailbox": (
        "Mailbox",
        frozenset({"Identity", "ResultSize", "IncludeGrantSendOnBehalfToWithDisplayNames"}),
    ),
    "Get-MailboxFolderPermission": (
        "MailboxFolderPermission",
        frozenset({"Identity", "User", "ResultSize"}),
    ),
}
_MAX_PARAMETER_CHARS = 512
_PROPERTY = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")

NOT_AVAILABLE_CODE = "exchange_admin_api_not_available"
NOT_AVAILABLE_TEXT = (
    "niet beschikbaar in deze organisatie zolang de Exchange Online Admin API in preview is "
    "(Microsoft: 'aren't available in all organizations'); de handmatige controlepunten met "
    "het PowerShell-commando blijven staan"
)
# An error that says the API is not there for this organisation (undocumented: see above).
_NOT_AVAILABLE = re.compile(
    r"not (currently )?(available|enabled|supported) (for|in|to) (this|your) "
    r"(organi[sz]ation|tenant)"
    r"|preview (is )?not (available|enabled)|feature is not enabled",
    re.IGNORECASE,
)
FORBIDDEN_HINT = (
    "Exchange weigert de app: geef de toepassingsmachtiging Exchange.ManageAsAppV2 (Office 365 "
    "Exchange Online) met admin consent en wijs de service-principal van de app in Exchange de "
    "rol {role} toe (docs/exchange.md)"
)


class CmdletRefused(ValueError):
    """A cmdlet or parameter outside the allow-list: refused before any I/O."""


def cmdlet_request(cmdlet: Any, parameters: Any = None) -> tuple[str, dict[str, Any]]:
    """The endpoint and body for one allowed cmdlet call, or CmdletRefused. The name sent is
    the allow-list's own string, never the caller's object."""
    if type(cmdlet) is not str or cmdlet not in ALLOWED_CMDLETS:
        raise CmdletRefused(f"cmdlet {cmdlet!r} staat niet op de lijst van toegestane Get-cmdlets")
    name = next(k for k in ALLOWED_CMDLETS if k == cmdlet)
    endpoint, allowed = ALLOWED_CMDLETS[name]
    params: dict[str, Any] = {}
    for key, value in dict(parameters or {}).items():
        if type(key) is not str or key not in allowed:
            raise CmdletRefused(f"{name}: parameter {key!r} is niet toegestaan")
        if type(value) is str:
            if len(value) > _MAX_PARAMETER_CHARS or not value.isprintable():
                raise CmdletRefused(f"{name}: waarde van {key} is geen gewone tekst")
        elif type(value) not in (int, bool):
            raise CmdletRefused(f"{name}: waarde van {key} moet tekst, getal of ja/nee zijn")
        params[key] = value
    body: dict[str, Any] = {"CmdletName": name}
    if params:
        body["Parameters"] = params
    return endpoint, {"CmdletInput": body}


def exchange_base_url(graph_base_url: str, override: str | None = None) -> str:
    """Exchange Online's base URL for the cloud of `graph_base_url`. A Graph that is no
    Microsoft cloud (the simulator, a test server) serves the Admin API itself."""
    if override:
        return override.rstrip("/")
    host = (urlsplit(graph_base_url).hostname or "").lower()
    return CLOUDS.get(host, graph_base_url.rstrip("/"))


def exchange_scope(base_url: str) -> str:
    """The token scope for Exchange Online in the cloud of `base_url` (`/.default`)."""
    base = base_url.rstrip("/")
    return f"{base}/.default" if base in CLOUDS.values() else f"{EXCHANGE_URL}/.default"


def anchor_mailbox(tenant_id: str) -> str:
    return f"APP:SystemMailbox{{{SYSTEM_MAILBOX}}}@{tenant_id}"


# --- response contracts: the properties the checks read, PascalCase as Exchange returns them -----

_BOUNDED = ConfigDict(extra="ignore", str_max_length=4096)
# Get-OrganizationConfig: kept whole (during the preview the endpoint returns the cmdlet's full
# output; Microsoft's documented core set is Name, Identity, Id, Guid, MailTipsAllTipsEnabled,
# MailTipsExternalRecipientsTipsEnabled and MailTipsLargeAudienceThreshold).
_WHOLE = ConfigDict(extra="allow", str_max_length=4096)


@with_config(_WHOLE)
class ExoOrganizationConfig(TypedDict):
    Name: NotRequired[str | None]
    Identity: NotRequired[str | None]
    Guid: NotRequired[str | None]
    MailTipsAllTipsEnabled: NotRequired[bool | None]
    MailTipsExternalRecipientsTipsEnabled: NotRequired[bool | None]
    MailTipsLargeAudienceThreshold: NotRequired[int | str | None]
    AuditDisabled: NotRequired[bool | None]  # not in the documented core set (preview output)


@with_config(_BOUNDED)
class ExoAcceptedDomain(TypedDict):
    DomainName: str
    DomainType: NotRequired[str | None]
    Default: NotRequired[bool | None]
    Name: NotRequired[str | None]
    Identity: NotRequired[str | None]


@with_config(_BOUNDED)
class ExoMailbox(TypedDict):
    Guid: str
    ExternalDirectoryObjectId: NotRequired[str | None]
    UserPrincipalName: NotRequired[str | None]
    PrimarySmtpAddress: NotRequired[str | None]
    DisplayName: NotRequired[str | None]
    # What a ForwardingAddress (a recipient identity) may name: read so the forwarding check can
    # resolve it to one of the school's own mailboxes instead of calling it undeterminable.
    Name: NotRequired[str | None]
    Alias: NotRequired[str | None]
    Identity: NotRequired[str | None]
    DistinguishedName: NotRequired[str | None]
    RecipientTypeDetails: NotRequired[str | None]
    ForwardingSmtpAddress: NotRequired[str | None]
    ForwardingAddress: NotRequired[str | None]
    DeliverToMailboxAndForward: NotRequired[bool | None]
    AuditEnabled: NotRequired[bool | None]


def exchange_endpoint(spec: DatasetSpec) -> str:
    """How a dataset's request is recorded: method, path as documented, $select, cmdlet."""
    assert spec.cmdlet is not None
    endpoint, _ = ALLOWED_CMDLETS[spec.cmdlet]
    query = f"?$select={','.join(spec.select)}" if spec.select else ""
    params = " ".join(f"-{k} {v}" for k, v in spec.cmdlet_parameters)
    return f"POST /{ADMIN_API}/{{tenant}}/{endpoint}{query} {spec.cmdlet} {params}".rstrip()


@dataclass
class _Failure(Exception):
    status: DatasetStatus
    http_status: int | None
    code: str | None
    message: str


class ExchangeClient:
    """One tenant's Exchange Online Admin API reader: the Graph client's pacing, retries,
    size and time bounds (its `_Retry` and `_Wire` middleware) on a client of its own."""

    def __init__(
        self,
        credential: Any,
        settings: GraphSettings,
        stats: CollectionStats,
        pacer: Pacer,
        tenant_id: str,
    ) -> None:
        from m365apk.scanner.graph import _Retry, _Wire

        self.credential, self.settings, self.tenant_id = credential, settings, tenant_id
        self.base_url = exchange_base_url(settings.base_url, settings.exchange_url)
        self.scope = exchange_scope(self.base_url)
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.timeout_seconds),
            limits=httpx.Limits(max_connections=settings.max_concurrency * 2),
            follow_redirects=False,
            verify=ssl_context(),
        )
        GraphClientFactory.create_with_custom_middleware(
            [_Retry(settings, stats, pacer), _Wire(settings, stats, pacer)], client=http
        )
        self._http = http

    async def aclose(self) -> None:
        await self._http.aclose()

    def url(self, endpoint: str, select: tuple[str, ...] = ()) -> str:
        for name in select:
            if not _PROPERTY.match(name):
                raise CmdletRefused(f"eigenschap {name!r} is geen Exchange-eigenschapsnaam")
        query = f"?$select={','.join(select)}" if select else ""
        return f"{self.base_url}/{ADMIN_API}/{quote(self.tenant_id, safe='')}/{endpoint}{query}"

    async def _token(self) -> str:
        result = self.credential.get_token(self.scope)
        if inspect.isawaitable(result):
            result = await result
        return str(result.token)

    async def invoke(
        self,
        cmdlet: str,
        parameters: dict[str, Any] | None = None,
        select: tuple[str, ...] = (),
        item: type = dict,
        identity: str = "Guid",
        collection: bool = True,
    ) -> tuple[list[Any], int, int, Any]:
        """Every page of one allowed cmdlet: (items, pages, repeats dropped, rejects). Raises
        CmdletRefused before any I/O, `_Failure` for an answer that is not the data."""
        from m365apk.scanner.graph import (
            MalformedResponse,
            _check_next_link,
            _first_of_each_id,
            _read_page,
            _Rejects,
        )

        endpoint, body = cmdlet_request(cmdlet, parameters)  # before any I/O
        url = self.url(endpoint, select)
        payload = to_json(body)
        try:
            token = await self._token()
        except ClientAuthenticationError as exc:
            raise _Failure(
                DatasetStatus.FORBIDDEN,
                None,
                "token",
                f"geen token voor Exchange Online ({self.scope}): {exc.message or exc}",
            ) from None
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-AnchorMailbox": anchor_mailbox(self.tenant_id),
        }
        first = urlsplit(url)
        seen = {url}
        items: list[Any] = []
        ids: set[str] = set()
        rejects = _Rejects()
        pages = dropped = served = 0
        target = url
        while True:
            # Through the middleware (pacing, retries, bounds): the pipeline runs only for a
            # request that carries kiota's request options.
            request = self._http.build_request(
                "POST",
                target,
                content=payload,
                headers=headers,
                extensions={REQUEST_OPTIONS_KEY: {}},
            )
            response = await self._http.send(request)
            if response.status_code != 200:
                raise _answer_failure(response, endpoint, first_page=pages == 0)
            pages += 1
            raw = response.content
            if not collection:
                raw = _as_page(raw)
            page, refused, count, refusal = _read_page(item, raw, served, identity)
            served += count
            if refused:
                rejects.add(refused)
                rejects.refusal = rejects.refusal or refusal
            fresh, repeats = _first_of_each_id(page["value"], ids, identity)
            dropped += repeats
            items.extend(fresh)
            link = page.get("@odata.nextLink")
            if not link:
                return items, pages, dropped, rejects
            _check_next_link(link, first, seen)
            if pages >= self.settings.max_pages:
                raise MalformedResponse(f"meer dan {self.settings.max_pages} pagina's; gestopt")
            seen.add(link)
            target = link

    async def dataset(self, spec: DatasetSpec) -> Dataset:
        from m365apk.scanner.graph import (
            Outcome,
            _dataset,
            _nothing_kept,
            _read_outcome,
            classify,
        )

        assert spec.cmdlet is not None
        try:
            data, pages, dropped, rejects = await self.invoke(
                spec.cmdlet,
                dict(spec.cmdlet_parameters),
                spec.select,
                spec.item,
                spec.identity or "Guid",
                spec.collection,
            )
        except CmdletRefused:
            raise
        except _Failure as failed:
            outcome = Outcome(failed.status, failed.http_status, failed.code, failed.message)
            return _dataset(spec, outcome, None, 0)
        except Exception as exc:  # timeouts, transport, redirects, malformed: as for Graph
            return _dataset(spec, classify(exc), None, 0)
        outcome = _read_outcome(dropped, rejects)
        if outcome.rejected and not data:
            outcome, data = _nothing_kept(outcome), None
        if not spec.collection and outcome.status is DatasetStatus.OK and len(data) != 1:
            outcome = Outcome(
                DatasetStatus.MALFORMED,
                None,
                "malformed_response",
                f"onleesbaar antwoord: {len(data)} objecten, verwacht precies één",
            )
            data = None
        return _dataset(spec, outcome, data, pages)


def _as_page(raw: bytes) -> Any:
    """A single-object answer (Get-OrganizationConfig) as a page: Microsoft documents one
    object; an OData envelope with `value` is taken as it is."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw  # the page contract says why
    if isinstance(body, dict) and "value" not in body:
        return {"value": [body]}
    return body


def _error_of(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (
        code if isinstance(code, str) else None,
        message[:1000] if isinstance(message, str) else None,
    )


def _answer_failure(response: httpx.Response, endpoint: str, *, first_page: bool) -> _Failure:
    status = response.status_code
    code, message = _error_of(response)
    # Exchange puts its reason for a refusal in x-ms-diagnostics rather than the body.
    diagnostics = (response.headers.get("x-ms-diagnostics") or "")[:500]
    said = " ".join(p for p in (message, diagnostics) if p)
    if (status == 404 and first_page) or (said and _NOT_AVAILABLE.search(said)):
        text = NOT_AVAILABLE_TEXT + (f" [{said}]" if said else "")
        return _Failure(DatasetStatus.NOT_AVAILABLE, status, NOT_AVAILABLE_CODE, text)
    if status in (401, 403):
        role = RBAC_ROLE_GROUPS.get(endpoint, "View-Only Organization Management")
        hint = FORBIDDEN_HINT.format(role=f"'{role}'")
        return _Failure(DatasetStatus.FORBIDDEN, status, code, f"{said or hint}. {hint}".strip())
    if status == 429:
        return _Failure(DatasetStatus.THROTTLED, status, code, said or "te veel verzoeken")
    if 300 <= status < 400:
        return _Failure(DatasetStatus.ERROR, status, "redirect", "doorverwijzing; niet gevolgd")
    if status == 404:  # a later page vanished: what was read is not the whole collection
        return _Failure(DatasetStatus.ERROR, status, code, said or "volgende pagina niet gevonden")
    if 200 <= status < 300:
        return _Failure(DatasetStatus.MALFORMED, status, "malformed_response", f"status {status}")
    return _Failure(DatasetStatus.ERROR, status, code, said or f"HTTP {status}")
