"""Metric descriptors: fetch every page, archive them by date, and report drift since last time."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from archiver.collect.attempt import Attempt
from archiver.collect.client import Client
from archiver.collect.clock import Clock, Sleep
from archiver.store import write as store
from archiver.store.archive import Archive

if TYPE_CHECKING:
    import httpx

    from archiver.config import Settings


@dataclass(frozen=True)
class Drift:
    """What changed between two descriptor sets."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = ()  # name, before, after
    first: bool = False  # nothing was archived before
    #: (old, new, why): a removed and an added metric that look like a rename
    renamed: tuple[tuple[str, str, str], ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def lines(self) -> list[str]:
        """Human-readable drift, one line per change."""
        if self.first:
            return ["first descriptor snapshot archived"]
        out = [f"added   {n}" for n in self.added] + [f"removed {n}" for n in self.removed]
        for name, before, after in self.changed:
            out.append(f"changed {name}: dimensions {list(before)} -> {list(after)}")
        for old, new, why in self.renamed:
            hint = "" if "lineage" in why else "; if so, add it to archiver/lineage.csv"
            out.append(f"renamed? {old} -> {new} ({why}{hint})")
        return out or ["no drift since the last snapshot"]


@dataclass
class DescriptorResult:
    """One refresh: how many descriptors and what drifted."""

    count: int
    drift: Drift


def latest(archive: Archive) -> dict[str, tuple[str, ...]]:
    """The most recent archived snapshot: name -> dimensions (empty if none)."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from archiver.store import tables as schema

    files = archive.files("descriptors")
    if not files:
        return {}
    table = ds.dataset(files, schema=schema.DESCRIPTORS, filesystem=archive.fs).to_table(
        columns=["fetched", "name", "dimensions"]
    )
    newest = pc.max(table.column("fetched"))
    table = table.filter(pc.equal(table.column("fetched"), newest))
    return {
        name: tuple(sorted(dims or []))
        for name, dims in zip(
            table.column("name").to_pylist(), table.column("dimensions").to_pylist(), strict=True
        )
    }


def diff(before: dict[str, tuple[str, ...]], after: dict[str, tuple[str, ...]]) -> Drift:
    """Metrics added, removed, and whose dimensions changed."""
    if not before:
        return Drift(first=True)
    changed = tuple(
        (n, before[n], after[n])
        for n in sorted(before.keys() & after.keys())
        if before[n] != after[n]
    )
    from archiver.history.lineage import likely_renames

    added = tuple(sorted(after.keys() - before.keys()))
    removed = tuple(sorted(before.keys() - after.keys()))
    renamed = likely_renames({n: before[n] for n in removed}, {n: after[n] for n in added})
    return Drift(added=added, removed=removed, changed=changed, renamed=tuple(renamed))


def refresh(
    archive: Archive,
    client: Client,
    *,
    clock: Callable[[], float],
    deadline: float,
    on_attempt: Callable[[Attempt], None] = lambda a: None,
) -> DescriptorResult:
    """Fetch all descriptor pages, archive them, and compare with the previous snapshot."""
    items = client.descriptors(deadline=deadline, on_attempt=on_attempt)
    before = latest(archive)
    fetched = datetime.fromtimestamp(clock(), UTC)
    rows = [_row(fetched, d) for d in items]
    store.write_rows(archive, "descriptors", rows, date_field="fetched")
    after = {r["name"]: tuple(sorted(r["dimensions"])) for r in rows}
    return DescriptorResult(count=len(rows), drift=diff(before, after))


def _row(fetched: datetime, item: dict[str, Any]) -> dict[str, Any]:
    dims: Sequence[Any] = item.get("dimensions") or []
    return {
        "fetched": fetched,
        "name": str(item["name"]),
        "help": item.get("help"),
        "dimensions": [str(d) for d in dims],
    }


def refresh_descriptors(
    settings: Settings,
    *,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> DescriptorResult:
    """``archiver descriptors``: fetch, archive and diff the descriptors, within the budget."""
    from archiver.collect.budget import Budget
    from archiver.collect.scrapelog import ScrapeLog
    from archiver.collect.state import State

    settings.require_key()
    archive = Archive.from_settings(settings)
    budget = Budget(archive, per_hour=settings.budget_per_hour, clock=clock)
    started = clock()
    scrape_log = ScrapeLog(archive, uuid.uuid4().hex)
    with Client.from_settings(
        settings, budget=budget, clock=clock, sleep=sleep, transport=transport
    ) as client:
        try:
            result = refresh(
                archive,
                client,
                clock=clock,
                deadline=started + settings.deadline,
                on_attempt=lambda a: scrape_log.attempt(a, None),
            )
        finally:
            scrape_log.flush()
    state = State.load(archive)
    state.last_descriptors = started
    state.metrics.update(latest(archive))
    state.save(archive)
    return result
