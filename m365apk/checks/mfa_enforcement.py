"""Basismaatregel 9: is MFA enforced (not just registered), for everyone and for admins, and
are the weak ways around it closed (legacy authentication, SMS and voice)?"""

from __future__ import annotations

from typing import Any

from m365apk.checks.base import Area, Check, CheckResult, Severity, Status
from m365apk.checks.common import (
    ADMIN_MFA_ROLES,
    CIS,
    EIDSCA,
    SCUBA_AAD,
    all_apps,
    all_users,
    approved,
    blocks,
    enabled_policies,
    excluded,
    make,
    obj,
    privileged_holders,
    requires_mfa,
    role_text,
    security_defaults_on,
    src,
    users,
)
from m365apk.checks.methods_migration import legacy_still_counts
from m365apk.snapshot import Snapshot

CA_DOCS = (
    "https://learn.microsoft.com/entra/identity/conditional-access/policy-all-users-mfa-strength"
)
SD_DOCS = "https://learn.microsoft.com/entra/fundamentals/security-defaults"


def _exclusion_findings(snapshot: Snapshot, policy: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """(approved, unapproved) exclusions of a policy as affected objects."""
    ok = approved(snapshot)
    names = users(snapshot)
    ex_users, ex_groups, ex_roles = excluded(policy)
    good, bad = [], []
    for uid in ex_users:
        user = names.get(uid, {"id": uid})
        item = obj(user, f"uitgesloten van '{policy.get('displayName')}'")
        (good if uid in ok else bad).append(
            item.model_copy(update={"detail": f"{item.detail}: {ok[uid]}"}) if uid in ok else item
        )
    for gid in ex_groups:
        item = obj(
            {"id": gid, "displayName": f"groep {gid}"},
            f"groep uitgesloten van '{policy.get('displayName')}'",
        )
        (good if gid in ok else bad).append(item)
    for rid in ex_roles:
        bad.append(obj({"id": rid, "displayName": f"rol {rid}"}, "hele rol uitgesloten"))
    return good, bad


def _mfa_all(snapshot: Snapshot) -> list[dict[str, Any]]:
    return [
        p for p in enabled_policies(snapshot) if all_users(p) and all_apps(p) and requires_mfa(p)
    ]


def evaluate_enforced(snapshot: Snapshot) -> CheckResult:
    cid = ENFORCED.id
    threshold = "Beveiligingsstandaarden aan, of een ingeschakeld beleid: MFA voor alle gebruikers"
    if security_defaults_on(snapshot):
        return make(cid, Status.PASS, threshold=threshold, measured="beveiligingsstandaarden")
    policies = _mfa_all(snapshot)
    report_only = [
        p
        for p in snapshot.dataset("conditionalAccessPolicies").data or []
        if p["state"] == "enabledForReportingButNotEnforced" and all_users(p) and requires_mfa(p)
    ]
    if not policies:
        why = (
            "MFA wordt niet afgedwongen: beveiligingsstandaarden staan uit en er is geen "
            "ingeschakeld beleid dat MFA vraagt van alle gebruikers."
        )
        if report_only:
            why += " Er is wel een beleid in alleen-rapportagemodus; dat dwingt niets af."
        return make(
            cid,
            Status.FAIL,
            why,
            threshold=threshold,
            counts={"beleid_alleen_rapportage": len(report_only)},
        )
    best_good, best_bad = None, None
    for policy in policies:
        good, bad = _exclusion_findings(snapshot, policy)
        if best_bad is None or len(bad) < len(best_bad):
            best_good, best_bad, chosen = good, bad, policy
    counts = {
        "goedgekeurde_uitzonderingen": len(best_good or []),
        "andere_uitzonderingen": len(best_bad or []),
    }
    if best_bad:
        return make(
            cid,
            Status.PARTIAL,
            f"Beleid '{chosen.get('displayName')}' dwingt MFA af, maar sluit accounts of groepen "
            "uit die niet als noodaccount of goedgekeurde uitzondering zijn vastgelegd.",
            threshold=threshold,
            counts=counts,
            objects=best_bad,
            measured=chosen.get("displayName"),
        )
    return make(
        cid,
        Status.PASS,
        threshold=threshold,
        counts=counts,
        objects=best_good or [],
        measured=chosen.get("displayName"),
    )


def evaluate_admins(snapshot: Snapshot) -> CheckResult:
    cid = ADMINS.id
    threshold = "Elke beheerdersrol valt onder afgedwongen MFA"
    holders = privileged_holders(snapshot)
    if security_defaults_on(snapshot):
        return make(
            cid,
            Status.PASS,
            threshold=threshold,
            measured="beveiligingsstandaarden",
            counts={"beheerders": len(holders)},
        )
    ok = approved(snapshot)
    covered: set[str] = set()
    for p in enabled_policies(snapshot):
        if not (requires_mfa(p) and all_apps(p)):
            continue
        ex_users, ex_groups, ex_roles = excluded(p)
        roles = set((p.get("conditions") or {}).get("users", {}).get("includeRoles") or [])
        if all_users(p) or (roles >= ADMIN_MFA_ROLES and not ADMIN_MFA_ROLES & set(ex_roles)):
            covered |= {uid for uid in holders if uid not in ex_users}
    missing = [h for uid, h in holders.items() if uid not in covered and uid not in ok]
    counts = {"beheerders": len(holders), "zonder_afgedwongen_mfa": len(missing)}
    if missing:
        return make(
            cid,
            Status.FAIL,
            "Niet alle beheerders vallen onder een beleid dat MFA afdwingt.",
            threshold=threshold,
            counts=counts,
            objects=[obj(h, role_text(h)) for h in missing],
        )
    return make(cid, Status.PASS, threshold=threshold, counts=counts)


def evaluate_legacy(snapshot: Snapshot) -> CheckResult:
    cid = LEGACY.id
    threshold = "Verouderde verificatie (Exchange ActiveSync en 'other clients') geblokkeerd"
    if security_defaults_on(snapshot):
        return make(cid, Status.PASS, threshold=threshold, measured="beveiligingsstandaarden")
    for p in enabled_policies(snapshot):
        apps = set((p.get("conditions") or {}).get("clientAppTypes") or [])
        if blocks(p) and all_users(p) and all_apps(p) and {"exchangeActiveSync", "other"} <= apps:
            good, bad = _exclusion_findings(snapshot, p)
            if bad:
                return make(
                    cid,
                    Status.PARTIAL,
                    f"'{p.get('displayName')}' blokkeert verouderde verificatie, met niet-"
                    "goedgekeurde uitzonderingen.",
                    threshold=threshold,
                    objects=bad,
                )
            return make(cid, Status.PASS, threshold=threshold, measured=p.get("displayName"))
    return make(
        cid,
        Status.FAIL,
        "Geen beveiligingsstandaarden en geen ingeschakeld beleid dat verouderde "
        "verificatie blokkeert: IMAP, POP en oude Office-clients omzeilen MFA.",
        threshold=threshold,
    )


def _method(snapshot: Snapshot, method_id: str) -> dict[str, Any]:
    policy = snapshot.dataset("authenticationMethodsPolicy").data or {}
    for config in policy.get("authenticationMethodConfigurations") or []:
        if config.get("id", "").lower() == method_id.lower():
            return config
    return {}


def evaluate_weak_methods(snapshot: Snapshot) -> CheckResult:
    cid = WEAK_METHODS.id
    enabled = [m for m in ("Sms", "Voice") if _method(snapshot, m).get("state") == "enabled"]
    email = _method(snapshot, "Email").get("state") == "enabled"
    threshold = "SMS en spraakoproep uitgeschakeld als aanmeldmethode"
    counts = {"zwakke_methoden_aan": len(enabled) + int(email)}
    if enabled:
        return make(
            cid,
            Status.FAIL,
            f"Ingeschakeld: {', '.join(enabled)}. Deze methoden zijn te onderscheppen "
            "(SIM-swap, phishing).",
            threshold=threshold,
            counts=counts,
            measured=enabled + (["Email"] if email else []),
        )
    if legacy_still_counts(snapshot):
        # Issue 13 item 10: before the migration is complete the legacy MFA/SSPR policies
        # still allow their methods, so "off" here is not "off" (mfa.methods_migration).
        return make(
            cid,
            Status.PARTIAL,
            "SMS en spraak staan uit in het beleid voor verificatiemethoden, maar de migratie "
            "is niet afgerond: de oude MFA- en SSPR-instellingen kunnen ze nog toestaan.",
            threshold=threshold,
            counts=counts,
        )
    if email:
        return make(
            cid,
            Status.PARTIAL,
            "SMS en spraak staan uit, e-mail als methode staat nog aan (CISA wil die ook "
            "uit; gasten kunnen hem nodig hebben).",
            threshold=threshold,
            counts=counts,
        )
    return make(cid, Status.PASS, threshold=threshold, counts=counts)


def evaluate_authenticator(snapshot: Snapshot) -> CheckResult:
    cid = AUTHENTICATOR.id
    config = _method(snapshot, "MicrosoftAuthenticator")
    features = config.get("featureSettings") or {}
    states = {
        name: ((features.get(key) or {}).get("state"))
        for name, key in (
            ("app", "displayAppInformationRequiredState"),
            ("locatie", "displayLocationInformationRequiredState"),
        )
    }
    threshold = "Authenticator toont app-naam en locatie bij een aanmeldverzoek"
    if config.get("state") != "enabled":
        return make(
            cid, Status.FAIL, "Microsoft Authenticator staat uit als methode.", threshold=threshold
        )
    missing = [k for k, v in states.items() if v != "enabled"]
    if missing:
        return make(
            cid,
            Status.FAIL,
            f"Context bij pushmeldingen staat niet aan ({', '.join(missing)}; "
            "'default' is uit): gebruikers keuren MFA-moeheidsaanvallen makkelijker goed.",
            threshold=threshold,
            measured=states,
        )
    return make(cid, Status.PASS, threshold=threshold, measured=states)


PHISHING_RESISTANT = {
    "#microsoft.graph.fido2AuthenticationMethod",
    "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod",
    "#microsoft.graph.x509CertificateAuthenticationMethod",
    "#microsoft.graph.platformCredentialAuthenticationMethod",
}
PHISHING_RESISTANT_REPORT = {
    "fido2",
    "windowsHelloForBusiness",
    "passKeyDeviceBound",
    "passKeyDeviceBoundAuthenticator",
    "x509Certificate",
}


def evaluate_phishing_resistant(snapshot: Snapshot) -> CheckResult:
    cid = PHISHING.id
    holders = privileged_holders(snapshot)
    report = snapshot.dataset("userRegistrationDetails")
    strong: set[str] = set()
    if report.ok:
        strong = {
            r["id"]
            for r in report.data
            if set(r.get("methodsRegistered") or []) & PHISHING_RESISTANT_REPORT
        }
    else:
        for uid, entries in (snapshot.dataset("userAuthenticationMethods").data or {}).items():
            if any(m.get("@odata.type") in PHISHING_RESISTANT for m in entries):
                strong.add(uid)
    missing = [h for uid, h in holders.items() if uid not in strong]
    threshold = "Elke beheerder heeft een phishingbestendige methode (FIDO2, Windows Hello)"
    counts = {"beheerders": len(holders), "zonder_phishingbestendige_methode": len(missing)}
    if not holders:
        return make(cid, Status.NOT_APPLICABLE, "Geen beheerders gevonden.", threshold=threshold)
    if len(missing) == len(holders):
        return make(
            cid,
            Status.FAIL,
            "Geen enkele beheerder heeft een phishingbestendige methode (FIDO2, Windows Hello).",
            threshold=threshold,
            counts=counts,
            objects=[obj(h, role_text(h)) for h in missing],
        )
    if missing:
        return make(
            cid,
            Status.PARTIAL,
            "Advies: nog niet alle beheerders hebben een phishingbestendige methode.",
            threshold=threshold,
            counts=counts,
            objects=[obj(h, role_text(h)) for h in missing],
        )
    return make(cid, Status.PASS, threshold=threshold, counts=counts)


FIX_CA = (
    "Entra > Protection > Conditional Access > nieuw beleid vanuit de sjabloon 'Require "
    "multifactor authentication for all users', sluit alleen de twee noodaccounts uit, test in "
    "alleen-rapportagemodus en zet het daarna op Aan."
)
# Without Entra ID P1 there is no conditional access: security defaults are the tool.
FIX_FREE = (
    "Deze school heeft geen Entra ID P1 (alleen A1): zet de beveiligingsstandaarden aan. "
    "Entra-beheercentrum > Overzicht > Eigenschappen > Beveiligingsstandaarden beheren > "
    "Ingeschakeld. Dat dwingt MFA af voor iedereen, ook beheerders, en blokkeert verouderde "
    "verificatie. Laat gebruikers vooraf de Authenticator-app registreren."
)

ENFORCED = Check(
    id="mfa.enforced_for_all",
    title="MFA wordt afgedwongen voor alle gebruikers",
    area=Area.MFA,
    severity=Severity.CRITICAL,
    datasets=("securityDefaults", "conditionalAccessPolicies", "users"),
    basismaatregelen=(9,),
    norms=("SM.02", "ID.01"),
    threshold="Beveiligingsstandaarden aan, of een ingeschakeld beleid voor voorwaardelijke "
    "toegang dat MFA vraagt van alle gebruikers voor alle apps; alleen goedgekeurde uitzonderingen",
    sources=(
        src("CIS Microsoft 365 Foundations 5.2.2.2 (MFA voor alle gebruikers)", CIS),
        src("CISA SCuBA MS.AAD.3.2v2", SCUBA_AAD),
        src("Microsoft: beveiligingsstandaarden", SD_DOCS),
    ),
    why="Geregistreerde MFA helpt alleen als ze ook gevraagd wordt. Zonder afdwingen kan een "
    "aanvaller met alleen een gestolen wachtwoord inloggen.",
    fix=FIX_CA,
    fix_free=FIX_FREE,
    evaluate=evaluate_enforced,
)

ADMINS = Check(
    id="mfa.enforced_for_admins",
    title="MFA afgedwongen voor alle beheerders",
    area=Area.MFA,
    severity=Severity.CRITICAL,
    datasets=(
        "securityDefaults",
        "conditionalAccessPolicies",
        "roleAssignments",
        "roleGroupMembers",
    ),
    basismaatregelen=(9, 4),
    norms=("SM.02", "SM.13"),
    threshold="Elke houder van een beheerdersrol valt onder een ingeschakeld MFA-beleid",
    sources=(
        src("CIS Microsoft 365 Foundations 5.2.2.1", CIS),
        src("Maester MT.1006 (MFA voor beheerders)", "https://maester.dev/docs/tests/MT.1006"),
    ),
    why="Een beheerdersaccount zonder MFA is de snelste weg naar de hele omgeving.",
    fix=FIX_CA + " Of een apart beleid voor alle beheerdersrollen (sjabloon 'Require MFA for "
    "administrators').",
    fix_free=FIX_FREE,
    evaluate=evaluate_admins,
)

LEGACY = Check(
    id="mfa.legacy_auth_blocked",
    title="Verouderde verificatie geblokkeerd",
    area=Area.MFA,
    severity=Severity.HIGH,
    datasets=("securityDefaults", "conditionalAccessPolicies", "users"),
    basismaatregelen=(9, 5),
    norms=("SM.02", "SM.11"),
    threshold="Beleid blokkeert clienttypes exchangeActiveSync en other voor alle gebruikers",
    sources=(
        src("CIS Microsoft 365 Foundations 5.2.2.3", CIS),
        src("CISA SCuBA MS.AAD.1.1v1", SCUBA_AAD),
    ),
    why="Oude protocollen (IMAP, POP, oude Outlook) vragen geen MFA. Aanvallers proberen "
    "wachtwoorden juist via die weg.",
    fix="Conditional Access-sjabloon 'Block legacy authentication' voor alle gebruikers.",
    fix_free=FIX_FREE,
    evaluate=evaluate_legacy,
)

WEAK_METHODS = Check(
    id="mfa.weak_methods_disabled",
    title="SMS en spraakoproep uitgeschakeld",
    area=Area.MFA,
    severity=Severity.MEDIUM,
    datasets=("authenticationMethodsPolicy",),
    basismaatregelen=(9,),
    norms=("SM.02",),
    threshold="SMS en Voice uit in het beleid voor verificatiemethoden (e-mail liefst ook)",
    sources=(
        src("CISA SCuBA MS.AAD.3.5v2", SCUBA_AAD),
        src("CIS Microsoft 365 Foundations 5.2.3.5", CIS),
    ),
    why="Sms-codes en telefoontjes zijn te onderscheppen of om te leiden. De Authenticator-app "
    "of een beveiligingssleutel is veel sterker en kost niets.",
    fix="Entra > Protection > Authentication methods > Policies: zet SMS en Voice call op Uit "
    "nadat gebruikers de Authenticator-app hebben geregistreerd (registratiecampagne).",
    evaluate=evaluate_weak_methods,
)

AUTHENTICATOR = Check(
    id="mfa.authenticator_context",
    title="Authenticator toont app en locatie bij aanmelden",
    area=Area.MFA,
    severity=Severity.MEDIUM,
    datasets=("authenticationMethodsPolicy",),
    basismaatregelen=(9,),
    norms=("SM.02",),
    threshold="displayAppInformationRequiredState en displayLocationInformationRequiredState aan",
    sources=(src("CIS Microsoft 365 Foundations 5.2.3.1", CIS), src("EIDSCA AM06/AM09", EIDSCA)),
    why="Met de app-naam en de locatie in de melding ziet een medewerker dat een verzoek niet "
    "van hemzelf komt en keurt hij het niet goed.",
    fix="Entra > Authentication methods > Microsoft Authenticator > Configure: 'Show application "
    "name' en 'Show geographic location' op Enabled voor alle gebruikers.",
    evaluate=evaluate_authenticator,
)

PHISHING = Check(
    id="mfa.phishing_resistant_admins",
    title="Beheerders hebben phishingbestendige MFA (advies)",
    area=Area.MFA,
    severity=Severity.LOW,
    datasets=("roleAssignments", "roleGroupMembers"),
    alternatives=("userRegistrationDetails", "userAuthenticationMethods"),
    basismaatregelen=(9,),
    norms=("SM.02",),
    threshold="Elke beheerder heeft FIDO2, Windows Hello of een certificaat geregistreerd",
    sources=(src("CISA SCuBA MS.AAD.3.6v1 (phishingbestendige MFA voor beheerders)", SCUBA_AAD),),
    why="Phishingsites kunnen ook MFA-codes en pushmeldingen doorzetten. Een beveiligingssleutel "
    "of Windows Hello werkt alleen op de echte Microsoft-site.",
    fix="Geef beheerders een FIDO2-sleutel of passkey (Entra > Authentication methods > "
    "Passkey (FIDO2) aan) en vraag die af met een verificatiesterkte in Conditional Access.",
    evaluate=evaluate_phishing_resistant,
)

CHECKS = [ENFORCED, ADMINS, LEGACY, WEAK_METHODS, AUTHENTICATOR, PHISHING]
