"""The score model: the worked example in docs/rapport.md, and properties that must always hold."""

from __future__ import annotations

from datetime import date

import pytest
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


def test_worked_example_from_the_docs() -> None:
    score = score_items(
        [
            ("critical", "pass"),
            ("high", "fail"),
            ("medium", "partial"),
            ("low", "pass"),
            ("high", "unknown"),
            ("low", "not_applicable"),
        ]
    )
    # The unknown weighs as not met (3 x 0); not applicable is determined and left out.
    assert score.score == 46 and score.points == 6 and score.max_points == 13
    assert score.coverage_text == "5 van 6 controles vastgesteld"
    assert score.determined == 5 and score.weighed_as_not_met == 1
    assert score.verdict == "onvoldoende"


def test_nothing_weighed_has_no_score() -> None:
    score = score_items([("low", "not_licensed"), ("high", "not_applicable")])
    assert score.score is None and score.verdict == "niet_vastgesteld"


def test_nothing_readable_scores_zero_not_nothing() -> None:
    # Every check unreadable: nothing was shown to be in order, so nothing is earned.
    score = score_items([("high", "unknown"), ("low", "unknown")])
    assert score.score == 0 and score.verdict == "onvoldoende"


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
def test_adding_an_unknown_never_raises_the_score(items, severity) -> None:
    before, after = score_items(items).score, score_items(items + [(severity, "unknown")]).score
    assert after is not None and (before is None or after <= before)


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


# --- Verdict rules (issue 14 point 1, issue 11 point 5): "Op orde" only when it holds up. ---

ANSWERS = st.lists(st.sampled_from([None, "ja", "nee", "gedeeltelijk", "nvt"]), max_size=5)


@given(ITEMS, ANSWERS, st.booleans())
def test_op_orde_never_with_an_open_point_or_an_undetermined_check(items, answers, partial) -> None:
    from m365apk.reports.scoring import judge

    judged = judge(score_items(items), answers, partial_scan=partial)
    if judged.verdict == "op_orde":
        assert None not in answers, "an open handmatig controlepunt"
        assert not any(status == "unknown" for _, status in items), "an undetermined check"
        assert not partial, "a partial scan"
        assert all(a in ("ja", "nvt") for a in answers)
        assert judged.technical_verdict == "op_orde" and judged.blockers == []
    # Judging only ever takes "Op orde" away; it never makes a verdict better.
    assert judged.verdict == judged.technical_verdict or (
        judged.technical_verdict == "op_orde" and judged.verdict == "aandacht_nodig"
    )


def test_op_orde_holds_when_everything_is_determined_and_answered() -> None:
    from m365apk.reports.scoring import judge

    technical = score_items([("high", "pass"), ("medium", "pass"), ("low", "not_applicable")])
    assert judge(technical, ["ja", "nvt"]).verdict == "op_orde"


@pytest.mark.parametrize(
    "items, answers, partial, blocker",
    [
        # Good demo, measure 3: two checks pass, the risk analysis is not adopted yet.
        ([("high", "pass"), ("medium", "pass")], [None], False, "manual_open"),
        # A low check that could not read its data among ten that pass (it weighs as not met,
        # yet the score stays above 90).
        ([("high", "pass")] * 10 + [("low", "unknown")], ["ja", "ja"], False, "unreadable"),
        # One of four applicable checks determined: not enough to call it in order.
        ([("high", "pass")] + [("low", "not_licensed")] * 3, [], False, "coverage"),
        ([("high", "pass")], ["nee"], False, "manual_not_ok"),
        ([("high", "pass")], [], True, "partial_scan"),
    ],
)
def test_each_rule_takes_op_orde_away(items, answers, partial, blocker) -> None:
    from m365apk.reports.scoring import judge

    judged = judge(score_items(items), answers, partial_scan=partial)
    assert judged.technical_verdict == "op_orde"
    assert judged.verdict == "aandacht_nodig" and blocker in judged.blockers
