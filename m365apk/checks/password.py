"""Basismaatregelen 4 and 9: password policy, self-service password reset, and what ordinary
users may do with applications (register them, consent to them)."""

from __future__ import annotations

from typing import Any

from m365apk.checks.base import (
    Area,
    CheckResult,
    Severity,
    Status,
    check_family,
    read_setting,
    reads,
)
from m365apk.checks.common import CIS, EIDSCA, SCUBA_AAD, make, obj, pct, src, users
from m365apk.checks.populations import STAFF, classify_users, enabled_unknown
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

NEVER = 2147483647  # Graph's "never expires"
PASSWORD_RULES = "5cf42378-d67d-4f36-ba46-e8b86229381d"  # template "Password Rule Settings"


# domain.authenticationType: Graph documents these two (a plain string, not an enum).
AUTH_TYPES = ("Managed", "Federated")


def evaluate_expiry(snapshot: Snapshot) -> CheckResult:
    cid = EXPIRY.id
    finite, unset, undetermined = [], [], []
    judged = 0
    domains = snapshot.dataset("domains").data or []
    for d in domains:
        kind = d.get("authenticationType")
        if kind not in AUTH_TYPES:
            # Absent, null or a type Graph does not document: managed or not is not known.
            undetermined.append(
                obj(
                    {"id": d["id"], "displayName": d["id"]},
                    Msg("password.expiry.type_unknown", value=repr(kind)),
                )
            )
            continue
        # isVerified absent: judged as verified (an unverified domain's setting is harmless to
        # judge; a verified one left out could hide a finite expiry).
        if kind != "Managed" or d.get("isVerified") is False:
            continue  # federated domains: the policy lives in on-premises AD
        if d.get("isRoot") is False:
            # A subdomain cannot set its own expiry: it inherits its root domain's value (null
            # here), and the root is judged itself (ScubaGear AADConfig.rego does the same).
            continue
        judged += 1
        days = d.get("passwordValidityPeriodInDays")
        if days is None:
            unset.append(d)
        elif days != NEVER:
            finite.append(
                obj(
                    {"id": d["id"], "displayName": d["id"]},
                    Msg("password.expiry.expires_after", days=days),
                )
            )
    threshold = "Wachtwoorden verlopen niet (passwordValidityPeriodInDays = 2147483647)"
    counts = {
        "domeinen_beoordeeld": judged,
        "domeinen_met_verloop": len(finite),
        "domeinen_niet_ingesteld": len(unset),
        "domeinen_type_onbekend": len(undetermined),
    }
    orgs = snapshot.dataset("organization").data or []
    hybrid = any(o.get("onPremisesSyncEnabled") for o in orgs)
    scope = Msg("password.expiry.cloud_only") if hybrid else None
    if finite:
        return make(
            cid,
            Status.FAIL,
            Msg.join([Msg("password.expiry.expires"), scope]),
            threshold=threshold,
            counts=counts,
            objects=finite,
        )
    if undetermined:
        return make(
            cid,
            Status.UNKNOWN,
            Msg("password.expiry.undetermined", n=len(undetermined)),
            threshold=threshold,
            counts=counts,
            objects=undetermined,
        )
    if not domains:
        # Every tenant has at least its initial onmicrosoft.com domain: an empty list is not
        # Graph's whole answer.
        return make(cid, Status.UNKNOWN, Msg("password.expiry.no_domains"), threshold=threshold)
    if not judged:
        # Measured: every domain is federated (or a subdomain of one); the policy is on-premises.
        return make(
            cid,
            Status.NOT_APPLICABLE,
            Msg("password.expiry.all_federated"),
            threshold=threshold,
            counts=counts,
        )
    if unset:
        # Graph documents 90 days for an unset (null) value; CISA says newer tenants treat it
        # as "never". We cannot tell which applies: not determined (a null is not a value, and
        # no verdict may rest on one), and say what settles it.
        reason = Msg.join([Msg("password.expiry.unset"), scope])
        return make(cid, Status.UNKNOWN, reason, threshold=threshold, counts=counts)
    return make(cid, Status.PASS, scope, threshold=threshold, counts=counts)


