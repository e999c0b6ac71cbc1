"""Time sources for devices.

Devices never read the host clock themselves: each one that depends on time is handed a clock object with a single
method ``now_ns() -> int`` (nanoseconds, monotonic, non-decreasing). The machine passes either virtual time derived from
executed guest instructions (so runs are reproducible) or ``HostClock``. ``ManualClock`` is the clock of tests and of
deterministic replays: time moves only when told to.

Time-dependent devices expose ``deadline_ns() -> int | None`` (the next virtual time at which their outputs change) and
``update(now_ns)`` (bring state up to ``now_ns``, raising IRQs for what happened); register reads always compute their
value as of ``clock.now_ns()``.
"""

from __future__ import annotations

import time


class ManualClock:
    """A clock that moves only through ``advance``/``set``; starts at ``start_ns``."""

    def __init__(self, start_ns: int = 0):
        self._now = int(start_ns)

    def now_ns(self) -> int:
        return self._now

    def advance(self, ns: int) -> int:
        if ns < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {ns} ns)")
        self._now += int(ns)
        return self._now

    def set(self, now_ns: int) -> None:
        if now_ns < self._now:
            raise ValueError(f"a clock cannot go backwards ({self._now} -> {now_ns} ns)")
        self._now = int(now_ns)


class HostClock:
    """Host monotonic time, counted from the moment the clock was created (so it starts near 0 like virtual time)."""

    def __init__(self):
        self._origin = time.monotonic_ns()

    def now_ns(self) -> int:
        return time.monotonic_ns() - self._origin
