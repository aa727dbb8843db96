"""``archiver import`` and ``archiver export``: history in from files and Prometheus-compatible
stores, and back out to a TSDB."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click

from archiver.cli.common import archive_option, load_settings

import_group = click.Group(
    "import", help="Bring history into the archive (deduplicated, recorded in the scrape log)."
)
export_group = click.Group("export", help="Give archived history back to a TSDB.")


def _archive(flags: dict[str, Any]) -> Any:
    from archiver.store.archive import Archive

    return Archive.from_settings(load_settings(**flags))


@contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal; otherwise nothing."""
    if not sys.stderr.isatty() or total <= 0:
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        done = [0]

        def update(position: int) -> None:
            bar.update(position - done[0])
            done[0] = position

        yield update


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


@import_group.command("openmetrics")
@archive_option
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def import_openmetrics(files: tuple[str, ...], **flags: Any) -> None:
    """Import OpenMetrics FILES (plain or .gz, any size) into the archive.

    Each file is parsed whole before any of it is stored (a bad line stores nothing of that
    file); samples already archived are skipped; the minutes are recorded in the scrape log
    with source openmetrics:<file name>.
    """
    from archiver.history.importfile import import_file

    archive = _archive(flags)
    for path in files:
        size = os.path.getsize(path) if os.path.isfile(path) else 0
        with _progress(os.path.basename(path), size) as progress:
            result = import_file(archive, path, progress=progress)
        click.echo(
            f"{path}: {result.samples} samples in {result.minutes} minutes "
            f"({_when(result.first_ms)} .. {_when(result.last_ms)}), {result.new_samples} new, "
            f"{result.samples - result.new_samples} already archived"
        )
