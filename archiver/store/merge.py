"""One partition's files merged into one sorted, duplicate-free stream, in bounded memory.

DuckDB sorts the input files by the table's key out of core (``memory_limit``, spilling to a
``temp_directory`` under the archive's state folder), the file order and the row's position in
its file breaking ties, so that the first stored copy of a key wins, as it always has. Python
then drops repeated keys batch by batch (a repeat sits right after its first copy) and writes
row groups. Memory is bounded by DuckDB's limit plus one row group, never by the size of the
partition: this is the sort-merge that Prometheus and VictoriaMetrics do over sorted runs, with
DuckDB's external sort as the merge.

:class:`Digest` is the check that the rows came through unchanged: an order-free digest of the
rows, updated batch by batch, compared with the same digest of the files read back from disk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archiver.store.tables import COMPACTED, Table

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

#: DuckDB's memory for one compaction when the caller gives none (``ARCHIVER_MEMORY_LIMIT``
#: overrides it): measured, a 2.5M-row partition sorts in ~430 MB peak RSS at 256 MB.
DEFAULT_MEMORY_LIMIT = "256MB"
#: Rows per batch handed from DuckDB to the writer.
BATCH_ROWS = 65_536
#: Rows per Parquet row group of a merged file (a row group is held in memory once, as Arrow).
ROW_GROUP_ROWS = 1 << 18


class Digest:
    """A digest of a set of rows that ignores their order (and the batches they came in).

    >>> import pyarrow as pa
    >>> a, b = Digest(), Digest()
    >>> a.update(pa.table({"x": [1, 2, 3]}))
    >>> b.update(pa.table({"x": [3]})); b.update(pa.table({"x": [2, 1]}))
    >>> a.hexdigest() == b.hexdigest()
    True
    """

    def __init__(self) -> None:
        self.count = 0
        self._sum = 0
        self._xor = 0

    def update(self, data: pa.Table | pa.RecordBatch) -> None:
        import numpy as np
        import polars as pl

        if data.num_rows == 0:
            return
        frame = pl.from_arrow(data)
        assert isinstance(frame, pl.DataFrame)
        hashes = frame.hash_rows(seed=0).to_numpy().astype(np.uint64)
        self.count += len(hashes)
        # Sum (mod 2^64) and xor of per-row hashes: both order-free, one pass, no memory.
        self._sum = (self._sum + int(hashes.sum(dtype=np.uint64))) % (1 << 64)
        self._xor ^= int(np.bitwise_xor.reduce(hashes))

    def merge(self, other: Digest) -> None:
        """Add the rows ``other`` has seen (digests of disjoint parts combine into the whole's)."""
        self.count += other.count
        self._sum = (self._sum + other._sum) % (1 << 64)
        self._xor ^= other._xor

    def hexdigest(self) -> str:
        text = f"{self.count}:{self._sum}:{self._xor}"
        return hashlib.sha256(text.encode()).hexdigest()


def checksum(data: pa.Table) -> str:
    """The :class:`Digest` of a table's rows."""
    digest = Digest()
    digest.update(data)
    return digest.hexdigest()


#: ``value`` is dictionary-encoded in a partition whose distinct values are at most this share
#: of its samples. Measured (bytes per sample of the value column, zstd 15): foreign data
#: (benchmarks/foreign.py, 1.9% distinct) 1.52 as a dictionary vs 1.78 plain, and 5x faster to
#: write; the simulator's smooth curves (9.5% distinct) 1.76 vs 1.55 plain.
DICTIONARY_SHARE = 0.05
#: zstd level of the flat columns a row's series determines (``series``, ``metric``: runs of
#: one dictionary index) where the table's level is higher; ``labels`` keeps the table's.
#: Measured on the simulator's biggest partition (461k rows), writing at 15 vs series and
#: metric at 9: 2.51 vs 1.79 CPU s per million rows, 1.986 vs 1.996 B/sample; foreign data
#: (1.9M rows) 1.781 vs 1.782 B/sample.
RUN_LEVEL = 9


@dataclass
class MergeStats:
    """What went into a merge (filled in while its stream is consumed)."""

    rows_in: int = 0
    rows_out: int = 0
    #: Distinct values / samples, where the table has a ``value`` column.
    value_share: float | None = None

    def write_options(self, table: Table) -> dict[str, Any]:
        """The table's compaction options, with ``value`` as a dictionary where it pays."""
        options = dict(table.compact_options)
        if self.value_share is not None and self.value_share <= DICTIONARY_SHARE:
            options["use_dictionary"] = [*options.get("use_dictionary", []), "value"]
            encodings = dict(options.get("column_encoding", {}))
            encodings.pop("value", None)
            options["column_encoding"] = encodings
        level = options.get("compression_level")
        if table.by_series and isinstance(level, int) and level > RUN_LEVEL:
            runs = {"series", *table.by_series}
            options["compression_level"] = {
                leaf: RUN_LEVEL if leaf in runs else level for leaf in _leaves(table)
            }
        return options


def _leaves(table: Table) -> list[str]:
    """The Parquet leaf columns of ``table`` (``labels.key_value.key``, ...), as a writer names
    them (per-column options take these names)."""
    import io

    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table.schema.empty_table(), buffer)
    buffer.seek(0)
    return [column.path for column in pq.ParquetFile(buffer).schema]


