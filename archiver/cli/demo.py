"""``archiver demo``: the simulator, a simulated week, and the three reports."""

from __future__ import annotations

import click


@click.command()
@click.option("--archive", default="demo-archive", show_default=True, help="Where to archive.")
@click.option(
    "--days",
    default=7.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="Simulated days to scrape.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the simulated account.")
def demo(archive: str, days: float, seed: int) -> None:
    """Scrape the built-in simulator for a simulated week (offline, no key) and report on it."""
    import time

    from archiver.demo import run_demo

    began = time.perf_counter()
    with click.progressbar(
        length=int(days * 1440),
        label="scraping a simulated week",
        file=click.get_text_stream("stderr"),
    ) as bar:
        summary = run_demo(archive, days=days, seed=seed, on_scrape=lambda r: bar.update(1))
    took = time.perf_counter() - began
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(summary.outcomes.items()))
    click.echo(
        f"archived {summary.samples:,} samples from {summary.scrapes:,} scrapes "
        f"({summary.start:%Y-%m-%d} to {summary.end:%Y-%m-%d}) into {archive}/ in {took:.1f}s"
    )
    click.echo(f"scrape outcomes: {outcomes}")
    _print_reports(archive, summary.start, summary.end)


def _print_reports(archive: str, start: object, end: object) -> None:
    from archiver import query, reports
    from archiver.output import write

    con = query.connect(archive)
    for title, frame in (
        ("cardinality", reports.cardinality(con, since=start, until=end)),
        ("backlog", reports.backlog(con, since=start, until=end)),
        ("gaps", reports.gaps(con, since=start, until=end)),
    ):
        click.echo(f"\n== {title} ==")
        write(frame, "table", None)
