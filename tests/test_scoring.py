"""The score model: the README's worked example, and properties that must always hold."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from m365apk.checks.base import AffectedObject, CheckResult, Evidence, Status
from m365apk.checks.exceptions import RiskException, apply_exceptions
from m365apk.reports.scoring import score_items

SEVERITIES = st.sampled_from(["critical", "high", "medium", "low"])
STATUSES = st.sampled_from(
    ["pass", "partial", "fail", "unknown", "not_licensed", "not_applicable", "accepted"]
)
ITEMS = st.lists(st.tuples(SEVERITIES, STATUSES), max_size=40)


def test_worked_example_from_the_readme() -> None:
    score = score_items(
        [
            ("critical", "pass"),
            ("high", "fail"),
            ("medium", "partial"),
            ("low", "pass"),
            ("high", "unknown"),
        ]
    )
    assert score.score == 60 and score.points == 6 and score.max_points == 10
    assert score.coverage_text == "4 van 5 controles vastgesteld"
    assert score.verdict == "aandacht_nodig"


def test_nothing_evaluated_has_no_score() -> None:
    score = score_items([("high", "unknown"), ("low", "not_licensed")])
    assert score.score is None and score.verdict == "niet_vastgesteld"


@given(ITEMS, st.data())
def test_pass_to_fail_never_raises_a_score(items, data) -> None:
    passes = [i for i, (_, status) in enumerate(items) if status == "pass"]
    if not passes:
        return
    i = data.draw(st.sampled_from(passes))
    worse = items[:i] + [(items[i][0], "fail")] + items[i + 1 :]
    before, after = score_items(items).score, score_items(worse).score
    assert after is not None and before is not None and after <= before


@given(ITEMS, SEVERITIES)
def test_adding_an_unknown_never_changes_the_score(items, severity) -> None:
    assert score_items(items + [(severity, "unknown")]).score == score_items(items).score


@given(ITEMS, st.randoms())
def test_order_does_not_matter(items, rnd) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert score_items(shuffled) == score_items(items)


def result(status: Status) -> CheckResult:
    return CheckResult(
        check_id="c.x",
        status=status,
        reason=None if status in (Status.PASS, Status.FAIL) else "waarom",
        evidence=Evidence(affected=[AffectedObject(id="u1")], affected_total=1),
    )


EXC = RiskException(
    check_id="c.x", reason="vervanging loopt", accepted_by="directeur", expires=date(2026, 12, 31)
)


@given(
    st.dates(min_value=date(2027, 1, 1), max_value=date(2040, 1, 1)),
    st.sampled_from([Status.FAIL, Status.PARTIAL]),
)
def test_an_expired_exception_counts_as_a_fail(today, status) -> None:
    [out] = apply_exceptions([result(status)], [EXC], today)
    assert out.status is Status.FAIL and "verlopen" in (out.reason or "")


def test_a_valid_exception_is_accepted_and_outside_the_score() -> None:
    [out] = apply_exceptions([result(Status.FAIL)], [EXC], date(2026, 11, 1))
    assert out.status is Status.ACCEPTED and "directeur" in (out.reason or "")
    score = score_items([("high", out.status.value), ("low", "pass")])
    assert score.score == 100 and score.accepted == 1


def test_exception_for_other_objects_does_not_hide_new_findings() -> None:
    narrow = EXC.model_copy(update={"objects": ["someone-else"]})
    [out] = apply_exceptions([result(Status.FAIL)], [narrow], date(2026, 11, 1))
    assert out.status is Status.FAIL
