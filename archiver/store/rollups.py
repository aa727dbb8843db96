"""Hourly rollups: per series and hour, count, min, max, avg and last, as their own table.

``<root>/rollups/date=YYYY-MM-DD/namespace=<escaped>/*.parquet`` (schema ``tables.ROLLUPS``,
sorted by series then hour): plain Parquet that DuckDB, polars and Spark read as it lies, for
windows too long to scan every sample. Compaction rewrites a partition's rollups whenever it
rewrites the partition's samples (late data included), and writes them for a compacted
partition that has none yet; retention deletes them with their day.

>>> write_rollups(archive, "2025-03-03", "prod.acme1")   # doctest: +SKIP
1234
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from archiver.errors import StorageError
from archiver.store import tables
from archiver.store.archive import Archive
from archiver.store.staging import stage_file, staged_name
from archiver.store.swap import Retired, Work, finish_s3, publish_s3, swap_local

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)


def rollups_dir(archive: Archive, samples_dir: str) -> str:
    """The rollups directory beside a ``samples/date=D/namespace=N`` directory (same names, so
    a namespace stored under a bounded name keeps it)."""
    relative = samples_dir[len(archive.path("samples")) + 1 :]
    return archive.path("rollups", relative)


def has_rollups(archive: Archive, samples_dir: str) -> bool:
    """Whether the rollups of a samples partition directory hold a file."""
    return bool(archive.files_in(rollups_dir(archive, samples_dir)))


def write_rollups(
    archive: Archive,
    date: str,
    namespace: str | None,
    *,
    memory_limit: str | None = None,
    lock_timeout: float = 60.0,
) -> int:
    """(Re)compute the hourly rollups of the samples partition (date, namespace) and put them
    in place of its previous rollups, atomically for readers; returns the number of rows.

    Reads the partition's sample files as they are: call it on a compacted partition (each
    sample once), as compaction does.
    """
    samples_dir = archive.table_dir("samples", date, namespace)
    return roll_up_dir(archive, samples_dir, memory_limit=memory_limit, lock_timeout=lock_timeout)


def roll_up_dir(
    archive: Archive,
    samples_dir: str,
    *,
    memory_limit: str | None = None,
    lock_timeout: float = 60.0,
    retired: Retired | None = None,
) -> int:
    """:func:`write_rollups` for a samples partition directory. ``retired``: where a local
    swap's work folder (the replaced rollups) goes to be deleted later, as compaction's do."""
    from archiver.store.merge import DEFAULT_MEMORY_LIMIT

    samples = archive.files_in(samples_dir)
    directory = rollups_dir(archive, samples_dir)
    previous = archive.files_in(directory)
    work, kept = Work.create(archive), False
    try:
        local = _stage(archive, samples, work)
        rows = 0
        if local:
            rows = _compute(local, work, memory_limit or DEFAULT_MEMORY_LIMIT, archive.durable)
        made = [f"{work.out}/{n}" for n in sorted(os.listdir(work.out))]
        if archive.is_local:
            swap_local(archive, directory, work, set(previous), lock_timeout)
            if retired is not None:
                retired.add(work)
                kept = True
        else:
            with archive.lock("write", timeout=lock_timeout):
                outputs, journal = publish_s3(archive, directory, made, previous)
                finish_s3(archive, journal, previous, outputs)
    finally:
        if not kept:
            work.remove()
    log.info("rolled up %s: %d rows", directory, rows)
    return rows


def _stage(archive: Archive, samples: list[str], work: Work) -> list[str]:
    if archive.is_local:
        return samples
    local = [staged_name(work, i) for i in range(len(samples))]
    for path, target in zip(samples, local, strict=True):
        stage_file(archive, path, target)
    return local


def _compute(files: list[str], work: Work, memory_limit: str, durable: bool) -> int:
    import duckdb

    from archiver.sqlfiles import load_sql
    from archiver.store.merge import BATCH_ROWS

    spill = f"{work.root}/duckdb"
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": spill})
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET VARIABLE archiver_rollup_files = $files", {"files": files})
        reader = con.sql(load_sql("rollups_hourly.sql")).to_arrow_reader(BATCH_ROWS)
        return _write(reader, work.out, durable)
    except duckdb.Error as exc:
        where = files[0].rsplit("/", 1)[0]
        raise StorageError(f"cannot write rollups of {where}: {exc}") from exc
    except OSError as exc:
        where = files[0].rsplit("/", 1)[0]
        raise StorageError(f"cannot write rollups of {where}: {exc.strerror or exc}") from exc
    finally:
        con.close()


def _write(batches: Iterable[pa.RecordBatch], directory: str, durable: bool) -> int:
    """One rollups file in ``directory``, in row groups of the table's ``row_group_size``
    (small, so that a report reading a few metrics skips the others by their statistics)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from archiver.store.archive import TMP_PREFIX, TMP_SUFFIX, fsync_dir

    definition = tables.TABLES["rollups"]
    options = dict(definition.compact_options)
    group = int(options.pop("row_group_size"))
    tmp = f"{directory}/{TMP_PREFIX}rollups{TMP_SUFFIX}"
    rows, lo, hi = 0, None, None
    with pq.ParquetWriter(
        tmp, tables.stamp(definition.schema.empty_table()).schema, **options
    ) as w:
        for batch in batches:
            data = pa.Table.from_batches([batch]).cast(definition.schema)
            if not data.num_rows:
                continue
            bounds = pc.min_max(data.column(definition.time).cast("int64"))
            lo = bounds["min"].as_py() if lo is None else min(lo, bounds["min"].as_py())
            hi = bounds["max"].as_py() if hi is None else max(hi, bounds["max"].as_py())
            w.write_table(data, row_group_size=group)
            rows += data.num_rows
    if not rows:
        os.remove(tmp)
        return 0
    if durable:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    os.replace(tmp, f"{directory}/{tables.make_filename(definition.stem, lo, hi)}")
    if durable:
        fsync_dir(directory)
    return rows
