"""Basismaatregel 7: is school data backed up? Microsoft 365 Backup where it is in use, and
third-party backup products among the enterprise applications. An absent signal is never
"no backup": another product may be invisible to Graph, so the answer is then unknown."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import yaml

from m365apk.checks.base import (
    Area,
    CheckResult,
    Severity,
    Status,
    check_family,
    read_setting,
    reads,
)
from m365apk.checks.common import MICROSOFT_TENANTS, app_permissions, make, obj, pct, src
from m365apk.checks.plans import licensed_members, unrecognised_members
from m365apk.checks.populations import enabled_unknown
from m365apk.messages import Msg
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


# serviceStatus.status (backupServiceStatus, an evolvable enum): in use or not. Locked states
# keep the policies running; only changes to protection, or restores, are locked.
SERVICE = {
    "enabled": True,
    "protectionChangeLocked": True,
    "restoreLocked": True,
    "disabled": False,
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


def _apps_read(snapshot: Snapshot) -> bool:
    return all(snapshot.dataset(n).ok for n in APPS)


def _m365_read(snapshot: Snapshot) -> bool:
    return all(snapshot.dataset(n).ok for n in M365)


# An app-role id (what common.app_permissions gives for a role the resource app did not name),
# and the id of an assignment granting default access, which is no permission.
_ROLE_ID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_DEFAULT_ACCESS = "00000000-0000-0000-0000-000000000000"


def _unnamed(roles: set[str]) -> set[str]:
    """The permissions among `roles` that the resource app's appRoles did not name."""
    return {r for r in roles if _ROLE_ID.match(r) and r != _DEFAULT_ACCESS}


