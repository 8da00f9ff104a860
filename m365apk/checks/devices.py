"""Basismaatregelen 6, 8 and 11 from Intune: encrypted devices, antivirus required, updates in
time. Without Intune these are not_licensed (the collector does not ask)."""

from __future__ import annotations

from datetime import date
from typing import Any

from m365apk.checks.base import Area, CheckResult, Severity, Status, check_family, reads
from m365apk.checks.common import CIS, make, obj, pct, src
from m365apk.checks.reference_data import os_support
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

INTUNE_DOCS = "https://learn.microsoft.com/mem/intune/protect/device-compliance-get-started"
EXCLUDE_TARGET = "#microsoft.graph.exclusionGroupAssignmentTarget"


def _windows(snapshot: Snapshot) -> list[dict[str, Any]]:
    return [
        d
        for d in snapshot.dataset("managedDevices").data or []
        if (d.get("operatingSystem") or "").lower() == "windows"
    ]


def evaluate_encryption(snapshot: Snapshot) -> CheckResult:
    cid = ENCRYPTION.id
    devices = _windows(snapshot)
    plain = [
        obj(
            {"id": d["id"], "displayName": d.get("deviceName")},
            _literal(d.get("userPrincipalName")) or Msg("devices.shared"),
        )
        for d in devices
        if not d.get("isEncrypted")
    ]
    share = pct(len(devices) - len(plain), len(devices))
    threshold = "≥ 95% van de Windows-apparaten versleuteld (BitLocker)"
    counts = {"windows_apparaten": len(devices), "niet_versleuteld": len(plain)}
    # A device without its operating system may be a Windows device: it cannot be left out.
    unseen = [
        d for d in snapshot.dataset("managedDevices").data or [] if not d.get("operatingSystem")
    ]
    if unseen:
        counts["besturingssysteem_onbekend"] = len(unseen)
        worst = pct(len(devices) - len(plain), len(devices) + len(unseen))
        if not devices or (share >= 80 and worst < 95):
            return make(
                cid,
                Status.UNKNOWN,
                Msg("devices.encryption.unknown_os", n=len(unseen)),
                threshold=threshold,
                counts=counts,
                objects=plain,
            )
    if not devices:
        return make(
            cid, Status.NOT_APPLICABLE, Msg("devices.encryption.no_windows"), threshold=threshold
        )
    if share >= 95:
        return make(
            cid, Status.PASS, threshold=threshold, counts=counts, measured=share, objects=plain
        )
    return make(
        cid,
        Status.PARTIAL if share >= 80 else Status.FAIL,
        Msg("devices.encryption.share", share=share),
        threshold=threshold,
        counts=counts,
        measured=share,
        objects=plain,
    )


def _policies(snapshot: Snapshot, kind: str) -> list[dict[str, Any]]:
    return [
        p
        for p in snapshot.dataset("deviceCompliancePolicies").data or []
        if p.get("@odata.type") == kind
    ]


WIN_POLICY = "#microsoft.graph.windows10CompliancePolicy"


def assigned(policy: dict[str, Any]) -> bool:
    """A policy counts only when it is assigned to someone: an exclusion alone includes no one
    (assignments read with $expand=assignments)."""
    return any(
        ((a.get("target") or {}).get("@odata.type")) != EXCLUDE_TARGET
        for a in policy.get("assignments") or []
    )


def _literal(value: Any) -> Msg | None:
    """Tenant or Graph data shown as it is (a name, a version, an enum value): never translated."""
    return Msg.literal(str(value)) if value else None


def _unassigned_note(unassigned: list[dict[str, Any]]) -> Msg | None:
    names = sorted(p.get("displayName") or p.get("id", "") for p in unassigned)
    return Msg("devices.unassigned", names=names) if names else None