def _setting(snapshot: Snapshot, template: str) -> dict[str, str | None] | None:
    """The values of the tenant's settings object from `template` (None: there is none, which
    means Microsoft's defaults); a null value stays None, never the text "None"."""
    for s in snapshot.dataset("groupSettings").data or []:
        if s.get("templateId") == template:
            return {
                v["name"]: None if v.get("value") is None else str(v["value"])
                for v in s.get("values") or []
            }
    return None


def _rule(
    snapshot: Snapshot, rules: dict[str, str | None], name: str, parse: Any
) -> tuple[Any, Msg | None]:
    """One value of the Password Rule Settings object, parsed, or why it cannot be judged: a
    settings object made from the template holds every value, so an absent or null one, or one
    that does not parse, is not assumed to be the default."""
    source = snapshot.dataset("groupSettings").endpoint or "groupSettings"
    where = f"Password Rule Settings: {name}"
    if name not in rules:
        absent = Msg("data.property_absent", property=where, source=source)
        return None, Msg.join([absent, Msg("data.property_settle")])
    raw = rules[name]
    if raw is None:
        return None, Msg("data.property_null", property=where, source=source)
    try:
        return parse(raw), None
    except ValueError:
        return None, Msg(
            "data.property_unknown_value", property=where, source=source, value=repr(raw)
        )


def _boolean(raw: str) -> bool:
    if raw.lower() not in ("true", "false"):
        raise ValueError(raw)
    return raw.lower() == "true"


def evaluate_banned(snapshot: Snapshot) -> CheckResult:
    cid = BANNED.id
    rules = _setting(snapshot, PASSWORD_RULES)
    threshold = "Eigen lijst met verboden wachtwoorden aan en gevuld"
    if snapshot.licences.known and snapshot.licences.entra_plan == "free":
        return make(
            cid,
            Status.NOT_LICENSED,
            Msg("password.banned_list.free"),
            threshold=threshold,
        )
    if rules is None:
        # No "Password Rule Settings" object means Microsoft's defaults, and the default has
        # no custom list: the same effective state as an empty list, so the same verdict.
        return make(
            cid,
            Status.FAIL,
            Msg("password.banned_list.not_set"),
            threshold=threshold,
            counts={"woorden": 0},
        )
    # An empty list may come as "" or null: either way no word is on it.
    words = [w for w in (rules.get("BannedPasswordList") or "").split("\t") if w]
    enabled, problem = _rule(snapshot, rules, "EnableBannedPasswordCheck", _boolean)
    if enabled and words:
        return make(cid, Status.PASS, threshold=threshold, counts={"woorden": len(words)})
    if problem is not None and words:
        return make(
            cid, Status.UNKNOWN, problem, threshold=threshold, counts={"woorden": len(words)}
        )
    return make(
        cid,
        Status.FAIL,
        Msg("password.banned_list.off_or_empty"),
        threshold=threshold,
        counts={"woorden": len(words)},
    )


def evaluate_lockout(snapshot: Snapshot) -> CheckResult:
    cid = LOCKOUT.id
    rules = _setting(snapshot, PASSWORD_RULES)
    threshold = "Slimme vergrendeling na hoogstens 10 pogingen, minstens 60 seconden"
    if rules is None:
        # No settings object: Entra's defaults apply, 10 attempts and 60 seconds.
        measured = {"drempel": 10, "duur_s": 60, "standaard": True}
        note = Msg("password.smart_lockout.defaults")
        return make(cid, Status.PASS, note, threshold=threshold, measured=measured)
    threshold_count, problem_count = _rule(snapshot, rules, "LockoutThreshold", int)
    duration, problem_duration = _rule(snapshot, rules, "LockoutDurationInSeconds", int)
    measured = {"drempel": threshold_count, "duur_s": duration, "standaard": False}
    looser = (threshold_count is not None and threshold_count > 10) or (
        duration is not None and duration < 60
    )
    if looser:
        return make(
            cid,
            Status.FAIL,
            Msg("password.smart_lockout.looser"),
            threshold=threshold,
            measured=measured,
        )
    problems = [p for p in (problem_count, problem_duration) if p is not None]
    if problems:
        return make(cid, Status.UNKNOWN, Msg.join(problems), threshold=threshold, measured=measured)
    return make(cid, Status.PASS, threshold=threshold, measured=measured)


