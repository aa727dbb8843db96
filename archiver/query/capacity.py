"""Capacity planning: usage against each namespace limit, units needed, billable actions, and
how series counts grow toward the per-scrape point cap. Functions return polars DataFrames read
from the views ``capacity_usage``, ``capacity_summary``, ``capacity_units``, ``capacity_billable``,
``capacity_series``, ``capacity_labels`` and ``capacity_points`` (``sql/capacity*.sql``, defined at
connect; the SQL follows ``docs/capacity-formulas.md``), setting their variables as
:mod:`archiver.query.reports` does.

>>> con = connect("./archive")                                          # doctest: +SKIP
>>> capacity.summary(con, since=None, until=None).filter(pl.col("level") != "ok")  # doctest: +SKIP

Every function takes a connection from :func:`archiver.connect`, a window ``[since, until)``
(aware datetimes; ``None`` leaves that end open) and ``namespaces`` (exact names or ``*``/``?``
patterns, empty for all), like :mod:`archiver.query.reports`. ``kind`` is one of ``actions``
(``total_action_count{is_background="false"}`` vs ``action_limit``), ``requests``
(``service_request_count`` vs ``service_request_limit``) and ``operations``
(``operations_count`` vs ``operations_limit``). Over windows longer than ``rollup_after()``
(3 days) ``usage`` (whole-hour buckets), ``summary``, ``units``, ``billable`` and ``label_costs``
read the hourly rollups for the rolled-up hours: same answers, except that ``peak_at`` is to the
hour and the columns that need every minute (``p95_per_s``, ``units_needed_p95``,
``minutes_over_warn``/``_page``) are NULL (docs/capacity-formulas.md, "On rollups"). Columns,
by function:

``usage``: one row per (namespace, kind, bucket of ``bucket`` seconds)
    namespace, kind, ts (bucket start), minutes (with data), avg_per_s, peak_per_s (the busiest
    minute), limit_per_s (the tightest limit in force; NULL before any was reported), peak_pct,
    throttled (requests/actions/operations refused), throttled_minutes, level ('ok' | 'warn' at
    ``warn_pct`` | 'page' at ``page_pct`` | 'no limit reported').
``summary``: one row per (namespace, kind) over the window
    namespace, kind, minutes, days, avg_per_s, p95_per_s, peak_per_s, peak_at, limit_per_s
    (latest), envelope_per_s (the on-demand envelope), peak_pct, headroom_per_s,
    minutes_over_warn, minutes_over_page, throttled, throttled_minutes, level, slope_per_day (of
    the daily peak), limit_date (when that line reaches the limit), projection ('rising' |
    'at limit' | 'flat or falling' | 'needs 2+ days' | 'no trend' | 'no limit reported').
``units``: one row per namespace
    namespace, minutes, peak_actions_per_s, peak_at, p95_actions_per_s, units_needed
    (ceil(peak / 500)), units_needed_p95, action_limit, on_demand_limit, provisioned.
``billable``: one row per (namespace, action_type, workflow_type)
    namespace, action_type, workflow_type, actions (over the window), share_pct (of the
    namespace's billable actions).
``series_growth``: one row per (date, namespace)
    date, namespace, series (distinct that day), peak_points / avg_points (datapoints one scrape
    of that namespace carried).
``label_costs``: one row per label
    label, metrics, series_with_label, series_without_label, series_saved, optin (can be left
    out of the request instead of relabelled).
``scrape_plan``: one row per request that keeps every scrape under the cap
    request, namespaces, metrics (empty = all), peak_points, cap_share_pct, fits.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Unpack

from archiver.catalog import LIMITS
from archiver.query.reports import Window, read_window

if TYPE_CHECKING:
    import duckdb
    import polars as pl

__all__ = [
    "ACTIONS_PER_UNIT",
    "KINDS",
    "billable",
    "label_costs",
    "missing_limits",
    "scrape_plan",
    "series_growth",
    "summary",
    "units",
    "usage",
    "write_charts",
]

#: Actions per second one Temporal Resource Unit buys (Temporal Cloud capacity docs).
ACTIONS_PER_UNIT = 500
#: The limits planned against, in the order the notebooks show them (``archiver.catalog.LIMITS``).
KINDS = tuple(one.kind for one in LIMITS)


def usage(
    con: duckdb.DuckDBPyConnection,
    *,
    bucket: int = 3600,
    warn_pct: float = 50.0,
    page_pct: float = 90.0,
    **window: Unpack[Window],
) -> pl.DataFrame:
    """Usage against each limit per namespace, kind and ``bucket`` seconds (60 = per minute).

    >>> usage(con, since=None, until=None, bucket=60)                   # doctest: +SKIP
    """
    if bucket < 60 or bucket % 60:
        raise ValueError(f"bucket must be a whole number of minutes in seconds, not {bucket}")
    variables = {"bucket_seconds": bucket, "warn_pct": warn_pct, "page_pct": page_pct}
    return read_window(con, "capacity_usage", window, **variables)


def summary(
    con: duckdb.DuckDBPyConnection,
    *,
    warn_pct: float = 50.0,
    page_pct: float = 90.0,
    **window: Unpack[Window],
) -> pl.DataFrame:
    """Per namespace and kind: peak vs limit, alerts, throttling and the projected limit date."""
    return read_window(con, "capacity_summary", window, warn_pct=warn_pct, page_pct=page_pct)


def units(
    con: duckdb.DuckDBPyConnection,
    *,
    actions_per_unit: int = ACTIONS_PER_UNIT,
    **window: Unpack[Window],
) -> pl.DataFrame:
    """Temporal Resource Units needed per namespace: ceil(peak non-background actions/s / 500)."""
    return read_window(con, "capacity_units", window, actions_per_unit=actions_per_unit)


def billable(con: duckdb.DuckDBPyConnection, **window: Unpack[Window]) -> pl.DataFrame:
    """Billable actions over the window by namespace, action type and workflow type."""
    return read_window(con, "capacity_billable", window)


def series_growth(con: duckdb.DuckDBPyConnection, **window: Unpack[Window]) -> pl.DataFrame:
    """Distinct series and peak datapoints per scrape, per day and namespace."""
    return read_window(con, "capacity_series", window)


def label_costs(con: duckdb.DuckDBPyConnection, **window: Unpack[Window]) -> pl.DataFrame:
    """Series each label adds: how many would remain if it were dropped or relabelled away."""
    from archiver.catalog import OPTIN_LABELS

    return read_window(con, "capacity_labels", window, optin=list(OPTIN_LABELS))


def scrape_plan(
    con: duckdb.DuckDBPyConnection,
    *,
    point_cap: int = 30_000,
    **window: Unpack[Window],
) -> pl.DataFrame:
    """The namespace/metric filters that keep each request under ``point_cap`` at the peak.

    Sizes are the peak datapoints per (namespace, metric) in one minute of the window; pieces
    are split the way the collector splits a truncated answer
    (:mod:`archiver.collect.shards`), filled to its headroom so that growth does not truncate
    them next week. One row per request.
    """
    import polars as pl

    from archiver.collect import shards

    sizes = shards.Sizes()
    points = read_window(con, "capacity_points", window)
    sizes.add(points.select("namespace", "metric", "peak_points").iter_rows())
    known = sorted({m for _, m in sizes.by_pair})
    target = max(1, int(point_cap * shards.HEADROOM))
    done: list[shards.Shard] = []
    todo = [shards.Shard()]
    # A few rounds of splitting at most: each round splits every piece still too big.
    for _ in range(8):
        if not todo:
            break
        pending, todo = todo, []
        for shard in pending:
            weight = sizes.weight(shard.namespaces, shard.metrics)
            pieces = shards.split(shard, sizes, known, point_cap) if weight > target else []
            if pieces:
                todo.extend(pieces)
            else:
                done.append(shard)
    done.extend(todo)
    rows = []
    for shard in done:
        weight = sizes.weight(shard.namespaces, shard.metrics)
        if weight == 0 and shard != shards.Shard():
            continue  # a namespace prefix nobody uses costs no request worth listing
        rows.append(
            {
                "namespaces": ", ".join(shard.namespaces) or "*",
                "metrics": list(shard.metrics),
                "peak_points": weight,
            }
        )
    schema: dict[str, pl.DataType] = {
        "namespaces": pl.String(),
        "metrics": pl.List(pl.String()),
        "peak_points": pl.Int64(),
    }
    frame = pl.DataFrame(rows, schema=schema).sort("peak_points", descending=True)
    return frame.with_columns(
        request=pl.int_range(1, frame.height + 1, dtype=pl.Int64),
        cap_share_pct=(pl.col("peak_points") * 100.0 / point_cap).round(1),
        fits=pl.col("peak_points") <= point_cap,
    ).select("request", "namespaces", "metrics", "peak_points", "cap_share_pct", "fits")


def missing_limits(frame: pl.DataFrame) -> list[str]:
    """The kinds in a :func:`summary` or :func:`usage` frame that no limit was reported for.

    Notebooks say these out loud instead of drawing a chart without a limit line.
    """
    import polars as pl

    if frame.is_empty():
        return list(KINDS)
    limited = frame.filter(pl.col("limit_per_s").is_not_null()).get_column("kind").unique()
    return [k for k in KINDS if k not in set(limited.to_list())]


def write_charts(
    con: duckdb.DuckDBPyConnection, directory: Path, **window: Unpack[Window]
) -> list[Path]:
    """Write the key capacity charts as PNGs into ``directory`` (created if missing).

    ``headroom.png`` (peak vs each limit), ``units.png`` (TRUs needed), ``billable.png`` and one
    ``usage-<namespace>.png`` per namespace (hourly usage vs limits). Returns the paths written;
    a chart without data says so in the image rather than being left out.
    """
    from archiver.query import plots

    directory.mkdir(parents=True, exist_ok=True)
    hourly = usage(con, **window, bucket=3600)
    figures = {
        "headroom": plots.headroom_chart(summary(con, **window)),
        "units": plots.units_chart(units(con, **window)),
        "billable": plots.billable_chart(billable(con, **window)),
    }
    names = sorted(set(hourly.get_column("namespace").to_list())) if hourly.height else []
    for name in names:
        # namespace names are [a-z0-9.-]; anything else is replaced so it cannot leave DIR
        figures[f"usage-{re.sub(r'[^A-Za-z0-9.-]', '_', name).lstrip('.')}"] = plots.usage_chart(
            hourly, name
        )
    if not names:
        figures["usage"] = plots.usage_chart(hourly, "every namespace")
    return [plots.save(fig, directory / f"{stem}.png") for stem, fig in figures.items()]
