"""Basismaatregelen 1, 2, 3 and 5: which applications reach school data, which third parties
hold tenant-wide consent, what Microsoft's own risk signals say, and how much of the tenant
stands open (guests, sharing, stale and unlicensed accounts)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from m365apk.checks.base import (
    AffectedObject,
    Area,
    CheckResult,
    Severity,
    Status,
    check_family,
    read_setting,
    reads,
)
from m365apk.checks.common import (
    CIS,
    MICROSOFT_TENANTS,
    SCUBA_AAD,
    app_permissions,
    approved,
    clauses,
    make,
    obj,
    parse_time,
    pct,
    privileged_holders,
    src,
)
from m365apk.checks.derived import per_snapshot
from m365apk.checks.reference_data import escalation_permissions
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

# Application permissions on school data, and the ones that can change or take everything
# (ScubaGear RiskyAppPermissions.json lists these as high or critical).
DATA_ROLES = {
    "Mail.Read",
    "Mail.ReadWrite",
    "Files.Read.All",
    "Files.ReadWrite.All",
    "Sites.Read.All",
    "Sites.ReadWrite.All",
    "Sites.FullControl.All",
    "full_access_as_app",
    "User.Read.All",
    "Group.Read.All",
    "Directory.Read.All",
}
HIGH_ROLES = {
    "Mail.ReadWrite",
    "Files.ReadWrite.All",
    "Sites.ReadWrite.All",
    "Sites.FullControl.All",
    "full_access_as_app",
    "Directory.ReadWrite.All",
    "User.ReadWrite.All",
    "Application.ReadWrite.All",
    "RoleManagement.ReadWrite.Directory",
}
RISKY_SCOPES = {
    "Mail.Read",
    "Mail.ReadWrite",
    "Mail.Send",
    "Files.Read.All",
    "Files.ReadWrite.All",
    "Sites.Read.All",
    "Sites.ReadWrite.All",
    "Directory.ReadWrite.All",
    "User.ReadWrite.All",
    "Notes.Read.All",
    "Contacts.Read",
}
# Delegated scopes (Graph) that reach school data, and those that can change it, when an admin
# consented them for all users (ScubaGear RiskyAppPermissions.json, delegated entries).
DATA_SCOPES = {
    "Mail.Read",
    "Mail.ReadWrite",
    "Mail.Send",
    "Files.Read.All",
    "Files.ReadWrite.All",
    "Sites.Read.All",
    "Sites.ReadWrite.All",
    "Sites.FullControl.All",
    "Notes.Read.All",
    "Contacts.Read",
    "Calendars.Read",
    "Directory.Read.All",
    "User.Read.All",
    "Group.Read.All",
    "EWS.AccessAsUser.All",
}
HIGH_SCOPES = {
    "Mail.ReadWrite",
    "Mail.Send",
    "Files.ReadWrite.All",
    "Sites.ReadWrite.All",
    "Sites.FullControl.All",
    "Directory.ReadWrite.All",
    "User.ReadWrite.All",
    "Application.ReadWrite.All",
    "RoleManagement.ReadWrite.Directory",
    "EWS.AccessAsUser.All",
}
ENTERPRISE_APPS = (
    "https://learn.microsoft.com/entra/identity/enterprise-apps/manage-application-permissions"
)


def third_party_apps(snapshot: Snapshot) -> list[tuple[dict[str, Any], set[str]]]:
    """Non-Microsoft apps with application permissions (admin-consented, tenant-wide)."""
    held = app_permissions(snapshot)
    out = []
    for sp in snapshot.dataset("servicePrincipals").data or []:
        if sp.get("appOwnerOrganizationId") in MICROSOFT_TENANTS or sp["id"] not in held:
            continue
        out.append((sp, held[sp["id"]]))
    return out


def _verified(sp: dict[str, Any]) -> bool:
    return bool((sp.get("verifiedPublisher") or {}).get("verifiedPublisherId"))


def tenant_wide_grants(snapshot: Snapshot) -> dict[str, set[str]]:
    """Service principal id -> delegated scopes an admin consented for all users
    (oauth2PermissionGrants with consentType AllPrincipals), non-Microsoft apps only. With
    these, the app acts as any signed-in user: Mail.ReadWrite reaches every mailbox a user
    opens it with."""
    apps = {sp["id"]: sp for sp in snapshot.dataset("servicePrincipals").data or []}
    out: dict[str, set[str]] = {}
    for grant in snapshot.dataset("oauth2PermissionGrants").data or []:
        if grant.get("consentType") != "AllPrincipals":
            continue
        client = apps.get(grant["clientId"], {})
        if client.get("appOwnerOrganizationId") in MICROSOFT_TENANTS:
            continue
        out.setdefault(grant["clientId"], set()).update((grant.get("scope") or "").split())
    return out


# The app-role id of an assignment that grants an app default access, no permission.
DEFAULT_ACCESS = "00000000-0000-0000-0000-000000000000"
CONSENT_TYPES = ("AllPrincipals", "Principal")


def unnamed_roles(snapshot: Snapshot) -> dict[str, set[str]]:
    """Third-party service principal id -> ids of the application permissions granted to it
    that cannot be named: the resource app's `appRoles` were not in Graph's answer (or hold no
    role with that id and a value). What such an app may do is unknown, not "nothing".
    Escalation permissions are known by id and never unnamed; default access is no permission."""
    named = {
        role["id"]
        for sp in snapshot.dataset("resourceServicePrincipals").data or []
        for role in sp.get("appRoles") or []
        if role.get("value")
    }
    apps = {sp["id"]: sp for sp in snapshot.dataset("servicePrincipals").data or []}
    out: dict[str, set[str]] = {}
    for assignments in (snapshot.dataset("appRoleAssignedTo").data or {}).values():
        for a in assignments:
            role, client = a.get("appRoleId"), apps.get(a.get("principalId"))
            if role in named or role == DEFAULT_ACCESS or role in ESCALATION_IDS:
                continue
            if client is None or client.get("appOwnerOrganizationId") in MICROSOFT_TENANTS:
                continue
            out.setdefault(client["id"], set()).add(str(role))
    return out


def unread_grants(snapshot: Snapshot) -> list[dict[str, Any]]:
    """Delegated grants to non-Microsoft apps whose `consentType` or `scope` Graph did not
    give (null, absent, or a value it does not document): who consented, or to what, is
    unknown. An empty scope is a grant of nothing; a null one is not."""
    apps = {sp["id"]: sp for sp in snapshot.dataset("servicePrincipals").data or []}
    return [
        grant
        for grant in snapshot.dataset("oauth2PermissionGrants").data or []
        if apps.get(grant["clientId"], {}).get("appOwnerOrganizationId") not in MICROSOFT_TENANTS
        and (
            grant.get("consentType") not in CONSENT_TYPES or not isinstance(grant.get("scope"), str)
        )
    ]


def _unread(snapshot: Snapshot, roles: bool = True) -> tuple[Msg | None, dict[str, int]]:
    """Why the permissions of some apps cannot be judged (None when all can), and counts."""
    unnamed = unnamed_roles(snapshot) if roles else {}
    grants = unread_grants(snapshot)
    why = clauses(
        [
            Msg("surface.apps.roles_unnamed", n=len(unnamed)) if unnamed else None,
            Msg("surface.apps.grants_unread", n=len(grants)) if grants else None,
        ]
    )
    counts = {"apps_rechten_onbenoemd": len(unnamed)} if roles else {}
    return why, counts | {"toestemmingen_onleesbaar": len(grants)}


def _with_delegated(
    snapshot: Snapshot, app_roles: set[str], scopes: set[str]
) -> list[tuple[dict[str, Any], set[str]]]:
    """Third-party apps with any of `app_roles` as application permission or any of `scopes`
    as tenant-wide delegated permission; the set names each as 'X', or as a message saying X
    is delegated."""
    apps = {sp["id"]: sp for sp in snapshot.dataset("servicePrincipals").data or []}
    found: dict[str, set[str]] = {}
    for sp, roles in third_party_apps(snapshot):
        if roles & app_roles:
            found.setdefault(sp["id"], set()).update(roles & app_roles)
    for sp_id, granted in tenant_wide_grants(snapshot).items():
        if granted & scopes:
            found.setdefault(sp_id, set()).update(
                Msg("surface.delegated", scope=s) for s in granted & scopes
            )
    return [(apps.get(i, {"id": i}), r) for i, r in sorted(found.items())]


def _kind(snapshot: Snapshot, sp: dict[str, Any]) -> str | None:
    """'scanner' for this scanner's own app, 'own' for the school's own single-tenant apps."""
    if snapshot.tool.app_id and sp.get("appId") == snapshot.tool.app_id:
        return "scanner"
    if sp.get("appOwnerOrganizationId") == snapshot.tenant.tenant_id:
        return "own"
    return None


PUBLISHER = {"scanner": "surface.publisher.scanner", "own": "surface.publisher.own"}


def _publisher(snapshot: Snapshot, sp: dict[str, Any]) -> str:
    kind = _kind(snapshot, sp)
    if kind:
        return Msg(PUBLISHER[kind])
    # v1.0 has no publisherName (beta only); the verified publisher's name is what it offers.
    name = (sp.get("verifiedPublisher") or {}).get("displayName")
    return name or Msg("surface.publisher.unknown")


def _app_detail(snapshot: Snapshot, sp: dict[str, Any], permissions: set[str]) -> Msg:
    """Who publishes the app, and the permissions it holds (Graph's names, never translated)."""
    return Msg(
        "surface.app_permissions",
        publisher=_publisher(snapshot, sp),
        permissions=sorted(permissions),
    )


def _undetermined(
    cid: str,
    unread: Msg,
    threshold: str,
    counts: dict[str, int],
    objects: Iterable[AffectedObject] = (),
) -> CheckResult:
    """Unknown, for a check on apps' permissions when some of them could not be named
    (`_unread`): such an app may hold any permission, so no verdict rests on the rest."""
    return make(
        cid,
        Status.UNKNOWN,
        Msg("surface.apps.undetermined", why=unread),
        threshold=threshold,
        counts=counts,
        objects=objects,
    )


def evaluate_inventory(snapshot: Snapshot) -> CheckResult:
    cid = INVENTORY.id
    apps = _with_delegated(snapshot, DATA_ROLES, DATA_SCOPES)
    unverified = [(sp, r) for sp, r in apps if not _verified(sp) and not _kind(snapshot, sp)]
    objects = [obj(sp, _app_detail(snapshot, sp, r)) for sp, r in apps]
    counts = {
        "apps_met_toegang_tot_schoolgegevens": len(apps),
        "zonder_geverifieerde_uitgever": len(unverified),
        "eigen_apps": sum(1 for sp, _ in apps if _kind(snapshot, sp) == "own"),
    }
    threshold = "Elke app met toegang tot schoolgegevens heeft een geverifieerde uitgever"
    unread, unread_counts = _unread(snapshot)
    counts |= unread_counts
    if unverified:
        return make(
            cid,
            Status.FAIL,
            Msg("apps.inventory.unverified"),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    if unread:
        # An app whose permissions cannot be named may reach school data.
        return _undetermined(cid, unread, threshold, counts, objects)
    return make(
        cid,
        Status.PASS,
        Msg("apps.inventory.see_list") if apps else None,
        threshold=threshold,
        counts=counts,
        objects=objects,
    )


# Permissions that let an app make itself Global Administrator (mappings/escalation_permissions
# .yaml, cited per permission): by name, and by app-role id for grants whose role name the
# resource app did not give.
ESCALATION = escalation_permissions()
ESCALATION_IDS = {entry["id"]: name for name, entry in ESCALATION.items()}


def escalation_in(permissions: set[str]) -> set[str]:
    """The escalation permissions among app-role values or ids (ids named)."""
    return {ESCALATION_IDS.get(p, p) for p in permissions if p in ESCALATION or p in ESCALATION_IDS}


def escalating_apps(snapshot: Snapshot) -> dict[str, set[str]]:
    """Service principal id -> the escalation permissions it holds, each named as Graph names
    it, or as a message saying it is delegated (for all users, or for one user: an admin who
    consented for themself lends the app their role). Non-Microsoft apps only."""
    apps = {sp["id"]: sp for sp in snapshot.dataset("servicePrincipals").data or []}
    found: dict[str, set[str]] = {}
    for sp, roles in third_party_apps(snapshot):
        if escalation_in(roles):
            found.setdefault(sp["id"], set()).update(escalation_in(roles))
    for grant in snapshot.dataset("oauth2PermissionGrants").data or []:
        client = apps.get(grant["clientId"], {})
        if client.get("appOwnerOrganizationId") in MICROSOFT_TENANTS:
            continue
        scopes = escalation_in(set((grant.get("scope") or "").split()))
        key = (
            "surface.delegated"
            if grant.get("consentType") == "AllPrincipals"
            else "surface.delegated_one_user"
        )
        if scopes:
            found.setdefault(grant["clientId"], set()).update(Msg(key, scope=s) for s in scopes)
    return found


def evaluate_high_privilege(snapshot: Snapshot) -> CheckResult:
    cid = HIGH_PRIVILEGE.id
    apps = {sp["id"]: sp for sp in snapshot.dataset("servicePrincipals").data or []}
    held = {sp["id"]: set(r) for sp, r in _with_delegated(snapshot, HIGH_ROLES, HIGH_SCOPES)}
    escalating = escalating_apps(snapshot)
    for sp_id, permissions in escalating.items():
        held.setdefault(sp_id, set()).update(permissions)
    listed = [(apps.get(i, {"id": i}), r) for i, r in sorted(held.items())]
    objects = [obj(sp, _app_detail(snapshot, sp, r)) for sp, r in listed]
    unverified = [sp for sp, _ in listed if not _verified(sp)]
    unverified_escalating = [sp for sp in unverified if sp["id"] in escalating]
    threshold = (
        "Apps met schrijf- of volledige toegang alleen van geverifieerde leveranciers, "
        "elk met verwerkersovereenkomst; geen app van een onbekende uitgever met rechten "
        "waarmee ze zich Globale beheerder kan maken"
    )
    counts = {
        "apps_met_hoge_rechten": len(listed),
        "zonder_geverifieerde_uitgever": len(unverified),
        "met_escalatierechten": len(escalating),
        "met_escalatierechten_zonder_geverifieerde_uitgever": len(unverified_escalating),
    }
    if unverified_escalating:
        return make(
            cid,
            Status.FAIL,
            Msg("apps.high_privilege_consent.escalation_unverified"),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    if unverified:
        return make(
            cid,
            Status.FAIL,
            Msg("apps.high_privilege_consent.unverified"),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    unread, unread_counts = _unread(snapshot)
    counts |= unread_counts
    if unread:
        # An app whose permissions cannot be named may hold any of them, escalation included.
        return _undetermined(cid, unread, threshold, counts, objects)
    if listed:
        return make(
            cid,
            Status.PARTIAL,
            Msg(
                "apps.high_privilege_consent.escalation_check"
                if escalating
                else "apps.high_privilege_consent.check_agreements"
            ),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    return make(cid, Status.PASS, threshold=threshold, counts=counts)


# Delegated scopes this check calls risky: those reaching mail and files, and those that let
# the app make itself Global Administrator through the consenting user (escalation permissions).
CONSENT_RISKY = RISKY_SCOPES | set(ESCALATION)


def evaluate_user_consents(snapshot: Snapshot) -> CheckResult:
    cid = USER_CONSENTS.id
    apps = {sp["id"]: sp for sp in snapshot.dataset("servicePrincipals").data or []}
    risky = []
    for grant in snapshot.dataset("oauth2PermissionGrants").data or []:
        scopes = set((grant.get("scope") or "").split())
        client = apps.get(grant["clientId"], {"id": grant["clientId"]})
        if client.get("appOwnerOrganizationId") in MICROSOFT_TENANTS:
            continue
        if grant.get("consentType") == "Principal" and scopes & CONSENT_RISKY:
            risky.append(
                obj(
                    client,
                    Msg(
                        "apps.user_consented_risky.by_user",
                        scopes=sorted(scopes & CONSENT_RISKY),
                    ),
                )
            )
        elif (
            grant.get("consentType") == "AllPrincipals"
            and scopes & CONSENT_RISKY
            and not _verified(client)
            and not _kind(snapshot, client)
        ):
            # Consented for everyone to an app nobody verified: the same consent-phishing
            # exposure, for every user at once.
            risky.append(
                obj(
                    client,
                    Msg(
                        "apps.user_consented_risky.for_everyone",
                        scopes=sorted(scopes & CONSENT_RISKY),
                    ),
                )
            )
    threshold = (
        "Geen door gebruikers toegestane apps met toegang tot mail of bestanden of met rechten "
        "waarmee ze zich Globale beheerder kunnen maken, en geen ongeverifieerde apps met "
        "zulke rechten voor alle gebruikers"
    )
    unread, unread_counts = _unread(snapshot, roles=False)
    counts = {"toestemmingen": len(risky)} | unread_counts
    if risky:
        return make(
            cid,
            Status.FAIL,
            Msg("apps.user_consented_risky.found"),
            threshold=threshold,
            counts=counts,
            objects=risky,
        )
    if unread:
        return _undetermined(cid, unread, threshold, counts)
    return make(cid, Status.PASS, threshold=threshold, counts=counts)


def evaluate_secure_score(snapshot: Snapshot) -> CheckResult:
    cid = SECURE_SCORE.id
    scores = snapshot.dataset("secureScores").data or []
    threshold = "Secure Score minstens gelijk aan het gemiddelde van alle tenants"
    if not scores:
        return make(cid, Status.UNKNOWN, Msg("surface.secure_score.none"), threshold=threshold)
    latest = scores[0]
    current, maximum = latest.get("currentScore") or 0.0, latest.get("maxScore") or 0.0
    mine = round(100.0 * current / maximum, 1) if maximum else 0.0
    average = next(
        (
            a.get("averageScore")
            for a in latest.get("averageComparativeScores") or []
            if a.get("basis") == "AllTenants"
        ),
        None,
    )
    measured = {"score_pct": mine, "score_punten": current, "gemiddelde_alle_tenants": average}
    if average is None or not maximum:
        return make(
            cid,
            Status.UNKNOWN,
            Msg("surface.secure_score.no_comparison"),
            threshold=threshold,
            measured=measured,
        )
    # Graph does not document the unit of averageScore ("Average score within specified
    # basis"); Microsoft's own examples show values that only fit points (above 100 against a
    # maximum of 697). Compare like with like under each reading that is possible, and only
    # give a verdict both readings agree on.
    readings = {"punten": round(100.0 * average / maximum, 1)}
    if average <= 100:
        readings["procent"] = float(average)
    verdicts = {unit: _vs_average(mine, avg) for unit, avg in readings.items()}
    if len(set(verdicts.values())) > 1:
        return make(
            cid,
            Status.UNKNOWN,
            Msg(
                "surface.secure_score.ambiguous",
                score=mine,
                average=float(average),
                as_points=readings["punten"],
            ),
            threshold=threshold,
            measured=measured,
        )
    status = next(iter(verdicts.values()))
    avg_pct = min(readings.values()) if status is Status.PASS else max(readings.values())
    if status is Status.PASS:
        return make(cid, Status.PASS, threshold=threshold, measured=measured)
    return make(
        cid,
        status,
        Msg("surface.secure_score.below_average", score=mine, average=avg_pct),
        threshold=threshold,
        measured=measured,
    )


def _vs_average(mine: float, average_pct: float) -> Status:
    if mine >= average_pct:
        return Status.PASS
    return Status.PARTIAL if mine >= average_pct - 10 else Status.FAIL


def evaluate_risky_users(snapshot: Snapshot) -> CheckResult:
    cid = RISKY_USERS.id
    risky = snapshot.dataset("riskyUsers").data or []
    threshold = "Geen accounts die Microsoft als 'risico' markeert en die niet zijn afgehandeld"
    if risky:
        return make(
            cid,
            Status.FAIL,
            Msg("surface.risky_users.found"),
            threshold=threshold,
            counts={"risicovolle_accounts": len(risky)},
            # riskLevel is Graph's own value (low, medium, high): data, shown as given
            objects=[
                obj(u, Msg.literal(u["riskLevel"]) if u.get("riskLevel") else None) for u in risky
            ],
        )
    return make(cid, Status.PASS, threshold=threshold, counts={"risicovolle_accounts": 0})


AUTHZ = "authorizationPolicy"
# allowInvitesFrom: the members Graph documents (an evolvable enum: `unknownFutureValue`, or a
# member added later, is not judged as any of these).
INVITES = {
    "none": Status.PASS,
    "adminsAndGuestInviters": Status.PASS,
    "adminsGuestInvitersAndAllMembers": Status.PARTIAL,
    "everyone": Status.FAIL,
}


def evaluate_guest_invites(snapshot: Snapshot) -> CheckResult:
    cid = GUEST_INVITES.id
    threshold = "Alleen beheerders en gastuitnodigers kunnen gasten uitnodigen"
    value, problem = read_setting(snapshot, AUTHZ, "allowInvitesFrom", INVITES)
    if problem is not None:
        return make(cid, Status.UNKNOWN, problem, threshold=threshold)
    status = INVITES[value]
    reason = {
        Status.PARTIAL: Msg("surface.guest_invites.all_members"),
        Status.FAIL: Msg("surface.guest_invites.everyone"),
    }.get(status)
    return make(cid, status, reason, threshold=threshold, measured=value)


GUEST_ROLES = {
    "2af84b1e-32c8-42b7-82bc-daa82404023b": "restricted",
    "10dae51f-b6af-4016-8d66-8c2a99b929b3": "limited",
    "a0b1b346-4d3e-4e8b-98f8-753987be4970": "member",
}


def evaluate_guest_access(snapshot: Snapshot) -> CheckResult:
    cid = GUEST_ACCESS.id
    threshold = "Gasten zien alleen hun eigen gegevens (restricted) of beperkt (limited)"
    # A role template id: the three Graph documents; any other value is not judged as one.
    role, problem = read_setting(snapshot, AUTHZ, "guestUserRoleId")
    if problem is None and str(role).lower() not in GUEST_ROLES:
        source = snapshot.dataset(AUTHZ).endpoint or AUTHZ
        problem = Msg(
            "data.property_unknown_value",
            property="guestUserRoleId",
            source=source,
            value=repr(role),
        )
    if problem is not None:
        return make(cid, Status.UNKNOWN, problem, threshold=threshold)
    kind = GUEST_ROLES[str(role).lower()]
    label = Msg(f"surface.guest_access.role.{kind}")
    if kind == "restricted":
        return make(cid, Status.PASS, threshold=threshold, measured=label)
    if kind == "limited":
        return make(
            cid,
            Status.PARTIAL,
            Msg("surface.guest_access.limited"),
            threshold=threshold,
            measured=label,
        )
    return make(
        cid,
        Status.FAIL,
        Msg("surface.guest_access.member_like"),
        threshold=threshold,
        measured=label,
    )


SHARING = {
    "disabled": (Status.PASS, "internal"),
    "existingExternalUserSharingOnly": (Status.PASS, "existing_guests"),
    "externalUserSharingOnly": (Status.PARTIAL, "new_guests"),
    "externalUserAndGuestSharing": (Status.FAIL, "anyone"),
}


def evaluate_sharing(snapshot: Snapshot) -> CheckResult:
    cid = SHARING_CHECK.id
    threshold = "Geen anonieme 'iedereen'-links voor SharePoint en OneDrive"
    value, problem = read_setting(snapshot, "sharepointSettings", "sharingCapability", SHARING)
    if problem is not None:
        return make(cid, Status.UNKNOWN, problem, threshold=threshold)
    status, kind = SHARING[value]
    label = Msg(f"surface.external_sharing.level.{kind}")
    reason = None
    if status is Status.FAIL:
        reason = Msg("surface.external_sharing.anyone")
    elif status is Status.PARTIAL:
        reason = Msg("surface.external_sharing.new_guests")
    return make(cid, status, reason, threshold=threshold, measured=label)


SIGNUP = ("allowEmailVerifiedUsersToJoinOrganization", "allowedToSignUpEmailBasedSubscriptions")


def evaluate_self_signup(snapshot: Snapshot) -> CheckResult:
    cid = SELF_SIGNUP.id
    threshold = "Niemand kan zich met alleen een e-mailadres bij de tenant aansluiten"
    read = {k: read_setting(snapshot, AUTHZ, k, (True, False)) for k in SIGNUP}
    open_doors = [k for k, (value, _) in read.items() if value is True]
    problems = [problem for _, problem in read.values() if problem is not None]
    if open_doors:
        return make(
            cid,
            Status.FAIL,
            Msg("surface.self_service_signup.open"),
            threshold=threshold,
            measured=open_doors,
        )
    if problems:
        return make(cid, Status.UNKNOWN, Msg.join(problems), threshold=threshold)
    return make(cid, Status.PASS, threshold=threshold)


STALE_DAYS = 90


@per_snapshot("userSignInActivity")
def _activity(snapshot: Snapshot) -> Mapping[str, dict[str, Any]]:
    """User id -> signInActivity (stale accounts and stale guests read the same)."""
    return MappingProxyType(
        {
            a["id"]: a.get("signInActivity") or {}
            for a in snapshot.dataset("userSignInActivity").data or []
        }
    )


def _stale(snapshot: Snapshot, guests: bool) -> tuple[list[Any], int, int]:
    activity = _activity(snapshot)
    since = snapshot.collected_at - timedelta(days=STALE_DAYS)
    ok = approved(snapshot)
    stale, total, young = [], 0, 0
    for user in snapshot.dataset("users").data or []:
        is_guest = (user.get("userType") or "").lower() == "guest"
        # Only an account Graph says is disabled is left out (accountEnabled is nullable).
        if user.get("accountEnabled") is False or is_guest != guests or user["id"] in ok:
            continue
        created = parse_time(user.get("createdDateTime"))
        if created is not None and created > since:
            # Younger than the window (the autumn intake of pupils): it cannot have been
            # unused for 90 days, whether or not it signed in yet.
            young += 1
            continue
        total += 1
        seen = activity.get(user["id"]) or {}
        last = parse_time(
            seen.get("lastSuccessfulSignInDateTime") or seen.get("lastSignInDateTime")
        )
        if last is None or last < since:
            when = (
                Msg("surface.last_sign_in", date=last.date().isoformat())
                if last
                else Msg("surface.never_signed_in")
            )
            stale.append(obj(user, when))
    return stale, total, young


def _stale_result(cid: str, snapshot: Snapshot, guests: bool) -> CheckResult:
    stale, total, young = _stale(snapshot, guests)
    share = pct(len(stale), total)
    who = "gasten" if guests else "accounts"
    threshold = (
        f"Hoogstens 2% van de actieve {who} (ouder dan {STALE_DAYS} dagen) is {STALE_DAYS} "
        "dagen niet gebruikt"
    )
    counts = {
        f"actieve_{who}": total,
        f"ongebruikt_{STALE_DAYS}_dagen": len(stale),
        f"jonger_dan_{STALE_DAYS}_dagen": young,
    }
    if share is None:
        # 0 of 0: nobody to judge. Measured when the accounts were read and none qualifies;
        # an empty account list is not a tenant's (it always holds its administrators).
        if not snapshot.dataset("users").data:
            return make(cid, Status.UNKNOWN, Msg("surface.no_accounts_read"), threshold=threshold)
        return make(
            cid,
            Status.NOT_APPLICABLE,
            Msg("surface.stale_guests.none" if guests else "surface.stale_accounts.none"),
            threshold=threshold,
            counts=counts,
        )
    if share <= 2:
        return make(
            cid, Status.PASS, threshold=threshold, counts=counts, objects=stale, measured=share
        )
    status = Status.PARTIAL if share <= 10 else Status.FAIL
    return make(
        cid,
        status,
        Msg(
            "surface.stale_guests.too_many" if guests else "surface.stale_accounts.too_many",
            pct=share,
            days=STALE_DAYS,
        ),
        threshold=threshold,
        counts=counts,
        objects=stale,
        measured=share,
    )


def evaluate_stale_accounts(snapshot: Snapshot) -> CheckResult:
    return _stale_result(STALE_ACCOUNTS.id, snapshot, guests=False)


def evaluate_stale_guests(snapshot: Snapshot) -> CheckResult:
    return _stale_result(STALE_GUESTS.id, snapshot, guests=True)


def evaluate_unlicensed(snapshot: Snapshot) -> CheckResult:
    cid = UNLICENSED.id
    ok = set(approved(snapshot)) | set(privileged_holders(snapshot))
    members = [
        u
        for u in snapshot.dataset("users").data or []
        if u.get("accountEnabled") is not False and (u.get("userType") or "Member") == "Member"
    ]
    bare = [
        obj(u, Msg("surface.unlicensed_accounts.detail"))
        for u in members
        if not u.get("assignedLicenses") and u["id"] not in ok
    ]
    share = pct(len(bare), len(members))
    threshold = (
        "Hoogstens 2% van de actieve accounts zonder licentie (beheer- en noodaccounts tellen niet)"
    )
    counts = {"actieve_accounts": len(members), "zonder_licentie": len(bare)}
    if share is None:
        # No member account at all: a tenant always holds its administrators, so the list
        # was not the tenant's whole answer.
        return make(cid, Status.UNKNOWN, Msg("surface.no_accounts_read"), threshold=threshold)
    if share <= 2:
        return make(
            cid, Status.PASS, threshold=threshold, counts=counts, objects=bare, measured=share
        )
    return make(
        cid,
        Status.PARTIAL if share <= 10 else Status.FAIL,
        Msg("surface.unlicensed_accounts.found"),
        threshold=threshold,
        counts=counts,
        objects=bare,
        measured=share,
    )


# Areas differ per check here (applications, attack surface): each call names its own.
_check = check_family()


APPS = (
    "servicePrincipals",
    "resourceServicePrincipals",
    "appRoleAssignedTo",
    "oauth2PermissionGrants",
)
SCUBA_APPS = src(
    "CISA SCuBA RiskyAppPermissions",
    "https://github.com/cisagov/ScubaGear",
)
TIERING = (
    "https://github.com/emiliensocchi/azure-tiering/tree/main/"
    "Microsoft%20Graph%20application%20permissions"
)
GRAPH_PERMISSIONS = "https://learn.microsoft.com/graph/permissions-reference"
# What the apps checks' verdicts rest on, per dataset.
APP_PROPERTIES = {
    "servicePrincipals": ("appOwnerOrganizationId", "verifiedPublisher.verifiedPublisherId"),
    "resourceServicePrincipals": ("appRoles",),
    "appRoleAssignedTo": ("principalId", "appRoleId"),
    "oauth2PermissionGrants": ("clientId", "consentType", "scope"),
}

INVENTORY = _check(
    id="apps.inventory",
    area=Area.APPLICATIONS,
    severity=Severity.MEDIUM,
    datasets=APPS,
    bm=(1,),
    norms=("CO.01", "OR.01"),
    sources=(SCUBA_APPS, src("Microsoft: manage app permissions", ENTERPRISE_APPS)),
    evaluate=evaluate_inventory,
    reads=reads(properties=APP_PROPERTIES, judges=("app_permissions",)),
)
HIGH_PRIVILEGE = _check(
    id="apps.high_privilege_consent",
    area=Area.APPLICATIONS,
    severity=Severity.HIGH,
    datasets=APPS,
    # Suppliers (2) holding access rights (4); GO.02 (policy) cannot be scanned: the access
    # rights themselves are ID.01.
    bm=(2, 4),
    norms=("ID.01",),
    sources=(
        SCUBA_APPS,
        src("SIVON: verwerkersovereenkomsten", "https://sivon.nl/"),
        src("Azure administrative tiering: MS Graph application permissions", TIERING),
        src("Microsoft Graph permissions reference", GRAPH_PERMISSIONS),
    ),
    evaluate=evaluate_high_privilege,
    reads=reads(properties=APP_PROPERTIES, judges=("app_permissions",)),
)
USER_CONSENTS = _check(
    id="apps.user_consented_risky",
    area=Area.APPLICATIONS,
    severity=Severity.HIGH,
    datasets=("servicePrincipals", "oauth2PermissionGrants"),
    bm=(5, 2),
    norms=("SM.01",),
    sources=(src("CISA SCuBA MS.AAD.5.2v1", SCUBA_AAD), SCUBA_APPS),
    evaluate=evaluate_user_consents,
    # It judges delegated consents (oauth2PermissionGrants), escalation scopes among them; an
    # application permission (an app role an admin granted) is apps.high_privilege_consent's,
    # so it does not judge "app_permissions" as a whole.
    reads=reads(
        properties={
            "servicePrincipals": APP_PROPERTIES["servicePrincipals"],
            "oauth2PermissionGrants": APP_PROPERTIES["oauth2PermissionGrants"],
        },
    ),
)
SECURE_SCORE = _check(
    id="surface.secure_score",
    reads=reads(
        properties={
            "secureScores": (
                "currentScore",
                "maxScore",
                "averageComparativeScores.basis",
                "averageComparativeScores.averageScore",
            )
        }
    ),
    area=Area.ATTACK_SURFACE,
    severity=Severity.LOW,
    datasets=("secureScores",),
    bm=(3,),
    norms=("SM.05", "SM.07"),
    sources=(
        src(
            "Microsoft Secure Score",
            "https://learn.microsoft.com/defender-xdr/microsoft-secure-score",
        ),
    ),
    evaluate=evaluate_secure_score,
)
RISKY_USERS = _check(
    id="surface.risky_users",
    reads=reads(properties={"riskyUsers": ("riskLevel", "riskState")}),
    area=Area.ATTACK_SURFACE,
    severity=Severity.HIGH,
    datasets=("riskyUsers",),
    # Open risk detections are log analysis (10) on who can get in (4), not a risk-management
    # process (3); norms: threat management (SM.07) and logging (SM.04).
    bm=(10, 4),
    norms=("SM.07", "SM.04"),
    sources=(
        src(
            "Microsoft Entra ID Protection",
            "https://learn.microsoft.com/entra/id-protection/overview-identity-protection",
        ),
    ),
    evaluate=evaluate_risky_users,
    licence="Microsoft Entra ID P2 (in A5)",
)
GUEST_INVITES = _check(
    id="surface.guest_invites",
    area=Area.ATTACK_SURFACE,
    severity=Severity.MEDIUM,
    datasets=("authorizationPolicy",),
    bm=(5, 4),
    norms=("SM.01", "ID.02"),
    sources=(
        src("CISA SCuBA MS.AAD.8.2v1", SCUBA_AAD),
        src("CIS Microsoft 365 Foundations 5.1.6.3", CIS),
    ),
    evaluate=evaluate_guest_invites,
    reads=reads(properties={"authorizationPolicy": ("allowInvitesFrom",)}),
)
GUEST_ACCESS = _check(
    id="surface.guest_access",
    area=Area.ATTACK_SURFACE,
    severity=Severity.MEDIUM,
    datasets=("authorizationPolicy",),
    bm=(5, 4),
    norms=("SM.01", "ID.01"),
    sources=(
        src("CISA SCuBA MS.AAD.8.1v1", SCUBA_AAD),
        src("CIS Microsoft 365 Foundations 5.1.6.2", CIS),
    ),
    evaluate=evaluate_guest_access,
    reads=reads(properties={"authorizationPolicy": ("guestUserRoleId",)}),
)
SHARING_CHECK = _check(
    id="surface.external_sharing",
    area=Area.ATTACK_SURFACE,
    severity=Severity.HIGH,
    datasets=("sharepointSettings",),
    bm=(5,),
    norms=("SM.01",),
    sources=(src("CIS Microsoft 365 Foundations 7.2.3", CIS),),
    evaluate=evaluate_sharing,
    reads=reads(properties={"sharepointSettings": ("sharingCapability",)}),
)
SELF_SIGNUP = _check(
    id="surface.self_service_signup",
    area=Area.ATTACK_SURFACE,
    severity=Severity.LOW,
    datasets=("authorizationPolicy",),
    bm=(5,),
    norms=("SM.01", "ID.02"),
    sources=(src("EIDSCA AP05/AP06", "https://maester.dev/docs/tests/eidsca/"),),
    evaluate=evaluate_self_signup,
    reads=reads(properties={"authorizationPolicy": SIGNUP}),
)
STALE_ACCOUNTS = _check(
    id="surface.stale_accounts",
    area=Area.ATTACK_SURFACE,
    severity=Severity.MEDIUM,
    datasets=("users", "userSignInActivity"),
    bm=(5, 4),
    norms=("ID.02",),  # account lifecycle; not an authentication mechanism (was SM.02)
    sources=(
        src(
            "CISA SCuBA / Microsoft: manage inactive user accounts",
            "https://learn.microsoft.com/entra/identity/monitoring-health/howto-manage-inactive-user-accounts",
        ),
    ),
    evaluate=evaluate_stale_accounts,
    licence="Microsoft Entra ID P1",
    reads=reads(
        population="users",
        settings=("approved_exclusions", "break_glass"),
        properties={
            "users": ("accountEnabled", "userType", "createdDateTime"),
            "userSignInActivity": (
                "signInActivity.lastSuccessfulSignInDateTime",
                "signInActivity.lastSignInDateTime",
            ),
        },
    ),
)
STALE_GUESTS = _check(
    id="surface.stale_guests",
    area=Area.ATTACK_SURFACE,
    severity=Severity.LOW,
    datasets=("users", "userSignInActivity"),
    bm=(5, 4),
    norms=("ID.02", "ID.05"),
    sources=(
        src(
            "Microsoft: access reviews for guests",
            "https://learn.microsoft.com/entra/id-governance/manage-guest-access-with-access-reviews",
        ),
    ),
    evaluate=evaluate_stale_guests,
    licence="Microsoft Entra ID P1",
    reads=reads(
        population="guests",
        settings=("approved_exclusions", "break_glass"),
        properties={
            "users": ("accountEnabled", "userType", "createdDateTime"),
            "userSignInActivity": (
                "signInActivity.lastSuccessfulSignInDateTime",
                "signInActivity.lastSignInDateTime",
            ),
        },
    ),
)
UNLICENSED = _check(
    id="surface.unlicensed_accounts",
    area=Area.ATTACK_SURFACE,
    severity=Severity.LOW,
    datasets=("users", "roleAssignments", "roleGroupMembers"),
    bm=(5, 4),
    norms=("ID.02",),
    sources=(
        src(
            "Microsoft: manage users",
            "https://learn.microsoft.com/entra/fundamentals/how-to-manage-user-profile-info",
        ),
    ),
    evaluate=evaluate_unlicensed,
    reads=reads(
        population="users",
        settings=("approved_exclusions", "break_glass"),
        properties={"users": ("accountEnabled", "userType", "assignedLicenses")},
    ),
)

CHECKS = [
    INVENTORY,
    HIGH_PRIVILEGE,
    USER_CONSENTS,
    SECURE_SCORE,
    RISKY_USERS,
    GUEST_INVITES,
    GUEST_ACCESS,
    SHARING_CHECK,
    SELF_SIGNUP,
    STALE_ACCOUNTS,
    STALE_GUESTS,
    UNLICENSED,
]
