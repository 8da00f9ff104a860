"""An honest score, as tested invariants (issue 27, point 3 and finding 5).

Over every dataset of the weak and good demo snapshots: made unreadable (forbidden), partial
(incomplete) or empty, and re-evaluated in-process as `m365apk evaluate` does (evaluate +
build_report), the overall score never rises, no check verdict improves and no basismaatregel
verdict (nor the whole's) improves. A check that could not be determined weighs as not met; a
measure with an undetermined critical check is never "Op orde"; not applicable is determined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from html import unescape
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from m365apk.checks.evaluate import evaluate
from m365apk.checks.manual import Attestation, manual_items
from m365apk.checks.registry import all_checks
from m365apk.cli import main
from m365apk.reports.model import Report, build_report
from m365apk.reports.scoring import judge, score_items
from m365apk.snapshot import Dataset, DatasetStatus, Snapshot

PROFILES = ("weak", "good")
VARIANTS = ("forbidden", "partial", "empty")
# Every handmatig controlepunt answered yes: measures can reach "Op orde", so a transformation
# that would wrongly grant it is seen.
ALL_YES = [
    Attestation(id=m.id, answer="ja", by="ICT", date=date(2026, 1, 5)) for m in manual_items()
]
# Better or worse for a verdict of the whole or of a measure. "Niet vastgesteld" (nothing
# weighed) is never better than "Onvoldoende".
VERDICT_RANK = {"op_orde": 2, "aandacht_nodig": 1, "onvoldoende": 0, "niet_vastgesteld": 0}
# Points a check status is worth for the score's sake: moving up this order improves a verdict.
# unknown weighs as fail; not applicable and not licensed leave the score (better than a fail
# or an unknown, which weigh); accepted leaves it too.
_MEASURED = {"pass": 3, "partial": 2, "fail": 1, "unknown": 1}
_LEFT_OUT = {"not_applicable", "not_licensed", "accepted"}

# An empty collection can be the truth (a school without apps, devices or licences): a check
# may then find nothing to judge. These are the check verdicts that change so on the demo
# snapshots today; the checks' own trust suite (tests/test_trust_suite.py) decides whether they
# should. This list may only shrink: any other improvement on an empty dataset fails below, and
# the score and measures must stay honest whenever no check verdict improved.
EMPTY_COLLECTION_IS_TRUTH = {
    ("appRoleAssignedTo", "apps.high_privilege_consent"),
    ("appRoleAssignedTo", "apps.inventory"),
    ("servicePrincipals", "apps.high_privilege_consent"),
    ("servicePrincipals", "apps.inventory"),
    ("oauth2PermissionGrants", "apps.user_consented_risky"),
    ("managedDevices", "devices.compliance"),
    ("managedDevices", "devices.encryption"),
    ("managedDevices", "devices.outdated_os"),
    ("subscribedSkus", "ca.managed_device_staff"),
    ("subscribedSkus", "ca.secure_registration"),
    ("users", "mfa.registration_coverage"),
    ("users", "ca.managed_device_staff"),
    ("users", "ca.secure_registration"),
}


def improves(before: str, after: str) -> bool:
    """Is `after` a better check verdict than `before`, for the score and for the reader?"""
    if before == after or after == "unknown":
        return False
    if after in _LEFT_OUT:
        return before in ("fail", "partial", "unknown") or (
            after != "accepted" and before == "accepted"
        )
    if before in _LEFT_OUT:
        return False  # from outside the score into it: never better for the score
    return _MEASURED[after] > _MEASURED[before]


def _forbidden(ds: Dataset) -> Dataset:
    return ds.model_copy(
        update={
            "status": DatasetStatus.FORBIDDEN,
            "http_status": 403,
            "error_code": "Authorization_RequestDenied",
            "error_message": "Insufficient privileges to complete the operation.",
            "data": None,
            "unread_keys": [],
        }
    )


def _partial(ds: Dataset) -> Dataset:
    data = ds.data
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        keys = sorted(data)
        dropped = keys[len(keys) // 2 :]
        kept = {k: v for k, v in data.items() if k not in dropped}
        update = {"data": kept, "unread_keys": dropped}
    elif isinstance(data, list):
        update = {"data": data[: len(data) // 2]}
    else:
        update = {}
    return ds.model_copy(update={"status": DatasetStatus.INCOMPLETE, **update})


def _empty(ds: Dataset) -> Dataset:
    return ds.model_copy(update={"data": [] if isinstance(ds.data, list) else {}})


CHANGE = {"forbidden": _forbidden, "partial": _partial, "empty": _empty}


def _report(snapshot: Snapshot, attestations: list[Attestation] = ALL_YES) -> Report:
    checks = all_checks()
    return build_report(snapshot, checks, evaluate(snapshot, checks), attestations=attestations)


@dataclass
class Cell:
    profile: str
    dataset: str
    variant: str
    score: tuple[int | None, int | None]  # before, after
    verdict: tuple[str, str]
    technical: tuple[str, str]
    checks: list[tuple[str, str, str]]  # improved: (check id, before, after)
    measures: list[tuple[int, str, str]]  # improved: (measure id, before, after)

    @property
    def key(self) -> str:
        return f"{self.profile}:{self.dataset}:{self.variant}"


@pytest.fixture(scope="module")
def demo_snapshots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Snapshot]:
    out = {}
    for profile in PROFILES:
        folder: Path = tmp_path_factory.mktemp(f"honesty-{profile}")
        assert main(["demo", "--profile", profile, "--out", str(folder), "--quiet"]) == 0
        out[profile] = Snapshot.read(folder / "snapshot.json")
    return out


@pytest.fixture(scope="module")
def cells(demo_snapshots: dict[str, Snapshot]) -> list[Cell]:
    out = []
    for profile, snapshot in demo_snapshots.items():
        base = _report(snapshot)
        before_checks = {c.id: c.result.status.value for c in base.checks}
        before_measures = {m.id: m.score for m in base.basismaatregelen}
        for name, ds in sorted(snapshot.datasets.items()):
            if ds.status is not DatasetStatus.OK:
                continue
            for variant in VARIANTS:
                changed = snapshot.model_copy(
                    update={"datasets": {**snapshot.datasets, name: CHANGE[variant](ds)}}
                )
                after = _report(changed)
                out.append(
                    Cell(
                        profile,
                        name,
                        variant,
                        (base.overall.score, after.overall.score),
                        (base.overall.verdict, after.overall.verdict),
                        (base.overall.technical_verdict, after.overall.technical_verdict),
                        [
                            (c.id, before_checks[c.id], c.result.status.value)
                            for c in after.checks
                            if improves(before_checks[c.id], c.result.status.value)
                        ],
                        [
                            (m.id, before_measures[m.id].verdict, m.score.verdict)
                            for m in after.basismaatregelen
                            if VERDICT_RANK[m.score.verdict]
                            > VERDICT_RANK[before_measures[m.id].verdict]
                            or VERDICT_RANK[m.score.technical_verdict]
                            > VERDICT_RANK[before_measures[m.id].technical_verdict]
                        ],
                    )
                )
    return out


def _raised(cell: Cell) -> bool:
    before, after = cell.score
    return after is not None and (before is None or after > before)


def _better_verdict(cell: Cell) -> bool:
    return any(VERDICT_RANK[b] < VERDICT_RANK[a] for b, a in (cell.verdict, cell.technical))


def test_every_dataset_of_both_demos_is_transformed(cells: list[Cell]) -> None:
    for profile in PROFILES:
        names = {c.dataset for c in cells if c.profile == profile}
        assert {"users", "conditionalAccessPolicies", "subscribedSkus"} <= names, profile
        assert len(names) >= 20, profile


@pytest.mark.parametrize("variant", ["forbidden", "partial"])
def test_unreadable_or_partial_data_never_raises_the_score(cells: list[Cell], variant) -> None:
    assert not [(c.key, c.score) for c in cells if c.variant == variant and _raised(c)]


@pytest.mark.parametrize("variant", ["forbidden", "partial"])
def test_unreadable_or_partial_data_never_improves_a_check_verdict(
    cells: list[Cell], variant
) -> None:
    assert not [(c.key, c.checks) for c in cells if c.variant == variant and c.checks]


@pytest.mark.parametrize("variant", ["forbidden", "partial"])
def test_unreadable_or_partial_data_never_improves_a_measure_or_the_whole(
    cells: list[Cell], variant
) -> None:
    worse = [(c.key, c.measures) for c in cells if c.variant == variant and c.measures]
    worse += [(c.key, c.verdict) for c in cells if c.variant == variant and _better_verdict(c)]
    assert not worse


def test_empty_data_improves_a_check_only_where_an_empty_collection_can_be_the_truth(
    cells: list[Cell],
) -> None:
    unexpected = [
        (c.key, check, was, now)
        for c in cells
        if c.variant == "empty"
        for check, was, now in c.checks
        if (c.dataset, check) not in EMPTY_COLLECTION_IS_TRUTH
    ]
    assert not unexpected


def test_empty_data_never_raises_the_score_or_a_verdict_unless_a_check_verdict_improved(
    cells: list[Cell],
) -> None:
    dishonest = [
        (c.key, c.score, c.verdict, c.measures)
        for c in cells
        if c.variant == "empty"
        and not c.checks
        and (_raised(c) or c.measures or _better_verdict(c))
    ]
    assert not dishonest


# --- finding 5, by tenant situation -------------------------------------------------------------


def _with(snapshot: Snapshot, name: str, variant: str) -> Snapshot:
    ds = snapshot.datasets[name]
    return snapshot.model_copy(
        update={"datasets": {**snapshot.datasets, name: CHANGE[variant](ds)}}
    )


@pytest.mark.parametrize(
    "dataset",
    [
        "users",
        "conditionalAccessPolicies",
        "subscribedSkus",
        "userAuthenticationMethods",
        "backupRestore",
        "protectionPolicies",
        "roleGroupMembers",
    ],
)
def test_weak_school_whose_data_cannot_be_read_does_not_score_higher(
    demo_snapshots: dict[str, Snapshot], dataset: str
) -> None:
    weak = demo_snapshots["weak"]
    if weak.datasets.get(dataset) is None or not weak.datasets[dataset].ok:
        pytest.skip(f"{dataset} not read in the weak demo")
    before = _report(weak, []).overall.score
    after = _report(_with(weak, dataset, "forbidden"), []).overall.score
    assert before is not None and after is not None and after <= before


def test_good_school_backup_with_undetermined_coverage_is_not_technically_in_order(
    demo_snapshots: dict[str, Snapshot],
) -> None:
    # The good school backs up with a third-party product: backup.coverage (critical) stays
    # undetermined. The back-up measure shows neither a full bar nor "technisch: op orde".
    report = _report(demo_snapshots["good"], [])
    coverage = next(c for c in report.checks if c.id == "backup.coverage")
    assert coverage.severity == "critical" and coverage.result.status.value == "unknown"
    backup = next(m for m in report.basismaatregelen if "backup.coverage" in m.checks)
    assert backup.score.score is not None and backup.score.score < 100
    assert backup.score.technical_verdict != "op_orde" and backup.score.verdict != "op_orde"
    # The same holds for the whole: an undetermined critical check is never technically in order.
    assert report.overall.technical_verdict != "op_orde"


def test_good_school_backup_counts_not_applicable_checks_as_determined(
    demo_snapshots: dict[str, Snapshot],
) -> None:
    # The Microsoft 365 Backup checks do not apply (a third-party product backs up); only
    # backup.coverage could not be determined: 4 of 5 determined, not "1 van 5".
    report = _report(demo_snapshots["good"], [])
    backup = next(m for m in report.basismaatregelen if "backup.coverage" in m.checks)
    statuses = [c.result.status.value for c in report.checks if c.id in backup.checks]
    undetermined = sum(s in ("unknown", "not_licensed") for s in statuses)
    expected = f"{len(statuses) - undetermined} van {len(statuses)} controles vastgesteld"
    assert "not_applicable" in statuses and undetermined == 1
    assert backup.score.coverage_text == expected


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_cover_of_the_good_school_says_how_many_checks_weigh_as_not_met(
    demo_snapshots: dict[str, Snapshot], lang: str
) -> None:
    from m365apk.reports.html import render_html

    report = _report(demo_snapshots["good"], [])
    unknown = sum(c.result.status.value == "unknown" for c in report.checks)
    assert unknown >= 1
    html = render_html(report, lang)
    cover = unescape(re.sub(r"<[^>]+>", " ", html.split('id="reden"')[0]))
    words = {"nl": "telt in de score als niet voldaan", "en": "weighs in the score as not met"}
    assert words[lang] in cover and f": {unknown};" in cover


# --- the rules themselves ------------------------------------------------------------------------

SEVERITIES = st.sampled_from(["critical", "high", "medium", "low"])
STATUSES = st.sampled_from(
    ["pass", "partial", "fail", "unknown", "not_licensed", "not_applicable", "accepted"]
)
ITEMS = st.lists(st.tuples(SEVERITIES, STATUSES), max_size=30)
ANSWERS = st.lists(st.sampled_from([None, "ja", "nee", "nvt"]), max_size=4)


@given(ITEMS, st.data())
def test_a_check_losing_its_data_never_raises_the_score_or_the_verdict(items, data) -> None:
    measured = [i for i, (_, status) in enumerate(items) if status in ("pass", "partial", "fail")]
    if not measured:
        return
    i = data.draw(st.sampled_from(measured))
    lost = items[:i] + [(items[i][0], "unknown")] + items[i + 1 :]
    before, after = score_items(items), score_items(lost)
    assert before.score is not None and after.score is not None and after.score <= before.score
    assert VERDICT_RANK[after.verdict] <= VERDICT_RANK[before.verdict]
    assert after.weighed_as_not_met == before.weighed_as_not_met + 1


@given(ITEMS, ANSWERS, st.booleans())
def test_an_undetermined_critical_check_is_never_op_orde(items, answers, partial) -> None:
    items = items + [("critical", "unknown")]
    judged = judge(score_items(items), answers, partial_scan=partial)
    assert judged.technical_verdict != "op_orde" and judged.verdict != "op_orde"


@given(ITEMS)
def test_not_applicable_is_determined(items) -> None:
    score = score_items(items)
    undetermined = sum(status in ("unknown", "not_licensed") for _, status in items)
    assert score.determined == len(items) - undetermined
    noun = "controle" if len(items) == 1 else "controles"  # "0 van 1 controle", issue 27
    assert score.coverage_text == f"{score.determined} van {len(items)} {noun} vastgesteld"
    with_na = score_items(items + [("high", "not_applicable")])
    assert with_na.determined == score.determined + 1 and with_na.score == score.score
