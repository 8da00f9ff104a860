"""The Graph datasets m365apk can collect: one place that says what each one is.

A check names the datasets it needs; the collector fetches only those. Each spec holds the
SDK request builder that addresses it (so the URL is the SDK's, not ours), the query we send,
the least-privileged application permission, and the pydantic shape we keep.
Sources: shared/reference/graph-reference.md, which cites the Microsoft Graph docs per endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from m365apk.errors import ConfigError
from m365apk.scanner import graph_models as gm
from m365apk.scanner.exchange import (
    EXCHANGE_PERMISSION,
    ExoAcceptedDomain,
    ExoMailbox,
    ExoOrganizationConfig,
)
from m365apk.snapshot import Dataset

ENTRA_P1 = "Microsoft Entra ID P1"
ENTRA_P2 = "Microsoft Entra ID P2"
INTUNE = "Microsoft Intune (in A1 voor apparaten, A3 en A5)"

# Microsoft's own first-party resource apps whose application permissions we inspect.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
SHAREPOINT_APP_ID = "00000003-0000-0ff1-ce00-000000000000"
RESOURCE_APP_IDS = (GRAPH_APP_ID, EXCHANGE_APP_ID, SHAREPOINT_APP_ID)

# Graph documents $top up to 999 for directory objects; pages are followed via @odata.nextLink.
DIRECTORY_PAGE = 999


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    path: str  # relative to the version root, as the SDK builds it; documents and tests the URL
    builder: Callable[[Any], Any]  # GraphServiceClient -> request builder
    permission: str
    item: type
    # Graph's (v1.0) type of the objects, as in shared/reference/graph-schema-v1.0.json: the
    # response contract and every $select field are held against it (tests/test_contracts.py).
    graph_type: str = ""
    collection: bool = True
    api_version: str = "v1.0"
    select: tuple[str, ...] = ()
    expand: tuple[str, ...] = ()
    top: int | None = None
    filter: str | None = None
    max_pages: int | None = None  # newest-first logs: one page is the evidence we need
    licence: str | None = None  # licence without which Graph refuses the endpoint
    # Skip the call when subscribedSkus shows the tenant lacks this (p1 | p2 | intune): the
    # dataset is then not_licensed without spending requests on a known refusal.
    gate: str | None = None
    also_requires: tuple[str, ...] = ()  # further permissions Graph wants for this call
    headers: dict[str, str] = field(default_factory=dict)
    description: str = ""
    # Fan-out datasets are read per key (a group, a user) once the datasets they depend on are
    # in. `keys` returns the keys to read, or a Dutch sentence saying why the read is skipped.
    depends_on: tuple[str, ...] = ()
    keys: Callable[[Mapping[str, Dataset]], list[str] | str] | None = None
    key_builder: Callable[[Any, str], Any] | None = None
    # "graph" (read through the client), "dns" (public DNS records, no Graph permission) or
    # "exchange" (the Exchange Online Admin API: scanner/exchange.py).
    source: str = "graph"
    # Exchange: the Get- cmdlet (of exchange.ALLOWED_CMDLETS) and its parameters; `select` is the
    # URL's $select; `identity` the property that identifies an object (repeats are dropped).
    cmdlet: str | None = None
    cmdlet_parameters: tuple[tuple[str, Any], ...] = ()
    identity: str | None = None
    # Read when this dataset is (so a scan asks for them), awaited before it is read, but not
    # required: the DNS of the accepted domains widens the verified domains when it is there.
    soft_depends_on: tuple[str, ...] = ()
    # A window relative to the collection time: `{since}` in `filter` becomes that moment
    # (ISO 8601, UTC) minus since_days, so a log is read over a stated period.
    since_days: int | None = None
    # Read only when the scan is asked to (`--<opt_in>`, GraphSettings.opt_in): e.g. every
    # mailbox's inbox rules. Otherwise the dataset is not collected and says it was not asked.
    opt_in: str | None = None
    # Fan-outs: 404 error codes that mean the key has nothing to read (a user without an
    # Exchange Online mailbox), not that the read failed: such a key is left out of `data`
    # and the dataset stays complete.
    absent_codes: tuple[str, ...] = ()

    @property
    def fan_out(self) -> bool:
        return self.keys is not None


# Reading methods user by user is the fallback for tenants without Entra ID P1; above this many
# accounts it costs too many requests for a yearly scan, and the check says so.
PER_USER_METHODS_LIMIT = 5000


def _fields(item: type) -> tuple[str, ...]:
    return tuple(item.__annotations__)


def _role_groups(done: Mapping[str, Dataset]) -> list[str] | str:
    assignments = done["roleAssignments"]
    if not assignments.ok:
        return "roltoewijzingen konden niet worden gelezen"
    return sorted(
        {
            a["principalId"]
            for a in assignments.data
            if (a.get("principal") or {}).get("@odata.type") == "#microsoft.graph.group"
        }
    )


def _users_needing_methods(done: Mapping[str, Dataset]) -> list[str] | str:
    report = done["userRegistrationDetails"]
    if report.ok:
        return "niet nodig: het registratierapport is gelezen"
    users = done["users"]
    if not users.ok:
        return "gebruikers konden niet worden gelezen"
    ids = sorted(
        u["id"]
        for u in users.data
        # accountEnabled is nullable: only a disabled account is left unread (issue 25)
        if u.get("accountEnabled") is not False and (u.get("userType") or "Member") == "Member"
    )
    # Guest accounts holding a directory role directly (an IT partner's guest with Global
    # Administrator) are read too: an admin must never drop out of the MFA checks unread.
    roles = done.get("roleAssignments")
    if roles is not None and roles.ok:
        ids = sorted(
            set(ids)
            | {
                a["principalId"]
                for a in roles.data or []
                if (a.get("principal") or {}).get("@odata.type") == "#microsoft.graph.user"
                and (a.get("principal") or {}).get("accountEnabled") is not False
            }
        )
    if len(ids) > PER_USER_METHODS_LIMIT:
        return (
            f"overgeslagen: {len(ids)} actieve accounts is meer dan {PER_USER_METHODS_LIMIT}, "
            "te veel om per gebruiker uit te lezen"
        )
    return ids


def _resource_apps(done: Mapping[str, Dataset]) -> list[str] | str:
    resources = done["resourceServicePrincipals"]
    if not resources.ok:
        return "Microsoft-resource-apps konden niet worden gelezen"
    return sorted(sp["id"] for sp in resources.data)


def _ca_groups(done: Mapping[str, Dataset]) -> list[str] | str:
    policies = done["conditionalAccessPolicies"]
    if not policies.ok:
        return "beleid voor voorwaardelijke toegang kon niet worden gelezen"
    groups: set[str] = set()
    for policy in policies.data:
        users = ((policy.get("conditions") or {}).get("users")) or {}
        groups.update(users.get("includeGroups") or [])
        groups.update(users.get("excludeGroups") or [])
    return sorted(groups)


def _methods_policy_groups(done: Mapping[str, Dataset]) -> list[str] | str:
    """Groups the authentication methods policy includes or excludes, per method: who may use
    a registered FIDO2 key or Authenticator depends on their members (issue 25, finding 7)."""
    policy = done["authenticationMethodsPolicy"]
    if not policy.ok:
        return "beleid voor verificatiemethoden kon niet worden gelezen"
    groups: set[str] = set()
    for config in (policy.data or {}).get("authenticationMethodConfigurations") or []:
        for target in (config.get("includeTargets") or []) + (config.get("excludeTargets") or []):
            ident = target.get("id")
            if target.get("targetType") == "group" and ident and ident != "all_users":
                groups.add(ident)
    return sorted(groups)


# Legacy authentication clients as Graph's signIn.clientAppUsed names them (Entra sign-in log
# "Client app" values; CIS 5.2.2.3, CISA MS.AAD.1.1v1). Read for the API's retention window.
LEGACY_CLIENTS = (
    "Authenticated SMTP",
    "AutoDiscover",
    "Exchange ActiveSync",
    "Exchange Online PowerShell",
    "Exchange Web Services",
    "IMAP4",
    "MAPI Over HTTP",
    "Offline Address Book",
    "Other clients",
    "Outlook Anywhere (RPC over HTTP)",
    "POP3",
    "Reporting Web Services",
    "Universal Outlook",
)
LEGACY_WINDOW_DAYS = 30
LEGACY_MAX_PAGES = 20  # 20,000 legacy sign-ins are enough evidence; the check says if cut off


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="organization",
            graph_type="organization",
            path="/organization",
            builder=lambda c: c.organization,
            permission="Organization.Read.All",
            item=gm.Organization,
            select=_fields(gm.Organization),
            description="tenant name, domains, hybrid sync",
        ),
        DatasetSpec(
            name="subscribedSkus",
            graph_type="subscribedSku",
            path="/subscribedSkus",
            builder=lambda c: c.subscribed_skus,
            permission="Organization.Read.All",
            item=gm.SubscribedSku,
            description="licences and their service plans",
        ),
        DatasetSpec(
            name="users",
            graph_type="user",
            path="/users",
            builder=lambda c: c.users,
            permission="User.Read.All",
            item=gm.User,
            select=_fields(gm.User),
            top=DIRECTORY_PAGE,
            description="accounts: enabled, member or guest, licences",
        ),
        DatasetSpec(
            name="userRegistrationDetails",
            graph_type="userRegistrationDetails",
            path="/reports/authenticationMethods/userRegistrationDetails",
            builder=lambda c: c.reports.authentication_methods.user_registration_details,
            permission="AuditLog.Read.All",
            item=gm.UserRegistrationDetail,
            top=DIRECTORY_PAGE,
            licence=ENTRA_P1,
            description="per-user registered authentication methods (MFA)",
        ),
        DatasetSpec(
            name="roleDefinitions",
            graph_type="unifiedRoleDefinition",
            path="/roleManagement/directory/roleDefinitions",
            builder=lambda c: c.role_management.directory.role_definitions,
            permission="RoleManagement.Read.Directory",
            item=gm.RoleDefinition,
            select=_fields(gm.RoleDefinition),
            description="directory role names",
        ),
        DatasetSpec(
            name="roleAssignments",
            graph_type="unifiedRoleAssignment",
            path="/roleManagement/directory/roleAssignments",
            builder=lambda c: c.role_management.directory.role_assignments,
            permission="RoleManagement.Read.Directory",
            item=gm.RoleAssignment,
            expand=("principal",),
            description="active directory role assignments with their principal",
        ),
        DatasetSpec(
            name="roleGroupMembers",
            graph_type="directoryObject",
            path="/groups/{id}/members",
            builder=lambda c: c.groups.by_group_id("{id}").members,
            permission="GroupMember.Read.All",
            item=gm.Member,
            select=_fields(gm.Member),
            top=DIRECTORY_PAGE,
            depends_on=("roleAssignments",),
            keys=_role_groups,
            key_builder=lambda c, key: c.groups.by_group_id(key).members,
            description="members of role-assignable groups that hold a directory role",
        ),
        DatasetSpec(
            name="userAuthenticationMethods",
            graph_type="authenticationMethod",
            path="/users/{id}/authentication/methods",
            builder=lambda c: c.users.by_user_id("{id}").authentication.methods,
            permission="UserAuthenticationMethod.Read.All",
            item=gm.AuthenticationMethod,
            depends_on=("userRegistrationDetails", "users", "roleAssignments"),
            keys=_users_needing_methods,
            key_builder=lambda c, key: c.users.by_user_id(key).authentication.methods,
            description="registered methods per user: the MFA fallback without Entra ID P1",
        ),
        DatasetSpec(
            name="securityDefaults",
            graph_type="identitySecurityDefaultsEnforcementPolicy",
            path="/policies/identitySecurityDefaultsEnforcementPolicy",
            builder=lambda c: c.policies.identity_security_defaults_enforcement_policy,
            permission="Policy.Read.All",
            item=gm.SecurityDefaultsPolicy,
            collection=False,
            description="whether security defaults are on",
        ),
        DatasetSpec(
            name="conditionalAccessPolicies",
            graph_type="conditionalAccessPolicy",
            path="/identity/conditionalAccess/policies",
            builder=lambda c: c.identity.conditional_access.policies,
            permission="Policy.Read.All",
            item=gm.ConditionalAccessPolicy,
            description="conditional access policies",
        ),
        DatasetSpec(
            name="conditionalAccessGroupMembers",
            graph_type="directoryObject",
            path="/groups/{id}/members",
            builder=lambda c: c.groups.by_group_id("{id}").members,
            permission="GroupMember.Read.All",
            item=gm.Member,
            select=_fields(gm.Member),
            top=DIRECTORY_PAGE,
            depends_on=("conditionalAccessPolicies",),
            keys=_ca_groups,
            key_builder=lambda c, key: c.groups.by_group_id(key).members,
            description="members of groups included in or excluded from conditional access",
        ),
        DatasetSpec(
            name="authenticationMethodsPolicy",
            graph_type="authenticationMethodsPolicy",
            path="/policies/authenticationMethodsPolicy",
            builder=lambda c: c.policies.authentication_methods_policy,
            permission="Policy.Read.AuthenticationMethod",
            item=gm.AuthenticationMethodsPolicy,
            collection=False,
            description="which authentication methods are allowed (SMS, voice, email, FIDO2)",
        ),
        DatasetSpec(
            name="methodsPolicyGroupMembers",
            graph_type="directoryObject",
            path="/groups/{id}/members",
            builder=lambda c: c.groups.by_group_id("{id}").members,
            permission="GroupMember.Read.All",
            item=gm.TargetMember,
            # @odata.type comes with every directoryObject; $select names only properties
            select=tuple(f for f in _fields(gm.TargetMember) if not f.startswith("@")),
            top=DIRECTORY_PAGE,
            depends_on=("authenticationMethodsPolicy",),
            keys=_methods_policy_groups,
            key_builder=lambda c, key: c.groups.by_group_id(key).members,
            description="members of groups the authentication methods policy targets",
        ),
        DatasetSpec(
            name="authorizationPolicy",
            graph_type="authorizationPolicy",
            path="/policies/authorizationPolicy",
            builder=lambda c: c.policies.authorization_policy,
            permission="Policy.Read.All",
            item=gm.AuthorizationPolicy,
            collection=False,
            description="guest invitations, user consent, app registration, admin SSPR",
        ),
        DatasetSpec(
            name="adminConsentRequestPolicy",
            graph_type="adminConsentRequestPolicy",
            path="/policies/adminConsentRequestPolicy",
            builder=lambda c: c.policies.admin_consent_request_policy,
            permission="Policy.Read.All",
            item=gm.AdminConsentRequestPolicy,
            collection=False,
            description="admin consent workflow",
        ),
        DatasetSpec(
            name="domains",
            graph_type="domain",
            path="/domains",
            builder=lambda c: c.domains,
            permission="Domain.Read.All",
            item=gm.Domain,
            description="domains and their password expiry",
        ),
        DatasetSpec(
            name="groupSettings",
            graph_type="groupSetting",
            path="/groupSettings",
            builder=lambda c: c.group_settings,
            permission="Directory.Read.All",
            item=gm.GroupSetting,
            description="tenant directory settings: password rules (lockout, banned list), consent",
        ),
        DatasetSpec(
            name="userSignInActivity",
            graph_type="user",
            path="/users",
            builder=lambda c: c.users,
            permission="AuditLog.Read.All",
            also_requires=("User.Read.All",),
            item=gm.UserSignIn,
            select=("id", "signInActivity"),
            # Graph serves at most 500 users per page with signInActivity (user-list docs)
            top=500,
            licence=ENTRA_P1,
            gate="p1",
            description="last sign-in per account (stale accounts)",
        ),
        DatasetSpec(
            name="signIns",
            graph_type="signIn",
            path="/auditLogs/signIns",
            builder=lambda c: c.audit_logs.sign_ins,
            permission="AuditLog.Read.All",
            also_requires=("Directory.Read.All",),
            item=gm.SignIn,
            top=200,
            max_pages=1,
            licence=ENTRA_P1,
            gate="p1",
            description="the most recent interactive sign-ins (log readable, legacy clients)",
        ),
        DatasetSpec(
            name="directoryAudits",
            graph_type="directoryAudit",
            path="/auditLogs/directoryAudits",
            builder=lambda c: c.audit_logs.directory_audits,
            permission="AuditLog.Read.All",
            item=gm.DirectoryAudit,
            top=50,
            max_pages=1,
            description="the most recent directory audit events (log readable and in use)",
        ),
        DatasetSpec(
            name="servicePrincipals",
            graph_type="servicePrincipal",
            path="/servicePrincipals",
            builder=lambda c: c.service_principals,
            permission="Application.Read.All",
            item=gm.ServicePrincipal,
            select=_fields(gm.ServicePrincipal),
            top=DIRECTORY_PAGE,
            description="enterprise applications",
        ),
        DatasetSpec(
            name="resourceServicePrincipals",
            graph_type="servicePrincipal",
            path="/servicePrincipals",
            builder=lambda c: c.service_principals,
            permission="Application.Read.All",
            item=gm.ResourceServicePrincipal,
            select=("id", "appId", "displayName", "appRoles"),
            filter="appId in ('" + "','".join(RESOURCE_APP_IDS) + "')",
            description="Microsoft Graph, Exchange Online and SharePoint Online with their "
            "application permissions (app roles)",
        ),
        DatasetSpec(
            name="appRoleAssignedTo",
            graph_type="appRoleAssignment",
            path="/servicePrincipals/{id}/appRoleAssignedTo",
            builder=lambda c: (
                c.service_principals.by_service_principal_id("{id}").app_role_assigned_to
            ),
            permission="Application.Read.All",
            item=gm.AppRoleAssignment,
            top=DIRECTORY_PAGE,
            depends_on=("resourceServicePrincipals",),
            keys=_resource_apps,
            key_builder=lambda c, key: (
                c.service_principals.by_service_principal_id(key).app_role_assigned_to
            ),
            description="application permissions granted on Graph, Exchange and SharePoint",
        ),
        DatasetSpec(
            name="oauth2PermissionGrants",
            graph_type="oAuth2PermissionGrant",
            path="/oauth2PermissionGrants",
            builder=lambda c: c.oauth2_permission_grants,
            permission="DelegatedPermissionGrant.Read.All",
            item=gm.PermissionGrant,
            description="delegated permissions consented for all users or per user",
        ),
        DatasetSpec(
            name="secureScores",
            graph_type="secureScore",
            path="/security/secureScores",
            builder=lambda c: c.security.secure_scores,
            permission="SecurityEvents.Read.All",
            item=gm.SecureScore,
            top=1,
            max_pages=1,
            description="Microsoft Secure Score, latest daily snapshot",
        ),
        DatasetSpec(
            name="riskyUsers",
            graph_type="riskyUser",
            path="/identityProtection/riskyUsers",
            builder=lambda c: c.identity_protection.risky_users,
            permission="IdentityRiskyUser.Read.All",
            item=gm.RiskyUser,
            filter="riskState eq 'atRisk'",
            licence=ENTRA_P2,
            gate="p2",
            description="accounts Microsoft Entra ID Protection considers at risk",
        ),
        DatasetSpec(
            name="roleEligibilitySchedules",
            graph_type="unifiedRoleEligibilityScheduleInstance",
            path="/roleManagement/directory/roleEligibilityScheduleInstances",
            builder=lambda c: c.role_management.directory.role_eligibility_schedule_instances,
            permission="RoleEligibilitySchedule.Read.Directory",
            item=gm.RoleEligibility,
            licence=ENTRA_P2,
            gate="p2",
            description="eligible (PIM) role assignments",
        ),
        DatasetSpec(
            name="roleAssignmentSchedules",
            graph_type="unifiedRoleAssignmentScheduleInstance",
            path="/roleManagement/directory/roleAssignmentScheduleInstances",
            builder=lambda c: c.role_management.directory.role_assignment_schedule_instances,
            permission="RoleAssignmentSchedule.Read.Directory",
            item=gm.RoleSchedule,
            licence=ENTRA_P2,
            gate="p2",
            description="active role assignments with their end date (standing or activated)",
        ),
        DatasetSpec(
            name="managedDevices",
            graph_type="managedDevice",
            path="/deviceManagement/managedDevices",
            builder=lambda c: c.device_management.managed_devices,
            permission="DeviceManagementManagedDevices.Read.All",
            item=gm.ManagedDevice,
            select=_fields(gm.ManagedDevice),
            licence=INTUNE,
            gate="intune",
            description="Intune-managed devices: OS version, encryption, compliance",
        ),
        DatasetSpec(
            name="deviceCompliancePolicies",
            graph_type="deviceCompliancePolicy",
            path="/deviceManagement/deviceCompliancePolicies",
            builder=lambda c: c.device_management.device_compliance_policies,
            permission="DeviceManagementConfiguration.Read.All",
            item=gm.CompliancePolicy,
            expand=("assignments",),  # an unassigned policy protects no device
            licence=INTUNE,
            gate="intune",
            description="Intune compliance policies (encryption, minimum OS)",
        ),
        DatasetSpec(
            name="deviceConfigurations",
            graph_type="deviceConfiguration",
            path="/deviceManagement/deviceConfigurations",
            builder=lambda c: c.device_management.device_configurations,
            permission="DeviceManagementConfiguration.Read.All",
            item=gm.DeviceConfiguration,
            expand=("assignments",),
            licence=INTUNE,
            gate="intune",
            description="Intune configuration profiles, among them Windows update rings",
        ),
        DatasetSpec(
            name="backupRestore",
            graph_type="backupRestoreRoot",
            path="/solutions/backupRestore",
            builder=lambda c: c.solutions.backup_restore,
            permission="BackupRestore-Control.Read.All",
            item=gm.BackupRestoreRoot,
            collection=False,
            description="Microsoft 365 Backup service status",
        ),
        DatasetSpec(
            name="protectionPolicies",
            graph_type="protectionPolicyBase",
            path="/solutions/backupRestore/protectionPolicies",
            builder=lambda c: c.solutions.backup_restore.protection_policies,
            permission="BackupRestore-Configuration.Read.All",
            item=gm.ProtectionPolicy,
            description="Microsoft 365 Backup protection policies per workload",
        ),
        DatasetSpec(
            name="sharepointSettings",
            graph_type="sharepointSettings",
            path="/admin/sharepoint/settings",
            builder=lambda c: c.admin.sharepoint.settings,
            permission="SharePointTenantSettings.Read.All",
            item=gm.SharepointSettings,
            collection=False,
            description="SharePoint and OneDrive external sharing, guest resharing, sync from "
            "unmanaged devices, legacy authentication",
        ),
        # --- appended for issue 13 ---------------------------------------------------------
        DatasetSpec(
            name="deviceManagementSettings",
            graph_type="deviceManagement",
            path="/deviceManagement",
            builder=lambda c: c.device_management,
            permission="DeviceManagementConfiguration.Read.All",
            item=gm.DeviceManagement,
            collection=False,
            select=("settings",),
            licence=INTUNE,
            gate="intune",
            description="Intune tenant settings: are devices without a compliance policy "
            "compliant (secureByDefault)",
        ),
        DatasetSpec(
            name="legacySignIns",
            graph_type="signIn",
            path="/auditLogs/signIns",
            builder=lambda c: c.audit_logs.sign_ins,
            permission="AuditLog.Read.All",
            also_requires=("Directory.Read.All",),
            item=gm.SignIn,
            # Server-side: only legacy clients, over the whole API retention window (30 days
            # with Entra ID P1/P2); the filter shape is the one CIPP uses in production.
            filter="createdDateTime ge {since} and ("
            + " or ".join(f"clientAppUsed eq '{c}'" for c in LEGACY_CLIENTS)
            + ")",
            since_days=LEGACY_WINDOW_DAYS,
            top=1000,
            max_pages=LEGACY_MAX_PAGES,
            licence=ENTRA_P1,
            gate="p1",
            description="sign-ins with legacy clients (IMAP, POP, SMTP AUTH, ActiveSync, ...) "
            "over the last 30 days",
        ),
        DatasetSpec(
            name="groups",
            graph_type="group",
            path="/groups",
            builder=lambda c: c.groups,
            permission="GroupMember.Read.All",
            item=gm.Group,
            select=_fields(gm.Group),
            top=DIRECTORY_PAGE,
            description="groups; Microsoft 365 groups each have a SharePoint team site",
        ),
    )
}

# Read on every scan: tenant identity and licences shape every report.


# PIM settings per directory role (approval, notifications), with the policy and its rules in one
# call, as Microsoft documents it ("List roleManagementPolicyAssignments", $expand=policy(...)).
DATASETS["roleManagementPolicyAssignments"] = DatasetSpec(
    name="roleManagementPolicyAssignments",
    graph_type="unifiedRoleManagementPolicyAssignment",
    path="/policies/roleManagementPolicyAssignments",
    builder=lambda c: c.policies.role_management_policy_assignments,
    permission="RoleManagementPolicy.Read.Directory",
    item=gm.RoleManagementPolicyAssignment,
    filter="scopeId eq '/' and scopeType eq 'DirectoryRole'",
    expand=("policy($expand=rules)",),
    licence=ENTRA_P2,
    gate="p2",
    description="PIM role settings: activation approval and notification rules per role",
)


def _pim_groups(done: Mapping[str, Dataset]) -> list[str] | str:
    """Groups that hold a directory role, active (roleAssignments: role-assignable groups) or
    eligible (roleEligibilitySchedules: a principal that is no user), for PIM for Groups.
    An eligible principal is taken as a group only when the users were read; the checks see
    which groups holding a role were not read and say so."""
    assignments = done["roleAssignments"]
    if not assignments.ok:
        return "roltoewijzingen konden niet worden gelezen"
    groups = {
        a["principalId"]
        for a in assignments.data or []
        if (a.get("principal") or {}).get("@odata.type") == "#microsoft.graph.group"
    }
    eligible, users = done.get("roleEligibilitySchedules"), done.get("users")
    if eligible is not None and eligible.ok and users is not None and users.ok:
        known = {u["id"] for u in users.data or []}
        groups |= {e["principalId"] for e in eligible.data or [] if e["principalId"] not in known}
    return sorted(g for g in groups if _FILTER_KEY.match(g))


# PIM for Groups (Entra ID P2): the activation settings of each group that holds a directory
# role, and who is eligible for its membership or ownership. Graph reads both per group through
# a $filter ("List roleManagementPolicyAssignments" for groups; "List
# eligibilityScheduleInstances" of privilegedAccessGroup), so they fan out over the groups.
DATASETS["pimGroupPolicyAssignments"] = DatasetSpec(
    name="pimGroupPolicyAssignments",
    graph_type="unifiedRoleManagementPolicyAssignment",
    path="/policies/roleManagementPolicyAssignments",
    builder=lambda c: c.policies.role_management_policy_assignments,
    permission="RoleManagementPolicy.Read.AzureADGroup",
    item=gm.RoleManagementPolicyAssignment,
    filter="scopeId eq '{key}' and scopeType eq 'Group'",
    expand=("policy($expand=rules)",),
    licence=ENTRA_P2,
    gate="p2",
    depends_on=("roleAssignments", "roleEligibilitySchedules", "users"),
    keys=_pim_groups,
    key_builder=lambda c, key: c.policies.role_management_policy_assignments,
    description="PIM for Groups settings of groups holding a role: approval and notification "
    "rules for activating membership",
)
DATASETS["pimGroupEligibility"] = DatasetSpec(
    name="pimGroupEligibility",
    graph_type="privilegedAccessGroupEligibilityScheduleInstance",
    path="/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances",
    builder=lambda c: c.identity_governance.privileged_access.group.eligibility_schedule_instances,
    permission="PrivilegedEligibilitySchedule.Read.AzureADGroup",
    item=gm.PimGroupEligibility,
    filter="groupId eq '{key}'",
    licence=ENTRA_P2,
    gate="p2",
    depends_on=("roleAssignments", "roleEligibilitySchedules", "users"),
    keys=_pim_groups,
    key_builder=lambda c, key: (
        c.identity_governance.privileged_access.group.eligibility_schedule_instances
    ),
    description="people eligible (PIM for Groups) for membership or ownership of groups "
    "holding a role",
)


# The tenant-wide rules for app credentials (secrets, certificates) and the school's own app
# registrations with their credentials (never the secret itself: Graph only returns a hint).
DATASETS["appManagementPolicy"] = DatasetSpec(
    name="appManagementPolicy",
    graph_type="tenantAppManagementPolicy",
    path="/policies/defaultAppManagementPolicy",
    builder=lambda c: c.policies.default_app_management_policy,
    permission="Policy.Read.All",
    item=gm.TenantAppManagementPolicy,
    collection=False,
    description="tenant-wide restrictions on app secrets and certificates",
)


def _app_policies(done: Mapping[str, Dataset]) -> list[str] | str:
    policies = done["appManagementPolicies"]
    if not policies.ok:
        return "aangepast beleid voor app-geheimen kon niet worden gelezen"
    return sorted(p["id"] for p in policies.data)


# Custom app management policies: an app or service principal they apply to follows the
# policy's own restrictions instead of the tenant default ("Microsoft Entra application
# authentication methods API overview"), so one can exempt an app from every restriction.
DATASETS["appManagementPolicies"] = DatasetSpec(
    name="appManagementPolicies",
    graph_type="appManagementPolicy",
    path="/policies/appManagementPolicies",
    builder=lambda c: c.policies.app_management_policies,
    permission="Policy.Read.All",
    item=gm.AppManagementPolicy,
    description="custom restrictions on app secrets and certificates for specific apps",
)
DATASETS["appManagementPolicyAppliesTo"] = DatasetSpec(
    name="appManagementPolicyAppliesTo",
    graph_type="directoryObject",
    path="/policies/appManagementPolicies/{id}/appliesTo",
    builder=lambda c: (
        c.policies.app_management_policies.by_app_management_policy_id("{id}").applies_to
    ),
    # Graph wants both: "Application.Read.All and Policy.Read.All" (List appliesTo, v1.0).
    permission="Policy.Read.All",
    also_requires=("Application.Read.All",),
    item=gm.PolicyTarget,
    select=("id", "appId", "displayName", "createdDateTime"),
    depends_on=("appManagementPolicies",),
    keys=_app_policies,
    key_builder=lambda c, key: (
        c.policies.app_management_policies.by_app_management_policy_id(key).applies_to
    ),
    description="the applications and service principals each custom policy applies to",
)
DATASETS["applications"] = DatasetSpec(
    name="applications",
    graph_type="application",
    path="/applications",
    builder=lambda c: c.applications,
    permission="Application.Read.All",
    item=gm.Application,
    select=(
        "id",
        "appId",
        "displayName",
        "createdDateTime",
        "passwordCredentials",
        "keyCredentials",
    ),
    top=DIRECTORY_PAGE,
    description="the school's own app registrations with their secrets' and certificates' dates",
)


# Opt-in (--audit-probe): an audit log query shows whether the unified audit log records.
DATASETS["unifiedAuditLogProbe"] = DatasetSpec(
    name="unifiedAuditLogProbe",
    path="/security/auditLog/queries",
    builder=lambda c: c.security.audit_log.queries,
    permission="AuditLogsQuery.Read.All",
    item=dict,
    collection=False,
    source="audit_probe",
    description="opt-in: whether the Microsoft 365 unified audit log has records (creates a "
    "query object in the tenant)",
)


def _not_graph(_: Any) -> Any:
    raise TypeError("this dataset is not read through Microsoft Graph")


DATASETS["mailDomainDns"] = DatasetSpec(
    name="mailDomainDns",
    path="DNS: MX, TXT (SPF), _dmarc, selector1/2._domainkey, _mta-sts",
    builder=_not_graph,
    permission="",  # public DNS records: no Graph permission
    item=dict,
    collection=False,
    depends_on=("domains",),
    # Exchange's accepted domains widen the verified ones when they could be read.
    soft_depends_on=("exoAcceptedDomains",),
    source="dns",
    description="e-mail domain protection records of the verified mail domains and, when "
    "Exchange answers, of every accepted domain (public DNS)",
)


# --- Exchange Online Admin API (preview): scanner/exchange.py says what Microsoft documents. ----
# On by default: a check that names one of these has it read; a school whose app lacks the
# permission or role, or whose organisation lacks the preview, gets unknown with the reason.
DATASETS["exoOrganizationConfig"] = DatasetSpec(
    name="exoOrganizationConfig",
    path="/adminapi/v2.0/{tenant}/OrganizationConfig",
    builder=_not_graph,
    permission=EXCHANGE_PERMISSION,
    item=ExoOrganizationConfig,
    collection=False,  # one object; kept as a list of that one object
    source="exchange",
    cmdlet="Get-OrganizationConfig",
    identity="Guid",
    description="Exchange organisation settings (MailTips; during the preview the whole "
    "Get-OrganizationConfig output)",
)
DATASETS["exoAcceptedDomains"] = DatasetSpec(
    name="exoAcceptedDomains",
    path="/adminapi/v2.0/{tenant}/AcceptedDomain",
    builder=_not_graph,
    permission=EXCHANGE_PERMISSION,
    item=ExoAcceptedDomain,
    source="exchange",
    cmdlet="Get-AcceptedDomain",
    identity="DomainName",
    description="the domains Exchange accepts mail for (DomainName, DomainType, Default)",
)
EXO_MAILBOX_PROPERTIES = tuple(ExoMailbox.__annotations__)
DATASETS["exoMailboxes"] = DatasetSpec(
    name="exoMailboxes",
    path="/adminapi/v2.0/{tenant}/Mailbox",
    builder=_not_graph,
    permission=EXCHANGE_PERMISSION,
    item=ExoMailbox,
    select=EXO_MAILBOX_PROPERTIES,
    source="exchange",
    cmdlet="Get-Mailbox",
    cmdlet_parameters=(("ResultSize", "Unlimited"),),
    identity="Guid",
    description="every mailbox: type (shared, user), its Entra account, forwarding, auditing",
)


def _mailbox_users(done: Mapping[str, Dataset]) -> list[str] | str:
    """Every account of the school's own (members, enabled or not): a shared mailbox is a
    disabled account, and a leaver's disabled mailbox can still forward what it receives.
    Guests have their mailbox elsewhere. Accounts without a mailbox answer 404 (absent_codes)."""
    users = done["users"]
    if not users.ok:
        return "gebruikers konden niet worden gelezen"
    return sorted(u["id"] for u in users.data if (u.get("userType") or "Member") == "Member")


# Opt-in (--mail-rules): the inbox rules of every mailbox, as far as they forward or redirect
# ("List rules", v1.0: MailboxSettings.Read, application). Graph answers a user without an
# Exchange Online mailbox with 404 MailboxNotEnabledForRESTAPI, or ResourceNotFound ("Resource
# could not be discovered", github.com/microsoftgraph/microsoft-graph-docs-contrib issues
# 4340 and 7160): that account has no inbox to read, which is no failure of the scan.
# Paced in the directory bucket (cost 1 per user; Outlook's own limits are per mailbox:
# 10,000 requests per 10 minutes, far above the one read per mailbox).
DATASETS["inboxRules"] = DatasetSpec(
    name="inboxRules",
    graph_type="messageRule",
    path="/users/{id}/mailFolders/inbox/messageRules",
    builder=lambda c: (
        c.users.by_user_id("{id}").mail_folders.by_mail_folder_id("inbox").message_rules
    ),
    permission="MailboxSettings.Read",
    item=gm.MessageRule,
    depends_on=("users",),
    keys=_mailbox_users,
    key_builder=lambda c, key: (
        c.users.by_user_id(key).mail_folders.by_mail_folder_id("inbox").message_rules
    ),
    opt_in="mail-rules",
    absent_codes=("MailboxNotEnabledForRESTAPI", "ResourceNotFound"),
    description="opt-in: per mailbox the inbox rules that forward or redirect mail (only their "
    "targets and whether they are on; never their name or conditions)",
)

BASE_DATASETS: tuple[str, ...] = ("organization", "subscribedSkus")


def keyed(spec: DatasetSpec, key: str) -> DatasetSpec:
    """The spec of a fan-out read for one key: `{key}` in its `$filter` becomes the key (PIM for
    Groups is read per group through a filter, not a path). Keys are Graph object ids; one
    that could break out of the quoted literal is refused rather than sent."""
    if not spec.filter or "{key}" not in spec.filter:
        return spec
    if not _FILTER_KEY.match(key):
        raise ValueError(f"{spec.name}: key {key!r} cannot be put in a $filter")
    return replace(spec, filter=spec.filter.replace("{key}", key))


_FILTER_KEY = re.compile(r"^[A-Za-z0-9._~-]+$")


def at_time(spec: DatasetSpec, now: datetime) -> DatasetSpec:
    """The spec with its time window filled in for a collection at `now`."""
    if spec.since_days is None or not spec.filter:
        return spec
    since = (now - timedelta(days=spec.since_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return replace(spec, filter=spec.filter.replace("{since}", since))


def permissions_for(names: set[str] | list[str] | tuple[str, ...]) -> list[str]:
    """The Microsoft Graph application permissions these datasets need."""
    return sorted(
        {
            p
            for n in names
            if DATASETS[n].source != "exchange"
            for p in (DATASETS[n].permission, *DATASETS[n].also_requires)
            if p
        }
    )


def exchange_permissions_for(names: set[str] | list[str] | tuple[str, ...]) -> list[str]:
    """The "Office 365 Exchange Online" application permissions these datasets need (the
    Exchange Online Admin API), apart from Graph's: another resource, another token."""
    return sorted({DATASETS[n].permission for n in names if DATASETS[n].source == "exchange"})


