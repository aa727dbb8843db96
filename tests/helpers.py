"""Test archives built from a compact description, in the exact layout the collector writes.

``build_archive(tmp_path, ...)`` scrapes a made-up account minute by minute: each minute one
scrape run (one ``metrics`` request row plus its ``scrape`` summary row in the scrape log) and,
when the run stores data, its samples, both written through ``archiver.store.write`` (the
collector's writers: file names, stamps and dedup are theirs). Faults are planted per minute
index with ``runs``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from archiver.openmetrics import series_text
from archiver.store import write as store
from archiver.store.archive import Archive

T0 = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)
NAMESPACES = ("alpha.acct1", "beta.acct1")
SUCCESS = "temporal_cloud_v1_workflow_success_count"
BACKLOG = "temporal_cloud_v1_approximate_backlog_count"
POLL_OK = "temporal_cloud_v1_poll_success_count"
POLL_SYNC = "temporal_cloud_v1_poll_success_sync_count"
POLL_TIMEOUT = "temporal_cloud_v1_poll_timeout_count"
ACTION_LIMIT = "temporal_cloud_v1_action_limit"


#: value of a series at minute index i; None = the series is absent that minute (sparse)
Value = Callable[[int], float | None]


@dataclass
class Series:
    namespace: str
    metric: str
    labels: dict[str, str]
    value: Value


@dataclass
class Plan:
    """What a built archive holds, for the assertions."""

    root: Path
    start: datetime
    minutes: int
    series: list[Series] = field(default_factory=list)

    def count(self, namespace: str | None = None, metric: str | None = None) -> int:
        return sum(
            1
            for s in self.series
            if (namespace is None or s.namespace == namespace)
            and (metric is None or s.metric == metric)
        )


def standard_series(
    namespaces: tuple[str, ...] = NAMESPACES,
    task_queues: int = 2,
    workflow_types: int = 3,
    backlog: Mapping[tuple[str, str], Value] | None = None,
) -> list[Series]:
    """Per namespace: workflow_success per (queue, type), backlog and poll rates per queue,
    one action_limit. ``backlog`` overrides a queue's backlog values (default: constant 5)."""
    out: list[Series] = []
    for ns in namespaces:
        base = {"temporal_namespace": ns, "temporal_account": "acct1", "region": "aws-us-east-1"}
        for q in range(task_queues):
            tq = f"queue-{q}"
            for w in range(workflow_types):
                labels = base | {"temporal_task_queue": tq, "temporal_workflow_type": f"Wf{w}"}
                out.append(Series(ns, SUCCESS, labels, lambda i: 1.0))
            qlabels = base | {"temporal_task_queue": tq, "task_type": "workflow"}
            value = (backlog or {}).get((ns, tq), lambda i: 5.0)
            out.append(Series(ns, BACKLOG, qlabels | {"task_priority": "0"}, value))
            poll = qlabels | {"operation": "PollWorkflowTaskQueue"}
            out.append(Series(ns, POLL_OK, poll, lambda i: 4.0))
            out.append(Series(ns, POLL_SYNC, poll, lambda i: 3.0))
            out.append(Series(ns, POLL_TIMEOUT, poll, lambda i: 1.0))
        limit = {"temporal_namespace": ns, "temporal_account": "acct1"}
        out.append(Series(ns, ACTION_LIMIT, limit, lambda i: 500.0))
    return out


def _write_samples(archive: Archive, rows: list[tuple[Series, datetime, float]]) -> None:
    """Through the collector's own writer: its naming, stamping, sorting and dedup."""
    import polars as pl

    from archiver.openmetrics import SAMPLES_SCHEMA

    frame = pl.DataFrame(
        {
            "series": [series_text(s.metric, s.labels) for s, _, _ in rows],
            "metric": [s.metric for s, _, _ in rows],
            "namespace": [s.namespace for s, _, _ in rows],
            "labels": [
                [{"key": k, "value": s.labels[k]} for k in sorted(s.labels)] for s, _, _ in rows
            ],
            "ts": [ts for _, ts, _ in rows],
            "value": [v for _, _, v in rows],
        },
        schema=SAMPLES_SCHEMA,
    )
    store.write_samples(archive, frame)


