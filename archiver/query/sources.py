"""Where DuckDB reads each table of an archive from: Hive globs, and the files left out.

A local archive's tables are ``read_parquet`` views over globs such as
``samples/date=*/namespace=*/[!_.]*.parquet``: defining them lists no directory and opens no
file but the first one a view binds, and DuckDB skips whole files on the Hive columns. The
glob never matches the writer's temporary files (``_tmp-*.partial``) nor names starting with
``_`` or ``.`` (staging areas, files being deleted). An S3 archive is read through a pyarrow
dataset over one listing of the table (no file is opened before a query needs it).

A file that is not whole Parquet is only found when a query reaches it; :class:`Sources`
then leaves it out (the table switches from its glob to the listing minus the skipped files)
and the query runs again.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from archiver.errors import ConfigError, StorageError
from archiver.sqlfiles import load_sql
from archiver.store import tables
from archiver.store.archive import STATE_DIR, Archive

if TYPE_CHECKING:
    import duckdb

#: The tables a connection reads (scrapes write the first three; compaction the rollups).
TABLES = tuple(tables.TABLES)
#: Sets the variable ``archiver_<table>_files`` that ``sql/source_<table>.sql`` reads.
_SET_FILES = {
    "samples": "SET VARIABLE archiver_samples_files = $files",
    "scrapes": "SET VARIABLE archiver_scrapes_files = $files",
    "descriptors": "SET VARIABLE archiver_descriptors_files = $files",
    "rollups": "SET VARIABLE archiver_rollups_files = $files",
}
_MAGIC = b"PAR1"


def glob(archive: Archive, table: str) -> str:
    """The glob of ``table``'s finished files, e.g. ``<root>/scrapes/date=*/[!_.]*.parquet``."""
    levels = [f"{column}=*" for column in tables.TABLES[table].partitions]
    return archive.path(table, *levels, "[!_.]*.parquet")


def has_files(archive: Archive, table: str) -> bool:
    """Whether ``table`` holds at least one finished file (stops at the first one found)."""
    if not archive.is_local:
        return bool(archive.files(table))
    import glob as globbing

    return next(globbing.iglob(glob(archive, table)), None) is not None


def limit_memory(
    con: duckdb.DuckDBPyConnection,
    archive: Archive,
    memory_limit: str | None,
    temp_directory: str | None,
) -> None:
    """``SET memory_limit`` and the spill folder, or :class:`ConfigError` naming the setting."""
    import duckdb

    if temp_directory is None:
        # DuckDB spills to local disk only: for S3, a folder of this host per archive
        local = os.path.join(tempfile.gettempdir(), "archiver-duckdb", quote(archive.uri, safe=""))
        temp_directory = local
        if archive.is_local:
            temp_directory = os.path.join(archive.base, STATE_DIR, "tmp", "duckdb")
        # DuckDB creates the last folder only, when it first spills
        try:
            os.makedirs(os.path.dirname(temp_directory), exist_ok=True)
        except OSError:  # a read-only archive: spill on this host instead
            temp_directory = local
            os.makedirs(os.path.dirname(temp_directory), exist_ok=True)
    con.execute("SET temp_directory = $dir", {"dir": temp_directory})
    if memory_limit is None:
        from archiver.config import Settings
        from archiver.config import memory_limit as default_limit

        memory_limit = default_limit(Settings())
    try:
        con.execute("SET memory_limit = $limit", {"limit": memory_limit})
    except duckdb.Error as exc:
        raise ConfigError(
            f"ARCHIVER_MEMORY_LIMIT={memory_limit!r} is not a memory size DuckDB can use "
            f"({str(exc).splitlines()[0]}): give one such as 2GB or 512MB"
        ) from exc


