"""History: every scored scan in one SQLite file, so a report can compare with last year and
the provider's overview can show trends. Each scan is written in one transaction (WAL mode):
a run killed halfway leaves complete rows or none, never a corrupt file."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from m365apk.errors import ConfigError
from m365apk.reports.model import Report
from m365apk.snapshot.files import crash_point

SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    tenant_name TEXT,
    school_type TEXT,
    collected_at TEXT,
    finished_at TEXT NOT NULL,
    outcome TEXT NOT NULL,          -- ok | partial | auth_error | config_error | error
    error TEXT,
    tool_version TEXT,
    mappings_version TEXT,
    score INTEGER,
    verdict TEXT,
    evaluated INTEGER,
    total INTEGER,
    snapshot_path TEXT,
    report_path TEXT,
    duration_seconds REAL,          -- how long the tenant's scan took (seconds)
    UNIQUE (run_id, tenant_id)
);
CREATE TABLE IF NOT EXISTS measure_scores (
    scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    basismaatregel INTEGER NOT NULL,
    score INTEGER,
    verdict TEXT NOT NULL,
    PRIMARY KEY (scan_id, basismaatregel)
);
CREATE TABLE IF NOT EXISTS check_results (
    scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    check_id TEXT NOT NULL,
    status TEXT NOT NULL,
    title TEXT,
    PRIMARY KEY (scan_id, check_id)
);
"""


@dataclass(frozen=True)
class ReportRows:
    """What history keeps of a report besides its overall score: per measure and per check."""

    measures: list[tuple[int, int | None, str]]  # basismaatregel, score, verdict
    checks: list[tuple[str, str, str]]  # check id, status, title


def report_rows(report: Report) -> ReportRows:
    return ReportRows(
        measures=[(b.id, b.score.score, b.score.verdict) for b in report.basismaatregelen],
        checks=[(c.id, c.result.status.value, c.title) for c in report.checks],
    )


@dataclass(frozen=True)
class ScanRow:
    id: int
    run_id: str
    tenant_id: str
    tenant_name: str | None
    school_type: str | None
    collected_at: str | None
    finished_at: str
    outcome: str
    error: str | None
    score: int | None
    verdict: str | None
    evaluated: int | None
    total: int | None
    report_path: str | None


# Columns without which a file is no m365apk history (someone else's table named scans).
REQUIRED_COLUMNS = {"id", "run_id", "tenant_id", "finished_at", "outcome"}


