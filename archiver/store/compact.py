"""Compaction: each partition's small files merged into a few sorted ones, rows unchanged.

>>> archive = Archive.open("./archive")                          # doctest: +SKIP
>>> report = compact(archive)                                   # doctest: +SKIP

**Compaction** merges the files of one partition (``samples/date=D/namespace=N``,
``scrapes/date=D``, ``descriptors/date=D``) into a few files sorted by the table's key, drops
duplicate rows, upgrades files of older schema versions (:mod:`archiver.store.upgrade`), and
checks a checksum over the sorted rows before and after (the rewritten files are read back from
disk for the check).

How readers never see a half-compacted partition, locally: the merged files are written into a
hidden sibling directory ``_compact-<id>-<partition>`` (every reader skips names starting with
``_``), then that directory and the live partition directory are swapped with one
``renameat2(RENAME_EXCHANGE)``: a reader listing the partition sees the old set or the new set,
never both, never neither. Where the kernel or filesystem cannot exchange, two renames are used
and a reader can find the partition missing for the microseconds in between (not duplicated).
A crash at any point leaves either the old or the new set live plus a hidden leftover, which
:func:`archiver.store.repair.repair` removes (or renames into place when the live directory is
the one missing).

On S3 there is no rename: the merged file is PUT (atomic), then the inputs are deleted, with a
journal under ``_archiver/`` so that a crash between the two is finished by ``repair``.
A reader that lists in that window (milliseconds, or until the next ``compact``/``scrape`` after
a crash) can see both sets; this is the documented S3 trade-off.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from archiver.errors import StorageError
from archiver.store import tables as schema
from archiver.store.archive import JOURNAL, OLD, STAGING, TABLES, Archive, fsync_dir
from archiver.store.repair import repair
from archiver.store.upgrade import Corrupt, file_version, quarantine, read_upgraded

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

#: Rows per compacted file: a day of one namespace of a big account stays one file, and a
#: file stays small enough for one Spark task and one DuckDB thread to read quickly.
MAX_ROWS_PER_FILE = 1 << 24
MARKER = "compacted.json"


@dataclass
class PartitionResult:
    """What compacting one partition did."""

    table: str
    directory: str
    inputs: int = 0
    outputs: int = 0
    rows_in: int = 0
    rows_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    checksum: str = ""
    quarantined: list[str] = field(default_factory=list)
    skipped: bool = False  # already one compacted file at the current schema version


@dataclass
class CompactReport:
    """What a compaction run did, partition by partition."""

    partitions: list[PartitionResult] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def quarantined(self) -> list[str]:
        return [p for r in self.partitions for p in r.quarantined]

    @property
    def compacted(self) -> list[PartitionResult]:
        return [r for r in self.partitions if not r.skipped and r.inputs]


def compact(
    archive: Archive,
    *,
    dates: list[str] | None = None,
    lock_timeout: float = 60.0,
    clock: Callable[[], float] = time.time,
) -> CompactReport:
    """Compact every partition (or only those of ``dates``), after repairing leftovers.

    Only one compaction runs at a time (the ``compact`` lock); the write lock is taken only
    for each partition's swap, so a running ``scrape`` waits at most for a rename.
    """
    with archive.lock("compact", timeout=lock_timeout):
        return _compact(archive, dates, lock_timeout, clock)


def _compact(
    archive: Archive, dates: list[str] | None, lock_timeout: float, clock: Callable[[], float]
) -> CompactReport:
    report = CompactReport(repaired=repair(archive, clock=clock, lock_timeout=lock_timeout))
    for table in TABLES:
        for day in archive.partitions(table):
            if dates is not None and day not in dates:
                continue
            for directory in archive.leaf_dirs(table, day):
                report.partitions.append(
                    compact_partition(archive, table, directory, lock_timeout=lock_timeout)
                )
    return report


def compact_closed_days(
    archive: Archive,
    today: date,
    *,
    lock_timeout: float = 60.0,
    busy_timeout: float | None = None,
    clock: Callable[[], float] = time.time,
) -> CompactReport:
    """Compact the days before ``today`` that were not compacted yet (what ``scrape`` calls).

    Cheap when there is nothing to do: one small state read. Pass the UTC date of the window
    being scraped: every earlier day is closed. Call it without holding the write lock.
    ``busy_timeout``: how long to wait for another compaction to finish (default
    ``lock_timeout``); past it, ``filelock.Timeout`` is raised.
    """
    through = _read_marker(archive)
    yesterday = (today - timedelta(days=1)).isoformat()
    if through is not None and through >= yesterday:
        return CompactReport()
    days = sorted(
        {
            d
            for t in TABLES
            for d in archive.partitions(t)
            if d <= yesterday and (through is None or d > through)
        }
    )
    wait = lock_timeout if busy_timeout is None else busy_timeout
    with archive.lock("compact", timeout=wait):
        report = _compact(archive, days, lock_timeout, clock)
    archive.write_state(MARKER, json.dumps({"version": 1, "through": yesterday}).encode())
    return report


def compact_partition(
    archive: Archive, table: str, directory: str, *, lock_timeout: float = 60.0
) -> PartitionResult:
    """Merge the files of one partition directory; see the module docstring for the swap."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    result = PartitionResult(table, directory)
    # Reading, merging and compressing happen outside the write lock (files are immutable once
    # in place, and zstd on a big day takes minutes); only the swap holds it, so a scrape never
    # waits longer than a rename. The caller holds the "compact" lock against other compactions.
    infos = [
        i
        for i in archive.fs.get_file_info(archive.files_in(directory))
        if i.type == pafs.FileType.File
    ]
    if not infos:
        return result
    name = schema.parse_filename(infos[0].path)
    if len(infos) == 1 and name is not None and name.compacted:
        meta = file_version(archive, infos[0].path)
        if meta == schema.SCHEMA_VERSION:
            result.skipped = True
            return result
    parts: list[pa.Table] = []
    used: list[pafs.FileInfo] = []
    for info in infos:
        try:
            parts.append(read_upgraded(archive, table, info.path))
        except Corrupt as exc:
            result.quarantined.append(quarantine(archive, info.path, str(exc)))
            continue
        used.append(info)
    if not used:
        return result
    merged = pa.concat_tables(parts)
    result.inputs, result.rows_in = len(used), merged.num_rows
    result.bytes_in = sum(i.size or 0 for i in used)
    merged = dedupe_sorted(table, merged)
    result.rows_out = merged.num_rows
    result.checksum = checksum(merged)
    options = dict(schema.TABLES[table].compact_options)
    if archive.is_local:
        outputs = _swap_local(
            archive, table, directory, merged, result.checksum, options, used, lock_timeout
        )
    else:
        with archive.lock("write", timeout=lock_timeout):
            outputs = _swap_s3(archive, table, directory, merged, result.checksum, options, used)
    result.outputs = len(outputs)
    result.bytes_out = sum(i.size or 0 for i in archive.fs.get_file_info(outputs))
    log.info(
        "compacted %s: %d files -> %d, %d rows -> %d",
        directory,
        result.inputs,
        result.outputs,
        result.rows_in,
        result.rows_out,
    )
    return result


