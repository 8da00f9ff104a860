"""The scheduled run: scan-all on a cron expression, forever (or `max_runs` times)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from croniter import croniter

from m365apk.errors import ConfigError

log = logging.getLogger("m365apk.schedule")


def run_schedule(cron: str, run_once: Callable[[str], int], max_runs: int | None = None) -> int:
    """Call `run_once(run_id)` at every firing of `cron`. A failed round is logged and the
    schedule goes on: one bad night must not stop next week's scans."""
    if not croniter.is_valid(cron):
        raise ConfigError(f"ongeldige cron-expressie: {cron!r}")
    schedule = croniter(cron, datetime.now(UTC))
    runs = 0
    while max_runs is None or runs < max_runs:
        fire = schedule.get_next(datetime)
        time.sleep(max(0.0, (fire - datetime.now(UTC)).total_seconds()))
        runs += 1
        run_id = fire.strftime("%Y-%m-%dT%H%M%S")
        try:
            code = run_once(run_id)
            log.info("ronde %s klaar (exitcode %s)", run_id, code)
        except Exception as exc:  # a failed run must not stop the schedule
            log.error("ronde %s mislukt: %s", run_id, exc)
    return 0
