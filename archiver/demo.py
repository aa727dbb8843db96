"""``archiver demo``: a simulated week scraped minute by minute, offline, in well under a minute.

The built-in simulator runs in-process behind an httpx transport, and a simulated clock
fast-forwards through the week: every scrape is the real ``scrape_once`` (budget ledger,
retries, parser, dedup, scrape log), only time is simulated. A few faults are switched on so
that the gap report has something true to say.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from archiver import config
from archiver.collect import PHASE, ScrapeResult, scrape_once

DEMO_KEY = "demo-key"


@dataclass
class DemoSummary:
    """What the demo archived."""

    archive: str
    start: datetime
    end: datetime
    scrapes: int
    samples: int
    outcomes: dict[str, int]


class SimulatedClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


def run_demo(
    archive: str,
    *,
    days: float = 7.0,
    seed: int = 0,
    end: datetime | None = None,
    on_scrape: Callable[[ScrapeResult], None] = lambda r: None,
) -> DemoSummary:
    """Scrape a simulated account every minute for ``days`` days up to ``end`` (today 00:00)."""
    from archiver.simulator.model import Account, AccountSpec
    from archiver.simulator.server import Faults, Simulator

    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    clock = SimulatedClock(start.timestamp())
    simulator = Simulator(
        Account(AccountSpec.small(seed=seed)),
        api_key=DEMO_KEY,
        clock=clock,
        faults=Faults(error_rate=0.002, stall_rate=0.001, unknown_rate=0.001),
    )
    settings = config.Settings(
        archive=archive,
        endpoint="https://simulator.invalid",
        api_key=config.Secret(DEMO_KEY),
    )
    transport = simulator.transport()
    minutes = math.floor(days * 1440)
    outcomes: dict[str, int] = {}
    samples = 0
    for i in range(minutes):
        tick = start.timestamp() + i * 60 + PHASE
        clock.now = max(clock.now, tick)
        result = scrape_once(
            settings, clock=clock, sleep=clock.sleep, transport=transport, phase=None, lock_wait=0
        )
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
        samples += result.new_samples
        on_scrape(result)
    return DemoSummary(archive, start, end, minutes, samples, outcomes)
