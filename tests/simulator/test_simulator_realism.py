"""Realism of the simulated data: what a real endpoint would never send, it must not send either.

- a series appears at most once in a window;
- sync matches are a subset of poll successes;
- usage stays at or under its limit, and throttling shows whenever usage nears it;
- the stuck queue's backlog starts modest and rises week by week.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from archiver.catalog import OPTIN_LABELS
from archiver.simulator import Account, AccountSpec, Faults, Simulator

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 1440 * MINUTE_MS
WEEK_MS = 7 * DAY_MS
MIDNIGHT = 1_699_920_000_000  # 2023-11-14 00:00 UTC, a Tuesday
V1 = "temporal_cloud_v1_"
# kind -> (usage metric, limit metric, throttled metric)
KINDS = {
    "actions": ("total_action_count", "action_limit", "total_action_throttled_count"),
    "operations": ("operations_count", "operations_limit", "operations_throttled_count"),
    "requests": (
        "service_request_count",
        "service_request_limit",
        "service_request_throttled_count",
    ),
}
NEEDED = {V1 + name for names in KINDS.values() for name in names}


def duplicated(frame: pl.DataFrame) -> list[tuple[object, ...]]:
    dups = frame.filter(pl.struct("series", "ts").is_duplicated())
    return dups.select("ts", "series").unique().head(3).rows()


# -- 1. no series twice in one window ---------------------------------------------------------


@pytest.mark.parametrize("seed", range(16))
def test_no_potential_series_is_listed_twice(seed: int) -> None:
    # Many seeds of the small preset: a duplicate (task queue, workflow type) pair used to be
    # drawn for about half of them.
    account = Account(AccountSpec.small(seed=seed))
    for labels in [(), OPTIN_LABELS]:
        assert account.series(labels).frame["series"].is_unique().all(), (seed, labels)


@pytest.mark.parametrize("labels", [(), OPTIN_LABELS], ids=["plain", "optin"])
def test_no_window_of_small_has_a_series_twice(small: Account, labels: tuple[str, ...]) -> None:
    for day in range(3):
        frame = small.windows(MIDNIGHT + day * DAY_MS, 1440, labels)
        assert frame["ts"].n_unique() == 1440
        assert duplicated(frame) == []


@pytest.mark.parametrize("labels", [(), OPTIN_LABELS], ids=["plain", "optin"])
def test_no_window_of_mid_has_a_series_twice(mid: Account, labels: tuple[str, ...]) -> None:
    assert mid.series(labels).frame["series"].is_unique().all()
    frame = mid.windows(MIDNIGHT + 14 * HOUR_MS, 20, labels)
    assert duplicated(frame) == []


@pytest.mark.parametrize("preset", ["small", "mid"])
def test_no_served_window_has_a_series_twice(preset: str) -> None:
    spec = AccountSpec.small(seed=1) if preset == "small" else AccountSpec.mid()
    faults = Faults(odd_labels_rate=1.0, new_metric_rate=1.0)
    sim = Simulator(Account(spec), faults=faults)
    minutes = 30 if preset == "small" else 4
    for labels in [(), OPTIN_LABELS]:
        frames = [sim.window(MIDNIGHT + k * MINUTE_MS, labels) for k in range(minutes)]
        frame = pl.concat(frames)
        assert frame["series"].str.contains("odd ").any()  # the faults did fire
        assert frame["metric"].str.contains("nexus").any()
        assert duplicated(frame) == []


# -- 2. sync matches are a subset of poll successes ---------------------------------------------


def sync_vs_success(frame: pl.DataFrame) -> pl.DataFrame:
    def pick(metric: str, name: str) -> pl.DataFrame:
        rows = frame.filter(pl.col("metric") == V1 + metric)
        key = pl.col("series").str.replace(metric, "poll", literal=True)
        return rows.select("ts", key.alias("key"), pl.col("value").alias(name))

    sync = pick("poll_success_sync_count", "sync")
    return sync.join(pick("poll_success_count", "success"), on=["ts", "key"], how="left")


def test_sync_matches_never_exceed_poll_successes(small: Account, mid: Account) -> None:
    for frame in [small.windows(MIDNIGHT, 3 * 1440), mid.windows(MIDNIGHT + 14 * HOUR_MS, 10)]:
        pairs = sync_vs_success(frame)
        assert pairs.height > 100
        assert pairs["success"].null_count() == 0  # no sync match without a poll success
        assert (pairs["sync"] <= pairs["success"]).all()
        rate = (
            pairs["sync"].sum()
            / frame.filter(pl.col("metric") == V1 + "poll_success_count")["value"].sum()
        )
        assert 0.75 < rate < 0.95  # still mostly sync, as real workers are


# -- 3. limits hold, throttling shows near them -----------------------------------------------


@pytest.fixture(scope="module")
def usage(small: Account) -> pl.DataFrame:
    """Per namespace, kind and minute of a week: usage, limit (as last reported), throttled."""
    parts = []
    for day in range(7):
        frame = small.windows(MIDNIGHT + day * DAY_MS, 1440).filter(
            pl.col("metric").is_in(NEEDED)
            & ~pl.col("series").str.contains('is_background="true"', literal=True)
        )
        parts.append(frame.select("namespace", "metric", "ts", "value"))
    week = pl.concat(parts)
    minutes = pl.DataFrame(
        {"ts": np.arange(MIDNIGHT, MIDNIGHT + WEEK_MS, MINUTE_MS)},
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
    grid = minutes.join(pl.DataFrame({"namespace": small.namespaces}), how="cross")
    out = []
    for kind, (used, limit, throttled) in KINDS.items():

        def total(metric: str, name: str) -> pl.DataFrame:
            rows = week.filter(pl.col("metric") == V1 + metric)
            return rows.group_by("namespace", "ts").agg(pl.col("value").sum().alias(name))

        limits = week.filter(pl.col("metric") == V1 + limit)
        limits = limits.group_by("namespace", "ts").agg(pl.col("value").max().alias("limit"))
        out.append(
            grid.join(total(used, "used"), on=["namespace", "ts"], how="left")
            .join(total(throttled, "throttled"), on=["namespace", "ts"], how="left")
            .join(limits, on=["namespace", "ts"], how="left")
            .sort("namespace", "ts")
            .with_columns(
                pl.col("limit").forward_fill().over("namespace"),
                pl.col("used", "throttled").fill_null(0.0),
                kind=pl.lit(kind),
            )
        )
    return pl.concat(out).with_columns(ratio=pl.col("used") / pl.col("limit"))


def test_limits_are_known_from_the_first_minute(usage: pl.DataFrame) -> None:
    # Limits are reported at midnight (when a step may change them) and every few minutes.
    assert usage["limit"].null_count() == 0


def test_usage_stays_at_or_under_its_limit(usage: pl.DataFrame) -> None:
    worst = usage.group_by("kind").agg(pl.col("ratio").max())
    assert worst["ratio"].max() <= 1.1, worst
    # ...and the limit does bite: the minute average reaches it when demand bursts.
    assert usage.filter(pl.col("kind") == "actions")["ratio"].max() > 0.95


def test_throttling_shows_whenever_usage_nears_the_limit(usage: pl.DataFrame) -> None:
    near = usage.filter(pl.col("ratio") > 0.9)
    assert set(near["kind"]) == set(KINDS)  # every limit is approached in a week
    assert near.filter(pl.col("throttled") == 0).height == 0
    # Throttling is a peak-time thing, not the normal state, and happens below the limit too.
    throttled = usage.filter(pl.col("throttled") > 0)
    assert throttled.height < 0.1 * usage.filter(pl.col("used") > 0).height
    assert throttled["ratio"].min() < 0.9


def test_the_biggest_namespace_is_busy_but_not_over_its_limit(
    small: Account, usage: pl.DataFrame
) -> None:
    actions = usage.filter(
        (pl.col("kind") == "actions") & (pl.col("namespace") == small.namespaces[0])
    )
    daily = actions.group_by(pl.col("ts").dt.date()).agg(
        pl.col("ratio").quantile(0.99).alias("peak"),
        (pl.col("throttled") > 0).sum().alias("throttled_minutes"),
        pl.col("limit").n_unique().alias("limits"),
    )
    assert daily["peak"].min() >= 0.6
    assert daily["peak"].max() <= 1.0
    assert (daily["throttled_minutes"] > 0).all()
    assert actions["limit"].n_unique() == 2  # provisioned: the limit steps (and back)
    others = usage.filter(pl.col("namespace") != small.namespaces[0])
    assert others["ratio"].max() < 0.5


# -- 4. the stuck queue's backlog ---------------------------------------------------------------


def test_the_stuck_backlog_starts_modest_and_rises_each_week(small: Account) -> None:
    # The stuck queue's series: the one backlog present in every minute and never falling
    # within the week the other backlog test looks at.
    week = small.windows(MIDNIGHT, 1440)
    backlog = week.filter(pl.col("metric") == V1 + "approximate_backlog_count")
    steady = backlog.group_by("series").agg(pl.len(), pl.col("value").min())
    stuck = steady.filter(pl.col("len") == 1440).sort("value", descending=True)["series"][0]
    hours = pl.concat(
        [small.window(MIDNIGHT - WEEK_MS + h * HOUR_MS) for h in range(24 * 7 * 6)]
    ).filter(pl.col("series") == stuck)
    assert hours.height == 24 * 7 * 6  # always reported: a stuck queue never unloads
    values = hours["value"].to_numpy()
    assert values.min() >= 0 and values.max() < 10_000
    falls = np.flatnonzero(np.diff(values) < 0)
    assert 1 <= len(falls) <= 2  # drained every few weeks, then it grows again
    for w in range(6):
        weekly = values[w * 168 : (w + 1) * 168]
        if (np.diff(weekly) >= 0).all():
            assert weekly[0] < 5_000  # hundreds or low thousands, not years of growth
            assert 300 <= weekly[-1] - weekly[0] <= 5_000
