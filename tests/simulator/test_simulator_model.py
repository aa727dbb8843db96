"""The simulated account: deterministic, fast, and shaped like a real one."""

from __future__ import annotations

import time

import numpy as np
import polars as pl
import pytest

from archiver.catalog import load_catalog
from archiver.openmetrics import SAMPLES_SCHEMA
from archiver.simulator import Account, AccountSpec

MINUTE = 1_700_000_040_000  # a whole minute (2023-11-14 22:14 UTC)
DAY = 1440 * 60_000


def test_window_has_the_parse_schema_and_the_minute(small: Account) -> None:
    frame = small.window(MINUTE)
    assert frame.schema == SAMPLES_SCHEMA
    assert frame.get_column("ts").dt.epoch("ms").unique().to_list() == [MINUTE]
    assert frame.get_column("series").is_unique().all()


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    a = Account(AccountSpec.small(seed=3)).window(MINUTE)
    b = Account(AccountSpec.small(seed=3)).window(MINUTE)
    c = Account(AccountSpec.small(seed=4)).window(MINUTE)
    assert a.equals(b)
    assert not a.equals(c)


def test_window_rejects_a_time_inside_a_minute(small: Account) -> None:
    with pytest.raises(ValueError, match="whole minute"):
        small.window(MINUTE + 1)


def test_namespaces_are_name_dot_account(small: Account) -> None:
    assert len(small.namespaces) == 3
    assert all(ns.endswith(".acme1") for ns in small.namespaces)
    assert set(small.window(MINUTE).get_column("namespace")) <= set(small.namespaces)


def test_small_is_a_few_hundred_points(small: Account) -> None:
    heights = [small.window(MINUTE + i * 60_000).height for i in range(10)]
    assert all(100 <= h <= 2_000 for h in heights)


def test_mid_crosses_the_cap_and_is_fast(mid: Account) -> None:
    mid.window(MINUTE)  # builds the series table once
    began = time.perf_counter()
    heights = [mid.window(MINUTE + i * 60_000).height for i in range(10)]
    per_window = (time.perf_counter() - began) / 10
    assert all(30_000 < h < 60_000 for h in heights)
    assert per_window < 0.25  # ~30 ms on a laptop; loose for loaded CI machines


def test_sizes_are_heavy_tailed(mid: Account) -> None:
    counts = mid.window(MINUTE).get_column("namespace").value_counts(sort=True)["count"]
    top3 = counts.head(3).sum() / counts.sum()
    assert top3 > 0.3  # 3 of 40 namespaces hold a large share
    assert counts.min() < counts.max() / 20


def test_series_are_sparse(small: Account) -> None:
    potential = small.series().frame.height
    windows = [set(small.window(MINUTE + i * 60_000)["series"]) for i in range(30)]
    union = set().union(*windows)
    assert all(len(w) < potential for w in windows)
    # Some series come and go: present in some minutes, absent in others.
    assert len(union) > max(len(w) for w in windows)


def test_rates_are_counts_per_minute_over_60(small: Account) -> None:
    rates = {m.name for m in load_catalog() if m.kind == "rate"}
    values = small.window(MINUTE).filter(pl.col("metric").is_in(rates))["value"].to_numpy()
    assert (values > 0).all()
    assert np.allclose(values * 60, np.rint(values * 60))


def test_latency_quantiles_are_ordered(mid: Account) -> None:
    frame = mid.window(MINUTE).filter(pl.col("metric").str.contains(r"_p(50|95|99)$"))
    wide = frame.select(
        pl.col("series").str.replace(r"_p(50|95|99)\{", "{").alias("s"),
        pl.col("metric").str.slice(-3).alias("q"),
        "value",
    ).pivot(on="q", index="s", values="value")
    assert wide.height > 100
    assert (wide["p50"] < wide["p95"]).all()
    assert (wide["p95"] < wide["p99"]).all()


def test_region_is_missing_only_on_namespace_level_metrics(small: Account) -> None:
    frame = small.window(MINUTE).with_columns(
        has_region=pl.col("series").str.contains('region="', literal=True)
    )
    no_region = {m.name for m in load_catalog() if not m.has_region}
    by_metric = frame.group_by("metric").agg(
        pl.col("has_region").all().alias("all"), pl.col("has_region").any().alias("any")
    )
    for metric, all_, any_ in by_metric.iter_rows():
        assert (not any_) if metric in no_region else all_, metric


def test_optin_labels_only_when_requested(small: Account) -> None:
    plain = small.window(MINUTE)
    assert not plain["series"].str.contains("temporal_activity_type").any()
    rich = small.window(MINUTE, labels=["temporal_activity_type", "temporal_worker_build_id"])
    activity = rich.filter(pl.col("metric") == "temporal_cloud_v1_activity_success_count")
    assert activity["series"].str.contains("temporal_activity_type=").all()
    backlog = rich.filter(pl.col("metric") == "temporal_cloud_v1_approximate_backlog_count")
    assert backlog["series"].str.contains("temporal_worker_build_id=").all()
    assert not backlog["series"].str.contains("temporal_worker_deployment_name").any()
    # Metrics without opt-in labels are the same whatever was requested.
    untouched = "temporal_cloud_v1_workflow_success_count"
    assert plain.filter(pl.col("metric") == untouched).equals(
        rich.filter(pl.col("metric") == untouched)
    )


def test_nearly_every_catalog_metric_shows_up(mid: Account) -> None:
    seen = pl.concat([mid.window(MINUTE + i * 60_000) for i in range(6)])["metric"].unique()
    names = {m.name for m in load_catalog()}
    assert set(seen) <= names
    assert len(names - set(seen)) <= 3  # only rare failures may be silent for a few minutes


@pytest.fixture(scope="module")
def week(small: Account) -> pl.DataFrame:
    start = MINUTE - MINUTE % DAY
    return pl.concat([small.window(start + i * 10 * 60_000) for i in range(6 * 24 * 7)])


def test_limits_step_and_are_reported_every_few_minutes(week: pl.DataFrame) -> None:
    limits = week.filter(pl.col("metric") == "temporal_cloud_v1_action_limit")
    steps = limits.group_by("namespace").agg(pl.col("value").n_unique().alias("n"))
    assert steps["n"].max() == 2  # e.g. 500 -> 1000 and back
    per_ns_minutes = limits.group_by("namespace").agg(pl.col("ts").n_unique())["ts"]
    assert per_ns_minutes.max() < week["ts"].n_unique()


def test_throttling_happens_near_the_limit(week: pl.DataFrame) -> None:
    throttled = week.filter(pl.col("metric") == "temporal_cloud_v1_total_action_throttled_count")
    assert throttled.height > 0
    assert (throttled["value"] > 0).all()
    # ...in the namespace that runs hot (the biggest), at minutes when it is near its limit.
    assert set(throttled["namespace"]) == {throttled["namespace"][0]}


def test_one_backlog_keeps_rising_and_others_reset(week: pl.DataFrame) -> None:
    backlog = week.filter(pl.col("metric") == "temporal_cloud_v1_approximate_backlog_count")
    per_series = backlog.group_by("series").agg(
        pl.len().alias("n"),
        (pl.col("value").diff().drop_nulls() >= 0).all().alias("monotone"),
        (pl.col("value").last() - pl.col("value").first()).alias("growth"),
        (pl.col("value") == 0).any().alias("reset"),
    )
    rising = per_series.filter(
        pl.col("monotone") & (pl.col("growth") > 100) & (pl.col("n") == week["ts"].n_unique())
    )
    assert rising.height >= 1
    assert per_series["reset"].sum() > 0
