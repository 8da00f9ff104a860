"""A simulated Microsoft Graph: a real HTTP server on 127.0.0.1 serving school tenants.

It powers the demo, the integration tests and the benchmarks, so it behaves as Graph does
where a client must cope (shapes from shared/reference/graph-reference.md):

- client-credentials token endpoint per tenant (`/{tenant}/oauth2/v2.0/token`), Entra's
  AADSTS error bodies, signed tokens carrying the consented application permissions (`roles`);
- OData paging with an absolute `@odata.nextLink` and an opaque `$skiptoken`, each endpoint's
  `$top` limit, `$select`, `$expand=principal`, the `$filter` subset we use, `$count` with
  `ConsistencyLevel: eventual`;
- Graph's error bodies: 401 InvalidAuthenticationToken, 403 Authorization_RequestDenied for a
  missing permission, 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant for report
  endpoints without Entra ID P1, 400 for unsupported queries, 404 Request_ResourceNotFound;
- injected faults (429 with or without Retry-After, 503, 500, malformed bodies) and latency.

Loopback only, on purpose: it serves demo data and trusts nothing it did not issue itself.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import math
import re
import secrets
import socket
import sys
import threading
import time
import uuid
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlencode, urlsplit

from m365apk.demo import graph_schema
from m365apk.demo.audit import AuditSearch
from m365apk.demo.exchange import EXCHANGE_AUDIENCE
from m365apk.demo.mail_rules import NO_MAILBOX, MailRules
from m365apk.demo.serving import Served
from m365apk.demo.tenant import TenantData, load_profile, profile_audit_records
from m365apk.demo.throttle import THROTTLED_MESSAGE, ThrottleModel
from m365apk.snapshot.licences import summarise

GRAPH_AUDIENCE = "https://graph.microsoft.com"
JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;"
    "IEEE754Compatible=false;charset=utf-8"
)
NON_PREMIUM = (
    "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
    "Neither tenant is B2C or tenant doesn't have premium license",
)


@dataclass(frozen=True)
class Fault:
    """One injected answer: status, optional Retry-After (seconds), optional raw body."""

    status: int
    retry_after: float | None = None
    body: bytes | None = None
    # Retry-After exactly as written (an HTTP-date in any form, or garbage); beats retry_after.
    retry_after_text: str | None = None


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str
    status: int
    inner: bool = False  # an inner request of a JSON batch (POST /$batch)
    # Filled in for Graph GETs (the benchmarks' request log, see SimulatedGraph.request_log):
    time: float = 0.0  # wall clock (time.time()) when the answer was ready (latency included)
    start: float = 0.0  # wall clock when the simulator began to answer
    tenant: str = ""
    # throttle bucket (demo/throttle.py), "" when the model is off: the primary one (directory
    # for a users GET), or the one that refused a 429
    bucket: str = ""
    cost: int = 0  # tokens charged there (resource units for the directory bucket); 0 for a 429
    # every (bucket, tokens) the request was charged, the primary first (a users GET with
    # signInActivity: directory and signInActivity); empty for a 429, which takes nothing
    charges: tuple[tuple[str, int], ...] = ()
    objects: int = 0  # objects in the answer (items of a page; 1 for an entity)
    throttled: bool = False  # a 429 from the throttle model (not an injected fault)
    latency: float = 0.0  # seconds the latency model made this answer take

    @property
    def chain(self) -> str:
        """The page chain this request belongs to: tenant + path + query without $skiptoken
        (every page of one collection read shares it; pages follow one another)."""
        params = parse_qsl(self.query, keep_blank_values=True)
        kept = sorted((k, v) for k, v in params if k != "$skiptoken")
        return f"{self.tenant}{self.path}?{'&'.join(f'{k}={v}' for k, v in kept)}"

    def as_json(self) -> dict[str, Any]:
        return {
            "time": round(self.time, 6),
            "start": round(self.start, 6),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "tenant": self.tenant,
            "bucket": self.bucket,
            "cost": self.cost,
            "charges": [[bucket, cost] for bucket, cost in self.charges],
            "objects": self.objects,
            "throttled": self.throttled,
            "inner": self.inner,
            "latency": round(self.latency, 6),
            "chain": self.chain,
        }


@dataclass
class Reply:
    """One answer before it is sent: on the wire, or as one response inside a $batch."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]
    delay: float = 0.0  # seconds the answer takes (throttle model's latency), slept by the sender


class _InnerHeaders(dict[str, str]):
    """An inner batch request's headers: case-insensitive `get`, like http.client's."""

    def __init__(self, items: dict[str, Any]) -> None:
        super().__init__({str(k).lower(): str(v) for k, v in items.items()})

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    handler: str  # method name on _Api
    permissions: tuple[str, ...]  # any one of these (least privileged first, as Graph documents)
    needs: str | None = None  # licence: p1 | p2 | intune
    path: str = ""
    also: tuple[str, ...] = ()  # and each of these (Graph documents "X and Y")

    def allows(self, granted: set[str], needed: tuple[str, ...] | None = None) -> bool:
        """Any one of `needed` (default: the route's permissions), and each of `also`."""
        any_of = set(needed if needed is not None else self.permissions)
        return bool(granted & any_of) and set(self.also) <= granted


# What Graph answers when the tenant lacks the licence (graph-reference §0.1; the Intune
# answer is not documented there and is our best guess, marked [U]).
LICENCE_ERRORS = {
    "p1": (403, *NON_PREMIUM),
    "p2": (
        400,
        "AadPremiumLicenseRequired",
        "The tenant needs to have Microsoft Entra ID P2 or Microsoft Entra ID Governance license.",
    ),
    "intune": (403, "Forbidden", "The tenant does not have a valid Intune license. [U]"),
}


def _route(
    path: str,
    handler: str,
    *permissions: str,
    needs: str | None = None,
    also: tuple[str, ...] = (),
) -> Route:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return Route(re.compile(f"^{regex}$"), handler, permissions, needs, path, also)


# Data-only endpoints: the profile holds the body (tenant.static[path]); Graph's rules for
# permission and licence live here, the same for every tenant.
STATIC_COLLECTIONS = {
    "/domains": ("Domain.Read.All", "Directory.Read.All"),
    "/groupSettings": ("Directory.Read.All",),
    "/auditLogs/directoryAudits": ("AuditLog.Read.All",),
    "/oauth2PermissionGrants": ("DelegatedPermissionGrant.Read.All", "Directory.Read.All"),
    "/security/secureScores": ("SecurityEvents.Read.All",),
    "/identityProtection/riskyUsers": ("IdentityRiskyUser.Read.All",),
    "/roleManagement/directory/roleEligibilityScheduleInstances": (
        "RoleEligibilitySchedule.Read.Directory",
        "RoleManagement.Read.Directory",
    ),
    "/roleManagement/directory/roleAssignmentScheduleInstances": (
        "RoleAssignmentSchedule.Read.Directory",
        "RoleManagement.Read.Directory",
    ),
    "/deviceManagement/deviceCompliancePolicies": ("DeviceManagementConfiguration.Read.All",),
    "/deviceManagement/deviceConfigurations": ("DeviceManagementConfiguration.Read.All",),
    "/solutions/backupRestore/protectionPolicies": ("BackupRestore-Configuration.Read.All",),
    "/solutions/backupRestore/serviceApps": ("BackupRestore-Control.Read.All",),
    "/identity/conditionalAccess/namedLocations": ("Policy.Read.All",),
    "/applications": ("Application.Read.All", "Directory.Read.All"),
}
STATIC_OBJECTS = {
    "/policies/authorizationPolicy": ("Policy.Read.All",),
    "/policies/authenticationMethodsPolicy": (
        "Policy.Read.AuthenticationMethod",
        "Policy.Read.All",
    ),
    "/policies/adminConsentRequestPolicy": ("Policy.Read.All",),
    "/solutions/backupRestore": ("BackupRestore-Control.Read.All",),
    "/admin/sharepoint/settings": ("SharePointTenantSettings.Read.All",),
    "/policies/defaultAppManagementPolicy": ("Policy.Read.All",),
    "/deviceManagement": ("DeviceManagementConfiguration.Read.All",),
}
STATIC_NEEDS = {
    "/identityProtection/riskyUsers": "p2",
    "/roleManagement/directory/roleEligibilityScheduleInstances": "p2",
    "/roleManagement/directory/roleAssignmentScheduleInstances": "p2",
    "/deviceManagement/deviceCompliancePolicies": "intune",
    "/deviceManagement/deviceConfigurations": "intune",
    "/deviceManagement": "intune",
}

