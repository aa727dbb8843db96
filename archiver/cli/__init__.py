"""The ``archiver`` command line: a thin layer over the library.

Every command raises :class:`archiver.errors.ArchiverError` subclasses; :func:`main` turns them
into one line on stderr and the exit code of the contract (the table lives on the classes, see
``archiver/errors.py``). Tracebacks only with ``--debug``.
"""

from __future__ import annotations

import itertools
import logging
import sys
from typing import Any

import click
from filelock import Timeout

from archiver import __version__
from archiver.cli import logs
from archiver.errors import ArchiverError

log = logging.getLogger("archiver")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="archiver")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="stderr format; json: one object per line, errors included.",
)
@click.option("--debug", is_flag=True, help="Verbose logs and tracebacks.")
@click.pass_context
def cli(ctx: click.Context, log_format: str, debug: bool) -> None:
    """Keep a complete, queryable Parquet history of Temporal Cloud metrics.

    Run `archiver scrape` from cron every minute; query with `archiver report` or `archiver sql`.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    logs.setup(log_format, debug)


def _register() -> None:
    from archiver.cli.collect import config_group, descriptors, run, scrape
    from archiver.cli.demo import demo
    from archiver.cli.history import export_group, import_group
    from archiver.cli.notebooks import notebooks_group
    from archiver.cli.report import report, sql
    from archiver.cli.simulate import simulate
    from archiver.cli.storage import compact, retention

    for command in (scrape, run, descriptors, config_group, demo, report, sql, compact, retention):
        cli.add_command(command)
    for command in (simulate, import_group, export_group, notebooks_group):
        cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: run the CLI and map errors to exit codes."""
    args = list(argv if argv is not None else sys.argv[1:])
    debug = "--debug" in args
    # Usage errors happen before the group's callback sets logging up: honour the format now.
    json_logs = "--log-format=json" in args or any(
        a == "--log-format" and b == "json" for a, b in itertools.pairwise(args)
    )
    logs.setup("json" if json_logs else "text", debug)
    try:
        return cli.main(args=args, prog_name="archiver", standalone_mode=False)
    except ArchiverError as exc:
        log.error("%s", exc, exc_info=debug, extra={"exit_code": exc.exit_code})
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:
        # A read-only archive, an archive path under a file, a full disk met outside the
        # library's own checks: still one line naming the path, never a traceback.
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        message = f"storage error{where}: {exc.strerror or exc}: check that the archive is a "
        log.error("%swritable directory", message, exc_info=debug, extra={"exit_code": 1})
        sys.exit(1)
    except Timeout as exc:
        log.error(
            "another process held the lock %s too long: try again later, or find that process",
            exc.lock_file,
            exc_info=debug,
            extra={"exit_code": 1},
        )
        sys.exit(1)
    except click.Abort:
        log.error("aborted", extra={"exit_code": 1})
        sys.exit(1)
    except click.ClickException as exc:
        log.error("%s", _usage_line(exc), extra={"exit_code": exc.exit_code})
        sys.exit(exc.exit_code)


def _usage_line(exc: click.ClickException) -> str:
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return message
