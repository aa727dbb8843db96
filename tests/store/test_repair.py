"""Repair: what a dead process left behind is cleaned up; missing S3 credentials say what to set."""

from __future__ import annotations

import os
import time
from pathlib import Path

from archiver.store import repair
from archiver.store.archive import Archive
from tests.store.compacting import (
    fill,
    rows,
)


def test_repair_cleans_leftovers(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(2))
    day = tmp_path / "samples" / "date=2025-03-03"
    live = sorted(day.iterdir())[0]
    # A staging directory of a crashed compaction, a half-deleted partition, temp files.
    staging = day / f"_compact-0123456789ab-{live.name}"
    staging.mkdir()
    (staging / "compact-1-2-abc.parquet").write_bytes(b"x")
    deleting = tmp_path / "samples" / "_deleting-0123456789ab-date=2025-01-01"
    (deleting / "namespace=x").mkdir(parents=True)
    # ... and where retention now moves a partition before deleting it
    trash = tmp_path / "_archiver" / "deleting" / "0123456789ab-samples-date=2025-01-02"
    (trash / "namespace=x").mkdir(parents=True)
    old_tmp = live / "_tmp-part-1-2-abc.parquet.partial"
    old_tmp.write_bytes(b"half")
    os.utime(old_tmp, (time.time() - 3600, time.time() - 3600))
    fresh_tmp = live / "_tmp-part-3-4-abc.parquet.partial"
    fresh_tmp.write_bytes(b"still being written")
    # The two-rename fallback interrupted between its renames: the live partition is missing.
    other = sorted(day.glob("namespace=*"))[1]
    moved = day / f"_old-fedcba987654-{other.name}"
    other.rename(moved)
    before = len(rows(tmp_path))
    done = repair.repair(archive)
    assert not staging.exists() and not deleting.exists() and not old_tmp.exists()
    assert not trash.exists()
    assert fresh_tmp.exists() and other.is_dir() and not moved.exists()
    assert len(done) == 5
    assert len(rows(tmp_path)) > before


def test_missing_s3_credentials_say_what_to_set(tmp_path: Path) -> None:
    from archiver.store.s3 import s3_credentials_problem

    problem = s3_credentials_problem({}, str(tmp_path))
    assert problem is not None and "AWS_ACCESS_KEY_ID" in problem
    assert "AWS_ENDPOINT_URL_S3" in problem
    assert s3_credentials_problem({"AWS_PROFILE": "x"}, str(tmp_path)) is None
    assert "AWS_SECRET_ACCESS_KEY" in str(s3_credentials_problem({"AWS_ACCESS_KEY_ID": "a"}, "/"))
    # An instance role, only when the user says the metadata service is there.
    assert s3_credentials_problem({"AWS_EC2_METADATA_DISABLED": "false"}, str(tmp_path)) is None
    assert s3_credentials_problem({"AWS_EC2_METADATA_DISABLED": "true"}, str(tmp_path))
