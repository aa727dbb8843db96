"""The growth knob of AccountSpec, and the demo it gives a story: an account that climbs toward
its (demo) point cap, with the date the trend reaches it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import archiver
from archiver.query import reports
from archiver.simulator import Account, AccountSpec
from archiver.simulator.demo import DEMO_POINT_CAP
from archiver.store import write as store
from archiver.store.archive import Archive

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC


def queues(account: Account, start_ms: int, minutes: int = 60) -> set[str]:
    """The task queues of namespace 0 seen in ``minutes`` from ``start_ms``."""
    frame = account.windows(start_ms, minutes).filter(pl.col("namespace") == account.namespaces[0])
    values = frame.get_column("series").str.extract(r'temporal_task_queue="([^"]*)"')
    return set(values.drop_nulls().to_list())


def test_queues_appear_one_by_one_over_the_growth_days() -> None:
    account = Account(AccountSpec.demo(T0, days=2.0))
    before = queues(account, T0 - HOUR_MS)
    seen = [queues(account, T0 + k * 8 * HOUR_MS) for k in range(6)]
    after = queues(account, T0 + 2 * DAY_MS)
    everything = set(account.topology.tq_name[account.topology.tq_ns == 0].tolist())
    assert len(before) == 1  # all but the biggest queue appear later
    assert before <= seen[0]
    assert [len(s) for s in seen] == sorted(len(s) for s in seen)
    assert len(seen[0]) < len(seen[-1]) < len(everything)
    assert after == everything


def test_a_series_keeps_its_values_whether_or_not_the_account_grows() -> None:
    spec = AccountSpec.demo(T0, days=1.0)
    grown = Account(spec).windows(T0 + DAY_MS + HOUR_MS, 30)
    still = Account(replace(spec, grow_days=0.0)).windows(T0 + DAY_MS + HOUR_MS, 30)
    assert grown.equals(still)
    earlier = Account(spec).windows(T0 + HOUR_MS, 30)
    full = Account(replace(spec, grow_days=0.0)).windows(T0 + HOUR_MS, 30)
    assert 0 < earlier.height < full.height
    # what exists early is exactly what the full account has for those series
    assert earlier.join(full, on=["series", "ts"], how="anti").is_empty()
    assert earlier.join(full, on=["series", "ts", "value"], how="inner").height == earlier.height


@pytest.mark.parametrize(
    ("field", "value"),
    [("grow_days", -1.0), ("grow_share", 1.0), ("grow_from_ms", 1)],
)
def test_growth_knobs_are_checked(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        replace(AccountSpec.demo(T0), **{field: value})


def test_the_demo_account_climbs_toward_the_demo_cap_with_a_cap_date_ahead(
    tmp_path: Path,
) -> None:
    # The demo's account, an hour of each of three days (make demo writes every minute).
    end = datetime(2026, 11, 20, tzinfo=UTC)
    start_ms = int((end - timedelta(days=3)).timestamp() * 1000)
    account = Account(AccountSpec.demo(start_ms, days=3.0))
    target = Archive.open(str(tmp_path / "demo"), durable=False)
    for day in range(3):
        store.write_samples(target, account.windows(start_ms + day * DAY_MS + 18 * HOUR_MS, 60))
    con = archiver.connect(str(tmp_path / "demo"))
    window = {"since": end - timedelta(days=3), "until": end, "point_cap": DEMO_POINT_CAP}
    row = (
        reports.cardinality_headroom(con, **window)
        .filter(pl.col("source") == "samples")
        .row(0, named=True)
    )
    assert 0 < row["peak_points"] < DEMO_POINT_CAP
    assert row["slope_per_day"] > 0
    assert end.date() < row["cap_date"] < end.date() + timedelta(days=120)
    per_day = reports.cardinality(con, **window)
    grew = per_day.group_by("date").agg(pl.col("task_queues").max()).sort("date")
    counts = grew.get_column("task_queues").to_list()
    assert counts == sorted(counts) and counts[-1] > counts[0]
