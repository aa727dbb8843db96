"""One scrape run's shared context, handed from step to step (:mod:`archiver.collect.scrape`
runs the steps, :mod:`archiver.collect.fetch` the requests)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from archiver.collect.attempt import Attempt
from archiver.collect.clock import Clock, Sleep
from archiver.collect.outcome import Outcome

if TYPE_CHECKING:
    from archiver.collect.budget import Budget
    from archiver.collect.client import Client
    from archiver.collect.scrapelog import ScrapeLog
    from archiver.collect.shards import Shard
    from archiver.collect.state import State
    from archiver.config import Settings
    from archiver.store.archive import Archive

log = logging.getLogger("archiver.collect.scrape")


@dataclass
class Run:
    """What every step of one scrape run shares: settings, archive, client, budget, clock,
    scrape log and state (kept out of the public API)."""

    settings: Settings
    archive: Archive
    client: Client
    budget: Budget
    clock: Clock
    sleep: Sleep
    started: float
    log: ScrapeLog
    state: State
    wait: float = 60.0  # seconds to wait for the archive's write lock

    @property
    def deadline(self) -> float:
        return self.started + self.settings.deadline

    def on_attempt(self, shard: Shard | None) -> Callable[[Attempt], None]:
        def record(a: Attempt) -> None:
            self.log.attempt(a, shard)
            if a.outcome is not Outcome.COMPLETE:
                what = shard.describe() if shard else a.request
                log.warning("request %s attempt %d: %s", what, a.attempt, a.error or a.outcome)

        return record
