"""The demo's minute at the real cap: one scrape of a bigger simulated account, answered
``limited`` and split until every piece is complete.

The demo's own account stays under its 2,000-point cap all week (its story is the trend toward
the cap), so this scrape runs against the simulator's mid-size account (36,000 to 37,000 points a
minute) at the real 30,000-point cap, into a scratch archive of its own: the demo archive keeps
only the week it reports on. Nothing is staged: the collector is the one cron runs, and the
rows shown are its scrape log.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

#: The service's documented cap per response.
REAL_POINT_CAP = 30_000


@dataclass
class SplitScrape:
    """What the scrape did: its outcome, the samples stored, and one row per request."""

    outcome: str
    samples: int
    requests: pl.DataFrame


def split_scrape(at: datetime, seed: int = 0) -> SplitScrape:
    """Scrape the mid-size simulated account once at ``at`` (any aware time) and return the
    scrape log's rows of its ``/v1/metrics`` requests (shard, completeness, sample_count)."""
    import polars as pl

    from archiver import config
    from archiver.collect.scrape import scrape_once
    from archiver.simulator.clock import SimulatedClock
    from archiver.simulator.model import Account
    from archiver.simulator.server import Simulator
    from archiver.simulator.spec import AccountSpec
    from archiver.store.archive import Archive

    key = "demo-split-key"
    clock = SimulatedClock(at.timestamp())
    simulator = Simulator(
        Account(AccountSpec.mid(seed=seed)), api_key=key, clock=clock, point_cap=REAL_POINT_CAP
    )
    with tempfile.TemporaryDirectory(prefix="archiver-demo-split-") as scratch:
        settings = config.Settings(
            archive=scratch,
            endpoint="https://simulator.invalid",
            api_key=config.Secret(key),
            point_cap=REAL_POINT_CAP,
            fsync=False,
        )
        result = scrape_once(
            settings,
            clock=clock,
            sleep=clock.sleep,
            transport=simulator.transport(),
            phase=0,
            lock_wait=0,
        )
        log = pl.read_parquet(Archive.open(scratch).files("scrapes"))
        requests = (
            log.filter(pl.col("request") == "metrics")
            .sort("started", "attempt")
            .select(request_filter="shard", completeness="completeness", points="sample_count")
        )
    return SplitScrape(result.outcome, result.new_samples, requests)
