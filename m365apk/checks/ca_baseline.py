"""The rest of CISA SCuBA's conditional-access baseline and two Maester tests, judged by the one
conditional-access engine (checks/conditional_access.py): device code flow blocked (MS.AAD.3.9),
phishing-resistant MFA for highly privileged roles (3.6) and for everyone (3.1, advice), high
user and sign-in risk blocked (2.1, 2.3, Entra ID P2), managed devices for staff sign-ins (3.7)
and for registering MFA methods (3.8), MFA for guests (Maester MT.1016) and emergency accounts
excluded from every policy (Maester MT.1005).

Security defaults require MFA and block legacy authentication, nothing of the above; a tenant
without Entra ID P1 has no conditional access and these checks say so (not_licensed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from m365apk.checks import trust
from m365apk.checks.base import (
    AffectedObject,
    Area,
    CheckResult,
    Reads,
    Severity,
    Status,
    check_family,
    reads,
)
from m365apk.checks.common import (
    SCUBA_AAD,
    break_glass,
    make,
    obj,
    role_text,
    src,
)
from m365apk.checks.conditional_access import (
    APPROVED,
    COVERED,
    DEVICE_CODE,
    HIGH_SIGNIN_RISK,
    HIGH_USER_RISK,
    MANAGED_DEVICE,
    MFA,
    NONE,
    PARTIAL,
    PHISHING_RESISTANT,
    PROPERTIES,
    UNKNOWN,
    Engine,
    Verdict,
    sentence,
    undetermined,
    who_gaps,
)
from m365apk.checks.people import (
    NEXT_GUEST,
    ROLE_PROPERTIES,
    USER_PROPERTIES,
    Person,
    guests,
    highly_privileged,
    licences_unread,
    nobody_enabled,
    person,
    staff,
)
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

P1 = "Microsoft Entra ID P1"
P2 = "Microsoft Entra ID P2"
CA = ("conditionalAccessPolicies", "securityDefaults")
MAESTER = "https://maester.dev/docs/tests/"
CA_DOCS = "https://learn.microsoft.com/entra/identity/conditional-access/"

# Read when the scan has them: the members of groups named in policies, and every role
# assignment (any role, active and eligible) for the roles each person holds (checks/people.py).
PEOPLE_DATA = (
    "conditionalAccessGroupMembers",
    "roleAssignments",
    "roleGroupMembers",
    "roleEligibilitySchedules",
    "pimGroupEligibility",
    "userSignInActivity",  # which break-glass entries count (checks/trust.py)
)
TRUSTED = ("approved_exclusions", "break_glass")
# Which break-glass accounts count (checks/trust.py) rests on their last sign-ins and roles.
TRUST_DATA = (
    "userSignInActivity",
    "roleAssignments",
    "roleGroupMembers",
    "conditionalAccessGroupMembers",
)
# What decides whether a break-glass entry counts (checks/trust.py).
TRUSTED_PROPERTIES = {
    "users": ("accountEnabled", "onPremisesSyncEnabled", "userType"),
    "userSignInActivity": ("signInActivity.lastSignInDateTime",),
}


def _reads(
    population: str, *extra: dict[str, tuple[str, ...]], settings: tuple[str, ...] = ()
) -> Reads:
    merged: dict[str, tuple[str, ...]] = dict(PROPERTIES)
    for more in (*extra, TRUSTED_PROPERTIES):  # properties of one dataset add up
        for name, props in more.items():
            merged[name] = tuple(dict.fromkeys(merged.get(name, ()) + props))
    return reads(
        population=population,
        settings=TRUSTED + settings,
        properties=merged,
        judges=("conditional_access",),
    )


_check = check_family(area=Area.MFA, bm=(9,), norms=("SM.02",), licence=P1)


def _precheck(engine: Engine, threshold: str, cid: str) -> CheckResult | None:
    """not_licensed without Entra ID P1 (no conditional access to configure); unknown when
    the policies could not be read."""
    licences = engine.snapshot.licences
    if licences.known and licences.entra_plan not in ("p1", "p2"):
        return make(
            cid,
            Status.NOT_LICENSED,
            Msg("ca_baseline.needs_p1", licence=P1),
            threshold=threshold,
        )
    unread = engine.ca_unread_reason
    if unread:
        return make(cid, Status.UNKNOWN, unread, threshold=threshold)
    return None


def _advice(advice: bool) -> Msg | None:
    """The words "Advies:" before the finding of a check that is advice."""
    return Msg("ca_baseline.advice") if advice else None


def _tenant_wide(
    cid: str, want: str, threshold: str, *, advice: bool = False
) -> Callable[[Snapshot], CheckResult]:
    """A requirement for all users: one engine question, Graph's semantics in the engine. The
    requirement in words is the catalogue's `<check id>.what`."""

    def evaluate(snapshot: Snapshot) -> CheckResult:
        engine = Engine(snapshot)
        early = _precheck(engine, threshold, cid)
        if early:
            return early
        verdict, _ = engine.everyone(want)
        notes = engine.near_misses(want) + engine.ignored()
        what = Msg(f"{cid}.what")
        if verdict.state == COVERED and nobody_enabled(snapshot):
            return make(cid, Status.NOT_APPLICABLE, Msg("engine.no_accounts"), threshold=threshold)
        if verdict.state == COVERED or (verdict.state == APPROVED and not verdict.accepted):
            return make(cid, Status.PASS, threshold=threshold, measured=", ".join(verdict.by))
        if verdict.state == APPROVED:  # covered only thanks to approved exclusions
            return make(
                cid,
                Status.ACCEPTED,
                Msg.join(
                    [_advice(advice), trust.accepted_reason(verdict.accepted), sentence(notes)]
                ),
                threshold=threshold,
                measured=", ".join(verdict.by),
            )
        if verdict.state == UNKNOWN:
            return make(
                cid,
                Status.UNKNOWN,
                undetermined(sentence(verdict.gaps + notes)),
                threshold=threshold,
            )
        if verdict.state == PARTIAL:
            return make(
                cid,
                Status.PARTIAL,
                Msg.join(
                    [
                        _advice(advice),
                        Msg("ca_baseline.not_everywhere", what=what),
                        sentence(verdict.gaps + notes),
                    ]
                ),
                threshold=threshold,
                measured=", ".join(verdict.by),
            )
        sd = Msg("ca_baseline.not_by_security_defaults") if engine.security_defaults else None
        return make(
            cid,
            Status.FAIL,
            Msg.join(
                [_advice(advice), Msg("ca_baseline.no_policy", what=what), sd, sentence(notes)]
            ),
            threshold=threshold,
        )

    return evaluate


