"""The merge's pieces: per-column zstd levels, the digest split across threads and batches."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from archiver.store import compact, merge
from archiver.store import tables as schema
from archiver.store import write as store
from archiver.store.archive import Archive
from tests.store.compacting import fill, rows, window


def test_every_leaf_column_gets_a_level_series_and_metric_the_lower_one(tmp_path: Path) -> None:
    table = schema.TABLES["samples"]
    level = table.compact_options["compression_level"]
    for share in (0.01, 0.5):  # value as a dictionary, and plain
        levels = merge.MergeStats(value_share=share).write_options(table)["compression_level"]
        # A leaf missing from a per-column map would be written at zstd's default level.
        pq.write_table(store.to_arrow_samples(window(0)), tmp_path / "one.parquet")
        leaves = {c.path for c in pq.ParquetFile(tmp_path / "one.parquet").schema}
        assert set(levels) == leaves
        assert levels["series"] == levels["metric"] == merge.RUN_LEVEL < level
        assert {levels[c] for c in leaves - {"series", "metric"}} == {level}
    # Tables whose rows no series determines keep one level for all.
    scrapes = schema.TABLES["scrapes"]
    options = merge.MergeStats().write_options(scrapes)
    assert options["compression_level"] == scrapes.compact_options["compression_level"]


def test_digest_of_files_read_on_threads_is_the_digest_of_their_rows(tmp_path: Path) -> None:
    data = store.to_arrow_samples(window(0))
    paths = []
    for i, group in enumerate((50, 150)):  # two files, several row groups each
        path = str(tmp_path / f"{i}.parquet")
        pq.write_table(data.slice(i * 100), path, row_group_size=group)
        paths.append(path)
    whole = merge.Digest()
    for i in range(2):
        whole.update(data.slice(i * 100))
    for threads in (1, 2, 3):
        assert merge.digest_files(paths, threads=threads) == whole.hexdigest()
    parts = [merge.Digest(), merge.Digest()]
    parts[0].update(data.slice(0, 10))
    parts[1].update(data.slice(10))
    parts[0].merge(parts[1])
    assert parts[0].hexdigest() == merge.checksum(data)
    assert merge.digest_files(paths[:1]) != whole.hexdigest()


def test_rows_identical_across_many_row_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches and row groups: repeats across batch boundaries, many row groups.
    monkeypatch.setattr(merge, "ROW_GROUP_ROWS", 97)
    monkeypatch.setattr(merge, "BATCH_ROWS", 40)
    archive = Archive.open(str(tmp_path))
    fill(archive, range(6))
    before = rows(tmp_path)
    compact.compact(archive)
    assert rows(tmp_path) == before
    groups = [pq.ParquetFile(f).metadata.num_row_groups for f in archive.files("samples")]
    assert max(groups) > 3
