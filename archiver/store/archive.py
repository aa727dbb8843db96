"""Where things live in an archive, on local disk or S3, and how files get there atomically.

Layout (Hive partitions; what DuckDB, polars and Spark read as it lies)::

    <root>/samples/date=YYYY-MM-DD/namespace=<escaped>/*.parquet
    <root>/scrapes/date=YYYY-MM-DD/*.parquet
    <root>/descriptors/date=YYYY-MM-DD/*.parquet
    <root>/rollups/date=YYYY-MM-DD/namespace=<escaped>/*.parquet
    <root>/_archiver/            locks, request ledger, shard plan (never read as data)

What each table is (schema, key, partitions, file names) is defined in :mod:`archiver.store.tables`.

Temporary files are named ``_tmp-*.partial`` inside the target directory: no reader's
``*.parquet`` glob matches them, Spark skips names starting with ``_``, and the final rename is
atomic because it never crosses a filesystem.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import filelock

from archiver.errors import ConfigError, StorageError
from archiver.store import tables
from archiver.store.partitions import escape_partition as escape_partition
from archiver.store.partitions import unescape_partition as unescape_partition
from archiver.store.s3 import s3_client as _s3_client
from archiver.store.s3 import s3_filesystem

# escape_partition and unescape_partition (store/partitions.py) are re-exported: callers import
# them from here.

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

    from archiver.config import Settings
    from archiver.store.lease import LeaseLock

#: The tables scrapes write (what ``connect`` reads); ``tables.TABLES`` also has ``rollups``,
#: which compaction derives from samples.
TABLES = ("samples", "scrapes", "descriptors")
STATE_DIR = "_archiver"
TMP_PREFIX = "_tmp-"
TMP_SUFFIX = ".partial"
#: Hidden names of work in progress (every reader skips names starting with ``_``).
STAGING = "_compact-"
OLD = "_old-"
DELETING = "_deleting-"  # the old place of a partition being deleted (repair still cleans it)
#: Where retention moves a partition before deleting it: under _archiver/, which no
#: ``<table>/**`` glob reaches.
DELETING_DIR = "deleting"
JOURNAL = "compact-journal-"


def _is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


@dataclass(frozen=True)
class Archive:
    """An archive root: a filesystem plus a base path inside it.

    ``Archive.open("./archive")`` or ``Archive.open("s3://bucket/prefix")``.
    """

    uri: str
    fs: pafs.FileSystem
    base: str
    #: fsync files and directories before a write counts as done (off only for throwaway
    #: archives such as the demo's and tests': a process crash loses nothing either way).
    durable: bool = True
    #: the S3-compatible endpoint of an s3:// archive (None: AWS)
    s3_endpoint: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Archive:
        """The archive the settings name."""
        return cls.open(
            settings.archive,
            s3_endpoint=settings.s3_endpoint,
            s3_problem=settings.s3_problem,
            durable=settings.fsync,
        )

    @classmethod
    def open(
        cls,
        uri: str,
        *,
        s3_endpoint: str | None = None,
        s3_problem: str | None = None,
        durable: bool = True,
    ) -> Archive:
        """Resolve ``uri`` (a local path or ``s3://bucket/prefix``) without touching it.

        ``s3_problem`` is what :func:`archiver.config.load` found missing in the S3 credentials
        (:func:`archiver.store.s3.s3_credentials_problem`); the archive reads no environment itself.
        """
        import pyarrow.fs as pafs

        if _is_s3(uri):
            bucket_prefix = uri[len("s3://") :].strip("/")
            if not bucket_prefix:
                raise ConfigError("the S3 archive needs a bucket: use s3://bucket/prefix")
            fs = s3_filesystem(s3_endpoint, s3_problem)
            _s3_client(s3_endpoint)  # its locks need boto3: say so before anything is done
            return cls(
                uri=uri.rstrip("/"),
                fs=fs,
                base=bucket_prefix,
                durable=durable,
                s3_endpoint=s3_endpoint,
            )
        if "://" in uri:
            raise ConfigError(
                f"unsupported archive location {uri!r}: use a local path or s3://bucket/prefix"
            )
        path = os.path.abspath(os.path.expanduser(uri))
        return cls(uri=path, fs=pafs.LocalFileSystem(), base=path, durable=durable)

    @property
    def is_local(self) -> bool:
        return not _is_s3(self.uri)

    def path(self, *parts: str) -> str:
        """The filesystem path of ``parts`` below the root."""
        return "/".join([self.base, *parts])

    def table_dir(self, table: str, date: str, namespace: str | None = None) -> str:
        """``<table>/date=<date>``, and ``/namespace=<escaped>`` below it for the tables
        partitioned by namespace."""
        parts = [table, f"date={date}"]
        if tables.TABLES[table].by_namespace:
            parts.append(f"namespace={escape_partition(namespace)}")
        return self.path(*parts)

    def exists(self) -> bool:
        """Whether anything has been archived here yet."""
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info([self.path(t) for t in tables.TABLES])
        return any(i.type == pafs.FileType.Directory for i in infos)

    def files(self, table: str, subdir: str = "") -> list[str]:
        """Every finished Parquet file of ``table`` (below ``subdir``), sorted."""
        return self._finished_files(self.path(table, subdir) if subdir else self.path(table))

    def files_in(self, directory: str) -> list[str]:
        """The finished Parquet files directly inside ``directory`` (none if it is missing)."""
        return self._finished_files(directory, recursive=False)

    def _finished_files(self, root: str, recursive: bool = True) -> list[str]:
        import pyarrow.fs as pafs

        try:
            infos = self.fs.get_file_info(pafs.FileSelector(root, recursive=recursive))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError(f"cannot list {root}: {exc}") from exc
        # Hidden names (a compaction's staging area, a partition being deleted, a temp file) are
        # out of sight for every reader, the way Spark and Hive skip names starting with _ or .
        return sorted(
            i.path
            for i in infos
            if i.type == pafs.FileType.File
            and i.base_name.endswith(".parquet")
            and not any(part.startswith(("_", ".")) for part in i.path[len(root) :].split("/"))
        )

    def lock(self, name: str, timeout: float = 10.0) -> filelock.BaseFileLock | LeaseLock:
        """An inter-process lock under ``_archiver/`` (``timeout`` seconds, -1 waits forever).

        Local: a file lock, ``_archiver/<name>.lock``. S3: a lease object,
        ``_archiver/locks/<name>``, taken with a conditional put (:mod:`archiver.store.lease`),
        so every machine using the archive sees it.
        """
        if self.is_local:
            return filelock.FileLock(self.state_path(f"{name}.lock"), timeout=timeout)
        from archiver.store.lease import LeaseLock

        bucket, _, key = self.state_path(f"locks/{name}").partition("/")
        return LeaseLock(_s3_client(self.s3_endpoint), bucket, key, timeout=timeout)

    def partitions(self, table: str) -> list[str]:
        """The date partitions of ``table`` (``YYYY-MM-DD``), sorted."""
        import pyarrow.fs as pafs

        try:
            infos = self.fs.get_file_info(pafs.FileSelector(self.path(table)))
        except FileNotFoundError:
            return []
        return sorted(
            i.base_name[len("date=") :]
            for i in infos
            if i.type == pafs.FileType.Directory
            and re.fullmatch(r"date=\d{4}-\d{2}-\d{2}", i.base_name)
        )

    def write_parquet(
        self,
        directory: str,
        table: pa.Table,
        *,
        name: str | None = None,
        stem: str | None = None,
        **options: object,
    ) -> str:
        """Write ``table`` as ``<directory>/<name>`` (a ``tables.make_filename``, or one made
        from ``stem``); readers see all or nothing.

        Locally the bytes go to a temp file in the same directory, are fsynced, then renamed; on
        S3 a single PUT is already atomic.
        """
        import pyarrow.parquet as pq

        if name is None:
            name = tables.make_filename(stem or "data")
        final = f"{directory}/{name}"
        try:
            self.fs.create_dir(directory, recursive=True)
            if not self.is_local:
                pq.write_table(table, final, filesystem=self.fs, **options)
                return final
            tmp = f"{directory}/{TMP_PREFIX}{name}{TMP_SUFFIX}"
            try:
                pq.write_table(table, tmp, **options)
                if self.durable:
                    _fsync(tmp)
                os.replace(tmp, final)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            if self.durable:
                fsync_dir(directory)
        except OSError as exc:
            raise StorageError(f"cannot write to {directory}: {exc.strerror or exc}") from exc
        return final

    def remove(self, paths: list[str]) -> None:
        """Delete files (used after their rows were rewritten elsewhere)."""
        for p in paths:
            with contextlib.suppress(FileNotFoundError):
                self.fs.delete_file(p)

    def stale_temp_files(self) -> Iterator[str]:
        """Temp files left behind by a process that died mid-write."""
        import pyarrow.fs as pafs

        for table in tables.TABLES:
            try:
                infos = self.fs.get_file_info(pafs.FileSelector(self.path(table), recursive=True))
            except FileNotFoundError:
                continue
            for i in infos:
                if i.type == pafs.FileType.File and i.base_name.startswith(TMP_PREFIX):
                    yield i.path

    def state_path(self, name: str) -> str:
        """The path of ``<root>/_archiver/<name>`` (created on demand for local archives)."""
        directory = self.path(STATE_DIR)
        if self.is_local:
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as exc:
                raise StorageError(
                    f"cannot create {directory}: {exc.strerror or exc}: the archive "
                    f"({self.uri}) must be a writable directory"
                ) from exc
        return f"{directory}/{name}"

    def read_state(self, name: str) -> bytes | None:
        """A small state file's bytes (ledger, shard plan), or None if it does not exist."""
        try:
            with self.fs.open_input_stream(self.state_path(name)) as fh:
                data: bytes = fh.read()
                return data
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read {self.state_path(name)}: {exc}") from exc

    def write_state(self, name: str, data: bytes) -> None:
        """Replace a small state file atomically (temp + rename locally, one PUT on S3)."""
        path = self.state_path(name)
        try:
            if not self.is_local:
                with self.fs.open_output_stream(path) as fh:
                    fh.write(data)
                return
            tmp = f"{path}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}"
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                if self.durable:
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str) -> None:
    """Make a rename inside ``path`` durable (ignored where the OS cannot)."""
    # A rename is durable only once its directory entry is; harmless where unsupported.
    with contextlib.suppress(OSError):
        _fsync(path)
