"""End to end over real HTTP on loopback: the simulated Graph, the real client, the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from m365apk.checks.base import Status
from m365apk.checks.registry import all_checks, select_checks
from m365apk.cli import main
from m365apk.demo.server import Fault, SimulatedGraph
from m365apk.demo.tenant import TenantData, load_profile, without_permission
from m365apk.reports.schema import published
from m365apk.runs.scan import ScanOutput, run_scan
from m365apk.scanner.auth import LoopbackClientSecretCredential
from m365apk.scanner.graph import GraphSettings

from .conftest import FAST

pytestmark = pytest.mark.integration

MFA = "mfa.registration_coverage"
GA = "admin.global_admin_count"


def scan(
    tenant: TenantData, out: Path, sim: SimulatedGraph | None = None, checks: list | None = None
) -> ScanOutput:
    # The pipeline tests look at the first two checks; the catalogue has its own tests.
    checks = checks if checks is not None else select_checks(all_checks(), [MFA, GA])

    def go(s: SimulatedGraph) -> ScanOutput:
        cred = LoopbackClientSecretCredential(s.token_url, tenant.client_id, tenant.client_secret)
        return run_scan(
            cred,
            GraphSettings(base_url=s.base_url, **FAST),
            checks,
            tenant_id=tenant.tenant_id,
            out_dir=out,
            source="test",
        )

    if sim is not None:
        return go(sim)
    with SimulatedGraph(tenant) as started:
        return go(started)


def statuses(output: ScanOutput) -> dict[str, Status]:
    return {r.check_id: r.status for r in output.results}


@pytest.fixture(scope="module")
def weak() -> TenantData:
    return load_profile("weak")


@pytest.fixture(scope="module")
def good() -> TenantData:
    return load_profile("good")


def test_demo_command_writes_three_files(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path / "apk"), "--quiet"]) == 0
    printed = capsys.readouterr().out.split()
    for name in ("report.html", "report.json", "snapshot.json"):
        assert (tmp_path / "apk" / name).is_file()
        assert str((tmp_path / "apk" / name).resolve()) in printed


def test_weak_school_fails_both_checks(weak: TenantData, tmp_path: Path) -> None:
    out = scan(weak, tmp_path)
    result = statuses(out)
    assert result[GA] is Status.FAIL
    ga = next(r for r in out.results if r.check_id == GA)
    assert ga.measured == 6
    # No Entra ID P1: the registration report is refused, the per-user fallback measures.
    assert out.snapshot.dataset("userRegistrationDetails").status.value == "not_licensed"
    assert result[MFA] is Status.FAIL
    assert out.snapshot.licences.entra_plan == "free"


def test_good_board_passes_both_checks(good: TenantData, tmp_path: Path) -> None:
    out = scan(good, tmp_path)
    assert statuses(out) == {GA: Status.PASS, MFA: Status.PASS}
    assert not out.snapshot.partial
    assert out.snapshot.licences.entra_plan in ("p1", "p2")


def test_no_p1_without_fallback_permission_is_never_pass(weak: TenantData, tmp_path) -> None:
    tenant = without_permission(weak, "UserAuthenticationMethod.Read.All")
    out = scan(tenant, tmp_path)
    mfa = next(r for r in out.results if r.check_id == MFA)
    assert mfa.status in (Status.NOT_LICENSED, Status.UNKNOWN)
    assert "Authentication_RequestFromNonPremiumTenantOrB2CTenant" in mfa.reason
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Authentication_RequestFromNonPremiumTenantOrB2CTenant" in html
    assert out.snapshot.partial


@pytest.mark.parametrize(
    "permission, affected",
    [
        ("RoleManagement.Read.Directory", {GA, MFA}),
        ("User.Read.All", {MFA}),
        ("GroupMember.Read.All", {GA, MFA}),  # the good board has a role-assignable group
    ],
)
def test_removing_a_permission_turns_its_checks_unknown(
    good: TenantData, tmp_path: Path, permission: str, affected: set[str]
) -> None:
    # Directory.Read.All grants these reads too (as in Graph), so it goes as well.
    tenant = without_permission(without_permission(good, permission), "Directory.Read.All")
    out = scan(tenant, tmp_path)
    result = statuses(out)
    for check_id, status in result.items():
        if check_id in affected:
            assert status is Status.UNKNOWN, (check_id, status)
            reason = next(r.reason for r in out.results if r.check_id == check_id)
            assert permission in reason
        else:
            assert status is Status.PASS


def test_evaluate_twice_is_byte_identical(weak: TenantData, tmp_path: Path) -> None:
    scan(weak, tmp_path / "scan", checks=all_checks())
    snapshot = tmp_path / "scan" / "snapshot.json"
    assert main(["evaluate", str(snapshot), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["evaluate", str(snapshot), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    a = (tmp_path / "a" / "report.json").read_bytes()
    assert a == (tmp_path / "b" / "report.json").read_bytes()
    assert a == (tmp_path / "scan" / "report.json").read_bytes()
    jsonschema.validate(json.loads(a), json.loads(published()))


def test_secret_and_token_never_written(weak: TenantData, tmp_path: Path) -> None:
    scan(weak, tmp_path)
    for name in ("snapshot.json", "report.json", "report.html"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert weak.client_secret not in text
        assert "Bearer" not in text and "eyJ" not in text  # no JWTs


def test_throttling_and_outage_mid_scan_are_survived(good: TenantData, tmp_path: Path) -> None:
    with SimulatedGraph(good) as sim:
        sim.inject("/users", Fault(429, retry_after=0.05), Fault(429), Fault(503))
        sim.inject("/roleManagement/directory/roleAssignments", Fault(503, retry_after=0.01))
        out = scan(good, tmp_path, sim)
        assert statuses(out) == {GA: Status.PASS, MFA: Status.PASS}
        assert out.snapshot.stats.retries >= 4
        assert out.snapshot.stats.throttled_responses >= 2


def test_malformed_graph_response_makes_checks_unknown(good: TenantData, tmp_path: Path) -> None:
    with SimulatedGraph(good) as sim:
        sim.inject("/roleManagement/directory/roleAssignments", Fault(200, body=b'{"value": [ {'))
        out = scan(good, tmp_path, sim)
    ds = out.snapshot.dataset("roleAssignments")
    assert ds.status.value == "malformed" and ds.error_code == "malformed_response"
    assert statuses(out)[GA] is Status.UNKNOWN
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["partial"] is True


def test_multi_page_users_are_all_collected(tmp_path: Path) -> None:
    tenant = load_profile("board", users=2500)
    with SimulatedGraph(tenant) as sim:
        out = scan(tenant, tmp_path, sim)
        user_pages = [r for r in sim.requests if r.path.endswith("/users") and r.status == 200]
    users = out.snapshot.dataset("users")
    assert len(users.data) == len(tenant.users) == 2500
    assert users.pages == 3 == len(user_pages)
    assert len({u["id"] for u in users.data}) == 2500


def test_bad_secret_exits_3_with_one_line(weak: TenantData, tmp_path, capsys) -> None:
    with SimulatedGraph(weak) as sim:
        cred = LoopbackClientSecretCredential(sim.token_url, weak.client_id, "wrong")
        from m365apk.errors import AuthError

        with pytest.raises(AuthError, match="clientgeheim is onjuist"):
            run_scan(
                cred,
                GraphSettings(base_url=sim.base_url, **FAST),
                all_checks(),
                tenant_id=weak.tenant_id,
                out_dir=tmp_path,
                source="test",
            )
    assert not (tmp_path / "report.json").exists()


def test_accepted_risk_and_provider_framework_on_evaluate(weak: TenantData, tmp_path) -> None:
    scan(weak, tmp_path / "scan")
    exceptions = tmp_path / "uitzonderingen.yaml"
    exceptions.write_text(
        "- check_id: admin.global_admin_count\n"
        "  reason: Afbouw naar twee beheerders loopt, klaar in het voorjaar\n"
        "  accepted_by: M. Jansen (directeur)\n"
        "  expires: 2099-06-30\n",
        encoding="utf-8",
    )
    bio = tmp_path / "bio.yaml"
    bio.write_text(
        "framework: {id: BIO, name: Baseline Informatiebeveiliging Overheid}\n"
        "controls: [{id: '5.17.01', title: MFA}]\n"
        "checks: {mfa.registration_coverage: ['5.17.01']}\n",
        encoding="utf-8",
    )
    args = ["evaluate", str(tmp_path / "scan" / "snapshot.json"), "--out", str(tmp_path / "o")]
    assert main([*args, "--exceptions", str(exceptions), "--mappings", str(bio), "--quiet"]) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text(encoding="utf-8"))
    checks = {c["id"]: c for c in report["checks"]}
    assert checks[GA]["result"]["status"] == "accepted"
    assert "M. Jansen" in checks[GA]["result"]["reason"]
    assert checks[MFA]["controls"][0]["framework"] == "BIO"
    assert report["overall"]["accepted"] == 1


def test_bad_exceptions_file_is_one_line(weak: TenantData, tmp_path, capsys) -> None:
    scan(weak, tmp_path / "scan")
    bad = tmp_path / "x.yaml"
    bad.write_text("- check_id: a\n  reason: r\n", encoding="utf-8")
    args = ["evaluate", str(tmp_path / "scan" / "snapshot.json"), "--out", str(tmp_path / "o")]
    assert main([*args, "--exceptions", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "x.yaml" in err and "accepted_by" in err and len(err.splitlines()) == 1


def test_expired_secret_is_a_clear_auth_error(weak: TenantData, tmp_path) -> None:
    from m365apk.errors import AuthError

    with SimulatedGraph(weak, secret_expired=True) as sim:
        cred = LoopbackClientSecretCredential(sim.token_url, weak.client_id, weak.client_secret)
        with pytest.raises(AuthError, match="clientgeheim is verlopen.*AADSTS7000222"):
            run_scan(
                cred,
                GraphSettings(base_url=sim.base_url, **FAST),
                all_checks(),
                tenant_id=weak.tenant_id,
                out_dir=tmp_path,
                source="test",
            )
    assert not (tmp_path / "snapshot.json").exists()  # nothing half-written
