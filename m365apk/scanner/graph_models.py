"""Pydantic shapes of the Graph objects we read, holding only the fields our checks use.

These are TypedDicts on purpose: pydantic validates each page straight from bytes into plain
dicts (extra fields dropped), which costs microseconds per object and keeps a 100,000-user
snapshot small. msgraph-sdk's generated models cost milliseconds per object (see benchmarks/).
Field names are exactly Graph's.
"""

from __future__ import annotations

from typing import Any, NotRequired

from pydantic import ConfigDict, TypeAdapter, with_config
from typing_extensions import TypedDict


@with_config(ConfigDict(extra="ignore"))
class AssignedLicense(TypedDict):
    skuId: str
    disabledPlans: NotRequired[list[str]]


@with_config(ConfigDict(extra="ignore"))
class User(TypedDict):
    id: str
    displayName: NotRequired[str | None]
    userPrincipalName: NotRequired[str | None]
    accountEnabled: NotRequired[bool | None]
    userType: NotRequired[str | None]
    onPremisesSyncEnabled: NotRequired[bool | None]
    assignedLicenses: NotRequired[list[AssignedLicense]]
    createdDateTime: NotRequired[str | None]  # young accounts are not stale (intake)


@with_config(ConfigDict(extra="ignore"))
class UserRegistrationDetail(TypedDict):
    # Names and addresses are in the users dataset; keeping them twice would cost ~25 MB on a
    # 100,000-user board (benchmarks/scan_benchmark.py).
    id: str
    userType: NotRequired[str | None]
    isAdmin: NotRequired[bool | None]
    isMfaRegistered: NotRequired[bool | None]
    isMfaCapable: NotRequired[bool | None]
    isSsprRegistered: NotRequired[bool | None]
    isSsprEnabled: NotRequired[bool | None]  # allowed by the SSPR policy
    isSsprCapable: NotRequired[bool | None]  # registered and allowed: can really reset
    isPasswordlessCapable: NotRequired[bool | None]
    methodsRegistered: NotRequired[list[str]]


@with_config(ConfigDict(extra="ignore"))
class ServicePlan(TypedDict):
    servicePlanId: str
    servicePlanName: NotRequired[str | None]
    provisioningStatus: NotRequired[str | None]
    appliesTo: NotRequired[str | None]


@with_config(ConfigDict(extra="ignore"))
class PrepaidUnits(TypedDict):
    enabled: NotRequired[int | None]
    suspended: NotRequired[int | None]
    warning: NotRequired[int | None]


@with_config(ConfigDict(extra="ignore"))
class SubscribedSku(TypedDict):
    skuId: str
    skuPartNumber: NotRequired[str | None]
    capabilityStatus: NotRequired[str | None]
    consumedUnits: NotRequired[int | None]
    appliesTo: NotRequired[str | None]
    prepaidUnits: NotRequired[PrepaidUnits | None]
    servicePlans: NotRequired[list[ServicePlan]]


@with_config(ConfigDict(extra="ignore"))
class VerifiedDomain(TypedDict):
    name: str
    isDefault: NotRequired[bool | None]
    isInitial: NotRequired[bool | None]


@with_config(ConfigDict(extra="ignore"))
class Organization(TypedDict):
    id: str
    displayName: NotRequired[str | None]
    createdDateTime: NotRequired[str | None]
    onPremisesSyncEnabled: NotRequired[bool | None]
    verifiedDomains: NotRequired[list[VerifiedDomain]]


# `@odata.type` is not a valid identifier, so principals carry it through this functional form.
Principal = with_config(ConfigDict(extra="ignore"))(
    TypedDict(  # noqa: UP013
        "Principal",
        {
            "@odata.type": str,
            "id": str,
            "displayName": NotRequired[str | None],
            "userPrincipalName": NotRequired[str | None],
            "accountEnabled": NotRequired[bool | None],
            "userType": NotRequired[str | None],
            "onPremisesSyncEnabled": NotRequired[bool | None],
            "appId": NotRequired[str | None],
        },
    )
)


