"""A dataset the collector did not ask for lack of a licence carries that licence as data
(`Dataset.missing_licence`), and reports say it from their catalogue in their language; the
collector's Dutch note is no longer parsed (#14 leftover), except in snapshots written before."""

from __future__ import annotations

from m365apk.checks.base import not_asked
from m365apk.reports.model import DatasetProblem
from m365apk.scanner.collector import _unlicensed
from m365apk.scanner.datasets import DATASETS
from m365apk.snapshot import Dataset, DatasetStatus


def _not_licensed(**fields: object) -> Dataset:
    """The conditional access policies, not_licensed, with the given error fields."""
    return Dataset(
        status=DatasetStatus.NOT_LICENSED,
        endpoint="GET /v1.0/identity/conditionalAccess/policies",
        permission="Policy.Read.All",
        **fields,
    )


def test_the_collector_records_the_missing_licence_as_data() -> None:
    ds = _unlicensed(DATASETS["conditionalAccessPolicies"], "Entra ID P1")
    assert ds.status is DatasetStatus.NOT_LICENSED and ds.missing_licence == "Entra ID P1"
    said = not_asked(ds)
    assert said is not None
    assert said.render("en") == "not requested: no Entra ID P1 among the tenant's licences"


def test_the_report_says_it_from_the_field_whatever_the_collector_wrote() -> None:
    problem = DatasetProblem(
        dataset="conditionalAccessPolicies",
        endpoint="GET /v1.0/identity/conditionalAccess/policies",
        status="not_licensed",
        permission="Policy.Read.All",
        error_code="licence_not_in_subscribedSkus",
        error_message="other words, perhaps a later collector's",
        missing_licence="Intune",
    )
    said = not_asked(problem)
    assert said is not None and "Intune" in said.render("en")


def test_a_snapshot_written_before_the_field_still_reads() -> None:
    old = _not_licensed(
        error_code="licence_not_in_subscribedSkus",
        error_message="niet opgevraagd: geen Entra ID P1 in de licenties van de tenant",
    )
    said = not_asked(old)
    assert said is not None and said.render("en").endswith(
        "no Entra ID P1 among the tenant's licences"
    )


def test_graphs_own_errors_are_not_taken_for_a_licence_not_asked() -> None:
    graph_said = _not_licensed(
        http_status=403,
        error_code="Authorization_RequestDenied",
        error_message="niet opgevraagd: geen Entra ID P1 in de licenties van de tenant",
    )
    assert not_asked(graph_said) is None
