"""Charts for capacity planning: functions that take the frames of
:mod:`archiver.query.capacity` and :mod:`archiver.query.reports` and return a matplotlib
:class:`~matplotlib.figure.Figure`.

Figures are built without pyplot (no global figure registry, no interactive backend), so they
render with Agg anywhere: in a notebook (:func:`show`), to a PNG (:func:`save`) or in a test.
A frame with nothing to draw gives a figure that says ``no data: <what is missing>`` instead of
raising; :func:`has_data` tells the two apart.

>>> fig = usage_chart(capacity.usage(con, since=None, until=None), "prod.acme1")  # doctest: +SKIP
>>> save(fig, "usage.png")                                                      # doctest: +SKIP
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import TYPE_CHECKING

from archiver.catalog import LIMITS
from archiver.query.figures import (
    NO_DATA,
    bar_width,
    column,
    has_data,
    new_figure,
    no_data,
    save,
    show,
)

if TYPE_CHECKING:
    import polars as pl
    from matplotlib.figure import Figure

__all__ = [
    "NO_DATA",
    "backlog_chart",
    "billable_chart",
    "has_data",
    "headroom_chart",
    "label_costs_chart",
    "poll_rates_chart",
    "save",
    "series_chart",
    "show",
    "units_chart",
    "usage_chart",
]

_UNITS = {one.kind: f"{one.kind}/s" for one in LIMITS}
_PREFIX = "temporal_cloud_v1_"
#: kind -> the limit and throttle metrics' short names (the catalog's, without the prefix).
_LIMITS = {one.kind: one.limit.removeprefix(_PREFIX) for one in LIMITS}
#: The alert lines drawn under each limit: share of the limit, colour, legend.
_ALERT_LINES = ((0.9, "tab:red", "90% (page)"), (0.5, "tab:orange", "50% (warn)"))
_THROTTLED = {one.kind: one.throttled.removeprefix(_PREFIX) for one in LIMITS}


def usage_chart(usage: pl.DataFrame, namespace: str) -> Figure:
    """Usage per second against each limit for one namespace, from :func:`capacity.usage`.

    One panel per kind (actions, requests, operations): the peak minute of each bucket, the
    limit (a step line, it can change), the 50% and 90% alert lines, and the throttled count
    per bucket as red bars on the right axis.
    """
    # Long: one panel per kind, each with usage, limit, envelope, throttling and alert lines;
    # matplotlib calls read best in the order they draw.
    import polars as pl

    title = f"{namespace}: usage vs limits"
    rows = usage.filter(pl.col("namespace") == namespace) if usage.height else usage
    if rows.is_empty():
        return no_data(title, f"no usage or limit samples for {namespace} in the window")
    kinds = [k for k in _UNITS if k in set(column(rows, "kind"))]
    fig, axes = new_figure(height=3.2, rows=len(kinds))
    fig.suptitle(title)
    for ax, kind in zip(axes, kinds, strict=True):
        part = rows.filter(pl.col("kind") == kind).sort("ts")
        ts = column(part, "ts")
        ax.plot(ts, column(part, "peak_per_s"), color="tab:blue", lw=1.2, label="peak minute")
        if part.get_column("minutes").max() != 1:
            ax.plot(
                ts, column(part, "avg_per_s"), color="tab:blue", lw=0.8, alpha=0.5, label="average"
            )
        limit = column(part, "limit_per_s")
        if any(v is not None for v in limit):
            lim = [math.nan if v is None else v for v in limit]
            ax.step(ts, lim, where="post", color="black", lw=1.5, label=_LIMITS[kind])
            for share, color, label in (
                (0.9, "tab:red", "90% (page)"),
                (0.5, "tab:orange", "50% (warn)"),
            ):
                line = [v * share for v in lim]
                ax.step(ts, line, where="post", color=color, ls="--", lw=1, label=label)
        else:
            ax.text(
                0.01,
                0.92,
                f"no {_LIMITS[kind]} reported",
                transform=ax.transAxes,
                color="tab:red",
                va="top",
            )
        throttled = column(part, "throttled")
        if any(throttled):
            twin = ax.twinx()
            width = bar_width(ts)
            twin.bar(ts, throttled, width=width, color="tab:red", alpha=0.5, label=_THROTTLED[kind])
            twin.set_ylabel("throttled per bucket", color="tab:red")
            twin.set_ylim(bottom=0)
        ax.set_ylabel(_UNITS[kind])
        ax.set_ylim(bottom=0)
        ax.set_title(f"{kind}: {_UNITS[kind]} vs {_LIMITS[kind]}", fontsize=10)
        ax.legend(loc="upper right", fontsize=8, ncols=5)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (UTC)")
    return fig


def headroom_chart(summary: pl.DataFrame) -> Figure:
    """Peak usage as a percentage of each limit, per namespace and kind, from
    :func:`capacity.summary`, with the 50%, 90% and 100% lines and the projected limit date."""
    import polars as pl

    title = "Peak usage as a share of each limit"
    rows = summary.filter(pl.col("peak_pct").is_not_null()) if summary.height else summary
    if rows.is_empty():
        return no_data(
            title,
            "no limit metrics (action_limit, service_request_limit, "
            "operations_limit) in the window",
        )
    rows = rows.sort("namespace", "kind", descending=[True, True])
    labels = [
        f"{n} · {k}" for n, k in zip(column(rows, "namespace"), column(rows, "kind"), strict=True)
    ]
    pct = column(rows, "peak_pct")
    colors = ["tab:red" if p >= 90 else "tab:orange" if p >= 50 else "tab:green" for p in pct]
    fig, (ax,) = new_figure(height=max(2.5, 0.4 * len(labels) + 1.2))
    ax.barh(labels, pct, color=colors)
    dates = zip(column(rows, "limit_date"), column(rows, "projection"), strict=True)
    for y, (p, (when, projection)) in enumerate(zip(pct, dates, strict=True)):
        note = f"{p:.0f}%"
        if projection == "at limit":
            note += ", at the limit"
        elif when is not None:
            note += f", limit by {when}"
        ax.text(p, y, " " + note, va="center", fontsize=8)
    for x, style, name in (
        (50, "tab:orange", "50% warn"),
        (90, "tab:red", "90% page"),
        (100, "black", "limit"),
    ):
        ax.axvline(x, color=style, ls="--" if x < 100 else "-", lw=1, label=name)
    ax.set_xlabel("peak minute as % of the limit")
    ax.set_xlim(0, max(110.0, max(pct) * 1.25))
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def units_chart(units: pl.DataFrame, actions_per_unit: int = 500) -> Figure:
    """Peak and p95 non-background actions per second per namespace, from
    :func:`capacity.units`, against the Temporal Resource Unit steps of ``actions_per_unit``."""
    title = "Temporal Resource Units needed (peak actions/s ÷ 500, rounded up)"
    if units.is_empty():
        return no_data(title, "no total_action_count samples in the window")
    rows = units.sort("peak_actions_per_s")
    names = column(rows, "namespace")
    peak = column(rows, "peak_actions_per_s")
    fig, (ax,) = new_figure(height=max(2.5, 0.5 * len(names) + 1.2))
    ax.barh(names, peak, color="tab:blue", label="peak minute")
    p95 = column(rows, "p95_actions_per_s")
    if all(v is not None for v in p95):  # NULL over long windows, read from hourly rollups
        ax.barh(names, p95, color="tab:cyan", height=0.4, label="p95 minute")
    for y, (p, n) in enumerate(zip(peak, column(rows, "units_needed"), strict=True)):
        ax.text(p, y, f" {n} TRU", va="center", fontsize=9)
    top = max(peak) if peak else 0.0
    for k in range(1, int(top // actions_per_unit) + 2):
        ax.axvline(k * actions_per_unit, color="grey", ls=":", lw=1)
    ax.set_xlim(0, max(top * 1.2, actions_per_unit * 1.05))
    ax.set_xlabel(f"non-background actions/s (dotted: every {actions_per_unit}/s = one TRU)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def billable_chart(billable: pl.DataFrame, top: int = 10) -> Figure:
    """What drives billable actions, from :func:`capacity.billable`: actions per action type
    per namespace (stacked), and the ``top`` workflow types across namespaces."""
    import polars as pl

    title = "Billable actions over the window"
    if billable.is_empty():
        return no_data(title, "no billable_action_count samples in the window")
    fig, (left, right) = new_figure(width=12, height=3.8, rows=2, sharex=False)
    fig.suptitle(title)
    by_type = billable.group_by("namespace", "action_type").agg(pl.col("actions").sum())
    names = sorted(set(column(by_type, "namespace")))
    types = (
        by_type.group_by("action_type")
        .agg(pl.col("actions").sum())
        .sort("actions", descending=True)
        .get_column("action_type")
        .to_list()
    )
    base = [0.0] * len(names)
    for action_type in types:
        part = by_type.filter(pl.col("action_type") == action_type)
        values = dict(zip(column(part, "namespace"), column(part, "actions"), strict=True))
        widths = [float(values.get(n, 0)) / 1e6 for n in names]
        left.barh(names, widths, left=base, label=action_type)
        base = [b + w for b, w in zip(base, widths, strict=True)]
    left.set_xlabel("billable actions (millions)")
    left.set_title("by action type", fontsize=10)
    left.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    wf = (
        billable.group_by("namespace", "workflow_type")
        .agg(pl.col("actions").sum())
        .sort("actions", descending=True)
        .head(top)
        .reverse()
    )
    labels = [
        f"{n} · {w}"
        for n, w in zip(column(wf, "namespace"), column(wf, "workflow_type"), strict=True)
    ]
    right.barh(labels, [a / 1e6 for a in column(wf, "actions")], color="tab:purple")
    right.set_xlabel("billable actions (millions)")
    right.set_title(f"top {top} workflow types", fontsize=10)
    return fig


def series_chart(
    growth: pl.DataFrame,
    point_cap: int = 30_000,
    slope_per_day: float | None = None,
    cap_date: date | None = None,
) -> Figure:
    """Peak datapoints per scrape per day, stacked by namespace, from
    :func:`capacity.series_growth`, against the ``point_cap``; with ``slope_per_day`` the
    trend is drawn on to ``cap_date`` (from :func:`reports.cardinality_headroom`)."""
    import polars as pl

    title = f"Datapoints per scrape vs the {point_cap:,} cap"
    if growth.is_empty():
        return no_data(title, "no samples in the window")
    days = sorted(set(column(growth, "date")))
    names = sorted(set(column(growth, "namespace")))
    fig, (ax,) = new_figure()
    stacks = []
    for name in names:
        part = growth.filter(pl.col("namespace") == name)
        values = dict(zip(column(part, "date"), column(part, "peak_points"), strict=True))
        stacks.append([values.get(d, 0) for d in days])
    if len(days) == 1:
        base = 0
        for name, stack in zip(names, stacks, strict=True):
            ax.bar(days, stack, bottom=base, width=0.5, label=name)
            base += stack[0]
    else:
        ax.stackplot(days, *stacks, labels=names, alpha=0.8)
    ax.axhline(point_cap, color="tab:red", lw=1.5, label=f"cap ({point_cap:,} points)")
    totals = [sum(col) for col in zip(*stacks, strict=True)]
    if slope_per_day and slope_per_day > 0 and len(days) >= 2:
        end = cap_date or days[-1] + timedelta(days=30)
        end = min(end, days[-1] + timedelta(days=365))
        horizon = (end - days[-1]).days
        ax.plot(
            [days[-1], end],
            [totals[-1], totals[-1] + slope_per_day * horizon],
            color="black",
            ls="--",
            lw=1,
            label=f"trend (+{slope_per_day:,.0f}/day)",
        )
        if cap_date:
            ax.annotate(
                f"cap reached ~{cap_date}",
                (cap_date, point_cap),
                fontsize=8,
                xytext=(-120, -20),
                textcoords="offset points",
            )
    ax.set_ylabel("datapoints in one unfiltered scrape (peak of the day)")
    ax.set_xlabel("date (UTC)")
    ax.set_ylim(0, max(point_cap * 1.1, max(totals) * 1.1))
    ax.set_title(title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def label_costs_chart(costs: pl.DataFrame) -> Figure:
    """Series each label adds (series saved if it were dropped), from
    :func:`capacity.label_costs`; opt-in labels, which a request can simply leave out, hatched."""
    title = "Series each label adds (saved if dropped or relabelled away)"
    rows = costs.filter(costs.get_column("series_saved") > 0) if costs.height else costs
    if rows.is_empty():
        return no_data(title, "no labelled series in the window")
    rows = rows.sort("series_saved")
    fig, (ax,) = new_figure(height=max(2.5, 0.35 * rows.height + 1.2))
    bars = ax.barh(column(rows, "label"), column(rows, "series_saved"), color="tab:blue")
    for bar, optin in zip(bars, column(rows, "optin"), strict=True):
        if optin:
            bar.set_hatch("//")
            bar.set_color("tab:green")
    ax.set_xlabel("distinct series saved (≈ datapoints per scrape)")
    ax.set_title(title)
    return fig


def backlog_chart(hourly: pl.DataFrame, top: int = 8) -> Figure:
    """Hourly average backlog of the ``top`` queues by peak backlog, from
    :func:`reports.backlog`; hours without a reported backlog are gaps in the line."""
    import polars as pl

    title = f"Task queue backlog, top {top} queues by peak"
    rows = hourly.filter(pl.col("backlog_avg").is_not_null()) if hourly.height else hourly
    if rows.is_empty():
        return no_data(title, "no approximate_backlog_count samples in the window")
    keys = ["namespace", "task_queue", "task_type"]
    worst = (
        rows.group_by(keys)
        .agg(pl.col("backlog_max").max())
        .sort("backlog_max", descending=True)
        .head(top)
    )
    fig, (ax,) = new_figure()
    for ns, queue, task_type, _ in worst.iter_rows():
        part = rows.filter(
            (pl.col("namespace") == ns)
            & (pl.col("task_queue") == queue)
            & (pl.col("task_type") == task_type)
        ).sort("hour")
        ax.plot(
            column(part, "hour"),
            column(part, "backlog_avg"),
            marker=".",
            lw=1.2,
            label=f"{ns} · {queue} ({task_type})",
        )
    ax.set_ylabel("approximate backlog (tasks, hourly average)")
    ax.set_xlabel("hour (UTC)")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.grid(alpha=0.3)
    return fig


def poll_rates_chart(trends: pl.DataFrame, top: int = 15) -> Figure:
    """Poll success and sync-match rates per queue over the window, from
    :func:`reports.backlog_trends`: the ``top`` queues with the lowest poll success rate."""
    import polars as pl

    title = "Worker health: poll success and sync-match rate per queue"
    rows = (
        trends.filter(
            pl.col("poll_success_rate").is_not_null() | pl.col("sync_match_rate").is_not_null()
        )
        if trends.height
        else trends
    )
    if rows.is_empty():
        return no_data(title, "no poll_success_count / poll_timeout_count samples")
    rows = rows.sort("poll_success_rate", "sync_match_rate", nulls_last=True).head(top).reverse()
    labels = [
        f"{n} · {q} ({t})"
        for n, q, t in rows.select("namespace", "task_queue", "task_type").iter_rows()
    ]
    y = list(range(len(labels)))
    fig, (ax,) = new_figure(height=max(2.5, 0.4 * len(labels) + 1.2))
    poll = [math.nan if v is None else v * 100 for v in column(rows, "poll_success_rate")]
    sync = [math.nan if v is None else v * 100 for v in column(rows, "sync_match_rate")]
    ax.barh([v + 0.2 for v in y], poll, height=0.4, color="tab:blue", label="poll success %")
    ax.barh([v - 0.2 for v in y], sync, height=0.4, color="tab:green", label="sync match %")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlim(0, 105)
    ax.set_xlabel("% (poll success = success / (success + timeout); sync = sync / success)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower left")
    return fig
