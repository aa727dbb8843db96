"""``archiver demo``: the simulator, a simulated week, and the three reports."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import polars as pl


@click.command()
@click.option(
    "--archive",
    default="demo-archive",
    show_default=True,
    metavar="PATH|s3://BUCKET/PREFIX",
    help="Where to archive.",
)
@click.option(
    "--days",
    default=7.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="Simulated days in all.",
)
@click.option(
    "--live-hours",
    default=3.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Of those, the last hours scraped minute by minute through the real collector.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the simulated account.")
def demo(archive: str, days: float, live_hours: float, seed: int) -> None:
    """Simulate a week of Temporal Cloud metrics offline (no key), archive it, report on it.

    History is written straight from the simulator's model; the last hours are real scrapes of
    the in-process simulator, with faults, so the gap report has something true to say.
    """
    import logging
    import sys
    import time

    from archiver.simulator.demo import DEMO_POINT_CAP, run_demo

    # Each injected fault would print a warning line; the summary counts the outcomes instead.
    logging.getLogger("archiver.collect").setLevel(logging.ERROR)
    began = time.perf_counter()
    with click.progressbar(
        length=int(days * 1440),
        label="simulating a week",
        file=sys.stderr,
    ) as bar:
        summary = run_demo(
            archive, days=days, live_hours=live_hours, seed=seed, on_progress=bar.update
        )
    took = time.perf_counter() - began
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(summary.outcomes.items()))
    click.echo(
        f"archived {summary.history_samples + summary.scraped_samples:,} samples for "
        f"{summary.start:%Y-%m-%d %H:%M} to {summary.end:%Y-%m-%d %H:%M} UTC into {archive}/ "
        f"in {took:.1f}s:\n"
        f"  history  {summary.history_samples:>12,} samples written from the simulator's model\n"
        f"  live     {summary.scraped_samples:>12,} samples from {summary.scrapes:,} real scrapes "
        f"({outcomes})\n"
        f"The simulated account has a {DEMO_POINT_CAP:,}-point cap per response (the real one: "
        f"30,000) so that a week of it fits in a minute; report on it with "
        f"--point-cap {DEMO_POINT_CAP}."
    )
    _print_reports(archive, summary.start, summary.live_start, summary.end, DEMO_POINT_CAP)
    _print_split(summary.end)


def _print_split(at: datetime) -> None:
    """One scrape of a bigger simulated account at the real cap: limited, split, complete."""
    from archiver.query.output import write
    from archiver.simulator.demo_split import REAL_POINT_CAP, split_scrape

    split = split_scrape(at)
    click.echo(
        f"\n== one minute at the real {REAL_POINT_CAP:,} cap: a bigger simulated account, "
        f"answered limited and split until complete (a scratch archive) =="
    )
    write(split.requests, "table", None)
    click.echo(f"{split.outcome}: {split.samples:,} samples, each stored once")


def _print_reports(
    archive: str, start: datetime, live_start: datetime, end: datetime, point_cap: int
) -> None:
    from archiver.query import connect as query
    from archiver.query import reports
    from archiver.query.output import write

    con = query.connect(archive)
    week: dict[str, Any] = {"since": start, "until": end}
    live: dict[str, Any] = {"since": live_start, "until": end}
    sections = (
        (
            f"cardinality: datapoints per scrape against the demo's {point_cap:,} cap",
            reports.cardinality_headroom(con, **week, point_cap=point_cap).select(
                "filter",
                "source",
                "series",
                "docs_estimate",
                "peak_points",
                "p95_points",
                "headroom_pct",
                "limited",
                "slope_per_day",
                "cap_date",
            ),
        ),
        (
            "cardinality: what grew over the week (the last day against the first)",
            _growth(reports.cardinality(con, **week, point_cap=point_cap)),
        ),
        (
            "cardinality: the label values behind the most series",
            reports.cardinality_contributors(con, **week, top=6),
        ),
        (
            "backlog: task queues by backlog growth (tasks per hour)",
            reports.backlog_trends(con, **week)
            .head(6)
            .select(
                "namespace",
                "task_queue",
                "task_type",
                "first_avg",
                "last_avg",
                "slope_per_hour",
                "r2",
                "rising",
                "poll_success_rate",
                "sync_match_rate",
            ),
        ),
        ("gaps in the live hours (what the scrape log covers)", reports.gaps(con, **live)),
        ("coverage in the live hours", reports.gaps_coverage(con, **live)),
    )
    for title, frame in sections:
        click.echo(f"\n== {title} ==")
        write(frame, "table", None)


def _growth(per_day: pl.DataFrame) -> pl.DataFrame:
    """The (namespace, metric) rows of the last day that gained the most series since the
    first, with the task queues and workflow types behind them on both days."""
    import polars as pl

    if per_day.is_empty():
        return per_day
    keys = ["namespace", "metric"]
    first = per_day.filter(pl.col("date") == pl.col("date").min()).select(
        *keys,
        first_task_queues=pl.col("task_queues"),
        first_workflow_types=pl.col("workflow_types"),
    )
    last = per_day.filter(pl.col("date") == pl.col("date").max())
    return (
        last.join(first, on=keys, how="left")
        .sort(["series_change", *keys], descending=[True, False, False])
        .head(6)
        .select(
            *keys,
            "series",
            "series_change",
            "first_task_queues",
            "task_queues",
            "first_workflow_types",
            "workflow_types",
        )
    )
