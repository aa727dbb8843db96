"""Commands that look after the archive itself: compact and retention."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

import click

from archiver.cli.common import archive_option, load_settings, on_terminal

log = logging.getLogger("archiver")


def _open(flags: dict[str, Any]) -> Any:
    from archiver.store.archive import Archive

    return Archive.from_settings(load_settings(**flags))


@click.command()
@archive_option
@click.option(
    "--date",
    "dates",
    multiple=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="Only this date partition (repeatable); default: every partition.",
)
def compact(dates: tuple[datetime, ...], **flags: Any) -> None:
    """Merge each partition's small files into a few sorted ones; drop duplicates.

    Run it as its own cron job (scrape never compacts). The rows stay identical (checked by a
    digest of the files read back before the swap); memory stays bounded by
    ARCHIVER_MEMORY_LIMIT (default 256MB for DuckDB's sort). Damaged files are moved to
    <archive>/_archiver/quarantine/ and named in a warning. If another compaction is running
    on the archive, this one says so and exits 0 without waiting.
    """
    import filelock

    from archiver.config import memory_limit
    from archiver.store import compact as lib
    from archiver.store.archive import Archive

    settings = load_settings(**flags)
    limit = memory_limit(settings) if settings.memory_limit else None
    archive = Archive.from_settings(settings)
    wanted = [d.date().isoformat() for d in dates] or None
    which = ", ".join(wanted) if wanted else "every partition"
    on_terminal(f"compacting {archive.uri} ({which}); this can take minutes on a large archive")
    try:
        report = lib.compact(archive, dates=wanted, memory_limit=limit, busy_timeout=0)
    except filelock.Timeout:
        log.warning("another `archiver compact` is running on %s; nothing done", settings.archive)
        return
    done = report.compacted
    rows_in = sum(r.rows_in for r in done)
    rows_out = sum(r.rows_out for r in done)
    bytes_in = sum(r.bytes_in for r in done)
    bytes_out = sum(r.bytes_out for r in done)
    click.echo(
        f"compacted {len(done)} partitions ({len(report.partitions) - len(done)} already "
        f"compact): {sum(r.inputs for r in done)} files -> {sum(r.outputs for r in done)}, "
        f"{rows_in} rows -> {rows_out} ({rows_in - rows_out} duplicates dropped), "
        f"{bytes_in} bytes -> {bytes_out}"
    )
    for path in report.quarantined:
        click.echo(f"quarantined damaged file: {path}")


@click.command()
@archive_option
@click.option(
    "--keep-days",
    type=int,
    required=True,
    metavar="N",
    help="Keep the last N days (today included); older date partitions go.",
)
@click.option("--yes", is_flag=True, help="Delete for real (default: only list what would go).")
def retention(keep_days: int, yes: bool, **flags: Any) -> None:
    """Delete whole date partitions older than --keep-days (a dry run unless --yes)."""
    from archiver.store import retention as lib

    archive = _open(flags)
    today: date = datetime.now(UTC).date()
    expired = lib.retention(archive, keep_days, today=today, dry_run=not yes)
    verb = "removed" if yes else "would remove"
    for item in expired:
        click.echo(f"{verb} {item.table}/date={item.date} ({item.files} files, {item.bytes} bytes)")
    if not expired:
        click.echo(f"nothing older than {keep_days} days")
    elif not yes:
        click.echo(f"dry run: {len(expired)} partitions; run again with --yes to delete them")
