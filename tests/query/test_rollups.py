"""Reports over long windows read the hourly rollups, with the samples' answers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from archiver.query import reports
from archiver.query.connect import connect, run_sql
from tests.helpers import NAMESPACES, T0, build_archive, standard_series, write_rollups

DAYS = 5  # rolled up; one more day after them is not
MINUTES = 70  # of each day: a whole hour and a partial one


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rollups")
    wave: Callable[[int], float] = lambda i: float((i * 7) % 23)  # noqa: E731
    series = standard_series(backlog={(NAMESPACES[0], "queue-0"): wave})
    for day in range(DAYS):
        build_archive(root, start=T0 + timedelta(days=day), minutes=MINUTES, series=series)
    assert write_rollups(root) == DAYS * len(NAMESPACES)
    build_archive(root, start=T0 + timedelta(days=DAYS), minutes=MINUTES, series=series)
    return root


def _samples_only(con: duckdb.DuckDBPyConnection) -> None:
    # as if nothing were rolled up: the same archive, read through the samples alone
    run_sql(con, "SET VARIABLE rollups_through = NULL::DATE")


def test_backlog_from_rollups_equals_the_samples_answer(archive: Path) -> None:
    con = connect(str(archive))
    assert str(run_sql(con, "SELECT getvariable('rollups_through')").item()) == str(
        (T0 + timedelta(days=DAYS - 1)).date()
    )
    # ends that are not whole hours: the partial hours come from the samples either way
    window = {"since": T0 + timedelta(minutes=30), "until": T0 + timedelta(days=DAYS, minutes=50)}
    hourly_r = reports.backlog(con, **window)
    trends_r = reports.backlog_trends(con, **window)
    _samples_only(con)
    hourly = reports.backlog(con, **window)
    trends = reports.backlog_trends(con, **window)

    assert trends_r.equals(trends)
    # every whole hour of the rolled days is read from rollups: no p95 there
    rolled = pl.col("hour").is_between(
        T0 + timedelta(hours=1), T0 + timedelta(days=DAYS - 1, hours=1)
    )
    from_rollups = hourly_r.filter(rolled)
    assert from_rollups.height > 0
    assert from_rollups.get_column("backlog_p95").null_count() == from_rollups.height
    assert hourly_r.filter(~rolled).equals(hourly.filter(~rolled))
    assert hourly_r.drop("backlog_p95").equals(hourly.drop("backlog_p95"))
    # a varying backlog, so that equal answers say something
    assert hourly.get_column("backlog_avg").n_unique() > 3


def test_short_windows_and_unrolled_days_read_the_samples(archive: Path) -> None:
    con = connect(str(archive))
    short = reports.backlog(con, since=T0, until=T0 + timedelta(days=2))
    assert short.height > 0 and short.get_column("backlog_p95").null_count() == 0
    everything = reports.backlog(con, since=None, until=None)
    unrolled = pl.col("hour") >= T0 + timedelta(days=DAYS)
    assert everything.filter(unrolled).height > 0
    assert everything.filter(unrolled).get_column("backlog_p95").null_count() == 0
    assert everything.filter(~unrolled).get_column("backlog_p95").null_count() == (
        everything.filter(~unrolled).height
    )


def test_cardinality_from_rollups_equals_the_samples_answer(archive: Path) -> None:
    con = connect(str(archive))
    window = {"since": T0 + timedelta(minutes=30), "until": T0 + timedelta(days=DAYS, minutes=50)}
    rolled = reports.cardinality(con, **window)
    span = "SELECT rolled_lo($since, $until) < rolled_hi($since, $until)"
    assert run_sql(con, span, window).item() is True  # the rollups answer most of the window
    _samples_only(con)
    assert run_sql(con, span, window).item() is False
    assert rolled.equals(reports.cardinality(con, **window))
    assert rolled.get_column("samples").sum() > 0
