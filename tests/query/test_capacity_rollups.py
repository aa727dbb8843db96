"""The capacity functions over long windows read the hourly rollups, with the samples' answers
to the precision docs/capacity-formulas.md states ("On rollups")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from archiver.query import capacity
from archiver.query.connect import connect, run_sql
from archiver.store import rollups
from archiver.store.archive import Archive
from tests.helpers import T0, Series, build_archive

NS = "alpha.acct1"
BASE = {"temporal_namespace": NS, "temporal_account": "acct1"}
V1 = "temporal_cloud_v1_"
DAYS = 4  # rolled up; one more day after them is not
MINUTES = 62  # of each day: a whole hour and a partial one
WINDOW = {"since": T0 + timedelta(minutes=30), "until": T0 + timedelta(days=DAYS, minutes=50)}


def _series(day: int) -> list[Series]:
    fg = BASE | {"is_background": "false"}
    return [
        # a peak that moves from minute to minute and rises by the day (i: minute of the day)
        Series(NS, V1 + "total_action_count", fg, lambda i: 200.0 + 20 * day + (i * 37) % 101),
        Series(NS, V1 + "total_action_count", BASE | {"is_background": "true"}, lambda i: 900.0),
        Series(NS, V1 + "action_limit", BASE, lambda i: 500.0 if i % 3 == 0 else None),
        Series(NS, V1 + "action_on_demand_envelope_limit", BASE, lambda i: 400.0),
        # throttling reported only in the minutes it happened, as Temporal Cloud does
        Series(
            NS, V1 + "total_action_throttled_count", BASE, lambda i: 2.0 if i in (60, 61) else None
        ),
        Series(NS, V1 + "service_request_count", BASE, lambda i: 10.0 + i % 7),
        Series(NS, V1 + "service_request_limit", BASE, lambda i: 1000.0),
        Series(
            NS,
            V1 + "billable_action_count",
            BASE | {"action_type": "start_workflow", "temporal_workflow_type": "Wf0"},
            lambda i: 0.5 + (i % 5) / 10,
        ),
    ]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("capacity-rollups")
    for day in range(DAYS + 1):
        build_archive(root, start=T0 + timedelta(days=day), minutes=MINUTES, series=_series(day))
    store = Archive.open(str(root))
    for day in range(DAYS):  # the compactor's own rollup writer
        assert rollups.write_rollups(store, str((T0 + timedelta(days=day)).date()), NS) > 0
    return root


def _both(archive: Path, read: object) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(from rollups, from samples alone) of ``read(con)`` on the same archive."""
    con = connect(str(archive))
    span = "SELECT capacity_rolled($since, $until)"
    assert run_sql(con, span, WINDOW).item() is True
    rolled = read(con)  # type: ignore[operator]
    _samples_only(con)
    assert run_sql(con, span, WINDOW).item() is False
    return rolled, read(con)  # type: ignore[operator]


def _samples_only(con: duckdb.DuckDBPyConnection) -> None:
    run_sql(con, "SET VARIABLE rollups_through = NULL::DATE")


def test_rollup_files_have_small_row_groups_with_metric_statistics(archive: Path) -> None:
    (path,) = Archive.open(str(archive)).files_in(
        str(archive / "rollups" / f"date={T0.date()}" / f"namespace={NS}")
    )
    meta = pq.ParquetFile(path).metadata
    metric = meta.schema.names.index("metric")
    assert meta.row_group(0).column(metric).statistics.has_min_max


def test_usage_from_rollups_equals_the_samples_answer(archive: Path) -> None:
    for bucket in (86400, 3600):
        rolled, samples = _both(archive, lambda c, b=bucket: capacity.usage(c, **WINDOW, bucket=b))
        assert rolled.height > 0 and rolled.equals(samples), bucket
    actions = rolled.filter(pl.col("kind") == "actions")  # hourly
    assert actions.get_column("throttled_minutes").sum() == 2 * DAYS  # the last day ends at :50
    assert actions.get_column("peak_per_s").n_unique() > 1


def test_summary_and_units_from_rollups_to_the_hour(archive: Path) -> None:
    rolled, samples = _both(archive, lambda c: capacity.summary(c, **WINDOW))
    minute_only = ["p95_per_s", "minutes_over_warn", "minutes_over_page"]
    assert rolled.select(minute_only).null_count().sum_horizontal().item() == 3 * rolled.height
    hour = pl.col("peak_at").dt.truncate("1h")
    assert (
        rolled.drop(minute_only)
        .with_columns(hour)
        .equals(samples.drop(minute_only).with_columns(hour))
    )
    assert samples.get_column("limit_date").null_count() < samples.height  # a trend to compare
    rolled, samples = _both(archive, lambda c: capacity.units(c, **WINDOW))
    p95 = ["p95_actions_per_s", "units_needed_p95"]
    assert rolled.drop(p95).with_columns(hour).equals(samples.drop(p95).with_columns(hour))
    assert rolled.get_column("units_needed").item() == 1


def test_billable_and_label_costs_from_rollups_equal_the_samples_answer(archive: Path) -> None:
    rolled, samples = _both(archive, lambda c: capacity.billable(c, **WINDOW))
    assert rolled.height == 1 and rolled.equals(samples)
    rolled, samples = _both(archive, lambda c: capacity.label_costs(c, **WINDOW))
    assert rolled.height > 0 and rolled.equals(samples)
