"""Data for the backlog benchmark that is NOT the simulator, written as ``archiver compact``
leaves an archive: one sorted sample file and one rollups file per (date, namespace).

10 namespaces x 1,000 series a minute by default: per namespace 50 task queues x 2 task types x
the 4 backlog metrics (backlogs are integer random walks, poll rates noisy 3-decimal numbers,
about 1 minute in 10 idle) plus 600 other noisy rate series. Used by
:mod:`benchmarks.bench_backlog`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

START = dt.datetime(2025, 3, 3, tzinfo=dt.UTC)
BUILD_VERSION = 1
#: The year of rollups' layout (2: 8,192-row groups, 50,000 points with capacity series).
YEAR_VERSION = 2
NAMESPACES, QUEUES, OTHER = 10, 50, 600
BACKLOG_METRICS = (
    "temporal_cloud_v1_approximate_backlog_count",
    "temporal_cloud_v1_poll_success_count",
    "temporal_cloud_v1_poll_success_sync_count",
    "temporal_cloud_v1_poll_timeout_count",
)


def _queue_series(base: dict[str, str], queues: int) -> Iterator[tuple[str, dict[str, str]]]:
    """(metric, labels) of every backlog series of ``queues`` task queues, both task types."""
    for q in range(queues):
        for task_type in ("activity", "workflow"):
            for metric in BACKLOG_METRICS:
                yield metric, base | {"task_type": task_type, "temporal_task_queue": f"tq-{q}"}


def foreign_series(namespaces: int = NAMESPACES) -> dict[str, Any]:
    """Every series of the foreign account, per namespace: an Arrow table (series, metric,
    labels) sorted by series, as the samples schema stores them."""
    import pyarrow as pa

    from archiver.openmetrics import series_text
    from archiver.store import tables

    fields = pa.schema([f for f in tables.SAMPLES if f.name in ("series", "metric", "labels")])
    out: dict[str, Any] = {}
    for n in range(namespaces):
        ns = f"bench-{n:02d}.acct"
        base = {"temporal_account": "acct", "temporal_namespace": ns}
        rows = []
        for metric, labels in _queue_series(base, QUEUES):
            rows.append((series_text(metric, labels), metric, list(labels.items())))
        for o in range(OTHER):
            labels = base | {"temporal_workflow_type": f"wf-{o}"}
            metric = "temporal_cloud_v1_workflow_success_count"
            rows.append((series_text(metric, labels), metric, list(labels.items())))
        rows.sort()
        out[ns] = pa.Table.from_pylist(
            [{"series": r[0], "metric": r[1], "labels": r[2]} for r in rows], schema=fields
        )
    return out


def build_foreign(root: Path, days: int, seed: int = 7) -> dict[str, Any]:
    """Write ``days`` days of the foreign account (samples and rollups) into ``root``."""

    from archiver.store.archive import Archive

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    archive = Archive.open(str(root), durable=False)
    samples = 0
    for ns, stored in foreign_series().items():
        kinds = stored.column("metric").to_numpy()
        is_backlog = kinds == BACKLOG_METRICS[0]
        level = rng.integers(0, 500, size=len(kinds)).astype(np.float64)
        for day in range(days):
            day_start = START + dt.timedelta(days=day)
            day_ms = int(day_start.timestamp() * 1000)
            steps = rng.integers(-3, 4, size=(len(kinds), 1440)).astype(np.float64)
            walk = np.maximum(level[:, None] + np.cumsum(steps, axis=1), 0.0)
            level = walk[:, -1]
            noisy = np.round(np.abs(rng.normal(20.0, 6.0, size=(len(kinds), 1440))), 3)
            values = np.where(is_backlog[:, None], walk, noisy)
            reported = rng.random((len(kinds), 1440)) > 0.1  # idle minutes
            idx, minute = np.nonzero(reported)  # row-major: sorted by series, then time
            frame = pl.DataFrame(
                {
                    "idx": idx.astype(np.uint32),
                    "ts": (day_ms + minute.astype(np.int64) * 60_000),
                    "value": values[idx, minute],
                }
            ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
            _write_partition(archive, ns, day_start.date().isoformat(), stored, frame)
            samples += frame.height
    return {
        "data": "foreign",
        "samples": samples,
        "days": days,
        "build_s": round(time.perf_counter() - started, 1),
        "version": BUILD_VERSION,
    }


def _write_partition(
    archive: Any, namespace: str, date: str, stored: Any, frame: pl.DataFrame
) -> None:
    """One compacted sample file and its rollups file for (date, namespace)."""
    import pyarrow as pa

    from archiver.store import tables

    rows = stored.take(frame.get_column("idx").to_arrow())
    ts = frame.get_column("ts")
    lo, hi = (int(x.timestamp() * 1000) for x in (ts.min(), ts.max()))  # type: ignore[union-attr]
    data = pa.Table.from_arrays(
        [
            rows.column(0),
            rows.column(1),
            rows.column(2),
            ts.to_arrow().cast(tables.TS),
            frame.get_column("value").to_arrow(),
        ],
        schema=tables.SAMPLES,
    ).replace_schema_metadata({tables.SCHEMA_VERSION_KEY: str(tables.SCHEMA_VERSION)})
    sample_def, rollup_def = tables.TABLES["samples"], tables.TABLES["rollups"]
    archive.write_parquet(
        archive.table_dir("samples", date, namespace),
        data,
        name=tables.make_filename(tables.COMPACTED, lo, hi),
        **sample_def.write_options,
    )
    hourly = (
        frame.with_columns(hour=pl.col("ts").dt.truncate("1h"))
        .group_by("idx", "hour", maintain_order=True)
        .agg(
            count=pl.len(),
            min=pl.col("value").min(),
            max=pl.col("value").max(),
            avg=pl.col("value").mean(),
            last=pl.col("value").last(),
            last_ts=pl.col("ts").last(),
        )
    )
    keys = stored.take(hourly.get_column("idx").to_arrow())
    rolled = pa.Table.from_arrays(
        [keys.column(0), keys.column(1), keys.column(2)]
        + [hourly.get_column(c).to_arrow() for c in ("hour", "count", "min", "max", "avg")]
        + [hourly.get_column("last").to_arrow(), hourly.get_column("last_ts").to_arrow()],
        names=[f.name for f in tables.ROLLUPS],
    ).cast(tables.ROLLUPS)
    archive.write_parquet(
        archive.path("rollups", f"date={date}", f"namespace={namespace}"),
        rolled,
        name=tables.make_filename(rollup_def.stem, lo, hi),
        **rollup_def.write_options,
    )


#: The capacity series every namespace of the year carries (metric, extra labels, level): usage
#: rates, throttling, limits and envelopes of the three kinds, and billable actions; a level of
#: -1 is a noisy rate, any other a constant (a limit).
CAPACITY_SERIES: tuple[tuple[str, dict[str, str], float], ...] = (
    ("temporal_cloud_v1_total_action_count", {"is_background": "false"}, -1.0),
    ("temporal_cloud_v1_total_action_count", {"is_background": "true"}, -1.0),
    ("temporal_cloud_v1_total_action_throttled_count", {}, -1.0),
    ("temporal_cloud_v1_action_limit", {}, 500.0),
    ("temporal_cloud_v1_action_on_demand_envelope_limit", {}, 500.0),
    ("temporal_cloud_v1_service_request_count", {}, -1.0),
    ("temporal_cloud_v1_service_request_throttled_count", {}, -1.0),
    ("temporal_cloud_v1_service_request_limit", {}, 2000.0),
    ("temporal_cloud_v1_service_request_on_demand_envelope_limit", {}, 2000.0),
    ("temporal_cloud_v1_operations_count", {}, -1.0),
    ("temporal_cloud_v1_operations_throttled_count", {}, -1.0),
    ("temporal_cloud_v1_operations_limit", {}, 1000.0),
    ("temporal_cloud_v1_operations_on_demand_envelope_limit", {}, 1000.0),
    ("temporal_cloud_v1_billable_action_count", {"action_type": "start_workflow"}, -1.0),
    ("temporal_cloud_v1_billable_action_count", {"action_type": "signal"}, -1.0),
    ("temporal_cloud_v1_billable_action_count", {"action_type": "activity"}, -1.0),
)


def year_series(namespaces: int, per_namespace: int, queues: int) -> dict[str, Any]:
    """The series of the year's account: per namespace ``queues`` x 2 task types x the 4
    backlog metrics, the capacity series, and noisy rate series up to ``per_namespace``.
    Arrow tables (series, metric, labels, level) sorted by series, as the rollups store them."""
    import pyarrow as pa

    from archiver.openmetrics import series_text

    out: dict[str, Any] = {}
    for n in range(namespaces):
        ns = f"bench-{n:02d}.acct"
        base = {"temporal_account": "acct", "temporal_namespace": ns}
        rows = []
        rows += [(metric, labels, -1.0) for metric, labels in _queue_series(base, queues)]
        rows += [(metric, base | extra, level) for metric, extra, level in CAPACITY_SERIES]
        for o in range(per_namespace - len(rows)):
            rows.append(("temporal_cloud_v1_workflow_success_count", base | {"wf": f"wf-{o}"}, -1))
        keyed = sorted(
            (series_text(m, labels), m, sorted(labels.items()), level) for m, labels, level in rows
        )
        out[ns] = pa.table(
            {
                "series": [r[0] for r in keyed],
                "metric": [r[1] for r in keyed],
                "labels": pa.array([r[2] for r in keyed], type=pa.map_(pa.string(), pa.string())),
                "level": [r[3] for r in keyed],
            }
        )
    return out


def build_rollup_year(
    root: Path,
    days: int,
    namespaces: int,
    per_namespace: int = 2500,
    queues: int = 100,
    seed: int = 11,
) -> dict[str, Any]:
    """Only the rollups of ``days`` days of a ``namespaces`` x ``per_namespace``-point account
    (foreign values), written vectorised (numpy, pyarrow) through the rollups table's schema
    and Parquet options, plus one day of samples so that the archive is not empty."""
    import pyarrow as pa

    from archiver.store import tables
    from archiver.store.archive import Archive

    started = time.perf_counter()
    series = year_series(namespaces, per_namespace, queues)
    rng = np.random.default_rng(seed)
    archive = Archive.open(str(root), durable=False)
    rows = 0
    rollup_def = tables.TABLES["rollups"]
    names = [f.name for f in tables.ROLLUPS]
    for ns, stored in series.items():
        n = stored.num_rows
        idx = pa.array(np.repeat(np.arange(n, dtype=np.uint32), 24))
        keys = stored.take(idx)  # the same series every day, each 24 hours in a row
        fixed = np.repeat(stored.column("level").to_numpy(), 24)
        is_level = fixed >= 0  # limits: the same value all hour; backlogs: random walks
        hours = np.tile(np.arange(24, dtype=np.int64), n) * 3_600_000
        for day in range(days):
            day_start = START + dt.timedelta(days=day)
            hour_ms = int(day_start.timestamp() * 1000) + hours
            lo_v = np.round(np.abs(rng.normal(15.0, 5.0, size=n * 24)), 3)
            span = np.round(np.abs(rng.normal(10.0, 3.0, size=n * 24)), 3)
            span[is_level] = 0.0
            lo_v[is_level] = fixed[is_level]
            stamps = pa.array(hour_ms, pa.int64()).cast(tables.TS)
            table = pa.Table.from_arrays(
                [
                    keys.column(0),
                    keys.column(1),
                    keys.column(2),
                    stamps,
                    pa.array(rng.integers(50, 61, size=n * 24)),
                    pa.array(lo_v),
                    pa.array(lo_v + span),
                    pa.array(lo_v + span / 2),
                    pa.array(lo_v + span / 3),
                    pa.array(hour_ms + 3_540_000, pa.int64()).cast(tables.TS),
                ],
                names=names,
            ).cast(tables.ROLLUPS)
            archive.write_parquet(
                archive.path("rollups", f"date={day_start.date()}", f"namespace={ns}"),
                table,
                name=tables.make_filename(rollup_def.stem, int(hour_ms[0]), int(hour_ms[-1])),
                # level 3, not the compactor's 15: a year is written in minutes, not hours
                **(rollup_def.compact_options | {"compression_level": 3}),
            )
            rows += table.num_rows
    # one day of samples (not rolled up), so the archive is an archive
    first = next(iter(series))
    one = series[first].select(["series", "metric", "labels"]).slice(0, 1)
    day = START + dt.timedelta(days=days)
    frame = pl.DataFrame({"idx": np.zeros(1, np.uint32), "ts": [day], "value": [1.0]}).with_columns(
        pl.col("ts").cast(pl.Datetime("ms", "UTC"))
    )
    _write_partition(
        archive,
        first,
        day.date().isoformat(),
        one.cast(
            pa.schema([f for f in tables.SAMPLES if f.name in ("series", "metric", "labels")])
        ),
        frame,
    )
    return {
        "rollup_rows": rows,
        "days": days,
        "points": namespaces * per_namespace,
        "build_s": round(time.perf_counter() - started, 1),
    }


def build_sim_rollups(root: Path, days: int) -> dict[str, Any]:
    """The simulator's rollups for ``days`` days: one simulated day of
    ``bench_reports.SPEC`` (samples kept), rolled up by the compactor's writer
    (``archiver.store.rollups``), and its rollups repeated on each later day (hours shifted)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from archiver.store import rollups, tables
    from archiver.store.archive import Archive
    from benchmarks import bench_reports

    started = time.perf_counter()
    bench_reports.build(root, 1)
    archive = Archive.open(str(root), durable=False)
    definition = tables.TABLES["rollups"]
    rows, series = 0, 0
    for directory in sorted({f.rsplit("/", 1)[0] for f in archive.files("samples")}):
        rollups.roll_up_dir(archive, directory)
        target = rollups.rollups_dir(archive, directory)
        day_one = pa.concat_tables(pq.read_table(f) for f in archive.files_in(target))
        series += len(day_one.column("series").unique())
        namespace = target.rsplit("/", 1)[1]
        for day in range(1, days):
            shift = pa.scalar(dt.timedelta(days=day), pa.duration("ms"))
            moved = day_one.set_column(
                3, "hour", pc.add(day_one.column("hour"), shift).cast(tables.TS)
            ).set_column(9, "last_ts", pc.add(day_one.column("last_ts"), shift).cast(tables.TS))
            date = (START + dt.timedelta(days=day)).date()
            archive.write_parquet(
                archive.path("rollups", f"date={date}", namespace),
                moved.cast(tables.ROLLUPS),
                stem=definition.stem,
                **definition.compact_options,
            )
        rows += day_one.num_rows * days
    return {
        "rollup_rows": rows,
        "series": series,
        "days": days,
        "build_s": round(time.perf_counter() - started, 1),
    }
