"""Issue 26 finding 6: the sixteen tracebacks on bad input. Each is one clear line, a non-zero
exit, and every file that was there is left as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from m365apk.cli import main

from .test_bad_input import one_line_error
from .test_bad_input import snapshot as snapshot  # the fixture


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _garbage(path: Path) -> Path:
    path.write_bytes(b"this is not a database " * 10)
    return path


def _deep(path: Path) -> Path:
    path.write_text('{"a":' * 100_000 + "1" + "}" * 100_000, encoding="utf-8")
    return path


def _tenants(folder: Path, extra: str) -> Path:
    path = folder / "tenants.yaml"
    path.write_text(
        "tenants:\n  - name: School\n    tenant_id: 11111111-2222-4333-8444-555555555555\n"
        "    client_id: 11111111-2222-4333-8444-555555555556\n"
        "    credential: {client_secret_env: NOPE}\n" + extra,
        encoding="utf-8",
    )
    return path


CASES = {
    "evaluate_out_is_a_file": lambda d, s: (
        ["evaluate", str(s), "--out", str(_touch(d / "bestand"))],
        "bestand",
    ),
    "evaluate_out_unwritable": lambda d, s: (
        ["evaluate", str(s), "--out", "/proc/kan-niet"],
        "/proc/kan-niet",
    ),
    "demo_out_is_a_file": lambda d, s: (
        ["demo", "--quiet", "--out", str(_touch(d / "bestand"))],
        "bestand",
    ),
    "history_corrupt_database": lambda d, s: (
        ["history", "--db", str(_garbage(d / "h.sqlite"))],
        "h.sqlite",
    ),
    "diff_corrupt_database": lambda d, s: (
        ["diff", "school", "--db", str(_garbage(d / "h.sqlite"))],
        "h.sqlite",
    ),
    "history_merge_corrupt_source": lambda d, s: (
        ["history-merge", str(d / "doel.sqlite"), str(_garbage(d / "h.sqlite"))],
        "h.sqlite",
    ),
    "history_merge_corrupt_target": lambda d, s: (
        ["history-merge", str(_garbage(d / "doel.sqlite")), str(_garbage(d / "h.sqlite"))],
        "sqlite",
    ),
    "tenants_history_is_a_directory": lambda d, s: (
        ["scan-all", str(_tenants(d, f"history: {_dir(d / 'hist')}\n")), "--quiet"],
        "hist",
    ),
    "tenants_output_is_a_file": lambda d, s: (
        ["scan-all", str(_tenants(d, f"output: {_touch(d / 'uit')}\n")), "--quiet"],
        "uit",
    ),
    "action_plan_broken_xlsx": lambda d, s: (
        [
            "evaluate",
            str(s),
            "--out",
            str(d / "o"),
            "--action-plan",
            str(_write(d / "plan.xlsx", b"not a zip")),
        ],
        "plan.xlsx",
    ),
    "action_plan_csv_field_over_128k": lambda d, s: (
        [
            "evaluate",
            str(s),
            "--out",
            str(d / "o"),
            "--action-plan",
            str(_write(d / "plan.csv", b"id;status\n" + b"x" * 200_000 + b";open\n")),
        ],
        "plan.csv",
    ),
    "deeply_nested_snapshot": lambda d, s: (
        ["evaluate", str(_deep(d / "diep.json")), "--out", str(d / "o")],
        "diep.json",
    ),
    "demo_negative_latency": lambda d, s: (
        ["demo", "--latency-ms", "-5", "--out", str(d / "o")],
        "latency",
    ),
    "demo_nan_latency": lambda d, s: (
        ["demo", "--latency-ms", "nan", "--out", str(d / "o")],
        "latency",
    ),
    "demo_infinite_latency": lambda d, s: (
        ["demo", "--latency-ms", "inf", "--out", str(d / "o")],
        "latency",
    ),
}


def _touch(path: Path) -> Path:
    path.write_text("al hier\n", encoding="utf-8")
    return path


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_leaves_every_file(
    tmp_path: Path,
    snapshot: Path,  # noqa: F811
    capsys,
    monkeypatch,
    case: str,  # noqa: F811
) -> None:
    monkeypatch.chdir(tmp_path)
    argv, name = CASES[case](tmp_path, snapshot)
    before = _files(tmp_path)
    rc = main(argv)
    one_line_error(capsys, rc, name)
    assert _files(tmp_path) == before


def test_an_unexpected_error_is_one_line_unless_debug(monkeypatch, capsys) -> None:
    import m365apk.cli as cli

    def boom(_args: object) -> int:
        raise RuntimeError("defect")

    monkeypatch.setitem(cli.COMMANDS, "checks", boom)
    assert main(["checks"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "--debug" in err
    with pytest.raises(RuntimeError):
        main(["--debug", "checks"])