def _sspr_grade(share: float) -> Status:
    if share >= 90:
        return Status.PASS
    return Status.PARTIAL if share >= 50 else Status.FAIL


def evaluate_sspr(snapshot: Snapshot) -> CheckResult:
    cid = SSPR.id
    threshold = "≥ 90% van de medewerkers kan zelf het wachtwoord herstellen"
    population = classify_users(snapshot)
    staff = {uid for uid, p in population.items() if p == STAFF}
    if not staff:
        # No staff is a fact only when nobody could be (no account that may sign in); otherwise
        # the licences did not say who is staff, and the share would be 0 of 0.
        if not population:
            return make(
                cid, Status.NOT_APPLICABLE, Msg("password.sspr_staff.no_staff"), threshold=threshold
            )
        return make(
            cid,
            Status.UNKNOWN,
            Msg("password.sspr_staff.staff_unknown", n=len(population)),
            threshold=threshold,
            counts={"accounts": len(population), "medewerkers": 0},
        )
    report = {
        r["id"]: r
        for r in snapshot.dataset("userRegistrationDetails").data or []
        if r["id"] in staff
    }
    # isSsprCapable = registered AND allowed by the SSPR policy. isSsprRegistered alone also
    # counts users for whom SSPR is switched off (registered through combined MFA sign-up).
    # A staff member the registration report does not list counts as unable to reset: the
    # population never shrinks to those the report happens to hold.
    capable = {uid for uid in staff if (report.get(uid) or {}).get("isSsprCapable") is True}
    share = pct(len(capable), len(staff))
    # Staff whose record lacks accountEnabled are counted (they may sign in). Whether they can
    # or not, the verdict must be the same: else it rests on them, and is not given.
    unsure = staff & enabled_unknown(snapshot)
    counts = {
        "medewerkers": len(staff),
        "kan_zelf_herstellen": len(capable),
        "niet_in_rapport": len(staff - report.keys()),
        "ingeschakeld_onbekend": len(unsure),
    }
    if unsure:
        worst = pct(len(capable - unsure), len(staff - (unsure & capable)))
        best = pct(len(capable), len(staff - (unsure - capable)))
        if worst is None or best is None or _sspr_grade(worst) is not _sspr_grade(best):
            return make(
                cid,
                Status.UNKNOWN,
                Msg("password.sspr_staff.enabled_unknown", n=len(unsure), share=share),
                threshold=threshold,
                counts=counts,
                measured=share,
            )
    names = users(snapshot)
    missing = [
        obj(
            names.get(uid, report.get(uid) or {"id": uid}),
            Msg(
                "password.sspr_staff.no_method"
                if uid in report
                else "password.sspr_staff.not_in_report"
            ),
        )
        for uid in sorted(staff)
        if (report.get(uid) or {}).get("isSsprCapable") is not True
    ]
    assert share is not None  # staff is not empty
    status = _sspr_grade(share)
    if status is Status.PASS:
        return make(cid, Status.PASS, threshold=threshold, counts=counts, measured=share)
    return make(
        cid,
        status,
        Msg("password.sspr_staff.share", share=share),
        threshold=threshold,
        counts=counts,
        measured=share,
        objects=missing,
    )


AUTHZ = "authorizationPolicy"
GRANTS = "defaultUserRolePermissions.permissionGrantPoliciesAssigned"


