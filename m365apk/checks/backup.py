"""Basismaatregel 7: is school data backed up? Microsoft 365 Backup where it is in use, and
third-party backup products among the enterprise applications. An absent signal is never
"no backup": another product may be invisible to Graph, so the answer is then unknown."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from m365apk.checks.base import Area, CheckResult, Severity, Status, check_family
from m365apk.checks.common import MICROSOFT_TENANTS, app_permissions, make, obj, src
from m365apk.snapshot import Snapshot

BACKUP_DOCS = "https://learn.microsoft.com/microsoft-365/backup/backup-overview"


@cache
def _products() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Name patterns of backup products, and same-vendor products that are not backups (data:
    mappings/backup_products.yaml)."""
    text = (resources.files("m365apk.mappings") / "backup_products.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    return tuple(data["name_patterns"]), tuple(data["not_backup"])


# Application permissions that let a product read what it backs up.
MAIL_ROLES = {"full_access_as_app", "Mail.Read", "Mail.ReadWrite"}
FILE_ROLES = {
    "Files.Read.All",
    "Files.ReadWrite.All",
    "Sites.Read.All",
    "Sites.FullControl.All",
    "Sites.ReadWrite.All",
}
WORKLOADS = {
    "exchange": ("#microsoft.graph.exchangeProtectionPolicy", "Exchange (mail)"),
    "onedrive": ("#microsoft.graph.oneDriveForBusinessProtectionPolicy", "OneDrive"),
    "sharepoint": ("#microsoft.graph.sharePointProtectionPolicy", "SharePoint"),
}


def _service(snapshot: Snapshot) -> dict[str, Any]:
    return (snapshot.dataset("backupRestore").data or {}).get("serviceStatus") or {}


def backup_products(snapshot: Snapshot) -> list[tuple[dict[str, Any], set[str]]]:
    grants = app_permissions(snapshot)
    vendors, not_backup = _products()
    found = []
    for sp in snapshot.dataset("servicePrincipals").data or []:
        name = (sp.get("displayName") or "").lower()
        if sp.get("appOwnerOrganizationId") in MICROSOFT_TENANTS or any(
            n in name for n in not_backup
        ):
            continue
        if any(v in name for v in vendors) or ("backup" in name and grants.get(sp["id"])):
            found.append((sp, grants.get(sp["id"], set())))
    return found


def evaluate_third_party(snapshot: Snapshot) -> CheckResult:
    cid = THIRD_PARTY.id
    products = backup_products(snapshot)
    threshold = "Een back-upproduct met leesrechten op mail én bestanden"
    working = [
        (sp, r)
        for sp, r in products
        if sp.get("accountEnabled", True) and r & MAIL_ROLES and r & FILE_ROLES
    ]
    broken = [(sp, r) for sp, r in products if (sp, r) not in working]
    objects = [obj(sp, ", ".join(sorted(r)) or "geen leesrechten") for sp, r in products]
    counts = {"producten": len(products), "werkend": len(working)}
    if working:
        return make(cid, Status.PASS, threshold=threshold, counts=counts, objects=objects)
    if broken:
        return make(
            cid,
            Status.FAIL,
            "Er staat een back-upproduct in de tenant, maar het is "
            "uitgeschakeld of mist de rechten om mail en bestanden te lezen: het maakt "
            "dan geen (volledige) back-up.",
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    return make(
        cid,
        Status.UNKNOWN,
        "Geen bekend back-upproduct gevonden tussen de "
        "bedrijfsapplicaties. Dat bewijst niet dat er geen back-up is (sommige producten "
        "zijn zo niet te herkennen); leg het vast bij de handmatige controlepunten.",
        threshold=threshold,
        counts=counts,
    )


def _policies(snapshot: Snapshot, kind: str) -> list[dict[str, Any]]:
    return [
        p for p in snapshot.dataset("protectionPolicies").data or [] if p.get("@odata.type") == kind
    ]


def _workload(cid: str, snapshot: Snapshot, key: str) -> CheckResult:
    kind, label = WORKLOADS[key]
    status = _service(snapshot).get("status")
    threshold = f"Microsoft 365 Backup beschermt {label} met een actief beleid"
    if status != "enabled":
        third = [sp for sp, _ in backup_products(snapshot)]
        return make(
            cid,
            Status.NOT_APPLICABLE,
            f"Microsoft 365 Backup is niet in gebruik (status: {status or 'onbekend'})"
            + (
                "; er is een ander back-upproduct gevonden."
                if third
                else "; zie de controle op andere back-upproducten."
            ),
            threshold=threshold,
        )
    policies = _policies(snapshot, kind)
    active = [p for p in policies if p.get("status") == "active" and p.get("isEnabled", True)]
    errors = [p for p in policies if p.get("status") in ("activeWithErrors", "inactive")]
    counts = {"beleid": len(policies), "actief": len(active), "met_fouten": len(errors)}
    objects = [obj(p, p.get("status")) for p in policies]
    if active and not errors:
        return make(cid, Status.PASS, threshold=threshold, counts=counts, objects=objects)
    if active:
        return make(
            cid,
            Status.PARTIAL,
            f"Beleid voor {label} heeft fouten of staat uit.",
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    return make(
        cid,
        Status.FAIL,
        f"Microsoft 365 Backup staat aan, maar {label} valt onder geen actief beschermingsbeleid.",
        threshold=threshold,
        counts=counts,
        objects=objects,
    )


def evaluate_exchange(snapshot: Snapshot) -> CheckResult:
    return _workload(EXCHANGE.id, snapshot, "exchange")


def evaluate_onedrive(snapshot: Snapshot) -> CheckResult:
    return _workload(ONEDRIVE.id, snapshot, "onedrive")


def evaluate_sharepoint(snapshot: Snapshot) -> CheckResult:
    return _workload(SHAREPOINT.id, snapshot, "sharepoint")


def evaluate_coverage(snapshot: Snapshot) -> CheckResult:
    cid = COVERAGE.id
    threshold = "Mail, OneDrive en SharePoint vallen onder een back-up"
    covered = set()
    if _service(snapshot).get("status") == "enabled":
        for key, (kind, _) in WORKLOADS.items():
            if any(p.get("status") == "active" for p in _policies(snapshot, kind)):
                covered.add(key)
    for sp, roles in backup_products(snapshot):
        if sp.get("accountEnabled", True):
            if roles & MAIL_ROLES:
                covered.add("exchange")
            if roles & FILE_ROLES:
                covered |= {"onedrive", "sharepoint"}
    measured = sorted(covered)
    if covered == set(WORKLOADS):
        return make(cid, Status.PASS, threshold=threshold, measured=measured)
    if covered:
        missing = ", ".join(WORKLOADS[k][1] for k in WORKLOADS if k not in covered)
        return make(
            cid,
            Status.FAIL,
            f"Geen back-up gevonden voor: {missing}.",
            threshold=threshold,
            measured=measured,
        )
    return make(
        cid,
        Status.UNKNOWN,
        "Geen back-up zichtbaar via Microsoft Graph (Microsoft 365 "
        "Backup uit, geen bekend product). Dat is geen bewijs dat er geen back-up is; "
        "beantwoord de handmatige controlepunten over back-up en hersteltest.",
        threshold=threshold,
        measured=measured,
    )


_check = check_family(
    area=Area.BACKUP,
    bm=(7,),
    norms=("OP.02", "BC.03"),
    sources=(
        src("Microsoft 365 Backup", BACKUP_DOCS),
        src(
            "BIO2 8.13 (back-up, hersteltest minstens jaarlijks)",
            "https://github.com/MinBZK/Baseline-Informatiebeveiliging-Overheid",
        ),
    ),
)


APPS = ("servicePrincipals", "resourceServicePrincipals", "appRoleAssignedTo")
M365 = ("backupRestore", "protectionPolicies")
WHY = (
    "Microsoft bewaart verwijderde mail en bestanden maar kort. Na ransomware, een "
    "vertrokken medewerker of een vergissing is alleen een eigen back-up de weg terug."
)

THIRD_PARTY = _check(
    id="backup.third_party_product",
    title="Back-upproduct met toegang tot mail en bestanden",
    severity=Severity.HIGH,
    datasets=APPS,
    threshold="Een ingeschakeld back-upproduct met leesrechten op mail en bestanden",
    why=WHY,
    fix="Controleer in het beheer van het back-upproduct dat het de tenant nog bereikt (app-"
    "toestemming opnieuw geven) en dat mail, OneDrive en SharePoint geselecteerd zijn.",
    evaluate=evaluate_third_party,
)
EXCHANGE = _check(
    id="backup.m365_exchange",
    title="Microsoft 365 Backup: Exchange",
    severity=Severity.HIGH,
    datasets=M365,
    threshold="Actief beschermingsbeleid voor Exchange",
    why=WHY,
    fix="Microsoft 365-beheercentrum > Instellingen > Microsoft 365 Backup > Exchange: beleid met "
    "alle postvakken.",
    evaluate=evaluate_exchange,
)
ONEDRIVE = _check(
    id="backup.m365_onedrive",
    title="Microsoft 365 Backup: OneDrive",
    severity=Severity.HIGH,
    datasets=M365,
    threshold="Actief beschermingsbeleid voor OneDrive",
    why=WHY,
    fix="Microsoft 365-beheercentrum > Instellingen > Microsoft 365 Backup > OneDrive: beleid voor "
    "alle accounts.",
    evaluate=evaluate_onedrive,
)
SHAREPOINT = _check(
    id="backup.m365_sharepoint",
    title="Microsoft 365 Backup: SharePoint",
    severity=Severity.HIGH,
    datasets=M365,
    threshold="Actief beschermingsbeleid voor SharePoint",
    why=WHY,
    fix="Microsoft 365-beheercentrum > Instellingen > Microsoft 365 Backup > SharePoint: beleid "
    "voor "
    "alle sites (ook die van Teams).",
    evaluate=evaluate_sharepoint,
)
COVERAGE = _check(
    id="backup.coverage",
    title="Back-up van mail, OneDrive en SharePoint",
    severity=Severity.CRITICAL,
    datasets=APPS + M365,
    threshold="Alle drie de werklasten vallen onder Microsoft 365 Backup of een back-upproduct",
    why=WHY,
    fix="Kies een back-upoplossing (Microsoft 365 Backup of een product van de IT-dienstverlener) "
    "voor mail, OneDrive en SharePoint, en test jaarlijks een herstel.",
    evaluate=evaluate_coverage,
)

CHECKS = [COVERAGE, THIRD_PARTY, EXCHANGE, ONEDRIVE, SHAREPOINT]
