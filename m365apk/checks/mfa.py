"""Basismaatregel 9: multifactor authentication."""

from __future__ import annotations

from m365apk.checks.base import (
    AffectedObject,
    Area,
    Check,
    CheckResult,
    Evidence,
    Severity,
    Source,
    Status,
)
from m365apk.checks.base import affected as sorted_affected
from m365apk.checks.populations import STAFF, STUDENT, classify_users, role_holders
from m365apk.snapshot import Snapshot

# Registered and usable for MFA. Email and password alone are not a second factor.
STRONG_METHOD_TYPES = {
    "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
    "#microsoft.graph.phoneAuthenticationMethod",
    "#microsoft.graph.softwareOathAuthenticationMethod",
    "#microsoft.graph.fido2AuthenticationMethod",
    "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod",
    "#microsoft.graph.platformCredentialAuthenticationMethod",
    "#microsoft.graph.x509CertificateAuthenticationMethod",
}

STAFF_PASS = 95.0  # percent of staff and admins that can do MFA
STAFF_PARTIAL = 80.0


def mfa_capable_users(snapshot: Snapshot) -> tuple[set[str], str]:
    """Ids of MFA-capable users and which source told us."""
    report = snapshot.dataset("userRegistrationDetails")
    if report.ok:
        # isMfaCapable = registered AND allowed by the methods policy (CIS 5.2.3.4 uses it).
        return {r["id"] for r in report.data if r.get("isMfaCapable")}, "registratierapport"
    methods = snapshot.dataset("userAuthenticationMethods")
    capable = {
        user_id
        for user_id, entries in (methods.data or {}).items()
        if any(m.get("@odata.type") in STRONG_METHOD_TYPES for m in entries)
    }
    return capable, "authenticatiemethoden per gebruiker"


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 100.0


def evaluate_registration(snapshot: Snapshot) -> CheckResult:
    populations = classify_users(snapshot)
    admins = {uid for uid in role_holders(snapshot) if uid in populations}
    capable, source = mfa_capable_users(snapshot)
    methods = snapshot.dataset("userAuthenticationMethods")
    if not snapshot.dataset("userRegistrationDetails").ok:
        # Per-user reads cover only the accounts they were asked for.
        readable = set(methods.data or {})
        populations = {uid: p for uid, p in populations.items() if uid in readable}
        admins &= readable

    in_scope = {uid for uid, p in populations.items() if p == STAFF} | admins
    students = [uid for uid, p in populations.items() if p == STUDENT]
    missing_scope = sorted(in_scope - capable)
    admins_missing = sorted(admins - capable)
    staff_pct = _percent(len(in_scope) - len(missing_scope), len(in_scope))
    student_pct = _percent(sum(uid in capable for uid in students), len(students))

    names = {u["id"]: u for u in snapshot.dataset("users").data or []}
    objects = [
        AffectedObject(
            id=uid,
            display_name=(names.get(uid) or {}).get("displayName"),
            detail=((names.get(uid) or {}).get("userPrincipalName") or "")
            + (" (beheerder)" if uid in admins else ""),
        )
        for uid in missing_scope
    ]
    shown, total = sorted_affected(objects)
    evidence = Evidence(
        counts={
            "medewerkers_en_beheerders": len(in_scope),
            "zonder_mfa": len(missing_scope),
            "beheerders": len(admins),
            "beheerders_zonder_mfa": len(admins_missing),
            "leerlingen": len(students),
            "leerlingen_met_mfa": sum(uid in capable for uid in students),
        },
        affected=shown,
        affected_total=total,
    )
    measured = {"medewerkers_pct": staff_pct, "leerlingen_pct": student_pct, "bron": source}
    threshold = (
        f"≥ {STAFF_PASS:g}% van medewerkers en beheerders kan MFA gebruiken, en elke beheerder"
    )
    if not in_scope:
        return CheckResult(
            check_id=REGISTRATION.id,
            status=Status.NOT_APPLICABLE,
            reason="Geen actieve medewerker- of beheerdersaccounts gevonden.",
            measured=measured,
            threshold=threshold,
            evidence=evidence,
        )
    if admins_missing or staff_pct < STAFF_PARTIAL:
        status = Status.FAIL
    elif staff_pct < STAFF_PASS:
        status = Status.PARTIAL
    else:
        status = Status.PASS
    reason = None
    if status is Status.PARTIAL:
        reason = f"{staff_pct:g}% kan MFA gebruiken; de APK-norm is {STAFF_PASS:g}%."
    return CheckResult(
        check_id=REGISTRATION.id,
        status=status,
        reason=reason,
        measured=measured,
        threshold=threshold,
        evidence=evidence,
    )


REGISTRATION = Check(
    id="mfa.registration_coverage",
    title="MFA-registratie van medewerkers en beheerders",
    area=Area.MFA,
    severity=Severity.CRITICAL,
    datasets=("users", "subscribedSkus", "roleAssignments", "roleGroupMembers"),
    alternatives=("userRegistrationDetails", "userAuthenticationMethods"),
    basismaatregelen=(9,),
    norms=("SM.02", "ID.01"),
    threshold=f"≥ {STAFF_PASS:g}% van actieve medewerkers en beheerders MFA-geschikt; "
    "alle beheerders MFA-geschikt",
    sources=(
        Source(
            "CIS Microsoft 365 Foundations 5.2.3.4: alle member-gebruikers MFA-geschikt "
            "(m365apk hanteert 95% voor medewerkers; leerlingen worden apart getoond)",
            "https://www.cisecurity.org/benchmark/microsoft_365",
        ),
        Source(
            "CISA SCuBA MS.AAD.3.6v1: beheerders gebruiken sterke MFA",
            "https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md",
        ),
        Source(
            "Microsoft Graph: userRegistrationDetails (isMfaCapable)",
            "https://learn.microsoft.com/graph/api/authenticationmethodsroot-list-userregistrationdetails",
        ),
    ),
    why=(
        "Een gestolen wachtwoord is genoeg om in een account zonder MFA te komen, en daarmee "
        "bij leerlinggegevens, e-mail en documenten. Met MFA is een wachtwoord alleen niet "
        "genoeg. Medewerkers en beheerders hebben toegang tot de meeste gegevens."
    ),
    fix=(
        "Laat medewerkers MFA registreren (Microsoft Authenticator) via "
        "https://aka.ms/mysecurityinfo. In het Entra-beheercentrum: Protection > "
        "Authentication methods > Registration campaign aanzetten, en MFA afdwingen met "
        "beveiligingsstandaarden (A1) of een voorwaardelijke-toegangsbeleid (A3/A5). "
        "Beheerders eerst, bij voorkeur met een FIDO2-sleutel of passkey."
    ),
    evaluate=evaluate_registration,
)
