"""`m365apk setup` and `m365apk doctor`: register once, then check every tenant before a scan.

setup prints the multi-tenant app's permissions, a script and a manifest that add them with
Microsoft Graph's fixed app-role ids (mappings/graph_app_roles.yaml, checked against Microsoft's
permissions reference; the printed az query shows the same id from Graph's own service principal),
plus the admin-consent URL per school.
doctor gets a token per tenant and reads the application permissions it carries (the token's
`roles` claim) against what the enabled checks need.
"""

from __future__ import annotations

import asyncio
import base64
import json
import textwrap
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import yaml

from m365apk.checks.reference_data import stale_reference_data
from m365apk.runs.tenants import TenantsFile
from m365apk.scanner.datasets import EXCHANGE_PERMISSION_PURPOSE, PERMISSION_PURPOSE
from m365apk.scanner.exchange import (
    EXCHANGE_APP_ID,
    EXCHANGE_RESOURCE,
    RBAC_ROLE_GROUPS,
)
from m365apk.scanner.graph import GRAPH_SCOPE

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


def reference_data_warnings(today: date) -> list[str]:
    """Reference data (privileged roles, supported OS versions) older than its stated maximum
    age: doctor says so, so an outdated list does not rot silently."""
    return [s.message for s in stale_reference_data(today)]


@cache
def graph_app_role_ids() -> dict[str, str]:
    """Permission name -> Microsoft Graph app-role id (application permission), from
    mappings/graph_app_roles.yaml."""
    text = (resources.files("m365apk.mappings") / "graph_app_roles.yaml").read_text("utf-8")
    return {str(name): str(role_id) for name, role_id in yaml.safe_load(text).items()}


def consent_url(tenant_id: str, client_id: str) -> str:
    return f"https://login.microsoftonline.com/{tenant_id}/adminconsent?client_id={client_id}"


# Microsoft's steps for the Exchange Online Admin API (app-only): the permission on "Office 365
# Exchange Online" with admin consent, then an Exchange RBAC role for the app's service principal
# per organisation. learn.microsoft.com/exchange/reference/admin-api-authentication (steps 2 and
# 3, the table "Required Exchange role group" per endpoint); the service principal and the role
# group membership as in learn.microsoft.com/powershell/exchange/app-only-auth-powershell-v2
# ("Assign custom role groups to the application using service principals").
EXCHANGE_DOCS = "https://learn.microsoft.com/exchange/reference/admin-api-authentication"


def exchange_setup_lines(client: str, permissions: list[str]) -> list[str]:
    if not permissions:
        return []

    def lookup(p: str) -> str:
        return f"az ad sp show --id $EXO --query \"appRoles[?value=='{p}'].id\" -o tsv"

    return [
        "",
        f"1b. Exchange Online ({EXCHANGE_RESOURCE}; niet Microsoft Graph) voor de Exchange Online",
        "   Admin API (preview), op dezelfde app de toepassingsmachtiging:",
        "",
        *(f"     {p:<40} {EXCHANGE_PERMISSION_PURPOSE.get(p, '')}".rstrip() for p in permissions),
        "",
        f"     EXO={EXCHANGE_APP_ID}",
        *(
            "     az ad app permission add --id $APP --api $EXO "
            f'--api-permissions "$({lookup(p)})=Role"'
            for p in permissions
        ),
        "",
        "   m365apk stuurt Exchange alleen Get-cmdlets (Get-OrganizationConfig,",
        "   Get-AcceptedDomain, Get-Mailbox); elk ander cmdlet weigert de client zelf, vóór er",
        "   iets verstuurd wordt.",
    ]


def exchange_role_lines(client: str) -> list[str]:
    groups = sorted(set(RBAC_ROLE_GROUPS.values()), reverse=True)
    return [
        "",
        "3. Per school, voor Exchange: de service-principal van de app krijgt een",
        "   Exchange-RBAC-rol (zonder rol antwoordt Exchange 403); bron:",
        f"   {EXCHANGE_DOCS}",
        "   Een Exchange-beheerder, in Exchange Online PowerShell (Connect-ExchangeOnline):",
        "",
        "     # object-id van de bedrijfsapp (Entra > Enterprise apps) in die school:",
        f"     # az ad sp show --id {client} --query id -o tsv",
        f'     New-ServicePrincipal -AppId {client} -ObjectId <object-id> -DisplayName "m365apk"',
        *(f'     Add-RoleGroupMember -Identity "{g}" -Member <object-id>' for g in groups),
        "",
        "   View-Only Organization Management: OrganizationConfig en AcceptedDomain; Recipient",
        "   Management: Mailbox (zo noemt Microsoft het per endpoint). Minder rechten, als",
        "   Microsoft het toelaat: een eigen rolgroep met alleen 'View-Only Recipients' en",
        "   'View-Only Configuration'; `m365apk doctor` laat zien of Exchange dan antwoordt.",
        "   Zonder machtiging of rol, of waar de preview (nog) niet beschikbaar is: de",
        "   Exchange-controles worden 'niet vastgesteld' met de reden; de scan gaat gewoon door.",
    ]


