"""Bad input is one line naming the file (and the field), exit 2, never a traceback; snapshots
that were edited, truncated or come from a newer m365apk are refused or flagged; two scan-all
runs on one output folder exclude each other (issue 11, findings 8, 9, 10 and 11)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from m365apk.cli import main
from m365apk.demo.server import SimulatedGraph
from m365apk.demo.tenant import load_profile
from m365apk.snapshot.model import file_sha256

LATIN1 = "check_id: ‘mfa’ — café\n".encode("cp1252")  # Windows-1252, as Notepad used to save
EXCEPTION = (
    "- check_id: mfa.registration_coverage\n  reason: Project\n  accepted_by: Directeur\n"
    "  expires: 2030-01-01\n"
)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--profile", "weak", "--out", str(out), "--quiet"]) == 0
    return out / "snapshot.json"


def one_line_error(capsys, rc: int, *names: str) -> str:
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("m365apk: "), err
    assert "Traceback" not in err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


# --- finding 8: files that are not UTF-8, directories, malformed YAML ----------------------

BAD_FILES: dict[str, Callable[[Path], Path]] = {
    "not_utf8": lambda d: _write(d / "bestand.yaml", LATIN1),
    "directory": lambda d: _mkdir(d / "map.yaml"),
    "malformed_yaml": lambda d: _write(d / "bestand.yaml", b"a: [1, 2\nb: {c\n"),
    "missing": lambda d: d / "bestaat-niet.yaml",
}
WHAT = {"not_utf8": "UTF-8", "directory": "map", "malformed_yaml": "regel ", "missing": "niet"}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
@pytest.mark.parametrize("option", ["--exceptions", "--attestations", "--tenant-config"])
def test_bad_evaluate_input_file_is_one_line_exit_2(
    snapshot, tmp_path, capsys, option: str, kind: str
) -> None:
    bad = BAD_FILES[kind](tmp_path)
    rc = main(["evaluate", str(snapshot), "--out", str(tmp_path / "o"), option, str(bad)])
    one_line_error(capsys, rc, str(bad), WHAT[kind])


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
@pytest.mark.parametrize("command", ["setup", "scan-all", "doctor"])
def test_bad_tenants_file_is_one_line_exit_2(tmp_path, capsys, command: str, kind: str) -> None:
    bad = BAD_FILES[kind](tmp_path)
    one_line_error(capsys, main([command, str(bad)]), str(bad), WHAT[kind])


def test_malformed_yaml_names_line_and_column(snapshot, tmp_path, capsys) -> None:
    bad = _write(tmp_path / "uitzonderingen.yaml", b"- check_id: x\n  reason: [open\n")
    rc = main(["evaluate", str(snapshot), "--out", str(tmp_path / "o"), "--exceptions", str(bad)])
    assert "regel 3, kolom 1" in one_line_error(capsys, rc, str(bad))


def test_tenant_config_field_error_names_file_and_field(snapshot, tmp_path, capsys) -> None:
    bad = _write(tmp_path / "instellingen.yaml", b"break_glass:\n  - user: bg@x.nl\n")
    rc = main(
        ["evaluate", str(snapshot), "--out", str(tmp_path / "o"), "--tenant-config", str(bad)]
    )
    one_line_error(capsys, rc, str(bad), "break_glass.0.reason")


def test_non_utf8_tenant_config_in_scan_all_stays_with_that_tenant(tmp_path) -> None:
    """In scan-all a school's unreadable settings file is that school's config error."""
    from m365apk.runs.portfolio import scan_all
    from m365apk.runs.tenants import load_tenants

    _write(tmp_path / "regenboog.yaml", LATIN1)
    tenants = _write(
        tmp_path / "tenants.yaml",
        textwrap.dedent(
            """\
            output: out
            graph_url: http://127.0.0.1:9
            login_url: http://127.0.0.1:9
            defaults: {client_id: c, credential: {client_secret_env: NIET_GEZET_I11}}
            tenants:
              - {name: Regenboog, tenant_id: 6f1c2b9e-3d4a-4e5f-8a7b-1c2d3e4f5a6b,
                 tenant_config: regenboog.yaml}
            """
        ).encode(),
    )
    [outcome] = scan_all(load_tenants(tenants), [], run_id="r")
    assert outcome.outcome == "config_error" and "UTF-8" in (outcome.error or "")
    assert "regenboog.yaml" in (outcome.error or "")


def test_bad_input_never_a_traceback_in_a_real_process(tmp_path) -> None:
    bad = _write(tmp_path / "tenants.yaml", LATIN1)
    done = subprocess.run(
        [sys.executable, "-m", "m365apk.cli", "setup", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and str(bad) in done.stderr


# --- finding 11: exceptions with unknown or duplicate check ids ----------------------------


def test_exceptions_file_with_unknown_check_id_is_refused(snapshot, tmp_path, capsys) -> None:
    bad = _write(
        tmp_path / "u.yaml", EXCEPTION.replace("registration_coverage", "regstration").encode()
    )
    rc = main(["evaluate", str(snapshot), "--out", str(tmp_path / "o"), "--exceptions", str(bad)])
    one_line_error(capsys, rc, str(bad), "mfa.regstration", "check_id", "onbekende check")


def test_exceptions_file_with_duplicate_check_id_is_refused(snapshot, tmp_path, capsys) -> None:
    bad = _write(tmp_path / "u.yaml", (EXCEPTION + EXCEPTION).encode())
    rc = main(["evaluate", str(snapshot), "--out", str(tmp_path / "o"), "--exceptions", str(bad)])
    line = one_line_error(capsys, rc, str(bad), "uitzondering 2", "mfa.registration_coverage")
    assert "uitzondering 1" in line


def test_a_valid_exceptions_file_still_works(snapshot, tmp_path, capsys) -> None:
    good = _write(tmp_path / "u.yaml", EXCEPTION.encode())
    out = tmp_path / "o"
    rc = main(["evaluate", str(snapshot), "--out", str(out), "--exceptions", str(good), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    checks = {c["id"]: c for c in json.loads((out / "report.json").read_text())["checks"]}
    assert checks["mfa.registration_coverage"]["result"]["status"] == "accepted"


# --- finding 10: snapshot integrity --------------------------------------------------------


def test_report_records_the_sha256_of_its_snapshot(snapshot, tmp_path) -> None:
    scanned = json.loads((snapshot.parent / "report.json").read_text())
    assert scanned["snapshot_sha256"] == file_sha256(snapshot)
    out = tmp_path / "o"
    assert main(["evaluate", str(snapshot), "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "report.json").read_text())["snapshot_sha256"] == file_sha256(snapshot)


def _edited(snapshot: Path, tmp_path: Path, edit: Callable[[dict], None]) -> Path:
    doc = json.loads(snapshot.read_text())
    edit(doc)
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(doc))
    return path


def test_snapshot_from_a_newer_m365apk_is_refused(snapshot, tmp_path, capsys) -> None:
    newer = _edited(snapshot, tmp_path, lambda d: d.update(schema_version=99))
    rc = main(["evaluate", str(newer), "--out", str(tmp_path / "o")])
    one_line_error(capsys, rc, str(newer), "schema_version 99", "werk m365apk bij")


def test_truncated_snapshot_names_where_it_breaks(snapshot, tmp_path, capsys) -> None:
    cut = _write(tmp_path / "snapshot.json", snapshot.read_bytes()[:5000])
    rc = main(["evaluate", str(cut), "--out", str(tmp_path / "o")])
    line = one_line_error(capsys, rc, str(cut))
    assert "line" in line and "column" in line  # pydantic's position in the JSON


def test_snapshot_field_error_names_the_field(snapshot, tmp_path, capsys) -> None:
    bad = _edited(snapshot, tmp_path, lambda d: d["datasets"]["users"].update(status="prima"))
    rc = main(["evaluate", str(bad), "--out", str(tmp_path / "o")])
    one_line_error(capsys, rc, str(bad), "datasets.users.status")


def test_snapshot_edited_to_ok_without_data_is_refused(snapshot, tmp_path, capsys) -> None:
    def blank(doc: dict) -> None:
        for d in doc["datasets"].values():
            d.update(status="ok", data=None)

    edited = _edited(snapshot, tmp_path, blank)
    rc = main(["evaluate", str(edited), "--out", str(tmp_path / "o")])
    one_line_error(capsys, rc, str(edited), "status ok maar data is leeg")
    assert not (tmp_path / "o" / "report.json").exists()


def test_unreadable_dataset_edited_to_ok_and_empty_is_refused(snapshot, tmp_path, capsys) -> None:
    """A 403 dataset turned into `ok` with an empty list: no page was ever read for it."""

    def forge(doc: dict) -> None:
        users = doc["datasets"]["userRegistrationDetails"]
        assert users["status"] != "ok" or users["pages"] > 0
        users.update(status="ok", data=[], pages=0, http_status=None, error_code=None, items=0)

    edited = _edited(snapshot, tmp_path, forge)
    rc = main(["evaluate", str(edited), "--out", str(tmp_path / "o")])
    one_line_error(capsys, rc, str(edited), "datasets.userRegistrationDetails", "geen pagina")


def test_snapshot_with_items_removed_is_flagged(snapshot, tmp_path, capsys) -> None:
    def drop_admins(doc: dict) -> None:
        doc["datasets"]["roleAssignments"]["data"] = doc["datasets"]["roleAssignments"]["data"][:1]

    edited = _edited(snapshot, tmp_path, drop_admins)
    rc = main(["evaluate", str(edited), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 0 and "waarschuwing" in err and "datasets.roleAssignments" in err


def test_a_clean_snapshot_has_no_inconsistencies(snapshot, tmp_path, capsys) -> None:
    assert main(["evaluate", str(snapshot), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert "waarschuwing" not in capsys.readouterr().err


# --- finding 9: two scan-all runs on one output folder and history -------------------------


def test_second_scan_all_on_the_same_output_names_the_holder_and_exits_2(tmp_path) -> None:
    tenant = load_profile("weak")
    with SimulatedGraph(tenant, latency_ms=2000) as sim:
        tenants = _write(
            tmp_path / "tenants.yaml",
            (
                f"output: out\ngraph_url: {sim.base_url}\nlogin_url: {sim.base_url}\n"
                f"tenants:\n  - name: {tenant.display_name}\n    tenant_id: {tenant.tenant_id}\n"
                f"    client_id: {tenant.client_id}\n"
                "    credential: {client_secret_env: I11_SECRET}\n"
            ).encode(),
        )
        env = dict(os.environ, I11_SECRET=tenant.client_secret)
        command = [sys.executable, "-m", "m365apk.cli", "scan-all", str(tenants), "--quiet"]
        command += ["--checks", "admin.global_admin_count"]  # a few requests: a fast test
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lock = tmp_path / "out" / ".scan-all.lock"
        deadline = time.time() + 60
        while time.time() < deadline and str(first.pid) not in _read(lock):
            time.sleep(0.02)
        assert first.poll() is None, "the first run ended before the second could start"
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2, second.stderr
        line = second.stderr.strip()
        assert len(line.splitlines()) == 1 and "Traceback" not in line
        assert f"pid {first.pid}" in line and "gestart" in line and str(tmp_path / "out") in line
        sim.latency = 0.0  # slow only while the second run needed the first to be busy
        # The first run is not disturbed: it finishes and records its school as scanned.
        assert first.wait(timeout=120) == 0, first.stderr.read() if first.stderr else ""
        # A run killed while holding the lock does not block the next one (flock dies with it).
        killed = subprocess.Popen(
            [*command, "--fresh"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.time() + 60
        while time.time() < deadline and str(killed.pid) not in _read(lock):
            time.sleep(0.02)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        again = subprocess.run(
            [*command, "--fresh"], env=env, capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0, again.stderr


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
