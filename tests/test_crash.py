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
    "normen.csv",
    "actieplan.csv",
    "actieplan.xlsx",
)


def _run(args: list[str], crash: str | None = None) -> int:
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
    assert (folder / "report.html").read_text("utf-8").rstrip().endswith("</html>")


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("crash") / "apk"
    assert _run(["demo", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.mark.parametrize("point", ["snapshot.half", "reports.half", "reports.staged"])
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


@pytest.mark.parametrize("point", ["reports.half", "reports.staged", "reports.done"])
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
    assert after == before or all(after[n] != before[n] for n in ("report.html",))
    json.loads((out / "report.json").read_text("utf-8"))
    assert _run(["evaluate", snapshot, "--out", str(out), "--quiet"]) == 0
