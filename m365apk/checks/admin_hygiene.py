"""Basismaatregel 4: who holds power, and how. Beyond the Global Administrator count: the
spread over lesser roles, admins without MFA, guest or synced admins, standing access,
service principals with directory roles, break-glass accounts, separate admin accounts."""

from __future__ import annotations

import re
from functools import cache

from m365apk.checks import trust
from m365apk.checks.base import Area, CheckResult, Severity, Status, check_family, reads
from m365apk.checks.common import (
    CIS,
    GLOBAL_ADMIN,
    PRIVILEGED_ROLES,
    SCUBA_AAD,
    break_glass,
    break_glass_groups,
    clauses,
    group_members,
    make,
    obj,
    privileged_holders,
    role_text,
    src,
    unread_eligibility,
    users,
)
from m365apk.checks.mfa import mfa_capable_users
from m365apk.checks.plans import has_mailbox
from m365apk.checks.populations import unexpanded_role_groups
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

MAESTER = "https://maester.dev/docs/tests/"


def _unread_groups(check_id: str, snapshot: Snapshot) -> CheckResult | None:
    groups = unexpanded_role_groups(snapshot)
    privileged = {
        a["principalId"]
        for a in snapshot.dataset("roleAssignments").data or []
        if a["roleDefinitionId"] in PRIVILEGED_ROLES
    }
    missing = [g for g in groups if g in privileged]
    if missing:
        return make(
            check_id,
            Status.UNKNOWN,
            Msg("admin_hygiene.groups_unread", n=len(missing)),
        )
    return None


def _no_admins(cid: str, snapshot: Snapshot, holders: dict[str, dict]) -> CheckResult | None:
    """Every tenant has at least one Global Administrator: finding no enabled admin means the
    role holders were not (fully) read, so the check is unknown, never a pass on nobody."""
    directory = users(snapshot)
    for uid, h in holders.items():
        if {**h, **directory.get(uid, {})}.get("accountEnabled") is not False:
            return None
    return make(cid, Status.UNKNOWN, Msg("admin_hygiene.no_admins"))


def evaluate_ratio(snapshot: Snapshot) -> CheckResult:
    cid = RATIO.id
    unread = _unread_groups(cid, snapshot)
    if unread:
        return unread
    holders = privileged_holders(snapshot)  # active and PIM-eligible, once per person
    nobody = _no_admins(cid, snapshot, holders)
    if nobody:
        return nobody
    ga = {uid for uid, h in holders.items() if "Global Administrator" in h["roles"]}
    others = {uid for uid, h in holders.items() if h["roles"] - {"Global Administrator"}} - ga
    counts = {
        "globale_beheerders": len(ga),
        "beheerders_met_beperktere_rol": len(others),
        "waarvan_alleen_in_aanmerking": sum(not holders[u].get("active") for u in ga | others),
    }
    threshold = "Niet meer globale beheerders dan beheerders met een beperktere rol"
    measured = {"ga": len(ga), "overig": len(others)}
    if len(ga) > len(others):
        return make(
            cid,
            Status.FAIL,
            Msg("admin.least_privilege_ratio.mostly_global"),
            threshold=threshold,
            counts=counts,
            measured=measured,
        )
    pim = unread_eligibility(snapshot)
    if pim:
        return make(cid, Status.UNKNOWN, pim, threshold=threshold, counts=counts, measured=measured)
    return make(cid, Status.PASS, threshold=threshold, counts=counts, measured=measured)


