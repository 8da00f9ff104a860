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
from m365apk.scanner.datasets import PERMISSION_PURPOSE
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


def setup_text(config: TenantsFile, permissions: list[str]) -> str:
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
        "2. Per school: een globale beheerder opent eenmalig de admin-consent-URL:",
        "",
        *(
            f"     {t.name}: {consent_url(t.tenant_id, config.client_id(t))}"
            for t in config.tenants
        ),
    ]
    return "\n".join(lines) + "\n"


@dataclass
class DoctorLine:
    name: str
    tenant_id: str
    ok: bool
    message: str
    missing: list[str]


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


def doctor(config: TenantsFile, needed: list[str]) -> list[DoctorLine]:
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
        message = (
            "alle toestemmingen aanwezig"
            if not missing
            else (
                f"{len(missing)} toestemming(en) ontbreken; opnieuw admin consent geven: "
                + consent_url(tenant.tenant_id, config.client_id(tenant))
            )
        )
        lines.append(DoctorLine(tenant.name, tenant.tenant_id, not missing, message, missing))
    return lines
