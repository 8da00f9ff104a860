"""The tenant deadline leaves out the time a tenant stood in line behind the app's other
tenants (scan-all under Graph's limits per app for all tenants), and only that time."""

from __future__ import annotations

import asyncio

import pytest

from m365apk.scanner import collector
from m365apk.scanner.collector import _Deadline


async def _work(deadline: _Deadline, seconds: float) -> bool:
    """True when `seconds` of work finished inside the deadline."""
    watch = asyncio.create_task(deadline.keep())
    try:
        async with deadline.timeout():
            await asyncio.sleep(seconds)
        return True
    except TimeoutError:
        return False
    finally:
        watch.cancel()


@pytest.fixture(autouse=True)
def quick_recheck(monkeypatch) -> None:
    monkeypatch.setattr(collector._Deadline, "RECHECK_SECONDS", 0.02)


def test_a_school_waiting_in_line_behind_other_schools_is_not_timed_out() -> None:
    """Regression (sector scale): 16 schools read signInActivity through one app at 10 pages a
    minute; the school last in line waited longer than its 30-minute deadline for the others,
    and its stale-account checks would have read "time-out" without Graph ever hanging."""

    async def go() -> bool:
        loop = asyncio.get_running_loop()
        began = loop.time()
        # all of the time so far was spent in line (the worst case)
        deadline = _Deadline(0.1, lambda: loop.time() - began)
        return await _work(deadline, 0.4)

    assert asyncio.run(go())


def test_time_not_in_line_still_runs_into_the_deadline() -> None:
    async def go(in_line: float) -> bool:
        return await _work(_Deadline(0.1, lambda: in_line), 0.4)

    assert not asyncio.run(go(0.0))  # a hanging Graph: time-out, as before
    assert not asyncio.run(go(0.1))  # 0.1 s in line moves it to 0.2 s: still short of 0.4
    assert asyncio.run(go(0.5))


def test_no_limit_no_deadline() -> None:
    async def go() -> bool:
        return await _work(_Deadline(None, lambda: 0.0), 0.05)

    assert asyncio.run(go())
