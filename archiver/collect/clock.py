"""Injected time: the collector never reads the wall clock or sleeps on its own, so tests and
the demo run it on a simulated clock (:class:`archiver.simulator.clock.SimulatedClock`)."""

from __future__ import annotations

from collections.abc import Callable

#: Seconds since the epoch, as ``time.time`` gives them.
Clock = Callable[[], float]
#: Wait this many seconds, as ``time.sleep`` does.
Sleep = Callable[[float], None]
