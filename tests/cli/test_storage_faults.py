"""Storage faults at the command line (issue 15 case 8): a read-only archive and a second
``compact`` are one line with their exit code (JSON under ``--log-format json``), never a
traceback or a minute-long wait; and garbage ``Retry-After`` values count as absent (case 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from archiver.collect.attempt import MAX_RETRY_AFTER, parse_retry_after
from archiver.store.archive import Archive
from tests.helpers import build_archive

KEY = "sk-test-storage-0123"


def _archiver(args: list[str], archive: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "archiver",
            "--log-format",
            "json",
            *args,
            "--archive",
            str(archive),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"TEMPORAL_CLOUD_API_KEY": KEY} | env,
    )


@pytest.fixture
def read_only_archive(tmp_path: Path) -> Iterator[Path]:
    """An archive that cron has used (its ``_archiver/`` state folder exists), then mounted
    read-only: a real read-only file system, since root ignores permission bits."""
    source, mounted = tmp_path / "source", tmp_path / "mounted"
    build_archive(source / "archive", minutes=30)
    assert _archiver(["compact"], source / "archive").returncode == 0
    mounted.mkdir()
    bind = subprocess.run(["mount", "--bind", str(source), str(mounted)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip("a read-only archive needs a bind mount (root in a mount namespace)")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mounted)], check=True)
        yield mounted / "archive"
    finally:
        subprocess.run(["umount", str(mounted)], check=True)


@pytest.mark.parametrize(
    "command",
    [["scrape"], ["compact"], ["retention", "--keep-days", "1", "--yes"], ["descriptors"]],
    ids=["scrape", "compact", "retention", "descriptors"],
)
def test_a_read_only_archive_is_one_json_line_exit_1(
    read_only_archive: Path, command: list[str]
) -> None:
    # Nothing may be sent before the archive is found unwritable: the endpoint is a closed port.
    done = _archiver(command, read_only_archive, ARCHIVER_ENDPOINT="http://127.0.0.1:9")
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0]["exit_code"] == 1
    assert "Read-only file system" in lines[0]["message"]
    assert "writable directory" in lines[0]["message"]
    assert "Traceback" not in done.stderr and KEY not in done.stderr


def test_reading_a_read_only_archive_still_works(read_only_archive: Path) -> None:
    import duckdb

    files = str(read_only_archive / "samples" / "**" / "*.parquet")
    (stored,) = duckdb.execute("SELECT count(*) FROM read_parquet(?)", [files]).fetchall()[0]
    done = _archiver(
        ["sql", "SELECT count(*) AS n FROM samples", "--format", "csv"], read_only_archive
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["n", str(stored)] and stored == 900


def test_a_second_compact_says_so_and_does_not_wait(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    build_archive(root, minutes=30)
    before = sorted(root.rglob("*.parquet"))
    with Archive.open(str(root)).lock("compact", timeout=5):
        done = _archiver(["compact"], root)
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert done.returncode == 0, done.stderr
    assert [line["level"] for line in lines] == ["warning"]
    assert "another `archiver compact` is running" in lines[0]["message"]
    assert done.stdout == ""
    # nothing was compacted: every minute file is still there, and nothing else
    assert sorted(root.rglob("*.parquet")) == before and len(before) > 30


@pytest.mark.parametrize(
    "value", ["nan", "inf", "-inf", "-5", "soon", "", "   ", "1e999", "Mon, 99 Foo 2026"]
)
def test_a_garbage_retry_after_counts_as_absent(value: str) -> None:
    assert parse_retry_after(value, 1_000_000.0) is None


def test_retry_after_as_seconds_or_a_date_is_capped_at_an_hour() -> None:
    now = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
    assert parse_retry_after("30", now) == 30.0
    assert parse_retry_after(" 12.5 ", now) == 12.5
    assert parse_retry_after("Tue, 14 Nov 2023 22:14:20 GMT", now) == 60.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:10:00 GMT", now) == 0.0  # already past
    assert parse_retry_after("100000000", now) == MAX_RETRY_AFTER == 3600.0
    assert parse_retry_after("Fri, 14 Nov 2031 22:13:20 GMT", now) == MAX_RETRY_AFTER
