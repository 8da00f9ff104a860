"""scan-all's slots (runs/slots.py): a tenant that turns out large steps out of its working
slot into a bounded extra one, so the next tenant starts; nothing is ever held twice or lost."""

from __future__ import annotations

import threading

from m365apk.runs.slots import PACED_USERS, Slots, extra_slots


def _free(sem: threading.BoundedSemaphore) -> int:
    n = 0
    while sem.acquire(blocking=False):
        n += 1
    for _ in range(n):
        sem.release()
    return n


def test_a_large_tenant_frees_its_working_slot_for_the_next() -> None:
    slots = Slots(2, 1)
    a, b = slots.enter(), slots.enter()
    assert _free(slots._working) == 0
    a.on_users(PACED_USERS)  # not above the line: stays
    assert not a.stepped_out and _free(slots._working) == 0
    a.on_users(PACED_USERS + 1)
    assert a.stepped_out and _free(slots._working) == 1 and _free(slots._waiting) == 0
    c = slots.enter()  # the next tenant starts at once
    # No extra slot left: another large tenant keeps its working slot.
    assert b.step_out() is False and not b.stepped_out
    for t in (a, b, c):
        t.leave()
        t.leave()  # a second leave releases nothing more (BoundedSemaphore would raise)
    assert _free(slots._working) == 2 and _free(slots._waiting) == 1


def test_stepping_out_twice_or_after_leaving_changes_nothing() -> None:
    slots = Slots(1, 1)
    t = slots.enter()
    assert t.step_out() and t.step_out()
    assert _free(slots._working) == 1 and _free(slots._waiting) == 0
    t.leave()
    assert t.step_out() is True  # still reports where it was; takes nothing
    assert _free(slots._working) == 1 and _free(slots._waiting) == 1


def test_enter_waits_for_a_working_slot() -> None:
    slots = Slots(1, extra_slots(1))
    first = slots.enter()
    entered = threading.Event()
    waiter = threading.Thread(target=lambda: (slots.enter(), entered.set()))
    waiter.start()
    assert not entered.wait(0.2)
    first.on_users(PACED_USERS * 3)  # steps out: the waiting tenant may start
    assert entered.wait(5)
    waiter.join(5)
