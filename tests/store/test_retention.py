"""Retention on real files: a dry run first, then whole days deleted."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from archiver.cli import storage
from archiver.errors import ConfigError
from archiver.store import repair, retention
from archiver.store import write as store
from archiver.store.archive import Archive
from tests.store.compacting import (
    days,
    fill,
    plain_read,
)


def test_retention_dry_run_then_yes(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    for day in range(5):
        fill(archive, range(day * 1440, day * 1440 + 1))
        store.write_rows(
            archive,
            "descriptors",
            [{"fetched": datetime(2025, 3, 3 + day, tzinfo=UTC), "name": "m"}],
            date_field="fetched",
        )
    (tmp_path / "_archiver").mkdir(exist_ok=True)
    (tmp_path / "_archiver" / "keep.json").write_text("{}")
    plan = retention.retention(archive, 2, today=date(2025, 3, 7))
    assert sorted({e.date for e in plan}) == ["2025-03-03", "2025-03-04", "2025-03-05"]
    assert days(archive) == ["2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06", "2025-03-07"]
    retention.retention(archive, 2, today=date(2025, 3, 7), dry_run=False)
    assert days(archive) == ["2025-03-06", "2025-03-07"]
    assert archive.partitions("descriptors") == ["2025-03-06", "2025-03-07"]
    assert (tmp_path / "_archiver" / "keep.json").exists()
    assert not list(tmp_path.rglob("_deleting-*"))
    assert not list(tmp_path.glob("_archiver/deleting/*"))


@pytest.mark.parametrize("days", ["0", "-3"])
def test_retention_rejects_non_positive_days(tmp_path: Path, days: str) -> None:
    with pytest.raises(ConfigError):
        retention.retention(Archive.open(str(tmp_path)), int(days), today=date(2025, 3, 7))
    # The real console script: exit code 2 and one line naming the fix.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "archiver",
            "retention",
            "--archive",
            str(tmp_path),
            "--keep-days",
            days,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "--keep-days must be 1 or more" in done.stderr


def test_cli_compact_and_retention(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(3))
    runner = CliRunner()
    out = runner.invoke(storage.compact, ["--archive", str(tmp_path), "--date", "2025-03-03"])
    assert out.exit_code == 0, out.output
    assert "compacted 3 partitions" in out.output and "9 files -> 3" in out.output
    out = runner.invoke(storage.retention, ["--archive", str(tmp_path), "--keep-days", "1"])
    assert "would remove samples/date=2025-03-03" in out.output and "--yes" in out.output
    assert archive.partitions("samples") == ["2025-03-03"]
    out = runner.invoke(
        storage.retention, ["--archive", str(tmp_path), "--keep-days", "1", "--yes"]
    )
    assert "removed samples/date=2025-03-03" in out.output
    assert archive.partitions("samples") == []


def test_a_deletion_cut_short_leaves_plain_reads_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 case 7 for retention (found by make crash): a partition on its way out lives
    under _archiver/, where `samples/**/*.parquet` with Hive partitioning does not reach."""
    archive = Archive.open(str(tmp_path))
    for day in range(3):
        fill(archive, range(day * 1440, day * 1440 + 2))
    kept = plain_read(tmp_path)

    def killed(path: str, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process dies before the files are gone

    monkeypatch.setattr(retention.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        retention.retention(archive, 1, today=date(2025, 3, 5), dry_run=False)
    monkeypatch.undo()
    assert list(tmp_path.glob("_archiver/deleting/*"))  # the cut-short deletion
    assert days(archive) == ["2025-03-04", "2025-03-05"]
    assert 0 < plain_read(tmp_path) < kept
    repair.repair(archive)
    assert not list(tmp_path.glob("_archiver/deleting/*"))