def _needs_p2(snapshot: Snapshot) -> bool:
    return snapshot.licences.known and snapshot.licences.entra_plan != "p2"


def _risk(cid: str, want: str, threshold: str) -> Callable[[Snapshot], CheckResult]:
    judge = _tenant_wide(cid, want, threshold)

    def evaluate(snapshot: Snapshot) -> CheckResult:
        if _needs_p2(snapshot):
            return make(
                cid,
                Status.NOT_LICENSED,
                Msg("ca_baseline.needs_p2", licence=P2),
                threshold=threshold,
            )
        return judge(snapshot)

    return evaluate


def _per_person(
    cid: str,
    threshold: str,
    people: Callable[[Snapshot], Mapping[str, Person]],
    ask: Callable[[Engine, Person], Verdict],
    who: str,
    *,
    advice: bool = False,
    notes: Callable[[Engine], list[str]] = lambda engine: [],
    unplaced: Callable[[Snapshot], int] = lambda snapshot: 0,
) -> Callable[[Snapshot], CheckResult]:
    """A requirement per person (role holders, staff, guests): covered, partly, or not. `who`
    names the group in the counts and, as `ca_baseline.who.<who>`, in words; `notes` are the
    engine's words on policies that look like they would help but do not; `unplaced` counts
    accounts that may belong to the group but could not be placed (no pass, no "none")."""

    def evaluate(snapshot: Snapshot) -> CheckResult:
        group = people(snapshot)
        engine = Engine(snapshot, population=set(group))  # approvals bounded by who is judged
        early = _precheck(engine, threshold, cid)
        if early:
            return early
        words = Msg(f"ca_baseline.who.{who}")
        missing = unplaced(snapshot)
        unplaced_why = Msg("ca_baseline.licences_unread", n=missing, who=words) if missing else None
        if not group and unplaced_why:
            return make(cid, Status.UNKNOWN, undetermined(unplaced_why), threshold=threshold)
        if not group:
            return make(
                cid,
                Status.NOT_APPLICABLE,
                Msg("ca_baseline.none_found", who=words),
                threshold=threshold,
            )
        found: dict[str, list[AffectedObject]] = {NONE: [], PARTIAL: [], UNKNOWN: []}
        gaps: list[str] = []
        accepted: list[trust.Grant] = []
        covered = 0
        for one in group.values():
            verdict = ask(engine, one)
            covered += verdict.state == COVERED
            if verdict.state in (COVERED, APPROVED):
                accepted += verdict.accepted
                continue
            found[verdict.state].append(obj(one.record, who_gaps(_label(one), verdict.gaps) or ""))
            gaps += verdict.gaps
        counts = {
            who.replace(" ", "_"): len(group),
            "niet_gedekt": len(found[NONE]),
            "deels_gedekt": len(found[PARTIAL]),
            "onbepaald": len(found[UNKNOWN]),
        }
        objects = found[NONE] + found[PARTIAL] + found[UNKNOWN]
        gaps += engine.ignored()  # approvals and break-glass entries outside their bounds
        if found[NONE] or found[PARTIAL]:
            # Nobody actually covered (approved exclusions aside) is a fail, not "partly".
            status = Status.FAIL if not covered and not found[PARTIAL] else Status.PARTIAL
            n = len(found[NONE]) + len(found[PARTIAL])
            return make(
                cid,
                status,
                Msg.join(
                    [
                        _advice(advice),
                        Msg("ca_baseline.not_covered", n=n, total=len(group), who=words),
                        sentence(gaps + notes(engine)),
                    ]
                ),
                threshold=threshold,
                counts=counts,
                objects=objects,
            )
        if found[UNKNOWN] or unplaced_why:
            return make(
                cid,
                Status.UNKNOWN,
                undetermined(sentence([*gaps, unplaced_why])),
                threshold=threshold,
                counts=counts,
                objects=objects,
            )
        if accepted:  # in order only thanks to approved exclusions: an accepted risk
            return make(
                cid,
                Status.ACCEPTED,
                Msg.join([_advice(advice), trust.accepted_reason(accepted), sentence(gaps)]),
                threshold=threshold,
                counts={**counts, "goedgekeurde_uitzonderingen": len(set(accepted))},
            )
        return make(cid, Status.PASS, threshold=threshold, counts=counts)

    return evaluate


