"""Basismaatregel 9: is MFA enforced (not just registered), for everyone and for admins, and
are the weak ways around it closed (legacy authentication, SMS and voice)?"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from m365apk.checks import trust
from m365apk.checks.base import (
    AffectedObject,
    Area,
    Check,
    CheckResult,
    Severity,
    Status,
    reads,
)
from m365apk.checks.common import (
    CIS,
    EIDSCA,
    PRIVILEGED_ROLES,
    SCUBA_AAD,
    approved,
    make,
    obj,
    privileged_holders,
    role_text,
    src,
    unread_eligibility,
    users,
)
from m365apk.checks.conditional_access import (
    APPROVED,
    COVERED,
    LEGACY,
    MFA,
    NOBODY,
    NONE,
    PARTIAL,
    PROPERTIES,
    UNKNOWN,
    Engine,
    phrases,
    role_name,
    sentence,
    undetermined,
    who_gaps,
)
from m365apk.checks.methods_migration import legacy_still_counts
from m365apk.checks.methods_policy import MethodsPolicy
from m365apk.checks.mfa import mfa_capable_users
from m365apk.checks.people import ROLE_PROPERTIES, accounts, admins, nobody_enabled
from m365apk.checks.populations import unexpanded_role_groups
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

CA_DOCS = (
    "https://learn.microsoft.com/entra/identity/conditional-access/policy-all-users-mfa-strength"
)
SD_DOCS = "https://learn.microsoft.com/entra/fundamentals/security-defaults"

# Per-user (legacy) MFA is not in Graph v1.0 (beta only: /users/{id}/authentication/
# requirements). Decision: with conditional access in use, CA is what counts (CIS 5.1.2.1 wants
# per-user MFA off then). Without security defaults and without any enabled CA policy, per-user
# MFA is the only mechanism left, so "not enforced" is claimed only for accounts that have no
# MFA method registered (nothing can ask them for a second factor, and whoever has the password
# can register one); otherwise the verdict is "niet vastgesteld" (mfa_enforcement.per_user_note).


def _without_method(snapshot: Snapshot, ids: set[str]) -> tuple[set[str], set[str]]:
    """(ids with no usable MFA method, ids whose methods were read) among `ids`."""
    capable, _ = mfa_capable_users(snapshot)
    report = snapshot.dataset("userRegistrationDetails")
    if report.ok:
        readable = {r["id"] for r in report.data or []}
    else:
        methods = snapshot.dataset("userAuthenticationMethods")
        readable = set(methods.data or {}) if methods.ok else set()
    readable &= ids
    return readable - capable, readable


def _no_mechanism(
    cid: str, snapshot: Snapshot, ids: set[str], who: str, threshold: str
) -> CheckResult:
    """Neither security defaults nor conditional access: only accounts without any MFA method
    are shown not to be asked for MFA; for the rest it cannot be established (per-user MFA)."""
    lacking, readable = _without_method(snapshot, ids)
    names = users(snapshot)
    base = Msg("mfa_enforcement.no_mechanism")
    note = Msg("mfa_enforcement.per_user_note")
    counts = {who: len(ids), "zonder_mfa_methode": len(lacking), "methoden_gelezen": len(readable)}
    if lacking:
        return make(
            cid,
            Status.FAIL,
            Msg.join([base, Msg("mfa_enforcement.without_method", n=len(lacking)), note]),
            threshold=threshold,
            counts=counts,
            objects=[
                obj(names.get(u, {"id": u}), Msg("mfa_enforcement.no_method_registered"))
                for u in lacking
            ],
        )
    return make(
        cid,
        Status.UNKNOWN,
        undetermined(Msg.join([base, note, Msg("mfa_enforcement.per_user_unseen")])),
        threshold=threshold,
        counts=counts,
    )


def _exclusion_objects(snapshot: Snapshot, found: list[Any]) -> list[AffectedObject]:
    names = users(snapshot)
    out = []
    for policy, kind, ident in found:
        # A group or guest type has no display name here: what it is, is in the detail.
        if kind == "user":
            where = Msg("mfa_enforcement.excluded_from", policy=policy.name)
            out.append(obj(names.get(ident, {"id": ident}), where))
        elif kind == "group":
            where = Msg("mfa_enforcement.group_excluded_from", policy=policy.name)
            out.append(obj({"id": ident, "displayName": ident}, where))
        elif kind == "role":
            where = Msg("mfa_enforcement.role_excluded_from", policy=policy.name)
            out.append(obj({"id": ident, "displayName": role_name(ident)}, where))
        else:
            where = Msg("mfa_enforcement.guest_type_excluded_from", policy=policy.name)
            out.append(obj({"id": ident, "displayName": ident}, where))
    return out


def _enabled_ids(snapshot: Snapshot) -> set[str]:
    return set(accounts(snapshot))


def _for_somebody(
    evaluate: Callable[[Snapshot], CheckResult],
) -> Callable[[Snapshot], CheckResult]:
    """A requirement for everyone passes only when there is somebody: with the user accounts
    read and none enabled, a pass would be 0 of 0 (not applicable instead)."""

    @functools.wraps(evaluate)
    def judged(snapshot: Snapshot) -> CheckResult:
        result = evaluate(snapshot)
        if result.status is Status.PASS and nobody_enabled(snapshot):
            return make(
                result.check_id,
                Status.NOT_APPLICABLE,
                Msg("engine.no_accounts"),
                threshold=result.threshold,
            )
        return result

    return judged


def evaluate_enforced(snapshot: Snapshot) -> CheckResult:
    cid = ENFORCED.id
    threshold = "Beveiligingsstandaarden aan, of ingeschakeld beleid: MFA voor alle gebruikers"
    engine = Engine(snapshot)
    if engine.security_defaults:
        return make(cid, Status.PASS, threshold=threshold, measured=Msg("engine.security_defaults"))
    unread = engine.ca_unread_reason
    if unread:
        return make(cid, Status.UNKNOWN, unread, threshold=threshold)
    if not engine.in_use:
        if engine.security_defaults is None:
            return make(
                cid,
                Status.UNKNOWN,
                Msg("mfa.enforced_for_all.sd_unread_no_ca"),
                threshold=threshold,
            )
        return _no_mechanism(cid, snapshot, _enabled_ids(snapshot), "actieve_accounts", threshold)
    verdict, exclusions = engine.everyone(MFA)
    notes = engine.near_misses(MFA) + engine.ignored()
    counts = {
        "beleid_dat_mfa_afdwingt": len(verdict.by),
        "niet_goedgekeurde_uitsluitingen": len(exclusions),
    }
    if verdict.state == COVERED or (verdict.state == APPROVED and not verdict.accepted):
        return make(
            cid,
            Status.PASS,
            sentence(notes),
            threshold=threshold,
            counts=counts,
            measured=", ".join(verdict.by),
        )
    if verdict.state == APPROVED:  # every sign-in covered only thanks to approved exclusions
        return make(
            cid,
            Status.ACCEPTED,
            Msg.join([trust.accepted_reason(verdict.accepted), sentence(notes)]),
            threshold=threshold,
            counts={**counts, "goedgekeurde_uitzonderingen": len(verdict.accepted)},
            measured=", ".join(verdict.by),
        )
    if verdict.state == UNKNOWN:
        return make(
            cid,
            Status.UNKNOWN,
            undetermined(sentence(verdict.gaps + notes)),
            threshold=threshold,
            counts=counts,
        )
    if engine.security_defaults is None:
        return make(
            cid,
            Status.UNKNOWN,
            Msg.join(
                [
                    Msg("mfa.enforced_for_all.sd_unread_partial"),
                    sentence(verdict.gaps + notes),
                ]
            ),
            threshold=threshold,
        )
    if verdict.state == UNKNOWN:
        return make(
            cid,
            Status.UNKNOWN,
            undetermined(sentence(verdict.gaps + notes)),
            threshold=threshold,
            counts=counts,
        )
    if verdict.state == PARTIAL:
        return make(
            cid,
            Status.PARTIAL,
            Msg.join(
                [Msg("mfa.enforced_for_all.not_every_signin"), sentence(verdict.gaps + notes)]
            ),
            threshold=threshold,
            counts=counts,
            objects=_exclusion_objects(snapshot, exclusions),
            measured=", ".join(verdict.by),
        )
    return make(
        cid,
        Status.FAIL,
        Msg.join([Msg("mfa.enforced_for_all.not_enforced"), sentence(notes)]),
        threshold=threshold,
        counts=counts,
    )


def _unread_holders(snapshot: Snapshot) -> Msg | None:
    privileged = {
        a["principalId"]
        for a in snapshot.dataset("roleAssignments").data or []
        if a["roleDefinitionId"] in PRIVILEGED_ROLES
    }
    groups = [g for g in unexpanded_role_groups(snapshot) if g in privileged]
    reasons = []
    if groups:
        reasons.append(Msg("mfa.enforced_for_admins.groups_unread", n=len(groups)))
    eligible = unread_eligibility(snapshot)
    if eligible:
        reasons.append(eligible)
    return phrases(reasons)


def evaluate_admins(snapshot: Snapshot) -> CheckResult:
    cid = ADMINS.id
    threshold = "Elke beheerder (actief of in aanmerking via PIM) valt onder afgedwongen MFA"
    holders = admins(snapshot)
    engine = Engine(snapshot, population=set(holders))  # approvals bounded by the admins
    if not holders:
        why = phrases([_unread_holders(snapshot)])
        return make(
            cid,
            Status.UNKNOWN,
            undetermined(Msg.join([Msg("mfa.enforced_for_admins.no_admins"), why])),
            threshold=threshold,
        )
    if engine.security_defaults:
        return make(
            cid,
            Status.PASS,
            threshold=threshold,
            measured=Msg("engine.security_defaults"),
            counts={"beheerders": len(holders)},
        )
    unread = engine.ca_unread_reason
    if unread:
        return make(cid, Status.UNKNOWN, unread, threshold=threshold)
    if not engine.in_use and engine.security_defaults is False:
        return _no_mechanism(cid, snapshot, set(holders), "beheerders", threshold)
    groups: dict[str, list[AffectedObject]] = {NONE: [], PARTIAL: [], UNKNOWN: []}
    gaps: list[str] = []
    approved_n = 0
    accepted: list[trust.Grant] = []
    for holder in holders.values():
        verdict = engine.person(holder, MFA)
        if verdict.state == APPROVED:
            approved_n += 1
            accepted += verdict.accepted
        if verdict.state in groups:
            detail = who_gaps(role_text(holder.record), verdict.gaps) or ""
            groups[verdict.state].append(obj(holder.record, detail))
            gaps += verdict.gaps
    counts = {
        "beheerders": len(holders),
        "zonder_afgedwongen_mfa": len(groups[NONE]),
        "alleen_beperkt_beleid": len(groups[PARTIAL]),
        "onbepaald": len(groups[UNKNOWN]),
        "goedgekeurde_uitzonderingen": approved_n,
    }
    objects = groups[NONE] + groups[PARTIAL] + groups[UNKNOWN]
    missing = _unread_holders(snapshot)
    notes = engine.near_misses(MFA) + engine.ignored()
    if groups[NONE]:
        return make(
            cid,
            Status.FAIL,
            Msg.join(
                [
                    Msg("mfa.enforced_for_admins.not_covered", n=len(groups[NONE])),
                    sentence(gaps + notes),
                ]
            ),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    if groups[PARTIAL]:
        return make(
            cid,
            Status.PARTIAL,
            Msg.join(
                [
                    Msg("mfa.enforced_for_admins.partly_covered", n=len(groups[PARTIAL])),
                    sentence(gaps + notes),
                ]
            ),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    if groups[UNKNOWN] or missing or engine.security_defaults is None:
        why = [g for g in gaps] + ([missing] if missing else [])
        if engine.security_defaults is None:
            why.append(Msg("mfa_enforcement.sd_unread"))
        return make(
            cid,
            Status.UNKNOWN,
            undetermined(sentence(why)),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    if accepted:  # every admin covered, some only thanks to approved exclusions
        return make(
            cid,
            Status.ACCEPTED,
            Msg.join([trust.accepted_reason(accepted), sentence(notes)]),
            threshold=threshold,
            counts=counts,
        )
    return make(cid, Status.PASS, sentence(notes), threshold=threshold, counts=counts)


def evaluate_legacy(snapshot: Snapshot) -> CheckResult:
    cid = LEGACY_CHECK.id
    threshold = "Verouderde verificatie (Exchange ActiveSync en 'other clients') geblokkeerd"
    engine = Engine(snapshot)
    if engine.security_defaults:
        return make(cid, Status.PASS, threshold=threshold, measured=Msg("engine.security_defaults"))
    unread = engine.ca_unread_reason
    if unread:
        return make(cid, Status.UNKNOWN, unread, threshold=threshold)
    verdict, exclusions = engine.everyone(LEGACY)
    notes = engine.near_misses(LEGACY) + engine.ignored()
    if verdict.state == COVERED or (verdict.state == APPROVED and not verdict.accepted):
        return make(cid, Status.PASS, threshold=threshold, measured=", ".join(verdict.by))
    if verdict.state == APPROVED:
        return make(
            cid,
            Status.ACCEPTED,
            Msg.join([trust.accepted_reason(verdict.accepted), sentence(notes)]),
            threshold=threshold,
            measured=", ".join(verdict.by),
        )
    if verdict.state == UNKNOWN:
        return make(
            cid, Status.UNKNOWN, undetermined(sentence(verdict.gaps + notes)), threshold=threshold
        )
    if engine.security_defaults is None:
        return make(
            cid,
            Status.UNKNOWN,
            Msg.join([Msg("mfa.legacy_auth_blocked.sd_unread"), sentence(verdict.gaps + notes)]),
            threshold=threshold,
        )
    if verdict.state == UNKNOWN:
        return make(
            cid, Status.UNKNOWN, undetermined(sentence(verdict.gaps + notes)), threshold=threshold
        )
    if verdict.state == PARTIAL:
        return make(
            cid,
            Status.PARTIAL,
            Msg.join(
                [Msg("mfa.legacy_auth_blocked.not_everywhere"), sentence(verdict.gaps + notes)]
            ),
            threshold=threshold,
            objects=_exclusion_objects(snapshot, exclusions),
            measured=", ".join(verdict.by),
        )
    return make(
        cid,
        Status.FAIL,
        Msg.join([Msg("mfa.legacy_auth_blocked.not_blocked"), sentence(notes)]),
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
            Msg("mfa.weak_methods_disabled.enabled", methods=", ".join(enabled)),
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
            Msg("mfa.weak_methods_disabled.migration_open"),
            threshold=threshold,
            counts=counts,
        )
    if email:
        return make(
            cid,
            Status.PARTIAL,
            Msg("mfa.weak_methods_disabled.email_on"),
            threshold=threshold,
            counts=counts,
        )
    return make(cid, Status.PASS, threshold=threshold, counts=counts)


def evaluate_authenticator(snapshot: Snapshot) -> CheckResult:
    """A context setting counts only when it is on for all users and excludes nobody outside
    the approved exclusions (EIDSCA AM06/AM07, AM09/AM10; CIS 5.2.3.1). Not applicable when the
    Authenticator method is off: there are no push notifications to add context to (ScubaGear
    MS.AAD.3.3v2 does the same)."""
    cid = AUTHENTICATOR.id
    config = _method(snapshot, "MicrosoftAuthenticator")
    features = config.get("featureSettings") or {}
    threshold = "Authenticator toont app-naam en locatie bij een aanmeldverzoek, voor iedereen"
    if config.get("state") != "enabled":
        return make(
            cid,
            Status.NOT_APPLICABLE,
            Msg("mfa.authenticator_context.off"),
            threshold=threshold,
        )
    ok = approved(snapshot)
    grants = trust.approvals(snapshot).people  # approved exclusions: accepted, never pass
    accepted: list[trust.Grant] = []
    states: dict[str, str] = {}
    problems = []
    unread = []  # a setting Graph did not give is no setting: never judged as "off"
    for name, key in (
        ("app", "displayAppInformationRequiredState"),
        ("locatie", "displayLocationInformationRequiredState"),
    ):
        feature = features.get(key) or {}
        state = feature.get("state")
        feature_name = Msg(f"mfa.authenticator_context.feature.{name}")
        if state is None or (state == "enabled" and not feature.get("includeTarget")):
            states[name] = Msg("mfa.authenticator_context.measured.unread")
            unread.append(feature_name)
            continue
        include = (feature.get("includeTarget") or {}).get("id") or "all_users"
        exclude = (feature.get("excludeTarget") or {}).get("id") or NOBODY
        states[name] = state
        if state != "enabled":
            problems.append(
                Msg("mfa.authenticator_context.state", feature=feature_name, state=state)
            )
        elif include != "all_users":
            states[name] = Msg("mfa.authenticator_context.measured.group_only")
            problems.append(
                Msg("mfa.authenticator_context.group_only", feature=feature_name, group=include)
            )
        elif exclude not in (NOBODY, "") and exclude not in ok:
            states[name] = Msg("mfa.authenticator_context.measured.with_exclusion")
            problems.append(
                Msg("mfa.authenticator_context.excluded", feature=feature_name, group=exclude)
            )
        elif exclude in grants:
            accepted.append(grants[exclude])
    if problems:
        return make(
            cid,
            Status.FAIL,
            Msg("mfa.authenticator_context.not_for_everyone", problems=phrases(problems)),
            threshold=threshold,
            measured=states,
        )
    if unread:
        return make(
            cid,
            Status.UNKNOWN,
            Msg("mfa.authenticator_context.unread", features=unread),
            threshold=threshold,
            measured=states,
        )
    if accepted:
        return make(
            cid,
            Status.ACCEPTED,
            trust.accepted_reason(accepted),
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
# Which configuration of the authentication methods policy allows a registered method (Graph's
# configuration ids). Passkeys, on a key or in Authenticator, are the Fido2 (passkey)
# configuration; Windows Hello for Business and platform credentials are not governed there.
PHISHING_RESISTANT_CONFIG = {
    "#microsoft.graph.fido2AuthenticationMethod": "Fido2",
    "#microsoft.graph.x509CertificateAuthenticationMethod": "X509Certificate",
    "fido2": "Fido2",
    "passKeyDeviceBound": "Fido2",
    "passKeyDeviceBoundAuthenticator": "Fido2",
    "x509Certificate": "X509Certificate",
}
STRONG, WITHOUT, OPEN = "strong", "without", "open"


def _registered_strong(snapshot: Snapshot) -> dict[str, set[str]]:
    """User id -> the phishing-resistant methods registered (report names or @odata.types),
    for every person whose methods were read; a person missing here was not read."""
    report = snapshot.dataset("userRegistrationDetails")
    if report.ok:
        return {
            r["id"]: set(r.get("methodsRegistered") or []) & PHISHING_RESISTANT_REPORT
            for r in report.data or []
        }
    methods = snapshot.dataset("userAuthenticationMethods")
    return {
        uid: {m.get("@odata.type") or "" for m in entries} & PHISHING_RESISTANT
        for uid, entries in ((methods.data or {}).items() if methods.ok else ())
    }


def _phishing_standing(
    registered: set[str] | None, policy: MethodsPolicy, uid: str
) -> tuple[str, list[str | None]]:
    """(strong | without | open, why): a registered method counts only when the authentication
    methods policy lets this person use it (issue 25, finding 7)."""
    if registered is None:
        return OPEN, [Msg("mfa.phishing_resistant_admins.methods_unread")]
    if not registered:
        return WITHOUT, [Msg("mfa.phishing_resistant_admins.none_registered")]
    why: list[str | None] = []
    state = WITHOUT
    for method in sorted(registered):
        name = PHISHING_RESISTANT_CONFIG.get(method)
        if name is None:  # not governed by the methods policy: usable as registered
            return STRONG, []
        usable, reason = policy.usable(uid, name)
        if usable:
            return STRONG, []
        if usable is None:
            state = OPEN
        why.append(reason)
    return state, why


def evaluate_phishing_resistant(snapshot: Snapshot) -> CheckResult:
    cid = PHISHING.id
    holders = privileged_holders(snapshot)
    threshold = (
        "Elke beheerder heeft een phishingbestendige methode (FIDO2, Windows Hello) die het "
        "beleid voor verificatiemethoden toestaat"
    )
    if not holders:
        # Every tenant has a Global Administrator: none found means the roles were not all
        # read (issue 25, finding 8: zero is not everything), never "nothing to judge".
        return make(
            cid,
            Status.UNKNOWN,
            Msg("mfa.phishing_resistant_admins.no_admins_found"),
            threshold=threshold,
        )
    policy = MethodsPolicy(snapshot)
    registered = _registered_strong(snapshot)
    found: dict[str, list[AffectedObject]] = {STRONG: [], WITHOUT: [], OPEN: []}
    reasons: list[str | None] = []
    for uid, holder in holders.items():
        state, why = _phishing_standing(registered.get(uid), policy, uid)
        if state != STRONG:
            found[state].append(obj(holder, who_gaps(role_text(holder), why) or ""))
            if registered.get(uid):  # what the methods policy does not allow, named once
                reasons += why
        else:
            found[STRONG].append(obj(holder))
    missing, open_ = found[WITHOUT], found[OPEN]
    counts = {
        "beheerders": len(holders),
        "zonder_phishingbestendige_methode": len(missing),
        "onbepaald": len(open_),
    }
    objects = missing + open_
    if missing and found[STRONG]:
        return make(
            cid,
            Status.PARTIAL,
            Msg.join([Msg("mfa.phishing_resistant_admins.not_all_usable"), sentence(reasons)]),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    if missing and not open_:
        return make(
            cid,
            Status.FAIL,
            Msg.join([Msg("mfa.phishing_resistant_admins.none_usable"), sentence(reasons)]),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    unread = _unread_holders(snapshot)
    if open_ or unread:
        if open_ and not reasons:
            reasons.append(Msg("mfa.phishing_resistant_admins.methods_unread"))
        return make(
            cid,
            Status.UNKNOWN,
            undetermined(sentence(reasons + ([unread] if unread else []))),
            threshold=threshold,
            counts=counts,
            objects=objects,
        )
    return make(cid, Status.PASS, threshold=threshold, counts=counts)


# Security defaults decide first; CA policies are needed only when they are off. Group members
# for CA groups and registration data (for the per-user MFA decision) are read when available.
SD_OR_CA = ("securityDefaults", "conditionalAccessPolicies")
CA_EXTRA = ("conditionalAccessGroupMembers",)
# What bounds the trust in break-glass entries (checks/trust.py): last sign-ins and who holds
# Global Administrator.
TRUST_DATA = ("userSignInActivity", "roleAssignments", "roleGroupMembers")
TRUSTED_PROPERTIES = {
    "users": ("accountEnabled", "onPremisesSyncEnabled", "userType"),
    "userSignInActivity": ("signInActivity.lastSignInDateTime",),
}
REGISTRATION_DATA = ("userRegistrationDetails", "userAuthenticationMethods")


def _merged(*parts: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Declared properties per dataset, added up (a dataset named twice keeps both lists)."""
    out: dict[str, tuple[str, ...]] = {}
    for part in parts:
        for name, props in part.items():
            out[name] = tuple(dict.fromkeys(out.get(name, ()) + props))
    return out


