"""Names that become paths (issue 26 finding 1): a run id can never reach outside its run's
folder, and nothing outside it is removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from m365apk.cli import main
from m365apk.demo.server import SimulatedGraph
from m365apk.demo.tenant import load_profile
from m365apk.errors import ConfigError
from m365apk.runs.paths import path_segment, within
from m365apk.runs.portfolio import scan_all
from m365apk.runs.tenants import TenantsFile

BAD = [
    "..",
    ".",
    "/",
    "../x",
    "a/b",
    "/etc",
    "a\x00b",
    "a\nb",
    "a\tb",
    " ",
    "",
    "x.",
    "-x",
    "run.onvolledig",
    "a" * 101,
    "C:\\x",
]


def _output_with_history(tmp_path: Path, sim: SimulatedGraph | None = None) -> tuple[Path, Path]:
    """An output folder with an earlier round and its history, and a tenants file for one
    school of the simulated Graph (so that on the old code the scan really runs)."""
    out = tmp_path / "out"
    (out / "school-1234abcd" / "2025-09-01").mkdir(parents=True)
    (out / "school-1234abcd" / "2025-09-01" / "report.json").write_text("{}", "utf-8")
    (out / "history.sqlite").write_bytes(b"SQLite format 3\x00 earlier rounds")
    tenants = tmp_path / "tenants.yaml"
    t = load_profile("weak")
    url = sim.base_url if sim else "http://127.0.0.1:9"
    tenants.write_text(
        f"output: {out}\ngraph_url: {url}\nlogin_url: {url}\nconcurrency: 1\ntenants:\n"
        f"  - name: {t.display_name}\n    tenant_id: {t.tenant_id}\n    school_type: po\n"
        f"    client_id: {t.client_id}\n    credential: {{client_secret_env: PATHS_SECRET}}\n",
        encoding="utf-8",
    )
    return out, tenants


@pytest.fixture(scope="module")
def sim():
    with SimulatedGraph(load_profile("weak"), latency_ms=1) as s:
        yield s


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("run_id", BAD)
def test_run_id_that_is_not_one_plain_name_is_refused_and_history_kept(
    tmp_path: Path, capsys, monkeypatch, sim, run_id: str
) -> None:
    monkeypatch.setenv("PATHS_SECRET", load_profile("weak").client_secret)
    out, tenants = _output_with_history(tmp_path, sim)
    before = _files(tmp_path)
    code = main(
        [
            "scan-all",
            str(tenants),
            "--run-id",
            run_id,
            "--quiet",
            "--checks",
            "admin.global_admin_count",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert _files(tmp_path) == before


def test_scan_all_itself_refuses_a_run_id_that_leaves_its_folder(tmp_path: Path) -> None:
    out, _ = _output_with_history(tmp_path)
    before = _files(tmp_path)
    for run_id in ("..", ".", "x/../.."):
        with pytest.raises(ConfigError):
            scan_all(TenantsFile.model_construct(output=out, tenants=[]), [], run_id=run_id)
    assert _files(tmp_path) == before


@pytest.mark.parametrize("good", ["2026-09-01", "apk-1", "ronde_2026.1", "A1"])
def test_ordinary_run_ids_are_accepted(good: str) -> None:
    assert path_segment(good, "--run-id") == good


def test_nothing_is_removed_outside_the_output_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        within(tmp_path / "out", tmp_path / "out" / "..")
    with pytest.raises(ConfigError):
        within(tmp_path / "out", tmp_path / "out")
    assert within(tmp_path / "out", tmp_path / "out" / "a" / "b") == tmp_path / "out" / "a" / "b"


def test_history_merge_with_a_shard_file_missing_refuses_and_creates_nothing(
    tmp_path: Path, capsys
) -> None:
    """Issue 26 finding 10/11: the merge ran before a shard had finished, created an empty
    database and said "0 scans samengevoegd" with exit 0."""
    target = tmp_path / "history.sqlite"
    code = main(["history-merge", str(target), str(tmp_path / "shard-0.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and "shard-0.sqlite" in err and "Traceback" not in err
    assert not target.exists()
