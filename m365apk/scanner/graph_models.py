"""Pydantic shapes of the Graph objects we read, holding only the fields our checks use.

These are TypedDicts on purpose: pydantic validates each page straight from bytes into plain
dicts (extra fields dropped), which costs microseconds per object and keeps a 100,000-user
snapshot small. msgraph-sdk's generated models cost milliseconds per object (see benchmarks/).
Field names are exactly Graph's.

They are also the response contracts (issue 11): a property Graph always returns for the
resource (non-nullable in Graph's v1.0 metadata, or a collection, which OData never sends as
null) and that a check relies on is required, so `{}` or a null in its place makes the dataset
`malformed` instead of reading as a safe default. Unknown properties are dropped and every
string is bounded (`_BOUNDED`); tests/test_contracts.py holds the contracts against
shared/reference/graph-schema-v1.0.json.

What the contracts do not require, the checks guard themselves (issue 25: one property missing
rejected a whole dataset, e.g. Microsoft's documented example answers of domains,
sharepointSettings and deviceManagement): a check declares the properties its verdict rests on
(`reads(properties=...)`), and `Check.run` makes exactly that check unknown, naming the
property, when a single object lacks one; a null or an enum value the check does not know is
the check's own to make unknown (`checks.base.read_setting`). A property Graph's metadata calls
nullable is therefore NotRequired here unless every check reading it is guarded.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict

# No single string we keep (ids, names, UPNs, enum values) is anywhere near this long; a longer
# one is not Graph's data. Bodies as a whole are bounded by GraphSettings.max_response_bytes.
MAX_STRING = 4096
_BOUNDED = ConfigDict(extra="ignore", str_max_length=MAX_STRING)
# Graph pages hold at most 999 directory objects (1,000 for logs); ten times that is not Graph.
MAX_PAGE_ITEMS = 10_000


@with_config(_BOUNDED)
class AssignedLicense(TypedDict):
    skuId: str
    disabledPlans: NotRequired[list[str]]


@with_config(_BOUNDED)
class User(TypedDict):
    id: str
    displayName: NotRequired[str | None]
    userPrincipalName: NotRequired[str | None]
    accountEnabled: NotRequired[bool | None]
    userType: NotRequired[str | None]
    onPremisesSyncEnabled: NotRequired[bool | None]
    assignedLicenses: NotRequired[list[AssignedLicense]]
    createdDateTime: NotRequired[str | None]  # young accounts are not stale (intake)


@with_config(_BOUNDED)
class Member(TypedDict):
    """A group member (a directoryObject: mostly users; the user fields are absent for others)."""

    id: str
    displayName: NotRequired[str | None]
    userPrincipalName: NotRequired[str | None]
    accountEnabled: NotRequired[bool | None]
    userType: NotRequired[str | None]


# A member of a group the authentication methods policy targets: its type is kept, because a
# nested group's own members are not in the answer (GET /groups/{id}/members is direct only).
TargetMember = with_config(_BOUNDED)(
    TypedDict(  # noqa: UP013
        "TargetMember",
        {
            "@odata.type": NotRequired[str],
            "id": str,
            "displayName": NotRequired[str | None],
            "userPrincipalName": NotRequired[str | None],
        },
    )
)


@with_config(_BOUNDED)
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


@with_config(_BOUNDED)
class ServicePlan(TypedDict):
    servicePlanId: str
    servicePlanName: NotRequired[str | None]
    provisioningStatus: NotRequired[str | None]
    appliesTo: NotRequired[str | None]


@with_config(_BOUNDED)
class PrepaidUnits(TypedDict):
    enabled: NotRequired[int | None]
    suspended: NotRequired[int | None]
    warning: NotRequired[int | None]


@with_config(_BOUNDED)
class SubscribedSku(TypedDict):
    skuId: str
    skuPartNumber: NotRequired[str | None]
    capabilityStatus: NotRequired[str | None]
    consumedUnits: NotRequired[int | None]
    appliesTo: NotRequired[str | None]
    prepaidUnits: NotRequired[PrepaidUnits | None]
    servicePlans: NotRequired[list[ServicePlan]]


@with_config(_BOUNDED)
class VerifiedDomain(TypedDict):
    name: str
    isDefault: NotRequired[bool | None]
    isInitial: NotRequired[bool | None]


@with_config(_BOUNDED)
class Organization(TypedDict):
    id: str
    displayName: NotRequired[str | None]
    createdDateTime: NotRequired[str | None]
    onPremisesSyncEnabled: NotRequired[bool | None]
    verifiedDomains: NotRequired[list[VerifiedDomain]]


# `@odata.type` is not a valid identifier, so principals carry it through this functional form.
Principal = with_config(_BOUNDED)(
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


@with_config(_BOUNDED)
class RoleAssignment(TypedDict):
    id: str
    principalId: str
    roleDefinitionId: str
    directoryScopeId: NotRequired[str | None]
    principal: NotRequired[Principal | None]


@with_config(_BOUNDED)
class RoleDefinition(TypedDict):
    id: str
    displayName: NotRequired[str | None]
    templateId: NotRequired[str | None]
    isBuiltIn: NotRequired[bool | None]


@with_config(_BOUNDED)
class SecurityDefaultsPolicy(TypedDict):
    id: str
    isEnabled: bool
    displayName: NotRequired[str | None]


@with_config(_BOUNDED)
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
    """No contract: keeps any object whole. Kept only so that a dataset spec written against
    the old shape still imports; tests/test_contracts.py fails for any dataset using it."""

    id: NotRequired[str]


@with_config(_BOUNDED)
class RoleManagementPolicyAssignment(TypedDict):
    id: str
    policyId: NotRequired[str]
    scopeId: NotRequired[str]
    scopeType: NotRequired[str]
    roleDefinitionId: NotRequired[str | None]
    policy: NotRequired[dict[str, Any] | None]  # $expand=policy($expand=rules): kept whole


@with_config(_BOUNDED)
class TenantAppManagementPolicy(TypedDict):
    id: NotRequired[str]
    displayName: NotRequired[str | None]
    isEnabled: bool
    applicationRestrictions: NotRequired[dict[str, Any] | None]
    servicePrincipalRestrictions: NotRequired[dict[str, Any] | None]


@with_config(_BOUNDED)
class AppManagementPolicy(TypedDict):
    """A custom app management policy: the apps it applies to follow its `restrictions` instead
    of the tenant default (appManagementPolicy resource type, v1.0)."""

    id: str
    displayName: NotRequired[str | None]
    isEnabled: bool
    restrictions: NotRequired[dict[str, Any] | None]


# An application or service principal a custom app management policy applies to (appliesTo is
# a collection of directoryObjects; `@odata.type` says which).
PolicyTarget = with_config(_BOUNDED)(
    TypedDict(  # noqa: UP013
        "PolicyTarget",
        {
            "id": str,
            "@odata.type": NotRequired[str],
            "appId": NotRequired[str | None],
            "displayName": NotRequired[str | None],
            "createdDateTime": NotRequired[str | None],
        },
    )
)


# -- configuration objects: single objects and small policy collections -----------------------
# Fields a check reads as a setting are required where Graph always returns them; `_NEEDED`
# marks the few that Graph's metadata calls nullable but whose absence a check would read as
# "switched off" (a pass): absent, the answer is not Graph's and the dataset is malformed.


@with_config(_BOUNDED)
class DefaultUserRolePermissions(TypedDict):
    allowedToCreateApps: bool
    allowedToCreateSecurityGroups: NotRequired[bool]
    allowedToReadOtherUsers: NotRequired[bool]
    allowedToCreateTenants: NotRequired[bool | None]
    allowedToReadBitlockerKeysForOwnedDevice: NotRequired[bool | None]
    permissionGrantPoliciesAssigned: list[str]


@with_config(_BOUNDED)
class AuthorizationPolicy(TypedDict):
    id: str
    allowInvitesFrom: NotRequired[str | None]
    allowedToSignUpEmailBasedSubscriptions: bool
    allowedToUseSSPR: bool
    allowEmailVerifiedUsersToJoinOrganization: bool
    allowUserConsentForRiskyApps: NotRequired[bool | None]
    blockMsolPowerShell: NotRequired[bool | None]
    guestUserRoleId: NotRequired[str | None]
    defaultUserRolePermissions: DefaultUserRolePermissions


@with_config(_BOUNDED)
class Fido2KeyRestrictions(TypedDict):
    isEnforced: NotRequired[bool | None]
    enforcementType: NotRequired[str | None]  # allow | block | unknownFutureValue
    aaGuids: NotRequired[list[str] | None]


# Each method's settings are kept (issue 25, EIDSCA AF/AT/AM): nullable in Graph's metadata, so
# a null or absent one makes the check that judges it unknown, never a default. Targets are kept
# whole (id, targetType, and per-method extras such as isRegistrationRequired).
MethodConfiguration = with_config(_BOUNDED)(
    TypedDict(  # noqa: UP013
        "MethodConfiguration",
        {
            "@odata.type": NotRequired[str],
            "id": str,
            "state": str,  # _NEEDED: absent would read as "disabled"
            "excludeTargets": NotRequired[list[dict[str, Any]] | None],
            "includeTargets": NotRequired[list[dict[str, Any]] | None],
            # microsoftAuthenticatorAuthenticationMethodConfiguration: context, OTP in the app
            "featureSettings": NotRequired[dict[str, Any] | None],
            "isSoftwareOathEnabled": NotRequired[bool | None],
            # fido2AuthenticationMethodConfiguration (passkeys)
            "isAttestationEnforced": NotRequired[bool | None],
            "isSelfServiceRegistrationAllowed": NotRequired[bool | None],
            "keyRestrictions": NotRequired[Fido2KeyRestrictions | None],
            "defaultPasskeyProfile": NotRequired[str | None],
            # passkey profiles (attestationEnforcement, keyRestrictions per profile) replace the
            # two settings above once a tenant opts in; kept whole when Graph sends them.
            "passkeyProfiles": NotRequired[list[dict[str, Any]] | None],
            # temporaryAccessPassAuthenticationMethodConfiguration
            "isUsableOnce": NotRequired[bool | None],
            "defaultLifetimeInMinutes": NotRequired[int | None],
            "minimumLifetimeInMinutes": NotRequired[int | None],
            "maximumLifetimeInMinutes": NotRequired[int | None],
            "defaultLength": NotRequired[int | None],
        },
    )
)


@with_config(_BOUNDED)
class AuthenticationMethodsPolicy(TypedDict):
    id: str
    displayName: NotRequired[str | None]
    # Unset counts as done (EIDSCA AG01, ScubaGear): mfa.methods_migration reads it as such.
    policyMigrationState: NotRequired[str | None]
    # _NEEDED (a navigation property Graph returns inline): absent, no method reads as enabled
    authenticationMethodConfigurations: list[MethodConfiguration]


@with_config(_BOUNDED)
class ReviewerScope(TypedDict):
    query: NotRequired[str | None]
    queryType: NotRequired[str | None]
    queryRoot: NotRequired[str | None]


@with_config(_BOUNDED)
class AdminConsentRequestPolicy(TypedDict):
    id: NotRequired[str]
    isEnabled: bool
    notifyReviewers: NotRequired[bool]
    requestDurationInDays: NotRequired[int]
    reviewers: list[ReviewerScope]


@with_config(_BOUNDED)
class Domain(TypedDict):
    # authenticationType and isVerified are non-nullable, but Microsoft's own example answer
    # leaves isVerified out: a domain without them is judged undetermined by password.expiry
    # (and its mail records are looked up), not a reason to drop every domain.
    id: str
    authenticationType: NotRequired[str | None]
    isDefault: NotRequired[bool]
    isRoot: NotRequired[bool]
    isVerified: NotRequired[bool | None]
    supportedServices: NotRequired[list[str]]
    passwordValidityPeriodInDays: NotRequired[int | None]
    passwordNotificationWindowInDays: NotRequired[int | None]


@with_config(_BOUNDED)
class SettingValue(TypedDict):
    name: str
    value: NotRequired[str | None]


@with_config(_BOUNDED)
class GroupSetting(TypedDict):
    id: str
    displayName: NotRequired[str | None]
    templateId: NotRequired[str | None]
    values: list[SettingValue]


CompliancePolicy = with_config(_BOUNDED)(
    TypedDict(  # noqa: UP013
        "CompliancePolicy",
        {
            "@odata.type": str,
            "id": str,
            "displayName": str,
            "bitLockerEnabled": NotRequired[bool | None],
            "storageRequireEncryption": NotRequired[bool | None],
            "osMinimumVersion": NotRequired[str | None],
            # $expand=assignments; absent reads as unassigned (protects no device): a fail
            "assignments": NotRequired[list[dict[str, Any]]],
        },
    )
)

DeviceConfiguration = with_config(_BOUNDED)(
    TypedDict(  # noqa: UP013
        "DeviceConfiguration",
        {
            "@odata.type": str,
            "id": str,
            "displayName": str,
            "qualityUpdatesDeferralPeriodInDays": NotRequired[int | None],
            "qualityUpdatesPaused": NotRequired[bool | None],
            "featureUpdatesDeferralPeriodInDays": NotRequired[int | None],
            # windows10GeneralConfiguration: Defender real-time protection, v1.0's only
            # antivirus setting (windows10CompliancePolicy's antivirus fields are beta only)
            "defenderRequireRealTimeMonitoring": NotRequired[bool | None],
            "assignments": NotRequired[list[dict[str, Any]]],  # $expand=assignments
        },
    )
)


@with_config(_BOUNDED)
class ServiceStatus(TypedDict):
    status: str | None  # _NEEDED: absent would read as "not enabled" and skip a finding
    disableReason: NotRequired[str | None]


@with_config(_BOUNDED)
class BackupRestoreRoot(TypedDict):
    id: NotRequired[str]
    serviceStatus: ServiceStatus  # _NEEDED


ProtectionPolicy = with_config(_BOUNDED)(
    TypedDict(  # noqa: UP013
        "ProtectionPolicy",
        {
            "@odata.type": str,
            "id": str,
            "displayName": NotRequired[str | None],
            "isEnabled": NotRequired[bool],
            "status": NotRequired[str | None],
            "protectionPolicyArtifactCount": NotRequired[dict[str, Any] | None],
        },
    )
)


@with_config(_BOUNDED)
class SharepointSettings(TypedDict):
    # Nullable in Graph's metadata; surface.external_sharing declares it (absent or null:
    # unknown, naming it), so its absence no longer rejects the settings the other checks read.
    sharingCapability: NotRequired[str | None]
    sharingDomainRestrictionMode: NotRequired[str | None]
    isResharingByExternalUsersEnabled: NotRequired[bool | None]
    isLegacyAuthProtocolsEnabled: NotRequired[bool | None]
    # SCuBA MS.SHAREPOINT.1.3: the domains external sharing is limited to (allowList)
    sharingAllowedDomainList: NotRequired[list[str] | None]
    # CIS 7.3.2: OneDrive sync only from devices joined to the school's domains
    isUnmanagedSyncAppForTenantRestricted: NotRequired[bool | None]
    allowedDomainGuidsForSyncApp: NotRequired[list[str] | None]


@with_config(_BOUNDED)
class RuleAddress(TypedDict):
    # The recipient's address only: its display name is dropped (privacy).
    address: NotRequired[str | None]


@with_config(_BOUNDED)
class RuleRecipient(TypedDict):
    emailAddress: NotRequired[RuleAddress | None]


@with_config(_BOUNDED)
class MessageRuleActions(TypedDict):
    # The three actions that send a message on: forward, forward as attachment, redirect.
    forwardTo: NotRequired[list[RuleRecipient] | None]
    forwardAsAttachmentTo: NotRequired[list[RuleRecipient] | None]
    redirectTo: NotRequired[list[RuleRecipient] | None]


@with_config(_BOUNDED)
class MessageRule(TypedDict):
    """An inbox rule (GET /users/{id}/mailFolders/inbox/messageRules), kept only as far as it
    says where it sends mail: its id, whether it is on, and its forward and redirect targets.
    Its name, conditions, exceptions and other actions never reach the snapshot (privacy: a
    rule's contents are the mailbox owner's business; where mail leaves the school is not)."""

    id: str
    isEnabled: NotRequired[bool | None]
    actions: NotRequired[MessageRuleActions | None]


@with_config(_BOUNDED)
class SignInActivity(TypedDict):
    # Successful sign-ins decide staleness: an attacker's failed attempts must not make an
    # abandoned account look in use. lastSignInDateTime is the fallback on older data.
    lastSignInDateTime: NotRequired[str | None]
    lastSuccessfulSignInDateTime: NotRequired[str | None]


@with_config(_BOUNDED)
class UserSignIn(TypedDict):
    id: str
    signInActivity: NotRequired[SignInActivity | None]


@with_config(_BOUNDED)
class CredentialDates(TypedDict):
    """A secret's or certificate's dates and name. The `hint` (the secret's first characters),
    `secretText` and the public `key` are dropped: they never reach the snapshot."""

    keyId: NotRequired[str | None]
    displayName: NotRequired[str | None]
    startDateTime: NotRequired[str | None]
    endDateTime: NotRequired[str | None]
    # A thumbprint-like tag (Edm.Binary, base64), no secret: it ties a SAML signing key to the
    # password and verify key Entra creates with it.
    customKeyIdentifier: NotRequired[str | None]


@with_config(_BOUNDED)
class KeyCredentialDates(CredentialDates):
    type: NotRequired[str | None]  # certificates only (AsymmetricX509Cert, Symmetric)
    usage: NotRequired[str | None]  # Verify (authenticates the app) or Sign (SAML signing)


@with_config(_BOUNDED)
class ServicePrincipal(TypedDict):
    id: str
    appId: NotRequired[str | None]
    displayName: NotRequired[str | None]
    appOwnerOrganizationId: NotRequired[str | None]
    accountEnabled: NotRequired[bool | None]
    servicePrincipalType: NotRequired[str | None]
    verifiedPublisher: NotRequired[dict[str, Any] | None]
    tags: NotRequired[list[str]]
    # An enterprise app's own secrets and certificates (dates only; see CredentialDates). Graph
    # always returns these collections; absent, apps.long_lived_credentials is unknown for it.
    passwordCredentials: NotRequired[list[CredentialDates]]
    keyCredentials: NotRequired[list[KeyCredentialDates]]


@with_config(_BOUNDED)
class AppRole(TypedDict):
    id: str
    value: NotRequired[str | None]
    displayName: NotRequired[str | None]


@with_config(_BOUNDED)
class ResourceServicePrincipal(TypedDict):
    id: str
    appId: NotRequired[str | None]
    displayName: NotRequired[str | None]
    appRoles: NotRequired[list[AppRole]]


@with_config(_BOUNDED)
class AppRoleAssignment(TypedDict):
    id: str
    appRoleId: str
    principalId: str
    principalDisplayName: NotRequired[str | None]
    principalType: NotRequired[str | None]
    resourceId: str
    resourceDisplayName: NotRequired[str | None]
    createdDateTime: NotRequired[str | None]


@with_config(_BOUNDED)
class PermissionGrant(TypedDict):
    id: str
    clientId: str
    consentType: NotRequired[str | None]
    principalId: NotRequired[str | None]
    resourceId: NotRequired[str | None]
    scope: NotRequired[str | None]


@with_config(_BOUNDED)
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


@with_config(_BOUNDED)
class DirectoryAudit(TypedDict):
    id: str
    activityDateTime: str
    activityDisplayName: NotRequired[str | None]
    category: NotRequired[str | None]
    result: NotRequired[str | None]
    loggedByService: NotRequired[str | None]


@with_config(_BOUNDED)
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


@with_config(_BOUNDED)
class RoleEligibility(TypedDict):
    id: str
    principalId: str
    roleDefinitionId: str
    directoryScopeId: NotRequired[str | None]
    startDateTime: NotRequired[str | None]
    endDateTime: NotRequired[str | None]
    memberType: NotRequired[str | None]


@with_config(_BOUNDED)
class RoleSchedule(TypedDict):
    id: str
    principalId: str
    roleDefinitionId: str
    directoryScopeId: NotRequired[str | None]
    startDateTime: NotRequired[str | None]
    endDateTime: NotRequired[str | None]
    assignmentType: NotRequired[str | None]  # assignment schedules: Assigned | Activated
    memberType: NotRequired[str | None]


@with_config(_BOUNDED)
class PimGroupEligibility(TypedDict):
    """privilegedAccessGroupEligibilityScheduleInstance: who may activate membership (or
    ownership) of a group through PIM for Groups, now."""

    id: str
    groupId: str
    principalId: str
    accessId: str  # member | owner (evolvable: unknownFutureValue)
    memberType: NotRequired[str | None]
    startDateTime: NotRequired[str | None]
    endDateTime: NotRequired[str | None]
    eligibilityScheduleId: NotRequired[str | None]


@with_config(_BOUNDED)
class SecureScore(TypedDict):
    id: str
    createdDateTime: NotRequired[str | None]
    currentScore: NotRequired[float | None]
    maxScore: NotRequired[float | None]
    averageComparativeScores: NotRequired[list[dict[str, Any]]]
    controlScores: NotRequired[list[dict[str, Any]]]


@with_config(_BOUNDED)
class RiskyUser(TypedDict):
    id: str
    userPrincipalName: NotRequired[str | None]
    userDisplayName: NotRequired[str | None]
    riskLevel: NotRequired[str | None]
    riskState: NotRequired[str | None]
    riskLastUpdatedDateTime: NotRequired[str | None]


@with_config(_BOUNDED)
class Application(TypedDict):
    # Nothing required (issue 25): Microsoft's documented example of GET /applications carries
    # neither id nor the credential collections, and one such app rejected every app. The
    # checks that read them guard themselves: apps.long_lived_credentials reports an app
    # without its credential collections as not read (unknown), and an app without id is
    # shown by name.
    id: NotRequired[str]
    appId: NotRequired[str | None]
    displayName: NotRequired[str | None]
    createdDateTime: NotRequired[str | None]
    passwordCredentials: NotRequired[list[CredentialDates] | None]
    keyCredentials: NotRequired[list[KeyCredentialDates] | None]


def page_adapter(item: type) -> TypeAdapter[Any]:
    """A validator for one OData collection page whose `value` holds `item` objects."""

    page = with_config(_BOUNDED)(
        TypedDict(  # noqa: UP013
            f"{item.__name__}Page",
            {
                "value": Annotated[list[item], Field(max_length=MAX_PAGE_ITEMS)],  # type: ignore[valid-type]
                "@odata.nextLink": NotRequired[str],
            },
        )
    )
    return TypeAdapter(page)


# The page without its items' contracts: `value` a bounded list of anything, the next link a
# bounded string. What `page_adapter` refuses and this accepts is a page whose envelope is
# Graph's and of which one or more objects break their own contract: those objects are judged
# one by one (`object_adapter`), the others kept (scanner/graph.py `_read_page`).
ENVELOPE: TypeAdapter[Any] = TypeAdapter(
    with_config(_BOUNDED)(
        TypedDict(  # noqa: UP013
            "Envelope",
            {
                "value": Annotated[list[Any], Field(max_length=MAX_PAGE_ITEMS)],
                "@odata.nextLink": NotRequired[str],
            },
        )
    )
)


def object_adapter(item: type) -> TypeAdapter[Any]:
    """A validator for one object of a collection page: the same contract as in a page."""
    return TypeAdapter(item)


AuthenticationMethod = with_config(_BOUNDED)(
    TypedDict(  # noqa: UP013
        "AuthenticationMethod",
        {"@odata.type": str, "id": str},
    )
)


# --- appended for issue 13 (devices, back-up, groups) ---------------------------------------


@with_config(_BOUNDED)
class DeviceManagementSettings(TypedDict):
    # secureByDefault = true: devices without a compliance policy count as not compliant.
    secureByDefault: NotRequired[bool | None]
    deviceComplianceCheckinThresholdDays: NotRequired[int | None]
    isScheduledActionEnabled: NotRequired[bool | None]


@with_config(_BOUNDED)
class DeviceManagement(TypedDict):
    id: NotRequired[str | None]
    # The one property selected. Absent or null, devices.compliance is unknown (secureByDefault
    # unread), which is all that reads it: no longer a malformed dataset.
    settings: NotRequired[DeviceManagementSettings | None]


@with_config(_BOUNDED)
class Group(TypedDict):
    id: str
    displayName: NotRequired[str | None]
    groupTypes: NotRequired[list[str]]  # "Unified": a Microsoft 365 group with a team site