TRUSTED = ("approved_exclusions", "break_glass")
METHODS = {"authenticationMethodsPolicy": ("authenticationMethodConfigurations",)}

ENFORCED = Check(
    id="mfa.enforced_for_all",
    area=Area.MFA,
    severity=Severity.CRITICAL,
    datasets=("users",),
    alternatives=SD_OR_CA,
    optional=CA_EXTRA + REGISTRATION_DATA + TRUST_DATA,
    basismaatregelen=(9,),
    norms=("SM.02", "ID.01"),
    sources=(
        src("CIS Microsoft 365 Foundations 5.2.2.2 (MFA for all users)", CIS),
        src("CISA SCuBA MS.AAD.3.2v2", SCUBA_AAD),
        src("Microsoft: security defaults", SD_DOCS),
    ),
    evaluate=_for_somebody(evaluate_enforced),
    reads=reads(
        population="users",
        settings=TRUSTED,
        properties=_merged(PROPERTIES, {"users": ("accountEnabled",)}, TRUSTED_PROPERTIES),
        judges=("conditional_access",),
    ),
)

ADMINS = Check(
    id="mfa.enforced_for_admins",
    area=Area.MFA,
    severity=Severity.CRITICAL,
    datasets=("users", "roleAssignments", "roleGroupMembers"),
    alternatives=SD_OR_CA,
    optional=CA_EXTRA
    + REGISTRATION_DATA
    + ("roleEligibilitySchedules", "pimGroupEligibility", "userSignInActivity"),
    basismaatregelen=(9, 4),
    norms=("SM.02", "SM.13"),
    sources=(
        src("CIS Microsoft 365 Foundations 5.2.2.1", CIS),
        src("Maester MT.1006 (MFA for admins)", "https://maester.dev/docs/tests/MT.1006"),
    ),
    evaluate=evaluate_admins,
    reads=reads(
        population="admins",
        settings=TRUSTED,
        properties=_merged(PROPERTIES, ROLE_PROPERTIES, TRUSTED_PROPERTIES),
        judges=("conditional_access",),
    ),
)