def _label(one: Person) -> str | None:
    """Who an affected person is: their role names, else the UPN (tenant data), else what the
    model's synthetic next guest is."""
    if one is NEXT_GUEST:
        return Msg("ca.guests_mfa.new_guest")
    return role_text(one.record) or one.upn


def _guests(snapshot: Snapshot) -> Mapping[str, Person]:
    """Every enabled guest account, plus the next guest the school invites (a policy that
    names the current guests one by one does not cover the next one)."""
    return guests(snapshot, with_next=True)


_judge_guests = _per_person(
    "ca.guests_mfa",
    "Gasten vallen onder afgedwongen MFA",
    _guests,
    lambda engine, person: engine.person(person, MFA),
    "gasten",
)


def evaluate_guests(snapshot: Snapshot) -> CheckResult:
    """Every guest, and the next one the school invites. Without any guest account a policy
    that would cover the next one is no pass of 0 guests: not applicable, and said so."""
    result = _judge_guests(snapshot)
    if result.status is Status.PASS and not guests(snapshot):
        return make(
            result.check_id,
            Status.NOT_APPLICABLE,
            Msg("ca.guests_mfa.no_guests"),
            threshold=result.threshold,
            counts=result.evidence.counts,
        )
    return result


def evaluate_break_glass(snapshot: Snapshot) -> CheckResult:
    """Microsoft's guidance (security-emergency-access, 2025-02): emergency accounts sign in
    with a passwordless phishing-resistant method and phishing-resistant MFA is required of
    them; no policy may lock them out (a block, or a grant that MFA cannot meet). Only entries
    that look like emergency accounts are judged (checks/trust.py); Maester MT.1005 asks them
    excluded from every policy, which is still enough to avoid a lockout."""
    cid = BREAK_GLASS_EXCLUDED.id
    threshold = (
        "Geen ingeschakeld beleid kan een noodaccount buitensluiten; phishingbestendige MFA "
        "vereist voor elk noodaccount"
    )
    engine = Engine(snapshot)
    early = _precheck(engine, threshold, cid)
    if early:
        return early
    if not snapshot.settings.break_glass:
        return make(
            cid,
            Status.UNKNOWN,
            Msg("ca.break_glass_excluded.not_recorded"),
            threshold=threshold,
        )
    accounts = break_glass(snapshot)
    ignored = trust.ignored_break_glass(snapshot)
    if not accounts:
        return make(
            cid,
            Status.UNKNOWN,
            Msg.join([Msg("ca.break_glass_excluded.none_count"), sentence(ignored)]),
            threshold=threshold,
        )
    if not any(p.state == "enabled" for p in engine.policies):
        return make(
            cid,
            Status.NOT_APPLICABLE,
            Msg("ca.break_glass_excluded.no_policies"),
            threshold=threshold,
        )
    risky: list[AffectedObject] = []
    weak: list[AffectedObject] = []
    unknown: list[str] = []
    for uid in accounts:
        one = person(snapshot, uid)
        applies, unread = engine.lockout_risks(one)
        if applies:
            risky.append(
                obj(
                    one.record,
                    Msg("ca.break_glass_excluded.covered_by", policies=", ".join(applies)),
                )
            )
        unknown += unread
        strong = engine.ask(one, PHISHING_RESISTANT)
        if strong.state == UNKNOWN:
            unknown += strong.gaps
        elif strong.state != COVERED:
            weak.append(obj(one.record, Msg("ca.break_glass_excluded.not_phishing_resistant")))
    counts = {
        "noodaccounts": len(accounts),
        "niet_uitgesloten": len(risky),
        "zonder_phishingbestendige_mfa": len(weak),
        "niet_als_noodaccount": len(ignored),
    }
    if risky:
        return make(
            cid,
            Status.FAIL,
            Msg.join([Msg("ca.break_glass_excluded.lockout"), sentence(ignored)]),
            threshold=threshold,
            counts=counts,
            objects=risky,
        )
    if unknown:
        return make(
            cid,
            Status.UNKNOWN,
            undetermined(sentence(unknown + ignored)),
            threshold=threshold,
            counts=counts,
        )
    if weak:
        return make(
            cid,
            Status.PARTIAL,
            Msg.join([Msg("ca.break_glass_excluded.phishing_resistant"), sentence(ignored)]),
            threshold=threshold,
            counts=counts,
            objects=weak,
        )
    if ignored:  # a recorded entry that is no emergency account: never in order
        unsure = trust.unverified(snapshot)
        if unsure:
            return make(
                cid,
                Status.UNKNOWN,
                undetermined(sentence(list(unsure.values()))),
                threshold=threshold,
                counts=counts,
            )
        return make(
            cid,
            Status.PARTIAL,
            Msg.join([Msg("ca.break_glass_excluded.not_all_count"), sentence(ignored)]),
            threshold=threshold,
            counts=counts,
        )
    return make(cid, Status.PASS, threshold=threshold, counts=counts)


