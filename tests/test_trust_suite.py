"""The generic trust suite (issue #25): every registered check, third-party plugins included,
held to transformations of the weak and good demo snapshots derived from what it declares it
reads. No transformation may improve its verdict; the families and their relations are in
tests/trust/suite.py. The matrix (checks x families: cells run / violations) is printed in the
terminal summary and written to the session's temporary folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from m365apk.checks.registry import all_checks
from m365apk.snapshot import Snapshot
from tests.trust import suite

PROFILES = ("weak", "good")


@pytest.fixture(scope="session")
def demo_snapshots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Snapshot]:
    """The snapshots `m365apk demo` collects from the simulated weak and good schools."""
    from m365apk.cli import main

    out = {}
    for profile in PROFILES:
        folder = tmp_path_factory.mktemp(f"trust-demo-{profile}")
        assert main(["demo", "--profile", profile, "--out", str(folder), "--quiet"]) == 0
        out[profile] = Snapshot.read(folder / "snapshot.json")
    return out


@pytest.fixture(scope="session")
def trust_cells(
    demo_snapshots: dict[str, Snapshot], tmp_path_factory: pytest.TempPathFactory
) -> list[suite.Cell]:
    checks = all_checks()
    cells: list[suite.Cell] = []
    for profile in PROFILES:
        cells += suite.run_profile(checks, demo_snapshots[profile], profile)
    text = suite.matrix(cells, [c.id for c in checks])
    bad = sorted(c.line() for c in cells if c.violation)
    path = tmp_path_factory.mktemp("trust-suite") / "matrix.txt"
    path.write_text(text + "\n\n" + "\n".join(bad) + "\n", "utf-8")
    suite.REPORT[:] = [text, f"violations: {len(bad)} (all listed in {path})"]
    # Under pytest-xdist this runs in a worker, whose terminal summary nobody sees: leave the
    # summary in the run's base folder (a worker's is popen-gwN inside it) for conftest's hook.
    root = tmp_path_factory.getbasetemp()
    root = root.parent if root.name.startswith("popen-gw") else root
    (root / suite.SUMMARY_FILE).write_text("\n".join(suite.REPORT) + "\n", "utf-8")
    print("\n" + text)
    return cells


def test_every_registered_check_is_held_to_the_suite(trust_cells: list[suite.Cell]) -> None:
    judged = {c.check_id for c in trust_cells}
    missing = [c.id for c in all_checks() if c.datasets and c.id not in judged]
    assert not missing, f"checks with datasets but no cell: {missing}"


def test_every_family_runs(trust_cells: list[suite.Cell]) -> None:
    """The demo snapshots give each family something to transform (else the suite would hold
    nothing and report 0 violations)."""
    ran = {c.family for c in trust_cells}
    assert ran == set(suite.FAMILIES)


@pytest.mark.parametrize("family", suite.FAMILIES)
def test_no_transformation_improves_a_verdict(trust_cells: list[suite.Cell], family: str) -> None:
    bad = sorted(c.line() for c in trust_cells if c.family == family and c.violation)
    assert not bad, f"{len(bad)} violations in {family}:\n" + "\n".join(bad)


def _always_pass_check(datasets: tuple[str, ...]) -> Any:
    from m365apk.checks.base import Area, Check, CheckResult, Severity, Status

    return Check(
        id="plugin.trusts_anything",
        area=Area.MFA,
        severity=Severity.LOW,
        datasets=datasets,
        basismaatregelen=(9,),
        norms=(),
        sources=(),
        evaluate=lambda s: CheckResult(check_id="plugin.trusts_anything", status=Status.PASS),
        title="t",
        threshold="t",
        why="t",
        fix="t",
    )


def test_a_plugin_without_a_declaration_that_always_passes_is_caught(
    demo_snapshots: dict[str, Snapshot],
) -> None:
    """A third-party check declares nothing: the suite derives a conservative declaration from
    its datasets, and a check that passes whatever the data says breaks it in every family
    its datasets reach."""
    check = _always_pass_check(
        ("users", "conditionalAccessPolicies", "applications", "servicePrincipals")
        + ("appRoleAssignedTo", "oauth2PermissionGrants", "authorizationPolicy")
    )
    decl = suite.declaration(check)
    assert not decl.declared
    assert decl.population == "users"
    assert set(decl.judges) == {"conditional_access", "credentials", "app_permissions"}
    cells = suite.run_profile([check], demo_snapshots["good"], "good")
    caught = {c.family for c in cells if c.violation}
    assert caught >= {"ca_exclusion", "credentials", "app_permissions", "population"}


def test_better_orders_verdicts_as_the_design_says() -> None:
    assert suite.better("fail", "pass") and suite.better("unknown", "pass")
    assert suite.better("fail", "partial") and suite.better("partial", "accepted")
    assert suite.better("fail", "not_applicable") and suite.better("partial", "not_licensed")
    assert not suite.better("pass", "unknown") and not suite.better("fail", "unknown")
    assert not suite.better("pass", "fail") and not suite.better("accepted", "fail")


def test_checks_json_lists_what_each_check_reads() -> None:
    """`python -m m365apk checks --json`: per check its datasets (required, alternatives,
    optional) and its declaration (population, settings, properties, judges)."""
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run(
        [sys.executable, "-m", "m365apk", "checks", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    listed = json.loads(run.stdout)
    entries = listed if isinstance(listed, list) else listed.get("checks", listed)
    by_id = {e["id"]: e for e in entries}
    for check in all_checks(opt_in=True):
        reads = by_id[check.id]["reads"]
        assert reads["datasets"] == list(check.datasets)
        assert reads["alternatives"] == list(check.alternatives)
        assert reads["optional"] == list(check.optional)
        assert reads == {
            "datasets": list(check.datasets),
            "alternatives": list(check.alternatives),
            "optional": list(check.optional),
            **check.reads.to_json(),
        }
        assert set(reads) >= {"population", "settings", "properties", "judges"}


def test_mail_domain_without_dns_lookups_is_not_judged_as_absent(
    demo_snapshots: dict[str, Snapshot],
) -> None:
    """The domain list names a verified mail domain, but its DNS lookups are missing (an
    empty mailDomainDns): the e-mail checks say it was not looked up, not 'no mail domain'."""
    weak = demo_snapshots["weak"]
    lookups = weak.datasets["mailDomainDns"]
    snapshot = suite.replace(weak, {"mailDomainDns": lookups.model_copy(update={"data": {}})})
    for check in all_checks():
        if check.id.startswith("email."):
            result = check.run(snapshot)
            assert result.status.value == "unknown", (check.id, result.status, result.reason)


def test_dns_lookup_without_a_status_is_undetermined_without_naming_none(
    demo_snapshots: dict[str, Snapshot],
) -> None:
    """A mail domain's DMARC lookup kept without its status: undetermined, and the reason
    does not say the status was "None"."""
    good = demo_snapshots["good"]
    lookups = good.datasets["mailDomainDns"]
    data = {d: {**v, "dmarc": {"records": []}} for d, v in lookups.data.items()}
    snapshot = suite.replace(good, {"mailDomainDns": lookups.model_copy(update={"data": data})})
    dmarc = next(c for c in all_checks() if c.id == "email.dmarc").run(snapshot)
    assert dmarc.status.value == "unknown"
    assert "None" not in (dmarc.reason or "")


def _migration(snapshot: Snapshot, state: Any, created: str) -> Any:
    policy = snapshot.datasets["authenticationMethodsPolicy"]
    orgs = snapshot.datasets["organization"]
    changed = suite.replace(
        snapshot,
        {
            "authenticationMethodsPolicy": policy.model_copy(
                update={"data": {**policy.data, "policyMigrationState": state}}
            ),
            "organization": orgs.model_copy(
                update={"data": [{**o, "createdDateTime": created} for o in orgs.data]}
            ),
        },
    )
    return next(c for c in all_checks() if c.id == "mfa.methods_migration").run(changed)


def test_school_tenant_from_2019_without_a_migration_state_is_not_called_migrated(
    demo_snapshots: dict[str, Snapshot],
) -> None:
    """Graph leaves policyMigrationState null for tenants created after the legacy MFA and
    SSPR settings were retired; for a school tenant from 2019 null proves nothing."""
    old = _migration(demo_snapshots["weak"], None, "2019-03-01T08:00:00Z")
    assert old.status.value == "unknown"
    new = _migration(demo_snapshots["weak"], None, "2025-11-15T08:00:00Z")
    assert new.status.value == "pass"


def test_devices_whose_operating_system_intune_does_not_give_are_not_left_out(
    demo_snapshots: dict[str, Snapshot],
) -> None:
    """Intune gives no operatingSystem for the school's devices: BitLocker coverage is not
    determined, not 'no Windows devices' (not_applicable)."""
    weak = demo_snapshots["weak"]
    devices = weak.datasets["managedDevices"]
    data = [{**d, "operatingSystem": None} for d in devices.data]
    snapshot = suite.replace(weak, {"managedDevices": devices.model_copy(update={"data": data})})
    result = next(c for c in all_checks() if c.id == "devices.encryption").run(snapshot)
    assert result.status.value == "unknown"


def test_school_whose_licences_are_not_recognised_has_no_registration_coverage_pass(
    demo_snapshots: dict[str, Snapshot],
) -> None:
    """The licences' plan names are unknown to the scanner, so nobody is recognised as staff;
    the admins alone are no measure of staff MFA registration."""
    good = demo_snapshots["good"]
    skus = good.datasets["subscribedSkus"]
    data = [
        {**s, "skuPartNumber": f"UNKNOWN_{i}", "servicePlans": []} for i, s in enumerate(skus.data)
    ]
    snapshot = suite.replace(good, {"subscribedSkus": skus.model_copy(update={"data": data})})
    result = next(c for c in all_checks() if c.id == "mfa.registration_coverage").run(snapshot)
    assert result.status.value == "unknown"
