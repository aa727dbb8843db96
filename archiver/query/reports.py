"""The three reports as functions returning polars DataFrames; the SQL is in ``sql/``.

Each function sets the report variables (``since``, ``until``, ``namespaces``, ...) on the
connection and reads the report's view, the same view an analyst queries with ``archiver sql``
(``SELECT * FROM backlog``); the variables stay set afterwards.

Every function takes a connection from :func:`archiver.connect`, a window ``[since, until)``
(aware datetimes; ``None`` leaves that end open) and ``namespaces``: exact names or ``*``/``?``
patterns, empty for all. Columns, by function:

``cardinality``: one row per (date, namespace, metric)
    date, namespace, metric, series (distinct that day), samples, task_queues, workflow_types,
    activity_types (distinct label values), docs_estimate (task_queues x workflow_types, the
    docs' formula for one metric and namespace), series_change (vs the first day in the window),
    cap_share_pct (series as a share of the point cap: a minute where every series is active
    costs that much of one scrape).
``cardinality_drivers``: one row per (namespace, metric, label)
    namespace, metric, label, distinct_values, series.
``cardinality_contributors``: the ``top`` (namespace, label, value) by series
    namespace, label, value, series, share_pct (of the namespace's series).
``cardinality_headroom``: one row per filter in use
    filter, source ('samples' = one unfiltered request for the selection, 'scrape log' = each
    request filter sent), days, observations, series, docs_estimate (metrics x namespaces x task
    queues x workflow types), peak_points, avg_points, p95_points, point_cap, headroom,
    headroom_pct, limited, slope_per_day (of the daily peak), cap_date (when the trend reaches
    the cap; NULL when it never does).
``backlog``: one row per (namespace, task_queue, task_type, hour) with a backlog or poll activity
    minutes_reported, backlog_status ('reported' | 'no backlog reported'), backlog_min/avg/max/
    p95 (over reported minutes only: a missing minute is not zero), poll_success_rate,
    sync_match_rate.
``backlog_trends``: one row per queue
    backlog_status, hours_reported, minutes_reported, first_hour, last_hour, first_avg, last_avg,
    backlog_max, slope_per_hour, r2, rising, poll_success_rate, sync_match_rate.
``gaps``: one row per range of minutes without a sample, per namespace
    namespace, start, end (exclusive), minutes, reason (idle, missing, truncated, unknown, stall,
    rate_limited, failed, not_scraped), is_gap (false for idle).
``gaps_coverage``: one row per namespace
    namespace, minutes, minutes_with_data, idle_minutes, gap_minutes, coverage_pct.
``failed_scrapes`` (view ``gaps_scrapes``): every scrape run in the window that did not end
    ``complete``, and the complete ones served an older minute than they aimed at
    scrape_id, started, target_window, served_window, outcome, completeness, stalled, error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, Unpack

from archiver.query.connect import read_view, run_file

if TYPE_CHECKING:
    import duckdb
    import polars as pl

__all__ = [
    "Window",
    "backlog",
    "backlog_trends",
    "cardinality",
    "cardinality_contributors",
    "cardinality_drivers",
    "cardinality_headroom",
    "failed_scrapes",
    "gaps",
    "gaps_coverage",
    "read_window",
    "resolve_namespaces",
    "window_params",
]


class Window(TypedDict):
    """The keyword arguments every report takes: ``since``, ``until`` (aware datetimes, None
    leaves that end open) and ``namespaces`` (exact names or ``*``/``?`` patterns, default all)."""

    since: datetime | None
    until: datetime | None
    namespaces: NotRequired[Sequence[str]]


def resolve_namespaces(
    con: duckdb.DuckDBPyConnection, patterns: Sequence[str]
) -> tuple[list[str] | None, list[str]]:
    """Expand namespace patterns to the archive's namespaces.

    Returns ``(names, unmatched)``: ``names`` is None when ``patterns`` is empty (every
    namespace), else the sorted matching names (possibly empty); ``unmatched`` lists the
    patterns that matched nothing.
    """
    if not patterns:
        return None, []
    rows = run_file(con, "namespaces.sql", {"patterns": list(patterns)})
    names = sorted({n for n in rows.get_column("namespace").to_list() if n is not None})
    unmatched = sorted(
        rows.filter(rows.get_column("namespace").is_null()).get_column("pattern").to_list()
    )
    return names, unmatched


def window_params(
    con: duckdb.DuckDBPyConnection,
    since: datetime | None,
    until: datetime | None,
    namespaces: Sequence[str],
) -> dict[str, Any]:
    """The ``since``/``until``/``namespaces`` variables of a report view."""
    names, _ = resolve_namespaces(con, namespaces)
    return {"since": since, "until": until, "namespaces": names}


def read_window(
    con: duckdb.DuckDBPyConnection, view: str, window: Window, **variables: Any
) -> pl.DataFrame:
    """The rows of the report view ``view`` over ``window`` (a :class:`Window`: since, until,
    namespaces), with the view's other ``variables`` (point_cap, top, ...) set too."""
    missing = [k for k in ("since", "until") if k not in window]
    unknown = sorted(set(window) - {"since", "until", "namespaces"})
    if missing or unknown:
        raise TypeError(
            f"{view}: "
            + ", ".join(
                [f"missing keyword {k!r}" for k in missing]
                + [f"unexpected keyword {k!r}" for k in unknown]
            )
        )
    params = window_params(con, window["since"], window["until"], window.get("namespaces", ()))
    return read_view(con, view, params | variables)