DEVICE_CODE_CHECK = _check(
    id="ca.device_code_blocked",
    severity=Severity.HIGH,
    datasets=CA,
    bm=(9, 5),
    sources=(
        src("CISA SCuBA MS.AAD.3.9v1", SCUBA_AAD),
        src(
            "CIS Microsoft 365 Foundations 5.2.2.12",
            "https://www.cisecurity.org/benchmark/microsoft_365",
        ),
        src("Microsoft: block authentication flows", CA_DOCS + "policy-block-authentication-flows"),
    ),
    # no enabled account: nobody to cover, no pass; which break-glass entries count
    optional=("users",) + TRUST_DATA,
    reads=_reads("users"),
    evaluate=_tenant_wide(
        "ca.device_code_blocked",
        DEVICE_CODE,
        "deviceCodeFlow geblokkeerd voor iedereen",
    ),
    effort="klein",
)

PHR_ADMINS = _check(
    id="ca.phishing_resistant_admins",
    severity=Severity.HIGH,
    datasets=CA + ("roleAssignments", "roleGroupMembers", "users"),
    optional=(
        "conditionalAccessGroupMembers",
        "roleEligibilitySchedules",
        "pimGroupEligibility",
        "userSignInActivity",
    ),
    reads=_reads("highly_privileged", ROLE_PROPERTIES),
    bm=(9, 4),
    sources=(
        src("CISA SCuBA MS.AAD.3.6v1", SCUBA_AAD),
        src("Microsoft: authentication strengths", CA_DOCS + "policy-admin-phish-resistant-mfa"),
    ),
    evaluate=_per_person(
        "ca.phishing_resistant_admins",
        "Zeer bevoorrechte rollen: phishingbestendige verificatiesterkte afgedwongen",
        highly_privileged,
        lambda engine, person: engine.person(person, PHISHING_RESISTANT),
        "beheerders",
    ),
)

