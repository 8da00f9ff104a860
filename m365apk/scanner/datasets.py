"""The Graph datasets m365apk can collect: one place that says what each one is.

A check names the datasets it needs; the collector fetches only those. Each spec holds the
SDK request builder that addresses it (so the URL is the SDK's, not ours), the query we send,
the least-privileged application permission, and the pydantic shape we keep.
Sources: shared/reference/graph-reference.md, which cites the Microsoft Graph docs per endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import graph_models as gm
from .snapshot import Dataset

ENTRA_P1 = "Microsoft Entra ID P1"

# Graph documents $top up to 999 for directory objects; pages are followed via @odata.nextLink.
DIRECTORY_PAGE = 999


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    path: str  # relative to the version root, as the SDK builds it; documents and tests the URL
    builder: Callable[[Any], Any]  # GraphServiceClient -> request builder
    permission: str
    item: type
    collection: bool = True
    api_version: str = "v1.0"
    select: tuple[str, ...] = ()
    expand: tuple[str, ...] = ()
    top: int | None = None
    licence: str | None = None  # licence without which Graph refuses the endpoint
    headers: dict[str, str] = field(default_factory=dict)
    description: str = ""
    # Fan-out datasets are read per key (a group, a user) once the datasets they depend on are
    # in. `keys` returns the keys to read, or a Dutch sentence saying why the read is skipped.
    depends_on: tuple[str, ...] = ()
    keys: Callable[[Mapping[str, Dataset]], list[str] | str] | None = None
    key_builder: Callable[[Any, str], Any] | None = None

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
        if u.get("accountEnabled") and (u.get("userType") or "Member") == "Member"
    )
    if len(ids) > PER_USER_METHODS_LIMIT:
        return (
            f"overgeslagen: {len(ids)} actieve accounts is meer dan {PER_USER_METHODS_LIMIT}, "
            "te veel om per gebruiker uit te lezen"
        )
    return ids


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="organization",
            path="/organization",
            builder=lambda c: c.organization,
            permission="Organization.Read.All",
            item=gm.Organization,
            select=_fields(gm.Organization),
            description="tenant name, domains, hybrid sync",
        ),
        DatasetSpec(
            name="subscribedSkus",
            path="/subscribedSkus",
            builder=lambda c: c.subscribed_skus,
            permission="Organization.Read.All",
            item=gm.SubscribedSku,
            description="licences and their service plans",
        ),
        DatasetSpec(
            name="users",
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
            path="/roleManagement/directory/roleDefinitions",
            builder=lambda c: c.role_management.directory.role_definitions,
            permission="RoleManagement.Read.Directory",
            item=gm.RoleDefinition,
            select=_fields(gm.RoleDefinition),
            description="directory role names",
        ),
        DatasetSpec(
            name="roleAssignments",
            path="/roleManagement/directory/roleAssignments",
            builder=lambda c: c.role_management.directory.role_assignments,
            permission="RoleManagement.Read.Directory",
            item=gm.RoleAssignment,
            expand=("principal",),
            description="active directory role assignments with their principal",
        ),
        DatasetSpec(
            name="roleGroupMembers",
            path="/groups/{id}/members",
            builder=lambda c: c.groups.by_group_id("{id}").members,
            permission="GroupMember.Read.All",
            item=gm.User,
            select=("id", "displayName", "userPrincipalName", "accountEnabled", "userType"),
            top=DIRECTORY_PAGE,
            depends_on=("roleAssignments",),
            keys=_role_groups,
            key_builder=lambda c, key: c.groups.by_group_id(key).members,
            description="members of role-assignable groups that hold a directory role",
        ),
        DatasetSpec(
            name="userAuthenticationMethods",
            path="/users/{id}/authentication/methods",
            builder=lambda c: c.users.by_user_id("{id}").authentication.methods,
            permission="UserAuthenticationMethod.Read.All",
            item=gm.AuthenticationMethod,
            depends_on=("userRegistrationDetails", "users"),
            keys=_users_needing_methods,
            key_builder=lambda c, key: c.users.by_user_id(key).authentication.methods,
            description="registered methods per user: the MFA fallback without Entra ID P1",
        ),
        DatasetSpec(
            name="securityDefaults",
            path="/policies/identitySecurityDefaultsEnforcementPolicy",
            builder=lambda c: c.policies.identity_security_defaults_enforcement_policy,
            permission="Policy.Read.All",
            item=gm.SecurityDefaultsPolicy,
            collection=False,
            description="whether security defaults are on",
        ),
        DatasetSpec(
            name="conditionalAccessPolicies",
            path="/identity/conditionalAccess/policies",
            builder=lambda c: c.identity.conditional_access.policies,
            permission="Policy.Read.All",
            item=gm.ConditionalAccessPolicy,
            description="conditional access policies",
        ),
    )
}

# Read on every scan: tenant identity and licences shape every report.
BASE_DATASETS: tuple[str, ...] = ("organization", "subscribedSkus")


def permissions_for(names: set[str] | list[str] | tuple[str, ...]) -> list[str]:
    return sorted({DATASETS[n].permission for n in names})
