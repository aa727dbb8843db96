"""Keeping an archive small, bounded and whole: compaction, retention, repair, schema upgrades.

>>> archive = Archive.open("./archive")                          # doctest: +SKIP
>>> report = compact(archive)                                   # doctest: +SKIP
>>> gone = retention(archive, 30, today=date.today(), dry_run=True)  # doctest: +SKIP

**Compaction** merges the files of one partition (``samples/date=D/namespace=N``,
``scrapes/date=D``, ``descriptors/date=D``) into a few files sorted by series then time, drops
duplicate samples, upgrades files of older schema versions, and checks a checksum over the
sorted rows before and after (the rewritten files are read back from disk for the check).

How readers never see a half-compacted partition, locally: the merged files are written into a
hidden sibling directory ``_compact-<id>-<partition>`` (every reader skips names starting with
``_``), then that directory and the live partition directory are swapped with one
``renameat2(RENAME_EXCHANGE)``: a reader listing the partition sees the old set or the new set,
never both, never neither. Where the kernel or filesystem cannot exchange, two renames are used
and a reader can find the partition missing for the microseconds in between (not duplicated).
A crash at any point leaves either the old or the new set live plus a hidden leftover, which
:func:`repair` removes (or renames into place when the live directory is the one missing).

On S3 there is no rename: the merged file is PUT (atomic), then the inputs are deleted, with a
journal under ``_archiver/`` so that a crash between the two is finished by :func:`repair`.
A reader that lists in that window (milliseconds, or until the next ``compact``/``scrape`` after
a crash) can see both sets; this is the documented S3 trade-off.

**Retention** removes whole date partitions, renaming each out of sight first locally.
**Corrupt files** (no Parquet footer, unreadable) are moved to ``<root>/_archiver/quarantine/``
with a warning naming them; nothing is silently dropped.
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

from archiver.errors import ConfigError, StorageError
from archiver.store import tables as schema
from archiver.store.archive import STATE_DIR, TABLES, TMP_PREFIX, TMP_SUFFIX, Archive, fsync_dir

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

#: Leftover temp files younger than this may belong to a writer still running.
STALE_AFTER = 300.0
#: Rows per compacted file: a day of one namespace of a big account stays one file, and a
#: file stays small enough for one Spark task and one DuckDB thread to read quickly.
MAX_ROWS_PER_FILE = 1 << 24
MARKER = "compacted.json"
QUARANTINE = "quarantine"
STAGING = "_compact-"
OLD = "_old-"
DELETING = "_deleting-"
JOURNAL = "compact-journal-"

#: Identity (dedup key) and sort order per table.
_KEYS: dict[str, tuple[str, ...]] = {
    "samples": ("series", "ts"),
    "scrapes": ("started", "scrape_id", "request", "attempt", "shard"),
    "descriptors": ("fetched", "name"),
}
_SCHEMAS = {"samples": schema.SAMPLES, "scrapes": schema.SCRAPES, "descriptors": schema.DESCRIPTORS}
_TIME = {"samples": "ts", "scrapes": "started", "descriptors": "fetched"}


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


@dataclass(frozen=True)
class Expired:
    """A date partition that retention removes (or would remove)."""

    table: str
    date: str
    path: str
    files: int
    bytes: int


# -- compaction ------------------------------------------------------------------------------


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
            for directory in _leaf_dirs(archive, table, day):
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
    if len(infos) == 1 and infos[0].base_name.startswith("compact-"):
        meta = _file_version(archive, infos[0].path)
        if meta == schema.SCHEMA_VERSION:
            result.skipped = True
            return result
    parts: list[pa.Table] = []
    used: list[pafs.FileInfo] = []
    for info in infos:
        try:
            parts.append(read_upgraded(archive, table, info.path))
        except _Corrupt as exc:
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
    options = _write_options(table)
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

    keys = list(_KEYS[table])
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


def _write_options(table: str) -> dict[str, Any]:
    from archiver.store.write import COMPACT_WRITE_OPTIONS

    if table == "samples":
        return dict(COMPACT_WRITE_OPTIONS)
    return {"compression": "zstd", "compression_level": 9}


def _chunks(table: str, data: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """(stem, rows) per output file: ``compact-<first ms>-<last ms>`` like store.py names."""
    import pyarrow.compute as pc

    version = {schema.SCHEMA_VERSION_KEY: str(schema.SCHEMA_VERSION)}
    for offset in range(0, max(data.num_rows, 1), MAX_ROWS_PER_FILE):
        piece = data.slice(offset, MAX_ROWS_PER_FILE)
        bounds = pc.min_max(piece.column(_TIME[table]).cast("int64"))
        lo, hi = bounds["min"].as_py() or 0, bounds["max"].as_py() or 0
        yield f"compact-{lo}-{hi}", piece.replace_schema_metadata(version)


def _verify(archive: Archive, table: str, paths: list[str], expected: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    back = pa.concat_tables(
        [pq.read_table(p, filesystem=archive.fs, schema=_SCHEMAS[table]) for p in paths]
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
            archive.write_parquet(staging, piece, stem=stem, **options)
            for stem, piece in _chunks(table, data)
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
        archive.write_parquet(directory, piece, stem=stem, **options)
        for stem, piece in _chunks(table, data)
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


# -- reading old and damaged files ------------------------------------------------------------


class _Corrupt(Exception):
    pass


def _file_version(archive: Archive, path: str) -> int | None:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path, filesystem=archive.fs).metadata or {}
    except (OSError, ValueError):
        return None
    try:
        return int(meta.get(schema.SCHEMA_VERSION_KEY, b"0"))
    except ValueError:
        return None


def read_upgraded(archive: Archive, table: str, path: str) -> pa.Table:
    """One stored file as the current schema, upgrading files of older schema versions.

    Files without a version (written before versions were stamped) count as version 0:
    columns are matched by name, timestamps cast to UTC milliseconds (naive ones taken as
    UTC), labels stored as a list of key/value structs become a map, and missing nullable
    columns are filled with nulls. ``archiver compact`` rewrites such files at the current
    version. A file from a newer archiver raises :class:`StorageError` (upgrade archiver).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        data = pq.read_table(path, filesystem=archive.fs)
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise _Corrupt(f"unreadable Parquet: {exc}") from exc
    meta = data.schema.metadata or {}
    try:
        version = int(meta.get(schema.SCHEMA_VERSION_KEY, b"0"))
    except ValueError as exc:
        raise _Corrupt("unreadable schema version in the file metadata") from exc
    if version > schema.SCHEMA_VERSION:
        raise StorageError(
            f"{path} was written by a newer archiver (schema version {version}, this one reads "
            f"up to {schema.SCHEMA_VERSION}): upgrade archiver"
        )
    target = _SCHEMAS[table]
    if version == schema.SCHEMA_VERSION and data.schema.remove_metadata().equals(target):
        return data
    columns = []
    for f in target:
        if f.name in data.column_names:
            columns.append(_upgrade_column(data.column(f.name), f.type, path, f.name))
        elif f.nullable:
            columns.append(pa.nulls(data.num_rows, f.type))
        else:
            raise _Corrupt(
                f"column {f.name!r} is missing and cannot be derived (schema version {version})"
            )
    return pa.Table.from_arrays(columns, schema=target)


