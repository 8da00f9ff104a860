"""Basismaatregelen 6, 8 and 11 from Intune: encrypted devices, antivirus required, updates in
time. Without Intune these are not_licensed (the collector does not ask)."""

from __future__ import annotations

from typing import Any

from m365apk.checks.base import Area, Check, CheckResult, Severity, Status
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
    policies = [
        p
        for p in _policies(snapshot, WIN_POLICY)
        if p.get("defenderEnabled") or p.get("antivirusRequired")
    ]
    threshold = "Een nalevingsbeleid voor Windows vereist Defender/antivirus met realtime-scan"
    if policies:
        return make(cid, Status.PASS, threshold=threshold, objects=[obj(p, "") for p in policies])
    return make(
        cid,
        Status.FAIL,
        "Geen nalevingsbeleid dat antivirus eist: Intune ziet niet of apparaten beschermd zijn.",
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


def _check(
    id: str,
    title: str,
    severity: Severity,
    datasets: tuple[str, ...],
    bm: tuple[int, ...],
    norms: tuple[str, ...],
    threshold: str,
    sources: tuple[Any, ...],
    why: str,
    fix: str,
    evaluate: Any,
) -> Check:
    return Check(
        id=id,
        title=title,
        area=Area.DEVICES,
        severity=severity,
        datasets=datasets,
        basismaatregelen=bm,
        norms=norms,
        threshold=threshold,
        sources=sources,
        why=why,
        fix=fix,
        evaluate=evaluate,
        licence=INTUNE,
    )


ENCRYPTION = _check(
    "devices.encryption",
    "Versleutelde laptops",
    Severity.HIGH,
    ("managedDevices",),
    (6,),
    ("SM.03", "SM.10"),
    "≥ 95% van de Windows-apparaten met isEncrypted = true",
    (
        src("CIS Microsoft Intune for Windows (BitLocker)", CIS),
        src("Intune: naleving", INTUNE_DOCS),
    ),
    "Een verloren of gestolen laptop zonder versleuteling is een datalek: alles op de schijf is "
    "leesbaar.",
    "Intune > Endpoint security > Disk encryption: BitLocker-beleid voor alle Windows-apparaten; "
    "herstelsleutels in Entra.",
    evaluate_encryption,
)
ENCRYPTION_REQUIRED = _check(
    "devices.encryption_required",
    "Nalevingsbeleid eist versleuteling",
    Severity.MEDIUM,
    ("deviceCompliancePolicies",),
    (6,),
    ("SM.03",),
    "windows10CompliancePolicy met bitLockerEnabled of storageRequireEncryption",
    (src("Intune: naleving", INTUNE_DOCS),),
    "Als het nalevingsbeleid versleuteling niet eist, valt een onversleutelde laptop niet op.",
    "Intune > Devices > Compliance policies > Windows: 'Require BitLocker' op Require.",
    evaluate_encryption_required,
)
ANTIVIRUS = _check(
    "devices.antivirus_required",
    "Antivirus verplicht in het nalevingsbeleid",
    Severity.HIGH,
    ("deviceCompliancePolicies",),
    (8,),
    ("SM.12", "SM.03"),
    "windows10CompliancePolicy met defenderEnabled of antivirusRequired",
    (src("Intune: naleving", INTUNE_DOCS),),
    "Antivirus helpt alleen als het aanstaat en bijgewerkt is; het nalevingsbeleid laat zien "
    "welk apparaat dat niet is.",
    "Intune > Compliance policies > Windows > System Security: Microsoft Defender Antimalware, "
    "realtime-bescherming en actuele definities op Require.",
    evaluate_antivirus,
)
UPDATE_RINGS = _check(
    "devices.update_rings",
    "Windows-updates via een updatering",
    Severity.HIGH,
    ("deviceConfigurations",),
    (11,),
    ("SM.06",),
    "windowsUpdateForBusinessConfiguration met qualityUpdatesDeferralPeriodInDays ≤ 7",
    (
        src(
            "Intune: Windows Update-ringen",
            "https://learn.microsoft.com/mem/intune/protect/windows-10-update-rings",
        ),
    ),
    "Beveiligingsupdates dichten lekken die aanvallers al kennen; een vaste updatering zorgt dat "
    "ze binnen een week overal staan.",
    "Intune > Devices > Windows updates > Update rings: ring met kwaliteitsupdates uitgesteld "
    "hoogstens 7 dagen en een deadline.",
    evaluate_update_rings,
)
OUTDATED = _check(
    "devices.outdated_os",
    "Apparaten op een verouderde versie",
    Severity.HIGH,
    ("managedDevices",),
    (11,),
    ("SM.06", "SM.07"),
    "≤ 5% op Windows ouder dan 11 23H2 (build 22631) of iOS/iPadOS ouder dan 17",
    (
        src(
            "Microsoft Windows release health",
            "https://learn.microsoft.com/windows/release-health/",
        ),
    ),
    "Windows 10 krijgt sinds oktober 2025 geen beveiligingsupdates meer. Elk nieuw lek blijft "
    "daarop open.",
    "Upgrade of vervang de genoemde apparaten; Intune > Windows updates > Feature updates.",
    evaluate_outdated,
)
COMPLIANCE = _check(
    "devices.compliance",
    "Apparaten voldoen aan het nalevingsbeleid",
    Severity.MEDIUM,
    ("managedDevices",),
    (8, 6),
    ("SM.03",),
    "≥ 95% van de apparaten compliant",
    (src("Intune: naleving", INTUNE_DOCS),),
    "Een niet-conform apparaat mist iets uit het beleid: versleuteling, antivirus of updates.",
    "Intune > Devices > Monitor > Noncompliant devices: los per apparaat op of neem het uit "
    "gebruik; vraag conforme apparaten af met voorwaardelijke toegang.",
    evaluate_compliance,
)

CHECKS = [ENCRYPTION, ENCRYPTION_REQUIRED, ANTIVIRUS, UPDATE_RINGS, OUTDATED, COMPLIANCE]
