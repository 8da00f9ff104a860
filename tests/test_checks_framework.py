"""The check framework: registry, third-party entry points, and the missing-data guard."""

from __future__ import annotations

import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from m365apk.checks.base import Status
from m365apk.checks.evaluate import evaluate
from m365apk.checks.registry import CheckLoadError, all_checks, plugin_checks, select_checks
from m365apk.snapshot import Dataset, DatasetStatus, Snapshot, TenantInfo, ToolInfo

PLUGIN = textwrap.dedent(
    """
    from m365apk.checks import Area, Check, CheckResult, Severity, Source, Status

    def _evaluate(snapshot):
        n = len(snapshot.dataset("users").data)
        return CheckResult(check_id="acme.user_count", status=Status.PASS if n else Status.FAIL,
                           measured=n)

    CHECKS = [Check(id="acme.user_count", title="Aantal gebruikers", area=Area.ATTACK_SURFACE,
                    severity=Severity.LOW, datasets=("users",), basismaatregelen=(5,), norms=(),
                    threshold="meer dan nul", sources=(Source("ACME", "https://acme.example"),),
                    why="-", fix="-", evaluate=_evaluate)]
    """
)


def _install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, value: str):
    """A real distribution on sys.path, found by importlib.metadata like any installed one."""
    dist = tmp_path / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[m365apk.checks]\nacme = {value}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)


def _snapshot(**datasets: Dataset) -> Snapshot:
    return Snapshot(
        tool=ToolInfo(version="test"),
        tenant=TenantInfo(tenant_id="t"),
        collected_at=datetime(2026, 11, 1, tzinfo=UTC),
        source="test",
        graph_base_url="https://graph.microsoft.com",
        datasets=datasets,
    )


def test_entry_point_plugin_is_loaded_and_runs(tmp_path, monkeypatch) -> None:
    (tmp_path / "acme_checks.py").write_text(PLUGIN)
    _install_plugin(tmp_path, monkeypatch, "acme_checks", "acme_checks:CHECKS")
    ids = [c.id for c in all_checks()]
    assert "acme.user_count" in ids and "mfa.registration_coverage" in ids
    check = select_checks(all_checks(), ["acme.user_count"])[0]
    ok = Dataset(
        status=DatasetStatus.OK,
        endpoint="GET /v1.0/users",
        permission="User.Read.All",
        data=[{"id": "1"}],
    )
    assert evaluate(_snapshot(users=ok), [check])[0].status is Status.PASS
    # The same plugin check without its data is unknown, never pass.
    result = evaluate(_snapshot(), [check])[0]
    assert result.status is Status.UNKNOWN and "niet opgehaald" in result.reason


def test_broken_plugin_is_named(tmp_path, monkeypatch) -> None:
    (tmp_path / "broken_checks.py").write_text("raise RuntimeError('kapot')\n")
    _install_plugin(tmp_path, monkeypatch, "broken_checks", "broken_checks:CHECKS")
    with pytest.raises(CheckLoadError, match="acme.*broken_checks.*kapot"):
        plugin_checks()


def test_plugin_with_duplicate_id_is_refused(tmp_path, monkeypatch) -> None:
    (tmp_path / "dup_checks.py").write_text(
        PLUGIN.replace("acme.user_count", "mfa.registration_coverage")
    )
    _install_plugin(tmp_path, monkeypatch, "dup_checks", "dup_checks:CHECKS")
    with pytest.raises(CheckLoadError, match="dubbele"):
        all_checks()


def test_plugin_returning_junk_is_refused(tmp_path, monkeypatch) -> None:
    (tmp_path / "junk_checks.py").write_text("CHECKS = ['not a check']\n")
    _install_plugin(tmp_path, monkeypatch, "junk_checks", "junk_checks:CHECKS")
    with pytest.raises(CheckLoadError, match="geen m365apk Check"):
        plugin_checks()


def test_unknown_check_id_is_a_clear_error() -> None:
    with pytest.raises(CheckLoadError, match="check-id onbekend: nope"):
        select_checks(all_checks(), ["nope"])


@pytest.mark.parametrize(
    "status",
    [s for s in DatasetStatus if s is not DatasetStatus.OK],
)
def test_no_builtin_check_passes_without_its_data(status: DatasetStatus) -> None:
    bad = Dataset(
        status=status,
        endpoint="GET /x",
        permission="X.Read.All",
        http_status=403,
        error_code="Authorization_RequestDenied",
        error_message="no",
    )
    snapshot = _snapshot(**{name: bad for c in all_checks() for name in c.all_datasets})
    for result in evaluate(snapshot, all_checks()):
        assert result.status in (Status.UNKNOWN, Status.NOT_LICENSED), result
        assert result.reason


def test_raising_check_becomes_unknown_with_reason() -> None:
    from dataclasses import replace

    check = replace(all_checks()[0], evaluate=lambda s: 1 / 0)
    ok = Dataset(status=DatasetStatus.OK, endpoint="e", permission="p", data=[])
    snap = _snapshot(**{n: ok for n in check.all_datasets})
    result = evaluate(snap, [check])[0]
    assert result.status is Status.UNKNOWN and "ZeroDivisionError" in result.reason