def _upgrade_column(column: Any, target: Any, path: str, name: str) -> Any:
    import pyarrow as pa

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if column.type == target:
        return column
    try:
        if pa.types.is_timestamp(target) and pa.types.is_timestamp(column.type):
            if column.type.tz is None:
                column = column.cast(pa.timestamp(column.type.unit, tz="UTC"))
            return column.cast(target, safe=False)
        listed = pa.types.is_list(column.type) or pa.types.is_large_list(column.type)
        if pa.types.is_map(target) and listed:
            entries = column.flatten()
            return pa.MapArray.from_arrays(
                column.offsets.cast(pa.int32()),
                entries.field("key").cast(pa.string()),
                entries.field("value").cast(pa.string()),
                type=target,
            )
        return column.cast(target)
    except (pa.ArrowException, KeyError) as exc:
        raise _Corrupt(f"column {name!r} of type {column.type} cannot become {target}") from exc


def quarantine(archive: Archive, path: str, reason: str) -> str:
    """Move a damaged file to ``<root>/_archiver/quarantine/<same relative path>``, warn."""
    relative = path[len(archive.base) + 1 :]
    target = archive.path(STATE_DIR, QUARANTINE, relative)
    try:
        if archive.is_local:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.exists(target):
                target = f"{target}.{uuid.uuid4().hex[:8]}"
            os.replace(path, target)
        else:
            archive.fs.move(path, target)
    except OSError as exc:
        raise StorageError(f"cannot move damaged file {path} aside: {exc}") from exc
    log.warning("moved damaged file %s to %s (%s)", path, target, reason)
    return target