# Why m365apk asks each permission, for `m365apk permissions --why` and `setup` (Dutch: the IT
# provider shows it to the school). Every permission the catalogue can ask must be here (tested).
PERMISSION_PURPOSE = {
    "Application.Read.All": "bedrijfsapplicaties, app-registraties en hun machtigingen en "
    "geheimen (alleen datums)",
    "AuditLog.Read.All": "MFA-registratierapport, aanmeld- en auditlogboeken, laatste aanmelding",
    "AuditLogsQuery.Read.All": "optioneel (--audit-probe): of het Microsoft 365-auditlog "
    "registreert; maakt een zoekopdracht aan",
    "BackupRestore-Configuration.Read.All": "beschermingsbeleid van Microsoft 365 Backup",
    "BackupRestore-Control.Read.All": "status van Microsoft 365 Backup",
    "DelegatedPermissionGrant.Read.All": "door gebruikers en beheerders gegeven app-toestemmingen",
    "DeviceManagementConfiguration.Read.All": "Intune-nalevingsbeleid en updateringen",
    "DeviceManagementManagedDevices.Read.All": "Intune-apparaten: versie, versleuteling, naleving",
    "Directory.Read.All": "directory-instellingen (wachtwoordregels); Graph kent geen smallere",
    "Domain.Read.All": "domeinen, het verlopen van wachtwoorden, welke domeinen mail ontvangen",
    "GroupMember.Read.All": "leden van roltoewijsbare groepen en van groepen in voorwaardelijke "
    "toegang en in het beleid voor verificatiemethoden",
    "IdentityRiskyUser.Read.All": "accounts met risico (Entra ID P2)",
    "MailboxSettings.Read": "optioneel (--mail-rules): inboxregels die mail doorsturen of "
    "omleiden (alleen waarheen, niet de inhoud van de regel)",
    "Organization.Read.All": "tenantnaam, licenties",
    "Policy.Read.All": "voorwaardelijke toegang, beveiligingsstandaarden, autorisatiebeleid, "
    "regels voor app-geheimen (standaard en aangepast per app)",
    "Policy.Read.AuthenticationMethod": "beleid voor verificatiemethoden (SMS, spraak, FIDO2)",
    "RoleAssignmentSchedule.Read.Directory": "actieve roltoewijzingen met einddatum (PIM, P2)",
    "RoleEligibilitySchedule.Read.Directory": "in aanmerking komende rollen (PIM, P2)",
    "RoleManagement.Read.Directory": "roltoewijzingen",
    "PrivilegedEligibilitySchedule.Read.AzureADGroup": "wie via PIM voor groepen lid kan worden "
    "van een groep met een beheerrol (P2)",
    "RoleManagementPolicy.Read.AzureADGroup": "PIM-instellingen van groepen met een beheerrol: "
    "goedkeuring en meldingen bij activeren (P2)",
    "RoleManagementPolicy.Read.Directory": "PIM-rolinstellingen: goedkeuring en meldingen (P2)",
    "SecurityEvents.Read.All": "Microsoft Secure Score",
    "SharePointTenantSettings.Read.All": "delen en verouderde verificatie in SharePoint/OneDrive",
    "User.Read.All": "accounts",
    "UserAuthenticationMethod.Read.All": "MFA-methoden per gebruiker (tenants zonder Entra ID P1)",
}


# The same for the "Office 365 Exchange Online" permissions (not Graph: another resource, its own
# token and admin consent; plus an Exchange RBAC role per school, docs/exchange.md).
EXCHANGE_PERMISSION_PURPOSE = {
    EXCHANGE_PERMISSION: "Office 365 Exchange Online (niet Graph): postvakken (gedeeld, "
    "doorsturen, auditing), geaccepteerde domeinen en organisatie-instellingen via de Exchange "
    "Online Admin API; m365apk stuurt alleen Get-cmdlets. Plus per school een Exchange-RBAC-"
    "rol: View-Only Organization Management en Recipient Management (docs/exchange.md)",
}


def check_dataset_names(checks: Iterable[Any]) -> None:
    """Every dataset a check names must be one the collector knows (built-in and plug-in checks
    alike): a typo would otherwise make the check unknown in every scan."""
    bad = {c.id: [d for d in c.all_datasets if d not in DATASETS] for c in checks}
    bad = {cid: names for cid, names in bad.items() if names}
    if bad:
        raise ConfigError(
            "onbekende dataset(s) in check(s): "
            + "; ".join(f"{cid}: {', '.join(names)}" for cid, names in sorted(bad.items()))
        )
