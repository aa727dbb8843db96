"""Account.windows: many minutes at once, exactly the concatenated single-minute windows."""

from __future__ import annotations

import polars as pl
import pytest

from archiver.openmetrics import SAMPLES_SCHEMA
from archiver.simulator import Account, AccountSpec

MINUTE_MS = 60_000
DAY_MS = 1440 * MINUTE_MS
MINUTE = 1_700_000_040_000  # 2023-11-14 22:14 UTC, a Tuesday
MIDNIGHT = MINUTE - MINUTE % DAY_MS + DAY_MS  # Wednesday 00:00 UTC
SATURDAY = MIDNIGHT + 3 * DAY_MS  # the weekend factor starts here (epoch day 0 was a Thursday)
EPOCH_WEEK = MINUTE - MINUTE % (7 * DAY_MS) + 7 * DAY_MS  # Thursday 00:00 UTC
OPTIN = ("temporal_activity_type", "temporal_worker_build_id", "temporal_worker_deployment_name")


@pytest.fixture(scope="module")
def small() -> Account:
    return Account(AccountSpec.small(seed=7))


def one_by_one(account: Account, start: int, count: int, labels: tuple[str, ...]) -> pl.DataFrame:
    return pl.concat([account.window(start + k * MINUTE_MS, labels) for k in range(count)])


@pytest.mark.parametrize("labels", [(), OPTIN], ids=["plain", "optin"])
@pytest.mark.parametrize(
    "boundary", [MIDNIGHT, SATURDAY, EPOCH_WEEK], ids=["day", "weekend", "week"]
)
def test_small_windows_equal_the_windows_one_by_one(
    small: Account, boundary: int, labels: tuple[str, ...]
) -> None:
    # 300 minutes: more than one chunk of the vectorised path, straddling the boundary.
    start = boundary - 150 * MINUTE_MS
    many = small.windows(start, 300, labels)
    assert many.equals(one_by_one(small, start, 300, labels))
    assert many["ts"].n_unique() == 300
    assert many["ts"].is_sorted()


@pytest.mark.parametrize("labels", [(), OPTIN], ids=["plain", "optin"])
def test_mid_windows_equal_the_windows_one_by_one(mid: Account, labels: tuple[str, ...]) -> None:
    start = SATURDAY - 2 * MINUTE_MS
    assert mid.windows(start, 4, labels).equals(one_by_one(mid, start, 4, labels))


def test_window_is_a_window_of_one(small: Account) -> None:
    assert small.window(MINUTE).equals(small.windows(MINUTE, 1))


def test_zero_windows_are_an_empty_frame_with_the_schema(small: Account) -> None:
    for labels in [(), OPTIN]:
        empty = small.windows(MINUTE, 0, labels)
        assert empty.height == 0
        assert empty.schema == SAMPLES_SCHEMA == small.window(MINUTE, labels).schema


def test_windows_reject_a_time_inside_a_minute_and_a_negative_count(small: Account) -> None:
    with pytest.raises(ValueError, match="whole minute"):
        small.windows(MINUTE + 1, 3)
    with pytest.raises(ValueError, match="whole minute"):
        small.windows(-MINUTE_MS, 3)
    with pytest.raises(ValueError, match="count"):
        small.windows(MINUTE, -1)
