"""Compaction meets files it cannot merge as they are: corrupt ones quarantined, old schema
versions upgraded, newer ones refused."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from archiver.errors import StorageError
from archiver.store import compact
from archiver.store import tables as schema
from archiver.store import write as store
from archiver.store.archive import Archive
from tests.store.compacting import (
    ACCOUNT,
    DAY,
    T0,
    fill,
    rows,
    sample_files,
    window,
)


def test_corrupt_file_is_quarantined_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(3))
    victim = sample_files(tmp_path)[0]
    data = Path(victim).read_bytes()
    Path(victim).write_bytes(data[: len(data) // 2])
    lost = pq.read_metadata(pa.BufferReader(data)).num_rows
    with caplog.at_level(logging.WARNING, logger="archiver.store.compact"):
        report = compact.compact(archive)
    (moved,) = report.quarantined
    assert moved.startswith(str(tmp_path / "_archiver" / "quarantine" / "samples" / "date="))
    assert Path(moved).read_bytes() == data[: len(data) // 2]
    assert victim in caplog.text and "quarantine" in caplog.text
    assert len(rows(tmp_path)) == sum(window(i).height for i in range(3)) - lost


def test_old_schema_version_is_upgraded(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    frame = window(0).filter(pl.col("namespace") == ACCOUNT.namespaces[0])
    directory = archive.table_dir("samples", DAY.date().isoformat(), ACCOUNT.namespaces[0])
    # "Version 0": no version stamp, labels as list<struct>, naive second timestamps.
    old = frame.select(
        "series",
        "metric",
        "labels",
        pl.col("ts").dt.replace_time_zone(None).dt.cast_time_unit("us"),
    ).with_columns(value=frame.get_column("value"))
    os.makedirs(directory)
    pq.write_table(old.to_arrow(), f"{directory}/part-{T0}-{T0}-000000000000.parquet")
    store.write_samples(archive, window(1))
    compact.compact(archive)
    (path,) = archive.files_in(directory)
    table = pq.read_table(path)
    assert table.schema.remove_metadata().equals(schema.SAMPLES)
    assert (
        table.num_rows
        == frame.height + window(1).filter(pl.col("namespace") == ACCOUNT.namespaces[0]).height
    )


def test_newer_schema_version_asks_for_an_upgrade(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(1))
    path = sample_files(tmp_path)[0]
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({schema.SCHEMA_VERSION_KEY: b"99"}), path)
    with pytest.raises(StorageError, match=r"newer archiver.*upgrade archiver"):
        compact.compact(archive)