# PIM policies answer per scope: Microsoft Entra roles (scopeType Directory/DirectoryRole) need
# the directory permissions, PIM for Groups (scopeType Group) its own ("List
# roleManagementPolicyAssignments", permissions per scope).
ROLE_POLICY_PERMISSIONS = {
    "Group": (
        "RoleManagementPolicy.Read.AzureADGroup",
        "RoleManagementPolicy.ReadWrite.AzureADGroup",
    ),
    "Directory": (
        "RoleManagementPolicy.Read.Directory",
        "RoleManagement.Read.Directory",
        "RoleManagement.Read.All",
        "RoleManagementPolicy.ReadWrite.Directory",
        "RoleManagement.ReadWrite.Directory",
    ),
}
ROLE_POLICIES = "/policies/roleManagementPolicyAssignments"
PIM_GROUP_ELIGIBILITY = "/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances"
_SCOPE_TYPE = re.compile(r"scopeType\s+eq\s+'(\w+)'", re.IGNORECASE)


def scoped_permissions(path: str, query_filter: str | None) -> tuple[str, ...] | None:
    """The permissions a request needs when they depend on its `$filter` (PIM policies per
    scope), or None when the route's own apply."""
    if path != ROLE_POLICIES:
        return None
    found = _SCOPE_TYPE.search(query_filter or "")
    scope = "Group" if found and found.group(1).lower() == "group" else "Directory"
    return ROLE_POLICY_PERMISSIONS[scope]


AUDIT_QUERY = "AuditLogsQuery.Read.All"  # the audit log query API (POST creates a query)
AUDIT_QUERIES = re.compile(r"^/v1\.0/security/auditLog/queries$")
# JSON batching (learn.microsoft.com/graph/json-batching): POST /{version}/$batch, at most 20
# inner requests, each answered as {"id", "status", "headers", "body"} with body a JSON value.
BATCH = re.compile(r"^/(v1\.0|beta)/\$batch$")

# Token endpoint faults (`SimulatedGraph.token_fault`): an HTML page with 200 (a proxy or
# captive portal answering for login.microsoftonline.com), a 200 answer without access_token.
TOKEN_FAULTS = ("html", "no-access-token")
TOKEN_FAULT_HTML = (
    b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
    b"<body><p>Please sign in to the network to continue.</p></body></html>"
)
BATCH_LIMIT = 20

ROUTES = (
    _route("/organization", "organization", "Organization.Read.All", "Directory.Read.All"),
    _route("/subscribedSkus", "subscribed_skus", "Organization.Read.All", "Directory.Read.All"),
    _route("/users", "users", "User.Read.All", "Directory.Read.All"),
    _route("/users/\\$count", "users_count", "User.Read.All", "Directory.Read.All"),
    _route("/users/{id}", "user", "User.Read.All", "Directory.Read.All"),
    _route(
        "/users/{id}/authentication/methods", "auth_methods", "UserAuthenticationMethod.Read.All"
    ),
    _route(
        "/reports/authenticationMethods/userRegistrationDetails",
        "registration_details",
        "AuditLog.Read.All",
        "UserAuthenticationMethod.Read.All",
        needs="p1",
    ),
    _route(
        "/roleManagement/directory/roleDefinitions",
        "role_definitions",
        "RoleManagement.Read.Directory",
        "RoleManagement.Read.All",
        "Directory.Read.All",
    ),
    _route(
        "/roleManagement/directory/roleAssignments",
        "role_assignments",
        "RoleManagement.Read.Directory",
        "RoleManagement.Read.All",
        "Directory.Read.All",
    ),
    _route("/groups", "groups", "GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"),
    _route(
        "/groups/{id}/members",
        "group_members",
        "GroupMember.Read.All",
        "Group.Read.All",
        "Directory.Read.All",
    ),
    _route(
        "/servicePrincipals", "service_principals", "Application.Read.All", "Directory.Read.All"
    ),
    _route(
        "/policies/identitySecurityDefaultsEnforcementPolicy",
        "security_defaults",
        "Policy.Read.All",
    ),
    _route(
        "/identity/conditionalAccess/policies",
        "ca_policies",
        "Policy.Read.All",
        "Policy.Read.ConditionalAccess",
    ),
    _route(
        "/servicePrincipals/{id}/appRoleAssignedTo",
        "app_role_assigned_to",
        "Application.Read.All",
        "Directory.Read.All",
    ),
    _route("/auditLogs/signIns", "sign_ins", "AuditLog.Read.All", needs="p1"),
    _route(
        "/deviceManagement/managedDevices",
        "managed_devices",
        "DeviceManagementManagedDevices.Read.All",
        needs="intune",
    ),
    *(
        _route(path, "static_collection", *perms, needs=STATIC_NEEDS.get(path))
        for path, perms in STATIC_COLLECTIONS.items()
    ),
    *(
        _route(path, "static_object", *perms, needs=STATIC_NEEDS.get(path))
        for path, perms in STATIC_OBJECTS.items()
    ),
    _route(
        ROLE_POLICIES,
        "role_policy_assignments",
        *dict.fromkeys(p for perms in ROLE_POLICY_PERMISSIONS.values() for p in perms),
        needs="p2",
    ),
    _route(
        "/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances",
        "pim_group_eligibility",
        "PrivilegedEligibilitySchedule.Read.AzureADGroup",
        "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",
        needs="p2",
    ),
    # Custom app management policies (List appManagementPolicies; List appliesTo, which wants
    # "Application.Read.All and Policy.Read.All"). Read-only permissions only.
    _route(
        "/policies/appManagementPolicies",
        "app_management_policies",
        "Policy.Read.All",
        "Policy.Read.ApplicationConfiguration",
    ),
    _route(
        "/policies/appManagementPolicies/{id}/appliesTo",
        "app_management_policy_applies_to",
        "Policy.Read.All",
        also=("Application.Read.All",),
    ),
    # Inbox rules ("List rules", v1.0): MailboxSettings.Read, or its ReadWrite.
    _route(
        "/users/{id}/mailFolders/inbox/messageRules",
        "message_rules",
        "MailboxSettings.Read",
        "MailboxSettings.ReadWrite",
    ),
    _route("/security/auditLog/queries/{id}", "audit_query", AUDIT_QUERY),
    _route("/security/auditLog/queries/{id}/records", "audit_records", AUDIT_QUERY),
)

