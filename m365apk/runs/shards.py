"""Shards of one round (Kubernetes Indexed Job) and the merge that must wait for all of them.

A shard's history file exists from its first finished school on, so its presence says nothing
about the shard being done. A shard that finishes its round writes a done-marker beside its
history file (`history-shard-0.sqlite.done`: round, shard, when); a shard that starts removes
its old one. `history-merge --wait` merges only when every source has a marker of the same
round, names the shards that are missing when the wait is over, and removes the markers it
merged, so next month's merge waits for next month's shards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from m365apk.errors import ConfigError
from m365apk.snapshot.files import write_text_atomic


def done_marker(history: Path) -> Path:
    return history.with_name(f"{history.name}.done")


def clear_done(history: Path) -> None:
    done_marker(history).unlink(missing_ok=True)


def write_done(history: Path, run_id: str, shard: tuple[int, int], schools: int) -> Path:
    return write_text_atomic(
        done_marker(history),
        json.dumps(
            {
                "run_id": run_id,
                "shard": f"{shard[0]}/{shard[1]}",
                "schools": schools,
                "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        + "\n",
    )


def _read_done(history: Path) -> dict | None:
    try:
        doc = json.loads(done_marker(history).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not there yet (or being renamed into place)
    return doc if isinstance(doc, dict) and isinstance(doc.get("run_id"), str) else None


def wait_for_shards(
    sources: list[Path],
    wait_seconds: float,
    *,
    poll_seconds: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Wait until every source has a history file and a done-marker; return the round they
    finished. Refuses (ConfigError, nothing merged) when the wait is over with shards still
    missing, naming them, or when the shards finished different rounds."""
    end = clock() + wait_seconds
    while True:
        markers = {src: _read_done(src) for src in sources}
        missing = [src for src, m in markers.items() if m is None or not src.is_file()]
        if not missing:
            break
        if clock() >= end:
            raise ConfigError(
                f"na {wait_seconds:.0f} s nog niet klaar: {', '.join(map(str, missing))} "
                f"({len(missing)} van {len(sources)} shards zonder klaar-markering "
                f"{done_marker(missing[0]).name}); er is niets samengevoegd"
            )
        sleep(max(0.0, min(poll_seconds, end - clock())))
    rounds: dict[str, list[str]] = {}
    for src, marker in markers.items():
        assert marker is not None
        rounds.setdefault(marker["run_id"], []).append(f"{src} (deel {marker.get('shard')})")
    if len(rounds) > 1:
        detail = "; ".join(f"ronde {r}: {', '.join(s)}" for r, s in sorted(rounds.items()))
        raise ConfigError(
            f"de shards hebben verschillende rondes afgerond ({detail}); er is niets samengevoegd"
        )
    counts = {str(m.get("shard", "")).partition("/")[2] for m in markers.values() if m}
    seen = {str(m.get("shard", "")).partition("/")[0] for m in markers.values() if m}
    if len(counts) == 1 and (count := next(iter(counts))).isdigit():
        absent = [str(i) for i in range(int(count)) if str(i) not in seen]
        if absent:
            raise ConfigError(
                f"de ronde had {count} shards; niet opgegeven: deel {', '.join(absent)}; er is "
                "niets samengevoegd"
            )
    return next(iter(rounds))
