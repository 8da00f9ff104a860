"""The garbage collector's pace for scanning.

A scan builds hundreds of thousands of small dicts and lists (Graph's objects) that live until
the report is written and hold no reference cycles. CPython's default pace (a pass over the
youngest generation every 700 new containers, a pass over everything whenever the survivors
grew by a quarter) walks that data again and again: at 100,000 users those passes were measured
at 1.5 of the 6.7 CPU seconds of the collection (#16, benchmarks/scan_benchmark.py). A larger
youngest generation makes the passes rare, and what is imported by then (thousands of SDK
classes and functions, alive until the process ends) is frozen out of them. Reference counting
frees everything else as before; only cyclic garbage waits somewhat longer to be found.

Process-wide, so only entry points call it (the CLI, scan-all's worker processes, benchmarks).
"""

from __future__ import annotations

import gc

YOUNGEST = 10_000  # containers between passes over the youngest generation (CPython: 700)
_tuned = False


def tune() -> None:
    """Once per process: a later call (the CLI called in-process again) changes nothing, so
    objects that became garbage since are not frozen out of reach."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.collect()  # what is garbage now is not frozen with the rest
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNGEST, older, oldest)
