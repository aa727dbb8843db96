"""What every command shares: the settings options (loaded with the contract's precedence),
the report window and output options, and the connection a query command opens."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    import duckdb

    from archiver import config

log = logging.getLogger("archiver")

F = TypeVar("F", bound=Callable[..., Any])


def archive_option(f: F) -> F:
    """``--archive`` (a local path or s3://bucket/prefix)."""
    return click.option(
        "--archive",
        metavar="PATH|s3://BUCKET/PREFIX",
        help="Archive root [env ARCHIVER_ARCHIVE; default ./archive].",
    )(f)


def source_options(f: F) -> F:
    """``--endpoint``, ``--namespaces``, ``--metrics``, ``--labels``."""
    options = [
        click.option(
            "--endpoint",
            metavar="URL",
            help="Metrics API base URL [env ARCHIVER_ENDPOINT; default https://metrics.temporal.io].",
        ),
        click.option(
            "--namespaces",
            multiple=True,
            metavar="PATTERN",
            help="Only these namespaces (repeatable, * wildcards, e.g. 'prod-*').",
        ),
        click.option(
            "--metrics", multiple=True, metavar="NAME", help="Only these metrics (repeatable)."
        ),
        click.option(
            "--labels",
            multiple=True,
            metavar="LABEL",
            help="Opt-in labels to request, e.g. temporal_activity_type (repeatable).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def output_options(*formats: str) -> Callable[[F], F]:
    """``--format`` (one of ``formats``, the first the default) and ``--output FILE``."""

    def decorate(f: F) -> F:
        needs_file = " (required for parquet)" if "parquet" in formats else ""
        f = click.option(
            "--output",
            type=click.Path(dir_okay=False),
            metavar="FILE",
            help=f"Write to FILE instead of stdout{needs_file}.",
        )(f)
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(list(formats)),
            default=formats[0],
            show_default=True,
            help="Output format.",
        )(f)

    return decorate


def part_option(parts: Sequence[str], help: str, default: str | None = None) -> Callable[[F], F]:
    """``--part``: which of a report's ``parts`` to show (``default``, else the first)."""
    return click.option(
        "--part",
        type=click.Choice(list(parts)),
        default=default or parts[0],
        show_default=True,
        help=help,
    )


def window_options(f: F) -> F:
    """``--archive``, ``--since``, ``--until``, ``--namespace``, ``--format``, ``--output``:
    what every report reads."""
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
        output_options("table", "csv", "json", "parquet"),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def window(since: str, until: str) -> dict[str, datetime]:
    """``--since``/``--until`` as the ``since``/``until`` datetimes the reports take."""
    from archiver import timespec

    start, end = timespec.window(since, until, now=datetime.now(UTC))
    return {"since": start, "until": end}


@contextlib.contextmanager
def connection(archive: str | None) -> Iterator[duckdb.DuckDBPyConnection]:
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


def warn_unmatched(con: duckdb.DuckDBPyConnection, namespaces: Sequence[str]) -> None:
    """Log a warning for each ``--namespace`` pattern that matches nothing in the archive."""
    from archiver.query import reports

    _, unmatched = reports.resolve_namespaces(con, namespaces)
    for pattern in unmatched:
        log.warning("no namespace in the archive matches %r", pattern)


def load_settings(**flags: Any) -> config.Settings:
    """Settings from flags, environment and archiver.toml (flag > env > file > default)."""
    # Imported here: config pulls in tomllib and friends, which `archiver --help` never needs.
    from archiver.config import load_settings as load

    return load(**flags)


def return_freed_memory() -> None:
    """Have Arrow's and polars' allocators hand freed memory back to the system at once.

    A cron scrape lives a second and is judged by its peak. By default Arrow's pool (mimalloc)
    and polars' jemalloc keep what they free for reuse, which lifts the peak RSS of a
    30,000-sample scrape from 194 to 221 MB (measured; releasing costs 6% more wall time).
    Each library reads its setting when it loads, so this runs before either is imported.
    Polars writes its own jemalloc defaults into the environment when imported (so a child
    of a process that imported polars inherits them); options later in the string win.
    """
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    inherited = os.environ.get("_RJEM_MALLOC_CONF")
    immediate = "dirty_decay_ms:0,muzzy_decay_ms:0"
    os.environ["_RJEM_MALLOC_CONF"] = f"{inherited},{immediate}" if inherited else immediate


def on_terminal(message: str) -> None:
    """A start or progress line on stderr for someone watching a terminal; nothing under cron
    or in a pipe (not a TTY), where output is for problems only."""
    import sys

    if sys.stderr.isatty():
        click.echo(message, err=True)
