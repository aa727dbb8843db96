"""``archiver import`` / ``archiver export`` through the real entry point: output and exit codes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from tests.helpers import run_cli as run


def test_import_openmetrics_then_again(
    tmp_path: Path,
    om_file: Callable[..., tuple[Path, pl.DataFrame]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, frame = om_file(3, gz=True)
    archive = str(tmp_path / "archive")
    code, out, err = run(["import", "openmetrics", "--archive", archive, str(path)], capsys)
    assert code == 0, err
    assert f"{frame.height} samples in 3 minutes" in out and f"{frame.height} new" in out
    code, out, _ = run(["import", "openmetrics", "--archive", archive, str(path)], capsys)
    assert code == 0 and "0 new" in out and f"{frame.height} already archived" in out


def test_import_of_a_file_that_is_not_openmetrics_exits_1_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dump.txt"
    path.write_text('{__name__="m", job="x"} 1 1740960000000\n')  # promtool tsdb dump's format
    archive = tmp_path / "archive"
    code, out, err = run(["import", "openmetrics", "--archive", str(archive), str(path)], capsys)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "dump.txt: line 1:" in err
    assert not list(archive.rglob("*.parquet"))


def test_import_of_a_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        ["import", "openmetrics", "--archive", str(tmp_path / "a"), str(tmp_path / "nope.om")],
        capsys,
    )
    assert code == 2 and "nope.om" in err


def test_export_openmetrics_to_a_file_whole_or_not_at_all(
    tmp_path: Path,
    om_file: Callable[..., tuple[Path, pl.DataFrame]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, frame = om_file(2)
    archive = str(tmp_path / "archive")
    assert run(["import", "openmetrics", "--archive", archive, str(path)], capsys)[0] == 0
    target = tmp_path / "out.om"
    code, _, err = run(
        ["export", "openmetrics", "--archive", archive, "--output", str(target)], capsys
    )
    assert code == 0, err
    assert f"exported {frame.height} samples" in err
    assert target.read_bytes().endswith(b"# EOF\n")
    assert not (tmp_path / "out.om.partial").exists()
    code, _, err = run(
        [
            "export",
            "openmetrics",
            "--archive",
            archive,
            "--since",
            "2026-01-02",
            "--until",
            "2026-01-01",
        ],
        capsys,
    )
    assert code == 2 and "--since" in err