# -- retention -------------------------------------------------------------------------------


def retention(
    archive: Archive,
    keep_days: int,
    *,
    today: date,
    dry_run: bool = True,
    lock_timeout: float = 60.0,
) -> list[Expired]:
    """The date partitions older than the last ``keep_days`` days (today included); removes
    them unless ``dry_run``. Only whole ``date=`` partitions ever go; ``_archiver/`` stays.

    >>> retention(archive, 7, today=date(2025, 3, 10))   # doctest: +SKIP
    [Expired(table='samples', date='2025-03-03', ...), ...]
    """
    import pyarrow.fs as pafs

    if keep_days < 1:
        raise ConfigError(f"--keep-days must be 1 or more, not {keep_days}")
    cutoff = (today - timedelta(days=keep_days)).isoformat()
    expired = []
    for table in TABLES:
        for day in archive.partitions(table):
            if day > cutoff:
                continue
            path = archive.path(table, f"date={day}")
            try:
                infos = archive.fs.get_file_info(pafs.FileSelector(path, recursive=True))
            except FileNotFoundError:
                continue
            files = [i for i in infos if i.type == pafs.FileType.File]
            expired.append(Expired(table, day, path, len(files), sum(i.size or 0 for i in files)))
    if dry_run or not expired:
        return expired
    with archive.lock("write", timeout=lock_timeout):
        for item in expired:
            _remove_partition(archive, item.path)
            log.info("retention removed %s (%d files)", item.path, item.files)
    return expired


