"""Issue 26 acceptance 2: bad input over every command, generated as a matrix (command x what it
reads x how that input is wrong). Each case must give one clear line on stderr starting with
`m365apk: ` (argparse's own messages included), a non-zero exit, no traceback and no
"unexpected error" (that line is the last resort for defects, so it counts as a failure here),
and leave every file that was there byte for byte as it was, with no new file beside them.

The world each case runs in (a fresh folder, also the working directory): a small valid
snapshot, a valid tenants file, a valid history, valid tenant settings, exceptions,
attestations and action plan, an output folder with a report in it. One input is then made bad.
Everything runs in this process through `main([...])`, offline (Graph and sign-in point at a
closed port on 127.0.0.1, and no case may get that far).
"""

from __future__ import annotations

import os
import sqlite3
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from m365apk.cli import COMMANDS, build_parser, main

CLOSED = "http://127.0.0.1:9"
TENANT = "6f1c2b9e-3d4a-4e5f-8a7b-1c2d3e4f5a6b"
CLIENT = "11111111-2222-4333-8444-555555555555"


@pytest.fixture(scope="module")
def small_snapshot(tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--users", "12", "--out", str(out), "--quiet"]) == 0
    return (out / "snapshot.json").read_bytes()


@dataclass
class World:
    root: Path

    def __truediv__(self, name: str) -> Path:
        return self.root / name

    @property
    def snapshot(self) -> str:
        return str(self.root / "snapshot.json")

    @property
    def tenants(self) -> str:
        return str(self.root / "tenants.yaml")

    @property
    def history(self) -> str:
        return str(self.root / "history.sqlite")


def make_world(root: Path, snapshot: bytes) -> World:
    (root / "snapshot.json").write_bytes(snapshot)
    (root / "tenants.yaml").write_text(
        f"output: uit\nhistory: history.sqlite\ngraph_url: {CLOSED}\nlogin_url: {CLOSED}\n"
        f"tenants:\n  - name: OBS De Regenboog\n    tenant_id: {TENANT}\n"
        f"    client_id: {CLIENT}\n    credential: {{client_secret_env: M365APK_NIET_GEZET}}\n",
        encoding="utf-8",
    )
    (root / "uit").mkdir()
    (root / "uit" / "overzicht.html").write_text("<p>vorige ronde</p>\n", encoding="utf-8")
    from m365apk.runs.history import History

    History(root / "history.sqlite").close()
    (root / "instellingen.yaml").write_text(
        "break_glass:\n  - user: nood@school.nl\n    reason: kluis\n", encoding="utf-8"
    )
    (root / "uitzonderingen.yaml").write_text(
        "- check_id: mfa.registration_coverage\n  reason: Project\n  accepted_by: Directeur\n"
        "  expires: 2030-01-01\n",
        encoding="utf-8",
    )
    (root / "attestaties.yaml").write_text("[]\n", encoding="utf-8")
    (root / "actieplan.csv").write_text("id;status\nx;open\n", encoding="utf-8")
    return World(root)


# --- how an input file can be wrong ---------------------------------------------------------


def _write(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def _loop(path: Path) -> Path:
    os.symlink(path.name, path)  # a symlink to itself: ELOOP on every open
    return path


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


def _zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hallo.txt", "geen werkblad")
    return path


def _sqlite_other(path: Path) -> Path:
    """Someone else's SQLite database: it must not get our tables."""
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE boeken (titel TEXT)")
        con.execute("INSERT INTO boeken VALUES ('Pluk van de Petteflet')")
    con.close()
    return path


def _sqlite_wrong_scans(path: Path) -> Path:
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE scans (naam TEXT)")
    con.close()
    return path


def _truncated_db(path: Path, history: Path) -> Path:
    return _write(path, history.read_bytes()[:1500])


BIN = bytes(range(256)) * 8
CP1252 = "naam: ‘Café’ — school\n".encode("cp1252")

# Any file: (make, what the message must name besides the path). None: only the path.
FILES: dict[str, Callable[[Path], Path]] = {
    "missing": lambda p: p,
    "directory": _dir,
    "symlink_loop": _loop,
    "under_a_file": lambda p: _write(p.parent / "gewoon-bestand", "x") / p.name,
    "binary": lambda p: _write(p, BIN),
}
YAML: dict[str, Callable[[Path], Path]] = {
    **FILES,
    "not_utf8": lambda p: _write(p, CP1252),
    "malformed": lambda p: _write(p, "a: [1, 2\nb: {c\n"),
    "tabs": lambda p: _write(p, "a:\n\t- b\n"),
    "scalar": lambda p: _write(p, "42\n"),
    "list_of_numbers": lambda p: _write(p, "[1, 2, 3]\n"),
    "deeply_nested": lambda p: _write(p, "[" * 5000 + "]" * 5000 + "\n"),
    "duplicate_key": lambda p: _write(p, "a: 1\na: 2\n"),
}
SNAPSHOT: dict[str, Callable[[Path], Path]] = {
    **FILES,
    "empty": lambda p: _write(p, b""),
    "not_json": lambda p: _write(p, "dit is geen json\n"),
    "json_list": lambda p: _write(p, "[1, 2]"),
    "json_null": lambda p: _write(p, "null"),
    "json_string": lambda p: _write(p, '"snapshot"'),
    "not_utf8": lambda p: _write(p, b'{"tenant_id": "' + CP1252 + b'"}'),
    "deeply_nested": lambda p: _write(p, '{"a":' * 100_000 + "1" + "}" * 100_000),
    "newer_schema": lambda p: _write(p, '{"schema_version": 99}'),
    "schema_version_text": lambda p: _write(p, '{"schema_version": "twee"}'),
    "empty_object": lambda p: _write(p, "{}"),
}
DATABASE: dict[str, Callable[[Path], Path]] = {
    **FILES,
    "garbage": lambda p: _write(p, b"dit is geen database " * 20),
    "other_sqlite": _sqlite_other,
    "scans_of_another_kind": _sqlite_wrong_scans,
    "yaml_instead": lambda p: _write(p, "tenants: []\n"),
}
PLAN: dict[str, Callable[[Path], Path]] = {
    **{k: (lambda make: lambda p: make(p.with_suffix(".csv")))(v) for k, v in FILES.items()},
    "csv_empty": lambda p: _write(p.with_suffix(".csv"), b""),
    "csv_without_columns": lambda p: _write(p.with_suffix(".csv"), "a;b\n1;2\n"),
    "csv_not_utf8": lambda p: _write(p.with_suffix(".csv"), b"id;status\n" + CP1252),
    "csv_field_over_128k": lambda p: _write(
        p.with_suffix(".csv"), "id;status\n" + "x" * 200_000 + ";open\n"
    ),
    "csv_nul_bytes": lambda p: _write(p.with_suffix(".csv"), b"id;status\n\x00\x00;open\n"),
    "xlsx_not_a_zip": lambda p: _write(p.with_suffix(".xlsx"), "id;status\nx;open\n"),
    "xlsx_zip_not_a_workbook": lambda p: _zip(p.with_suffix(".xlsx")),
    "xlsx_empty": lambda p: _write(p.with_suffix(".xlsx"), b""),
    "xlsx_directory": lambda p: _dir(p.with_suffix(".xlsx")),
}
OUT: dict[str, Callable[[Path], Path]] = {
    "a_file": lambda p: _write(p, "al hier\n"),
    "under_a_file": lambda p: _write(p.parent / "gewoon-bestand", "x") / p.name,
    "symlink_loop": _loop,
    "unwritable_proc": lambda p: Path("/proc/m365apk-kan-niet"),
}

# --- which command reads what ---------------------------------------------------------------

Case = Callable[[World], list[str]]
CASES: dict[str, Case] = {}


def _with_file(
    start: Callable[[World], list[str]], option: str, make: Callable[[Path], Path], name: str
) -> Case:
    return lambda w: [*start(w), option, str(make(w / name))]


def _with_value(start: Callable[[World], list[str]], option: str, value: str) -> Case:
    return lambda w: [*start(w), option, value]


def _positional(
    start: Callable[[World, str], list[str]], make: Callable[[Path], Path], name: str
) -> Case:
    return lambda w: start(w, str(make(w / name)))


def _only_path(start: Callable[[str], list[str]]) -> Callable[[World, str], list[str]]:
    return lambda w, path: start(path)


def _evaluate(w: World, path: str) -> list[str]:
    return ["evaluate", path, "--out", str(w / "o")]


def _certificate(w: World, path: str) -> list[str]:
    return [*_scan(w)[:5], "--certificate", path, *_scan(w)[7:]]


def _scan(w: World, *extra: str) -> list[str]:
    return [
        "scan",
        "--tenant-id",
        TENANT,
        "--client-id",
        CLIENT,
        "--client-secret-env",
        "M365APK_TEST_SECRET",
        "--graph-url",
        CLOSED,
        "--login-url",
        CLOSED.replace("http:", "https:"),
        "--out",
        str(w / "scan-uit"),
        "--quiet",
        *extra,
    ]


# The commands that take report options (their files: tenant settings, exceptions,
# attestations, mappings, the action plan) and how each is started with valid input otherwise.
REPORTING: dict[str, Callable[[World], list[str]]] = {
    "evaluate": lambda w: ["evaluate", w.snapshot, "--out", str(w / "uit2"), "--quiet"],
    "demo": lambda w: ["demo", "--users", "12", "--out", str(w / "demo-uit"), "--quiet"],
    "scan": _scan,
    "scan-all": lambda w: ["scan-all", w.tenants, "--quiet"],
    "schedule": lambda w: ["schedule", w.tenants, "--cron", "0 6 1 9 *", "--max-runs", "1"],
}
YAML_OPTIONS = ("--tenant-config", "--exceptions", "--attestations", "--mappings")

for command, start in REPORTING.items():
    for option in YAML_OPTIONS:
        if command in ("scan-all", "schedule") and option == "--tenant-config":
            continue  # per school in tenants.yaml (test_bad_input.py covers that one)
        for kind, make in YAML.items():
            CASES[f"{command}:{option}:{kind}"] = _with_file(start, option, make, "invoer.yaml")
    for kind, make in PLAN.items():
        CASES[f"{command}:--action-plan:{kind}"] = _with_file(start, "--action-plan", make, "plan")

# Files a command takes as its main input.
for kind, make in SNAPSHOT.items():
    CASES[f"evaluate:snapshot:{kind}"] = _positional(_evaluate, make, "kapot.json")
TENANTS_FILE = {
    **YAML,
    "no_tenants": lambda p: _write(p, "tenants: []\n"),
    "tenants_not_a_list": lambda p: _write(p, "tenants: school\n"),
    "tenant_without_id": lambda p: _write(p, "tenants:\n  - name: School\n"),
    "tenant_id_not_a_guid": lambda p: _write(
        p, "tenants:\n  - {name: S, tenant_id: school, credential: {client_secret_env: X}}\n"
    ),
    "two_credentials": lambda p: _write(
        p,
        f"tenants:\n  - name: S\n    tenant_id: {TENANT}\n    client_id: {CLIENT}\n"
        "    credential: {client_secret_env: X, certificate: c.pem}\n",
    ),
    "duplicate_tenant": lambda p: _write(
        p,
        "tenants:\n" + f"  - {{name: S, tenant_id: {TENANT}, client_id: {CLIENT}, "
        "credential: {client_secret_env: X}}\n" * 2,
    ),
    "concurrency_zero": lambda p: _write(
        p,
        f"concurrency: 0\ntenants:\n  - {{name: S, tenant_id: {TENANT}, client_id: {CLIENT}, "
        "credential: {client_secret_env: X}}\n",
    ),
    "concurrency_text": lambda p: _write(
        p,
        f"concurrency: veel\ntenants:\n  - {{name: S, tenant_id: {TENANT}, "
        f"client_id: {CLIENT}, credential: {{client_secret_env: X}}}}\n",
    ),
    "unknown_key": lambda p: _write(
        p,
        f"outptu: x\ntenants:\n  - {{name: S, tenant_id: {TENANT}, client_id: {CLIENT}, "
        "credential: {client_secret_env: X}}\n",
    ),
}
TENANT_COMMANDS: dict[str, Callable[[str], list[str]]] = {
    "scan-all": lambda t: ["scan-all", t, "--quiet"],
    "schedule": lambda t: ["schedule", t, "--cron", "0 6 1 9 *", "--max-runs", "1"],
    "setup": lambda t: ["setup", t],
    "doctor": lambda t: ["doctor", t],
    "overview": lambda t: ["overview", t],
    "history": lambda t: ["history", "--tenants", t],
    "diff": lambda t: ["diff", "school", "--tenants", t],
}
for command, start in TENANT_COMMANDS.items():
    for kind, make in TENANTS_FILE.items():
        CASES[f"{command}:tenants:{kind}"] = _positional(
            _only_path(start), make, "kapot-tenants.yaml"
        )

DB_COMMANDS: dict[str, Callable[[World, str], list[str]]] = {
    "history": lambda w, db: ["history", "--db", db],
    "diff": lambda w, db: ["diff", "OBS De Regenboog", "--db", db],
    "history-merge:source": lambda w, db: ["history-merge", str(w / "doel.sqlite"), db],
    "history-merge:target": lambda w, db: ["history-merge", db, w.history],
    "overview:--history": lambda w, db: ["overview", w.tenants, "--history", db],
    "scan-all:--history": lambda w, db: ["scan-all", w.tenants, "--history", db, "--quiet"],
}
for command, start in DB_COMMANDS.items():
    for kind, make in DATABASE.items():
        if command in ("history-merge:target", "scan-all:--history") and kind == "missing":
            continue  # a new history is what these make
        CASES[f"{command}:{kind}"] = _positional(start, make, "kapot.sqlite")

OUT_COMMANDS: dict[str, Callable[[World, str], list[str]]] = {
    "evaluate:--out": lambda w, o: ["evaluate", w.snapshot, "--out", o, "--quiet"],
    "demo:--out": lambda w, o: ["demo", "--users", "12", "--out", o, "--quiet"],
    "demo:--portfolio:--out": lambda w, o: ["demo", "--portfolio", "--out", o],
    "scan:--out": lambda w, o: [*_scan(w)[:-3], "--out", o, "--quiet"],
    "scan-all:--output": lambda w, o: ["scan-all", w.tenants, "--output", o, "--quiet"],
    "schedule:--output": lambda w, o: [
        "schedule",
        w.tenants,
        "--cron",
        "0 6 1 9 *",
        "--max-runs",
        "1",
        "--output",
        o,
    ],
    "overview:--output": lambda w, o: ["overview", w.tenants, "--output", o],
}
for command, start in OUT_COMMANDS.items():
    for kind, make in OUT.items():
        CASES[f"{command}:{kind}"] = _positional(start, make, "doelmap")

for kind, make in FILES.items():
    CASES[f"scan:--certificate:{kind}"] = _positional(_certificate, make, "cert.pem")
CASES["scan:--certificate:not_pem"] = lambda w: [
    *_scan(w)[:5],
    "--certificate",
    str(_write(w / "cert.pem", "-----BEGIN NIETS-----\nabc\n")),
    *_scan(w)[7:],
]

# Wrong values and out-of-range options.
VALUES: dict[str, Callable[[World], list[str]]] = {
    "no_command": lambda w: [],
    "unknown_command": lambda w: ["scna"],
    "unknown_global_option": lambda w: ["--verbose", "checks"],
    "checks:unexpected_argument": lambda w: ["checks", "extra"],
    "checks:--json_with_value": lambda w: ["checks", "--json=ja"],
    "permissions:unknown_check": lambda w: ["permissions", "--checks", "mfa.bestaat_niet"],
    "permissions:only_commas": lambda w: ["permissions", "--checks", ",,"],
    "setup:unknown_check": lambda w: ["setup", w.tenants, "--checks", "geen.check"],
    "doctor:unknown_check": lambda w: ["doctor", w.tenants, "--checks", "geen.check"],
    "demo:unknown_profile": lambda w: ["demo", "--profile", "sterk"],
    "demo:users_zero": lambda w: ["demo", "--users", "0"],
    "demo:users_negative": lambda w: ["demo", "--users", "-3"],
    "demo:users_text": lambda w: ["demo", "--users", "veel"],
    "demo:users_too_few_for_the_profile": lambda w: ["demo", "--users", "5"],
    "demo:latency_text": lambda w: ["demo", "--latency-ms", "traag"],
    "demo:latency_huge": lambda w: ["demo", "--latency-ms", "1e12"],
    "demo:unknown_lang": lambda w: ["demo", "--lang", "fr"],
    "demo:unknown_check": lambda w: ["demo", "--checks", "geen.check"],
    "demo:opt_in_check_unknown": lambda w: ["demo", "--checks", "audit-probe-x"],
    "demo:portfolio_with_users": lambda w: ["demo", "--portfolio", "--users", "5"],
    "demo:portfolio_with_tenant_config": lambda w: [
        "demo",
        "--portfolio",
        "--tenant-config",
        str(w / "instellingen.yaml"),
    ],
    "demo:portfolio_unknown_check": lambda w: ["demo", "--portfolio", "--checks", "geen.check"],
    "scan:missing_tenant_id": lambda w: ["scan", "--client-id", CLIENT],
    "scan:tenant_id_not_guid": lambda w: ["scan", "--tenant-id", "school.nl"],
    "scan:two_credentials": lambda w: [
        *_scan(w)[:5],
        "--managed-identity",
        *_scan(w)[5:],
    ],
    "scan:no_credential": lambda w: [*_scan(w)[:5], *_scan(w)[7:]],
    "scan:no_client_id": lambda w: [*_scan(w)[:3], *_scan(w)[5:]],
    "scan:secret_variable_unset": lambda w: [
        *_scan(w)[:6],
        "M365APK_ZEKER_NIET_GEZET",
        *_scan(w)[7:],
    ],
    "scan:login_url_not_https": lambda w: [*_scan(w), "--login-url", "http://127.0.0.1:9"],
    "scan:max_concurrency_zero": lambda w: [*_scan(w), "--max-concurrency", "0"],
    "scan:max_concurrency_text": lambda w: [*_scan(w), "--max-concurrency", "acht"],
    "scan:unknown_check": lambda w: [*_scan(w), "--checks", "geen.check"],
    "scan:dns_server_not_an_address": lambda w: [*_scan(w), "--dns-server", "geen-ip"],
    "evaluate:missing_out": lambda w: ["evaluate", w.snapshot],
    "evaluate:unknown_lang": lambda w: ["evaluate", w.snapshot, "--out", "o", "--lang", "de"],
    "evaluate:unknown_check": lambda w: [
        "evaluate",
        w.snapshot,
        "--out",
        str(w / "o"),
        "--checks",
        "geen.check",
    ],
    "scan-all:run_id_dotdot": lambda w: ["scan-all", w.tenants, "--run-id", ".."],
    "scan-all:run_id_slash": lambda w: ["scan-all", w.tenants, "--run-id", "a/b"],
    "scan-all:run_id_absolute": lambda w: ["scan-all", w.tenants, "--run-id", "/tmp/x"],
    "scan-all:run_id_nul": lambda w: ["scan-all", w.tenants, "--run-id", "a\x00b"],
    "scan-all:run_id_newline": lambda w: ["scan-all", w.tenants, "--run-id", "a\nb"],
    "scan-all:run_id_empty": lambda w: ["scan-all", w.tenants, "--run-id", ""],
    "scan-all:concurrency_zero": lambda w: ["scan-all", w.tenants, "--concurrency", "0"],
    "scan-all:concurrency_negative": lambda w: ["scan-all", w.tenants, "--concurrency", "-2"],
    "scan-all:processes_zero": lambda w: ["scan-all", w.tenants, "--processes", "0"],
    "scan-all:processes_text": lambda w: ["scan-all", w.tenants, "--processes", "alle"],
    "scan-all:shard_index_without_count": lambda w: ["scan-all", w.tenants, "--shard-index", "1"],
    "scan-all:shard_index_too_big": lambda w: [
        "scan-all",
        w.tenants,
        "--shard-index",
        "4",
        "--shard-count",
        "4",
    ],
    "scan-all:shard_index_negative": lambda w: [
        "scan-all",
        w.tenants,
        "--shard-index",
        "-1",
        "--shard-count",
        "4",
    ],
    "scan-all:shard_count_zero": lambda w: [
        "scan-all",
        w.tenants,
        "--shard-index",
        "0",
        "--shard-count",
        "0",
    ],
    "scan-all:unknown_log_format": lambda w: ["scan-all", w.tenants, "--log-format", "xml"],
    "scan-all:unknown_check": lambda w: ["scan-all", w.tenants, "--checks", "geen.check"],
    "schedule:missing_cron": lambda w: ["schedule", w.tenants],
    "schedule:invalid_cron": lambda w: ["schedule", w.tenants, "--cron", "elke maandag"],
    "schedule:cron_out_of_range": lambda w: ["schedule", w.tenants, "--cron", "0 25 1 9 *"],
    "schedule:cron_six_fields_nonsense": lambda w: ["schedule", w.tenants, "--cron", "* * * * * x"],
    "schedule:unknown_check": lambda w: [
        "schedule",
        w.tenants,
        "--cron",
        "0 6 1 9 *",
        "--checks",
        "geen.check",
    ],
    "history:neither_db_nor_tenants": lambda w: ["history"],
    "history:unknown_tenant": lambda w: ["history", "Bestaat Niet", "--db", w.history],
    "diff:missing_tenant": lambda w: ["diff", "--db", w.history],
    "diff:from_not_a_number": lambda w: ["diff", "S", "--db", w.history, "--from", "eerste"],
    "diff:unknown_ids": lambda w: [
        "diff",
        "OBS De Regenboog",
        "--db",
        w.history,
        "--from",
        "998",
        "--to",
        "999",
    ],
    "diff:negative_ids": lambda w: [
        "diff",
        "S",
        "--db",
        w.history,
        "--from",
        "-1",
        "--to",
        "-2",
    ],
    "diff:fewer_than_two_scans": lambda w: ["diff", "OBS De Regenboog", "--db", w.history],
    "history-merge:no_sources": lambda w: ["history-merge", str(w / "doel.sqlite")],
    "history-merge:target_is_a_source": lambda w: ["history-merge", w.history, w.history],
    "history-merge:wait_negative": lambda w: ["history-merge", "d.sqlite", w.history, "--wait=-1"],
    "history-merge:wait_nan": lambda w: ["history-merge", "d.sqlite", w.history, "--wait", "nan"],
    "history-merge:wait_no_markers": lambda w: [
        "history-merge",
        str(w / "d.sqlite"),
        w.history,
        "--wait",
        "0",
    ],
    "overview:missing_history": lambda w: [
        "overview",
        w.tenants,
        "--history",
        str(w / "nergens.sqlite"),
    ],
    "evaluate:deadline_option_unknown": lambda w: [
        "evaluate",
        w.snapshot,
        "--out",
        "o",
        "--deadline",
        "5",
    ],
}
DEADLINE_START = {**REPORTING, "demo": lambda w: ["demo", "--out", str(w / "d")]}
for command in ("demo", "scan", "scan-all", "schedule"):
    for value in ("0", "-5", "nan", "inf", "-inf", "tien"):
        VALUES[f"{command}:deadline_{value}"] = _with_value(
            DEADLINE_START[command], "--deadline", value
        )
CASES.update(VALUES)


def _files(root: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(root))] = b"-> " + os.readlink(p).encode()
        elif p.is_file():
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_nonzero_and_touches_nothing(
    tmp_path: Path, small_snapshot: bytes, monkeypatch, capsys, case: str
) -> None:
    world = make_world(tmp_path, small_snapshot)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("M365APK_TEST_SECRET", "geheim")
    monkeypatch.delenv("M365APK_NIET_GEZET", raising=False)

    def never_sleep(seconds: float) -> None:  # a schedule must refuse before it waits
        raise AssertionError(f"schedule would wait {seconds:.0f} s for bad input")

    monkeypatch.setattr("m365apk.runs.schedule.time", SimpleNamespace(sleep=never_sleep))
    argv = CASES[case](world)
    before = _files(tmp_path)
    rc = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc not in (0, 1), (rc, err)  # 1 is the last resort for defects
    assert len(lines) == 1 and lines[0].startswith("m365apk: "), err
    assert "Traceback" not in err + out and "onverwachte fout" not in err, err
    assert _files(tmp_path) == before, "an existing file was changed or a file was added"


def test_the_matrix_covers_every_command_and_is_large_enough() -> None:
    commands = {name.split(":")[0] for name in CASES}
    assert set(COMMANDS) <= commands | {"checks", "permissions"}
    subparsers = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert set(subparsers) == set(COMMANDS)
    assert len(CASES) >= 150


def test_a_bad_input_with_debug_is_still_one_line(tmp_path, capsys) -> None:
    """--debug shows a traceback for defects only; a user's mistake stays one line."""
    rc = main(["--debug", "evaluate", str(tmp_path / "nergens.json"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