# The v1.0 type each route answers with (collections: one item's type). `$select`/`$filter` are
# held to it, and the conformance test holds every answer to it (graph_schema.py).
ROUTE_TYPES: dict[str, str | None] = {
    "/organization": "organization",
    "/subscribedSkus": "subscribedSku",
    "/users": "user",
    "/users/\\$count": "user",  # answers a plain number; $filter as on /users
    "/users/{id}": "user",
    "/users/{id}/authentication/methods": "authenticationMethod",
    "/reports/authenticationMethods/userRegistrationDetails": "userRegistrationDetails",
    "/roleManagement/directory/roleDefinitions": "unifiedRoleDefinition",
    "/roleManagement/directory/roleAssignments": "unifiedRoleAssignment",
    "/groups": "group",
    "/groups/{id}/members": "directoryObject",
    "/servicePrincipals": "servicePrincipal",
    "/policies/identitySecurityDefaultsEnforcementPolicy": (
        "identitySecurityDefaultsEnforcementPolicy"
    ),
    "/identity/conditionalAccess/policies": "conditionalAccessPolicy",
    "/servicePrincipals/{id}/appRoleAssignedTo": "appRoleAssignment",
    "/auditLogs/signIns": "signIn",
    "/deviceManagement/managedDevices": "managedDevice",
    "/domains": "domain",
    "/groupSettings": "groupSetting",
    "/auditLogs/directoryAudits": "directoryAudit",
    "/oauth2PermissionGrants": "oAuth2PermissionGrant",
    "/security/secureScores": "secureScore",
    "/identityProtection/riskyUsers": "riskyUser",
    "/roleManagement/directory/roleEligibilityScheduleInstances": (
        "unifiedRoleEligibilityScheduleInstance"
    ),
    "/roleManagement/directory/roleAssignmentScheduleInstances": (
        "unifiedRoleAssignmentScheduleInstance"
    ),
    "/deviceManagement/deviceCompliancePolicies": "deviceCompliancePolicy",
    "/deviceManagement/deviceConfigurations": "deviceConfiguration",
    "/solutions/backupRestore/protectionPolicies": "protectionPolicyBase",
    "/solutions/backupRestore/serviceApps": "serviceApp",
    "/identity/conditionalAccess/namedLocations": "namedLocation",
    "/policies/authorizationPolicy": "authorizationPolicy",
    "/policies/authenticationMethodsPolicy": "authenticationMethodsPolicy",
    "/policies/adminConsentRequestPolicy": "adminConsentRequestPolicy",
    "/solutions/backupRestore": "backupRestoreRoot",
    "/admin/sharepoint/settings": "sharepointSettings",
    "/deviceManagement": "deviceManagement",
    "/applications": "application",
    "/policies/defaultAppManagementPolicy": "tenantAppManagementPolicy",
    "/policies/roleManagementPolicyAssignments": "unifiedRoleManagementPolicyAssignment",
    "/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances": (
        "privilegedAccessGroupEligibilityScheduleInstance"
    ),
    "/policies/appManagementPolicies": "appManagementPolicy",
    "/policies/appManagementPolicies/{id}/appliesTo": "directoryObject",
    "/users/{id}/mailFolders/inbox/messageRules": "messageRule",
    # microsoft.graph.security types are not in the schema extract (shared/reference).
    "/security/auditLog/queries/{id}": None,
    "/security/auditLog/queries/{id}/records": None,
}
_FILTER_FIELD = re.compile(
    r"(?:^|[\s(])([A-Za-z_]\w*)(?:/\w+)*\s+(?:eq|ne|gt|ge|lt|le|in)\s|startswith\((\w+)",
    re.IGNORECASE,
)


def undefined_property(route_path: str, name: str) -> bool:
    """Whether Graph v1.0 refuses `name` in a `$select`/`$filter` on this route."""
    kind = ROUTE_TYPES.get(route_path)
    if kind is None:
        return False
    type_name = graph_schema.NS + kind
    if not graph_schema.unknown_property(type_name, name):
        return False
    if kind == "directoryObject":
        # Directory collections of mixed objects (members) accept the properties of the
        # derived types (user, group, servicePrincipal) in $select; Intune's do not.
        return all(
            graph_schema.unknown_property(graph_schema.NS + t, name)
            for t in ("user", "group", "servicePrincipal", "device", "orgContact")
        )
    return True


# $top limits: directory objects 999 (default 100); the rest serve everything in one page.
PAGE_LIMITS = {
    "sign_ins": (1000, 1000),
    "app_role_assigned_to": (100, 999),
    "users": (100, 999),
    # with signInActivity selected: at most 500 per page (user-list docs, since 2025-07)
    "users_sign_in": (100, 500),
    "group_members": (100, 999),
    "groups": (100, 999),
    "service_principals": (100, 999),
    "registration_details": (1000, 999),
}


def permits(path: str, granted: set[str], query_filter: str | None = None) -> bool:
    """Whether Graph lets an app with these permissions read `path` (licence aside); for PIM
    policies the `$filter`'s scope decides which permissions count."""
    concrete = path.replace("{id}", "00000000-0000-0000-0000-000000000000")
    if AUDIT_QUERIES.match(f"/v1.0{concrete}"):  # the one POST route
        return AUDIT_QUERY in granted
    for route in ROUTES:
        if route.pattern.match(concrete):
            needed = scoped_permissions(route.path, query_filter) or route.permissions
            return route.allows(granted, needed)
    raise KeyError(path)