def evaluate_encryption_required(snapshot: Snapshot) -> CheckResult:
    cid = ENCRYPTION_REQUIRED.id
    requiring = [
        p
        for p in _policies(snapshot, WIN_POLICY)
        if p.get("bitLockerEnabled") or p.get("storageRequireEncryption")
    ]
    policies = [p for p in requiring if assigned(p)]
    threshold = "Een toegewezen nalevingsbeleid voor Windows vereist BitLocker/versleuteling"
    if policies:
        return make(cid, Status.PASS, threshold=threshold, objects=[obj(p, "") for p in policies])
    return make(
        cid,
        Status.FAIL,
        Msg.join(
            [
                Msg("devices.encryption_required.none"),
                _unassigned_note([p for p in requiring if not assigned(p)]),
            ]
        ),
        threshold=threshold,
    )


def evaluate_antivirus(snapshot: Snapshot) -> CheckResult:
    cid = ANTIVIRUS.id
    # Graph v1.0's windows10CompliancePolicy has no antivirus settings (defenderEnabled,
    # antivirusRequired and rtpEnabled are beta only); v1.0 shows Defender's real-time
    # protection as a setting of the Windows device-restrictions profile.
    requiring = [
        p
        for p in snapshot.dataset("deviceConfigurations").data or []
        if p.get("@odata.type") == "#microsoft.graph.windows10GeneralConfiguration"
        and p.get("defenderRequireRealTimeMonitoring") is True
    ]
    policies = [p for p in requiring if assigned(p)]
    threshold = (
        "Een toegewezen Windows-configuratieprofiel zet Defender-realtimebescherming verplicht aan"
    )
    if policies:
        return make(cid, Status.PASS, threshold=threshold, objects=[obj(p, "") for p in policies])
    return make(
        cid,
        Status.FAIL,
        Msg.join(
            [
                Msg("devices.antivirus_required.none"),
                _unassigned_note([p for p in requiring if not assigned(p)]),
            ]
        ),
        threshold=threshold,
    )


def evaluate_update_rings(snapshot: Snapshot) -> CheckResult:
    cid = UPDATE_RINGS.id
    all_rings = [
        c
        for c in snapshot.dataset("deviceConfigurations").data or []
        if c.get("@odata.type") == "#microsoft.graph.windowsUpdateForBusinessConfiguration"
    ]
    rings = [r for r in all_rings if assigned(r)]
    unassigned = _unassigned_note([r for r in all_rings if not assigned(r)])
    threshold = "Een toegewezen Windows-updatering met kwaliteitsupdates binnen 7 dagen"
    timely = [
        r
        for r in rings
        if (r.get("qualityUpdatesDeferralPeriodInDays") or 0) <= 7
        and not r.get("qualityUpdatesPaused")
    ]
    objects = [
        obj(
            r,
            Msg(
                "devices.update_rings.deferral",
                days=r.get("qualityUpdatesDeferralPeriodInDays"),
            ),
        )
        for r in rings
    ]
    if timely:
        return make(cid, Status.PASS, threshold=threshold, objects=objects)
    if rings:
        return make(
            cid,
            Status.PARTIAL,
            Msg("devices.update_rings.slow"),
            threshold=threshold,
            objects=objects,
        )
    return make(
        cid,
        Status.FAIL,
        Msg.join([Msg("devices.update_rings.none"), unassigned]),
        threshold=threshold,
    )


