"""Directory-wide switches a school should close (basismaatregelen 5 and 6): tenant creation by
users, user consent for risky apps, BitLocker keys readable by device owners, SharePoint's legacy
authentication protocols.

Each setting is read from one field. A field that is missing from Graph's answer is not read:
the check is unknown, never the default. Graph documents `null` for some of these as "the
default", and the default is written down per field with its source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from m365apk.checks.base import Area, CheckResult, Severity, Status, check_family
from m365apk.checks.common import CIS, SCUBA_AAD, make, src
from m365apk.snapshot import Snapshot

AUTHZ_DOCS = "https://learn.microsoft.com/graph/api/resources/authorizationpolicy"
ROLE_PERMS_DOCS = "https://learn.microsoft.com/graph/api/resources/defaultuserrolepermissions"
SPO_DOCS = "https://learn.microsoft.com/graph/api/resources/sharepointsettings"

_check = check_family(effort="klein")

MISSING = object()


def _field(data: dict[str, Any] | None, *path: str) -> Any:
    value: Any = data or {}
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def _setting_check(
    check_id: str,
    dataset: str,
    path: tuple[str, ...],
    *,
    good: Callable[[Any], bool],
    threshold: str,
    bad_reason: str,
) -> Callable[[Snapshot], CheckResult]:
    """A check that passes when one field has the safe value (`good(value)`)."""

    def evaluate(snapshot: Snapshot) -> CheckResult:
        value = _field(snapshot.dataset(dataset).data, *path)
        field = ".".join(path)
        if value is MISSING:
            return make(
                check_id,
                Status.UNKNOWN,
                f"Graph gaf geen waarde voor {field}: niet vastgesteld. Een volgende scan met "
                "een volledig antwoord stelt het vast.",
                threshold=threshold,
            )
        measured = {field: value}
        if good(value):
            return make(check_id, Status.PASS, threshold=threshold, measured=measured)
        return make(check_id, Status.FAIL, bad_reason, threshold=threshold, measured=measured)

    return evaluate


# null = "not set": users may create tenants (Microsoft's default; defaultUserRolePermissions).
TENANT_CREATION = _check(
    id="directory.tenant_creation",
    title="Gebruikers kunnen geen eigen tenants aanmaken",
    area=Area.ATTACK_SURFACE,
    severity=Severity.MEDIUM,
    datasets=("authorizationPolicy",),
    bm=(5,),
    norms=("SM.01", "ID.02"),
    threshold="defaultUserRolePermissions.allowedToCreateTenants = false",
    sources=(
        src("CIS Microsoft 365 Foundations 5.1.2.3", CIS),
        src("Microsoft Graph: defaultUserRolePermissions", ROLE_PERMS_DOCS),
    ),
    why="Een leerling of medewerker die zelf een Entra-tenant aanmaakt, wordt daar beheerder, "
    "buiten elk overzicht van de school; met een schoolaccount als eigenaar.",
    fix="Entra-beheercentrum > Gebruikers > Gebruikersinstellingen: 'Gebruikers kunnen tenants "
    "maken' op Nee.",
    evaluate=_setting_check(
        "directory.tenant_creation",
        "authorizationPolicy",
        ("defaultUserRolePermissions", "allowedToCreateTenants"),
        good=lambda v: v is False,
        threshold="allowedToCreateTenants = false",
        bad_reason="Elke gebruiker kan een eigen Entra-tenant aanmaken (standaard van Microsoft).",
    ),
)

# null: Microsoft's default is false ("Default value is false. We recommend ... false."),
# authorizationPolicy resource docs.
RISKY_APP_CONSENT = _check(
    id="apps.risky_app_consent",
    title="Gebruikers kunnen geen toestemming geven aan riskante apps",
    area=Area.APPLICATIONS,
    severity=Severity.HIGH,
    datasets=("authorizationPolicy",),
    bm=(5, 1),
    norms=("SM.01",),
    threshold="allowUserConsentForRiskyApps = false (of niet gezet)",
    sources=(
        src("Microsoft Graph: authorizationPolicy", AUTHZ_DOCS),
        src("CISA SCuBA MS.AAD.5.2v1 (toestemming door gebruikers beperkt)", SCUBA_AAD),
    ),
    why="Microsoft markeert sommige apps als riskant (bijvoorbeeld bij misbruik van OAuth). "
    "Gebruikers horen die nooit zelf toegang tot mail of bestanden te kunnen geven.",
    fix="Met Microsoft Graph PowerShell: Update-MgPolicyAuthorizationPolicy "
    "-AllowUserConsentForRiskyApps:$false.",
    evaluate=_setting_check(
        "apps.risky_app_consent",
        "authorizationPolicy",
        ("allowUserConsentForRiskyApps",),
        good=lambda v: v in (False, None),
        threshold="allowUserConsentForRiskyApps = false",
        bad_reason="Gebruikers mogen toestemming geven aan apps die Microsoft als riskant ziet.",
    ),
)

# null: the default lets owners read the BitLocker keys of their own devices.
BITLOCKER_KEYS = _check(
    id="directory.bitlocker_keys_owner",
    title="Eigenaren lezen de BitLocker-sleutel van hun apparaat niet zelf",
    area=Area.DEVICES,
    severity=Severity.MEDIUM,
    datasets=("authorizationPolicy",),
    bm=(6,),
    norms=("SM.10", "SM.03"),
    threshold="defaultUserRolePermissions.allowedToReadBitlockerKeysForOwnedDevice = false",
    sources=(
        src("CIS Microsoft 365 Foundations 5.1.4.6", CIS),
        src("Microsoft Graph: defaultUserRolePermissions", ROLE_PERMS_DOCS),
    ),
    why="Leerlingen zijn vaak eigenaar van hun schoollaptop in Entra. Wie de herstelsleutel zelf "
    "kan opvragen, kan de versleuteling omzeilen en de beveiliging van het apparaat uitzetten.",
    fix="Entra-beheercentrum > Apparaten > Apparaatinstellingen: 'Beperk niet-beheerders in het "
    "herstellen van BitLocker-sleutels voor hun eigen apparaten' op Ja.",
    evaluate=_setting_check(
        "directory.bitlocker_keys_owner",
        "authorizationPolicy",
        ("defaultUserRolePermissions", "allowedToReadBitlockerKeysForOwnedDevice"),
        good=lambda v: v is False,
        threshold="allowedToReadBitlockerKeysForOwnedDevice = false",
        bad_reason="Gebruikers kunnen de BitLocker-herstelsleutel van hun eigen apparaat lezen.",
    ),
)

SHAREPOINT_LEGACY = _check(
    id="surface.sharepoint_legacy_auth",
    title="SharePoint accepteert geen verouderde verificatie",
    area=Area.ATTACK_SURFACE,
    severity=Severity.MEDIUM,
    datasets=("sharepointSettings",),
    bm=(5, 9),
    norms=("SM.02", "SM.11"),
    threshold="isLegacyAuthProtocolsEnabled = false",
    sources=(
        src("CIS Microsoft 365 Foundations 7.2.1", CIS),
        src("Microsoft Graph: sharepointSettings", SPO_DOCS),
    ),
    why="Oude protocollen voor SharePoint en OneDrive vragen geen MFA: een gestolen wachtwoord "
    "is dan genoeg om bij de bestanden te komen.",
    fix="SharePoint-beheercentrum > Beleid > Toegangsbeheer > Apps die geen moderne verificatie "
    "gebruiken: Blokkeren (of Set-SPOTenant -LegacyAuthProtocolsEnabled $false).",
    evaluate=_setting_check(
        "surface.sharepoint_legacy_auth",
        "sharepointSettings",
        ("isLegacyAuthProtocolsEnabled",),
        good=lambda v: v is False,
        threshold="isLegacyAuthProtocolsEnabled = false",
        bad_reason="SharePoint en OneDrive accepteren nog aanmelden zonder moderne verificatie.",
    ),
)

CHECKS = [TENANT_CREATION, RISKY_APP_CONSENT, BITLOCKER_KEYS, SHAREPOINT_LEGACY]
