"""The collector's pace for scanning (runs/gcpolicy.py): set once per process, imports frozen."""

from __future__ import annotations

import subprocess
import sys


def test_tune_sets_the_pace_once_and_freezes_what_is_loaded() -> None:
    # In a fresh interpreter: the suite's own process keeps CPython's default pace.
    code = (
        "import gc; from m365apk.runs import gcpolicy; "
        "assert gc.get_freeze_count() == 0; gcpolicy.tune(); "
        "frozen = gc.get_freeze_count(); assert frozen > 1000, frozen; "
        "assert gc.get_threshold()[0] == gcpolicy.YOUNGEST; "
        "junk = [[] for _ in range(10)]; gcpolicy.tune(); "
        "assert gc.get_freeze_count() == frozen, 'a second call froze more'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
