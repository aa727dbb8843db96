"""``archiver compact`` as a process: a full disk exits 1 naming the partition, left as it
was; a second compaction does not wait for the first."""

from __future__ import annotations

import os
import time
from pathlib import Path

from archiver.store.archive import Archive
from tests.store.compacting import (
    ACCOUNT,
    compact_cli,
    fill,
    plain_read,
    rows,
    sample_files,
)


def test_compact_that_cannot_write_exits_1_naming_the_path_partition_as_it_was(
    tmp_path: Path,
) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(30))
    before, files = rows(tmp_path), sample_files(tmp_path)
    largest = max(os.path.getsize(f) for f in files)
    done = compact_cli(tmp_path, limit_bytes=largest)  # the merged file cannot fit
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot compact" in lines[0] and str(tmp_path) in lines[0]
    assert "Traceback" not in done.stderr
    assert rows(tmp_path) == before and sample_files(tmp_path) == files
    assert plain_read(tmp_path) == len(before)
    done = compact_cli(tmp_path)  # space again: the next run finishes the job
    assert done.returncode == 0, done.stderr
    assert rows(tmp_path) == before


def test_second_compaction_does_not_wait_for_the_first(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(2))
    with archive.lock("compact"):
        started = time.monotonic()
        done = compact_cli(tmp_path)
        assert time.monotonic() - started < 30
    assert done.returncode == 0
    assert "another `archiver compact` is running" in done.stderr
    assert len(sample_files(tmp_path)) == 2 * len(ACCOUNT.namespaces)  # nothing merged
