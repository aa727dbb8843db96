"""``archiver notebooks run``: execute the capacity-planning notebooks against an archive and
render them as HTML; a thin wrapper over :mod:`archiver.query.notebooks`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from archiver.cli.common import archive_option, load_settings
from archiver.errors import ArchiverError, ConfigError
from archiver.query.notebooks import NOTEBOOKS


@click.group("notebooks")
def notebooks_group() -> None:
    """The capacity-planning notebooks (notebooks/*.py, jupytext text)."""


@notebooks_group.command("run")
@archive_option
@click.option(
    "--html",
    "html_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Also write <notebook>.html into DIR (created if missing).",
)
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(NOTEBOOKS),
    help="Run only this notebook (repeatable) [default: all].",
)
def run(archive: str | None, html_dir: Path | None, only: tuple[str, ...]) -> None:
    """Execute every notebook (or --only some) against the archive; one line per notebook."""
    settings = load_settings(archive=archive)
    if not Path(settings.archive).exists():
        raise ConfigError(
            f"no archive at {settings.archive}: run `archiver demo` (or `make demo`) first, "
            "or point --archive at an existing one"
        )
    # Jupyter moves its config/data paths to platformdirs; without this opt-in jupyter_core
    # warns on import (and the kernels it starts inherit the setting).
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    from nbclient.exceptions import CellExecutionError

    from archiver.query.notebooks import execute_many

    try:
        runs = execute_many(only or NOTEBOOKS, settings.archive, html_dir=html_dir)
    except CellExecutionError as exc:
        raise ArchiverError(f"a notebook failed: {exc}") from exc
    for one in runs:
        where = f" -> {one.html}" if one.html else ""
        empty = f", {len(one.empty_charts)} without data" if one.empty_charts else ""
        click.echo(f"{one.name}: {len(one.charts)} chart(s){empty}{where}")
