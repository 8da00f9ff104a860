"""SharePoint and OneDrive, to CISA SCuBA's SharePoint baseline as far as Graph v1.0's
`admin/sharepoint/settings` (sharepointSettings) reaches; mappings/scuba_sharepoint.yaml lists
every policy with what covers it.

Read here: whom external sharing is limited to (MS.SHAREPOINT.1.3v1: approved domains), whether
guests may share what they do not own (CIS 7.2.5) and whether OneDrive syncs only on devices of
the school's domains (CIS 7.3.2). The sharing level itself (MS.SHAREPOINT.1.1v1) is
surface.external_sharing, legacy authentication surface.sharepoint_legacy_auth. What the
settings do not hold (OneDrive's own level, default link type and permission, Anyone links'
expiry and permissions, verification-code reauthentication) is a handmatig controlepunt.

Each setting is read with read_setting: absent, null or an unknown enum value is unknown,
naming the property, never a default we assume.
"""

from __future__ import annotations

from typing import Any

from m365apk.checks.base import (
    Area,
    CheckResult,
    Severity,
    Status,
    check_family,
    read_setting,
    reads,
)
from m365apk.checks.common import CIS, make, src
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

SETTINGS = "sharepointSettings"
SPO_DOCS = "https://learn.microsoft.com/graph/api/resources/sharepointsettings"
SCUBA_SPO = (
    "https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/sharepoint.md"
)
SHARING_DOCS = "https://learn.microsoft.com/sharepoint/turn-external-sharing-on-or-off"
SYNC_DOCS = "https://learn.microsoft.com/sharepoint/allow-syncing-only-on-specific-domains"
# sharingCapabilities (Graph v1.0); "disabled": only people in the organisation.
CAPABILITIES = (
    "disabled",
    "existingExternalUserSharingOnly",
    "externalUserSharingOnly",
    "externalUserAndGuestSharing",
)
RESTRICTION_MODES = ("none", "allowList", "blockList")

# Every check here judges one switch of the tenant's SharePoint settings, at medium severity.
_check = check_family(
    area=Area.ATTACK_SURFACE, effort="klein", severity=Severity.MEDIUM, datasets=(SETTINGS,)
)


def _capability(snapshot: Snapshot) -> tuple[Any, Msg | None]:
    return read_setting(snapshot, SETTINGS, "sharingCapability", CAPABILITIES)


def evaluate_sharing_domains(snapshot: Snapshot) -> CheckResult:
    """MS.SHAREPOINT.1.3v1: external sharing limited to approved domains (allowList). Approved
    security groups, the baseline's alternative, are not in Graph: the reason says so."""
    cid = SHARING_DOMAINS.id
    threshold = (
        "Extern delen alleen met goedgekeurde domeinen (sharingDomainRestrictionMode = allowList)"
    )
    capability, problem = _capability(snapshot)
    if problem is not None:
        return make(cid, Status.UNKNOWN, problem, threshold=threshold)
    if capability == "disabled":
        return make(
            cid,
            Status.NOT_APPLICABLE,
            Msg("sharepoint.sharing_domains.internal_only"),
            threshold=threshold,
        )
    mode, problem = read_setting(
        snapshot, SETTINGS, "sharingDomainRestrictionMode", RESTRICTION_MODES
    )
    if problem is not None:
        return make(cid, Status.UNKNOWN, problem, threshold=threshold)
    if mode == "allowList":
        measured: dict[str, Any] = {"sharingDomainRestrictionMode": mode}
        allowed = snapshot.dataset(SETTINGS).data.get("sharingAllowedDomainList")
        if isinstance(allowed, list):  # null: Graph did not give it; never shown as empty
            measured["sharingAllowedDomainList"] = allowed
        return make(cid, Status.PASS, threshold=threshold, measured=measured)
    return make(
        cid,
        Status.FAIL,
        Msg(f"sharepoint.sharing_domains.{mode}"),
        threshold=threshold,
        measured={"sharingDomainRestrictionMode": mode},
    )