class SimulatedGraph(Served):
    """Serves one or more tenants on 127.0.0.1 until stopped (also a context manager)."""

    def __init__(
        self,
        tenants: TenantData | Sequence[TenantData],
        latency_ms: float = 0.0,
        *,
        port: int = 0,
        secret_expired: bool = False,
        capture: bool = False,
        throttle: ThrottleModel | None = None,
        request_log: str | None = None,
        tenant_factory: Callable[[str], TenantData | None] | None = None,
        cached_users: int = 250_000,
    ) -> None:
        self.tenants = [tenants] if isinstance(tenants, TenantData) else list(tenants)
        # Many tenants (the sector benchmark): a tenant id the fixed list lacks is made on first
        # use by `tenant_factory` (None: no such tenant) and kept in an LRU of at most
        # `cached_users` users in all, so the simulator's memory stays bounded. The factory must
        # be deterministic: an evicted tenant is made again, and its pages must not change.
        self.tenant_factory = tenant_factory
        self.cached_users = cached_users
        self._lazy: OrderedDict[str, _Api] = OrderedDict()
        self._making: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self.latency = latency_ms / 1000.0
        # Graph's documented limits and a latency per page (demo/throttle.py); off by default.
        self.throttle = throttle
        # Every request as one JSON line (RequestRecord.as_json), for the benchmarks' floor.
        self._log_file = open(request_log, "a", encoding="utf-8") if request_log else None  # noqa: SIM115
        self.secret_expired = secret_expired
        # A broken token endpoint, for the sign-in fault tests (TOKEN_FAULTS); None: Entra's.
        self.token_fault: str | None = None
        self.key = secrets.token_bytes(32)  # signs the tokens this instance issues
        self.requests: list[RequestRecord] = []
        # Write cmdlets (Set-, Add-, Remove- ...) that reached the Exchange Admin API: refused,
        # and kept here so a test can show the scanner never sends one.
        self.exchange_writes: list[str] = []
        # Opt-in copy of every 200 body (route template, path, query, body): the schema test
        # checks what the simulator really answered, not what its profiles hold.
        self.bodies: list[tuple[str, str, str, bytes]] | None = [] if capture else None
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._apis = {t.tenant_id: _Api(t, self) for t in self.tenants}
        # App registrations' certificates by tenant id (demo/tls.py registers them).
        self.certificates: dict[str, list[Any]] = {}
        handler = type("Handler", (_Handler,), {"sim": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v1.0"

    @property
    def token_url(self) -> str:
        return self.token_url_for(self.tenants[0].tenant_id)

    def token_url_for(self, tenant_id: str) -> str:
        return f"{self.base_url}/{tenant_id}/oauth2/v2.0/token"

    def inject(self, path: str, *faults: Fault) -> None:
        """The next requests to `path` (relative to the version root) get these answers."""
        with self._lock:
            self._faults[path].extend(faults)

    def next_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(path)
            return queue.popleft() if queue else None

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)
            if self._log_file is not None:
                self._log_file.write(json.dumps(record.as_json()) + "\n")
                self._log_file.flush()

    def stop(self) -> None:
        super().stop()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- tokens -----------------------------------------------------------------------------

    def issue_token(self, tenant: TenantData, audience: str = GRAPH_AUDIENCE) -> str:
        """A token for one resource: Graph's carries the Graph permissions, Exchange Online's
        the Office 365 Exchange Online ones (`Exchange.*`), as Entra issues them per resource."""
        now = int(time.time())
        header = {"typ": "JWT", "alg": "HS256"}
        exchange = audience == EXCHANGE_AUDIENCE
        granted = tenant.granted_permissions
        roles = sorted(p for p in granted if p.startswith("Exchange.") == exchange)
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{tenant.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + 3599,
            "appid": tenant.client_id,
            "idtyp": "app",
            "tid": tenant.tenant_id,
            "roles": roles,
        }
        signing_input = f"{_b64(header)}.{_b64(claims)}"
        signature = hmac.new(self.key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64raw(signature)}"

    def verify_exchange_token(self, authorization: str | None) -> dict[str, Any]:
        """A token this instance issued for Exchange Online (401 otherwise, as Exchange)."""
        from m365apk.demo.exchange import ExchangeError

        try:
            return self.verify_token(authorization, EXCHANGE_AUDIENCE)
        except GraphError as exc:
            raise ExchangeError(401, "InvalidToken", exc.message) from None

    def verify_token(
        self, authorization: str | None, audience: str = GRAPH_AUDIENCE
    ) -> dict[str, Any]:
        if not authorization or not authorization.startswith("Bearer "):
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        token = authorization.removeprefix("Bearer ")
        try:
            signing_input, signature = token.rsplit(".", 1)
            expected = hmac.new(self.key, signing_input.encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(_unb64(signature), expected):
                raise ValueError("signature")
            claims = json.loads(_unb64(signing_input.split(".")[1]))
        except (ValueError, IndexError):
            raise GraphError(
                401, "InvalidAuthenticationToken", "Access token validation failure."
            ) from None
        if claims.get("exp", 0) < time.time():
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            )
        if claims.get("aud") != audience:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid audience.",
            )
        return claims

    def token_response(self, tenant_ref: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        tenant = next(
            (t for t in self.tenants if tenant_ref in (t.tenant_id, t.default_domain)), None
        )
        if tenant is None:
            made = self.lazy_api(tenant_ref)
            tenant = made.t if made is not None else None
        if tenant is None:
            return _aad_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant_ref}' not found. Check to make sure you have the correct "
                "tenant ID and are signing into the correct cloud.",
            )
        if form.get("grant_type") != "client_credentials":
            return _aad_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            )
        if form.get("client_id") != tenant.client_id:
            return _aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the "
                f"directory '{tenant.display_name}'. This can happen if the application has "
                "not been installed by the administrator of the tenant or consented to by any "
                "user in the tenant.",
            )
        if form.get("client_assertion_type"):  # certificate credential (over demo/tls.py)
            from m365apk.demo.tls import JWT_BEARER, check_client_assertion

            if form["client_assertion_type"] != JWT_BEARER:
                return _aad_error(400, "invalid_request", 50027, "Invalid client assertion type.")
            refused = check_client_assertion(self, tenant, form.get("client_assertion") or "")
            if refused:
                return refused
        elif not hmac.compare_digest(
            (form.get("client_secret") or "").encode(), tenant.client_secret.encode()
        ):
            return _aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request "
                "is the client secret value, not the client secret ID, for a secret added to "
                f"app '{tenant.client_id}'.",
            )
        elif self.secret_expired:
            return _aad_error(
                401,
                "invalid_client",
                7000222,
                f"The provided client secret keys for app '{tenant.client_id}' are expired. "
                "Visit the Azure portal to create new keys for your app.",
            )
        if not (form.get("scope") or "").endswith("/.default"):
            return _aad_error(
                400,
                "invalid_scope",
                1002012,
                "The provided value for scope is not valid. Client credential flows must have "
                "a scope value with /.default suffixed to the resource identifier.",
            )
        resource = (form.get("scope") or "").removesuffix("/.default").rstrip("/")
        if resource not in (GRAPH_AUDIENCE, EXCHANGE_AUDIENCE):
            return _aad_error(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named "
                f"{tenant.display_name}.",
            )
        token = self.issue_token(tenant, resource)
        return 200, {
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": token,
        }

    def lazy_api(self, tenant_id: str) -> _Api | None:
        """The factory's tenant `tenant_id` (made now if it is not cached), or None."""
        if self.tenant_factory is None:
            return None
        with self._lock:
            api = self._lazy.get(tenant_id)
            if api is not None:
                self._lazy.move_to_end(tenant_id)
                return api
            making = self._making[tenant_id]
        with making:  # one maker per tenant; other tenants are made in parallel
            with self._lock:
                api = self._lazy.get(tenant_id)
            if api is not None:
                return api
            tenant = self.tenant_factory(tenant_id)
            if tenant is None:
                return None
            api = _Api(tenant, self)
            with self._lock:
                self._lazy[tenant_id] = api
                self._making.pop(tenant_id, None)
                total = sum(len(a.t.users) for a in self._lazy.values())
                while len(self._lazy) > 1 and total > self.cached_users:
                    _, evicted = self._lazy.popitem(last=False)
                    total -= len(evicted.t.users)
            return api

    def api_for(self, claims: dict[str, Any]) -> _Api:
        api = self._apis.get(claims.get("tid", "")) or self.lazy_api(claims.get("tid", ""))
        if api is None:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure.")
        return api