@with_config(ConfigDict(extra="ignore"))
class RoleAssignment(TypedDict):
    id: str
    principalId: str
    roleDefinitionId: str
    directoryScopeId: NotRequired[str | None]
    principal: NotRequired[Principal | None]


@with_config(ConfigDict(extra="ignore"))
class RoleDefinition(TypedDict):
    id: str
    displayName: NotRequired[str | None]
    templateId: NotRequired[str | None]
    isBuiltIn: NotRequired[bool | None]


@with_config(ConfigDict(extra="ignore"))
class SecurityDefaultsPolicy(TypedDict):
    id: str
    isEnabled: bool
    displayName: NotRequired[str | None]


@with_config(ConfigDict(extra="ignore"))
class ConditionalAccessPolicy(TypedDict):
    """CA policies are small and their nesting matters to later checks: keep it whole."""

    id: str
    displayName: NotRequired[str | None]
    state: str
    conditions: NotRequired[dict[str, Any] | None]
    grantControls: NotRequired[dict[str, Any] | None]
    sessionControls: NotRequired[dict[str, Any] | None]


@with_config(ConfigDict(extra="allow"))
class Whole(TypedDict):
    """Small configuration objects (policies, settings) kept whole: later checks need their
    nesting, and there are only a handful per tenant."""

    id: NotRequired[str]


@with_config(ConfigDict(extra="ignore"))
class SignInActivity(TypedDict):
    # Successful sign-ins decide staleness: an attacker's failed attempts must not make an
    # abandoned account look in use. lastSignInDateTime is the fallback on older data.
    lastSignInDateTime: NotRequired[str | None]
    lastSuccessfulSignInDateTime: NotRequired[str | None]


@with_config(ConfigDict(extra="ignore"))
class UserSignIn(TypedDict):
    id: str
    signInActivity: NotRequired[SignInActivity | None]


@with_config(ConfigDict(extra="ignore"))
class ServicePrincipal(TypedDict):
    id: str
    appId: NotRequired[str | None]
    displayName: NotRequired[str | None]
    appOwnerOrganizationId: NotRequired[str | None]
    accountEnabled: NotRequired[bool | None]
    servicePrincipalType: NotRequired[str | None]
    verifiedPublisher: NotRequired[dict[str, Any] | None]
    tags: NotRequired[list[str]]


@with_config(ConfigDict(extra="ignore"))
class AppRole(TypedDict):
    id: str
    value: NotRequired[str | None]
    displayName: NotRequired[str | None]


@with_config(ConfigDict(extra="ignore"))
class ResourceServicePrincipal(TypedDict):
    id: str
    appId: NotRequired[str | None]
    displayName: NotRequired[str | None]
    appRoles: NotRequired[list[AppRole]]


@with_config(ConfigDict(extra="ignore"))
class AppRoleAssignment(TypedDict):
    id: str
    appRoleId: str
    principalId: str
    principalDisplayName: NotRequired[str | None]
    principalType: NotRequired[str | None]
    resourceId: str
    resourceDisplayName: NotRequired[str | None]
    createdDateTime: NotRequired[str | None]


@with_config(ConfigDict(extra="ignore"))
class PermissionGrant(TypedDict):
    id: str
    clientId: str
    consentType: NotRequired[str | None]
    principalId: NotRequired[str | None]
    resourceId: NotRequired[str | None]
    scope: NotRequired[str | None]


@with_config(ConfigDict(extra="ignore"))
class SignIn(TypedDict):
    id: str
    createdDateTime: str
    userId: NotRequired[str | None]
    userPrincipalName: NotRequired[str | None]
    appDisplayName: NotRequired[str | None]
    clientAppUsed: NotRequired[str | None]
    conditionalAccessStatus: NotRequired[str | None]
    isInteractive: NotRequired[bool | None]
    status: NotRequired[dict[str, Any] | None]


@with_config(ConfigDict(extra="ignore"))
class DirectoryAudit(TypedDict):
    id: str
    activityDateTime: str
    activityDisplayName: NotRequired[str | None]
    category: NotRequired[str | None]
    result: NotRequired[str | None]
    loggedByService: NotRequired[str | None]


