"""The simulated Exchange Online Admin API (public preview), served by demo/server.py.

As Microsoft documents it (scanner/exchange.py has the pages): POST-only endpoints
``/adminapi/v2.0/{tenant}/{Endpoint}`` with a ``CmdletInput`` body; a token for
``https://outlook.office365.com`` carrying ``Exchange.ManageAsAppV2``; the ``X-AnchorMailbox``
routing hint; ``$select``; Get-Mailbox in pages of ``@odata.nextLink`` (continued by POSTing the
same body to the link) unless ``ResultSize`` caps the result; only the endpoint's own cmdlets and
parameters. What it cannot know from the documentation it answers as stated here:

* a tenant whose profile has no Exchange data, or ``available: false``: 404 on every endpoint
  ("not available in all organizations" while in preview; Microsoft documents no body for it);
* a token without ``Exchange.ManageAsAppV2``: 401; an app without the RBAC role
  (``rbac: false``): 403 with the reason in ``x-ms-diagnostics``, as Exchange Online gives it;
* write cmdlets (Set-, Add-, Remove-) are refused with 400 and recorded, so a test can show none
  ever arrived.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from m365apk.demo.tenant import TenantData

if TYPE_CHECKING:
    from m365apk.demo.server import SimulatedGraph

EXCHANGE_AUDIENCE = "https://outlook.office365.com"
EXCHANGE_ROLE = "Exchange.ManageAsAppV2"
SYSTEM_MAILBOX = "bb558c35-97f1-4cb9-8ff7-d53741dc928c"
PATH = re.compile(r"^/adminapi/v2\.0/([^/]+)/([A-Za-z]+)$")

# Endpoint -> its read cmdlet and the parameters Microsoft lists for it through REST.
ENDPOINTS: dict[str, tuple[str, frozenset[str]]] = {
    "OrganizationConfig": ("Get-OrganizationConfig", frozenset()),
    "AcceptedDomain": ("Get-AcceptedDomain", frozenset({"Identity", "ResultSize"})),
    "Mailbox": (
        "Get-Mailbox",
        frozenset({"Identity", "ResultSize", "IncludeGrantSendOnBehalfToWithDisplayNames"}),
    ),
    "MailboxFolderPermission": (
        "Get-MailboxFolderPermission",
        frozenset({"Identity", "User", "ResultSize"}),
    ),
}
WRITE_VERB = re.compile(r"^\s*(set|add|remove|new|enable|disable)-", re.IGNORECASE)


def not_available(tenant: TenantData) -> TenantData:
    """The same tenant in an organisation where the Admin API preview is not available."""
    return replace(tenant, exchange=None)


def without_rbac_role(tenant: TenantData) -> TenantData:
    """The same tenant where the app's service principal has no Exchange RBAC role."""
    assert tenant.exchange is not None
    return replace(tenant, exchange={**tenant.exchange, "rbac": False})


def with_page_size(tenant: TenantData, size: int) -> TenantData:
    assert tenant.exchange is not None
    return replace(tenant, exchange={**tenant.exchange, "page_size": size})