def merged(
    table: Table,
    files: list[str],
    *,
    memory_limit: str,
    temp_directory: str,
    stats: MergeStats,
    threads: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """The rows of ``files`` (local Parquet files of ``table``'s current schema, in the order
    whose first copy of a key wins) sorted by the table's key, each key once, as batches of
    the stored schema."""
    import duckdb

    from archiver.sqlfiles import load_sql

    config: dict[str, Any] = {
        "memory_limit": memory_limit,
        "temp_directory": temp_directory,
        "preserve_insertion_order": False,
    }
    if threads:
        config["threads"] = threads
    con = duckdb.connect(config=config)
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET VARIABLE archiver_merge_files = $files", {"files": files})
        if "value" in table.schema.names:
            ((share,),) = con.sql(load_sql("merge_value_share.sql")).fetchall()
            stats.value_share = float(share) if share is not None else None
        series = None
        if table.by_series:
            con.execute(load_sql("merge_series.sql"))
            query = "SELECT * EXCLUDE (series_index) FROM archiver_merge_series ORDER BY 1"
            series = con.sql(query).to_arrow_table()
        # A relation's reader streams; a DB-API result's would copy every row first.
        reader = con.sql(load_sql(f"merge_{table.name}.sql")).to_arrow_reader(BATCH_ROWS)
        batches = reader if series is None else _with_series(table, reader, series)
        yield from _dedupe(table, batches, stats)
    finally:
        con.close()


def _with_series(
    table: Table, batches: Iterable[pa.RecordBatch], series: pa.Table
) -> Iterator[pa.RecordBatch]:
    """(series_index, ...) batches with the series' own columns taken back by index."""
    import pyarrow as pa

    # One chunk: a take from a chunked table is several times slower, and leaves chunks.
    series = series.combine_chunks()
    for batch in batches:
        found = series.take(batch.column("series_index"))
        columns = {name: found.column(name) for name in found.column_names}
        columns |= {name: batch.column(name) for name in batch.schema.names}
        arrays = [
            columns[name].combine_chunks()
            if isinstance(columns[name], pa.ChunkedArray)
            else columns[name]
            for name in table.schema.names
        ]
        yield pa.RecordBatch.from_arrays(arrays, names=table.schema.names)


def _dedupe(
    table: Table, batches: Iterable[pa.RecordBatch], stats: MergeStats
) -> Iterator[pa.RecordBatch]:
    """Sorted batches without a key equal to the row before it (across batch boundaries)."""
    import polars as pl

    keys = list(table.key)
    last: pl.DataFrame | None = None
    for raw in batches:
        if raw.num_rows == 0:
            continue
        batch = raw.cast(table.schema)
        stats.rows_in += batch.num_rows
        frame = pl.from_arrow(batch.select(keys))
        assert isinstance(frame, pl.DataFrame)
        both = frame if last is None else pl.concat([last, frame])
        repeated = both.select(
            pl.all_horizontal(pl.col(k).eq_missing(pl.col(k).shift(1)) for k in keys)
        ).to_series()
        if last is not None:
            repeated = repeated.slice(1)
        last = frame.tail(1)
        if repeated.any():
            import pyarrow as pa

            batch = batch.filter(pa.array((~repeated.fill_null(False)).to_numpy()))
        stats.rows_out += batch.num_rows
        yield batch


def write_sorted(
    table: Table,
    batches: Iterable[pa.RecordBatch],
    directory: str,
    *,
    durable: bool,
    max_rows_per_file: int = 1 << 24,
    stem: str = COMPACTED,
    options: Callable[[], dict[str, Any]] | None = None,
) -> str:
    """Write sorted ``batches`` as ``compact-<first ms>-<last ms>-<id>.parquet`` files in the
    local ``directory`` (a new file every ``max_rows_per_file`` rows); returns the rows'
    :class:`Digest`. Each file is written under a temp name and renamed once whole.

    Row groups are written on this thread: a writer thread overlapping them with the merge
    measured no faster under load 2-5 on 2 cores (DuckDB and polars already use both) and
    ~100 MB more peak RSS (833 vs 709 MB foreign, 914 vs 692 MB simulator, 3 h of minutes)."""
    digest = Digest()
    sink: _Sink | None = None
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    chosen: dict[str, Any] | None = None
    for batch in batches:
        digest.update(batch)
        pending.append(batch)
        pending_rows += batch.num_rows
        if pending_rows < ROW_GROUP_ROWS:
            continue
        # Chosen once the stream has started: the merge measures the data as it begins.
        chosen = chosen or _options(table, options)
        sink = _flush(table, directory, chosen, sink, pending, durable, max_rows_per_file, stem)
        pending, pending_rows = [], 0
    if pending:
        chosen = chosen or _options(table, options)
        sink = _flush(table, directory, chosen, sink, pending, durable, max_rows_per_file, stem)
    if sink is not None:
        sink.close(durable)
    return digest.hexdigest()


def digest_files(paths: list[str], filesystem: Any = None, threads: int = 2) -> str:
    """The :class:`Digest` of the rows of Parquet ``paths``, read back row group by row group
    on ``threads`` threads (decoding releases the GIL; digests of parts combine)."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.parquet as pq

    parts = []
    for path in paths:
        with pq.ParquetFile(path, filesystem=filesystem) as reader:
            parts += [(path, group) for group in range(reader.num_row_groups)]

    def read(share: list[tuple[str, int]]) -> Digest:
        digest = Digest()
        for path, group in share:
            with pq.ParquetFile(path, filesystem=filesystem) as reader:
                for batch in reader.iter_batches(BATCH_ROWS, row_groups=[group], use_threads=False):
                    digest.update(batch)
        return digest

    total = Digest()
    with ThreadPoolExecutor(threads, thread_name_prefix="archiver-verify") as pool:
        for part in pool.map(read, [parts[i::threads] for i in range(threads)]):
            total.merge(part)
    return total.hexdigest()


def _options(table: Table, options: Callable[[], dict[str, Any]] | None) -> dict[str, Any]:
    chosen = options() if options is not None else dict(table.compact_options)
    chosen.pop("row_group_size", None)  # row groups are cut here, at ROW_GROUP_ROWS
    return chosen


class _Sink:
    """One output file being written: its writer, its temp path, its time range."""

    def __init__(self, table: Table, directory: str, options: dict[str, Any], stem: str) -> None:
        import uuid

        import pyarrow.parquet as pq

        from archiver.store.archive import TMP_PREFIX, TMP_SUFFIX
        from archiver.store.tables import stamp

        self.directory = directory
        self.stem = stem
        self.tmp = f"{directory}/{TMP_PREFIX}{uuid.uuid4().hex[:12]}{TMP_SUFFIX}"
        self.time = table.time
        self.rows = 0
        self.lo: int | None = None
        self.hi: int | None = None
        self.writer = pq.ParquetWriter(
            self.tmp, stamp(table.schema.empty_table()).schema, **options
        )

    def write(self, data: pa.Table) -> None:
        import pyarrow.compute as pc

        bounds = pc.min_max(data.column(self.time).cast("int64"))
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        if lo is not None:
            self.lo = lo if self.lo is None else min(self.lo, lo)
            self.hi = hi if self.hi is None else max(self.hi, hi)
        self.writer.write_table(data, row_group_size=data.num_rows)
        self.rows += data.num_rows

    def close(self, durable: bool) -> str:
        import os

        from archiver.store.archive import fsync_dir
        from archiver.store.tables import make_filename

        self.writer.close()
        if durable:
            fd = os.open(self.tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        final = f"{self.directory}/{make_filename(self.stem, self.lo or 0, self.hi or 0)}"
        os.replace(self.tmp, final)
        if durable:
            fsync_dir(self.directory)
        return final


def _flush(
    table: Table,
    directory: str,
    options: dict[str, Any],
    sink: _Sink | None,
    pending: list[pa.RecordBatch],
    durable: bool,
    max_rows_per_file: int,
    stem: str,
) -> _Sink:
    import pyarrow as pa

    if sink is not None and sink.rows >= max_rows_per_file:
        sink.close(durable)
        sink = None
    if sink is None:
        sink = _Sink(table, directory, options, stem)
    sink.write(pa.Table.from_batches(pending, schema=table.schema))
    return sink
