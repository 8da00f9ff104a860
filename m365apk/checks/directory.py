"""Directory-wide switches a school should close (basismaatregelen 5 and 6): tenant creation by
users, user consent for risky apps, BitLocker keys readable by device owners, SharePoint's legacy
authentication protocols.

Each setting is read from one field. A field that is missing from Graph's answer, or null, is
not read as any value: the check is unknown and says which field and what would settle it (issue
25: a default we assume is a value Graph did not give). Every field is declared in the check's
`reads`, so an answer without it leaves only that check unknown (Check.run).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from m365apk.checks.base import (
    Area,
    CheckResult,
    Reads,
    Severity,
    Status,
    check_family,
    read_setting,
    reads,
)
from m365apk.checks.common import CIS, SCUBA_AAD, make, src
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

AUTHZ_DOCS = "https://learn.microsoft.com/graph/api/resources/authorizationpolicy"
ROLE_PERMS_DOCS = "https://learn.microsoft.com/graph/api/resources/defaultuserrolepermissions"
SPO_DOCS = "https://learn.microsoft.com/graph/api/resources/sharepointsettings"

_check = check_family(effort="klein")


def _setting_check(
    check_id: str,
    dataset: str,
    path: tuple[str, ...],
    *,
    good: Callable[[Any], bool],
    threshold: str,
    bad_reason: Msg,
) -> Callable[[Snapshot], CheckResult]:
    """A check that passes when one field has the safe value (`good(value)`). Absent, null or
    not a boolean: unknown, naming the field (read_setting)."""

    def evaluate(snapshot: Snapshot) -> CheckResult:
        field = ".".join(path)
        value, problem = read_setting(snapshot, dataset, field, (True, False))
        if problem is not None:
            return make(check_id, Status.UNKNOWN, problem, threshold=threshold)
        measured = {field: value}
        if good(value):
            return make(check_id, Status.PASS, threshold=threshold, measured=measured)
        return make(check_id, Status.FAIL, bad_reason, threshold=threshold, measured=measured)

    return evaluate


def _reads(dataset: str, *path: str) -> Reads:
    return reads(properties={dataset: (".".join(path),)})


TENANT_CREATION = _check(
    id="directory.tenant_creation",
    area=Area.ATTACK_SURFACE,
    severity=Severity.MEDIUM,
    datasets=("authorizationPolicy",),
    bm=(5,),
    norms=("SM.01", "ID.02"),
    sources=(
        src("CIS Microsoft 365 Foundations 5.1.2.3", CIS),
        src("Microsoft Graph: defaultUserRolePermissions", ROLE_PERMS_DOCS),
    ),
    reads=_reads("authorizationPolicy", "defaultUserRolePermissions", "allowedToCreateTenants"),
    evaluate=_setting_check(
        "directory.tenant_creation",
        "authorizationPolicy",
        ("defaultUserRolePermissions", "allowedToCreateTenants"),
        good=lambda v: v is False,
        threshold="allowedToCreateTenants = false",
        bad_reason=Msg("directory.tenant_creation.allowed"),
    ),
)

RISKY_APP_CONSENT = _check(
    id="apps.risky_app_consent",
    area=Area.APPLICATIONS,
    severity=Severity.HIGH,
    datasets=("authorizationPolicy",),
    bm=(5, 1),
    norms=("SM.01",),
    sources=(
        src("Microsoft Graph: authorizationPolicy", AUTHZ_DOCS),
        src("CISA SCuBA MS.AAD.5.2v1 (only administrators consent to applications)", SCUBA_AAD),
    ),
    reads=_reads("authorizationPolicy", "allowUserConsentForRiskyApps"),
    evaluate=_setting_check(
        "apps.risky_app_consent",
        "authorizationPolicy",
        ("allowUserConsentForRiskyApps",),
        good=lambda v: v is False,
        threshold="allowUserConsentForRiskyApps = false",
        bad_reason=Msg("apps.risky_app_consent.allowed"),
    ),
)

BITLOCKER_KEYS = _check(
    id="directory.bitlocker_keys_owner",
    area=Area.DEVICES,
    severity=Severity.MEDIUM,
    datasets=("authorizationPolicy",),
    bm=(6,),
    norms=("SM.10", "SM.03"),
    sources=(
        src("CIS Microsoft 365 Foundations 5.1.4.6", CIS),
        src("Microsoft Graph: defaultUserRolePermissions", ROLE_PERMS_DOCS),
    ),
    reads=_reads(
        "authorizationPolicy",
        "defaultUserRolePermissions",
        "allowedToReadBitlockerKeysForOwnedDevice",
    ),
    evaluate=_setting_check(
        "directory.bitlocker_keys_owner",
        "authorizationPolicy",
        ("defaultUserRolePermissions", "allowedToReadBitlockerKeysForOwnedDevice"),
        good=lambda v: v is False,
        threshold="allowedToReadBitlockerKeysForOwnedDevice = false",
        bad_reason=Msg("directory.bitlocker_keys_owner.readable"),
    ),
)

SHAREPOINT_LEGACY = _check(
    id="surface.sharepoint_legacy_auth",
    area=Area.ATTACK_SURFACE,
    severity=Severity.MEDIUM,
    datasets=("sharepointSettings",),
    bm=(5, 9),
    norms=("SM.02", "SM.11"),
    sources=(
        src("CIS Microsoft 365 Foundations 7.2.1", CIS),
        src("Microsoft Graph: sharepointSettings", SPO_DOCS),
    ),
    reads=_reads("sharepointSettings", "isLegacyAuthProtocolsEnabled"),
    evaluate=_setting_check(
        "surface.sharepoint_legacy_auth",
        "sharepointSettings",
        ("isLegacyAuthProtocolsEnabled",),
        good=lambda v: v is False,
        threshold="isLegacyAuthProtocolsEnabled = false",
        bad_reason=Msg("surface.sharepoint_legacy_auth.accepted"),
    ),
)

CHECKS = [TENANT_CREATION, RISKY_APP_CONSENT, BITLOCKER_KEYS, SHAREPOINT_LEGACY]
