"""CLI: user mistakes get one line and exit code 2 or 3, never a traceback."""

from __future__ import annotations

import json

import pytest

from m365apk.cli import main


@pytest.mark.parametrize(
    "argv, code, text",
    [
        (
            ["scan", "--tenant-id", "not-a-guid", "--client-id", "x", "--client-secret-env", "E"],
            2,
            "geen GUID",
        ),
        (
            [
                "scan",
                "--tenant-id",
                "11111111-2222-3333-4444-555555555555",
                "--client-id",
                "x",
                "--client-secret-env",
                "M365APK_DEFINITELY_UNSET",
            ],
            2,
            "M365APK_DEFINITELY_UNSET",
        ),
        (
            ["scan", "--tenant-id", "11111111-2222-3333-4444-555555555555", "--client-id", "x"],
            2,
            "--certificate",
        ),
        (
            [
                "scan",
                "--tenant-id",
                "11111111-2222-3333-4444-555555555555",
                "--client-id",
                "x",
                "--certificate",
                "/nonexistent.pem",
            ],
            2,
            "certificaat niet gevonden",
        ),
        (["demo", "--profile", "nope"], 2, "onbekend profiel"),
        (["demo", "--checks", "nope"], 2, "check-id onbekend: nope"),
        (["evaluate", "/nonexistent/snapshot.json", "--out", "x"], 2, "niet gevonden"),
        (["frobnicate"], 2, "ongeldige keuze"),
    ],
)
def test_user_errors(argv, code, text, capsys, monkeypatch) -> None:
    monkeypatch.delenv("M365APK_DEFINITELY_UNSET", raising=False)
    assert main(argv) == code
    err = capsys.readouterr().err
    assert text in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_corrupt_snapshot_is_a_clear_error(tmp_path, capsys) -> None:
    bad = tmp_path / "snapshot.json"
    bad.write_text('{"schema_version": 1, "tool": ')
    assert main(["evaluate", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "geen geldige m365apk-snapshot" in err and len(err.strip().splitlines()) == 1


def test_checks_json_lists_metadata(capsys) -> None:
    assert main(["checks", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["admin.global_admin_count"]["basismaatregelen"] == [4]
    assert "AuditLog.Read.All" in rows["mfa.registration_coverage"]["permissions"]


def test_permissions_are_read_only_and_complete(capsys) -> None:
    assert main(["permissions"]) == 0
    perms = capsys.readouterr().out.split()
    assert "Organization.Read.All" in perms and "RoleManagement.Read.Directory" in perms
    # Read-only Graph permissions; the one Exchange permission (Office 365 Exchange Online) is
    # ManageAsAppV2 by name: its client can send only Get- cmdlets (tests/test_exchange.py).
    assert all((".Read" in p or p == "Exchange.ManageAsAppV2") and "Write" not in p for p in perms)


def test_permissions_for_selected_checks_are_minimal(capsys) -> None:
    assert main(["permissions", "--checks", "mfa.weak_methods_disabled"]) == 0
    perms = capsys.readouterr().out.split()
    # the check's own permission plus what every scan reads (tenant name, licences)
    assert perms == ["Organization.Read.All", "Policy.Read.AuthenticationMethod"]


def test_checks_json_lists_every_check_with_its_metadata(capsys) -> None:
    from m365apk.checks.registry import all_checks

    assert main(["checks", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(all_checks(opt_in=True)) >= 40
    for row in rows:
        # a check that reads only Exchange Online asks only the Exchange permission
        assert row["area"] and row["basismaatregelen"]
        assert row["permissions"] or row["exchange_permissions"] == ["Exchange.ManageAsAppV2"]
        assert all(".Read" in p for p in row["permissions"])
    licensed = {r["id"]: r["licence"] for r in rows if r["licence"]}
    assert "Microsoft Entra ID P2" in licensed["admin.standing_access"]
