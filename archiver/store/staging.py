"""A merge's inputs staged as local files in its work folder, in the order whose first copy of
a key wins: hard links on local disk, downloads from S3, upgraded copies of older schema
versions; a damaged file is quarantined instead (:mod:`archiver.store.upgrade`)."""

from __future__ import annotations

import os
import shutil
from typing import Any

from archiver.errors import StorageError
from archiver.store import tables as schema
from archiver.store.archive import Archive
from archiver.store.swap import Work
from archiver.store.upgrade import Corrupt, quarantine, read_upgraded


def staged_name(work: Work, position: int) -> str:
    """The local path of the input at ``position``: names sort in the inputs' order."""
    return f"{work.inputs}/{position:08d}.parquet"


def stage_file(archive: Archive, path: str, staged: str) -> None:
    """``path`` as the local file ``staged``, unchanged: a hard link, or a download from S3."""
    if archive.is_local:
        os.link(path, staged)
        return
    with archive.fs.open_input_stream(path) as src, open(staged, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 22)


def stage_inputs(
    archive: Archive, table: str, infos: list[Any], work: Work, quarantined: list[str]
) -> list[Any]:
    """Stage each readable input of ``table`` (``infos``: pyarrow file infos) in the current
    schema; damaged files are quarantined and named in ``quarantined``. Returns the infos used."""
    import pyarrow.parquet as pq

    target = schema.TABLES[table].schema
    used = []
    for position, info in enumerate(infos):
        staged = staged_name(work, position)
        try:
            try:
                stored = pq.read_schema(info.path, filesystem=archive.fs)
            except (OSError, ValueError) as exc:
                raise Corrupt(f"unreadable Parquet: {exc}") from exc
            version = (stored.metadata or {}).get(schema.SCHEMA_VERSION_KEY)
            current = version == str(schema.SCHEMA_VERSION).encode()
            if current and stored.remove_metadata().equals(target):
                stage_file(archive, info.path, staged)
            else:
                pq.write_table(read_upgraded(archive, table, info.path), staged)
        except Corrupt as exc:
            quarantined.append(quarantine(archive, info.path, str(exc)))
            continue
        except OSError as exc:
            raise StorageError(f"cannot compact {info.path}: {exc.strerror or exc}") from exc
        used.append(info)
    return used
