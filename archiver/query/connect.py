"""DuckDB over the archive: one connection, the archive's views, the report queries.

>>> con = connect("./archive")                                  # doctest: +SKIP
>>> run_sql(con, "SELECT metric, count(*) FROM samples GROUP BY ALL")   # doctest: +SKIP

Views (all defined in ``sql/*.sql``):

* ``samples(ts, metric, namespace, labels, value, series, date)``, ``scrapes``, ``descriptors``;
* the reports ``cardinality``, ``cardinality_drivers``, ``cardinality_contributors``,
  ``cardinality_headroom``, ``backlog``, ``backlog_trends``, ``gaps``, ``gaps_coverage``,
  ``gaps_scrapes``, parameterised by the variables ``since``, ``until`` (TIMESTAMPTZ, NULL =
  open), ``namespaces`` (VARCHAR[] of exact names, NULL = all) and ``point_cap``;
* ``archive_partitions(tbl, date, namespace, files)``: the partitions and their file counts.

A local archive is read through globs (:mod:`archiver.query.sources`), so every query sees the
files written up to its start; an S3 archive is listed once, when connecting.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from archiver.errors import EmptyArchiveError, QueryError
from archiver.history import lineage
from archiver.query import sources

# load_sql and sql_dir are re-exported: callers import them from here.
from archiver.sqlfiles import load_sql as load_sql
from archiver.sqlfiles import sql_dir as sql_dir
from archiver.store.archive import TABLES, Archive

if TYPE_CHECKING:
    import duckdb
    import polars as pl
    import pyarrow as pa

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Files that define views and macros, in the order they must run.
_DEFINITIONS = (
    "lineage.sql",
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
#: Per connection: where its tables are read from, and the files left out.
_ARCHIVES: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, sources.Sources] = (
    weakref.WeakKeyDictionary()
)
#: How many corrupt files one query may meet before it gives up.
_MAX_SKIPPED = 100
_FILE_IN_ERROR = re.compile(r"""(?:file|File) ['"]([^'"]+)['"]""")


class CorruptFileWarning(UserWarning):
    """A ``.parquet`` file in the archive is not a whole Parquet file and was left out."""


def _load_limits(con: duckdb.DuckDBPyConnection) -> None:
    """The table ``capacity_limits(kind, role, metric)`` that the capacity SQL joins, from the
    catalog: which metrics measure each limit is written once, in ``archiver.catalog``."""
    from archiver.catalog import limit_roles

    con.execute("CREATE TEMP TABLE capacity_limits (kind VARCHAR, role VARCHAR, metric VARCHAR)")
    con.executemany("INSERT INTO capacity_limits VALUES (?, ?, ?)", limit_roles())


def connect(
    archive: str | Archive,
    *,
    s3_endpoint: str | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the archive's views defined.

    Local archives are read through globs over the Hive paths: connecting opens no data file
    beyond the first one each view binds. ``memory_limit`` (a DuckDB size such as ``"2GB"``;
    None = min(1.5 GB, a quarter of RAM), see :func:`archiver.config.memory_limit`) caps what
    queries hold in memory; beyond it they spill to
    ``temp_directory`` (default ``<archive>/_archiver/tmp/duckdb`` locally, a local temp dir for
    S3). A limit DuckDB cannot take raises :class:`ConfigError` naming ARCHIVER_MEMORY_LIMIT.

    Raises :class:`EmptyArchiveError` when nothing has been archived at ``archive`` yet. A
    ``.parquet`` file that is not whole Parquet (half-copied, truncated) is left out of the
    query that meets it, with a :class:`CorruptFileWarning` naming it (see :func:`run_sql`).
    """
    import duckdb

    arch, present = _archive_with_data(archive, s3_endpoint)
    con = duckdb.connect(":memory:")
    try:
        # Partitions are UTC dates and reports bucket by UTC hours, whatever the host's zone.
        con.execute("SET TimeZone = 'UTC'")
        # Reports print their own output; a progress bar would interleave with it. Inside
        # Jupyter DuckDB refuses to change the setting (it wants ipywidgets): leave it there.
        with contextlib.suppress(duckdb.Error):
            con.execute("SET enable_progress_bar = false")
        sources.limit_memory(con, arch, memory_limit, temp_directory)
        _ARCHIVES[con] = sources.Sources(arch, present)
        _load_limits(con)
        lineage.register(con)

        def define() -> None:
            _ARCHIVES[con].register(con)
            for name in _DEFINITIONS:
                con.execute(load_sql(name))

        _skipping_corrupt_files(con, define)
        from archiver.catalog import OPTIN_LABELS

        set_variables(con, optin=list(OPTIN_LABELS))
    except BaseException:
        con.close()
        raise
    return con


def _archive_with_data(
    archive: str | Archive, s3_endpoint: str | None
) -> tuple[Archive, dict[str, bool]]:
    """The archive, and which of its tables have files; EmptyArchiveError when none has."""
    arch = (
        archive if isinstance(archive, Archive) else Archive.open(archive, s3_endpoint=s3_endpoint)
    )
    if not arch.exists():
        raise EmptyArchiveError(
            f"no archive at {arch.uri} yet: run `archiver scrape` first, or point --archive "
            "(ARCHIVER_ARCHIVE) at an existing one"
        )
    present = {table: sources.has_files(arch, table) for table in sources.TABLES}
    if not any(present[t] for t in TABLES):
        raise EmptyArchiveError(
            f"the archive at {arch.uri} holds no data files yet: run `archiver scrape` first"
        )
    return arch, present


def run_sql(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None
) -> pl.DataFrame:
    """Run ``sql`` and return the result as a polars DataFrame.

    DuckDB's own errors become :class:`QueryError` with DuckDB's message.
    """
    import duckdb
    import polars as pl

    def run() -> pa.Table | None:
        relation = con.sql(sql, params=dict(params) if params else None)
        if relation is None:  # a statement without a result set (SET, CREATE ...)
            return None
        return relation.to_arrow_table()

    try:
        table = _skipping_corrupt_files(con, run)
    except duckdb.Error as exc:
        raise QueryError(_message(exc)) from exc
    if table is None:
        return pl.DataFrame()
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
        table = _skipping_corrupt_files(con, lambda: con.view(view).to_arrow_table())
    except duckdb.Error as exc:
        raise QueryError(_message(exc)) from exc
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _message(exc: Exception) -> str:
    # DuckDB puts the useful part on the first lines; the rest is a caret diagram at best.
    text = str(exc).strip()
    return " ".join(line.strip() for line in text.splitlines()[:3] if line.strip())


def _skipping_corrupt_files(con: duckdb.DuckDBPyConnection, run: Callable[[], T]) -> T:
    """``run()``, again without each archive file that turns out not to be whole Parquet.

    DuckDB opens a file when a query (or a view's definition) first reaches it; a truncated
    or half-copied file fails that query with a message naming it. Such a file is left out of
    the connection's sources with a :class:`CorruptFileWarning`, and ``run`` is retried.
    """
    import duckdb

    for _ in range(_MAX_SKIPPED):
        try:
            return run()
        except duckdb.Error as exc:
            state = _ARCHIVES.get(con)
            found = _FILE_IN_ERROR.search(str(exc))
            problem = state.skip(found.group(1)) if state and found else None
            if state is None or found is None or problem is None:
                raise
            warnings.warn(
                f"ignoring {found.group(1)}: {problem} (a half-written or damaged file; delete "
                "it or run `archiver compact`)",
                CorruptFileWarning,
                stacklevel=4,
            )
            state.register(con)
    return run()
