"""Compaction: each partition's small files merged into a few sorted ones, rows unchanged.

>>> archive = Archive.open("./archive")                          # doctest: +SKIP
>>> report = compact(archive)                                   # doctest: +SKIP

Compaction merges the files of one partition (``samples/date=D/namespace=N``,
``scrapes/date=D``, ``descriptors/date=D``) into a few files sorted by the table's key, drops
duplicate rows (the first stored copy wins), upgrades files of older schema versions
(:mod:`archiver.store.upgrade`), and checks an order-free digest of the rows written against the
files read back from disk. The merge is a stream in bounded memory (:mod:`archiver.store.merge`);
the swap that makes the new set live, and where work files live, is :mod:`archiver.store.swap`.
A samples partition that changed gets its hourly rollups rewritten (:mod:`archiver.store.rollups`).

``archiver compact`` runs as its own cron job (``scrape`` never compacts): one at a time (the
``compact`` lock); the write lock is held only for each partition's swap, so a running scrape
waits at most for a rename.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from archiver.errors import StorageError
from archiver.store import tables as schema
from archiver.store.archive import TABLES, Archive
from archiver.store.merge import (
    DEFAULT_MEMORY_LIMIT,
    MergeStats,
    digest_files,
    merged,
    write_sorted,
)
from archiver.store.repair import repair
from archiver.store.rollups import has_rollups, roll_up_dir
from archiver.store.staging import stage_inputs
from archiver.store.swap import (
    RETIRE_AFTER,
    SPILL,
    Retired,
    Work,
    finish_s3,
    publish_s3,
    swap_local,
)
from archiver.store.upgrade import file_version

log = logging.getLogger(__name__)

#: The state file naming the last day ``compact_closed_days`` finished.
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
    rollup_rows: int | None = None  # rollups rewritten from the compacted samples


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
    memory_limit: str | None = None,
    busy_timeout: float | None = None,
) -> CompactReport:
    """Compact every partition (or only those of ``dates``), after repairing leftovers.

    Only one compaction runs at a time (the ``compact`` lock, waited for ``busy_timeout``
    seconds, default ``lock_timeout``; past it ``filelock.Timeout``); the write lock is taken
    only for each partition's swap, so a running ``scrape`` waits at most for a rename.
    ``memory_limit``: DuckDB's memory for the merge (e.g. ``"512MB"``).
    """
    wait = lock_timeout if busy_timeout is None else busy_timeout
    with archive.lock("compact", timeout=wait):
        return _compact(archive, dates, lock_timeout, clock, memory_limit)


def _compact(
    archive: Archive,
    dates: list[str] | None,
    lock_timeout: float,
    clock: Callable[[], float],
    memory_limit: str | None = None,
) -> CompactReport:
    repaired = repair(archive, clock=clock, lock_timeout=lock_timeout, compacting=True)
    report = CompactReport(repaired=repaired)
    retired = Retired()
    try:
        for table in TABLES:
            for day in archive.partitions(table):
                if dates is not None and day not in dates:
                    continue
                for directory in leaf_dirs(archive, table, day):
                    result = compact_partition(
                        archive,
                        table,
                        directory,
                        lock_timeout=lock_timeout,
                        memory_limit=memory_limit,
                        retired=retired,
                    )
                    report.partitions.append(result)
                    if schema.TABLES[table].rolled_up:
                        _roll_up(archive, result, memory_limit, lock_timeout, retired)
                    retired.remove(older_than=RETIRE_AFTER)
    finally:
        retired.close()
    return report


def leaf_dirs(archive: Archive, table: str, day: str) -> list[str]:
    """The directories holding a day's files of ``table``: one per namespace where the table
    is partitioned by namespace."""
    import pyarrow.fs as pafs

    base = archive.path(table, f"date={day}")
    if not schema.TABLES[table].by_namespace:
        return [base]
    try:
        infos = archive.fs.get_file_info(pafs.FileSelector(base))
    except FileNotFoundError:
        return []
    return sorted(
        i.path
        for i in infos
        if i.type == pafs.FileType.Directory and i.base_name.startswith("namespace=")
    )


def _roll_up(
    archive: Archive,
    result: PartitionResult,
    memory_limit: str | None,
    lock_timeout: float,
    retired: Retired,
) -> None:
    """Rewrite the rollups of a partition whose samples changed, or that has none yet."""
    changed = result.inputs > 0 and not result.skipped
    if changed or (result.skipped and not has_rollups(archive, result.directory)):
        result.rollup_rows = roll_up_dir(
            archive,
            result.directory,
            memory_limit=memory_limit,
            lock_timeout=lock_timeout,
            retired=retired,
        )


def compact_closed_days(
    archive: Archive,
    today: date,
    *,
    lock_timeout: float = 60.0,
    busy_timeout: float | None = None,
    clock: Callable[[], float] = time.time,
    memory_limit: str | None = None,
) -> CompactReport:
    """Compact the days before ``today`` that were not compacted yet.

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
        report = _compact(archive, days, lock_timeout, clock, memory_limit)
    archive.write_state(MARKER, json.dumps({"version": 1, "through": yesterday}).encode())
    return report


