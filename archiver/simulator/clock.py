"""Simulated time: a clock that moves only when someone sleeps on it (or sets ``now``).

Every function that reads the time takes a ``clock`` (and, where it waits, a ``sleep``), so the
demo and the tests pass one of these and never wait for real.

>>> clock = SimulatedClock(100.0)
>>> clock.sleep(20); clock()
120.0
"""

from __future__ import annotations

__all__ = ["SimulatedClock"]


class SimulatedClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