def _remove_partition(archive: Archive, path: str) -> None:
    try:
        if archive.is_local:
            parent, name = path.rsplit("/", 1)
            # Out of every reader's sight in one rename, then deleted at leisure; a crash in
            # the rmtree leaves a hidden _deleting-* directory that repair() finishes.
            hidden = f"{parent}/{DELETING}{uuid.uuid4().hex[:12]}-{name}"
            os.rename(path, hidden)
            fsync_dir(parent)
            shutil.rmtree(hidden)
        else:
            archive.fs.delete_dir(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError(f"cannot remove {path}: {exc.strerror or exc}") from exc


# -- repair ----------------------------------------------------------------------------------


def repair(
    archive: Archive,
    *,
    clock: Callable[[], float] = time.time,
    older_than: float = STALE_AFTER,
    lock_timeout: float = 60.0,
) -> list[str]:
    """Clean up after crashed processes; returns what it removed or restored.

    Under the write lock (so no compaction or retention is running): unfinished compaction
    swaps are completed or undone, half-deleted partitions finished, S3 compaction journals
    rolled forward or back. Temp files (``_tmp-*.partial``) older than ``older_than`` seconds
    are deleted: younger ones may belong to a writer of the scrape log that is still running.
    Locks need no repair: they are OS file locks, released when their holder dies.
    """
    done: list[str] = []
    with archive.lock("write", timeout=lock_timeout):
        if archive.is_local:
            for parent in _parents(archive):
                done += _repair_dir(parent)
        else:
            done += _repair_journals(archive)
        done += _remove_stale_temps(archive, clock() - older_than)
    for item in done:
        log.warning("repaired leftover of an interrupted run: %s", item)
    return done


def _parents(archive: Archive) -> Iterator[str]:
    for table in TABLES:
        root = archive.path(table)
        if not os.path.isdir(root):
            continue
        yield root
        if table == "samples":
            for entry in os.scandir(root):
                if entry.is_dir() and entry.name.startswith("date="):
                    yield entry.path


def _repair_dir(parent: str) -> list[str]:
    done = []
    for entry in sorted(os.scandir(parent), key=lambda e: e.name):
        if not entry.is_dir():
            continue
        name = entry.name
        if name.startswith(DELETING):
            shutil.rmtree(entry.path, ignore_errors=True)
            done.append(entry.path)
        elif name.startswith((STAGING, OLD)):
            _, token, live_name = name.split("-", 2)
            live = f"{parent}/{live_name}"
            old = f"{parent}/{OLD}{token}-{live_name}"
            staged = f"{parent}/{STAGING}{token}-{live_name}"
            if not os.path.exists(live) and os.path.isdir(old):
                # Only the two-rename fallback leaves the partition missing, and only after
                # the merged set was verified: put it in place (or the inputs, if it is gone).
                source = staged if os.path.isdir(staged) else old
                os.rename(source, live)
                done.append(f"{source} -> {live}")
            if os.path.isdir(entry.path):
                shutil.rmtree(entry.path, ignore_errors=True)
                done.append(entry.path)
    return done


def _repair_journals(archive: Archive) -> list[str]:
    import pyarrow.fs as pafs

    done: list[str] = []
    try:
        infos = archive.fs.get_file_info(pafs.FileSelector(archive.path(STATE_DIR)))
    except FileNotFoundError:
        return done
    for info in infos:
        if not (info.base_name.startswith(JOURNAL) and info.base_name.endswith(".json")):
            continue
        raw = archive.read_state(info.base_name)
        entry = json.loads(raw) if raw else {}
        inputs = list(entry.get("inputs") or [])
        outputs = entry.get("outputs")
        if outputs is not None:  # outputs verified: finish deleting the inputs
            archive.remove(inputs)
            done += inputs
        elif inputs:  # outputs unfinished: drop the compact-* files that were not inputs
            directory = inputs[0].rsplit("/", 1)[0]
            extra = [
                p
                for p in archive.files_in(directory)
                if p not in inputs and p.rsplit("/", 1)[1].startswith("compact-")
            ]
            archive.remove(extra)
            done += extra
        archive.remove([info.path])
    return done


def _remove_stale_temps(archive: Archive, before: float) -> list[str]:
    import pyarrow.fs as pafs

    done = []
    candidates = list(archive.stale_temp_files())
    try:
        state = archive.fs.get_file_info(pafs.FileSelector(archive.path(STATE_DIR)))
    except FileNotFoundError:
        state = []
    candidates += [i.path for i in state if i.base_name.endswith(TMP_SUFFIX)]
    for info in archive.fs.get_file_info(candidates):
        if info.type != pafs.FileType.File:
            continue
        if not (info.base_name.startswith(TMP_PREFIX) or info.base_name.endswith(TMP_SUFFIX)):
            continue
        if info.mtime is not None and info.mtime.timestamp() > before:
            continue
        archive.remove([info.path])
        done.append(info.path)
    return done


# -- helpers ---------------------------------------------------------------------------------


def _leaf_dirs(archive: Archive, table: str, day: str) -> list[str]:
    """The directories holding a day's files: one per namespace for samples."""
    import pyarrow.fs as pafs

    base = archive.path(table, f"date={day}")
    if table != "samples":
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


def _read_marker(archive: Archive) -> str | None:
    raw = archive.read_state(MARKER)
    if not raw:
        return None
    try:
        through = json.loads(raw).get("through")
    except (ValueError, AttributeError):
        return None
    return through if isinstance(through, str) else None
