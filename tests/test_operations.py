"""The provider's operations over loopback: scan-all over several simulated schools, resume
after a kill, failures that stay local, history and diff, the overview page, the schedule."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from m365apk.cli import main
from m365apk.demo.server import SimulatedGraph
from m365apk.demo.tenant import TenantData, load_profile

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def schools() -> list[TenantData]:
    return [
        load_profile("weak"),
        # 900 users: two runs of these schools stay within the app's ten signInActivity pages
        # of the first minute (scanner/pacing.py), so no test waits on Graph's pace
        load_profile("good", users=900),
        load_profile("board", users=300),
        load_profile("board", users=200, seed=2),
    ]


def distinct(tenants: list[TenantData]) -> list[TenantData]:
    """The two board tenants share a profile: give the second its own id and name."""
    from dataclasses import replace

    last = tenants[-1]
    return tenants[:-1] + [
        replace(last, tenant_id="3c3c3c3c-1111-4222-8333-444444444444", display_name="SKO Noord")
    ]


@pytest.fixture(scope="module")
def sim(schools) -> Iterator[SimulatedGraph]:
    with SimulatedGraph(distinct(schools), latency_ms=15) as s:
        yield s


def write_tenants(
    folder: Path, sim: SimulatedGraph, tenants: list[TenantData], extra: str = ""
) -> Path:
    lines = [
        f"output: out\ngraph_url: {sim.base_url}\nlogin_url: {sim.base_url}\nconcurrency: 1",
        "tenants:",
    ]
    for i, t in enumerate(tenants):
        lines.append(
            f"  - name: {t.display_name}\n    tenant_id: {t.tenant_id}\n    school_type: po\n"
            f"    client_id: {t.client_id}\n    credential: {{client_secret_env: SECRET_{i}}}"
        )
    path = folder / "tenants.yaml"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def secrets(tenants: list[TenantData]) -> dict[str, str]:
    return {f"SECRET_{i}": t.client_secret for i, t in enumerate(tenants)}


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute(
            "SELECT tenant_id, outcome, finished_at, id FROM scans ORDER BY id"
        ).fetchall()


def test_scan_all_kill_and_resume(sim, schools, tmp_path) -> None:
    tenants = distinct(schools)
    path = write_tenants(tmp_path, sim, tenants)
    env = dict(os.environ, **secrets(tenants))
    command = [
        sys.executable,
        "-m",
        "m365apk.cli",
        "scan-all",
        str(path),
        "--run-id",
        "2026-apk",
        "--quiet",
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = tmp_path / "out" / "history.sqlite"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            if db.exists() and any(r[1] == "ok" for r in rows(db)):
                break
        except sqlite3.OperationalError:  # the file exists before its tables do
            pass
        time.sleep(0.05)
    assert proc.poll() is None, "scan-all finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {r[0]: r for r in rows(db) if r[1] == "ok"}
    assert 1 <= len(first) < len(tenants)

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    final = rows(db)
    assert sorted(r[0] for r in final) == sorted(t.tenant_id for t in tenants)  # one row each
    for row in first.values():
        assert row in final  # finished tenants were not redone
    assert "al gescand in deze ronde" in again.stdout
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for t in tenants:
        folders = list((tmp_path / "out").glob(f"*-{t.tenant_id[:8]}/2026-apk"))
        assert len(folders) == 1 and (folders[0] / "report.html").is_file()
        assert not list((tmp_path / "out").glob(f"*-{t.tenant_id[:8]}/*.onvolledig"))
    assert (tmp_path / "out" / "overzicht.html").is_file()


def test_one_bad_tenant_does_not_stop_the_others(
    sim, schools, tmp_path, monkeypatch, capsys
) -> None:
    tenants = distinct(schools)[:2]
    extra = (
        "  - name: School Zonder Toestemming\n"
        "    tenant_id: 11111111-2222-3333-4444-555555555555\n"
        "    client_id: onbekend\n    credential: {client_secret_env: SECRET_0}\n"
        "  - name: Verkeerd Geheim\n"
        f"    tenant_id: {schools[2].tenant_id}\n    client_id: {schools[2].client_id}\n"
        "    credential: {client_secret_env: WRONG_SECRET}\n"
    )
    path = write_tenants(tmp_path, sim, tenants, extra)
    for key, value in secrets(tenants).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WRONG_SECRET", "niet-goed")
    assert main(["scan-all", str(path), "--quiet"]) == 4  # some tenants failed
    out = capsys.readouterr().out
    assert "aanmelden mislukt" in out and "AADSTS90002" in out and "clientgeheim is onjuist" in out
    overview = (tmp_path / "out" / "overzicht.html").read_text(encoding="utf-8")
    assert "laatste scan mislukt" in overview and "Verkeerd Geheim" in overview
    outcomes = {r[0]: r[1] for r in rows(tmp_path / "out" / "history.sqlite")}
    assert outcomes[tenants[0].tenant_id] == "ok" and outcomes[tenants[1].tenant_id] == "ok"
    assert outcomes[schools[2].tenant_id] == "auth_error"
    # The secret itself is never printed or logged.
    assert "niet-goed" not in out and tenants[0].client_secret not in out


def test_history_diff_and_overview_trend(sim, schools, tmp_path, monkeypatch, capsys) -> None:
    tenant = schools[0]
    path = write_tenants(tmp_path, sim, [tenant])
    monkeypatch.setenv("SECRET_0", tenant.client_secret)
    assert main(["scan-all", str(path), "--run-id", "2025", "--quiet"]) == 0
    exceptions = tmp_path / "exc.yaml"
    exceptions.write_text(
        "- {check_id: admin.global_admin_count, reason: afbouw, accepted_by: directeur, "
        "expires: 2099-01-01}\n",
        encoding="utf-8",
    )
    path.write_text(path.read_text() + f"    exceptions: {exceptions}\n", encoding="utf-8")
    assert main(["scan-all", str(path), "--run-id", "2026", "--quiet"]) == 0
    capsys.readouterr()
    db = tmp_path / "out" / "history.sqlite"
    assert main(["history", tenant.tenant_id, "--db", str(db)]) == 0
    listing = capsys.readouterr().out
    assert "2025" in listing and "2026" in listing
    assert main(["diff", tenant.tenant_id, "--db", str(db)]) == 0
    changes = capsys.readouterr().out
    assert "admin.global_admin_count" in changes and "geaccepteerd risico" in changes
    overview = (tmp_path / "out" / "overzicht.html").read_text(encoding="utf-8")
    assert "→" in overview  # a trend over two APKs
    # The school's own report compares with its previous APK, from the history.
    report = next((tmp_path / "out").glob("*/2026/report.html")).read_text(encoding="utf-8")
    assert "Ten opzichte van de vorige APK" in report and "Verschil met vorige APK" in report
    assert 'aria-labelledby="trend-title"' in report  # the trend over APKs, as inline SVG


def test_shards_merge_into_one_history(sim, schools, tmp_path, monkeypatch) -> None:
    tenants = distinct(schools)[:2]
    path = write_tenants(tmp_path, sim, tenants)
    for key, value in secrets(tenants).items():
        monkeypatch.setenv(key, value)
    for index in (0, 1):
        history = tmp_path / f"shard-{index}.sqlite"
        args = [
            "scan-all",
            str(path),
            "--shard-index",
            str(index),
            "--shard-count",
            "2",
            "--history",
            str(history),
            "--quiet",
        ]
        assert main(args) == 0
        assert len(rows(history)) == 1
    merged = tmp_path / "merged.sqlite"
    assert (
        main(["history-merge", str(merged), *(str(tmp_path / f"shard-{i}.sqlite") for i in (0, 1))])
        == 0
    )
    assert sorted(r[0] for r in rows(merged)) == sorted(t.tenant_id for t in tenants)


def test_schedule_keeps_running_after_a_failed_run(
    sim, schools, tmp_path, monkeypatch, capsys
) -> None:
    """A round that fails (here: the tenants file is gone when the first round starts) is
    logged and the schedule goes on. A tenants file that is bad when `schedule` starts is
    refused at once instead (tests/test_bad_input_matrix.py): no months of silent waiting."""
    import m365apk.runs.schedule as schedule

    tenant = schools[0]
    path = write_tenants(tmp_path, sim, [tenant])
    good = path.read_bytes()
    monkeypatch.setenv("SECRET_0", tenant.client_secret)
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # no real waiting; between rounds the file changes
        waits.append(seconds)
        if len(waits) == 1:
            path.unlink()  # absent at the first fire: that round fails
        else:
            path.write_bytes(good)

    from types import SimpleNamespace

    monkeypatch.setattr(schedule, "time", SimpleNamespace(sleep=sleep))  # the schedule's only
    args = ["schedule", str(path), "--cron", "0 6 1 9 *", "--max-runs", "2", "--quiet"]
    assert main([*args, "--log-format", "json"]) == 0
    text = capsys.readouterr().err
    assert '"level": "error"' in text and "tenantsbestand niet gevonden" in text
    assert "klaar (exitcode 0)" in text
    assert '"tenant_id": "' + tenant.tenant_id in text
    assert (tmp_path / "out" / "history.sqlite").is_file()
    path.unlink()
    assert main(args) == 2  # bad at the start: refused, nothing waited for
    assert "tenantsbestand niet gevonden" in capsys.readouterr().err and len(waits) == 2


def test_tenants_file_errors_are_one_line(tmp_path, capsys) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("tenants:\n  - name: X\n    tenant_id: nope\n", encoding="utf-8")
    assert main(["scan-all", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "t.yaml" in err and "tenants.0.tenant_id" in err and len(err.splitlines()) == 1


def test_setup_prints_permissions_and_consent_urls(sim, schools, tmp_path, capsys) -> None:
    path = write_tenants(tmp_path, sim, schools[:2])
    assert main(["setup", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Policy.Read.All" in out and "Write" not in out.replace("ReadWrite", "")
    for t in schools[:2]:
        assert f"https://login.microsoftonline.com/{t.tenant_id}/adminconsent?client_id=" in out


def test_doctor_reads_the_token_roles(sim, schools, tmp_path, monkeypatch, capsys) -> None:
    from m365apk.demo.tenant import without_permission

    tenants = distinct(schools)[:2]
    path = write_tenants(tmp_path, sim, tenants)
    for key, value in secrets(tenants).items():
        monkeypatch.setenv(key, value)
    assert main(["doctor", str(path)]) == 0
    assert capsys.readouterr().out.count("alle toestemmingen aanwezig") == 2
    # A tenant whose consent lacks a permission: doctor names it.
    lacking = without_permission(tenants[0], "Policy.Read.All")
    with SimulatedGraph(lacking) as other:
        path = write_tenants(tmp_path, other, [lacking])
        assert main(["doctor", str(path)]) == 3
    out = capsys.readouterr().out
    assert "ontbreekt: Policy.Read.All" in out and "adminconsent" in out


def test_peer_comparison_on_request(sim, schools, tmp_path, monkeypatch) -> None:
    tenants = distinct(schools)
    path = write_tenants(tmp_path, sim, tenants)
    for key, value in secrets(tenants).items():
        monkeypatch.setenv(key, value)
    assert main(["scan-all", str(path), "--run-id", "a", "--quiet"]) == 0
    assert main(["scan-all", str(path), "--run-id", "b", "--peers", "--quiet"]) == 0
    report = next((tmp_path / "out").glob(f"*-{tenants[0].tenant_id[:8]}/b/report.html"))
    text = report.read_text(encoding="utf-8")
    assert "tegenover de mediaan van 3 andere scholen" in text
    for other in tenants[1:]:
        assert other.display_name not in text  # anonymous: no other school is named


def test_missing_consent_is_reported_per_tenant(schools, tmp_path, monkeypatch, capsys) -> None:
    from dataclasses import replace

    no_consent = replace(schools[0], granted_permissions=frozenset())
    with SimulatedGraph([no_consent, schools[1]]) as sim:
        path = write_tenants(tmp_path, sim, [no_consent, schools[1]])
        monkeypatch.setenv("SECRET_0", no_consent.client_secret)
        monkeypatch.setenv("SECRET_1", schools[1].client_secret)
        assert main(["scan-all", str(path), "--quiet"]) == 4
    out = capsys.readouterr().out
    assert "admin consent" in out
    outcomes = {r[0]: r[1] for r in rows(tmp_path / "out" / "history.sqlite")}
    assert outcomes == {no_consent.tenant_id: "auth_error", schools[1].tenant_id: "ok"}
    overview = (tmp_path / "out" / "overzicht.html").read_text(encoding="utf-8")
    assert "admin consent" in overview


def test_last_years_action_plan_per_school_in_scan_all(sim, schools, tmp_path, monkeypatch) -> None:
    """scan-all takes each school's filled-in actieplan from the tenants file (`action_plan`,
    relative to the file), as `scan --action-plan` does (issue 14 point 8)."""
    import json
    import shutil

    tenant = schools[0]
    path = write_tenants(tmp_path, sim, [tenant])
    monkeypatch.setenv("SECRET_0", tenant.client_secret)
    assert main(["scan-all", str(path), "--run-id", "2025", "--quiet"]) == 0
    plan = next((tmp_path / "out").glob("*/2025/actieplan.csv"))
    shutil.copy(plan, tmp_path / "plan-vorig-jaar.csv")
    path.write_text(path.read_text() + "    action_plan: plan-vorig-jaar.csv\n", encoding="utf-8")
    assert main(["scan-all", str(path), "--run-id", "2026", "--quiet"]) == 0
    report = json.loads(next((tmp_path / "out").glob("*/2026/report.json")).read_text("utf-8"))
    assert {r["id"] for r in report["plan_review"]} >= {"admin.global_admin_count"}
    # A plan that cannot be read stops that school with a clear reason, not the run.
    (tmp_path / "plan-vorig-jaar.csv").write_text("geen plan\n", encoding="utf-8")
    assert main(["scan-all", str(path), "--run-id", "2027", "--quiet"]) == 4


def _statuses(db: Path, run_id: str) -> dict[str, dict[str, str]]:
    with sqlite3.connect(db) as con:
        found = con.execute(
            "SELECT s.tenant_id, c.check_id, c.status FROM scans s"
            " JOIN check_results c ON c.scan_id = s.id WHERE s.run_id = ?",
            (run_id,),
        ).fetchall()
    out: dict[str, dict[str, str]] = {}
    for tenant_id, check_id, status in found:
        out.setdefault(tenant_id, {})[check_id] = status
    return out


def test_worker_processes_give_the_same_verdicts_as_one_process(
    sim, schools, tmp_path, monkeypatch
) -> None:
    """scan-all over two worker processes (runs/workers.py) records the same per-check verdicts,
    scores and durations as one process, and writes every report."""
    tenants = distinct(schools)
    path = write_tenants(tmp_path, sim, tenants)
    for key, value in secrets(tenants).items():
        monkeypatch.setenv(key, value)
    from m365apk.cli import _checks
    from m365apk.runs.portfolio import scan_all
    from m365apk.runs.tenants import load_tenants

    base = ["scan-all", str(path), "--quiet", "--concurrency", "2"]
    assert main([*base, "--run-id", "een", "--processes", "1"]) == 0
    config = load_tenants(path).model_copy(update={"concurrency": 2, "processes": 2})
    results = scan_all(config, _checks(None, False), run_id="twee")
    workers = {r.worker for r in results}
    assert None not in workers and os.getpid() not in workers and len(workers) == 2
    db = tmp_path / "out" / "history.sqlite"
    one, two = _statuses(db, "een"), _statuses(db, "twee")
    assert sorted(one) == sorted(t.tenant_id for t in tenants)
    assert one == two
    with sqlite3.connect(db) as con:
        scores = con.execute(
            "SELECT run_id, tenant_id, score, duration_seconds FROM scans ORDER BY tenant_id"
        ).fetchall()
    by_run = {(r[0], r[1]): r[2] for r in scores}
    assert all(by_run[("een", t.tenant_id)] == by_run[("twee", t.tenant_id)] for t in tenants)
    assert all(r[3] is not None and r[3] > 0 for r in scores)
    for t in tenants:
        assert list((tmp_path / "out").glob(f"*-{t.tenant_id[:8]}/twee/report.html"))


def test_a_dead_worker_loses_no_tenant() -> None:
    """A worker process that dies (killed for memory) takes no tenant with it: the ones it had
    started are recorded as failed with the reason, and when no worker is left, so is the rest."""
    from types import SimpleNamespace

    from m365apk.runs.portfolio import TenantOutcome
    from m365apk.runs.tenants import TenantEntry
    from m365apk.runs.workers import _bury

    entries = {
        f"{i}0000000-0000-4000-8000-000000000000": TenantEntry(
            name=f"School {i}", tenant_id=f"{i}0000000-0000-4000-8000-000000000000"
        )
        for i in range(1, 4)
    }
    ids = list(entries)
    alive, dead = SimpleNamespace(pid=11, exitcode=None), SimpleNamespace(pid=12, exitcode=-9)
    pending = dict(entries)
    recorded: list[TenantOutcome] = []
    _bury([alive, dead], pending, {ids[0]: 12, ids[1]: 11}, recorded.append, TenantOutcome)
    assert [(o.tenant.tenant_id, o.outcome) for o in recorded] == [(ids[0], "error")]
    assert "exitcode -9" in (recorded[0].error or "")
    assert set(pending) == {ids[1], ids[2]}  # the living worker's tenant and the untaken one
    alive.exitcode = 0
    _bury([alive, dead], pending, {ids[0]: 12, ids[1]: 11}, recorded.append, TenantOutcome)
    assert not pending and {o.outcome for o in recorded} == {"error"} and len(recorded) == 3


def test_a_history_file_from_before_durations_is_upgraded(tmp_path) -> None:
    db = tmp_path / "oud.sqlite"
    with sqlite3.connect(db) as con:
        con.executescript(
            "CREATE TABLE scans (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, tenant_id TEXT"
            " NOT NULL, tenant_name TEXT, school_type TEXT, collected_at TEXT, finished_at TEXT"
            " NOT NULL, outcome TEXT NOT NULL, error TEXT, tool_version TEXT, mappings_version"
            " TEXT, score INTEGER, verdict TEXT, evaluated INTEGER, total INTEGER, snapshot_path"
            " TEXT, report_path TEXT, UNIQUE (run_id, tenant_id));"
            "INSERT INTO scans (run_id, tenant_id, finished_at, outcome)"
            " VALUES ('2025', 't1', '2025-11-27', 'ok');"
        )
    from m365apk.runs.history import History

    with History(db) as history:
        assert [s.tenant_id for s in history.scans()] == ["t1"]
        assert history.durations() == {}


def test_checks_travel_to_workers_by_id_or_not_at_all() -> None:
    """The built-in checks are closures (they do not pickle): workers find the same objects by
    id. A caller's own check that does not pickle keeps scan-all in one process."""
    from dataclasses import replace

    from m365apk.checks.registry import all_checks
    from m365apk.runs.workers import _resolve, portable

    checks = all_checks()
    sent = portable(checks)
    assert sent is not None and sent[0] == "ids"
    assert all(a is b for a, b in zip(_resolve(sent), checks, strict=True))
    own = replace(checks[0], evaluate=lambda snapshot: None)
    assert portable([own]) is None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_stop_when_scan_all_is_killed(sim, schools, tmp_path) -> None:
    """`docker stop` or a SIGKILL ends scan-all without its cleanup: its worker processes must
    not scan on for a run nobody records."""
    tenants = distinct(schools)
    path = write_tenants(tmp_path, sim, tenants)
    env = dict(os.environ, **secrets(tenants))
    command = [sys.executable, "-m", "m365apk.cli", "scan-all", str(path), "--quiet"]
    command += ["--processes", "2", "--concurrency", "2"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    workers: list[int] = []
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        workers = [c for c in _children(proc.pid) if "spawn_main" in _cmdline(c)]
        if len(workers) == 2:
            break
        time.sleep(0.05)
    assert len(workers) == 2, "scan-all did not start two workers"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def test_a_worker_exits_when_its_parent_is_gone(tmp_path) -> None:
    """The worker's watchdog (runs/workers.py): when its parent dies, it exits."""
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import os\\n"
        "from m365apk.runs import workers\\nworkers.PARENT_CHECK_SECONDS = 0.1\\n"
        "workers._exit_with_parent(os.getppid())'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    time.sleep(0.5)
    assert _alive(child)  # watching, while its parent lives
    parent.kill()
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child)