def evaluate_without_mfa(snapshot: Snapshot) -> CheckResult:
    """Every admin, active or PIM-eligible, once per person. On the A1 fallback (per-user
    methods) an admin whose methods were not read is unknown, never silently left out."""
    cid = WITHOUT_MFA.id
    unread = _unread_groups(cid, snapshot)
    if unread:
        return unread
    holders = privileged_holders(snapshot)
    capable, source = mfa_capable_users(snapshot)
    unread_ids: set[str] = set()
    if not snapshot.dataset("userRegistrationDetails").ok:
        methods = snapshot.dataset("userAuthenticationMethods")
        unread_ids = {uid for uid in holders if uid not in (methods.data or {})}
    missing = [h for uid, h in holders.items() if uid not in capable and uid not in unread_ids]
    counts = {
        "beheerders": len(holders),
        "zonder_mfa": len(missing),
        "niet_gelezen": len(unread_ids),
    }
    threshold = "Elke beheerder heeft MFA geregistreerd"
    nobody = _no_admins(cid, snapshot, holders)
    if nobody:
        return nobody
    if missing:
        return make(
            cid,
            Status.FAIL,
            Msg("admin.admins_without_mfa.missing", n=len(missing), source=source),
            threshold=threshold,
            counts=counts,
            objects=[obj(h, role_text(h)) for h in missing],
        )
    pim = unread_eligibility(snapshot)
    if unread_ids or pim:
        methods_unread = (
            Msg("admin.admins_without_mfa.methods_unread", n=len(unread_ids))
            if unread_ids
            else None
        )
        return make(
            cid,
            Status.UNKNOWN,
            Msg("admin.admins_without_mfa.undetermined", why=clauses([methods_unread, pim])),
            threshold=threshold,
            counts=counts,
            objects=[obj(holders[u], role_text(holders[u])) for u in unread_ids],
        )
    return make(cid, Status.PASS, threshold=threshold, counts=counts)


def evaluate_guest_synced(snapshot: Snapshot) -> CheckResult:
    cid = GUEST_SYNCED.id
    unread = _unread_groups(cid, snapshot)
    if unread:
        return unread
    directory = users(snapshot)
    holders = privileged_holders(snapshot)
    nobody = _no_admins(cid, snapshot, holders)
    if nobody:
        return nobody
    bad, unsure = [], []
    for uid, h in holders.items():
        user = {**h, **directory.get(uid, {})}
        reasons = []
        if (user.get("userType") or "").lower() == "guest":
            reasons.append(Msg("admin.guest_or_synced_admins.guest"))
        if user.get("onPremisesSyncEnabled"):
            reasons.append(Msg("admin.guest_or_synced_admins.synced"))
        if reasons:
            detail = Msg("admin.guest_or_synced_admins.detail", roles=role_text(h), why=reasons)
            bad.append(obj(user, detail))
        # Graph sends onPremisesSyncEnabled null for a cloud-only account; a record without
        # the property, or without userType, says nothing.
        elif user.get("userType") is None or "onPremisesSyncEnabled" not in user:
            unsure.append(obj(user, Msg("admin.guest_or_synced_admins.unread")))
    threshold = "Beheerders zijn eigen, cloud-only accounts: geen gasten, niet gesynchroniseerd"
    if bad:
        return make(
            cid,
            Status.FAIL,
            Msg("admin.guest_or_synced_admins.found"),
            threshold=threshold,
            counts={"gevonden": len(bad)},
            objects=bad,
        )
    if unsure:
        return make(
            cid,
            Status.UNKNOWN,
            Msg("admin.guest_or_synced_admins.undetermined", n=len(unsure)),
            threshold=threshold,
            counts={"gevonden": 0, "niet_vastgesteld": len(unsure)},
            objects=unsure,
        )
    return make(cid, Status.PASS, threshold=threshold, counts={"gevonden": 0})


