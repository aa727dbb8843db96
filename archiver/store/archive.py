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
import functools
import importlib
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import filelock

from archiver.errors import ConfigError, StorageError
from archiver.store import tables

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
DELETING = "_deleting-"
JOURNAL = "compact-journal-"
#: Hive's name for a partition whose value is null or empty (Spark and DuckDB read it as NULL).
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"

# Characters that stay literal in a partition value; everything else is percent-encoded as
# UTF-8, which DuckDB, polars and Spark all decode back when they read the Hive path.
_SAFE = "-_"


#: The longest partition directory name (``namespace=`` included) most filesystems allow.
NAME_MAX = 255
#: Marks a name too long to store even compactly: ``~<hash>~<head of the name>``.
_HASHED = "~"


def escape_partition(value: str | None, key: str = "namespace") -> str:
    """Encode a partition value so that it is one harmless path segment of bounded length.

    Percent-encoding (UTF-8) first. A name whose encoding would make ``<key>=<value>`` longer
    than ``NAME_MAX`` bytes (60 Cyrillic letters do) keeps its printable non-ASCII characters as
    UTF-8 instead, which reads back the same through DuckDB, polars and Spark: any printable name
    of up to 61 characters fits. A name too long
    even so is stored under ``~<sha256 prefix>~<its head>``: bounded, distinct, and its rows'
    ``temporal_namespace`` label still holds the full name.

    >>> escape_partition("prod.acme1")
    'prod.acme1'
    >>> escape_partition("../etc/passwd")
    '%2E.%2Fetc%2Fpasswd'
    >>> escape_partition("пространство" * 5 + ".a1") == "пространство" * 5 + ".a1"
    True
    """
    if not value:
        return NULL_PARTITION
    room = NAME_MAX - len(key) - 1
    escaped = _guard(quote(value, safe=_SAFE))
    if len(escaped) <= room:
        return escaped
    compact = _guard("".join(_compact(ch) for ch in value))
    if len(compact.encode()) <= room:
        return compact
    import hashlib

    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    head = ""
    for ch in value[:100]:  # a readable head, whole characters only, ~100 bytes at most
        if len((head + _compact(ch)).encode()) > 100:
            break
        head += _compact(ch)
    return f"{_HASHED}{digest}{_HASHED}{head}"


def _compact(ch: str) -> str:
    # Printable non-ASCII stays literal: at most 4 UTF-8 bytes instead of up to 12 escaped, and
    # never "/" or "." (ASCII, still escaped). Controls and invisible formatting stay escaped.
    if not ch.isascii() and ch.isprintable():
        return ch
    return quote(ch, safe=_SAFE)


def _guard(escaped: str) -> str:
    # Dots are safe inside a name, but a leading one makes ".", ".." or a hidden directory.
    if escaped.startswith("."):
        escaped = "%2E" + escaped[1:]
    if escaped == NULL_PARTITION:  # a real namespace spelled like Hive's null marker
        escaped = "%5F" + escaped[1:]
    return escaped


def unescape_partition(segment: str) -> str | None:
    """Inverse of :func:`escape_partition` (a hashed name comes back as its directory name)."""
    return None if segment == NULL_PARTITION else unquote(segment)


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
        (:func:`s3_credentials_problem`); the archive reads no environment itself.
        """
        import pyarrow.fs as pafs

        if _is_s3(uri):
            bucket_prefix = uri[len("s3://") :].strip("/")
            if not bucket_prefix:
                raise ConfigError("the S3 archive needs a bucket: use s3://bucket/prefix")
            fs = _s3_filesystem(s3_endpoint, s3_problem)
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
        import pyarrow.fs as pafs

        root = self.path(table, subdir) if subdir else self.path(table)
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(root, recursive=True))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError(f"cannot list {root}: {exc}") from exc
        # Hidden directories (a compaction's staging area, a partition being deleted) are out
        # of sight for every reader, the way Spark and Hive skip names starting with _ or .
        return sorted(
            i.path
            for i in infos
            if i.type == pafs.FileType.File
            and i.base_name.endswith(".parquet")
            and not any(part.startswith(("_", ".")) for part in i.path[len(root) + 1 :].split("/"))
        )

    def files_in(self, directory: str) -> list[str]:
        """The finished Parquet files directly inside ``directory`` (none if it is missing)."""
        import pyarrow.fs as pafs

        try:
            infos = self.fs.get_file_info(pafs.FileSelector(directory))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError(f"cannot list {directory}: {exc}") from exc
        return sorted(
            i.path
            for i in infos
            if i.type == pafs.FileType.File
            and i.base_name.endswith(".parquet")
            and not i.base_name.startswith(("_", "."))
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


#: Any one of these tells the AWS SDK where credentials come from.
_AWS_CREDENTIAL_SOURCES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def s3_credentials_problem(env: Mapping[str, str], home: str) -> str | None:
    """What to set when no S3 credentials are configured (None when some source exists).

    Without this check the AWS SDK falls back to instance metadata (seconds of timeouts off
    EC2) and then to unsigned requests, which fail much later with a bare 403.
    """
    if env.get("AWS_ACCESS_KEY_ID") and not env.get("AWS_SECRET_ACCESS_KEY"):
        return "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both"
    if any(env.get(name) for name in _AWS_CREDENTIAL_SOURCES):
        return None
    shared = [
        env.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials"),
        env.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config"),
    ]
    if any(os.path.isfile(p) for p in shared):
        return None
    # An EC2 instance role is only asked for when the user says the metadata service is there:
    # elsewhere asking it costs timeouts (and traffic to an address that is not ours).
    if env.get("AWS_EC2_METADATA_DISABLED", "").strip().lower() == "false":
        return None
    return (
        "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, "
        "or ~/.aws/credentials; on EC2 with an instance role, AWS_EC2_METADATA_DISABLED=false); "
        "for an S3-compatible server also set AWS_ENDPOINT_URL_S3 (or ARCHIVER_S3_ENDPOINT)"
    )


def _s3_filesystem(endpoint: str | None, problem: str | None) -> pafs.FileSystem:
    import pyarrow.fs as pafs

    # The AWS SDK inside pyarrow reads the credential variables itself; config checked them
    # first, which turns a late, vague failure into a configuration error saying what to set.
    if problem:
        raise ConfigError(problem)
    kwargs: dict[str, object] = {}
    if endpoint:
        kwargs["endpoint_override"] = endpoint
        kwargs["scheme"] = "http" if endpoint.startswith("http://") else "https"
    try:
        return pafs.S3FileSystem(**kwargs)
    except OSError as exc:
        raise ConfigError(f"cannot set up S3: {exc}") from exc


@functools.cache
def _s3_client(endpoint: str | None) -> Any:
    """A boto3 S3 client (for the locks of an S3 archive; boto3 comes with ``archiver[s3]``)."""
    try:
        boto3 = importlib.import_module("boto3")
    except ImportError:
        raise ConfigError(
            "an s3:// archive needs boto3 for its locks: pip install 'archiver[s3]'"
        ) from None
    # Like pyarrow's S3 filesystem, boto3 finds the credentials (and region) itself.
    region = boto3.session.Session().region_name or "us-east-1"
    return boto3.client("s3", endpoint_url=endpoint, region_name=region)