def _check_schema(db: sqlite3.Connection, path: Path, create: bool) -> None:
    """Refuse a database that is not ours before anything is written to it (our tables added to
    someone else's database, or WAL mode switched on in it, would change their file)."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "scans" in tables:
        columns = {row[1] for row in db.execute("PRAGMA table_info(scans)")}
        if columns >= REQUIRED_COLUMNS:
            return
        what = f"tabel scans zonder {', '.join(sorted(REQUIRED_COLUMNS - columns))}"
    elif tables:
        what = f"andere tabellen: {', '.join(sorted(tables))[:80]}"
    elif create:
        return  # an empty database (e.g. a new, empty file) becomes a history
    else:
        what = "leeg: er staan nog geen scans in"
    raise ConfigError(
        f"historiebestand {path} is geen m365apk-historie ({what}); het is niet gewijzigd"
    )


class History:
    """The history file. `create=False` for commands that only read it: a file that does not
    exist, is empty or is not ours is refused instead of being made into a history."""

    def __init__(self, path: Path, create: bool = True) -> None:
        if path.is_dir():
            raise ConfigError(f"historiebestand {path} is een map; geef een bestand")
        if not create and not path.is_file():
            raise ConfigError(f"historiebestand niet gevonden: {path}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"historiebestand {path}: map niet te maken ({exc.strerror})"
            ) from None
        self.path = path
        self._db = None
        try:
            self._db = sqlite3.connect(path, timeout=30)
            _check_schema(self._db, path, create)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(scans)")}
            if "duration_seconds" not in columns:  # a history file from before this column
                with self._db:
                    self._db.execute("ALTER TABLE scans ADD COLUMN duration_seconds REAL")
        except sqlite3.DatabaseError as exc:  # not SQLite, or damaged: leave it as it is
            self._close_quietly()
            raise ConfigError(
                f"historiebestand {path} is geen m365apk-historie of is beschadigd ({exc}); "
                "het is niet gewijzigd"
            ) from None
        except ConfigError:
            self._close_quietly()
            raise

    def _close_quietly(self) -> None:
        if self._db is not None:
            self._db.close()

    @staticmethod
    def verify(path: Path) -> None:
        """Check, without writing, that `path` is absent (it will be made) or a readable
        m365apk history: before a run locks or writes anything."""
        if not os.path.lexists(path):
            try:  # made now, as History would: a parent that is a file is refused here
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"historiebestand {path}: map niet te maken ({exc.strerror or exc})"
                ) from None
            return
        History(path).close()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._db:  # commits, or rolls back on error
            yield self._db

    def record(
        self,
        *,
        run_id: str,
        tenant_id: str,
        tenant_name: str | None,
        school_type: str | None,
        finished_at: str,
        outcome: str,
        error: str | None = None,
        report: Report | None = None,
        snapshot_path: Path | None = None,
        report_path: Path | None = None,
        duration_seconds: float | None = None,
        rows: ReportRows | None = None,
    ) -> int:
        """One scan of one tenant. `rows` (from `report_rows`) stands in for `report`'s per-measure
        and per-check rows when the report itself was slimmed (a worker process sends only
        those)."""
        if rows is None and report is not None:
            rows = report_rows(report)
        with self._tx() as db:
            db.execute("DELETE FROM scans WHERE run_id = ? AND tenant_id = ?", (run_id, tenant_id))
            values: dict[str, Any] = {
                "run_id": run_id,
                "tenant_id": tenant_id,
                "tenant_name": tenant_name,
                "school_type": school_type,
                "finished_at": finished_at,
                "outcome": outcome,
                "error": error,
                "snapshot_path": str(snapshot_path) if snapshot_path else None,
                "report_path": str(report_path) if report_path else None,
                "duration_seconds": duration_seconds,
            }
            if report is not None:
                values |= {
                    "collected_at": report.collected_at.isoformat(),
                    "tool_version": report.tool.version,
                    "mappings_version": report.tool.mappings_version,
                    "score": report.overall.score,
                    "verdict": report.overall.verdict,
                    # the coverage's "determined" (not applicable counts as determined); a
                    # report from before that field falls back to the measured count
                    "evaluated": (
                        getattr(report.overall, "determined", 0) or report.overall.evaluated
                    ),
                    "total": report.overall.total,
                }
            columns = ", ".join(values)
            marks = ", ".join("?" for _ in values)
            cursor = db.execute(
                f"INSERT INTO scans ({columns}) VALUES ({marks})", tuple(values.values())
            )
            scan_id = int(cursor.lastrowid or 0)
            crash_point("history.half")  # inside the transaction: rolled back, never half
            if rows is not None:
                db.executemany(
                    "INSERT INTO measure_scores VALUES (?, ?, ?, ?)",
                    [(scan_id, *m) for m in rows.measures],
                )
                db.executemany(
                    "INSERT INTO check_results VALUES (?, ?, ?, ?)",
                    [(scan_id, *c) for c in rows.checks],
                )
            return scan_id

    def durations(self) -> dict[str, float]:
        """Per tenant, how long its latest finished scan took (tenants never timed: absent)."""
        rows = self._db.execute(
            "SELECT tenant_id, duration_seconds FROM scans WHERE duration_seconds IS NOT NULL"
            " AND outcome IN ('ok', 'partial') ORDER BY finished_at, id"
        )
        return dict(rows.fetchall())

    def done(self, run_id: str) -> set[str]:
        """Tenants this run already scanned (any outcome but a crash is final for a run)."""
        rows = self._db.execute(
            "SELECT tenant_id FROM scans WHERE run_id = ? AND outcome IN ('ok', 'partial')",
            (run_id,),
        )
        return {r[0] for r in rows}

    def scans(self, tenant: str | None = None) -> list[ScanRow]:
        query = (
            "SELECT id, run_id, tenant_id, tenant_name, school_type, collected_at, finished_at,"
            " outcome, error, score, verdict, evaluated, total, report_path FROM scans"
        )
        args: tuple[Any, ...] = ()
        if tenant:
            query += " WHERE tenant_id = ? OR lower(tenant_name) = lower(?)"
            args = (tenant.lower(), tenant)
        query += " ORDER BY finished_at, id"
        return [ScanRow(*row) for row in self._db.execute(query, args)]

    def measures(self, scan_id: int) -> dict[int, tuple[int | None, str]]:
        rows = self._db.execute(
            "SELECT basismaatregel, score, verdict FROM measure_scores WHERE scan_id = ?",
            (scan_id,),
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def checks(self, scan_id: int) -> dict[str, tuple[str, str]]:
        rows = self._db.execute(
            "SELECT check_id, status, title FROM check_results WHERE scan_id = ?", (scan_id,)
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def previous(self, tenant_id: str) -> Any:
        """The tenant's last successful scan, for the report's comparison."""
        from m365apk.reports.model import Previous

        good = [s for s in self.scans(tenant_id) if s.outcome in ("ok", "partial")]
        if not good:
            return None
        last = good[-1]
        return Previous(
            run_id=last.run_id,
            finished_at=last.finished_at,
            score=last.score,
            verdict=last.verdict,
            measures={k: v[0] for k, v in self.measures(last.id).items()},
            checks={k: v[0] for k, v in self.checks(last.id).items()},
            trend=[((s.collected_at or s.finished_at)[:10], s.score) for s in good[-4:]],
        )

    def peers(self, exclude: str) -> Any:
        """Median of the latest successful score of every other tenant (anonymous)."""
        import statistics

        from m365apk.reports.model import Peers

        latest: dict[str, int] = {}
        for s in self.scans():
            if s.tenant_id != exclude and s.outcome in ("ok", "partial") and s.score is not None:
                latest[s.tenant_id] = s.score
        if len(latest) < 3:  # fewer than three schools would not be anonymous
            return None
        return Peers(median=statistics.median(latest.values()), count=len(latest))

    def merge_from(self, other: Path) -> int:
        """Copy every scan of another history file (a shard) into this one."""
        source = History(other, create=False)
        count = 0
        try:
            for row in source.scans():
                measures = source.measures(row.id)
                checks = source.checks(row.id)
                with self._tx() as db:
                    db.execute(
                        "DELETE FROM scans WHERE run_id = ? AND tenant_id = ?",
                        (row.run_id, row.tenant_id),
                    )
                    full = source._db.execute("SELECT * FROM scans WHERE id = ?", (row.id,))
                    names = [d[0] for d in full.description]
                    record = dict(zip(names, full.fetchone(), strict=True))
                    record.pop("id")
                    cursor = db.execute(
                        f"INSERT INTO scans ({', '.join(record)}) VALUES "
                        f"({', '.join('?' for _ in record)})",
                        tuple(record.values()),
                    )
                    new_id = cursor.lastrowid
                    db.executemany(
                        "INSERT INTO measure_scores VALUES (?, ?, ?, ?)",
                        [(new_id, k, s, v) for k, (s, v) in measures.items()],
                    )
                    db.executemany(
                        "INSERT INTO check_results VALUES (?, ?, ?, ?)",
                        [(new_id, k, s, t) for k, (s, t) in checks.items()],
                    )
                count += 1
        finally:
            source.close()
        return count


FINDING = {"fail", "partial"}


def diff(
    before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]
) -> dict[str, list[tuple[str, str, str, str]]]:
    """New, resolved and changed findings between two scans: (check id, title, was, is)."""
    out: dict[str, list[tuple[str, str, str, str]]] = {"nieuw": [], "opgelost": [], "veranderd": []}
    for check_id in sorted(set(before) | set(after)):
        was = before.get(check_id, ("–", ""))[0]
        now, title = after.get(check_id, ("–", before.get(check_id, ("", ""))[1]))
        title = title or before.get(check_id, ("", ""))[1]
        if was == now:
            continue
        if now in FINDING and was not in FINDING:
            out["nieuw"].append((check_id, title, was, now))
        elif was in FINDING and now not in FINDING:
            out["opgelost"].append((check_id, title, was, now))
        else:
            out["veranderd"].append((check_id, title, was, now))
    return out