@dataclass
class Sources:
    """The per-connection state of ``_<table>_source``: which tables exist, which files skip."""

    archive: Archive
    present: dict[str, bool]
    skipped: dict[str, list[str]] = field(default_factory=dict)

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """Define ``_<table>_source`` for every table, and ``archive_partitions``."""
        for table in TABLES:
            files: str | list[str] = glob(self.archive, table)
            if table in self.skipped:
                skipped = set(self.skipped[table])
                files = [f for f in self.archive.files(table) if f not in skipped]
            if self.present[table] and files and self.archive.is_local:
                con.execute(_SET_FILES[table], {"files": files})
                con.execute(load_sql(f"source_{table}.sql"))
            else:
                con.register(f"_{table}_source", self._dataset(table))
        con.execute(
            "SET VARIABLE rollups_through = CAST($date AS DATE)",
            {"date": rolled_through(self.archive)},
        )
        if self.archive.is_local:
            con.execute("SET VARIABLE archiver_root = $root", {"root": self.archive.base + "/"})
            con.execute(load_sql("partitions.sql"))
        else:
            con.register("archive_partitions", self._partitions())

    def skip(self, path: str) -> str | None:
        """Leave ``path`` out if it is an archive file that is not whole Parquet.

        Returns why it was left out, or None when the file is whole (the error was another).
        """
        table = self._table_of(path)
        if table is None or path in self.skipped.get(table, []):
            return None
        problem = tail_problem(self.archive, path)
        if problem is not None:
            self.skipped.setdefault(table, []).append(path)
        return problem

    def _table_of(self, path: str) -> str | None:
        for table in TABLES:
            if path.startswith(self.archive.path(table) + "/"):
                return table
        return None

    def _dataset(self, table: str) -> Any:
        """A pyarrow dataset (or an empty table) with the stored schema plus the Hive columns."""
        import pyarrow as pa
        import pyarrow.dataset as ds

        definition = tables.TABLES[table]
        types = {"date": pa.date32(), "namespace": pa.string()}
        hive = [pa.field(name, types[name]) for name in definition.partitions]
        full = pa.schema([*definition.schema, *hive])
        skipped = set(self.skipped.get(table, []))
        listed = self.archive.files(table) if self.present[table] else []
        files = [f for f in listed if f not in skipped]
        if not files:
            return full.empty_table()
        # DuckDB pushes filters on date/namespace into the dataset scan, which skips the files.
        return ds.dataset(
            files,
            schema=full,
            format="parquet",
            filesystem=self.archive.fs,
            partitioning=ds.partitioning(pa.schema(hive), flavor="hive"),
            partition_base_dir=self.archive.path(table),
        )

    def _partitions(self) -> Any:
        """``archive_partitions`` from one listing of each table (S3)."""
        import datetime as dt

        import pyarrow as pa

        from archiver.store.partitions import unescape_partition

        counts: dict[tuple[str, str, str | None], int] = {}
        for table in TABLES:
            prefix = self.archive.path(table) + "/"
            for path in self.archive.files(table) if self.present[table] else []:
                segments = dict(s.partition("=")[::2] for s in path[len(prefix) :].split("/")[:-1])
                if "date" in segments:
                    ns = segments.get("namespace")
                    key = (table, segments["date"], None if ns is None else unescape_partition(ns))
                    counts[key] = counts.get(key, 0) + 1
        rows = sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or ""))
        return pa.table(
            {
                "tbl": pa.array([k[0] for k, _ in rows], pa.string()),
                "date": pa.array([dt.date.fromisoformat(k[1]) for k, _ in rows], pa.date32()),
                "namespace": pa.array([k[2] for k, _ in rows], pa.string()),
                "files": pa.array([n for _, n in rows], pa.int64()),
            }
        )


def rolled_through(archive: Archive, lookback: int = 3) -> str | None:
    """The last date whose every sample partition has its rollups (None: no such date).

    Compaction rolls a closed day up one namespace at a time: a date counts once the rollups
    hold each namespace the samples hold. Only the last ``lookback`` rolled dates are checked
    (two directory listings each); older ones were complete when newer ones were written.
    """
    import pyarrow.fs as pafs

    def namespaces(table: str, date: str) -> set[str]:
        try:
            infos = archive.fs.get_file_info(pafs.FileSelector(archive.path(table, f"date={date}")))
        except FileNotFoundError:
            return set()
        return {
            i.base_name
            for i in infos
            if i.type == pafs.FileType.Directory and i.base_name.startswith("namespace=")
        }

    for date in reversed(archive.partitions("rollups")[-lookback:]):
        if namespaces("samples", date) <= namespaces("rollups", date):
            return date
    return None


def tail_problem(archive: Archive, path: str) -> str | None:
    """Why ``path`` cannot be a whole Parquet file, or None.

    A complete Parquet file ends with a 4-byte footer length and the magic ``PAR1``, and the
    footer fits in the file: 8 bytes read, only for a file a query failed on.
    """
    try:
        if archive.is_local:
            with open(path, "rb") as fh:
                fh.seek(0, 2)
                size = fh.tell()
                if size < 12:
                    return "too short to be Parquet"
                fh.seek(size - 8)
                tail = fh.read(8)
        else:
            with archive.fs.open_input_file(path) as fh:
                size = fh.size()
                if size < 12:
                    return "too short to be Parquet"
                tail = fh.read_at(8, size - 8)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc
    if tail[4:] != _MAGIC:
        return "no Parquet footer"
    if int.from_bytes(tail[:4], "little") > size - 12:
        return "footer longer than the file"
    return None