def compact_partition(
    archive: Archive,
    table: str,
    directory: str,
    *,
    lock_timeout: float = 60.0,
    memory_limit: str | None = None,
    retired: Retired | None = None,
) -> PartitionResult:
    """Merge the files of one partition directory; see the module docstring. ``retired``:
    where a local swap's work folder goes to be deleted later (else at once)."""
    import pyarrow.fs as pafs

    result = PartitionResult(table, directory)
    infos = [
        i
        for i in archive.fs.get_file_info(archive.files_in(directory))
        if i.type == pafs.FileType.File
    ]
    if not infos:
        return result
    name = schema.parse_filename(infos[0].path)
    alone = len(infos) == 1 and name is not None and name.compacted
    if alone and file_version(archive, infos[0].path) == schema.SCHEMA_VERSION:
        result.skipped = True
        return result
    work, kept = Work.create(archive), False
    try:
        used = stage_inputs(archive, table, infos, work, result.quarantined)
        if not used:
            return result
        result.inputs = len(used)
        result.bytes_in = sum(i.size or 0 for i in used)
        _merge_into(archive, table, directory, work, result, memory_limit)
        local = [f"{work.out}/{n}" for n in sorted(os.listdir(work.out))]
        _verify(archive, table, local, result.checksum, local_files=True)
        inputs = [i.path for i in used]
        outputs = _swap_in(archive, table, directory, work, local, inputs, result, lock_timeout)
        if archive.is_local and retired is not None:
            retired.add(work)
            kept = True
    finally:
        if not kept:
            work.remove()
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


def _swap_in(
    archive: Archive,
    table: str,
    directory: str,
    work: Work,
    local: list[str],
    inputs: list[str],
    result: PartitionResult,
    lock_timeout: float,
) -> list[str]:
    """Put the merged files in place of ``inputs``; returns their paths. Local: one directory
    exchange. S3: published beside the inputs and checked there before the inputs go."""
    if archive.is_local:
        return swap_local(archive, directory, work, set(inputs), lock_timeout)
    with archive.lock("write", timeout=lock_timeout):
        outputs, journal = publish_s3(archive, directory, local, inputs)
        _verify(archive, table, outputs, result.checksum, local_files=False)
        finish_s3(archive, journal, inputs, outputs)
    return outputs


def _merge_into(
    archive: Archive,
    table: str,
    directory: str,
    work: Work,
    result: PartitionResult,
    memory_limit: str | None,
) -> None:
    """Stream the merged rows of ``work.inputs`` into ``compact-*`` files in ``work.out``."""
    import duckdb

    definition = schema.TABLES[table]
    files = [f"{work.inputs}/{n}" for n in sorted(os.listdir(work.inputs))]
    stats = MergeStats()
    try:
        batches = merged(
            definition,
            files,
            memory_limit=memory_limit or DEFAULT_MEMORY_LIMIT,
            temp_directory=spill_directory(archive, work),
            stats=stats,
        )
        result.checksum = write_sorted(
            definition,
            batches,
            work.out,
            durable=archive.durable and archive.is_local,
            options=lambda: stats.write_options(definition),
        )
    except duckdb.Error as exc:
        raise StorageError(f"cannot compact {directory}: {_first_line(exc)}") from exc
    except OSError as exc:
        raise StorageError(f"cannot compact {directory}: {exc.strerror or exc}") from exc
    result.rows_in, result.rows_out = stats.rows_in, stats.rows_out


def spill_directory(archive: Archive, work: Work) -> str:
    """Where DuckDB spills: ``<root>/_archiver/tmp/duckdb/compact`` locally (a folder of its
    own, which repair may empty: queries spill beside it), the work folder on S3."""
    path = archive.path(*SPILL) if archive.is_local else f"{work.root}/duckdb"
    os.makedirs(path, exist_ok=True)
    return path


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _verify(
    archive: Archive, table: str, paths: list[str], expected: str, *, local_files: bool
) -> None:
    fs = None if local_files else archive.fs
    if digest_files(paths, fs) != expected:
        where = paths[0].rsplit("/", 1)[0] if paths else table
        raise StorageError(
            f"compaction of {where} read back different rows; the partition was left as it "
            "was: check the disk and run `archiver compact` again"
        )


def _read_marker(archive: Archive) -> str | None:
    raw = archive.read_state(MARKER)
    if not raw:
        return None
    try:
        through = json.loads(raw).get("through")
    except (ValueError, AttributeError):
        return None
    return through if isinstance(through, str) else None