def evaluate_guest_resharing(snapshot: Snapshot) -> CheckResult:
    """CIS 7.2.5: guests cannot share items they do not own."""
    cid = GUEST_RESHARING.id
    threshold = "isResharingByExternalUsersEnabled = false"
    value, problem = read_setting(
        snapshot, SETTINGS, "isResharingByExternalUsersEnabled", (True, False)
    )
    if problem is not None:
        return make(cid, Status.UNKNOWN, problem, threshold=threshold)
    measured = {"isResharingByExternalUsersEnabled": value}
    if value is False:
        return make(cid, Status.PASS, threshold=threshold, measured=measured)
    capability, _ = _capability(snapshot)
    if capability == "disabled":
        return make(
            cid,
            Status.NOT_APPLICABLE,
            Msg("sharepoint.guest_resharing.internal_only"),
            threshold=threshold,
            measured=measured,
        )
    return make(
        cid,
        Status.FAIL,
        Msg("sharepoint.guest_resharing.allowed"),
        threshold=threshold,
        measured=measured,
    )


def evaluate_unmanaged_sync(snapshot: Snapshot) -> CheckResult:
    """CIS 7.3.2: the OneDrive sync app only on devices joined to the school's domains."""
    cid = UNMANAGED_SYNC.id
    threshold = "isUnmanagedSyncAppForTenantRestricted = true"
    value, problem = read_setting(
        snapshot, SETTINGS, "isUnmanagedSyncAppForTenantRestricted", (True, False)
    )
    if problem is not None:
        return make(cid, Status.UNKNOWN, problem, threshold=threshold)
    if value is True:
        domains = snapshot.dataset(SETTINGS).data.get("allowedDomainGuidsForSyncApp")
        measured = {"isUnmanagedSyncAppForTenantRestricted": True}
        if isinstance(domains, list):  # null: Graph did not give it; never shown as 0
            measured["domeinen"] = len(domains)
        return make(cid, Status.PASS, threshold=threshold, measured=measured)
    return make(
        cid,
        Status.FAIL,
        Msg("sharepoint.unmanaged_sync.allowed"),
        threshold=threshold,
        measured={"isUnmanagedSyncAppForTenantRestricted": False},
    )


SHARING_DOMAINS = _check(
    id="sharepoint.sharing_domains",
    bm=(5, 4),
    norms=("SM.01", "ID.01"),
    sources=(
        src("CISA SCuBA MS.SHAREPOINT.1.3v1", SCUBA_SPO),
        src("CIS Microsoft 365 Foundations 7.2.6", CIS),
        src("Microsoft Graph: sharepointSettings", SPO_DOCS),
    ),
    evaluate=evaluate_sharing_domains,
    reads=reads(
        properties={SETTINGS: ("sharingCapability", "sharingDomainRestrictionMode")},
    ),
)
GUEST_RESHARING = _check(
    id="sharepoint.guest_resharing",
    bm=(5, 4),
    norms=("SM.01", "ID.02"),
    sources=(
        src("CIS Microsoft 365 Foundations 7.2.5", CIS),
        src(
            "Microsoft: manage sharing settings (guests sharing items they don't own)", SHARING_DOCS
        ),
        src("Microsoft Graph: sharepointSettings", SPO_DOCS),
    ),
    evaluate=evaluate_guest_resharing,
    # The verdict rests on the resharing switch alone; sharingCapability only turns a fail into
    # not applicable when Graph says "disabled" (no external sharing), never into a pass.
    reads=reads(properties={SETTINGS: ("isResharingByExternalUsersEnabled",)}),
)
UNMANAGED_SYNC = _check(
    id="sharepoint.unmanaged_sync",
    bm=(5, 6),
    norms=("SM.01", "SM.03"),
    sources=(
        src("CIS Microsoft 365 Foundations 7.3.2", CIS),
        src("Microsoft: allow syncing only on computers joined to specific domains", SYNC_DOCS),
        src("Microsoft Graph: sharepointSettings", SPO_DOCS),
    ),
    evaluate=evaluate_unmanaged_sync,
    effort="middel",
    reads=reads(properties={SETTINGS: ("isUnmanagedSyncAppForTenantRestricted",)}),
)

CHECKS = [SHARING_DOMAINS, GUEST_RESHARING, UNMANAGED_SYNC]
