"""Minutes fetched but not yet stored: the scrape's store step, with a spool for when it cannot.

A scrape holds the fetched minute in memory and stores it under the archive's write lock. When
that lock stays taken past the wait (a long compaction, a stuck process), the minute is not
dropped: it goes to ``<archive>/_archiver/spool/`` (no ``samples/**`` glob reaches it) and the
next scrape stores it first. A partition that cannot be written (a full disk, a name the
filesystem refuses) costs only its own namespace; the others are stored.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import filelock

from archiver.errors import StorageError
from archiver.store import write as store
from archiver.store.archive import STATE_DIR, Archive

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)

SPOOL = "spool"


@dataclass
class Stored:
    """What the store step did."""

    new: int = 0
    spooled: int = 0  # samples set aside for the next run (the write lock stayed busy)
    failed: list[tuple[str | None, str]] = field(default_factory=list)  # (namespace, error)
    unspooled: int = 0  # samples an earlier run had set aside, stored now

    def problem(self) -> str:
        """One line for the scrape log; empty when everything was stored."""
        parts = [f"namespace {ns!r}: {error}" for ns, error in self.failed]
        if parts:
            parts.append("the other namespaces were stored")
        if self.spooled:
            parts.append(
                f"the archive's write lock stayed busy: {self.spooled} samples were spooled "
                "under _archiver/spool/ and the next scrape stores them"
            )
        return "; ".join(parts)


def store_frames(archive: Archive, frames: list[pl.DataFrame], *, lock_wait: float) -> Stored:
    """Store the fetched frames (and anything spooled before) under the write lock."""
    import polars as pl

    result = Stored()
    spooled = _spooled(archive)
    if not frames and not spooled:
        return result
    earlier = [_read(archive, path) for path in spooled]
    samples = pl.concat([*earlier, *frames], how="vertical_relaxed")
    try:
        with archive.lock("write", timeout=lock_wait):
            result.new = store.write_samples(archive, samples, failed=result.failed)
    except filelock.Timeout:
        fresh = pl.concat(frames, how="vertical_relaxed") if frames else None
        if fresh is not None and fresh.height:
            _write(archive, fresh)
            result.spooled = fresh.height
        return result
    archive.remove(spooled)
    result.unspooled = sum(f.height for f in earlier)
    return result


def _dir(archive: Archive) -> str:
    return archive.path(STATE_DIR, SPOOL)


def _spooled(archive: Archive) -> list[str]:
    import pyarrow.fs as pafs

    try:
        infos = archive.fs.get_file_info(pafs.FileSelector(_dir(archive)))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StorageError(f"cannot list {_dir(archive)}: {exc}") from exc
    return sorted(i.path for i in infos if i.base_name.endswith(".parquet"))


def _read(archive: Archive, path: str) -> pl.DataFrame:
    import polars as pl

    try:
        with archive.fs.open_input_file(path) as fh:
            return pl.read_parquet(fh)
    except OSError as exc:
        raise StorageError(f"cannot read the spooled minute {path}: {exc}") from exc


def _write(archive: Archive, frame: pl.DataFrame) -> None:
    """One spool file, whole or not at all (temp name, then rename)."""
    directory = _dir(archive)
    name = f"{uuid.uuid4().hex}.parquet"
    tmp = f"{directory}/_tmp-{name}.partial"
    try:
        archive.fs.create_dir(directory, recursive=True)
        with archive.fs.open_output_stream(tmp) as fh:
            frame.write_parquet(fh)
        archive.fs.move(tmp, f"{directory}/{name}")
    except OSError as exc:
        raise StorageError(f"cannot spool the fetched minute to {directory}: {exc}") from exc
    log.warning("the write lock stayed busy: spooled %d samples for the next scrape", frame.height)
