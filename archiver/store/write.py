"""Writing the archive: samples stored once, the scrape log, descriptors.

Samples land as one file per (date, namespace) partition per scrape, named
``part-<first ts ms>-<last ts ms>-<id>.parquet`` (``tables.make_filename``) so that the
duplicate check only opens files whose time range overlaps the new batch. Callers hold the
archive's write lock around :func:`write_samples`, which makes check-then-write safe across
processes.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
import pyarrow as pa

from archiver.errors import StorageError
from archiver.store import tables as schema
from archiver.store.archive import Archive
from archiver.store.tables import COMPACT_WRITE_OPTIONS, SAMPLE_WRITE_OPTIONS, file_range

__all__ = [
    "COMPACT_WRITE_OPTIONS",
    "SAMPLE_WRITE_OPTIONS",
    "file_range",
    "stored_keys",
    "to_arrow_samples",
    "write_rows",
    "write_samples",
]


def to_arrow_samples(frame: pl.DataFrame) -> pa.Table:
    """A parser-shaped frame (labels as a list of key/value structs) as the stored schema."""
    # Built from polars' own buffers, without Arrow's cast kernels: the first cast of a process
    # initialises Arrow's compute registry, 9 MB of code pages in every cron scrape (measured).
    labels = frame.get_column("labels")
    pairs = labels.explode(empty_as_null=False)
    as_map = pa.MapArray.from_arrays(
        _offsets(labels.list.len()),
        _utf8(pairs.struct.field("key")),
        _utf8(pairs.struct.field("value")),
        type=schema.LABELS,
    )
    columns = [
        _utf8(frame.get_column("series")),
        _utf8(frame.get_column("metric")),
        as_map,
        frame.get_column("ts").to_arrow(),
        frame.get_column("value").to_arrow(),
    ]
    return schema.stamp(pa.Table.from_arrays(columns, schema=schema.SAMPLES))


def _offsets(lengths: pl.Series) -> pa.Array:
    """Arrow's 32-bit offsets for runs of these lengths: 0, then their running sums."""
    ends = lengths.cast(pl.Int64).cum_sum()
    if len(ends) and ends[-1] >= 1 << 31:
        raise StorageError("a batch over 2 GiB of text in one column: write it in smaller batches")
    return pl.concat([pl.Series([0], dtype=pl.Int32), ends.cast(pl.Int32)]).to_arrow()


def _utf8(strings: pl.Series) -> pa.Array:
    """A string column as Arrow's ``string`` (32-bit offsets), over the bytes polars exports."""
    large = strings.to_arrow(compat_level=pl.CompatLevel.oldest())
    offsets = _offsets(strings.str.len_bytes()).buffers()[1]
    return pa.StringArray.from_buffers(len(strings), offsets, large.buffers()[2])


def stored_keys(archive: Archive, directory: str, ts_ms: Sequence[int]) -> pl.DataFrame | None:
    """(series, ts) already stored in a partition directory at any of the timestamps ``ts_ms``;
    None when no file there can hold one."""
    lo, hi = min(ts_ms), max(ts_ms)
    files = []
    for path in archive.files_in(directory):
        bounds = file_range(path)
        if bounds is None or (bounds[0] <= hi and bounds[1] >= lo):
            files.append(path)
    if not files:
        return None
    # Imported only here: most minutes overlap no file, and these cost ~0.1 s to import.
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    wanted = pa.array(sorted(set(ts_ms)), type=pa.int64()).cast(schema.TS)
    dataset = ds.dataset(files, schema=schema.SAMPLES, format="parquet", filesystem=archive.fs)
    table = dataset.to_table(columns=["series", "ts"], filter=pc.field("ts").isin(wanted))
    return pl.from_arrow(table)  # type: ignore[return-value]