def setup_text(
    config: TenantsFile,
    permissions: list[str],
    exchange_permissions: list[str] = (),  # type: ignore[assignment]
) -> str:
    client = config.defaults.client_id or "<applicatie-id>"
    ids = graph_app_role_ids()

    def lookup(p: str) -> str:
        return f"az ad sp show --id $GRAPH --query \"appRoles[?value=='{p}'].id\" -o tsv"

    lines: list[str] = [
        "1. Eén multitenant-app (Entra > App registrations > New registration, 'Accounts in any",
        "   organizational directory'), met alleen deze Microsoft Graph-toepassingsmachtigingen:",
        "",
        *(f"     {p:<40} {PERMISSION_PURPOSE.get(p, '')}".rstrip() for p in permissions),
        "",
        "   Toevoegen met de Azure CLI, met de vaste app-rol-id's van Microsoft Graph:",
        "",
        f"     APP={client}",
        f"     GRAPH={GRAPH_APP_ID}",
        *(
            "     az ad app permission add --id $APP --api $GRAPH --api-permissions "
            + (f"{ids[p]}=Role  # {p}" if p in ids else f'"$({lookup(p)})=Role"')
            for p in permissions
        ),
        "",
        "   De id's komen uit de service-principal van Microsoft Graph; controleren kan zo:",
        "",
        *(f"     {lookup(p)}" for p in permissions[:1]),
        "",
        "   Als manifest (requiredResourceAccess; dezelfde id's):",
        "",
        # Every line of the JSON at the step's indent (only the first one was, before).
        textwrap.indent(
            json.dumps(
                {
                    "requiredResourceAccess": [
                        {
                            "resourceAppId": GRAPH_APP_ID,
                            "resourceAccess": [
                                {"id": ids.get(p, f"<id van {p}>"), "type": "Role"}
                                for p in permissions
                            ],
                        }
                    ]
                },
                indent=2,
            ),
            "     ",
        ),
        "",
        *exchange_setup_lines(client, list(exchange_permissions)),
        "",
        "2. Per school: een globale beheerder opent eenmalig de admin-consent-URL:",
        "",
        *(
            f"     {t.name}: {consent_url(t.tenant_id, config.client_id(t))}"
            for t in config.tenants
        ),
        *(exchange_role_lines(client) if exchange_permissions else []),
    ]
    return "\n".join(lines) + "\n"


@dataclass
class DoctorLine:
    name: str
    tenant_id: str
    ok: bool
    message: str
    missing: list[str]
    # Whether the Exchange source answers: "ok", "forbidden", "not_available" or "error" with
    # its message; None when no selected check reads Exchange (or sign-in failed).
    exchange: tuple[str, str] | None = None


def exchange_probe(credential: Any, graph_url: str | None, tenant_id: str) -> tuple[str, str]:
    """Does the Exchange Online Admin API answer for this tenant? One Get-OrganizationConfig
    (read-only, one object), through the scanner's own client."""
    from m365apk.runs.scan import _run
    from m365apk.scanner.datasets import DATASETS
    from m365apk.scanner.exchange import ExchangeClient
    from m365apk.scanner.graph import GRAPH_URL, GraphSettings
    from m365apk.scanner.pacing import Pacer
    from m365apk.snapshot import CollectionStats, DatasetStatus

    settings = GraphSettings(base_url=graph_url or GRAPH_URL, deadline_seconds=120.0)

    async def probe() -> Any:
        client = ExchangeClient(credential, settings, CollectionStats(), Pacer(), tenant_id)
        try:
            return await client.dataset(DATASETS["exoOrganizationConfig"])
        finally:
            await client.aclose()

    result = _run(probe())
    if result.status is DatasetStatus.OK:
        return "ok", "Exchange Online Admin API antwoordt"
    kind = {
        DatasetStatus.FORBIDDEN: "forbidden",
        DatasetStatus.NOT_AVAILABLE: "not_available",
    }.get(result.status, "error")
    return kind, result.error_message or result.status.value


def _roles(token: str) -> list[str]:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return list(claims.get("roles") or [])
    except (IndexError, ValueError):
        return []


async def _token(credential: Any) -> str:
    result = credential.get_token(GRAPH_SCOPE)
    if asyncio.iscoroutine(result):
        result = await result
    return result.token


def doctor(
    config: TenantsFile,
    needed: list[str],
    exchange: list[str] = (),  # type: ignore[assignment]
) -> list[DoctorLine]:
    from azure.core.exceptions import ClientAuthenticationError

    from m365apk.errors import ConfigError
    from m365apk.runs.portfolio import _credential
    from m365apk.runs.scan import _run
    from m365apk.scanner.graph import _auth_message

    lines = []
    for tenant in sorted(config.tenants, key=lambda t: t.name.lower()):
        try:
            # Like a scan: safe where a loop already runs (a notebook, Playwright's sync API).
            token = _run(_token(_credential(config, tenant)))
        except ClientAuthenticationError as exc:
            lines.append(DoctorLine(tenant.name, tenant.tenant_id, False, _auth_message(exc), []))
            continue
        except ConfigError as exc:
            lines.append(DoctorLine(tenant.name, tenant.tenant_id, False, str(exc), []))
            continue
        granted = set(_roles(token))
        # Directory.Read.All also grants the narrower directory reads, as Graph does.
        covered = granted | (
            {
                "User.Read.All",
                "GroupMember.Read.All",
                "Organization.Read.All",
                "Domain.Read.All",
                "RoleManagement.Read.Directory",
                "Application.Read.All",
                "DelegatedPermissionGrant.Read.All",
            }
            if "Directory.Read.All" in granted
            else set()
        )
        missing = sorted(set(needed) - covered)
        lacking = "toestemming ontbreekt" if len(missing) == 1 else "toestemmingen ontbreken"
        message = (
            "alle toestemmingen aanwezig"
            if not missing
            else (
                f"{len(missing)} {lacking}; opnieuw admin consent geven: "
                + consent_url(tenant.tenant_id, config.client_id(tenant))
            )
        )
        probe = None
        if exchange:  # optional by design: it never fails the doctor, it says what it found
            probe = exchange_probe(_credential(config, tenant), config.graph_url, tenant.tenant_id)
        lines.append(
            DoctorLine(tenant.name, tenant.tenant_id, not missing, message, missing, probe)
        )
    return lines
