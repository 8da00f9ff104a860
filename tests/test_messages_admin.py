"""The admin, MFA-registration and attack-surface checks say their findings in English too
(issue 14 point 5): shared helpers, accepted risks, and the paths the demo tenants do not reach."""

from __future__ import annotations

from datetime import date

from m365apk.checks.admin_roles import GA_COUNT
from m365apk.checks.base import CheckResult, Status
from m365apk.checks.common import clauses, role_text
from m365apk.checks.exceptions import RiskException, apply_exceptions
from m365apk.messages import Msg
from m365apk.snapshot import DatasetStatus

from .snapshots import assignment, failed, ok, snapshot, user

EXC = RiskException(
    check_id="admin.break_glass",
    reason="tweede sleutel besteld",
    accepted_by="directeur",
    expires=date(2026, 12, 31),
)


def partial() -> CheckResult:
    return CheckResult(
        check_id="admin.break_glass",
        status=Status.PARTIAL,
        reason=Msg("admin.break_glass.only_one"),
    )


def test_an_accepted_risk_keeps_the_original_reason_in_every_language() -> None:
    [out] = apply_exceptions([partial()], [EXC], date(2026, 11, 1))
    assert out.status is Status.ACCEPTED
    assert out.reason == (
        "Geaccepteerd risico tot 2026-12-31: tweede sleutel besteld (geaccepteerd door "
        "directeur). Uitkomst zonder acceptatie: gedeeltelijk. Eén noodaccount; Microsoft raadt "
        "er twee aan."
    )
    english = out.reason_in("en") or ""
    # The school's own words stay as written; the rest is English, the original reason too.
    assert english.startswith("Accepted risk until 2026-12-31: tweede sleutel besteld")
    assert english.endswith("One emergency account; Microsoft recommends two.")


def test_an_expired_acceptance_keeps_a_plain_reason_as_written() -> None:
    plain = CheckResult(check_id="admin.break_glass", status=Status.FAIL, reason="plugin-tekst")
    [out] = apply_exceptions([plain], [EXC], date(2027, 1, 2))
    assert out.status is Status.FAIL
    assert out.reason_in("en") == (
        "Acceptance expired on 2026-12-31: tweede sleutel besteld (accepted by directeur). "
        "plugin-tekst"
    )


def test_role_names_mark_pim_eligibility_in_the_readers_language() -> None:
    holder = {
        "roles": {"Global Administrator", "User Administrator"},
        "active": {"Global Administrator"},
        "eligible": {"User Administrator"},
    }
    text = role_text(holder)
    assert text == "Global Administrator en User Administrator (in aanmerking via PIM)"
    assert text.render("en") == "Global Administrator and User Administrator (eligible through PIM)"


def test_clauses_join_with_semicolons_and_skip_empty_ones() -> None:
    one = Msg("admin.admins_without_mfa.methods_unread", n=2)
    two = Msg("admin.global_admin_count.groups_unread", n=1200)
    assert clauses([None, one]) is one
    assert clauses([]) is None
    both = clauses([one, None, two])
    assert both is not None and "gelezen; de leden van 1.200 roltoewijsbare" in both
    assert both.render("en") == (
        "the sign-in methods of 2 admins (e.g. guest accounts) could not be read; the members "
        "of 1,200 role-assignable groups with this role could not be read (permission "
        "GroupMember.Read.All)"
    )
    # One object in the singular, in both languages; 1.200 (a Dutch thousand) is not one.
    single = Msg("admin.admins_without_mfa.methods_unread", n=1)
    assert "van 1 beheerder (bijv. een gastaccount)" in single
    assert "of 1 admin (e.g. a guest account)" in single.render("en")
    assert "1.200 roltoewijsbare groepen" in both


def test_an_undetermined_global_admin_count_says_why_in_english() -> None:
    snap = snapshot(
        roleAssignments=ok([assignment("adm1"), assignment("grp-ga", kind="group")]),
        roleEligibilitySchedules=failed(DatasetStatus.FORBIDDEN),
        users=ok([user("adm1")]),
    )
    r = GA_COUNT.run(snap)
    assert r.status is Status.UNKNOWN
    assert r.reason is not None and r.reason.startswith("1 globale beheerders gevonden")
    english = r.reason_in("en") or ""
    assert english.startswith("1 Global Administrators found (1 active, 0 only eligible")
    assert "could not be read (permission GroupMember.Read.All); PIM-eligible role" in english
    assert "(eligible through PIM)" not in english  # adm1 is active
    [adm1] = r.evidence.affected
    assert adm1.detail == "adm1@school.nl (actief)" and adm1.detail_in("en") == (
        "adm1@school.nl (active)"
    )
