"""DuckDB over the archive: one connection, the archive's views, the report queries.

>>> con = connect("./archive")                                  # doctest: +SKIP
>>> run_sql(con, "SELECT metric, count(*) FROM samples GROUP BY ALL")   # doctest: +SKIP

Views (all defined in ``sql/*.sql``):

* ``samples(ts, metric, namespace, labels, value, series, date)``, ``scrapes``, ``descriptors``;
* the reports ``cardinality``, ``cardinality_drivers``, ``cardinality_contributors``,
  ``cardinality_headroom``, ``backlog``, ``backlog_trends``, ``gaps``, ``gaps_coverage``,
  ``gaps_scrapes``, parameterised by the variables ``since``, ``until`` (TIMESTAMPTZ, NULL =
  open), ``namespaces`` (VARCHAR[] of exact names, NULL = all) and ``point_cap``;
* ``archive_partitions(tbl, date, namespace, files)``: what the file listing holds.

The file list is taken when connecting: reconnect to see files written afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archiver.errors import EmptyArchiveError, QueryError, StorageError
from archiver.store.archive import TABLES, Archive, unescape_partition

if TYPE_CHECKING:
    import duckdb
    import polars as pl
    import pyarrow as pa

log = logging.getLogger(__name__)

#: Files that define views and macros, in the order they must run.
_DEFINITIONS = (
    "views.sql",
    "macros.sql",
    "window.sql",
    "cardinality.sql",
    "backlog.sql",
    "gaps.sql",
    "capacity.sql",
    "capacity_usage.sql",
    "capacity_summary.sql",
    "capacity_units.sql",
    "capacity_billable.sql",
    "capacity_series.sql",
    "capacity_labels.sql",
    "capacity_points.sql",
)
#: How each report variable is set (views.sql gives the defaults): with its type, so that a
#: None stays a typed NULL.
_SET_VARIABLE = {
    "since": "SET VARIABLE since = CAST($value AS TIMESTAMPTZ)",
    "until": "SET VARIABLE until = CAST($value AS TIMESTAMPTZ)",
    "namespaces": "SET VARIABLE namespaces = CAST($value AS VARCHAR[])",
    "point_cap": "SET VARIABLE point_cap = CAST($value AS BIGINT)",
    "top": "SET VARIABLE top = CAST($value AS BIGINT)",
    "bucket_seconds": "SET VARIABLE bucket_seconds = CAST($value AS BIGINT)",
    "warn_pct": "SET VARIABLE warn_pct = CAST($value AS DOUBLE)",
    "page_pct": "SET VARIABLE page_pct = CAST($value AS DOUBLE)",
    "actions_per_unit": "SET VARIABLE actions_per_unit = CAST($value AS BIGINT)",
    "optin": "SET VARIABLE optin = CAST($value AS VARCHAR[])",
}
_MAGIC = b"PAR1"


class CorruptFileWarning(UserWarning):
    """A ``.parquet`` file in the archive is not a whole Parquet file and was left out."""


def sql_dir() -> Path:
    """The directory holding the ``*.sql`` files (inside the wheel, or the repo's ``sql/``)."""
    from importlib import resources

    packaged = resources.files("archiver") / "sql"
    if packaged.is_dir():
        return Path(str(packaged))
    import archiver

    return Path(archiver.__file__).resolve().parent.parent / "sql"


@cache
def load_sql(name: str) -> str:
    """The text of ``sql/<name>``."""
    return (sql_dir() / name).read_text(encoding="utf-8")


def connect(archive: str | Archive, *, s3_endpoint: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the archive's views defined.

    Raises :class:`EmptyArchiveError` when nothing has been archived at ``archive`` yet. Files
    that end without the Parquet footer (a half-copied or truncated file) are left out with a
    :class:`CorruptFileWarning` naming each of them.
    """
    import duckdb

    arch = (
        archive if isinstance(archive, Archive) else Archive.open(archive, s3_endpoint=s3_endpoint)
    )
    if not arch.exists():
        raise EmptyArchiveError(
            f"no archive at {arch.uri} yet: run `archiver scrape` first, or point --archive "
            "(ARCHIVER_ARCHIVE) at an existing one"
        )
    files = {table: _healthy(arch, arch.files(table)) for table in TABLES}
    if not any(files.values()):
        raise EmptyArchiveError(
            f"the archive at {arch.uri} holds no data files yet: run `archiver scrape` first"
        )
    con = duckdb.connect(":memory:")
    try:
        # Partitions are UTC dates and reports bucket by UTC hours, whatever the host's zone.
        con.execute("SET TimeZone = 'UTC'")
        # Reports print their own output; a progress bar would interleave with it. Inside
        # Jupyter DuckDB refuses to change the setting (it wants ipywidgets): leave it there.
        with contextlib.suppress(duckdb.Error):
            con.execute("SET enable_progress_bar = false")
        for table in TABLES:
            _register_source(con, arch, table, files[table])
        con.register("archive_partitions", _partitions(arch, files))
        for name in _DEFINITIONS:
            con.execute(load_sql(name))
        from archiver.catalog import OPTIN_LABELS

        set_variables(con, optin=list(OPTIN_LABELS))
    except BaseException:
        con.close()
        raise
    return con


def run_sql(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None
) -> pl.DataFrame:
    """Run ``sql`` and return the result as a polars DataFrame.

    DuckDB's own errors become :class:`QueryError` with DuckDB's message.
    """
    import duckdb
    import polars as pl

    try:
        relation = con.sql(sql, params=dict(params) if params else None)
        if relation is None:  # a statement without a result set (SET, CREATE ...)
            return pl.DataFrame()
        table = relation.to_arrow_table()
    except duckdb.Error as exc:
        raise QueryError(_message(exc)) from exc
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def run_file(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None
) -> pl.DataFrame:
    """Run the query in ``sql/<name>`` with ``$name`` parameters."""
    return run_sql(con, load_sql(name), params)


def set_variables(con: duckdb.DuckDBPyConnection, **values: Any) -> None:
    """``SET VARIABLE name = value`` for each report variable (``since``, ``until``, ...).

    >>> set_variables(con, since=datetime(2025, 1, 1, tzinfo=UTC), top=5)  # doctest: +SKIP
    """
    import duckdb

    for name, value in values.items():
        if name not in _SET_VARIABLE:
            raise ValueError(f"no report variable {name!r}; known: {', '.join(_SET_VARIABLE)}")
        try:
            con.execute(_SET_VARIABLE[name], {"value": value})
        except duckdb.Error as exc:
            raise QueryError(_message(exc)) from exc


def read_view(
    con: duckdb.DuckDBPyConnection, view: str, variables: Mapping[str, Any]
) -> pl.DataFrame:
    """The rows of the report view ``view`` after setting ``variables`` on the connection.

    The library reads the same views an analyst queries: the variables stay set afterwards,
    so ``SELECT * FROM <view>`` in the same connection answers the same question.
    """
    import duckdb
    import polars as pl

    set_variables(con, **variables)
    try:
        table = con.view(view).to_arrow_table()
    except duckdb.Error as exc:
        raise QueryError(_message(exc)) from exc
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _message(exc: Exception) -> str:
    # DuckDB puts the useful part on the first lines; the rest is a caret diagram at best.
    text = str(exc).strip()
    return " ".join(line.strip() for line in text.splitlines()[:3] if line.strip())


def _healthy(archive: Archive, paths: Sequence[str]) -> list[str]:
    """``paths`` minus the files that cannot be whole Parquet files.

    A complete Parquet file ends with a 4-byte footer length and the magic ``PAR1``, and the
    footer fits in the file. Checking those 8 bytes costs one small read per file (~20 µs
    locally), where opening every footer with pyarrow would cost far more on a week of files.
    """
    good: list[str] = []
    for path in paths:
        problem = _tail_problem(archive, path)
        if problem is None:
            good.append(path)
        else:
            warnings.warn(
                f"ignoring {path}: {problem} (a half-written or damaged file; delete it or run "
                "`archiver compact`)",
                CorruptFileWarning,
                stacklevel=3,
            )
    return good


def _tail_problem(archive: Archive, path: str) -> str | None:
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
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc
    if tail[4:] != _MAGIC:
        return "no Parquet footer"
    if int.from_bytes(tail[:4], "little") > size - 12:
        return "footer longer than the file"
    return None


def _register_source(
    con: duckdb.DuckDBPyConnection, archive: Archive, table: str, files: list[str]
) -> None:
    """Define ``_<table>_source``: a read_parquet view locally, an Arrow dataset on S3."""
    if files and archive.is_local:
        con.execute(f"SET VARIABLE archiver_{table}_files = $files", {"files": files})
        con.execute(load_sql(f"source_{table}.sql"))
        return
    con.register(f"_{table}_source", _dataset(archive, table, files))


def _dataset(archive: Archive, table: str, files: list[str]) -> Any:
    """A pyarrow dataset (or an empty table) with the stored schema plus the Hive columns."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from archiver.store import tables as schema

    definition = schema.TABLES[table]
    types = {"date": pa.date32(), "namespace": pa.string()}
    hive = [pa.field(name, types[name]) for name in definition.partitions]
    full = pa.schema([*definition.schema, *hive])
    if not files:
        return full.empty_table()
    # DuckDB pushes filters on date/namespace into the dataset scan, which skips the files.
    return ds.dataset(
        files,
        schema=full,
        format="parquet",
        filesystem=archive.fs,
        partitioning=ds.partitioning(pa.schema(hive), flavor="hive"),
        partition_base_dir=archive.path(table),
    )


def _partitions(archive: Archive, files: Mapping[str, list[str]]) -> pa.Table:
    """One row per (table, date, namespace) partition with its file count, from the listing."""
    import pyarrow as pa

    counts: dict[tuple[str, str, str | None], int] = {}
    for table, paths in files.items():
        prefix = archive.path(table) + "/"
        for path in paths:
            date: str | None = None
            namespace: str | None = None
            for segment in path[len(prefix) :].split("/")[:-1]:
                key, _, value = segment.partition("=")
                if key == "date":
                    date = value
                elif key == "namespace":
                    namespace = unescape_partition(value)
            if date is not None:
                key3 = (table, date, namespace)
                counts[key3] = counts.get(key3, 0) + 1
    rows = sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or ""))
    import datetime as dt

    return pa.table(
        {
            "tbl": pa.array([k[0] for k, _ in rows], pa.string()),
            "date": pa.array([dt.date.fromisoformat(k[1]) for k, _ in rows], pa.date32()),
            "namespace": pa.array([k[2] for k, _ in rows], pa.string()),
            "files": pa.array([n for _, n in rows], pa.int64()),
        }
    )