def _b64raw(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64(obj: dict[str, Any]) -> str:
    return _b64raw(json.dumps(obj, separators=(",", ":")).encode())


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _aad_error(status: int, error: str, code: int, text: str) -> tuple[int, dict[str, Any]]:
    trace, correlation = uuid.uuid4(), uuid.uuid4()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return status, {
        "error": error,
        "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: "
        f"{correlation} Timestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": str(trace),
        "correlation_id": str(correlation),
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


# --- OData query handling -------------------------------------------------------------------

_IN = re.compile(r"^\s*(?P<field>\w+)\s+in\s+\((?P<values>[^)]*)\)\s*$", re.IGNORECASE)
_CLAUSE = re.compile(
    r"^\s*(?:(?P<field>[\w/]+)\s+eq\s+(?P<value>'(?:[^']|'')*'|true|false|null|-?\d+)"
    r"|startswith\((?P<sfield>\w+),\s*'(?P<prefix>(?:[^']|'')*)'\))\s*$",
    re.IGNORECASE,
)


_GE = re.compile(r"^\s*(?P<field>\w+)\s+ge\s+(?P<value>\d{4}-\d\d-\d\dT[\d:.]+Z)\s*$")


def _top_level_and(text: str) -> list[str]:
    """Split on ` and ` outside parentheses."""
    parts, depth, start = [], 0, 0
    for m in re.finditer(r"\(|\)|\s+and\s+", text):
        token = m.group()
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0:
            parts.append(text[start : m.start()])
            start = m.end()
    parts.append(text[start:])
    return parts


def parse_filter(text: str, allowed: set[str]) -> Callable[[dict[str, Any]], bool]:
    """The subset of OData $filter we use: `field eq value`, startswith, `in`, a datetime
    `field ge value`, and a parenthesised `or` of those, joined by `and`."""
    tests: list[Callable[[dict[str, Any]], bool]] = []
    for clause in _top_level_and(text.strip()):
        stripped = clause.strip()
        if stripped.startswith("(") and stripped.endswith(")"):
            options = [
                parse_filter(part, allowed) for part in re.split(r"\s+or\s+", stripped[1:-1])
            ]
            tests.append(lambda o, opts=options: any(t(o) for t in opts))
            continue
        found_ge = _GE.match(clause)
        if found_ge and found_ge["field"] in allowed:
            bound = found_ge["value"]
            # ISO 8601 UTC strings of one shape compare in time order.
            tests.append(lambda o, n=found_ge["field"], b=bound: str(o.get(n) or "")[:19] >= b[:19])
            continue
        found_in = _IN.match(clause)
        if found_in and found_in["field"] in allowed:
            values = {v.strip().strip("'").lower() for v in found_in["values"].split(",")}
            tests.append(
                lambda o, n=found_in["field"], vs=values: str(o.get(n) or "").lower() in vs
            )
            continue
        m = _CLAUSE.match(clause)
        if not m:
            raise GraphError(400, "Request_UnsupportedQuery", "Unsupported Query.")
        if m["sfield"]:
            name, prefix = m["sfield"], m["prefix"].replace("''", "'").lower()
            if name not in allowed:
                raise GraphError(400, "Request_UnsupportedQuery", "Unsupported Query.")
            tests.append(lambda o, n=name, p=prefix: str(o.get(n) or "").lower().startswith(p))
            continue
        name, raw = m["field"], m["value"]
        if name not in allowed:
            raise GraphError(
                400,
                "Request_UnsupportedQuery",
                f"Unsupported or invalid query filter clause specified for property '{name}'.",
            )
        value: Any = (
            raw[1:-1].replace("''", "'")
            if raw.startswith("'")
            else {"true": True, "false": False, "null": None}.get(raw.lower(), raw)
        )
        if isinstance(value, str) and value.lstrip("-").isdigit() and not raw.startswith("'"):
            value = int(value)

        def test(o: dict[str, Any], n: str = name, v: Any = value) -> bool:
            actual = o.get(n)
            if isinstance(actual, str) and isinstance(v, str):
                return actual.lower() == v.lower()  # Graph compares strings case-insensitively
            return actual == v

        tests.append(test)
    return lambda o: all(t(o) for t in tests)


class _Api:
    """One tenant's Graph: route handlers plus caches of pre-serialised objects."""

    FILTERABLE = {
        "users": {"accountEnabled", "userType", "id", "userPrincipalName", "displayName", "mail"},
        "registration_details": {
            "isMfaCapable",
            "isMfaRegistered",
            "isSsprRegistered",
            "isSsprEnabled",
            "isAdmin",
            "userType",
            "userPrincipalName",
            "userDisplayName",
        },
        "role_assignments": {"roleDefinitionId", "principalId", "directoryScopeId"},
        "policies/roleManagementPolicyAssignments": {"scopeId", "scopeType", "roleDefinitionId"},
        "pim_group_eligibility": {"groupId", "principalId", "accessId"},
        "role_definitions": {"displayName", "templateId", "isBuiltIn"},
        "group_members": set(),
        "groups": {"isAssignableToRole", "displayName"},
        "service_principals": {"appId", "displayName", "servicePrincipalType"},
        "sign_ins": {"createdDateTime", "userId", "userPrincipalName", "clientAppUsed"},
        "managed_devices": {"operatingSystem", "complianceState", "isEncrypted"},
        "identityProtection/riskyUsers": {"riskState", "riskLevel"},
        "roleManagement/directory/roleAssignmentScheduleInstances": {
            "assignmentType",
            "roleDefinitionId",
            "principalId",
        },
        "roleManagement/directory/roleEligibilityScheduleInstances": {
            "roleDefinitionId",
            "principalId",
        },
        "ca_policies": {"state", "displayName"},
    }

    def __init__(self, tenant: TenantData, sim: SimulatedGraph) -> None:
        self.t = tenant
        self.sim = sim
        self._cache: dict[tuple[Any, ...], list[bytes]] = {}
        self._with_activity: list[dict[str, Any]] | None = None
        self._cache_lock = threading.Lock()
        self.audit = AuditSearch(profile_audit_records(tenant.name))
        self.mail = MailRules(tenant)

    def audit_query(self, q: _Query, id: str) -> bytes:
        query = self.audit.get(id)
        if query is None:
            raise GraphError(404, "NotFound", f"Audit log query '{id}' was not found.")
        context = f"{self.sim.graph_url}/$metadata#security/auditLog/queries/$entity"
        return _dump({"@odata.context": context, **query})

    def audit_records(self, q: _Query, id: str) -> bytes:
        records = self.audit.records(id, q.top or 150)
        if records is None:
            raise GraphError(404, "NotFound", f"Audit log query '{id}' was not found.")
        context = f"{self.sim.graph_url}/$metadata#security/auditLog/queries('{id}')/records"
        return _dump({"@odata.context": context, "value": records})

    # Collections: (items, name for $select/$filter rules, OData context)
    def organization(self, q: _Query, **_: str) -> bytes:
        return self.page(q, "organization", [self.t.organization], "organization")

    def subscribed_skus(self, q: _Query, **_: str) -> bytes:
        return self.page(q, "subscribed_skus", self.t.subscribed_skus, "subscribedSkus")

    def licensed(self, need: str) -> bool:
        lic = summarise(self.t.subscribed_skus)
        return {
            "p1": lic.entra_plan in ("p1", "p2"),
            "p2": lic.entra_plan == "p2",
            "intune": lic.intune,
        }[need]

    def users(self, q: _Query, **_: str) -> bytes:
        if "signInActivity" not in q.select:
            return self.page(q, "users", self.t.users, "users")
        # Sign-in activity needs AuditLog.Read.All on top, and Entra ID P1 (graph-reference §2.4).
        if "AuditLog.Read.All" not in q.granted:
            raise GraphError(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        if not self.licensed("p1"):
            raise GraphError(*LICENCE_ERRORS["p1"])
        if self._with_activity is None:  # built once: pages are served from the cache
            activity = self.t.sign_in_activity
            self._with_activity = [
                {**u, "signInActivity": activity.get(u["id"])} for u in self.t.users
            ]
        return self.page(
            q, "users_sign_in", self._with_activity, "users", cache_key=("signInActivity",)
        )

    def sign_ins(self, q: _Query, **_: str) -> bytes:
        return self.page(q, "sign_ins", self.t.sign_ins, "auditLogs/signIns")

    def managed_devices(self, q: _Query, **_: str) -> bytes:
        return self.page(
            q, "managed_devices", self.t.managed_devices, "deviceManagement/managedDevices"
        )

    def app_role_assigned_to(self, q: _Query, id: str) -> bytes:
        if not any(sp["id"] == id for sp in self.t.service_principals):
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{id}' does not exist or one of its queried reference-property "
                "objects are not present.",
            )
        items = [a for a in self.t.app_role_assignments if a["resourceId"] == id]
        return self.page(
            q,
            "app_role_assigned_to",
            items,
            f"servicePrincipals('{id}')/appRoleAssignedTo",
            cache_key=(id,),
        )

    def static_collection(self, q: _Query, **_: str) -> bytes:
        body = self.t.static.get(q.route.path, {})
        if "error" in body:
            raise GraphError(*body["error"])
        context = q.route.path.strip("/")
        return self.page(q, context, body.get("value", []), context)

    def app_management_policies(self, q: _Query, **_: str) -> bytes:
        # A profile keeps each policy's appliesTo beside it; Graph's list does not return it.
        policies = [
            {k: v for k, v in p.items() if k != "appliesTo"}
            for p in self.t.static.get(q.route.path, {}).get("value", [])
        ]
        return self.page(
            q, "policies/appManagementPolicies", policies, "policies/appManagementPolicies"
        )

    def app_management_policy_applies_to(self, q: _Query, id: str) -> bytes:
        policies = self.t.static.get("/policies/appManagementPolicies", {}).get("value", [])
        found = next((p for p in policies if p.get("id") == id), None)
        if found is None:
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{id}' does not exist or one of its queried reference-property "
                "objects are not present.",
            )
        return self.page(
            q,
            f"policies/appManagementPolicies('{id}')/appliesTo",
            list(found.get("appliesTo", [])),
            "directoryObjects",
            cache_key=(id,),
        )

    def static_object(self, q: _Query, **_: str) -> bytes:
        body = self.t.static.get(q.route.path)
        if body is None:
            raise GraphError(
                404, "Request_ResourceNotFound", f"Resource '{q.route.path}' does not exist."
            )
        if "error" in body:
            raise GraphError(*body["error"])
        context = f"{self.sim.graph_url}/$metadata#{q.route.path.strip('/')}/$entity"
        return _dump({"@odata.context": context, **q.select_one(body["object"], None)})

    def role_policy_assignments(self, q: _Query, **_: str) -> bytes:
        """PIM policy assignments: Graph requires the `$filter` on scopeId and scopeType (roles:
        scopeId '/', groups: the group's id). A group that PIM for Groups knows answers its
        member and owner policies."""
        text = q.filter or ""
        if not re.search(r"scopeId\s+eq", text) or not _SCOPE_TYPE.search(text):
            raise GraphError(
                400,
                "BadRequest",
                "The filter must specify scopeId and scopeType (List roleManagementPolicy"
                "Assignments requires $filter).",
            )
        body = self.t.static.get(ROLE_POLICIES, {})
        if "error" in body:
            raise GraphError(*body["error"])
        items = body.get("value", [])
        return self.page(
            q,
            "policies/roleManagementPolicyAssignments",
            items,
            "policies/roleManagementPolicyAssignments",
        )

    def pim_group_eligibility(self, q: _Query, **_: str) -> bytes:
        """PIM for Groups eligibility instances: Graph requires a `$filter` on groupId or
        principalId ("List eligibilityScheduleInstances" of privilegedAccessGroup)."""
        if not re.search(r"\b(groupId|principalId)\s+eq\s", q.filter or ""):
            raise GraphError(
                400,
                "BadRequest",
                "The request requires a filter on groupId or principalId.",
            )
        return self.page(
            q,
            "pim_group_eligibility",
            self.t.static.get(PIM_GROUP_ELIGIBILITY, {}).get("value", []),
            "identityGovernance/privilegedAccess/group/eligibilityScheduleInstances",
        )

    def users_count(self, q: _Query, **_: str) -> bytes:
        q.require_eventual()
        items = self.t.users
        if q.filter:
            match = parse_filter(q.filter, self.FILTERABLE["users"])
            items = [u for u in items if match(u)]
        q.content_type = "text/plain;charset=utf-8"
        return str(len(items)).encode()

    def user(self, q: _Query, id: str) -> bytes:
        obj = self._user(id)
        return _dump(
            {
                "@odata.context": f"{self.sim.graph_url}/$metadata#users/$entity",
                **q.select_one(obj, "users"),
            }
        )

    def _user(self, ref: str) -> dict[str, Any]:
        ref = unquote(ref)
        users = self.t.users
        index = self.__dict__.get("_user_index")
        if index is None or index[0] is not users or index[1] != len(users):
            # Per-user reads (the A1 methods fan-out) ask for thousands: an index, not a scan.
            # Rebuilt when the tenant's user list is replaced or grows (tests change it).
            by_ref: dict[str, dict[str, Any]] = {}
            for u in reversed(users):  # the first match wins, as the scan did
                by_ref[u["userPrincipalName"]] = u
                by_ref[u["id"]] = u
            index = self.__dict__["_user_index"] = (users, len(users), by_ref)
        found = index[2].get(ref)
        if found is not None:
            return found
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{ref}' does not exist or one of its queried reference-property objects "
            "are not present.",
        )

    def auth_methods(self, q: _Query, id: str) -> bytes:
        user = self._user(id)
        methods = self.t.auth_methods(user["id"])
        ctx = f"users('{user['id']}')/authentication/methods"
        return self.page(q, None, methods, ctx)

    def message_rules(self, q: _Query, id: str) -> bytes:
        user = self._user(id)
        if not self.mail.has_mailbox(user):
            raise GraphError(*NO_MAILBOX)
        ctx = f"users('{user['id']}')/mailFolders('inbox')/messageRules"
        return self.page(q, None, self.mail.rules(user["id"]), ctx)

    def registration_details(self, q: _Query, **_: str) -> bytes:
        return self.page(
            q,
            "registration_details",
            self.t.registration_details,
            "reports/authenticationMethods/userRegistrationDetails",
        )

    def role_definitions(self, q: _Query, **_: str) -> bytes:
        return self.page(
            q,
            "role_definitions",
            self.t.role_definitions,
            "roleManagement/directory/roleDefinitions",
        )

    def role_assignments(self, q: _Query, **_: str) -> bytes:
        expand = set(q.expand)
        if expand - {"principal", "roleDefinition"}:
            raise GraphError(
                400,
                "BadRequest",
                f"Could not find a property named '{q.expand[0]}'"
                " on type 'microsoft.graph.unifiedRoleAssignment'.",
            )
        items = self.t.role_assignments
        if expand:
            roles = {r["id"]: r for r in self.t.role_definitions}
            items = [
                {
                    **a,
                    **(
                        {"principal": self.t.objects.get(a["principalId"])}
                        if "principal" in expand
                        else {}
                    ),
                    **(
                        {"roleDefinition": roles.get(a["roleDefinitionId"])}
                        if "roleDefinition" in expand
                        else {}
                    ),
                }
                for a in items
            ]
        suffix = "(" + ",".join(f"{e}()" for e in sorted(expand)) + ")" if expand else ""
        return self.page(
            q,
            "role_assignments",
            items,
            f"roleManagement/directory/roleAssignments{suffix}",
            cache_key=tuple(sorted(expand)),
        )

    def groups(self, q: _Query, **_: str) -> bytes:
        return self.page(q, "groups", self.t.groups, "groups")

    def group_members(self, q: _Query, id: str) -> bytes:
        if id not in self.t.group_members:
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{id}' does not exist or one of its queried reference-property "
                "objects are not present.",
            )
        members = [self.t.objects[m] for m in self.t.group_members[id]]
        return self.page(q, "group_members", members, "directoryObjects", cache_key=(id,))

    def service_principals(self, q: _Query, **_: str) -> bytes:
        return self.page(q, "service_principals", self.t.service_principals, "servicePrincipals")

    def security_defaults(self, q: _Query, **_: str) -> bytes:
        return _dump(q.select_one(self.t.security_defaults, None))

    def ca_policies(self, q: _Query, **_: str) -> bytes:
        return self.page(
            q,
            "ca_policies",
            self.t.conditional_access_policies,
            "identity/conditionalAccess/policies",
        )

    # --- paging -----------------------------------------------------------------------------

    def page(
        self,
        q: _Query,
        kind: str | None,
        items: list[dict[str, Any]],
        context: str,
        cache_key: tuple[Any, ...] = (),
    ) -> bytes:
        default, limit = PAGE_LIMITS.get(kind or "", (None, None))
        top = q.top
        if top is not None and limit is not None and not 1 <= top <= limit:
            raise GraphError(
                400,
                "Request_UnsupportedQuery",
                f"Invalid page size specified: '{top}'. Must be between 1 and {limit} inclusive.",
            )
        encoded = self.encoded(q, kind, items, cache_key)
        size = top or default or len(encoded) or 1
        offset = q.skip_offset()
        chunk = encoded[offset : offset + size]
        q.objects = len(chunk)
        ctx = context + (f"({','.join(q.select)})" if q.select else "")
        head = {"@odata.context": f"{self.sim.graph_url}/$metadata#{ctx}"}
        if q.count:
            if kind in ("users", "users_sign_in", "group_members", "groups", "service_principals"):
                q.require_eventual()
            head["@odata.count"] = len(encoded)
        if offset + size < len(encoded):
            head["@odata.nextLink"] = q.next_link(offset + size)
        prefix = _dump(head)[:-1]
        return prefix + b',"value":[' + b",".join(chunk) + b"]}"

    def encoded(
        self, q: _Query, kind: str | None, items: list[dict[str, Any]], cache_key: tuple[Any, ...]
    ) -> list[bytes]:
        # Pre-serialised per (collection, $select, $filter): a 100k-user tenant pages fast.
        key = (kind, cache_key, q.select, q.filter) if kind else None
        with self._cache_lock:
            cached = self._cache.get(key) if key else None
        if cached is not None:
            return cached
        if q.filter:
            match = parse_filter(q.filter, self.FILTERABLE.get(kind or "", set()))
            items = [i for i in items if match(i)]
        encoded = [_dump(q.select_one(i, kind)) for i in items]
        if key:
            with self._cache_lock:
                self._cache[key] = encoded
        return encoded


