"""``archiver report capacity``: usage against each namespace limit, units needed, billable
actions; a thin wrapper over :mod:`archiver.query.capacity`, with ``--plot DIR`` for PNG charts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from archiver.cli.common import connection, part_option, warn_unmatched, window, window_options

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger("archiver")

_PARTS = ("summary", "usage", "units", "billable")


@click.command()
@window_options
@part_option(
    _PARTS,
    "summary: peak vs limit per namespace and kind, alerts, throttling, projected limit "
    "date; usage: per namespace, kind and hour; units: Temporal Resource Units needed; "
    "billable: billable actions by action type and workflow type.",
)
@click.option(
    "--bucket",
    type=click.Choice(["minute", "hour"]),
    default="hour",
    show_default=True,
    help="Time bucket of --part usage.",
)
@click.option(
    "--plot",
    "plot_dir",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Also write one PNG per key chart into DIR (created if missing).",
)
def capacity(part: str, bucket: str, plot_dir: str | None, **options: Any) -> None:
    """Actions, requests and operations per second against their limits, per namespace."""
    from archiver.query import capacity as cap
    from archiver.query import output as out

    bounds = window(options["since"], options["until"])
    namespaces = options["namespaces"]
    with connection(options["archive"]) as con:
        warn_unmatched(con, namespaces)
        scope: dict[str, Any] = {**bounds, "namespaces": namespaces}
        functions: dict[str, Callable[..., pl.DataFrame]] = {
            "summary": cap.summary,
            "usage": cap.usage,
            "units": cap.units,
            "billable": cap.billable,
        }
        extra = {"bucket": 60 if bucket == "minute" else 3600} if part == "usage" else {}
        frame = functions[part](con, **scope, **extra)
        out.write(frame, options["fmt"], options["output"])
        if plot_dir is not None:
            from pathlib import Path

            for path in cap.write_charts(con, Path(plot_dir), **scope):
                log.info("wrote %s", path)
