"""``export openmetrics``: read back by our parser and by promtool, against the archive."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from archiver.history.export import Selection, export_openmetrics
from archiver.history.importfile import import_file
from archiver.openmetrics import parse
from archiver.store.archive import Archive
from tests.history import promtools

OmFile = Callable[..., tuple[Path, pl.DataFrame]]


@pytest.fixture
def archive(tmp_path: Path, om_file: OmFile) -> Path:
    path, _ = om_file(12)
    root = tmp_path / "archive"
    import_file(Archive.open(str(root), durable=False), str(path))
    return root


def read_back(body: bytes) -> pl.DataFrame:
    samples = parse(body).samples
    return samples.select("series", ts=pl.col("ts").dt.epoch("ms"), value="value").sort(
        "series", "ts"
    )


def test_export_round_trips_through_the_parser_across_batches(archive: Path) -> None:
    out = io.BytesIO()
    # Batches of 997 rows cut families and series mid-way: each family is declared once.
    result = export_openmetrics(str(archive), out, batch_rows=997)
    body = out.getvalue()
    assert body.endswith(b"# EOF\n")
    want = promtools.archived(archive)
    assert read_back(body).equals(want)
    assert result.samples == want.height
    assert result.series == want.get_column("series").n_unique()
    families = want.get_column("series").str.extract(r"^([^{]+)").n_unique()
    assert result.families == families == body.count(b"# TYPE ")


def test_export_selects_by_time_namespace_and_metric(archive: Path) -> None:
    out = io.BytesIO()
    selection = Selection(
        since=datetime(2025, 3, 3, 0, 3, tzinfo=UTC),
        until=datetime(2025, 3, 3, 0, 5, tzinfo=UTC),
        namespaces=["prod-n*"],
        metrics=["*_success_count", "temporal_cloud_v1_action_limit"],
    )
    export_openmetrics(str(archive), out, selection)
    want = promtools.archived(
        archive,
        "ts >= '2025-03-03 00:03Z' AND ts < '2025-03-03 00:05Z' "
        "AND namespace LIKE 'prod-n%' "
        "AND (metric LIKE '%\\_success\\_count' ESCAPE '\\' "
        "OR metric = 'temporal_cloud_v1_action_limit')",
    )
    assert want.height > 0
    assert read_back(out.getvalue()).equals(want)


def test_promtool_backfills_the_export_sample_for_sample(archive: Path, tmp_path: Path) -> None:
    promtool = promtools.need("promtool")
    exported = tmp_path / "export.om"
    with exported.open("wb") as out:
        export_openmetrics(str(archive), out, batch_rows=5_000)
    tsdb = tmp_path / "tsdb"
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(exported), str(tsdb)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert promtools.dump(tsdb).equals(promtools.archived(archive))
