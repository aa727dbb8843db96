"""``archiver export openmetrics``: archived samples as OpenMetrics text, streamed.

The text is what ``promtool tsdb create-blocks-from openmetrics`` backfills from: one gauge
family per metric (contiguous, declared once), every series' samples in time order, timestamps
in seconds, ``# EOF`` last. DuckDB streams the rows (``sql/export.sql``) in batches, so memory
is bounded by a batch, never by the archive.

>>> with open("backfill.om", "wb") as out:                       # doctest: +SKIP
...     export_openmetrics(archive, out, since=since, until=until)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from archiver.errors import QueryError

if TYPE_CHECKING:
    import duckdb
    import polars as pl

    from archiver.store.archive import Archive

#: Rows per batch taken from DuckDB and rendered at once.
BATCH_ROWS = 100_000


@dataclass(frozen=True)
class Selection:
    """Which archived samples to export: ``[since, until)`` (None = open), namespace and metric
    patterns (``*``/``?`` wildcards; empty = all)."""

    since: datetime | None = None
    until: datetime | None = None
    namespaces: Sequence[str] = ()
    metrics: Sequence[str] = ()


@dataclass(frozen=True)
class Cursor:
    """The last sample handed on, in export order: a rerun resumes after it."""

    metric: str
    series: str
    ts_ms: int


@dataclass(frozen=True)
class ExportResult:
    samples: int
    series: int
    families: int


def batches(
    con: duckdb.DuckDBPyConnection,
    selection: Selection,
    *,
    after: Cursor | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[pl.DataFrame]:
    """The selected samples in export order (metric, series, ts), ``batch_rows`` at a time.

    Columns: ``metric``, ``series``, ``labels`` (list of key/value structs), ``ts``, ``value``.
    """
    import duckdb
    import polars as pl

    from archiver.query.reports import resolve_namespaces
    from archiver.sqlfiles import load_sql

    names, _ = resolve_namespaces(con, selection.namespaces)
    params: dict[str, Any] = {
        "since": selection.since,
        "until": selection.until,
        "namespaces": names,
        "metrics": list(selection.metrics) or None,
        "after_metric": after.metric if after else None,
        "after_series": after.series if after else None,
        "after_ts": _instant(after.ts_ms) if after else None,
    }
    try:
        reader = con.sql(load_sql("export.sql"), params=params).to_arrow_reader(batch_rows)
    except duckdb.Error as exc:
        raise QueryError(f"cannot read the archive for export: {exc}") from exc
    for batch in reader:
        if batch.num_rows:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            yield frame


def helps(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The newest HELP text of each metric the descriptors hold (none if never fetched)."""
    import duckdb

    try:
        rows = con.execute(
            "SELECT name, arg_max(help, fetched) FROM descriptors "
            "WHERE help IS NOT NULL GROUP BY name"
        ).fetchall()
    except duckdb.Error:
        return {}
    return {str(name): str(text) for name, text in rows}


def export_openmetrics(
    archive: Archive | str,
    out: IO[bytes],
    selection: Selection = Selection(),
    *,
    batch_rows: int = BATCH_ROWS,
) -> ExportResult:
    """Write the selected samples to ``out`` as OpenMetrics text; see the module docstring."""
    from archiver.openmetrics import render
    from archiver.query.connect import connect

    con = connect(archive)
    try:
        texts = helps(con)
        samples = series = families = 0
        last_metric: str | None = None
        last_series: str | None = None
        for frame in batches(con, selection, batch_rows=batch_rows):
            body = render(frame, helps=texts, eof=False)
            first = frame.item(0, "metric")
            if first == last_metric:
                # The family goes on from the previous batch: its TYPE and HELP are out already.
                body = body.split(b"\n", 2)[2]
            out.write(body)
            samples += frame.height
            distinct = frame.get_column("series").unique()
            series += distinct.len() - int(last_series is not None and last_series in distinct)
            families += frame.get_column("metric").n_unique() - int(first == last_metric)
            last_metric = frame.item(frame.height - 1, "metric")
            last_series = frame.item(frame.height - 1, "series")
        out.write(b"# EOF\n")
    finally:
        con.close()
    return ExportResult(samples=samples, series=series, families=families)


def _instant(ms: int) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(ms / 1000, UTC)
