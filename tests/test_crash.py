"""kill -9 at fixed points of a scan and of evaluate (issue 26 finding 5): every file is left
old or new, the report set never mixes two runs, and the next run finishes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from m365apk.snapshot.files import CRASH_ENV

SET = (
    "snapshot.json",
    "report.json",
    "report.html",
    "bestuursrapport.html",
    "bijlage.html",
    "normen.csv",
    "actieplan.csv",
    "actieplan.xlsx",
)


# Two checks are enough to write a whole report set; the crash points do not depend on them.
FEW = ["--checks", "admin.global_admin_count,mfa.registration_coverage"]


def _run(args: list[str], crash: str | None = None) -> int:
    args = [*args, *FEW]
    env = {**os.environ}
    env.pop(CRASH_ENV, None)
    if crash:
        env[CRASH_ENV] = crash
    return subprocess.run(
        [sys.executable, "-m", "m365apk", *args], env=env, capture_output=True, timeout=300
    ).returncode


def _state(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in SET if (folder / name).exists()}


def _one_set(folder: Path) -> None:
    """The report was made from the snapshot beside it, and every file parses."""
    report = json.loads((folder / "report.json").read_text("utf-8"))
    import hashlib

    digest = hashlib.sha256((folder / "snapshot.json").read_bytes()).hexdigest()
    assert report["snapshot_sha256"] == digest
    for name in ("report.html", "bestuursrapport.html", "bijlage.html"):
        assert (folder / name).read_text("utf-8").rstrip().endswith("</html>")


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("crash") / "apk"
    assert _run(["demo", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.mark.parametrize(
    "point", ["snapshot.half", "reports.json", "reports.half", "reports.staged"]
)
def test_demo_killed_while_writing_leaves_the_old_set_whole(first: Path, point: str) -> None:
    before = _state(first)
    assert _run(["demo", "--out", str(first), "--quiet"], crash=point) == -9
    assert _state(first) == before
    _one_set(first)


def test_demo_killed_after_the_renames_leaves_the_new_set_and_reruns(first: Path) -> None:
    before = _state(first)
    assert _run(["demo", "--out", str(first), "--quiet"], crash="reports.done") == -9
    after = _state(first)
    assert after["report.json"] != before["report.json"]
    _one_set(first)
    assert _run(["demo", "--out", str(first), "--quiet"]) == 0
    _one_set(first)
    assert not [p.name for p in first.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    "point", ["reports.json", "reports.half", "reports.staged", "reports.done"]
)
def test_evaluate_killed_leaves_old_or_new_reports_never_a_mix(
    first: Path, tmp_path: Path, point: str
) -> None:
    out = tmp_path / "eval"
    snapshot = str(first / "snapshot.json")
    assert _run(["evaluate", snapshot, "--out", str(out), "--quiet"]) == 0
    before = _state(out)
    assert (
        _run(["evaluate", snapshot, "--out", str(out), "--quiet", "--lang", "en"], crash=point)
        == -9
    )
    after = _state(out)
    documents = ("report.html", "bestuursrapport.html", "bijlage.html")
    assert after == before or all(after[n] != before[n] for n in documents)
    json.loads((out / "report.json").read_text("utf-8"))
    assert _run(["evaluate", snapshot, "--out", str(out), "--quiet"]) == 0


# --- scan-all and its history -----------------------------------------------------------------


@pytest.fixture(scope="module")
def weak_schools():
    from dataclasses import replace

    from m365apk.demo.server import SimulatedGraph
    from m365apk.demo.tenant import load_profile

    # Two A1 schools: no Entra ID P1, so no signInActivity pages (Graph's 10 a minute per app)
    # however often the crash tests run a round.
    one = load_profile("weak")
    two = replace(
        load_profile("weak", seed=5),
        tenant_id="5e5e5e5e-1111-4222-8333-444444444444",
        display_name="OBS De Linde",
    )
    with SimulatedGraph([one, two], latency_ms=1) as sim:
        yield sim, [one, two]


def _tenants_file(folder: Path, sim, tenants) -> tuple[Path, dict[str, str]]:
    lines = [
        f"output: uit\ngraph_url: {sim.base_url}\nlogin_url: {sim.base_url}\nconcurrency: 1",
        "tenants:",
    ]
    env = {}
    for i, t in enumerate(tenants):
        lines.append(
            f"  - name: {t.display_name}\n    tenant_id: {t.tenant_id}\n    school_type: po\n"
            f"    client_id: {t.client_id}\n    credential: {{client_secret_env: CRASH_{i}}}"
        )
        env[f"CRASH_{i}"] = t.client_secret
    path = folder / "tenants.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, env


def _scan_all(path: Path, env: dict[str, str], crash: str | None = None) -> int:
    full = {**os.environ, **env}
    full.pop(CRASH_ENV, None)
    if crash:
        full[CRASH_ENV] = crash
    command = [
        sys.executable,
        "-m",
        "m365apk",
        "scan-all",
        str(path),
        "--run-id",
        "r1",
        "--quiet",
        "--processes",
        "1",
        *FEW,
    ]
    return subprocess.run(command, env=full, capture_output=True, timeout=300).returncode


def _history_whole(db: Path) -> list[tuple[str, str]]:
    """Every recorded scan of a school that was read has its measure rows: no half round."""
    import sqlite3

    with sqlite3.connect(db) as con:
        scans = con.execute("SELECT id, tenant_id, outcome FROM scans").fetchall()
        for scan_id, _, outcome in scans:
            measures = con.execute(
                "SELECT COUNT(*) FROM measure_scores WHERE scan_id = ?", (scan_id,)
            ).fetchone()[0]
            assert outcome not in ("ok", "partial") or measures == 11
    return sorted((t, o) for _, t, o in scans)


@pytest.mark.parametrize(
    "point", ["scan_all.staged", "scan_all.renamed", "history.half", "scan_all.recorded"]
)
def test_scan_all_killed_leaves_whole_folders_and_history_and_the_rerun_finishes(
    weak_schools, tmp_path: Path, point: str
) -> None:
    sim, tenants = weak_schools
    path, env = _tenants_file(tmp_path, sim, tenants)
    assert _scan_all(path, env, crash=point) == -9
    out = tmp_path / "uit"
    for report in out.glob("*/r1/report.json"):  # whatever is under a round's name is whole
        _one_set(report.parent)
    db = out / "history.sqlite"
    if db.exists():
        _history_whole(db)
    assert _scan_all(path, env) == 0
    assert [o for _, o in _history_whole(db)] == ["ok", "ok"] or all(
        o in ("ok", "partial") for _, o in _history_whole(db)
    )
    assert len(_history_whole(db)) == 2
    for report in out.glob("*/r1/report.json"):
        _one_set(report.parent)
    assert len(list(out.glob("*/r1/report.json"))) == 2