PHR_ALL = _check(
    id="ca.phishing_resistant_all",
    severity=Severity.LOW,
    datasets=CA,
    sources=(src("CISA SCuBA MS.AAD.3.1v1", SCUBA_AAD),),
    # no enabled account: nobody to cover, no pass; which break-glass entries count
    optional=("users",) + TRUST_DATA,
    reads=_reads("users"),
    evaluate=_tenant_wide(
        "ca.phishing_resistant_all",
        PHISHING_RESISTANT,
        "phishingbestendige MFA voor iedereen",
        advice=True,
    ),
)

HIGH_USER_RISK_CHECK = _check(
    id="ca.high_user_risk_blocked",
    severity=Severity.HIGH,
    datasets=CA,
    bm=(9, 10),
    licence=P2,
    sources=(
        src("CISA SCuBA MS.AAD.2.1v1", SCUBA_AAD),
        src("Microsoft: risk-based access policies", CA_DOCS + "policy-risk-based-user"),
    ),
    # no enabled account: nobody to cover, no pass; which break-glass entries count
    optional=("users",) + TRUST_DATA,
    reads=_reads("users"),
    evaluate=_risk(
        "ca.high_user_risk_blocked",
        HIGH_USER_RISK,
        "gebruikersrisico hoog geblokkeerd",
    ),
    effort="klein",
)

HIGH_SIGNIN_RISK_CHECK = _check(
    id="ca.high_signin_risk_blocked",
    severity=Severity.HIGH,
    datasets=CA,
    bm=(9, 10),
    licence=P2,
    sources=(
        src("CISA SCuBA MS.AAD.2.3v1", SCUBA_AAD),
        src("Microsoft: risk-based access policies", CA_DOCS + "policy-risk-based-sign-in"),
    ),
    # no enabled account: nobody to cover, no pass; which break-glass entries count
    optional=("users",) + TRUST_DATA,
    reads=_reads("users"),
    evaluate=_risk(
        "ca.high_signin_risk_blocked",
        HIGH_SIGNIN_RISK,
        "aanmeldrisico hoog geblokkeerd",
    ),
    effort="klein",
)