def dedupe_sorted(table: str, data: pa.Table) -> pa.Table:
    """``data`` without duplicate keys (the first occurrence wins), sorted by the key."""
    import polars as pl
    import pyarrow as pa

    keys = list(schema.TABLES[table].key)
    frame = pl.from_arrow(data.select(keys))
    assert isinstance(frame, pl.DataFrame)
    # Only the key columns go through polars; the rows themselves are taken in Arrow, so the
    # stored types (map labels, ms timestamps) come out exactly as they went in.
    order = (
        frame.with_row_index("_row")
        .unique(subset=keys, keep="first", maintain_order=True)
        .sort(keys, nulls_last=True)
        .get_column("_row")
    )
    return data.take(pa.array(order.to_numpy()))


def checksum(data: pa.Table) -> str:
    """A digest of the rows that ignores their order: sha256 over the sorted row hashes."""
    import numpy as np
    import polars as pl

    frame = pl.from_arrow(data)
    assert isinstance(frame, pl.DataFrame)
    hashes = np.sort(frame.hash_rows(seed=0).to_numpy())
    return hashlib.sha256(hashes.astype("<u8").tobytes()).hexdigest()


def _chunks(table: str, data: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """(file name, rows) per output file: ``compact-<first ms>-<last ms>-<id>.parquet``."""
    import pyarrow.compute as pc

    for offset in range(0, max(data.num_rows, 1), MAX_ROWS_PER_FILE):
        piece = data.slice(offset, MAX_ROWS_PER_FILE)
        bounds = pc.min_max(piece.column(schema.TABLES[table].time).cast("int64"))
        lo, hi = bounds["min"].as_py() or 0, bounds["max"].as_py() or 0
        yield schema.make_filename(schema.COMPACTED, lo, hi), schema.stamp(piece)


def _verify(archive: Archive, table: str, paths: list[str], expected: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    back = pa.concat_tables(
        [pq.read_table(p, filesystem=archive.fs, schema=schema.TABLES[table].schema) for p in paths]
    )
    if checksum(back) != expected:
        raise StorageError(
            f"compaction of {paths[0].rsplit('/', 2)[0]} read back different rows; the "
            "partition was left as it was: check the disk and run `archiver compact` again"
        )


def _swap_local(
    archive: Archive,
    table: str,
    directory: str,
    data: pa.Table,
    digest: str,
    options: dict[str, Any],
    inputs: list[Any],
    lock_timeout: float,
) -> list[str]:
    parent, live = directory.rsplit("/", 1)
    token = uuid.uuid4().hex[:12]
    staging = f"{parent}/{STAGING}{token}-{live}"
    try:
        outputs = [
            archive.write_parquet(staging, piece, name=name, **options)
            for name, piece in _chunks(table, data)
        ]
        _verify(archive, table, outputs, digest)
        with archive.lock("write", timeout=lock_timeout):
            _adopt_newcomers(archive, directory, staging, {i.path for i in inputs})
            _swap_dirs(staging, directory, f"{parent}/{OLD}{token}-{live}")
        staging = _leftover(staging, directory, f"{parent}/{OLD}{token}-{live}")
        fsync_dir(parent)
    except OSError as exc:
        raise StorageError(f"cannot compact {directory}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [f"{directory}/{p.rsplit('/', 1)[1]}" for p in outputs]


def _adopt_newcomers(archive: Archive, directory: str, staging: str, inputs: set[str]) -> None:
    """Hard-link files that scrapes added while we merged into the new set, so none is lost."""
    current = set(archive.files_in(directory))
    if not inputs <= current:
        raise StorageError(
            f"{directory} changed under compaction (an input file vanished); "
            "run `archiver compact` again"
        )
    for path in sorted(current - inputs):
        os.link(path, f"{staging}/{path.rsplit('/', 1)[1]}")


def _swap_dirs(staging: str, directory: str, old: str) -> None:
    try:
        _exchange(staging, directory)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
            raise
        # No atomic exchange here: two renames, the partition briefly absent (never doubled).
        os.rename(directory, old)
        os.rename(staging, directory)


def _leftover(staging: str, directory: str, old: str) -> str:
    """After the swap, the directory holding the previous files (to remove)."""
    return old if os.path.isdir(old) else staging


def _swap_s3(
    archive: Archive,
    table: str,
    directory: str,
    data: pa.Table,
    digest: str,
    options: dict[str, Any],
    inputs: list[Any],
) -> list[str]:
    journal = f"{JOURNAL}{uuid.uuid4().hex[:12]}.json"
    names = [i.path for i in inputs]
    # Written before the outputs: after a crash, repair knows which compact-* files are
    # unfinished outputs (roll back) or that the inputs are due for deletion (roll forward).
    archive.write_state(journal, json.dumps({"inputs": names, "outputs": None}).encode())
    outputs = [
        archive.write_parquet(directory, piece, name=name, **options)
        for name, piece in _chunks(table, data)
    ]
    _verify(archive, table, outputs, digest)
    archive.write_state(journal, json.dumps({"inputs": names, "outputs": outputs}).encode())
    archive.remove(names)
    archive.remove([archive.state_path(journal)])
    return outputs


def _exchange(a: str, b: str) -> None:
    """Swap two directory entries atomically (Linux renameat2 with RENAME_EXCHANGE)."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, a.encode(), at_fdcwd, b.encode(), rename_exchange) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _read_marker(archive: Archive) -> str | None:
    raw = archive.read_state(MARKER)
    if not raw:
        return None
    try:
        through = json.loads(raw).get("through")
    except (ValueError, AttributeError):
        return None
    return through if isinstance(through, str) else None
