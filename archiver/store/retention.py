"""Retention: whole date partitions older than N days go, out of every reader's sight first.

>>> gone = retention(archive, 30, today=date.today(), dry_run=True)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from archiver.errors import ConfigError, StorageError
from archiver.store import tables
from archiver.store.archive import DELETING_DIR, STATE_DIR, Archive, fsync_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Expired:
    """A date partition that retention removes (or would remove)."""

    table: str
    date: str
    path: str
    files: int
    bytes: int


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
    for table in tables.TABLES:
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
            # Out of every reader's sight in one rename, into _archiver/deleting/ where no
            # `<table>/**/*.parquet` glob reaches (beside the partition it would break a Hive
            # read while it lasts), then deleted at leisure; a crash in the rmtree leaves it
            # to repair().
            trash = archive.path(STATE_DIR, DELETING_DIR)
            os.makedirs(trash, exist_ok=True)
            hidden = f"{trash}/{uuid.uuid4().hex[:12]}-{parent.rsplit('/', 1)[1]}-{name}"
            os.rename(path, hidden)
            fsync_dir(parent)
            fsync_dir(trash)
            shutil.rmtree(hidden)
        else:
            archive.fs.delete_dir(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError(f"cannot remove {path}: {exc.strerror or exc}") from exc
