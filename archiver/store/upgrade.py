"""Reading stored files as the current schema: older versions upgraded, damaged ones set aside.

Files without a version (written before versions were stamped) count as version 0 and are
upgraded on read; ``archiver compact`` rewrites them at the current version. **Corrupt files**
(no Parquet footer, unreadable) are moved to ``<root>/_archiver/quarantine/`` with a warning
naming them; nothing is silently dropped.
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import TYPE_CHECKING, Any

from archiver.errors import StorageError
from archiver.store import tables as schema
from archiver.store.archive import STATE_DIR, Archive

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

QUARANTINE = "quarantine"


class Corrupt(Exception):
    """A stored file that cannot be read as its table (the message says why)."""


def file_version(archive: Archive, path: str) -> int | None:
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
        raise Corrupt(f"unreadable Parquet: {exc}") from exc
    meta = data.schema.metadata or {}
    try:
        version = int(meta.get(schema.SCHEMA_VERSION_KEY, b"0"))
    except ValueError as exc:
        raise Corrupt("unreadable schema version in the file metadata") from exc
    if version > schema.SCHEMA_VERSION:
        raise StorageError(
            f"{path} was written by a newer archiver (schema version {version}, this one reads "
            f"up to {schema.SCHEMA_VERSION}): upgrade archiver"
        )
    target = schema.TABLES[table].schema
    if version == schema.SCHEMA_VERSION and data.schema.remove_metadata().equals(target):
        return data
    columns = []
    for f in target:
        if f.name in data.column_names:
            columns.append(_upgrade_column(data.column(f.name), f.type, path, f.name))
        elif f.nullable:
            columns.append(pa.nulls(data.num_rows, f.type))
        else:
            raise Corrupt(
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
        raise Corrupt(f"column {name!r} of type {column.type} cannot become {target}") from exc


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