_STATUS = {
    "complete": 200,
    "limited": 200,
    "unknown": 200,
    "rate_limited": 429,
    "server_error": 503,
    "auth_error": 401,
    "network_error": None,
    "parse_error": 200,
    "budget_exhausted": None,
    "skipped": None,
}


def _log_rows(
    outcome: str,
    target: datetime,
    window: datetime | None,
    seen: list[str],
    samples: int,
    stored: int,
) -> list[dict[str, Any]]:
    """One run's scrape-log rows: its ``metrics`` request and its ``scrape`` summary."""
    started = target + timedelta(minutes=2, seconds=5)
    common = {
        "scrape_id": uuid.uuid4().hex,
        "shard": None,
        "namespaces": None,
        "metrics": None,
        "labels": None,
        "attempt": 1,
        "started": started,
        "finished": started + timedelta(seconds=1),
        "completeness": outcome if outcome in ("complete", "limited", "unknown") else None,
        "outcome": outcome,
        "target_window": target,
        "served_window": window,
        "namespaces_seen": seen if window else None,
        "error": None if outcome == "complete" else f"planted {outcome}",
        "status": _STATUS[outcome],
        "sample_count": samples if window else None,
        "new_samples": stored,
        "bytes": 100,
    }
    rows = [common | {"request": "metrics"}, common | {"request": "scrape"}]
    return rows[1:] if outcome == "skipped" else rows


def build_archive(
    root: Path,
    *,
    start: datetime = T0,
    minutes: int = 180,
    series: list[Series] | None = None,
    runs: Mapping[int, Mapping[str, Any]] | None = None,
    idle: Mapping[str, range] | None = None,
) -> Plan:
    """Scrape a made-up account once a minute for ``minutes`` minutes into ``root``.

    ``runs[i]`` plants a fault at minute index i: ``{"outcome": "rate_limited"}`` (any
    non-storing outcome), ``{"outcome": "limited", "keep": ("alpha.acct1",)}`` (only those
    namespaces stored), ``{"stall": True}`` (served minute i-1 again), ``{"missing": True}`` (no
    run at all). ``idle[ns]`` = minute indices where that namespace reports nothing.
    """
    plan = Plan(root, start, minutes, series if series is not None else standard_series())
    archive = Archive.open(str(root))
    runs = runs or {}
    idle = idle or {}
    for i in range(minutes):
        spec = dict(runs.get(i, {}))
        if spec.get("missing"):
            continue
        target = start + timedelta(minutes=i)
        outcome = spec.get("outcome", "complete")
        served_index: int | None = i
        if spec.get("stall"):
            served_index = i - 1
        elif outcome not in ("complete", "limited", "unknown"):
            served_index = None
        rows: list[tuple[Series, datetime, float]] = []
        seen: set[str] = set()
        if served_index is not None:
            served = start + timedelta(minutes=served_index)
            keep = spec.get("keep")
            for s in plan.series:
                if served_index in idle.get(s.namespace, range(0)):
                    continue
                if keep is not None and s.namespace not in keep:
                    continue
                v = s.value(served_index)
                if v is None:
                    continue
                rows.append((s, served, v))
                seen.add(s.namespace)
            # the store keeps a stalled (repeated) window once: nothing new to write
            if not spec.get("stall"):
                _write_samples(archive, rows)
        window = None if served_index is None else start + timedelta(minutes=served_index)
        stored = 0 if spec.get("stall") else len(rows)
        log = _log_rows(outcome, target, window, sorted(seen), len(rows), stored)
        store.write_rows(archive, "scrapes", log, date_field="started")
    return plan


def write_rollups(root: Path) -> int:
    """Roll every (date, namespace) partition of the samples up into hourly rows with the
    compactor's own writer (:func:`archiver.store.rollups.roll_up_dir`), as compaction would
    after merging them. Returns the partitions rolled up."""
    from archiver.store.rollups import roll_up_dir

    archive = Archive.open(str(root))
    partitions = sorted((root / "samples").glob("date=*/namespace=*"))
    for directory in partitions:
        roll_up_dir(archive, archive.path("samples", directory.parent.name, directory.name))
    return len(partitions)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``archiver ARGS`` through the real entry point: (exit code, stdout, stderr)."""
    from archiver.cli import main

    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