@with_config(ConfigDict(extra="ignore"))
class ManagedDevice(TypedDict):
    id: str
    deviceName: NotRequired[str | None]
    operatingSystem: NotRequired[str | None]
    osVersion: NotRequired[str | None]
    complianceState: NotRequired[str | None]
    isEncrypted: NotRequired[bool | None]
    lastSyncDateTime: NotRequired[str | None]
    managedDeviceOwnerType: NotRequired[str | None]
    userPrincipalName: NotRequired[str | None]


@with_config(ConfigDict(extra="ignore"))
class RoleSchedule(TypedDict):
    id: str
    principalId: str
    roleDefinitionId: str
    directoryScopeId: NotRequired[str | None]
    startDateTime: NotRequired[str | None]
    endDateTime: NotRequired[str | None]
    assignmentType: NotRequired[str | None]  # assignment schedules: Assigned | Activated
    memberType: NotRequired[str | None]


@with_config(ConfigDict(extra="ignore"))
class SecureScore(TypedDict):
    id: str
    createdDateTime: NotRequired[str | None]
    currentScore: NotRequired[float | None]
    maxScore: NotRequired[float | None]
    averageComparativeScores: NotRequired[list[dict[str, Any]]]
    controlScores: NotRequired[list[dict[str, Any]]]


@with_config(ConfigDict(extra="ignore"))
class RiskyUser(TypedDict):
    id: str
    userPrincipalName: NotRequired[str | None]
    userDisplayName: NotRequired[str | None]
    riskLevel: NotRequired[str | None]
    riskState: NotRequired[str | None]
    riskLastUpdatedDateTime: NotRequired[str | None]


@with_config(ConfigDict(extra="ignore"))
class CredentialDates(TypedDict):
    """A secret's or certificate's dates and name. The `hint` (the secret's first characters),
    `secretText` and the public `key` are dropped: they never reach the snapshot."""

    keyId: NotRequired[str | None]
    displayName: NotRequired[str | None]
    startDateTime: NotRequired[str | None]
    endDateTime: NotRequired[str | None]
    type: NotRequired[str | None]


@with_config(ConfigDict(extra="ignore"))
class Application(TypedDict):
    id: str
    appId: NotRequired[str | None]
    displayName: NotRequired[str | None]
    createdDateTime: NotRequired[str | None]
    passwordCredentials: list[CredentialDates]
    keyCredentials: list[CredentialDates]


def page_adapter(item: type) -> TypeAdapter[Any]:
    """A validator for one OData collection page whose `value` holds `item` objects."""

    page = with_config(ConfigDict(extra="ignore"))(
        TypedDict(  # noqa: UP013
            f"{item.__name__}Page",
            {"value": list[item], "@odata.nextLink": NotRequired[str]},  # type: ignore[valid-type]
        )
    )
    return TypeAdapter(page)


AuthenticationMethod = with_config(ConfigDict(extra="ignore"))(
    TypedDict(  # noqa: UP013
        "AuthenticationMethod",
        {"@odata.type": str, "id": str},
    )
)


# --- appended for issue 13 (devices, back-up, groups) ---------------------------------------


@with_config(ConfigDict(extra="ignore"))
class DeviceManagementSettings(TypedDict):
    # secureByDefault = true: devices without a compliance policy count as not compliant.
    secureByDefault: NotRequired[bool | None]
    deviceComplianceCheckinThresholdDays: NotRequired[int | None]
    isScheduledActionEnabled: NotRequired[bool | None]


@with_config(ConfigDict(extra="ignore"))
class DeviceManagement(TypedDict):
    id: NotRequired[str | None]
    settings: NotRequired[DeviceManagementSettings | None]


@with_config(ConfigDict(extra="ignore"))
class Group(TypedDict):
    id: str
    displayName: NotRequired[str | None]
    groupTypes: NotRequired[list[str]]  # "Unified": a Microsoft 365 group with a team site
