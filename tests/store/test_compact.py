"""Compaction on real files: same rows, fewer files, duplicates dropped, ranges named."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from archiver.store import compact, merge
from archiver.store import tables as schema
from archiver.store import write as store
from archiver.store.archive import Archive
from tests.store.compacting import (
    ACCOUNT,
    DAY,
    fill,
    rows,
    sample_files,
    window,
)


def test_compaction_keeps_rows_drops_duplicates_and_names_ranges(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    written = fill(archive, range(8))
    before = rows(tmp_path)
    assert len(before) == written
    # A duplicate file (as a crashed S3 swap could leave): same rows under another name.
    first = sample_files(tmp_path)[0]
    dup = first.rsplit("-", 1)[0] + "-abcdef012345.parquet"
    Path(dup).write_bytes(Path(first).read_bytes())
    duplicated = pq.read_metadata(first).num_rows
    report = compact.compact(archive)
    assert [r.rows_in - r.rows_out for r in report.compacted if r.rows_in != r.rows_out] == [
        duplicated
    ]
    assert rows(tmp_path) == before
    files = sample_files(tmp_path)
    assert len(files) == len(ACCOUNT.namespaces)
    for path in files:
        assert store.file_range(path) is not None
        assert os.path.basename(path).startswith("compact-")
        table = pq.read_table(path)
        assert table.schema.metadata[schema.SCHEMA_VERSION_KEY] == b"1"
        # Sorted by series then time: what makes the dictionary runs and delta timestamps pay.
        keys = pl.from_arrow(table.select(["series", "ts"]))
        assert isinstance(keys, pl.DataFrame)
        assert keys.equals(keys.sort("series", "ts"))
    # The range check in store.py still finds stored samples inside compacted files.
    assert store.write_samples(archive, window(5)) == 0
    # Nothing to do the second time.
    assert all(r.skipped for r in compact.compact(archive).partitions)


def test_checksum_ignores_order_but_not_content() -> None:
    frame = window(0).head(50)
    table = store.to_arrow_samples(frame)
    assert merge.checksum(table) == merge.checksum(table.take(pa.array(range(49, -1, -1))))
    changed = store.to_arrow_samples(frame.with_columns(value=pl.col("value") + 1))
    assert merge.checksum(changed) != merge.checksum(table)


def test_new_files_after_compaction_are_merged_in(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(5))
    compact.compact(archive)
    fill(archive, range(5, 8))
    compact.compact(archive)
    assert len(rows(tmp_path)) == sum(window(i).height for i in range(8))
    assert len(sample_files(tmp_path)) == len(ACCOUNT.namespaces)


def test_scrapes_and_descriptors_are_compacted(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    when = DAY.replace(hour=1)
    for i in range(4):
        store.write_rows(
            archive,
            "descriptors",
            [{"fetched": when, "name": f"m{i}", "help": "h", "dimensions": ["a"]}],
            date_field="fetched",
        )
    compact.compact(archive)
    (path,) = archive.files("descriptors")
    assert os.path.basename(path).startswith("compact-")
    assert pq.read_table(path).column("name").to_pylist() == ["m0", "m1", "m2", "m3"]


def test_compact_closed_days_is_cheap_and_leaves_today(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(1440 - 2, 1440 + 2))  # two minutes each side of midnight
    report = compact.compact_closed_days(archive, date(2025, 3, 4))
    assert {r.directory.split("/")[-2] for r in report.compacted} == {"date=2025-03-03"}
    today = archive.files("samples", "date=2025-03-04")
    assert all(os.path.basename(p).startswith("part-") for p in today)
    assert not compact.compact_closed_days(archive, date(2025, 3, 4)).partitions
    nxt = compact.compact_closed_days(archive, date(2025, 3, 5))
    assert {r.directory.split("/")[-2] for r in nxt.compacted} == {"date=2025-03-04"}
