"""The command line speaks to people (issue 14 findings 6, 13): Dutch words, no tracebacks, no
raw codes, and no --db where the tenants file already knows it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from m365apk.cli import _summary, build_parser, main

ROOT = Path(__file__).resolve().parent.parent
TENANTS = """\
defaults:
  client_id: 11111111-2222-3333-4444-555555555555
  credential: {client_secret_env: M365APK_TEST_SECRET}
output: %(out)s
tenants:
  - name: OBS Test
    tenant_id: 6f1c2b9e-3d4a-4e5f-8a7b-1c2d3e4f5a6b
"""


def tenants_file(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.yaml"
    path.write_text(TENANTS % {"out": tmp_path / "uit"}, encoding="utf-8")
    return path


def test_a_closed_pipe_is_not_a_traceback() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = f"{sys.executable} -m m365apk.cli checks --json | head -1"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr
    assert done.returncode == 0 and done.stdout.strip() == "["


def test_argparse_speaks_dutch(capsys) -> None:
    assert main(["scan-all"]) == 2
    assert "deze argumenten ontbreken: tenants" in capsys.readouterr().err
    doctor = build_parser()._subparsers._group_actions[0].choices["doctor"]  # type: ignore[union-attr]
    text = doctor.format_help()
    assert "gebruik:" in text and "tenants.yaml" in text and "toon deze hulp" in text


def test_checks_list_severity_in_dutch(capsys) -> None:
    assert main(["checks"]) == 0
    out = capsys.readouterr().out
    assert " kritiek " in out and " critical " not in out and " high " not in out


def test_history_finds_its_file_through_the_tenants_file(tmp_path, capsys) -> None:
    path = tenants_file(tmp_path)
    assert main(["history"]) == 2
    assert "--tenants" in capsys.readouterr().err
    # The tenants file names the history file; it does not exist yet: a clear one-line error.
    assert main(["history", "--tenants", str(path)]) == 2
    assert "historiebestand niet gevonden" in capsys.readouterr().err


def test_setup_manifest_is_indented_as_one_block(tmp_path, capsys) -> None:
    assert main(["setup", str(tenants_file(tmp_path))]) == 0
    out = capsys.readouterr().out
    block = out[out.index("requiredResourceAccess;") :].split("\n\n")[1]
    assert all(line.startswith("     ") for line in block.splitlines()), block


@pytest.mark.parametrize(
    "outcome, word", [("auth_error", "aanmelden mislukt"), ("config_error", "instelling fout")]
)
def test_scan_all_summary_in_words(capsys, outcome, word) -> None:
    tenant = SimpleNamespace(name="OBS Test")
    _summary([SimpleNamespace(tenant=tenant, outcome=outcome, report=None, error="x")])
    out = capsys.readouterr().out
    assert word in out and outcome not in out
