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


@import_group.command("prometheus")
@archive_option
@click.option(
    "--url",
    required=True,
    metavar="URL",
    help="Base URL of the Prometheus-compatible API (serves /api/v1/query_range).",
)
@click.option(
    "--match",
    "selector",
    required=True,
    metavar="SELECTOR",
    help="Series selector, e.g. '{__name__=~\"temporal_cloud_v1_.*\"}'.",
)
@click.option("--since", required=True, metavar="TIME", help="From (ISO date/time or e.g. 30d).")
@click.option("--until", metavar="TIME", help="Until, exclusive; default: now.")
@click.option(
    "--drop-label",
    "drop_labels",
    multiple=True,
    metavar="LABEL",
    help="Another label the scraper added, dropped like job and instance (repeatable).",
)
@click.option("--ca-file", metavar="FILE", help="CA bundle to trust for an https URL.")
def import_prometheus(
    url: str,
    selector: str,
    since: str,
    until: str | None,
    drop_labels: tuple[str, ...],
    ca_file: str | None,
    **flags: Any,
) -> None:
    """Import history from a Prometheus-compatible query API (Prometheus, Thanos, Mimir,
    VictoriaMetrics, Grafana Cloud): each minute's sample at a 60 s step, job and instance
    dropped, deduplicated, resumable (a rerun of an interrupted import goes on where it
    stopped). Credentials from ARCHIVER_IMPORT_BEARER_TOKEN, or ARCHIVER_IMPORT_USERNAME and
    ARCHIVER_IMPORT_PASSWORD (each also as a _FILE variable)."""
    from archiver import timespec
    from archiver.credentials import import_auth
    from archiver.history.promapi import PromAPI
    from archiver.history.prometheus import import_prometheus as run_import

    archive = _archive(flags)
    start, end = timespec.window(since, until, now=datetime.now(UTC))
    verify: Any = True
    if ca_file:
        import ssl

        verify = ssl.create_default_context(cafile=ca_file)
    with PromAPI(url, import_auth(os.environ), verify=verify) as api:
        result = run_import(archive, api, selector, start, end, drop_labels=drop_labels)
    if result.series_matched == 0:
        click.echo(f"0 series matched {selector} at {result.url}")
        return
    resumed = f", {result.windows_resumed} done before" if result.windows_resumed else ""
    click.echo(
        f"{result.series_matched} series matched ({len(result.metrics)} metrics); "
        f"{result.samples} samples in {result.minutes} minutes "
        f"({_when(result.first_ms)} .. {_when(result.last_ms)}), {result.new_samples} new, "
        f"{result.samples - result.new_samples} already archived; {result.windows} windows, "
        f"{result.requests} requests{resumed}"
    )


def selection_options(f: Any) -> Any:
    """``--since``, ``--until``, ``--namespace``, ``--metric`` of the export commands."""
    options = [
        click.option("--since", metavar="TIME",
                     help="From (ISO date/time or e.g. 7d); default: the first sample."),
        click.option("--until", metavar="TIME", help="Until, exclusive; default: now."),
        click.option("--namespace", "namespaces", multiple=True, metavar="PATTERN",
                     help="Only these namespaces (repeatable, * wildcards)."),
        click.option("--metric", "metrics", multiple=True, metavar="PATTERN",
                     help="Only these metrics (repeatable, * wildcards)."),
    ]  # fmt: skip
    for option in reversed(options):
        f = option(f)
    return f


def _selection(since: str | None, until: str | None, namespaces: Any, metrics: Any) -> Any:
    from archiver import timespec
    from archiver.history.export import Selection

    now = datetime.now(UTC)
    start = timespec.parse(since, now=now, option="--since") if since else None
    end = timespec.parse(until, now=now, option="--until") if until else None
    if start is not None and end is not None and start >= end:
        from archiver.errors import ConfigError

        raise ConfigError(
            f"--since ({start.isoformat()}) must be before --until ({end.isoformat()})"
        )
    return Selection(since=start, until=end, namespaces=tuple(namespaces), metrics=tuple(metrics))


@export_group.command("openmetrics")
@archive_option
@selection_options
@click.option(
    "--output", "-o", metavar="FILE", help="Write to FILE (whole or not at all); default: stdout."
)
def export_openmetrics(
    since: str | None,
    until: str | None,
    namespaces: tuple[str, ...],
    metrics: tuple[str, ...],
    output: str | None,
    **flags: Any,
) -> None:
    """Archived samples as OpenMetrics text, streamed, for `promtool tsdb
    create-blocks-from openmetrics` (one gauge family per metric, timestamps in seconds)."""
    from archiver.history import export

    archive = _archive(flags)
    selection = _selection(since, until, namespaces, metrics)
    if output is None:
        result = export.export_openmetrics(archive, sys.stdout.buffer, selection)
        sys.stdout.buffer.flush()
    else:
        partial = f"{output}.partial"
        try:
            with open(partial, "wb") as out:
                result = export.export_openmetrics(archive, out, selection)
            os.replace(partial, output)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    click.echo(
        f"exported {result.samples} samples of {result.series} series in {result.families} "
        f"families{'' if output is None else ' to ' + output}",
        err=True,
    )


@export_group.command("remote-write")
@archive_option
@selection_options
@click.option("--url", required=True, metavar="URL",
              help="Remote-write endpoint, e.g. http://prometheus:9090/api/v1/write.")  # fmt: skip
@click.option("--ca-file", metavar="FILE", help="CA bundle to trust for an https URL.")
def export_remote_write(
    since: str | None,
    until: str | None,
    namespaces: tuple[str, ...],
    metrics: tuple[str, ...],
    url: str,
    ca_file: str | None,
    **flags: Any,
) -> None:
    """Send archived samples to a TSDB over Prometheus remote-write 1.0 (protobuf + snappy),
    batched, retried with backoff; a rerun after a failure resumes where it stopped.
    Credentials as for `import prometheus` (ARCHIVER_IMPORT_BEARER_TOKEN, or
    ARCHIVER_IMPORT_USERNAME and ARCHIVER_IMPORT_PASSWORD)."""
    from archiver.credentials import import_auth
    from archiver.history.remotewrite import export_remote_write as send

    archive = _archive(flags)
    selection = _selection(since, until, namespaces, metrics)
    verify: Any = True
    if ca_file:
        import ssl

        verify = ssl.create_default_context(cafile=ca_file)
    result = send(archive, url, selection, auth=import_auth(os.environ), verify=verify)
    resumed = ""
    if result.resumed_after is not None:
        resumed = (
            f" (resumed after {result.resumed_after.series} at {_when(result.resumed_after.ts_ms)})"
        )
    click.echo(
        f"sent {result.samples} samples in {result.requests} requests to {result.url}{resumed}"
    )