def write_samples(
    archive: Archive,
    samples: pl.DataFrame,
    *,
    bulk: bool = False,
    failed: list[tuple[str | None, str]] | None = None,
) -> int:
    """Store the samples not stored yet; returns how many were new.

    ``samples`` has the parser's columns (series, metric, namespace, labels, ts, value).
    The caller holds ``archive.lock("write")``. ``bulk``: the batch is whole closed days (a
    backfill): write each partition as compaction would, so that it is never rewritten.
    ``failed``: when given, a partition that cannot be written (a full disk, a name the
    filesystem refuses) is appended to it as (namespace, error) and the others are still
    written; without it the first such error is raised.
    """
    if samples.is_empty():
        return 0
    # Each partition's rows are gathered, sorted and written on their own: the batch is never
    # copied whole in sorted order while the caller still holds it (23 MB of a 50,000-sample
    # scrape's peak RSS, measured). A (series, ts) falls in one partition (the series names
    # the namespace, ts the date), so repeats dropped per partition are dropped everywhere.
    partitions = (
        samples.select(
            date=pl.col("ts").dt.date().cast(pl.String),
            namespace="namespace",
            ms=pl.col("ts").dt.epoch("ms"),
        )
        .with_row_index("row")
        .group_by("date", "namespace")
        .agg(pl.col("row").sort(), pl.col("ms").unique())
        .sort("date", "namespace")
    )
    table = schema.TABLES["samples"]
    stem = schema.COMPACTED if bulk else table.stem
    options = table.compact_options if bulk else table.write_options
    written = 0
    for date, namespace, rows, ts_ms in partitions.iter_rows():
        directory = archive.table_dir("samples", date, namespace)
        part = _sorted_once(_gather(samples, rows))
        try:
            existing = stored_keys(archive, directory, ts_ms)
            if existing is not None:
                part = part.join(existing, on=["series", "ts"], how="anti", maintain_order="left")
                if part.is_empty():
                    continue
            # Converted a partition at a time, so one partition's Arrow copy exists at once
            # (measured on a 30,000-sample scrape: 8 MB less peak than converting it all).
            name = schema.make_filename(stem, min(ts_ms), max(ts_ms))
            archive.write_parquet(directory, to_arrow_samples(part), name=name, **options)
        except StorageError as exc:
            if failed is None:
                raise
            failed.append((namespace, str(exc)))
            continue
        written += part.height
    return written


def _gather(frame: pl.DataFrame, rows: list[int]) -> pl.DataFrame:
    """``frame``'s rows at ``rows`` (ascending), gathered one chunk at a time: the parser's
    frame has a chunk per block, and a gather across chunks first joins them, a copy of the
    whole labels column per call (measured: 9 MB and 40 times the time of this)."""
    pieces = []
    start = 0
    for length in frame.get_column("ts").chunk_lengths():
        lo, hi = bisect_left(rows, start), bisect_left(rows, start + length)
        if hi > lo:
            local = pl.Series([row - start for row in rows[lo:hi]], dtype=pl.UInt32)
            pieces.append(frame.slice(start, length)[local])
        start += length
    return pl.concat(pieces) if pieces else frame.clear()


def _sorted_once(part: pl.DataFrame) -> pl.DataFrame:
    """A partition's rows in file order (series, ts), each (series, ts) once: the stable sort
    puts a repeat right after its first occurrence, where dropping it needs no hash table."""
    part = part.sort("series", "ts", maintain_order=True)
    repeated = (pl.col("series") == pl.col("series").shift(1)) & (
        pl.col("ts") == pl.col("ts").shift(1)
    )
    return part.filter(~repeated.fill_null(False))


def write_rows(
    archive: Archive, table: str, rows: Iterable[Mapping[str, Any]], *, date_field: str
) -> int:
    """Append plain rows (scrape log, descriptors) to ``table``, one file per date."""
    target = schema.TABLES[table]
    by_date: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_date.setdefault(_date_of(row[date_field]), []).append(row)
    for date, group in sorted(by_date.items()):
        arrow = schema.stamp(pa.Table.from_pylist(list(group), schema=target.schema))
        name = schema.make_filename(target.stem)
        archive.write_parquet(
            archive.table_dir(table, date), arrow, name=name, **target.write_options
        )
    return sum(len(g) for g in by_date.values())


def _date_of(value: Any) -> str:
    from datetime import UTC, datetime

    if isinstance(value, datetime):
        return value.astimezone(UTC).date().isoformat()
    return datetime.fromtimestamp(float(value), UTC).date().isoformat()