MANAGED_DEVICE_CHECK = _check(
    id="ca.managed_device_staff",
    severity=Severity.LOW,
    datasets=CA + ("users", "subscribedSkus"),
    optional=PEOPLE_DATA,
    reads=_reads("staff", USER_PROPERTIES, ROLE_PROPERTIES, settings=("populations",)),
    bm=(9, 8),
    sources=(
        src("CISA SCuBA MS.AAD.3.7v1", SCUBA_AAD),
        src(
            "Microsoft: require a compliant device", CA_DOCS + "policy-all-users-device-compliance"
        ),
    ),
    evaluate=_per_person(
        "ca.managed_device_staff",
        "Beheerd apparaat vereist voor medewerkers",
        staff,
        lambda engine, person: engine.person(person, MANAGED_DEVICE),
        "medewerkers",
        advice=True,
        unplaced=licences_unread,
    ),
)

REGISTRATION_CHECK = _check(
    id="ca.secure_registration",
    severity=Severity.LOW,
    datasets=CA + ("users", "subscribedSkus"),
    optional=PEOPLE_DATA,
    reads=_reads("staff", USER_PROPERTIES, ROLE_PROPERTIES, settings=("populations",)),
    bm=(9,),
    sources=(
        src("CISA SCuBA MS.AAD.3.8v1", SCUBA_AAD),
        src("Maester: secure security info registration", MAESTER + "MT.1012"),
        src(
            "Microsoft: secure security info registration",
            CA_DOCS + "policy-all-users-security-info-registration",
        ),
    ),
    evaluate=_per_person(
        "ca.secure_registration",
        "Registreren van MFA-methoden beschermd",
        staff,
        lambda engine, person: engine.registration(person),
        "medewerkers",
        advice=True,
        notes=lambda engine: engine.registration_notes(),
        unplaced=licences_unread,
    ),
)

GUESTS_MFA = _check(
    id="ca.guests_mfa",
    severity=Severity.MEDIUM,
    datasets=CA + ("users",),
    optional=PEOPLE_DATA,
    reads=_reads("guests", {"users": ("accountEnabled", "userType")}, ROLE_PROPERTIES),
    bm=(9, 5),
    sources=(
        src("Maester MT.1016 (MFA for guests)", MAESTER + "MT.1016"),
        src("Microsoft: require MFA for guest access", CA_DOCS + "policy-guests-mfa-strength"),
    ),
    evaluate=evaluate_guests,
    effort="klein",
)

BREAK_GLASS_EXCLUDED = _check(
    id="ca.break_glass_excluded",
    severity=Severity.MEDIUM,
    datasets=CA + ("users", "roleAssignments", "roleGroupMembers"),
    # last sign-ins and roles decide which break-glass entries count (checks/trust.py)
    optional=(
        "conditionalAccessGroupMembers",
        "roleEligibilitySchedules",
        "pimGroupEligibility",
        "userSignInActivity",
    ),
    reads=_reads("break_glass", ROLE_PROPERTIES),
    area=Area.ADMIN_ROLES,
    bm=(4,),
    norms=("ID.01", "BC.01"),
    sources=(
        src("Maester MT.1005 (emergency accounts excluded)", MAESTER + "MT.1005"),
        src("Microsoft: manage emergency access accounts", trust.EMERGENCY_ACCESS),
    ),
    evaluate=evaluate_break_glass,
    effort="klein",
)

CHECKS = [
    DEVICE_CODE_CHECK,
    PHR_ADMINS,
    PHR_ALL,
    HIGH_USER_RISK_CHECK,
    HIGH_SIGNIN_RISK_CHECK,
    MANAGED_DEVICE_CHECK,
    REGISTRATION_CHECK,
    GUESTS_MFA,
    BREAK_GLASS_EXCLUDED,
]
