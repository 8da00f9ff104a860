"""Basismaatregelen 6, 8 and 11 from Intune: encrypted devices, antivirus required, updates in
time. Without Intune these are not_licensed (the collector does not ask)."""

from __future__ import annotations

from typing import Any

from m365apk.checks.base import Area, CheckResult, Severity, Status, check_family
from m365apk.checks.common import CIS, make, obj, pct, src
from m365apk.snapshot import Snapshot

INTUNE_DOCS = "https://learn.microsoft.com/mem/intune/protect/device-compliance-get-started"
# Oldest builds still receiving security updates (Windows release health, Nov 2026): Windows 11
# 23H2 (22631) Enterprise/Education and 24H2 (26100); Windows 10 22H2 ended 14 Oct 2025.
WINDOWS_MIN_BUILD = 22631
IOS_MIN_MAJOR = 17  # Apple patches the current and previous major version


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
            d.get("userPrincipalName") or "gedeeld",
        )
        for d in devices
        if not d.get("isEncrypted")
    ]
    share = pct(len(devices) - len(plain), len(devices))
    threshold = "≥ 95% van de Windows-apparaten versleuteld (BitLocker)"
    counts = {"windows_apparaten": len(devices), "niet_versleuteld": len(plain)}
    if not devices:
        return make(
            cid, Status.NOT_APPLICABLE, "Geen Windows-apparaten in Intune.", threshold=threshold
        )
    if share >= 95:
        return make(
            cid, Status.PASS, threshold=threshold, counts=counts, measured=share, objects=plain
        )
    return make(
        cid,
        Status.PARTIAL if share >= 80 else Status.FAIL,
        f"{share:g}% van de Windows-apparaten is versleuteld.",
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


def evaluate_encryption_required(snapshot: Snapshot) -> CheckResult:
    cid = ENCRYPTION_REQUIRED.id
    policies = [
        p
        for p in _policies(snapshot, WIN_POLICY)
        if p.get("bitLockerEnabled") or p.get("storageRequireEncryption")
    ]
    threshold = "Een nalevingsbeleid voor Windows vereist BitLocker/versleuteling"
    if policies:
        return make(cid, Status.PASS, threshold=threshold, objects=[obj(p, "") for p in policies])
    return make(
        cid,
        Status.FAIL,
        "Geen nalevingsbeleid dat versleuteling eist: een "
        "onversleuteld apparaat telt gewoon als 'in orde'.",
        threshold=threshold,
    )


def evaluate_antivirus(snapshot: Snapshot) -> CheckResult:
    cid = ANTIVIRUS.id
    # Graph v1.0's windows10CompliancePolicy has no antivirus settings (defenderEnabled,
    # antivirusRequired and rtpEnabled are beta only); v1.0 shows Defender's real-time
    # protection as a setting of the Windows device-restrictions profile.
    policies = [
        p
        for p in snapshot.dataset("deviceConfigurations").data or []
        if p.get("@odata.type") == "#microsoft.graph.windows10GeneralConfiguration"
        and p.get("defenderRequireRealTimeMonitoring") is True
    ]
    threshold = "Een Windows-configuratieprofiel zet Defender-realtimebescherming verplicht aan"
    if policies:
        return make(cid, Status.PASS, threshold=threshold, objects=[obj(p, "") for p in policies])
    return make(
        cid,
        Status.FAIL,
        "Geen Intune-profiel dat Defender-realtimebescherming afdwingt: Intune ziet niet of "
        "apparaten beschermd zijn.",
        threshold=threshold,
    )


def evaluate_update_rings(snapshot: Snapshot) -> CheckResult:
    cid = UPDATE_RINGS.id
    rings = [
        c
        for c in snapshot.dataset("deviceConfigurations").data or []
        if c.get("@odata.type") == "#microsoft.graph.windowsUpdateForBusinessConfiguration"
    ]
    threshold = "Een Windows-updatering met kwaliteitsupdates binnen 7 dagen"
    timely = [
        r
        for r in rings
        if (r.get("qualityUpdatesDeferralPeriodInDays") or 0) <= 7
        and not r.get("qualityUpdatesPaused")
    ]
    objects = [
        obj(r, f"uitstel {r.get('qualityUpdatesDeferralPeriodInDays')} dagen") for r in rings
    ]
    if timely:
        return make(cid, Status.PASS, threshold=threshold, objects=objects)
    if rings:
        return make(
            cid,
            Status.PARTIAL,
            "Updateringen stellen beveiligingsupdates langer dan 7 dagen uit of staan gepauzeerd.",
            threshold=threshold,
            objects=objects,
        )
    return make(
        cid,
        Status.FAIL,
        "Geen Windows-updatering: updates hangen af van instellingen per apparaat.",
        threshold=threshold,
    )


def _outdated(device: dict[str, Any]) -> bool:
    os_name = (device.get("operatingSystem") or "").lower()
    version = device.get("osVersion") or ""
    parts = version.split(".")
    try:
        if os_name == "windows":
            return int(parts[2]) < WINDOWS_MIN_BUILD
        if os_name in ("ios", "ipados"):
            return int(parts[0]) < IOS_MIN_MAJOR
    except (IndexError, ValueError):
        return False
    return False


def evaluate_outdated(snapshot: Snapshot) -> CheckResult:
    cid = OUTDATED.id
    devices = snapshot.dataset("managedDevices").data or []
    old = [
        obj(
            {"id": d["id"], "displayName": d.get("deviceName")},
            f"{d.get('operatingSystem')} {d.get('osVersion')}",
        )
        for d in devices
        if _outdated(d)
    ]
    share = pct(len(old), len(devices))
    threshold = "≤ 5% van de apparaten op een versie zonder beveiligingsupdates"
    counts = {"apparaten": len(devices), "verouderd": len(old)}
    if not devices:
        return make(cid, Status.NOT_APPLICABLE, "Geen apparaten in Intune.", threshold=threshold)
    if share <= 5:
        return make(
            cid, Status.PASS, threshold=threshold, counts=counts, objects=old, measured=share
        )
    return make(
        cid,
        Status.PARTIAL if share <= 20 else Status.FAIL,
        f"{share:g}% van de apparaten draait een versie die geen beveiligingsupdates meer "
        "krijgt (bijv. Windows 10).",
        threshold=threshold,
        counts=counts,
        objects=old,
        measured=share,
    )


def evaluate_compliance(snapshot: Snapshot) -> CheckResult:
    cid = COMPLIANCE.id
    devices = snapshot.dataset("managedDevices").data or []
    bad = [
        obj({"id": d["id"], "displayName": d.get("deviceName")}, d.get("complianceState"))
        for d in devices
        if d.get("complianceState") not in ("compliant", "inGracePeriod")
    ]
    share = pct(len(devices) - len(bad), len(devices))
    threshold = "≥ 95% van de beheerde apparaten voldoet aan het nalevingsbeleid"
    counts = {"apparaten": len(devices), "niet_conform": len(bad)}
    if not devices:
        return make(cid, Status.NOT_APPLICABLE, "Geen apparaten in Intune.", threshold=threshold)
    if share >= 95:
        return make(
            cid, Status.PASS, threshold=threshold, counts=counts, measured=share, objects=bad
        )
    return make(
        cid,
        Status.PARTIAL if share >= 80 else Status.FAIL,
        f"{share:g}% van de apparaten is conform.",
        threshold=threshold,
        counts=counts,
        measured=share,
        objects=bad,
    )


INTUNE = "Microsoft Intune (A1 voor apparaten, A3, A5)"


_check = check_family(area=Area.DEVICES, licence=INTUNE)


ENCRYPTION = _check(
    id="devices.encryption",
    title="Versleutelde laptops",
    severity=Severity.HIGH,
    datasets=("managedDevices",),
    bm=(6,),
    norms=("SM.03", "SM.10"),
    threshold="≥ 95% van de Windows-apparaten met isEncrypted = true",
    sources=(
        src("CIS Microsoft Intune for Windows (BitLocker)", CIS),
        src("Intune: naleving", INTUNE_DOCS),
    ),
    why="Een verloren of gestolen laptop zonder versleuteling is een datalek: alles op de schijf "
    "is "
    "leesbaar.",
    fix="Intune > Endpoint security > Disk encryption: BitLocker-beleid voor alle "
    "Windows-apparaten; "
    "herstelsleutels in Entra.",
    evaluate=evaluate_encryption,
)
ENCRYPTION_REQUIRED = _check(
    id="devices.encryption_required",
    title="Nalevingsbeleid eist versleuteling",
    severity=Severity.MEDIUM,
    datasets=("deviceCompliancePolicies",),
    bm=(6,),
    norms=("SM.03",),
    threshold="windows10CompliancePolicy met bitLockerEnabled of storageRequireEncryption",
    sources=(src("Intune: naleving", INTUNE_DOCS),),
    why="Als het nalevingsbeleid versleuteling niet eist, valt een onversleutelde laptop niet op.",
    fix="Intune > Devices > Compliance policies > Windows: 'Require BitLocker' op Require.",
    evaluate=evaluate_encryption_required,
)
ANTIVIRUS = _check(
    id="devices.antivirus_required",
    title="Antivirus verplicht via Intune",
    severity=Severity.HIGH,
    datasets=("deviceConfigurations",),
    bm=(8,),
    norms=("SM.12", "SM.03"),
    threshold="windows10GeneralConfiguration met defenderRequireRealTimeMonitoring",
    sources=(
        src(
            "Intune: apparaatbeperkingen Windows, Microsoft Defender Antivirus",
            "https://learn.microsoft.com/mem/intune/configuration/device-restrictions-windows-10"
            "#microsoft-defender-antivirus",
        ),
    ),
    why="Antivirus helpt alleen als het aanstaat; een Intune-profiel dat realtimebescherming "
    "afdwingt, voorkomt dat een gebruiker Defender uitzet.",
    fix="Intune > Devices > Configuration > Windows > Device restrictions > Microsoft Defender "
    "Antivirus: realtimebescherming op Require.",
    evaluate=evaluate_antivirus,
)
UPDATE_RINGS = _check(
    id="devices.update_rings",
    title="Windows-updates via een updatering",
    severity=Severity.HIGH,
    datasets=("deviceConfigurations",),
    bm=(11,),
    norms=("SM.06",),
    threshold="windowsUpdateForBusinessConfiguration met qualityUpdatesDeferralPeriodInDays ≤ 7",
    sources=(
        src(
            "Intune: Windows Update-ringen",
            "https://learn.microsoft.com/mem/intune/protect/windows-10-update-rings",
        ),
    ),
    why="Beveiligingsupdates dichten lekken die aanvallers al kennen; een vaste updatering zorgt "
    "dat "
    "ze binnen een week overal staan.",
    fix="Intune > Devices > Windows updates > Update rings: ring met kwaliteitsupdates uitgesteld "
    "hoogstens 7 dagen en een deadline.",
    evaluate=evaluate_update_rings,
)
OUTDATED = _check(
    id="devices.outdated_os",
    title="Apparaten op een verouderde versie",
    severity=Severity.HIGH,
    datasets=("managedDevices",),
    bm=(11,),
    norms=("SM.06", "SM.07"),
    threshold="≤ 5% op Windows ouder dan 11 23H2 (build 22631) of iOS/iPadOS ouder dan 17",
    sources=(
        src(
            "Microsoft Windows release health",
            "https://learn.microsoft.com/windows/release-health/",
        ),
    ),
    why="Windows 10 krijgt sinds oktober 2025 geen beveiligingsupdates meer. Elk nieuw lek blijft "
    "daarop open.",
    fix="Upgrade of vervang de genoemde apparaten; Intune > Windows updates > Feature updates.",
    evaluate=evaluate_outdated,
)
COMPLIANCE = _check(
    id="devices.compliance",
    title="Apparaten voldoen aan het nalevingsbeleid",
    severity=Severity.MEDIUM,
    datasets=("managedDevices",),
    bm=(8, 6),
    norms=("SM.03",),
    threshold="≥ 95% van de apparaten compliant",
    sources=(src("Intune: naleving", INTUNE_DOCS),),
    why="Een niet-conform apparaat mist iets uit het beleid: versleuteling, antivirus of updates.",
    fix="Intune > Devices > Monitor > Noncompliant devices: los per apparaat op of neem het uit "
    "gebruik; vraag conforme apparaten af met voorwaardelijke toegang.",
    evaluate=evaluate_compliance,
)

CHECKS = [ENCRYPTION, ENCRYPTION_REQUIRED, ANTIVIRUS, UPDATE_RINGS, OUTDATED, COMPLIANCE]