def evaluate_standing(snapshot: Snapshot) -> CheckResult:
    """Microsoft asks permanent active Global Administrator for emergency accounts
    (security-emergency-access), so break-glass accounts and groups that count as such
    (checks/trust.py) are no finding; a group holding them is the same as the accounts."""
    cid = STANDING.id
    bg = {**break_glass(snapshot), **break_glass_groups(snapshot)}
    directory = users(snapshot)
    active = [
        a
        for a in snapshot.dataset("roleAssignmentSchedules").data or []
        if a["roleDefinitionId"] in PRIVILEGED_ROLES
    ]
    standing = [a for a in active if not a.get("endDateTime") and a["principalId"] not in bg]
    permanent = [a for a in standing if a.get("assignmentType") == "Assigned"]
    # Without assignmentType an open-ended assignment may be permanent or activated: unknown.
    unclear = [a for a in standing if a.get("assignmentType") is None]
    eligible = [
        e
        for e in snapshot.dataset("roleEligibilitySchedules").data or []
        if e["roleDefinitionId"] in PRIVILEGED_ROLES
    ]
    ga_permanent = [a for a in permanent if a["roleDefinitionId"] == GLOBAL_ADMIN]
    counts = {
        "permanent_actief": len(permanent),
        "permanent_globaal": len(ga_permanent),
        "in_aanmerking_pim": len(eligible),
    }
    objects = [
        obj(
            directory.get(a["principalId"], {"id": a["principalId"]}),
            Msg.literal(PRIVILEGED_ROLES[a["roleDefinitionId"]]),  # Microsoft's role name
        )
        for a in permanent
    ]
    threshold = (
        "Geen permanente Global Administrator-toewijzing behalve noodaccounts; "
        "beheerrollen via PIM (in aanmerking komend)"
    )
    if ga_permanent:
        return make(
            cid,
            Status.FAIL,
            Msg("admin.standing_access.global_permanent"),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    if not any(a["roleDefinitionId"] == GLOBAL_ADMIN for a in active + eligible):
        # Every tenant has a Global Administrator: none in either list means they were not
        # (fully) read, never that nobody holds the role permanently.
        return make(cid, Status.UNKNOWN, Msg("admin_hygiene.no_admins"), threshold=threshold)
    if unclear:
        return make(
            cid,
            Status.UNKNOWN,
            Msg("admin.standing_access.type_missing", n=len(unclear)),
            threshold=threshold,
            counts=counts,
        )
    if permanent:
        return make(
            cid,
            Status.PARTIAL,
            Msg("admin.standing_access.other_permanent"),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    return make(cid, Status.PASS, threshold=threshold, counts=counts)


def evaluate_service_principals(snapshot: Snapshot) -> CheckResult:
    cid = SERVICE_PRINCIPALS.id
    found = [
        obj(
            a.get("principal") or {"id": a["principalId"]},
            Msg(
                "admin.service_principals_privileged.detail",
                role=PRIVILEGED_ROLES[a["roleDefinitionId"]],
            ),
        )
        for a in snapshot.dataset("roleAssignments").data or []
        if a["roleDefinitionId"] in PRIVILEGED_ROLES
        and (a.get("principal") or {}).get("@odata.type") == "#microsoft.graph.servicePrincipal"
    ]
    threshold = "Geen applicaties (service principals) met een beheerdersrol"
    if found:
        return make(
            cid,
            Status.FAIL,
            Msg("admin.service_principals_privileged.found"),
            threshold=threshold,
            counts={"apps_met_beheerdersrol": len(found)},
            objects=found,
        )
    return make(cid, Status.PASS, threshold=threshold, counts={"apps_met_beheerdersrol": 0})


NAME_HINTS = ("break glass", "breakglass", "noodaccount", "emergency", "bg-")


@cache
def _hints() -> re.Pattern[str]:
    """Any of NAME_HINTS in a lowercased name: one pass per account, not one per hint."""
    return re.compile("|".join(re.escape(h) for h in NAME_HINTS))


def evaluate_break_glass(snapshot: Snapshot) -> CheckResult:
    """Each recorded break-glass account judged against Microsoft's guidance, by the same rule
    that decides whether the CA engine counts it (checks/trust.py): what this check calls
    unusable is no emergency account anywhere else either."""
    cid = BREAK_GLASS.id
    directory = users(snapshot)
    threshold = (
        "Minstens één (liefst twee) vastgelegde noodaccounts met Global Administrator, "
        "cloud-only, ingeschakeld, geen gast en niet dagelijks in gebruik"
    )
    good, bad, unsure = [], [], []
    read = group_members(snapshot)
    for a in snapshot.settings.break_glass:
        if a.group and a.group not in read:
            bad.append(obj({"id": a.group}, Msg("admin.break_glass.group_unread")))
        elif a.group and not read[a.group]:
            bad.append(obj({"id": a.group}, Msg("trust.break_glass.group_empty")))
    for uid, entry in trust.emergency_entries(snapshot).items():
        user = entry.user or {"id": uid}
        if entry.problems:
            bad.append(obj(user, entry.why_not()))
        elif entry.unsure is not None:
            unsure.append(obj(user, entry.unsure))
        else:
            good.append(obj(user, Msg.literal(entry.reason)))  # the school's own words
    counts = {
        "noodaccounts_in_orde": len(good),
        "noodaccounts_met_probleem": len(bad),
        "noodaccounts_niet_vastgesteld": len(unsure),
    }
    if good and not bad and not unsure:
        return make(
            cid,
            Status.PASS if len(good) >= 2 else Status.PARTIAL,
            None if len(good) >= 2 else Msg("admin.break_glass.only_one"),
            threshold=threshold,
            counts=counts,
            objects=good,
        )
    if bad:
        return make(
            cid,
            Status.FAIL,
            Msg("admin.break_glass.unusable"),
            threshold=threshold,
            counts=counts,
            objects=bad + unsure,
        )
    if unsure:
        return make(
            cid,
            Status.UNKNOWN,
            Msg("admin.break_glass.unverified"),
            threshold=threshold,
            counts=counts,
            objects=unsure + good,
        )
    hints = _hints()
    candidates = [
        obj(u)
        for u in directory.values()
        if hints.search(f"{u.get('displayName', '')} {u.get('userPrincipalName', '')}".lower())
    ]
    if candidates:
        return make(
            cid,
            Status.PARTIAL,
            Msg("admin.break_glass.candidates"),
            threshold=threshold,
            counts=counts,
            objects=candidates,
        )
    return make(
        cid,
        Status.FAIL,
        Msg("admin.break_glass.none"),
        threshold=threshold,
        counts=counts,
    )


def evaluate_separate_accounts(snapshot: Snapshot) -> CheckResult:
    cid = SEPARATE.id
    unread = _unread_groups(cid, snapshot)
    if unread:
        return unread
    # Only real mailbox plans count, and only when not disabled for the user: Entra ID P1 and
    # Teams carry EXCHANGE_S_FOUNDATION, which gives no mailbox (mappings/service_plans.yaml).
    skus = {s["skuId"]: s for s in snapshot.dataset("subscribedSkus").data or []}
    directory = users(snapshot)
    holders = privileged_holders(snapshot)
    nobody = _no_admins(cid, snapshot, holders)
    if nobody:
        return nobody
    productive, unsure = [], []
    for uid, h in holders.items():
        user = directory.get(uid, h)
        if has_mailbox(user, skus):
            detail = Msg("admin.separate_admin_accounts.detail", roles=role_text(h))
            productive.append(obj(user, detail))
        elif user.get("assignedLicenses") is None or any(
            lic.get("skuId") not in skus for lic in user["assignedLicenses"]
        ):  # not read, or a licence subscribedSkus does not list: no plans known is not "none"
            unsure.append(obj(user, Msg("admin.separate_admin_accounts.unread")))
    threshold = "Beheerdersaccounts hebben geen mailbox of productiviteitslicentie"
    counts = {"beheerders_met_mailbox": len(productive)}
    if productive:
        return make(
            cid,
            Status.FAIL,
            Msg("admin.separate_admin_accounts.found"),
            threshold=threshold,
            counts=counts,
            objects=productive,
        )
    if unsure:
        return make(
            cid,
            Status.UNKNOWN,
            Msg("admin.separate_admin_accounts.undetermined", n=len(unsure)),
            threshold=threshold,
            counts={**counts, "niet_vastgesteld": len(unsure)},
            objects=unsure,
        )
    return make(cid, Status.PASS, threshold=threshold, counts=counts)


_check = check_family(area=Area.ADMIN_ROLES, bm=(4,), norms=("ID.01", "ID.02"))


ROLES = ("roleAssignments", "roleGroupMembers")
# What decides whether a break-glass entry counts (checks/trust.py).
BREAK_GLASS_DATA = ROLES + ("users", "conditionalAccessGroupMembers", "userSignInActivity")
BREAK_GLASS_PROPERTIES = {
    "users": ("accountEnabled", "onPremisesSyncEnabled", "userType"),
    "userSignInActivity": ("signInActivity.lastSignInDateTime",),
}

RATIO = _check(
    id="admin.least_privilege_ratio",
    severity=Severity.MEDIUM,
    datasets=ROLES,
    optional=("users", "roleEligibilitySchedules"),
    sources=(src("CISA SCuBA MS.AAD.7.2v1", SCUBA_AAD),),
    evaluate=evaluate_ratio,
    reads=reads(population="admins"),
)
WITHOUT_MFA = _check(
    id="admin.admins_without_mfa",
    severity=Severity.CRITICAL,
    datasets=ROLES + ("users",),
    sources=(
        src("CIS Microsoft 365 Foundations 5.2.2.1", CIS),
        src("CISA SCuBA MS.AAD.3.6v1", SCUBA_AAD),
    ),
    evaluate=evaluate_without_mfa,
    alternatives=("userRegistrationDetails", "userAuthenticationMethods"),
    optional=("roleEligibilitySchedules", "authenticationMethodsPolicy"),
    bm=(4, 9),
    norms=("ID.01", "SM.02"),
    reads=reads(
        population="admins",
        properties={"userRegistrationDetails": ("isMfaCapable", "methodsRegistered")},
        judges=("methods_policy",),
    ),
)
GUEST_SYNCED = _check(
    id="admin.guest_or_synced_admins",
    severity=Severity.HIGH,
    datasets=ROLES + ("users",),
    sources=(
        src("CIS Microsoft 365 Foundations 1.1.1", CIS),
        src("CISA SCuBA MS.AAD.7.3v1", SCUBA_AAD),
        src("Maester MT.1025", MAESTER + "MT.1025"),
    ),
    evaluate=evaluate_guest_synced,
    reads=reads(population="admins", properties={"users": ("userType", "onPremisesSyncEnabled")}),
)
STANDING = _check(
    id="admin.standing_access",
    severity=Severity.MEDIUM,
    datasets=("roleAssignmentSchedules", "roleEligibilitySchedules"),
    sources=(
        src("CISA SCuBA MS.AAD.7.4v1", SCUBA_AAD),
        src("Maester MT.1031", MAESTER + "MT.1031"),
    ),
    evaluate=evaluate_standing,
    # Which break-glass accounts and groups count (checks/trust.py).
    optional=BREAK_GLASS_DATA,
    licence="Microsoft Entra ID P2 (in A5)",
    reads=reads(
        population="admins",
        settings=("break_glass",),
        properties={
            "roleAssignmentSchedules": ("assignmentType", "endDateTime"),
            **BREAK_GLASS_PROPERTIES,
        },
    ),
)
SERVICE_PRINCIPALS = _check(
    id="admin.service_principals_privileged",
    severity=Severity.HIGH,
    datasets=("roleAssignments",),
    sources=(src("Maester MT.1027", MAESTER + "MT.1027"),),
    evaluate=evaluate_service_principals,
    bm=(4, 2),
    norms=("ID.01",),
    reads=reads(properties={"roleAssignments": ("principal.@odata.type",)}),
)
BREAK_GLASS = _check(
    id="admin.break_glass",
    severity=Severity.MEDIUM,
    datasets=ROLES + ("users",),
    # members of a break_glass group, eligible Global Administrators, last sign-ins
    optional=("conditionalAccessGroupMembers", "roleEligibilitySchedules", "userSignInActivity"),
    sources=(
        src("Microsoft: manage emergency access accounts", trust.EMERGENCY_ACCESS),
        src("Maester MT.1005", MAESTER + "MT.1005"),
    ),
    evaluate=evaluate_break_glass,
    reads=reads(
        population="break_glass", settings=("break_glass",), properties=BREAK_GLASS_PROPERTIES
    ),
)
SEPARATE = _check(
    id="admin.separate_admin_accounts",
    severity=Severity.MEDIUM,
    datasets=ROLES + ("users", "subscribedSkus"),
    sources=(
        src("CIS Microsoft 365 Foundations 1.1.4", CIS),
        src("Maester MT.1028", MAESTER + "MT.1028"),
    ),
    evaluate=evaluate_separate_accounts,
    reads=reads(population="admins", properties={"users": ("assignedLicenses",)}),
)

CHECKS = [RATIO, WITHOUT_MFA, GUEST_SYNCED, STANDING, SERVICE_PRINCIPALS, BREAK_GLASS, SEPARATE]
