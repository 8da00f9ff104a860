"""Tenants in flight in scan-all: slots for tenants that use the machine, and a bounded
number of extra slots for tenants that mostly wait on Graph.

A large board's scan is set by Graph's pacing, not by our CPU: its sign-in activity comes at
10 pages of 500 users a minute (scanner/pacing.py), so a 30,000-user board waits five minutes
while holding a slot. In the sector benchmark such waits held about a quarter of the slot
time while the machine had CPU to spare. A tenant that turns out large (its users read shows
it) steps out of its slot into an extra one, if there is one free, and the next tenant starts.
"""

from __future__ import annotations

import threading

# Users from which a scan is paced for minutes: signInActivity beyond Graph's first 10 pages
# of 500 takes a minute per 10 pages (directory limits pace a fallback fan-out likewise).
PACED_USERS = 10_000


def extra_slots(size: int) -> int:
    """Extra slots for tenants that stepped out: half the working ones (at least one)."""
    return max(1, size // 2)


class Slots:
    def __init__(self, size: int, extra: int) -> None:
        self._working = threading.BoundedSemaphore(size)
        self._waiting = threading.BoundedSemaphore(extra) if extra > 0 else None

    def enter(self) -> Ticket:
        """Blocks until a working slot is free."""
        self._working.acquire()
        return Ticket(self)


class Ticket:
    """One tenant's place: in a working slot, or stepped out into an extra one."""

    def __init__(self, slots: Slots) -> None:
        self._slots = slots
        self._lock = threading.Lock()
        self.stepped_out = False
        self._left = False

    def step_out(self) -> bool:
        """Move to an extra slot if one is free (the working slot goes to the next tenant)."""
        waiting = self._slots._waiting
        with self._lock:
            if self.stepped_out or self._left or waiting is None:
                return self.stepped_out
            if not waiting.acquire(blocking=False):
                return False
            self.stepped_out = True
            self._slots._working.release()
            return True

    def on_users(self, count: int) -> None:
        """The tenant's users were read: a large one steps out."""
        if count > PACED_USERS:
            self.step_out()

    def leave(self) -> None:
        with self._lock:
            if self._left:
                return
            self._left = True
            held = self._slots._waiting if self.stepped_out else self._slots._working
            assert held is not None
            held.release()