LEGACY_CHECK = Check(
    id="mfa.legacy_auth_blocked",
    area=Area.MFA,
    severity=Severity.HIGH,
    datasets=("users",),
    alternatives=SD_OR_CA,
    optional=CA_EXTRA + TRUST_DATA,
    basismaatregelen=(9, 5),
    norms=("SM.02", "SM.11"),
    sources=(
        src("CIS Microsoft 365 Foundations 5.2.2.3", CIS),
        src("CISA SCuBA MS.AAD.1.1v1", SCUBA_AAD),
    ),
    evaluate=_for_somebody(evaluate_legacy),
    reads=reads(
        population="users",
        settings=TRUSTED,
        properties=_merged(PROPERTIES, TRUSTED_PROPERTIES),
        judges=("conditional_access",),
    ),
)

WEAK_METHODS = Check(
    id="mfa.weak_methods_disabled",
    area=Area.MFA,
    severity=Severity.MEDIUM,
    datasets=("authenticationMethodsPolicy",),
    basismaatregelen=(9,),
    norms=("SM.02",),
    sources=(
        src("CISA SCuBA MS.AAD.3.5v2", SCUBA_AAD),
        src("CIS Microsoft 365 Foundations 5.2.3.5", CIS),
    ),
    evaluate=evaluate_weak_methods,
    reads=reads(properties=METHODS, judges=("methods_policy",)),
)