class _Query:
    """The OData system query options of one request."""

    def __init__(self, raw_query: str, headers: Any, path: str, base: str) -> None:
        params = {k: v[-1] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
        self.params = params
        self.path = path
        self.base = base
        self.headers = headers
        self.content_type = JSON_TYPE
        self.granted: set[str] = set()
        self.route: Route | None = None
        self.objects = 1  # objects in the answer: a page sets its item count
        self.select = tuple(s.strip() for s in params.get("$select", "").split(",") if s.strip())
        self.expand = [s.strip() for s in params.get("$expand", "").split(",") if s.strip()]
        self.filter = params.get("$filter")
        self.count = params.get("$count", "").lower() == "true"
        top = params.get("$top")
        try:
            self.top = int(top) if top is not None else None
        except ValueError:
            raise GraphError(
                400, "BadRequest", f"Invalid value '{top}' for query option $top."
            ) from None

    def check_properties(self) -> None:
        """Graph's 400 for a `$select` or `$filter` property its v1.0 type does not define."""
        assert self.route is not None
        type_name = f"{graph_schema.NS}{ROUTE_TYPES.get(self.route.path)}"
        for name in self.select:
            if undefined_property(self.route.path, name):
                raise GraphError(
                    400,
                    "BadRequest",
                    "Parsing OData Select and Expand failed: Could not find a property named "
                    f"'{name}' on type '{type_name}'.",
                )
        for found in _FILTER_FIELD.finditer(self.filter or ""):
            name = found.group(1) or found.group(2)
            if name.lower() in ("and", "or", "not") or not undefined_property(
                self.route.path, name
            ):
                continue
            raise GraphError(
                400,
                "BadRequest",
                f"Invalid filter clause: Could not find a property named '{name}' on type "
                f"'{type_name}'.",
            )

    def require_eventual(self) -> None:
        if (self.headers.get("ConsistencyLevel") or "").lower() != "eventual":
            raise GraphError(
                400,
                "Request_BadRequest",
                "$count is only supported with the ConsistencyLevel:eventual request header.",
            )

    def select_one(self, obj: dict[str, Any], kind: str | None) -> dict[str, Any]:
        if not self.select:
            return obj
        out = {k: obj[k] for k in ("@odata.type",) if k in obj}
        for name in self.select:
            out[name] = obj.get(name)
        return out

    def skip_offset(self) -> int:
        token = self.params.get("$skiptoken")
        if token is None:
            return 0
        try:
            data = json.loads(_unb64(token))
            return int(data["o"])
        except (ValueError, KeyError, TypeError):
            raise GraphError(
                400,
                "Directory_ExpiredPageToken",
                "The specified page token value has expired and can no longer be included in "
                "your request.",
            ) from None

    def next_link(self, offset: int) -> str:
        params = {k: v for k, v in self.params.items() if k != "$skiptoken"}
        # Opaque to clients, like Graph's: they must follow the link, never build it.
        params["$skiptoken"] = _b64raw(
            json.dumps({"o": offset, "n": secrets.token_hex(4)}).encode()
        )
        return f"{self.base}{self.path}?{urlencode(params, quote_via=quote, safe='')}"


class _Handler(BaseHTTPRequestHandler):
    sim: SimulatedGraph
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""

    wbufsize = 1 << 16  # headers and body leave in one write (flushed per request)

    def setup(self) -> None:
        super().setup()
        # No Nagle: small keep-alive responses would otherwise wait for delayed ACKs.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *_: Any) -> None:  # quiet: the request log is in sim.requests
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        split = urlsplit(self.path)
        if split.path.startswith("/adminapi/"):
            self.answer_exchange(split, body)
            return
        if AUDIT_QUERIES.match(split.path):
            try:
                self.create_audit_query(split, body)
            except GraphError as exc:
                self.send_graph_error(split, exc)
            return
        batch = BATCH.match(split.path)
        if batch:
            try:
                self.send_reply(self.answer_batch(split, batch.group(1), body))
            except GraphError as exc:
                self.send_graph_error(split, exc)
            return
        m = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", split.path)
        if not m:
            self.send_graph_error(
                split,
                GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed."),
            )
            return
        form = {k: v[-1] for k, v in parse_qs(body).items()}
        status, payload = self.sim.token_response(m.group(1), form)
        fault = self.sim.token_fault
        if fault == "html":  # a proxy's or captive portal's page instead of Entra's answer
            self.sim.record(RequestRecord("POST", split.path, "", 200))
            self.send(200, TOKEN_FAULT_HTML, "text/html; charset=utf-8")
            return
        if fault == "no-access-token" and status == 200:
            payload = {k: v for k, v in payload.items() if k != "access_token"}
        self.sim.record(RequestRecord("POST", split.path, "", status))
        self.send(status, _dump(payload), "application/json; charset=utf-8")

    def answer_exchange(self, split: Any, body: str) -> None:
        """The Exchange Online Admin API (demo/exchange.py); injected faults by
        `/adminapi/<Endpoint>`."""
        from m365apk.demo.exchange import answer

        if self.sim.latency:
            time.sleep(self.sim.latency)
        endpoint = split.path.rstrip("/").rsplit("/", 1)[-1]
        fault = self.sim.next_fault(f"/adminapi/{endpoint}")
        if fault is not None:
            reply = self.fault_reply(fault, self.headers)
            self.sim.record(RequestRecord("POST", split.path, split.query, reply.status))
            self.send_reply(reply)
            return
        try:
            status, payload, extra, objects = answer(
                self.sim, split.path, split.query, self.headers, body
            )
        except GraphError as exc:  # a token for another tenant: as Exchange, a 401
            status, payload, extra, objects = 401, {"error": {"code": exc.code}}, {}, 0
        self.sim.record(RequestRecord("POST", split.path, split.query, status, objects=objects))
        self.send(status, _dump(payload), "application/json; odata.metadata=minimal", extra)

    def create_audit_query(self, split: Any, body: str) -> None:
        """POST /security/auditLog/queries: Graph answers 201 with the new query."""
        claims = self.sim.verify_token(self.headers.get("Authorization"))
        api = self.sim.api_for(claims)
        if AUDIT_QUERY not in claims.get("roles", []):
            raise GraphError(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        try:
            payload = json.loads(body or "{}")
        except ValueError:
            raise GraphError(400, "BadRequest", "Invalid request body.") from None
        query = api.audit.create(payload)
        context = f"{self.sim.graph_url}/$metadata#security/auditLog/queries/$entity"
        self.sim.record(RequestRecord("POST", split.path, split.query, 201))
        self.send(201, _dump({"@odata.context": context, **query}), JSON_TYPE)

    def answer_batch(self, split: Any, version: str, body: str) -> Reply:
        """POST /$batch (learn.microsoft.com/graph/json-batching): every inner GET goes through
        the same route, permission, licence, fault and throttle rules as a request of its own
        and is logged as one (`inner=True`); the batch answers 200 with one response per id.

        Inner requests run one after the other here; the batch takes as long as its slowest
        inner answer (Graph may run independent inner requests in parallel)."""
        self.sim.verify_token(self.headers.get("Authorization"))
        try:
            payload = json.loads(body or "null")
        except ValueError:
            payload = None
        requests = payload.get("requests") if isinstance(payload, dict) else None
        if not isinstance(requests, list) or not all(isinstance(r, dict) for r in requests):
            raise GraphError(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > BATCH_LIMIT:
            raise GraphError(
                400,
                "BadRequest",
                f"The number of requests in a batch exceeds the limit of {BATCH_LIMIT}. [U]",
            )
        ids = [r.get("id") for r in requests]
        if any(not isinstance(i, str) or not i for i in ids) or len(set(ids)) != len(ids):
            raise GraphError(400, "BadRequest", "Batch request ids must be unique strings. [U]")
        parts: list[bytes] = []
        delay = 0.0
        for request in requests:
            reply = self.answer_inner(version, request)
            delay = max(delay, reply.delay)
            head = {"Content-Type": reply.content_type, **reply.headers}
            if reply.content_type.startswith("application/json"):
                inner_body = reply.body
            else:  # e.g. /users/$count's text/plain: a JSON string
                inner_body = _dump(reply.body.decode("utf-8", "replace"))
            parts.append(
                _dump({"id": request["id"], "status": reply.status, "headers": head})[:-1]
                + b',"body":'
                + inner_body
                + b"}"
            )
        self.sim.record(RequestRecord("POST", split.path, split.query, 200))
        out = b'{"responses":[' + b",".join(parts) + b"]}"
        return Reply(200, out, "application/json; charset=utf-8", {}, delay)

    def answer_inner(self, version: str, request: dict[str, Any]) -> Reply:
        url = str(request.get("url") or "")
        inner = urlsplit(f"/{version}/{url.lstrip('/')}")
        headers = _InnerHeaders(request.get("headers") or {})
        headers["authorization"] = self.headers.get("Authorization") or ""
        if str(request.get("method") or "").upper() != "GET":
            # The scanner only reads; the simulator answers GET inside a batch. [simulator]
            return self.error_reply(
                inner,
                GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed."),
                headers,
                inner=True,
                method=str(request.get("method") or ""),
            )
        return self.answer_get(inner, headers, inner=True)

    def do_GET(self) -> None:  # noqa: N802
        split = urlsplit(self.path)
        if self.sim.latency:
            time.sleep(self.sim.latency)
        self.send_reply(self.answer_get(split, self.headers))

    def answer_get(self, split: Any, headers: Any, *, inner: bool = False) -> Reply:
        """One GET (on the wire or inside a batch), logged once with what the throttle and
        latency models made of it."""
        meta: dict[str, Any] = {}
        started = time.time()
        try:
            reply = self.handle_get(split, headers, meta)
        except GraphError as exc:
            reply = self.error_reply(split, exc, headers, record=False)
        except Exception as exc:  # a simulator bug must look like a Graph 500, not a hang
            error = GraphError(500, "generalException", repr(exc))
            reply = self.error_reply(split, error, headers, record=False)
        decision = meta.get("decision")
        throttled = decision is not None and not decision.allowed
        objects = meta.get("objects", 0) if reply.status == 200 else 0
        if decision is not None:
            reply.headers.update(decision.headers)
            assert self.sim.throttle is not None
            reply.delay = self.sim.throttle.latency.of(objects)
        self.sim.record(
            RequestRecord(
                "GET",
                split.path,
                split.query,
                reply.status,
                inner,
                time=time.time() + reply.delay,
                start=started,
                tenant=meta.get("tenant", ""),
                bucket=decision.bucket if decision else "",
                cost=decision.cost if decision and decision.allowed else 0,
                charges=decision.charges if decision and decision.allowed else (),
                objects=objects,
                throttled=throttled,
                latency=reply.delay,
            )
        )
        return reply

    def handle_get(self, split: Any, headers: Any, meta: dict[str, Any]) -> Reply:
        m = re.match(r"^/(v1\.0|beta)(/.*)$", split.path)
        if not m:
            raise GraphError(400, "BadRequest", "Invalid version.")
        version, path = m.groups()
        claims = self.sim.verify_token(headers.get("Authorization"))
        api = self.sim.api_for(claims)
        meta["tenant"] = api.t.tenant_id
        fault = self.sim.next_fault(path)
        if fault is not None:
            return self.fault_reply(fault, headers)
        if self.sim.throttle is not None:
            decision = self.sim.throttle.admit(
                api.t.tenant_id, str(claims.get("appid", "")), len(api.t.users), path, split.query
            )
            meta["decision"] = decision
            if not decision.allowed:
                body = self.error_body("TooManyRequests", THROTTLED_MESSAGE, headers)
                return Reply(429, body, JSON_TYPE, {})
        for route in ROUTES:
            found = route.pattern.match(path)
            if found:
                break
        else:
            segment = path.strip("/").split("/")[0]
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
        granted = set(claims.get("roles", []))
        query_filter = parse_qs(split.query).get("$filter", [None])[-1]
        needed = scoped_permissions(route.path, query_filter) or route.permissions
        if not route.allows(granted, needed):
            raise GraphError(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        if route.needs and not api.licensed(route.needs):
            raise GraphError(*LICENCE_ERRORS[route.needs])
        query = _Query(split.query, headers, split.path, self.sim.base_url)
        query.granted = granted
        query.route = route
        query.check_properties()
        body = getattr(api, route.handler)(query, **found.groupdict())
        meta["objects"] = query.objects
        if self.sim.bodies is not None:
            with self.sim._lock:
                self.sim.bodies.append((route.path, split.path, split.query, body))
        return Reply(200, body, query.content_type, {})

    def fault_reply(self, fault: Fault, headers: Any) -> Reply:
        extra = {}
        if fault.retry_after is not None:
            # Graph sends whole seconds; kiota ignores fractions, so round up.
            extra["Retry-After"] = str(max(1, math.ceil(fault.retry_after)))
        if fault.retry_after_text is not None:
            extra["Retry-After"] = fault.retry_after_text
        if fault.body is not None:
            return Reply(fault.status, fault.body, JSON_TYPE, extra)
        code, message = {
            429: ("TooManyRequests", "Too many requests."),
            503: ("serviceNotAvailable", "Service unavailable. Please try again later."),
            504: ("UnknownError", "Gateway timeout."),
        }.get(fault.status, ("generalException", "An internal server error occurred."))
        return Reply(fault.status, self.error_body(code, message, headers), JSON_TYPE, extra)

    def error_reply(
        self,
        split: Any,
        exc: GraphError,
        headers: Any,
        *,
        inner: bool = False,
        method: str = "GET",
        extra: dict[str, str] | None = None,
        record: bool = True,
    ) -> Reply:
        if record:
            self.sim.record(RequestRecord(method, split.path, split.query, exc.status, inner))
        body = self.error_body(exc.code, exc.message, headers)
        return Reply(exc.status, body, JSON_TYPE, dict(extra or {}))

    def send_graph_error(self, split: Any, exc: GraphError) -> None:
        self.send_reply(self.error_reply(split, exc, self.headers, method=self.command))

    def send_reply(self, reply: Reply) -> None:
        if reply.delay > 0:
            time.sleep(reply.delay)
        self.send(reply.status, reply.body, reply.content_type, reply.headers)

    def error_body(self, code: str, message: str, headers: Any = None) -> bytes:
        sent = self.headers if headers is None else headers
        inner = {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": self.request_id,
            "client-request-id": sent.get("client-request-id") or self.request_id,
        }
        return _dump({"error": {"code": code, "message": message, "innerError": inner}})

    @property
    def request_id(self) -> str:
        if not hasattr(self, "_rid"):
            self._rid = str(uuid.uuid4())
        return self._rid

    def send(
        self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("request-id", self.request_id)
        self.send_header(
            "client-request-id", self.headers.get("client-request-id") or self.request_id
        )
        self.send_header(
            "x-ms-ags-diagnostic",
            '{"ServerInfo":{"DataCenter":"West Europe","Slice":"E","Ring":"5",'
            '"ScaleUnit":"000","RoleInstance":"AM1PEPF0001SIM"}}',
        )
        self.send_header("Strict-Transport-Security", "max-age=31536000")
        self.send_header("Cache-Control", "no-cache")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m m365apk.demo.server",
        description="Gesimuleerde Microsoft Graph op 127.0.0.1 (demo, tests, benchmarks)",
    )
    parser.add_argument("--profile", default="weak")
    parser.add_argument("--users", type=int)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--throttle",
        action="store_true",
        help="Graph's gedocumenteerde limieten en een latentie per pagina (demo/throttle.py)",
    )
    parser.add_argument("--request-log", help="elk verzoek als JSON-regel naar dit bestand")
    args = parser.parse_args(argv)
    tenant = load_profile(args.profile, users=args.users)
    sim = SimulatedGraph(
        tenant,
        args.latency_ms,
        port=args.port,
        throttle=ThrottleModel() if args.throttle else None,
        request_log=args.request_log,
    )
    sim.serve_until_terminated(sim.base_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
