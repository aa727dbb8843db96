"""``archiver report cardinality|backlog|gaps`` and ``archiver sql``: thin wrappers over
:mod:`archiver.query.reports` and :mod:`archiver.query.connect`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from archiver.cli.common import archive_option, load_settings
from archiver.errors import IncompleteError

if TYPE_CHECKING:
    import duckdb
    import polars as pl

log = logging.getLogger("archiver")
F = TypeVar("F", bound=Callable[..., Any])

_PARTS = {
    "cardinality": ("series", "drivers", "contributors", "headroom"),
    "backlog": ("hourly", "trends"),
    "gaps": ("ranges", "coverage", "scrapes"),
}


def _window_options(f: F) -> F:
    options = [
        archive_option,
        click.option(
            "--since",
            metavar="TIME",
            default="7d",
            show_default=True,
            help="Start: ISO date/time (UTC if no zone) or relative (90m, 36h, 7d, 2w).",
        ),
        click.option(
            "--until",
            metavar="TIME",
            default="now",
            show_default=True,
            help="End (exclusive), same forms as --since.",
        ),
        click.option(
            "--namespace",
            "namespaces",
            multiple=True,
            metavar="PATTERN",
            help="Only these namespaces (repeatable, * and ? wildcards).",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["table", "csv", "json", "parquet"]),
            default="table",
            show_default=True,
            help="Output format.",
        ),
        click.option(
            "--output",
            type=click.Path(dir_okay=False),
            metavar="FILE",
            help="Write to FILE instead of stdout (required for parquet).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@contextlib.contextmanager
def _connection(archive: str | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection to the archive the settings name (flag > env > toml > default)."""
    from archiver.config import memory_limit
    from archiver.query.connect import connect
    from archiver.store.archive import Archive

    settings = load_settings(archive=archive)
    con = connect(Archive.from_settings(settings), memory_limit=memory_limit(settings))
    try:
        yield con
    finally:
        con.close()


def _window(since: str, until: str) -> dict[str, datetime]:
    from archiver import timespec

    start, end = timespec.window(since, until, now=datetime.now(UTC))
    return {"since": start, "until": end}


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

    window = _window(since, until)
    with _connection(archive) as con:
        _, unmatched = reports.resolve_namespaces(con, namespaces)
        for pattern in unmatched:
            log.warning("no namespace in the archive matches %r", pattern)
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
        frame = functions[part](con, **window, **scope, **extra)
        out.write(frame, fmt, output)
        if ranges and part != "ranges":  # --fail-on-gap always judges the missing minutes
            frame = reports.gaps(con, **window, namespaces=namespaces)
        return frame


@click.group()
def report() -> None:
    """Cardinality, backlog and completeness reports over the archive."""


@report.command()
@_window_options
@click.option(
    "--part",
    type=click.Choice(_PARTS["cardinality"]),
    default="series",
    show_default=True,
    help="series: per day, namespace and metric; drivers: distinct "
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
@_window_options
@click.option(
    "--part",
    type=click.Choice(_PARTS["backlog"]),
    default="trends",
    show_default=True,
    help="trends: one row per queue (slope, rising); hourly: min/avg/max/p95 per queue and hour.",
)
def backlog(part: str, **options: Any) -> None:
    """Backlog per task queue (approximate_backlog_count): hourly levels, slope, rising queues."""
    _run(part, **options)


@report.command()
@_window_options
@click.option(
    "--part",
    type=click.Choice(_PARTS["gaps"]),
    default="ranges",
    show_default=True,
    help="ranges: missing minute ranges and why; coverage: per namespace; scrapes: "
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
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write to FILE instead of stdout.",
)
def sql(query: str, archive: str | None, fmt: str, output: str | None) -> None:
    """Run QUERY against the archive's views (samples, scrapes, descriptors, cardinality,
    backlog, gaps, ...). Example: archiver sql "SELECT metric, count(*) FROM samples GROUP BY 1"
    """
    from archiver.query import output as out
    from archiver.query.connect import run_sql

    with _connection(archive) as con:
        out.write(run_sql(con, query), fmt, output)


# Imported by name at the end: archiver.cli.capacity reuses this module's options (a cycle).
report.add_command(__import__("archiver.cli.capacity", fromlist=["capacity"]).capacity)