def evaluate_third_party(snapshot: Snapshot) -> CheckResult:
    cid = THIRD_PARTY.id
    products = backup_products(snapshot)
    threshold = "Een back-upproduct met leesrechten op mail én bestanden"
    working = [
        (sp, r)
        for sp, r in products
        if sp.get("accountEnabled", True) is True and r & MAIL_ROLES and r & FILE_ROLES
    ]
    broken = [(sp, r) for sp, r in products if (sp, r) not in working]
    # Not shown to be broken: a product whose enabled state Graph gave as null, or that holds
    # permissions that could not be named (the resource app's appRoles missing from the answer).
    undetermined = [
        (sp, r)
        for sp, r in broken
        if sp.get("accountEnabled", True) is not False
        and (sp.get("accountEnabled", True) is None or _unnamed(r))
    ]
    objects = [obj(sp, _roles(r)) for sp, r in products]
    counts = {"producten": len(products), "met_leesrechten": len(working)}
    if working:
        # Graph shows the product can read mail and files, not what it actually backs up.
        return make(
            cid,
            Status.PASS,
            Msg("backup.third_party_product.present"),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    if undetermined:
        return make(
            cid,
            Status.UNKNOWN,
            Msg("backup.third_party_product.undetermined", n=len(undetermined)),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    if broken:
        return make(
            cid,
            Status.FAIL,
            Msg("backup.third_party_product.broken"),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    return make(
        cid,
        Status.UNKNOWN,
        Msg("backup.third_party_product.none_found"),
        threshold=threshold,
        counts=counts,
    )


def _policies(snapshot: Snapshot, kind: str) -> list[dict[str, Any]]:
    return [
        p for p in snapshot.dataset("protectionPolicies").data or [] if p.get("@odata.type") == kind
    ]


COVERED = 95.0  # % of the population under an active policy


def population(snapshot: Snapshot, key: str) -> tuple[int | None, Msg]:
    """How many units the workload has, and what was counted. None when it cannot be read.
    SharePoint: one team site per Microsoft 365 group plus the root site, a lower bound
    (communication sites without a group are not visible without reading all sites)."""
    if key in ("exchange", "onedrive"):
        if not snapshot.dataset("users").ok:
            return None, Msg("backup.population.users_unread")
        if not snapshot.dataset("users").data:
            # A tenant always has accounts (at least the administrator who consented): an
            # empty list is not a measured population of none.
            return None, Msg("backup.population.no_users")
        kind = "mailbox" if key == "exchange" else "onedrive"
        what = "mailboxes" if key == "exchange" else "onedrives"
        return len(licensed_members(snapshot, kind)), Msg(f"backup.population.{what}")
    if not snapshot.dataset("groups").ok:
        return None, Msg("backup.population.groups_unread")
    unified = [
        g for g in snapshot.dataset("groups").data or [] if "Unified" in (g.get("groupTypes") or [])
    ]
    return len(unified) + 1, Msg("backup.population.sites")


def unrecognised(snapshot: Snapshot, key: str) -> int:
    """Accounts that may have the workload (a mailbox, a OneDrive) but whose licence plans do
    not say so either way (plans.unrecognised_members); 0 for SharePoint."""
    if key == "sharepoint" or not snapshot.dataset("users").ok:
        return 0
    return len(unrecognised_members(snapshot, "mailbox" if key == "exchange" else "onedrive"))


def _grade(share: float, clean: bool) -> Status:
    if share >= COVERED and clean:
        return Status.PASS
    return Status.PARTIAL if share >= 50 else Status.FAIL


def _protected(policies: list[dict[str, Any]]) -> tuple[int, int]:
    """Units under the active policies (protectionPolicyArtifactCount.total), and failed."""
    total = failed = 0
    for p in policies:
        count = p.get("protectionPolicyArtifactCount") or {}
        total += int(count.get("total") or 0)
        failed += int(count.get("failed") or 0)
    return total, failed


def _sentence(phrase: Msg) -> Msg:
    return Msg("backup.sentence", text=phrase)


def _roles(roles: set[str]) -> Msg:
    """The permissions a product holds (their names as Graph gives them), or that it has none."""
    if roles:
        return Msg.literal(", ".join(sorted(roles)))
    return Msg("backup.third_party_product.no_read_rights")


def _one_after_another(phrases: list[Msg]) -> Msg:
    """Phrases separated by semicolons: "a; b; c"."""
    out = phrases[0]
    for phrase in phrases[1:]:
        out = Msg("backup.then", first=out, next=phrase)
    return out


def m365_coverage(snapshot: Snapshot, key: str) -> tuple[Status, Msg, dict[str, Any]]:
    """The verdict on one workload under Microsoft 365 Backup: pass only when the protected
    units reach the population, and say how many (a phrase without a full stop)."""
    kind, label = WORKLOADS[key]
    policies = _policies(snapshot, kind)
    active = [p for p in policies if p.get("status") == "active" and p.get("isEnabled", True)]
    errors = [p for p in policies if p.get("status") in ("activeWithErrors", "inactive")]
    protected, failed = _protected(active)
    size, what = population(snapshot, key)
    measured: dict[str, Any] = {"beschermd": protected, "mislukt": failed, "geteld": str(what)}
    if size is not None:  # unread: no figure, rather than a null that reads as one
        measured["populatie"] = size
    if not active:
        return Status.FAIL, Msg("backup.workload.none_active", label=label), measured
    if size is None:
        return Status.UNKNOWN, Msg("backup.workload.unmeasurable", label=label, what=what), measured
    unsure = unrecognised(snapshot, key)
    measured["onbekend"] = unsure
    if size + unsure == 0:
        # Nobody to protect, measured: no member account has the workload in its licence.
        return (
            Status.NOT_APPLICABLE,
            Msg("backup.workload.empty", label=label, what=what),
            measured,
        )
    if size == 0:
        # 0 of 0 is not 100%: the population is empty only because plans were not recognised.
        return (
            Status.UNKNOWN,
            Msg("backup.workload.population_unknown", label=label, n=unsure),
            measured,
        )
    share = pct(min(protected, size), size)
    assert share is not None
    measured["dekking_pct"] = share
    problems: list[Msg] = []
    if errors:
        problems.append(Msg("backup.workload.policy_errors"))
    if failed:
        problems.append(Msg("backup.workload.failed", failed=failed))
    text = Msg(
        "backup.workload.coverage",
        label=label,
        protected=protected,
        size=size,
        what=what,
        share=share,
        problems=Msg("backup.workload.problems", problems=problems) if problems else "",
    )
    clean = not errors and not failed
    verdict = _grade(share, clean)
    # Accounts whose plans are unknown are not counted (they may have the workload); accounts
    # without accountEnabled are (they may be disabled). Either way the verdict must be the
    # same; else it rests on them, and is not given.
    off = enabled_unknown_members(snapshot, key)
    notes: list[Msg] = []
    if unsure:
        notes.append(Msg("backup.workload.unrecognised", n=unsure))
    if off:
        notes.append(Msg("backup.workload.enabled_unknown", n=off))
    if notes:
        steady = all(_grade_at(protected, n, clean) is verdict for n in (size - off, size + unsure))
        notes.append(Msg("backup.workload.steady" if steady else "backup.workload.depends"))
        text = _one_after_another([text, *notes])
        if not steady:
            return Status.UNKNOWN, text, measured
    return verdict, text, measured


def _grade_at(protected: int, size: int, clean: bool) -> Status:
    share = pct(min(protected, size), size)
    return Status.NOT_APPLICABLE if share is None else _grade(share, clean)


def enabled_unknown_members(snapshot: Snapshot, key: str) -> int:
    """Counted members of the workload whose record lacks accountEnabled."""
    if key == "sharepoint" or not snapshot.dataset("users").ok:
        return 0
    unknown = enabled_unknown(snapshot)
    kind = "mailbox" if key == "exchange" else "onedrive"
    return sum(u["id"] in unknown for u in licensed_members(snapshot, kind)) if unknown else 0


def _workload(cid: str, snapshot: Snapshot, key: str) -> CheckResult:
    kind, label = WORKLOADS[key]
    threshold = f"Microsoft 365 Backup beschermt ≥ {COVERED:g}% van {label}"
    status, problem = read_setting(snapshot, "backupRestore", "serviceStatus.status", SERVICE)
    if problem is not None:
        # Null, or a state Graph added later: in use or not is not known (never "off").
        return make(cid, Status.UNKNOWN, problem, threshold=threshold)
    if not SERVICE[status]:
        third = [sp for sp, _ in backup_products(snapshot)]
        return make(
            cid,
            Status.NOT_APPLICABLE,
            Msg(
                "backup.workload.off_other_found" if third else "backup.workload.off_see_other",
                status=status,
            ),
            threshold=threshold,
        )
    verdict, text, measured = m365_coverage(snapshot, key)
    objects = [
        obj(p, Msg.literal(p["status"]) if p.get("status") else None)
        for p in _policies(snapshot, kind)
    ]
    return make(
        cid,
        verdict,
        _sentence(text),
        threshold=threshold,
        measured=measured,
        objects=objects,
    )


def evaluate_exchange(snapshot: Snapshot) -> CheckResult:
    return _workload(EXCHANGE.id, snapshot, "exchange")


def evaluate_onedrive(snapshot: Snapshot) -> CheckResult:
    return _workload(ONEDRIVE.id, snapshot, "onedrive")


def evaluate_sharepoint(snapshot: Snapshot) -> CheckResult:
    return _workload(SHAREPOINT.id, snapshot, "sharepoint")


def evaluate_coverage(snapshot: Snapshot) -> CheckResult:
    """Per workload: covered (measured), present (a product that can read it, coverage not
    measurable) or missing. Microsoft 365 Backup and third-party products are alternatives:
    either source may be unreadable (the Backup API answers 403 to apps that are not backup
    controllers) as long as the other shows coverage."""
    cid = COVERAGE.id
    threshold = "Mail, OneDrive en SharePoint vallen aantoonbaar onder een back-up"
    state: dict[str, str] = {}
    notes: list[Msg] = []
    m365_on = _m365_read(snapshot) and SERVICE.get(_service(snapshot).get("status")) is True
    for key in WORKLOADS:
        if m365_on:
            verdict, text, _ = m365_coverage(snapshot, key)
            if verdict is Status.PASS:
                state[key] = "covered"
            elif verdict in (Status.PARTIAL, Status.UNKNOWN, Status.NOT_APPLICABLE):
                # Nothing measured to protect is not "covered": never a pass through emptiness.
                state[key] = "present"
            notes.append(text)
    if _apps_read(snapshot):
        for sp, roles in backup_products(snapshot):
            if not sp.get("accountEnabled", True):
                continue
            name = sp.get("displayName") or sp["id"]
            reach = set()
            if roles & MAIL_ROLES:
                reach.add("exchange")
            if roles & FILE_ROLES:
                reach |= {"onedrive", "sharepoint"}
            for key in reach:
                state.setdefault(key, "present")
            if reach:
                notes.append(Msg("backup.coverage.product_present", name=name))
    unread = []
    if not _m365_read(snapshot):
        unread.append(Msg("backup.coverage.unread_m365"))
    if not _apps_read(snapshot):
        unread.append(Msg("backup.coverage.unread_apps"))
    measured = {k: Msg(f"backup.coverage.state.{state.get(k, 'none')}") for k in WORKLOADS}
    missing = [WORKLOADS[k][1] for k in WORKLOADS if k not in state]
    detail = _sentence(_one_after_another(notes)) if notes else None
    unread_text = Msg("backup.coverage.unread", sources=unread) if unread else None
    if all(state.get(k) == "covered" for k in WORKLOADS):
        return make(cid, Status.PASS, detail, threshold=threshold, measured=measured)
    if missing and (m365_on or state):
        # Something is visibly in use (Microsoft 365 Backup switched on, or a product) and
        # leaves these workloads out.
        return make(
            cid,
            Status.FAIL,
            Msg.join([Msg("backup.coverage.missing", workloads=missing), detail, unread_text]),
            threshold=threshold,
            measured=measured,
        )
    if missing:
        return make(
            cid,
            Status.UNKNOWN,
            Msg.join([Msg("backup.coverage.none_visible"), unread_text]),
            threshold=threshold,
            measured=measured,
        )
    return make(
        cid,
        Status.UNKNOWN,
        Msg.join(
            [
                Msg("backup.coverage.unmeasured"),
                detail,
                unread_text,
                Msg("backup.coverage.confirm"),
            ]
        ),
        threshold=threshold,
        measured=measured,
    )


_check = check_family(
    area=Area.BACKUP,
    bm=(7,),
    # OP.02 only: Microsoft 365 Backup creates its backups "within the protected services' data
    # boundaries" (Microsoft 365 Backup overview), so it is not offsite storage (BC.03); for a
    # third-party product where its copies live is not visible in Graph.
    norms=("OP.02",),
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
POPULATION = ("users", "subscribedSkus")
# The properties a workload's verdict rests on: whether Microsoft 365 Backup is on, its policies'
# state and counts, and who has a mailbox or OneDrive (accounts, their licences, the plans).
WORKLOAD_READS: dict[str, tuple[str, ...]] = {
    "backupRestore": ("serviceStatus.status",),
    "protectionPolicies": ("status", "isEnabled", "protectionPolicyArtifactCount"),
    "users": ("accountEnabled", "userType", "assignedLicenses"),
    "subscribedSkus": ("servicePlans",),
}

THIRD_PARTY = _check(
    id="backup.third_party_product",
    severity=Severity.HIGH,
    datasets=APPS,
    evaluate=evaluate_third_party,
    # It judges whether a backup product can read mail and files (its permissions, named through
    # the resource apps' appRoles), not whether any app's permissions are risky: an escalation
    # permission does not make a backup absent, so it does not judge "app_permissions".
    reads=reads(
        properties={
            "servicePrincipals": ("displayName", "appOwnerOrganizationId", "accountEnabled"),
            "resourceServicePrincipals": ("appRoles",),
            "appRoleAssignedTo": ("principalId", "appRoleId"),
        },
    ),
)
EXCHANGE = _check(
    id="backup.m365_exchange",
    severity=Severity.HIGH,
    datasets=M365 + POPULATION,
    evaluate=evaluate_exchange,
    reads=reads(population="users", properties=WORKLOAD_READS),
)
ONEDRIVE = _check(
    id="backup.m365_onedrive",
    severity=Severity.HIGH,
    datasets=M365 + POPULATION,
    evaluate=evaluate_onedrive,
    reads=reads(population="users", properties=WORKLOAD_READS),
)
SHAREPOINT = _check(
    id="backup.m365_sharepoint",
    severity=Severity.HIGH,
    datasets=M365 + ("groups",),
    evaluate=evaluate_sharepoint,
    reads=reads(
        properties={
            "backupRestore": WORKLOAD_READS["backupRestore"],
            "protectionPolicies": WORKLOAD_READS["protectionPolicies"],
            "groups": ("groupTypes",),
        }
    ),
)
COVERAGE = _check(
    id="backup.coverage",
    severity=Severity.CRITICAL,
    datasets=POPULATION,
    # Either source suffices (item 13): Microsoft 365 Backup answers 403 to apps that are not
    # registered backup controllers, while a third-party product shows up among the apps.
    alternatives=APPS + M365 + ("groups",),
    evaluate=evaluate_coverage,
    reads=reads(
        population="users",
        properties={
            **WORKLOAD_READS,
            "groups": ("groupTypes",),
            "servicePrincipals": ("displayName", "appOwnerOrganizationId", "accountEnabled"),
        },
    ),
)

CHECKS = [COVERAGE, THIRD_PARTY, EXCHANGE, ONEDRIVE, SHAREPOINT]