def _platform(device: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    os_name = (device.get("operatingSystem") or "").strip().lower()
    for key, platform in os_support()["platforms"].items():
        if os_name in platform["match"]:
            return key, platform
    return None


def _version(platform: dict[str, Any], os_version: str) -> int | None:
    parts = os_version.split(".")
    try:
        return int(parts[2] if platform["field"] == "build" else parts[0])
    except (IndexError, ValueError):
        return None


def _supported(platform: dict[str, Any], version: int, on: date) -> bool:
    """Whether `version` still receives security updates on `on` (data: os_support.yaml)."""
    if "minimum" in platform:
        return version >= int(platform["minimum"])
    releases = sorted(platform["versions"], key=lambda v: int(v["version"]))
    if version > int(releases[-1]["version"]):
        return True  # newer than anything listed
    # Builds between listed ones belong to the nearest listed build below them (Insider or
    # servicing builds); below the oldest listed: long out of support.
    below = [r for r in releases if int(r["version"]) <= version]
    if not below:
        return False
    end = below[-1]["end"]
    end = end if isinstance(end, date) else date.fromisoformat(str(end))
    return on < end


def evaluate_outdated(snapshot: Snapshot) -> CheckResult:
    cid = OUTDATED.id
    devices = snapshot.dataset("managedDevices").data or []
    on = snapshot.collected_at.date()
    judged, old, unjudged = [], [], []
    for d in devices:
        found = _platform(d)
        version = _version(found[1], d.get("osVersion") or "") if found else None
        if found is None or version is None:
            unjudged.append(d)
            continue
        judged.append(d)
        if not _supported(found[1], version, on):
            old.append(
                obj(
                    {"id": d["id"], "displayName": d.get("deviceName")},
                    Msg.literal(f"{d.get('operatingSystem')} {d.get('osVersion')}"),
                )
            )
    share = pct(len(old), len(judged))
    threshold = "≤ 5% van de apparaten op een versie zonder beveiligingsupdates"
    counts = {
        "apparaten": len(devices),
        "beoordeeld": len(judged),
        "niet_beoordeeld": len(unjudged),
        "verouderd": len(old),
    }
    data = os_support()
    kinds = sorted(
        {d.get("operatingSystem") or Msg("devices.outdated_os.unknown_os") for d in unjudged}
    )
    note = (
        Msg("devices.outdated_os.unjudged", count=len(unjudged), kinds=kinds) if unjudged else None
    )
    basis = Msg("devices.outdated_os.basis", as_of=str(data["as_of"]))
    if not devices:
        return make(cid, Status.NOT_APPLICABLE, Msg("devices.no_devices"), threshold=threshold)
    if not judged:
        return make(
            cid,
            Status.UNKNOWN,
            Msg.join([Msg("devices.outdated_os.none_judged"), note]),
            threshold=threshold,
            counts=counts,
        )
    if share <= 5:
        return make(
            cid,
            Status.PASS,
            Msg.join([note, basis]) if unjudged else None,
            threshold=threshold,
            counts=counts,
            objects=old,
            measured=share,
        )
    return make(
        cid,
        Status.PARTIAL if share <= 20 else Status.FAIL,
        Msg.join([Msg("devices.outdated_os.share", share=share), note, basis]),
        threshold=threshold,
        counts=counts,
        objects=old,
        measured=share,
    )


def evaluate_compliance(snapshot: Snapshot) -> CheckResult:
    cid = COMPLIANCE.id
    devices = snapshot.dataset("managedDevices").data or []
    settings = (snapshot.dataset("deviceManagementSettings").data or {}).get("settings") or {}
    secure_by_default = settings.get("secureByDefault")
    bad = [
        obj({"id": d["id"], "displayName": d.get("deviceName")}, _literal(d.get("complianceState")))
        for d in devices
        if d.get("complianceState") not in ("compliant", "inGracePeriod")
    ]
    share = pct(len(devices) - len(bad), len(devices))
    threshold = (
        "≥ 95% van de beheerde apparaten voldoet aan het nalevingsbeleid, en apparaten zonder "
        "beleid tellen als niet-conform"
    )
    counts = {"apparaten": len(devices), "niet_conform": len(bad)}
    measured = {"conform_pct": share, "zonder_beleid_niet_conform": secure_by_default}
    if not devices:
        return make(cid, Status.NOT_APPLICABLE, Msg("devices.no_devices"), threshold=threshold)
    if secure_by_default is None:
        return make(
            cid,
            Status.UNKNOWN,
            Msg("devices.compliance.setting_unread", share=share),
            threshold=threshold,
            counts=counts,
            measured=measured,
        )
    if share >= 95 and secure_by_default is True:
        return make(
            cid, Status.PASS, threshold=threshold, counts=counts, measured=measured, objects=bad
        )
    if secure_by_default is not True:
        # Intune's default marks a device without any compliance policy compliant: a high
        # percentage then proves nothing (CIS M365 4.1, Maester MT.1054).
        return make(
            cid,
            Status.FAIL if share < 80 else Status.PARTIAL,
            Msg("devices.compliance.default_compliant", share=share),
            threshold=threshold,
            counts=counts,
            measured=measured,
            objects=bad,
        )
    return make(
        cid,
        Status.PARTIAL if share >= 80 else Status.FAIL,
        Msg("devices.compliance.share", share=share),
        threshold=threshold,
        counts=counts,
        measured=measured,
        objects=bad,
    )


INTUNE = Msg("devices.licence")


_check = check_family(area=Area.DEVICES, licence=INTUNE)


ENCRYPTION = _check(
    id="devices.encryption",
    reads=reads(properties={"managedDevices": ("operatingSystem", "isEncrypted")}),
    severity=Severity.HIGH,
    datasets=("managedDevices",),
    bm=(6,),
    norms=("SM.03", "SM.10"),
    sources=(
        src("CIS Microsoft Intune for Windows (BitLocker)", CIS),
        src("Intune: device compliance", INTUNE_DOCS),
    ),
    evaluate=evaluate_encryption,
)
ENCRYPTION_REQUIRED = _check(
    id="devices.encryption_required",
    reads=reads(
        properties={
            "deviceCompliancePolicies": (
                "bitLockerEnabled",
                "storageRequireEncryption",
                "assignments.target",
            )
        }
    ),
    severity=Severity.MEDIUM,
    datasets=("deviceCompliancePolicies",),
    bm=(6,),
    norms=("SM.03",),
    sources=(src("Intune: device compliance", INTUNE_DOCS),),
    evaluate=evaluate_encryption_required,
)
ANTIVIRUS = _check(
    id="devices.antivirus_required",
    reads=reads(
        properties={
            "deviceConfigurations": ("defenderRequireRealTimeMonitoring", "assignments.target")
        }
    ),
    severity=Severity.HIGH,
    datasets=("deviceConfigurations",),
    bm=(8,),
    norms=("SM.12", "SM.03"),
    sources=(
        src(
            "Intune: Windows device restrictions, Microsoft Defender Antivirus",
            "https://learn.microsoft.com/mem/intune/configuration/device-restrictions-windows-10"
            "#microsoft-defender-antivirus",
        ),
    ),
    evaluate=evaluate_antivirus,
)
UPDATE_RINGS = _check(
    id="devices.update_rings",
    reads=reads(
        properties={
            "deviceConfigurations": (
                "qualityUpdatesDeferralPeriodInDays",
                "qualityUpdatesPaused",
                "assignments.target",
            )
        }
    ),
    severity=Severity.HIGH,
    datasets=("deviceConfigurations",),
    bm=(11,),
    norms=("SM.06",),
    sources=(
        src(
            "Intune: Windows Update rings",
            "https://learn.microsoft.com/mem/intune/protect/windows-10-update-rings",
        ),
    ),
    evaluate=evaluate_update_rings,
)
OUTDATED = _check(
    id="devices.outdated_os",
    reads=reads(properties={"managedDevices": ("operatingSystem", "osVersion")}),
    severity=Severity.HIGH,
    datasets=("managedDevices",),
    bm=(11,),
    norms=("SM.06", "SM.07"),
    sources=(
        src(
            "Microsoft Windows release health",
            "https://learn.microsoft.com/windows/release-health/",
        ),
        src("Apple security releases", "https://support.apple.com/en-us/100100"),
        src("Android Security Bulletins", "https://source.android.com/docs/security/bulletin"),
    ),
    evaluate=evaluate_outdated,
)
COMPLIANCE = _check(
    id="devices.compliance",
    reads=reads(
        properties={
            "managedDevices": ("complianceState",),
            "deviceManagementSettings": ("settings.secureByDefault",),
        }
    ),
    severity=Severity.MEDIUM,
    datasets=("managedDevices", "deviceManagementSettings"),
    bm=(8, 6),
    norms=("SM.03",),
    sources=(
        src("Intune: device compliance", INTUNE_DOCS),
        src("CIS Microsoft 365 Foundations 4.1", CIS),
        src("Maester MT.1054", "https://maester.dev/docs/tests/MT.1054"),
    ),
    evaluate=evaluate_compliance,
)

CHECKS = [ENCRYPTION, ENCRYPTION_REQUIRED, ANTIVIRUS, UPDATE_RINGS, OUTDATED, COMPLIANCE]
