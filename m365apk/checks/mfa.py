"""Basismaatregel 9: multifactor authentication."""

from __future__ import annotations

from collections.abc import Callable

from m365apk.checks.base import (
    AffectedObject,
    Area,
    Check,
    CheckResult,
    Evidence,
    Severity,
    Source,
    Status,
    reads,
)
from m365apk.checks.base import affected as sorted_affected
from m365apk.checks.common import privileged_holders
from m365apk.checks.populations import STAFF, STUDENT, classify_users, role_holders
from m365apk.messages import Msg
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


# Which configuration in the authentication methods policy governs a registered method (Graph
# authenticationMethodConfiguration ids). Windows Hello and platform credentials are not
# governed there. A phone counts when SMS or voice is enabled.
METHOD_CONFIGS = {
    "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod": ("MicrosoftAuthenticator",),
    "#microsoft.graph.phoneAuthenticationMethod": ("Sms", "Voice"),
    "#microsoft.graph.softwareOathAuthenticationMethod": ("SoftwareOath",),
    "#microsoft.graph.fido2AuthenticationMethod": ("Fido2",),
    "#microsoft.graph.x509CertificateAuthenticationMethod": ("X509Certificate",),
}


def _enabled_for(snapshot: Snapshot) -> Callable[[str, str], bool]:
    """(user id, method type) -> may this user use this method for sign-in, per the
    authentication methods policy (methods_policy.MethodsPolicy: state, include and exclude
    targets, group members)? Registered is not usable: a method counts only when the policy
    says yes; when it cannot say (policy unread, a target group's members unread) it does not
    count, so an unknown never reads as MFA (issue 25 finding 7)."""
    from m365apk.checks.methods_policy import MethodsPolicy

    policy = MethodsPolicy(snapshot)
    known: dict[tuple[str, str], bool] = {}

    def allowed(uid: str, kind: str) -> bool:
        if kind not in STRONG_METHOD_TYPES:
            return False
        names = METHOD_CONFIGS.get(kind)
        if names is None:  # Windows Hello, platform credentials: not governed by the policy
            return True
        for name in names:
            key = (uid, name)
            if key not in known:
                known[key] = policy.usable(uid, name)[0] is True
            if known[key]:
                return True
        return False

    return allowed


def mfa_capable_users(snapshot: Snapshot) -> tuple[set[str], Msg]:
    """Ids of MFA-capable users and which source told us (its name, for a reader)."""
    report = snapshot.dataset("userRegistrationDetails")
    if report.ok:
        # isMfaCapable = registered AND allowed by the methods policy (CIS 5.2.3.4 uses it).
        source = Msg("mfa.source.registration_report")
        return {r["id"] for r in report.data if r.get("isMfaCapable")}, source
    methods = snapshot.dataset("userAuthenticationMethods")
    # Per-user methods say what is registered; the methods policy says what may be used.
    allowed = _enabled_for(snapshot)
    capable = {
        user_id
        for user_id, entries in (methods.data or {}).items()
        if any(allowed(user_id, m.get("@odata.type") or "") for m in entries)
    }
    return capable, Msg("mfa.source.user_methods")


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 100.0


def _licensed_members(snapshot: Snapshot) -> bool:
    return any(
        u.get("assignedLicenses") and (u.get("userType") or "Member") == "Member"
        for u in snapshot.dataset("users").data or []
        if u.get("accountEnabled") is not False
    )


def evaluate_registration(snapshot: Snapshot) -> CheckResult:
    populations = classify_users(snapshot)
    # Any active role, and privileged roles held through PIM eligibility: once per person.
    held = set(role_holders(snapshot)) | set(privileged_holders(snapshot))
    admins = {uid for uid in held if uid in populations}
    capable, source = mfa_capable_users(snapshot)
    methods = snapshot.dataset("userAuthenticationMethods")
    policy = snapshot.dataset("authenticationMethodsPolicy")
    if not snapshot.dataset("userRegistrationDetails").ok and not policy.ok:
        # Registered methods were read, but not whether the policy lets anyone use them.
        return CheckResult(
            check_id=REGISTRATION.id,
            status=Status.UNKNOWN,
            reason=Msg(
                "mfa.registration_coverage.policy_unread",
                status=policy.status.value,
                permission="Policy.Read.AuthenticationMethod",
            ),
        )
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
            detail=Msg.join(
                [
                    (names.get(uid) or {}).get("userPrincipalName"),  # tenant data
                    Msg("mfa.registration_coverage.admin") if uid in admins else None,
                ]
            )
            or None,
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
    if not any(p == STAFF for p in populations.values()) and _licensed_members(snapshot):
        # Licensed accounts, yet nobody recognised as staff: the licences do not say who is
        # staff (unrecognised plans), so the coverage of staff cannot be measured.
        return CheckResult(
            check_id=REGISTRATION.id,
            status=Status.UNKNOWN,
            reason=Msg("mfa.registration_coverage.staff_unknown"),
            measured=measured,
            threshold=threshold,
            evidence=evidence,
        )
    if not in_scope:
        return CheckResult(
            check_id=REGISTRATION.id,
            status=Status.NOT_APPLICABLE,
            reason=Msg("mfa.registration_coverage.nobody"),
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
        reason = Msg("mfa.registration_coverage.partial", pct=staff_pct, norm=STAFF_PASS)
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
    reads=reads(
        population="staff",
        properties={
            "users": ("accountEnabled", "userType", "assignedLicenses"),
            "userRegistrationDetails": ("id", "isMfaCapable"),
            "userAuthenticationMethods": ("@odata.type",),
            "authenticationMethodsPolicy": (
                "authenticationMethodConfigurations.state",
                "authenticationMethodConfigurations.includeTargets.id",
                "authenticationMethodConfigurations.excludeTargets.id",
            ),
        },
        judges=("methods_policy",),
    ),
    area=Area.MFA,
    severity=Severity.CRITICAL,
    datasets=("users", "subscribedSkus", "roleAssignments", "roleGroupMembers"),
    alternatives=("userRegistrationDetails", "userAuthenticationMethods"),
    optional=("authenticationMethodsPolicy", "roleEligibilitySchedules"),
    basismaatregelen=(9,),
    norms=("SM.02", "ID.01"),
    sources=(
        Source(
            # the 95% for staff (pupils shown apart) is m365apk's own line, in the threshold
            "CIS Microsoft 365 Foundations 5.2.3.4: all member users are MFA capable",
            "https://www.cisecurity.org/benchmark/microsoft_365",
        ),
        Source(
            "CISA SCuBA MS.AAD.3.6v1: phishing-resistant MFA for privileged roles",
            "https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md",
        ),
        Source(
            "Microsoft Graph: userRegistrationDetails (isMfaCapable)",
            "https://learn.microsoft.com/graph/api/authenticationmethodsroot-list-userregistrationdetails",
        ),
    ),
    evaluate=evaluate_registration,
)