class ExchangeError(Exception):
    def __init__(
        self, status: int, code: str, message: str, diagnostics: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.diagnostics = status, code, message, diagnostics


def _error(status: int, code: str, message: str, diagnostics: str | None = None) -> ExchangeError:
    return ExchangeError(status, code, message, diagnostics)


def answer(
    sim: SimulatedGraph, path: str, query: str, headers: Any, body: str
) -> tuple[int, dict[str, Any], dict[str, str], int]:
    """One Admin API request: (status, JSON body, extra headers, objects answered)."""
    try:
        payload, objects = _answer(sim, path, query, headers, body)
        return 200, payload, {}, objects
    except ExchangeError as exc:
        extra = {"x-ms-diagnostics": exc.diagnostics} if exc.diagnostics else {}
        error = {"error": {"code": exc.code, "message": exc.message}}
        return exc.status, error, extra, 0


def _answer(
    sim: SimulatedGraph, path: str, query: str, headers: Any, body: str
) -> tuple[dict[str, Any], int]:
    found = PATH.match(path)
    if not found:
        raise _error(404, "NotFound", "The requested resource was not found.")
    tenant_ref, endpoint = found.groups()
    claims = sim.verify_exchange_token(headers.get("Authorization"))
    api = sim.api_for(claims)
    tenant = api.t
    if tenant_ref.lower() not in (tenant.tenant_id, tenant.default_domain.lower()):
        raise _error(401, "InvalidToken", "The token was not issued for this organization.")
    data = tenant.exchange
    if data is None or not data.get("available", True) or endpoint not in ENDPOINTS:
        # Not there for this organisation (or no such endpoint): an OData service's 404.
        raise _error(404, "NotFound", f"Resource not found for the segment '{endpoint}'.")
    if EXCHANGE_ROLE not in claims.get("roles", []):
        raise _error(
            401,
            "InvalidToken",
            "The access token does not carry the application permission this API requires.",
            '2000001;reason="The token has no Exchange.ManageAsAppV2 role."',
        )
    anchor = headers.get("X-AnchorMailbox") or ""
    expected = {
        f"app:systemmailbox{{{SYSTEM_MAILBOX}}}@{tenant.tenant_id}",
        f"app:systemmailbox{{{SYSTEM_MAILBOX}}}@{tenant.default_domain.lower()}",
    }
    if anchor.lower() not in expected and not anchor.lower().startswith("upn:"):
        raise _error(
            400,
            "ErrorIncorrectRoutingHint",
            f"The x-anchor mailbox '{anchor}' does not match the target of the request.",
        )
    cmdlet, allowed = ENDPOINTS[endpoint]
    try:
        envelope = json.loads(body or "null")
    except ValueError:
        raise _error(400, "BadRequest", "The request body is not valid JSON.") from None
    cmdlet_input = envelope.get("CmdletInput") if isinstance(envelope, dict) else None
    if not isinstance(cmdlet_input, dict) or not isinstance(cmdlet_input.get("CmdletName"), str):
        raise _error(400, "BadRequest", "The request body must contain CmdletInput.CmdletName.")
    name = cmdlet_input["CmdletName"]
    if WRITE_VERB.match(name):
        sim.exchange_writes.append(name)
        raise _error(400, "BadRequest", f"The cmdlet '{name}' is not served by this simulator.")
    if name.lower() != cmdlet.lower():
        raise _error(
            400, "BadRequest", f"The cmdlet '{name}' isn't supported by the {endpoint} endpoint."
        )
    params = cmdlet_input.get("Parameters") or {}
    if not isinstance(params, dict):
        raise _error(400, "BadRequest", "Parameters must be an object.")
    unknown = [k for k in params if k not in allowed]
    if unknown:
        raise _error(
            400,
            "BadRequest",
            f"A parameter cannot be found that matches parameter name '{unknown[0]}'.",
        )
    if not data.get("rbac", True):
        raise _error(
            403,
            "Forbidden",
            f"The caller doesn't have the RBAC role required to run '{cmdlet}'.",
            f'2000008;reason="The app has no management role assignment for {cmdlet}.";'
            'error_category="insufficient_rbac"',
        )
    items = _items(data, endpoint, params)
    args = dict(parse_qsl(query, keep_blank_values=True))
    select = [s for s in (args.get("$select") or "").split(",") if s]
    if endpoint == "OrganizationConfig":
        # "Pagination isn't available ... The Get-OrganizationConfig response is a single JSON
        # object" (admin-api-endpoints-organization-config): the object, not a page of one.
        context = f"{sim.base_url}/adminapi/v2.0/{tenant_ref}/$metadata#{endpoint}/$entity"
        return {"@odata.context": context, **_select(items[0], select)}, 1
    offset = _offset(args.get("$skiptoken"))
    base = f"{sim.base_url}/adminapi/v2.0/{tenant_ref}"
    result: dict[str, Any] = {"@odata.context": f"{base}/$metadata#{endpoint}"}
    size = int(data.get("page_size", 1000))
    size_limit = params.get("ResultSize")
    if isinstance(size_limit, int) and not isinstance(size_limit, bool):
        items, size = items[:size_limit], max(size_limit, 1)  # capped: no next page
    page = items[offset : offset + size]
    result["value"] = [_select(o, select) for o in page]
    if offset + size < len(items):
        kept = {k: v for k, v in args.items() if k != "$skiptoken"}
        token = base64.urlsafe_b64encode(json.dumps({"o": offset + size}).encode()).decode()
        result["@odata.nextLink"] = f"{base}/{endpoint}?{urlencode({**kept, '$skiptoken': token})}"
    return result, len(page)


def _items(data: dict[str, Any], endpoint: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]]
    if endpoint == "OrganizationConfig":
        items = [data.get("organization_config", {})]
    elif endpoint == "AcceptedDomain":
        items = list(data.get("accepted_domains", []))
    elif endpoint == "Mailbox":
        items = list(data.get("mailboxes", []))
    else:
        items = []
    identity = params.get("Identity")
    if isinstance(identity, str) and endpoint != "OrganizationConfig":
        wanted = identity.lower()
        items = [
            o for o in items if wanted in {str(v).lower() for v in o.values() if isinstance(v, str)}
        ]
        if not items:
            raise _error(
                404,
                "NotFound",
                f"The operation couldn't be performed because object '{identity}' couldn't be "
                "found.",
            )
    return items


def _select(obj: dict[str, Any], select: list[str]) -> dict[str, Any]:
    return {k: obj.get(k) for k in select} if select else dict(obj)


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["o"])
    except (ValueError, KeyError, TypeError):
        raise _error(400, "BadRequest", "The skip token is not valid.") from None
