"""``archiver report cardinality|backlog|gaps`` and ``archiver sql``: thin wrappers over
:mod:`archiver.query.reports` and :mod:`archiver.query.connect`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from archiver.cli.capacity import capacity
from archiver.cli.common import (
    archive_option,
    connection,
    load_settings,
    output_options,
    part_option,
    warn_unmatched,
    window,
    window_options,
)
from archiver.errors import IncompleteError

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger("archiver")

_PARTS = {
    "cardinality": ("series", "drivers", "contributors", "headroom"),
    "backlog": ("hourly", "trends"),
    "gaps": ("ranges", "coverage", "scrapes"),
}


def _run(
    part: str,
    archive: str | None,
    since: str,
    until: str,
    namespaces: tuple[str, ...],
    fmt: str,
    output: str | None,
    ranges: bool = False,
    **extra: Any,
) -> pl.DataFrame:
    """Run one part of a report and write it; returns it, or the gap ranges if ``ranges``."""
    from archiver.query import output as out
    from archiver.query import reports

    bounds = window(since, until)
    with connection(archive) as con:
        warn_unmatched(con, namespaces)
        functions: dict[str, Callable[..., pl.DataFrame]] = {
            "series": reports.cardinality,
            "drivers": reports.cardinality_drivers,
            "contributors": reports.cardinality_contributors,
            "headroom": reports.cardinality_headroom,
            "hourly": reports.backlog,
            "trends": reports.backlog_trends,
            "ranges": reports.gaps,
            "coverage": reports.gaps_coverage,
            "scrapes": reports.failed_scrapes,
        }
        scope = {} if part == "scrapes" else {"namespaces": namespaces}
        frame = functions[part](con, **bounds, **scope, **extra)
        out.write(frame, fmt, output)
        if ranges and part != "ranges":  # --fail-on-gap always judges the missing minutes
            frame = reports.gaps(con, **bounds, namespaces=namespaces)
        return frame


@click.group()
def report() -> None:
    """Cardinality, backlog and completeness reports over the archive."""


@report.command()
@window_options
@part_option(
    _PARTS["cardinality"],
    "series: per day, namespace and metric; drivers: distinct "
    "values per label; contributors: top label values; headroom: points per scrape "
    "vs the cap, per filter, with the date the trend reaches it.",
)
@click.option(
    "--point-cap",
    type=int,
    default=None,
    help="Datapoints per response before truncation [default: the setting, 30000].",
)
def cardinality(point_cap: int | None, part: str, **options: Any) -> None:
    """How many series, what drives them, and the headroom under the point cap."""
    extra: dict[str, Any] = {}
    if part in ("series", "headroom"):
        extra["point_cap"] = point_cap or load_settings(archive=options["archive"]).point_cap
    _run(part, **options, **extra)


@report.command()
@window_options
@part_option(
    _PARTS["backlog"],
    "trends: one row per queue (slope, rising); hourly: min/avg/max/p95 per queue and hour.",
    default="trends",
)
def backlog(part: str, **options: Any) -> None:
    """Backlog per task queue (approximate_backlog_count): hourly levels, slope, rising queues."""
    _run(part, **options)


@report.command()
@window_options
@part_option(
    _PARTS["gaps"],
    "ranges: missing minute ranges and why; coverage: per namespace; scrapes: "
    "runs that did not end complete.",
)
@click.option("--fail-on-gap", is_flag=True, help="Exit 3 when any minute is missing (not idle).")
def gaps(part: str, fail_on_gap: bool, **options: Any) -> None:
    """Every missing minute range per namespace, with the reason, and a coverage percentage."""
    ranges = _run(part, **options, ranges=fail_on_gap)
    if part == "ranges" and options["fmt"] == "table" and options["output"] is None:
        # On a terminal, the runs behind the gaps belong on the same page.
        click.echo("\nscrape runs that did not end complete:")
        _run("scrapes", **options)
    missing = ranges.filter(ranges.get_column("is_gap")) if fail_on_gap else ranges.clear()
    if missing.height:
        minutes = int(missing.get_column("minutes").sum())
        raise IncompleteError(
            f"{missing.height} gap(s), {minutes} missing minute(s) in the window: "
            "see `archiver report gaps`"
        )


@click.command()
@click.argument("query")
@archive_option
@output_options("table", "csv", "json")
def sql(query: str, archive: str | None, fmt: str, output: str | None) -> None:
    """Run QUERY against the archive's views (samples, scrapes, descriptors, cardinality,
    backlog, gaps, ...). Example: archiver sql "SELECT metric, count(*) FROM samples GROUP BY 1"
    """
    from archiver.query import output as out
    from archiver.query.connect import run_sql

    with connection(archive) as con:
        out.write(run_sql(con, query), fmt, output)


report.add_command(capacity)