def evaluate_admin_sspr(snapshot: Snapshot) -> CheckResult:
    cid = ADMIN_SSPR.id
    threshold = "Beheerders kunnen hun wachtwoord niet via zelfservice herstellen"
    value, problem = read_setting(snapshot, AUTHZ, "allowedToUseSSPR", (True, False))
    if problem is not None:
        return make(cid, Status.UNKNOWN, problem, threshold=threshold)
    if value is False:
        return make(cid, Status.PASS, threshold=threshold, measured=value)
    return make(
        cid,
        Status.FAIL,
        Msg("password.admin_sspr_disabled.allowed"),
        threshold=threshold,
        measured=value,
    )


def evaluate_app_registration(snapshot: Snapshot) -> CheckResult:
    cid = APP_REGISTRATION.id
    threshold = "Gebruikers mogen geen applicaties registreren"
    value, problem = read_setting(
        snapshot, AUTHZ, "defaultUserRolePermissions.allowedToCreateApps", (True, False)
    )
    if problem is not None:
        return make(cid, Status.UNKNOWN, problem, threshold=threshold)
    if value is False:
        return make(cid, Status.PASS, threshold=threshold)
    return make(
        cid,
        Status.FAIL,
        Msg("apps.user_app_registration.allowed"),
        threshold=threshold,
    )


def evaluate_user_consent(snapshot: Snapshot) -> CheckResult:
    cid = USER_CONSENT.id
    threshold = "Gebruikers kunnen niet zelf toestemming geven aan apps (hoogstens 'low impact')"
    policies, problem = read_setting(snapshot, AUTHZ, GRANTS)
    if problem is None and not isinstance(policies, list):
        problem = Msg(
            "data.property_unknown_value",
            property=GRANTS,
            source=snapshot.dataset(AUTHZ).endpoint or AUTHZ,
            value=repr(policies),
        )
    if problem is not None:
        return make(cid, Status.UNKNOWN, problem, threshold=threshold)
    self_consent = [p for p in policies if p.startswith("ManagePermissionGrantsForSelf.")]
    if not self_consent:
        return make(cid, Status.PASS, threshold=threshold, measured=policies)
    if all(p.endswith("microsoft-user-default-low") for p in self_consent):
        return make(
            cid,
            Status.PARTIAL,
            Msg("apps.user_consent.low_impact"),
            threshold=threshold,
            measured=policies,
        )
    return make(
        cid,
        Status.FAIL,
        Msg("apps.user_consent.allowed"),
        threshold=threshold,
        measured=policies,
    )


def evaluate_consent_workflow(snapshot: Snapshot) -> CheckResult:
    cid = CONSENT_WORKFLOW.id
    threshold = "Beheerdersgoedkeuring aangezet, met beoordelaars"
    name = "adminConsentRequestPolicy"
    enabled, problem = read_setting(snapshot, name, "isEnabled", (True, False))
    policy = snapshot.dataset(name).data or {}
    reviewers = policy.get("reviewers") or []
    if enabled is False:
        return make(cid, Status.FAIL, Msg("apps.admin_consent_workflow.none"), threshold=threshold)
    if problem is not None:
        return make(cid, Status.UNKNOWN, problem, threshold=threshold)
    if reviewers:
        return make(cid, Status.PASS, threshold=threshold, counts={"beoordelaars": len(reviewers)})
    return make(
        cid,
        Status.FAIL,
        Msg("apps.admin_consent_workflow.none"),
        threshold=threshold,
    )


# Password rules protect access (4) and shrink the attack surface (5); they are not MFA (9).
# SM.13 level 3 names password rules explicitly; SM.02 covers authentication mechanisms.
_check = check_family(area=Area.PASSWORD, bm=(4, 5), norms=("SM.13", "SM.02"))


NIST = src(
    "NIST SP 800-63B 5.1.1.2 (no periodic change)",
    "https://pages.nist.gov/800-63-3/sp800-63b.html",
)

