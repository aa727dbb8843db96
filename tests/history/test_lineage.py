"""Continuity across renames: preview-era names read as the current ones through the views."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from archiver.catalog import LEGACY_LABELS, LEGACY_NAMES
from archiver.history.importfile import import_file
from archiver.openmetrics import render
from archiver.query.connect import connect, run_sql
from archiver.simulator import Account
from archiver.simulator.variants import legacy_names
from archiver.store.archive import Archive
from tests.history.conftest import START_MS

CUTOVER_MS = START_MS + 5 * 60_000


def test_a_renamed_metric_and_label_read_as_one_series(tmp_path: Path, small: Account) -> None:
    frame = small.windows(START_MS, 10)
    before = frame.filter(pl.col("ts").dt.epoch("ms") < CUTOVER_MS)
    after = frame.filter(pl.col("ts").dt.epoch("ms") >= CUTOVER_MS)
    # What the service served: the preview's names until the cutover, the current ones after.
    served = pl.concat([legacy_names(before).select(after.columns), after])
    path = tmp_path / "renamed.om.gz"
    path.write_bytes(gzip.compress(render(served)))
    import_file(Archive.open(str(tmp_path / "archive"), durable=False), str(path))

    renamed = [*LEGACY_NAMES, *LEGACY_LABELS]
    assert frame.filter(pl.col("metric").is_in(renamed)).height > 0  # the account has them
    con = connect(str(tmp_path / "archive"))
    view = run_sql(con, "SELECT series, epoch_ms(ts) AS ts, value FROM samples ORDER BY series, ts")
    want = frame.select("series", ts=pl.col("ts").dt.epoch("ms"), value="value").sort(
        "series", "ts"
    )
    assert view.equals(want)
    # The labels map and metric column follow the series, and the stored names are still there.
    relabelled = run_sql(
        con,
        "SELECT count(*) AS n FROM samples WHERE metric = $m AND labels['operation'] IS NOT NULL "
        "AND ts < $cut",
        {
            "m": "temporal_cloud_v1_resource_exhausted_error_count",
            "cut": datetime.fromtimestamp(CUTOVER_MS / 1000, UTC),
        },
    )
    stored = run_sql(con, "SELECT DISTINCT metric FROM samples_as_scraped")
    assert set(LEGACY_NAMES.values()) <= set(stored.get_column("metric"))
    assert (
        relabelled.item()
        == before.filter(
            pl.col("metric") == "temporal_cloud_v1_resource_exhausted_error_count"
        ).height
    )


def test_descriptor_drift_says_when_a_change_looks_like_a_rename() -> None:
    from archiver.collect.descriptors import diff

    v1 = "temporal_cloud_v1_"
    before = {
        f"{v1}frontend_rps_limit": ("region", "temporal_namespace"),
        f"{v1}frontend_poll_count": ("temporal_namespace", "queue"),
        f"{v1}state_transition_count": ("temporal_namespace",),
    }
    after = {
        f"{v1}service_request_limit": ("region", "temporal_namespace"),
        f"{v1}service_poll_count": ("temporal_namespace", "task_queue"),
        f"{v1}nexus_operation_count": ("temporal_namespace", "endpoint", "operation"),
    }
    lines = diff(before, after).lines()
    assert (
        f"renamed? {v1}frontend_rps_limit -> {v1}service_request_limit (in archiver/lineage.csv)"
        in lines
    )
    assert any(
        line.startswith(f"renamed? {v1}frontend_poll_count -> {v1}service_poll_count")
        and "add it to archiver/lineage.csv" in line
        for line in lines
    )
    # A metric dropped while an unrelated one was added is no rename.
    assert not any(f"{v1}state_transition_count ->" in line for line in lines)
    assert f"removed {v1}state_transition_count" in lines