AUTHENTICATOR = Check(
    id="mfa.authenticator_context",
    area=Area.MFA,
    severity=Severity.MEDIUM,
    datasets=("authenticationMethodsPolicy",),
    basismaatregelen=(9,),
    norms=("SM.02",),
    sources=(src("CIS Microsoft 365 Foundations 5.2.3.1", CIS), src("EIDSCA AM06/AM09", EIDSCA)),
    evaluate=evaluate_authenticator,
    reads=reads(
        settings=("approved_exclusions", "break_glass"),
        properties=METHODS,
        judges=("methods_policy",),
    ),
)

PHISHING = Check(
    id="mfa.phishing_resistant_admins",
    area=Area.MFA,
    severity=Severity.LOW,
    datasets=("roleAssignments", "roleGroupMembers", "authenticationMethodsPolicy"),
    alternatives=("userRegistrationDetails", "userAuthenticationMethods"),
    # Who may use a method: members of the groups the methods policy (and CA) targets.
    optional=("methodsPolicyGroupMembers", "users", "roleEligibilitySchedules") + CA_EXTRA,
    basismaatregelen=(9,),
    norms=("SM.02",),
    sources=(
        src("CISA SCuBA MS.AAD.3.6v1 (phishing-resistant MFA for privileged roles)", SCUBA_AAD),
        src("Maester EIDSCA AF01 (passkeys enabled)", EIDSCA),
    ),
    evaluate=evaluate_phishing_resistant,
    reads=reads(
        population="admins",
        properties={
            **ROLE_PROPERTIES,
            "userRegistrationDetails": ("methodsRegistered",),
            "authenticationMethodsPolicy": (
                "authenticationMethodConfigurations.state",
                "authenticationMethodConfigurations.includeTargets",
                "authenticationMethodConfigurations.excludeTargets",
            ),
        },
        judges=("methods_policy",),
    ),
)

CHECKS = [ENFORCED, ADMINS, LEGACY_CHECK, WEAK_METHODS, AUTHENTICATOR, PHISHING]