EXPIRY = _check(
    id="password.expiry",
    severity=Severity.MEDIUM,
    datasets=("domains", "organization"),
    sources=(
        src("CIS Microsoft 365 Foundations 1.3.1", CIS),
        src("CISA SCuBA MS.AAD.6.1v1", SCUBA_AAD),
        NIST,
    ),
    evaluate=evaluate_expiry,
    reads=reads(
        properties={
            "domains": (
                "authenticationType",
                "isVerified",
                "isRoot",
                "passwordValidityPeriodInDays",
            )
        }
    ),
)
BANNED = _check(
    id="password.banned_list",
    severity=Severity.MEDIUM,
    datasets=("groupSettings",),
    sources=(src("CIS Microsoft 365 Foundations 5.2.3.2", CIS), src("EIDSCA PR03", EIDSCA)),
    evaluate=evaluate_banned,
    licence="Microsoft Entra ID P1",
    reads=reads(properties={"groupSettings": ("templateId", "values")}),
)
LOCKOUT = _check(
    id="password.smart_lockout",
    severity=Severity.LOW,
    datasets=("groupSettings",),
    sources=(
        src("CIS Microsoft 365 Foundations 5.2.3.8, 5.2.3.9", CIS),
        src("EIDSCA PR05/PR06", EIDSCA),
    ),
    evaluate=evaluate_lockout,
    reads=reads(properties={"groupSettings": ("templateId", "values")}),
)
SSPR = _check(
    id="password.sspr_staff",
    severity=Severity.LOW,
    datasets=("userRegistrationDetails", "users", "subscribedSkus"),
    sources=(src("CIS Microsoft 365 Foundations 5.2.4.1", CIS),),
    evaluate=evaluate_sspr,
    licence=Msg("password.sspr_staff.licence"),
    reads=reads(
        population="staff",
        settings=("populations",),
        properties={
            "userRegistrationDetails": ("isSsprCapable",),
            "users": ("accountEnabled", "userType", "assignedLicenses"),
        },
    ),
)
ADMIN_SSPR = _check(
    id="password.admin_sspr_disabled",
    severity=Severity.LOW,
    datasets=("authorizationPolicy",),
    sources=(src("EIDSCA AP01", EIDSCA),),
    evaluate=evaluate_admin_sspr,
    reads=reads(properties={AUTHZ: ("allowedToUseSSPR",)}),
)
APP_REGISTRATION = _check(
    id="apps.user_app_registration",
    severity=Severity.MEDIUM,
    datasets=("authorizationPolicy",),
    sources=(
        src("CIS Microsoft 365 Foundations 5.1.2.2", CIS),
        src("CISA SCuBA MS.AAD.5.1v1", SCUBA_AAD),
    ),
    evaluate=evaluate_app_registration,
    bm=(5, 4),
    norms=("SM.01", "ID.01"),
    reads=reads(properties={AUTHZ: ("defaultUserRolePermissions.allowedToCreateApps",)}),
)
USER_CONSENT = _check(
    id="apps.user_consent",
    severity=Severity.HIGH,
    datasets=("authorizationPolicy",),
    sources=(
        src("CISA SCuBA MS.AAD.5.2v1", SCUBA_AAD),
        src("CIS Microsoft 365 Foundations 5.1.5.1", CIS),
    ),
    evaluate=evaluate_user_consent,
    bm=(5, 2),
    norms=("SM.01",),
    reads=reads(properties={AUTHZ: (GRANTS,)}),
)
CONSENT_WORKFLOW = _check(
    id="apps.admin_consent_workflow",
    severity=Severity.LOW,
    datasets=("adminConsentRequestPolicy",),
    sources=(
        src("CIS Microsoft 365 Foundations 5.1.5.2", CIS),
        src("CISA SCuBA MS.AAD.5.3v1", SCUBA_AAD),
    ),
    evaluate=evaluate_consent_workflow,
    bm=(2, 5),
    norms=("SM.01",),
    reads=reads(properties={"adminConsentRequestPolicy": ("isEnabled", "reviewers")}),
)

CHECKS = [
    EXPIRY,
    BANNED,
    LOCKOUT,
    SSPR,
    ADMIN_SSPR,
    APP_REGISTRATION,
    USER_CONSENT,
    CONSENT_WORKFLOW,
]
