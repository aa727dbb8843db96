"""The scrape log (the ``scrapes`` table): the one writer of its rows.

Every HTTP attempt becomes one row (:meth:`ScrapeLog.attempt`), a scrape run closes with one
summary row (``request = "scrape"``, :meth:`ScrapeLog.close`), and an import of history records
what it brought in (``request = "import"`` with its ``source``, :func:`record_import`). The gap
audit reads these rows to tell why any minute is missing, so every run writes them, failed or not.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from archiver.collect.outcome import Outcome
from archiver.store import write as store

if TYPE_CHECKING:
    from archiver.collect.attempt import Attempt
    from archiver.collect.shards import Shard
    from archiver.store.archive import Archive

log = logging.getLogger(__name__)


def dt(seconds: float) -> datetime:
    """Epoch seconds as an aware UTC datetime (the log's timestamp type)."""
    return datetime.fromtimestamp(seconds, UTC)


def dt_ms(ms: int | None) -> datetime | None:
    """Epoch milliseconds as an aware UTC datetime, None kept."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def _row(scrape_id: str, request: str, started: float, finished: float) -> dict[str, Any]:
    """A row with every column present and only its identity filled in."""
    return {
        "scrape_id": scrape_id,
        "request": request,
        "shard": None,
        "namespaces": [],
        "metrics": [],
        "labels": [],
        "attempt": 1,
        "started": dt(started),
        "finished": dt(finished),
        "status": None,
        "completeness": None,
        "outcome": Outcome.COMPLETE.value,
        "target_window": None,
        "served_window": None,
        "sample_count": None,
        "new_samples": None,
        "namespaces_seen": None,
        "bytes": None,
        "error": None,
        "source": None,
    }


@dataclass
class ScrapeLog:
    """The rows of one run, written together when it closes (or by :meth:`flush`)."""

    archive: Archive
    scrape_id: str
    labels: Sequence[str] = ()
    target: int | None = None  # epoch ms of the minute the run meant to capture
    rows: list[dict[str, Any]] = field(default_factory=list)

    def attempt(self, a: Attempt, shard: Shard | None) -> None:
        """Record one HTTP attempt (window and counts are filled in after parsing)."""
        row = _row(self.scrape_id, a.request, a.started, a.finished) | {
            "shard": shard.describe() if shard else None,
            "namespaces": list(shard.namespaces) if shard else [],
            "metrics": list(shard.metrics) if shard else [],
            "labels": list(self.labels),
            "attempt": a.attempt,
            "status": a.status,
            "completeness": a.completeness,
            "outcome": str(a.outcome),
            "target_window": dt_ms(self.target),
            "bytes": a.size,
            "error": a.error,
        }
        self.rows.append(row)

    def amend_last(
        self,
        *,
        outcome: Outcome | None = None,
        error: str | None = None,
        served_window: int | None = None,
        sample_count: int | None = None,
        namespaces_seen: Sequence[str] | None = None,
    ) -> None:
        """Fill in what parsing the last attempt's body found out."""
        row = self.rows[-1]
        if outcome is not None:
            row["outcome"] = str(outcome)
        if error is not None:
            row["error"] = error
        if served_window is not None:
            row["served_window"] = dt_ms(served_window)
        if sample_count is not None:
            row["sample_count"] = sample_count
        if namespaces_seen is not None:
            row["namespaces_seen"] = list(namespaces_seen)

    @property
    def requests(self) -> int:
        """How many requests this run sent (attempts that never left are not counted)."""
        return sum(1 for r in self.rows if r["status"] is not None or _sent(r["outcome"]))

    def close(
        self,
        *,
        outcome: Outcome,
        started: float,
        finished: float,
        pieces: int,
        namespaces: Sequence[str],
        metrics: Sequence[str],
        served_window: int | None,
        sample_count: int,
        new_samples: int,
        error: str | None,
    ) -> None:
        """Add the run's summary row and write every row of the run."""
        seen = sorted({ns for r in self.rows for ns in (r["namespaces_seen"] or [])})
        summary = _row(self.scrape_id, "scrape", started, finished) | {
            "shard": f"{pieces} pieces",
            "namespaces": list(namespaces),
            "metrics": list(metrics),
            "labels": list(self.labels),
            "attempt": len(self.rows),
            "completeness": str(outcome) if outcome.answered else None,
            "outcome": str(outcome),
            "target_window": dt_ms(self.target),
            "served_window": dt_ms(served_window),
            "sample_count": sample_count,
            "new_samples": new_samples,
            "namespaces_seen": seen,
            "bytes": sum(r["bytes"] or 0 for r in self.rows),
            "error": error,
        }
        self.rows.append(summary)
        self.flush()

    def flush(self) -> None:
        """Write the rows recorded so far (a run that ends early still leaves its trace)."""
        if self.rows:
            rows, self.rows = self.rows, []
            store.write_rows(self.archive, "scrapes", rows, date_field="started")


def _sent(outcome: str) -> bool:
    return outcome not in (
        Outcome.BUDGET_EXHAUSTED,
        Outcome.SHARE_SPENT,
        Outcome.BACKED_OFF,
        Outcome.SKIPPED,
    )


def record_imports(
    archive: Archive,
    minutes: Iterable[tuple[datetime, int, Sequence[str]]],
    *,
    scrape_id: str,
    source: str,
    started: float,
    finished: float,
) -> int:
    """One ``request = "import"`` row per imported minute; returns how many were written.

    ``minutes`` yields (minute, samples, namespaces seen). ``source`` names where they came
    from without credentials (``openmetrics:dump.txt``, ``prometheus:https://prom.example/``).
    Each row is filed under its minute's date, where the gap audit looks for that minute's runs.
    """
    rows = [
        _row(scrape_id, "import", started, finished)
        | {
            "namespaces": None,
            "metrics": None,
            "labels": None,
            "completeness": Outcome.COMPLETE.value,
            "target_window": minute,
            "served_window": minute,
            "sample_count": int(samples),
            "namespaces_seen": list(namespaces),
            "source": source,
        }
        for minute, samples, namespaces in minutes
    ]
    if not rows:
        return 0
    return store.write_rows(archive, "scrapes", rows, date_field="target_window")
