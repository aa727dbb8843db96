"""Commands that talk to the API: scrape, run, descriptors; and config show."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import click

from archiver.cli.common import (
    archive_option,
    load_settings,
    on_terminal,
    return_freed_memory,
    source_options,
)
from archiver.errors import ArchiverError, Interrupted


def _heartbeat(result: Any) -> str:
    window = datetime.fromtimestamp(result.target_window / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")
    line = (
        f"{window} {result.outcome}: {result.samples} samples, {result.new_samples} new, "
        f"{result.requests} request{'' if result.requests == 1 else 's'}"
    )
    return line + (f" ({result.message})" if result.message else "")


@click.command()
@archive_option
@source_options
@click.option("-v", "--verbose", is_flag=True, help="Print a summary line even on success.")
def scrape(verbose: bool, **flags: Any) -> None:
    """Scrape the latest minute once (what cron runs every minute).

    Exit codes: 0 archived (or another scrape is running), 1 error (network, server,
    storage; a fault that persists backs off; a previous scrape stuck past its deadline),
    2 configuration, 3 incomplete data, 4 rate limited (a 429 or the account's ledger).
    """
    return_freed_memory()
    # pyarrow imports numpy when it is installed, and nothing a one-shot scrape runs uses it:
    # kept out, a 50,000-point cron scrape peaks 15 MB lower (measured). A process that has
    # numpy already (a test runner) keeps it.
    sys.modules.setdefault("numpy", None)  # type: ignore[arg-type]
    import time

    from archiver.collect.scrape import phase_wait, scrape_once

    settings = load_settings(**flags)
    wait = phase_wait(time.time(), settings.phase)
    if verbose and wait >= 1:
        on_terminal(
            f"waiting {wait:.0f} s, until {settings.phase:g} s into the minute (ARCHIVER_PHASE), "
            "before asking for it"
        )
    result = scrape_once(settings)
    if verbose or result.outcome == "skipped":
        click.echo(_heartbeat(result))
    result.raise_for_outcome()


@click.command()
@archive_option
@source_options
@click.option(
    "--interval",
    default=60,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seconds between scrapes, aligned to the minute.",
)
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many scrapes.")
def run(interval: int, count: int | None, **flags: Any) -> None:
    """Scrape on a schedule until SIGINT/SIGTERM, one heartbeat line per scrape.

    A signal stops it within a second or two, mid-request included (that minute is logged as
    `interrupted` and nothing of it is stored).
    """
    return_freed_memory()  # between scrapes, a sleeping process holds little
    import time

    from archiver.collect import schedule
    from archiver.collect.client import ON_WIRE

    settings = load_settings(**flags)
    settings.require_key()
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()
        if ON_WIRE.is_set():
            # Cut the request short: its socket read may not return for many seconds.
            raise Interrupted(f"stopped by {signal.Signals(signum).name} mid-request")

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_stop)

    def report_error(exc: ArchiverError) -> None:
        # Through logging, so that --log-format json keeps every stderr line one JSON object.
        logging.getLogger("archiver").error(
            "scrape failed: %s", exc, extra={"exit_code": exc.exit_code}
        )

    first = datetime.fromtimestamp(schedule.next_tick(time.time(), interval, settings.phase), UTC)
    on_terminal(
        f"scraping {settings.endpoint} into {settings.archive} every {interval} s, the first at "
        f"{first:%H:%M:%S} UTC; one line per scrape; Ctrl-C stops"
    )
    done = schedule.run(
        settings,
        interval=interval,
        stop=stop,
        count=count,
        on_result=lambda r: click.echo(_heartbeat(r)),
        on_error=report_error,
    )
    on_terminal(f"stopped after {done} scrape{'' if done == 1 else 's'}")


@click.command()
@archive_option
@click.option(
    "--endpoint",
    metavar="URL",
    help="Metrics API base URL [env ARCHIVER_ENDPOINT; default https://metrics.temporal.io].",
)
def descriptors(**flags: Any) -> None:
    """Fetch every page of /v1/descriptors, archive them, print drift since last time."""
    from archiver.collect.descriptors import refresh_descriptors

    result = refresh_descriptors(load_settings(**flags))
    click.echo(f"{result.count} descriptors archived")
    for line in result.drift.lines():
        click.echo(line)


@click.group("config")
def config_group() -> None:
    """Inspect the effective configuration."""


@config_group.command("show")
@archive_option
@source_options
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def config_show(fmt: str, **flags: Any) -> None:
    """The effective settings and where each came from (the API key redacted)."""
    settings = load_settings(**flags)
    values = settings.redacted()
    if fmt == "json":
        click.echo(
            json.dumps(
                [
                    {"setting": k, "value": v, "source": settings.sources.get(k, "default")}
                    for k, v in values.items()
                ]
            )
        )
        return
    width = max(len(k) for k in values)
    for key, value in values.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        click.echo(f"{key:<{width}}  {shown!s:<40}  {settings.sources.get(key, 'default')}")