def cardinality(
    con: duckdb.DuckDBPyConnection,
    *,
    point_cap: int = 30_000,
    **window: Unpack[Window],
) -> pl.DataFrame:
    """Distinct series per (date, namespace, metric) and the labels behind them.

    >>> cardinality(connect("archive"), since=None, until=None)   # doctest: +SKIP
    """
    return read_window(con, "cardinality", window, point_cap=point_cap)


def cardinality_drivers(con: duckdb.DuckDBPyConnection, **window: Unpack[Window]) -> pl.DataFrame:
    """Distinct values per label, for each metric and namespace, over the window."""
    return read_window(con, "cardinality_drivers", window)


def cardinality_contributors(
    con: duckdb.DuckDBPyConnection,
    *,
    top: int = 20,
    **window: Unpack[Window],
) -> pl.DataFrame:
    """The ``top`` label values (task queue, workflow type, ...) carried by the most series."""
    return read_window(con, "cardinality_contributors", window, top=top)


def cardinality_headroom(
    con: duckdb.DuckDBPyConnection,
    *,
    point_cap: int = 30_000,
    **window: Unpack[Window],
) -> pl.DataFrame:
    """Datapoints per scrape against ``point_cap`` for each filter in use, and the trend."""
    return read_window(con, "cardinality_headroom", window, point_cap=point_cap)


def backlog(con: duckdb.DuckDBPyConnection, **window: Unpack[Window]) -> pl.DataFrame:
    """Hourly approximate_backlog_count per queue beside its poll success and sync match rates."""
    return read_window(con, "backlog", window)


def backlog_trends(con: duckdb.DuckDBPyConnection, **window: Unpack[Window]) -> pl.DataFrame:
    """Per queue: the backlog's slope over the window and whether it keeps rising."""
    return read_window(con, "backlog_trends", window)


def gaps(con: duckdb.DuckDBPyConnection, **window: Unpack[Window]) -> pl.DataFrame:
    """Every range of minutes without a sample, per namespace, with the reason."""
    return read_window(con, "gaps", window)


def gaps_coverage(con: duckdb.DuckDBPyConnection, **window: Unpack[Window]) -> pl.DataFrame:
    """Per namespace: the share of minutes that hold data or were idle."""
    return read_window(con, "gaps_coverage", window)


def failed_scrapes(
    con: duckdb.DuckDBPyConnection,
    *,
    since: datetime | None,
    until: datetime | None,
) -> pl.DataFrame:
    """Every scrape run in the window whose outcome was not ``complete``."""
    return read_view(con, "gaps_scrapes", {"since": since, "until": until})
