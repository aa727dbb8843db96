"""Compaction writes the hourly rollups, and picks each partition's value encoding."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from archiver.store import compact, retention
from archiver.store import write as store
from archiver.store.archive import Archive
from tests.store.compacting import (
    ACCOUNT,
    fill,
    plain_read,
    rows,
    sample_files,
    window,
)


def test_compaction_writes_hourly_rollups_and_rewrites_them_with_late_data(
    tmp_path: Path,
) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(0, 150, 10))  # minutes 0..140, every tenth: three hours
    compact.compact(archive)
    glob = str(tmp_path / "rollups" / "*" / "*" / "*.parquet")
    query = """
        SELECT namespace, series, hour, count, min, max, avg, last, last_ts, labels, metric
        FROM read_parquet($g, hive_partitioning = true) ORDER BY ALL
    """
    expected = """
        SELECT namespace, series, time_bucket(INTERVAL 1 hour, ts) AS hour, count(*), min(value),
               max(value), avg(value), arg_max(value, ts), max(ts), any_value(labels),
               any_value(metric)
        FROM read_parquet($s, hive_partitioning = true)
        GROUP BY ALL ORDER BY ALL
    """
    samples = str(tmp_path / "samples" / "*" / "*" / "*.parquet")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    got = con.execute(query, {"g": glob}).fetchall()
    assert got == con.execute(expected, {"s": samples}).fetchall()
    assert {row[2].hour for row in got} == {0, 1, 2}
    # Late data for the same day: compaction rewrites the day's samples and its rollups.
    fill(archive, range(5, 150, 10))
    compact.compact(archive)
    again = con.execute(query, {"g": glob}).fetchall()
    assert again == con.execute(expected, {"s": samples}).fetchall()
    assert sum(r[3] for r in got) < sum(r[3] for r in again) == plain_read(tmp_path)
    assert len(list((tmp_path / "rollups").rglob("*.parquet"))) == len(ACCOUNT.namespaces)
    # Read as it lies by polars too, with the agreed types.
    frame = pl.read_parquet(glob.replace("*/*/*", "**/*"), hive_partitioning=True)
    assert frame.schema["hour"] == pl.Datetime("ms", "UTC") and frame.height == len(again)
    # Retention takes them with their day.
    retention.retention(archive, 1, today=date(2025, 3, 10), dry_run=False)
    assert not list((tmp_path / "rollups").rglob("*.parquet"))


def test_rollups_of_a_compacted_partition_without_them_are_written(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    store.write_samples(archive, pl.concat([window(i) for i in range(3)]), bulk=True)
    assert not (tmp_path / "rollups").exists()
    report = compact.compact(archive)
    assert all(r.skipped for r in report.partitions if r.table == "samples")
    assert len(list((tmp_path / "rollups").rglob("*.parquet"))) == len(ACCOUNT.namespaces)


def _value_encodings(root: Path) -> set[str]:
    found: set[str] = set()
    for path in sample_files(root):
        meta = pq.ParquetFile(path).metadata
        for group in range(meta.num_row_groups):
            chunks = meta.row_group(group)
            for i in range(chunks.num_columns):
                if chunks.column(i).path_in_schema == "value":
                    found |= set(chunks.column(i).encodings)
    return found


def test_value_is_a_dictionary_only_where_few_values_repeat(tmp_path: Path) -> None:
    smooth, coarse = tmp_path / "smooth", tmp_path / "coarse"
    for root, frames in (
        # every value distinct (as measurements with many decimals are) vs few whole numbers
        (
            smooth,
            [
                window(i).with_columns(pl.col("value") + pl.int_range(pl.len()) / 7e6)
                for i in range(20)
            ],
        ),
        (coarse, [window(i).with_columns((pl.col("value") % 10).round(0)) for i in range(20)]),
    ):
        archive = Archive.open(str(root))
        for frame in frames:
            store.write_samples(archive, frame)
        before = rows(root)
        compact.compact(archive)
        assert rows(root) == before
    assert "RLE_DICTIONARY" not in _value_encodings(smooth)
    assert "RLE_DICTIONARY" in _value_encodings(coarse)
