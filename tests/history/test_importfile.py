"""``import openmetrics``: real files, the real parser and writer, read back through DuckDB."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from archiver.errors import ParseError
from archiver.history.importfile import import_file
from archiver.query.connect import connect, run_sql
from archiver.store.archive import Archive
from tests.history import promtools

OmFile = Callable[..., tuple[Path, pl.DataFrame]]


def expected(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select("series", ts=pl.col("ts").dt.epoch("ms"), value="value").sort(
        "series", "ts"
    )


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_import_stores_every_sample_once_across_many_blocks(
    tmp_path: Path, om_file: OmFile, gz: bool
) -> None:
    path, frame = om_file(10, gz=gz)
    archive = Archive.open(str(tmp_path / "archive"), durable=False)
    seen: list[int] = []
    # Blocks of 20 kB cut a file of a few hundred kB at many line (and family) boundaries.
    result = import_file(archive, str(path), block_bytes=20_000, progress=seen.append)
    assert result.samples == frame.height == result.new_samples
    assert result.minutes == 10
    assert seen and seen[-1] == path.stat().st_size
    assert promtools.archived(tmp_path / "archive").equals(expected(frame))
    # Nothing staged is left behind, and nothing sits where a samples glob would find it.
    assert not any((tmp_path / "archive" / "_archiver" / "work").iterdir())


def test_every_sample_keeps_its_metric_namespace_and_labels(
    tmp_path: Path, om_file: OmFile
) -> None:
    # The import stages (series, ts, value) per sample and what a series determines once per
    # series; each stored row must get its own series' metric, namespace and labels back.
    path, frame = om_file(6)
    import_file(Archive.open(str(tmp_path / "a"), durable=False), str(path), block_bytes=20_000)
    con = connect(str(tmp_path / "a"))
    stored = run_sql(
        con,
        "SELECT series, epoch_ms(ts) AS ts, metric, namespace, map_entries(labels) AS labels "
        "FROM samples",
    )

    def rows(table: pl.DataFrame) -> list[tuple[object, ...]]:
        return sorted(
            (r["series"], r["ts"], r["metric"], r["namespace"],
             sorted((e["key"], e["value"]) for e in r["labels"]))
            for r in table.iter_rows(named=True)
        )  # fmt: skip

    want = frame.select("series", pl.col("ts").dt.epoch("ms"), "metric", "namespace", "labels")
    assert rows(stored) == rows(want)


def test_reimport_and_overlap_store_no_duplicates(tmp_path: Path, om_file: OmFile) -> None:
    archive = Archive.open(str(tmp_path / "archive"), durable=False)
    first, frame_a = om_file(20, name="a.om")
    import_file(archive, str(first), block_bytes=50_000)
    again = import_file(archive, str(first), block_bytes=50_000)
    assert again.new_samples == 0 and again.samples == frame_a.height
    # A second file overlapping the last 10 minutes of the first and 10 beyond it.
    second, frame_b = om_file(20, start_ms=1_740_960_000_000 + 10 * 60_000, name="b.om")
    overlap = import_file(archive, str(second), block_bytes=50_000)
    both = pl.concat([frame_a, frame_b]).unique(["series", "ts"])
    assert overlap.new_samples == both.height - frame_a.height
    assert promtools.archived(tmp_path / "archive").equals(expected(both))


def test_a_sample_repeated_in_the_file_is_stored_once_even_across_writes(
    tmp_path: Path, om_file: OmFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    from archiver.history import importfile
    from archiver.openmetrics import render

    path, frame = om_file(10)
    # Every sample twice, the second time with another value, each family's repeats after its
    # first occurrences; small blocks and writes put the two in different pieces and writes.
    path.write_bytes(render(pl.concat([frame, frame.with_columns(pl.col("value") + 1000)])))
    monkeypatch.setattr(importfile, "WRITE_ROWS", 400)
    archive = Archive.open(str(tmp_path / "archive"), durable=False)
    result = import_file(archive, str(path), block_bytes=20_000)
    assert result.samples == 2 * frame.height and result.new_samples == frame.height
    # The first occurrence in the file is the one stored.
    assert promtools.archived(tmp_path / "archive").equals(expected(frame))
    files = list((tmp_path / "archive" / "samples").rglob("*.parquet"))
    namespaces = frame.get_column("namespace").n_unique()
    assert len(files) > namespaces  # several writes per partition did happen


def test_imported_minutes_are_in_the_scrape_log_with_their_source(
    tmp_path: Path, om_file: OmFile
) -> None:
    path, frame = om_file(5)
    import_file(Archive.open(str(tmp_path / "archive"), durable=False), str(path))
    con = connect(str(tmp_path / "archive"))
    log = run_sql(
        con,
        "SELECT epoch_ms(target_window) AS minute, sample_count, source, outcome, "
        "namespaces_seen FROM scrapes WHERE request = 'import' ORDER BY minute",
    )
    per_minute = frame.group_by(minute=pl.col("ts").dt.epoch("ms")).len().sort("minute")
    assert log.get_column("minute").to_list() == per_minute.get_column("minute").to_list()
    assert log.get_column("sample_count").to_list() == per_minute.get_column("len").to_list()
    assert set(log.get_column("source")) == {"openmetrics:history.om"}
    assert set(log.get_column("outcome")) == {"complete"}
    assert sorted(log.item(0, "namespaces_seen")) == sorted(
        frame.get_column("namespace").unique().to_list()
    )


def test_bad_line_deep_in_a_file_names_it_and_writes_nothing(
    tmp_path: Path, om_file: OmFile
) -> None:
    path, _ = om_file(10)
    lines = path.read_bytes().split(b"\n")
    bad = len(lines) - 20  # in the last block, far past the first
    lines[bad - 1] = b'temporal_cloud_v1_workflow_success_count{temporal_namespace="x"} oops 1'
    path.write_bytes(b"\n".join(lines))
    root = tmp_path / "archive"
    with pytest.raises(ParseError, match=rf"line {bad}: bad value 'oops'") as caught:
        import_file(Archive.open(str(root), durable=False), str(path), block_bytes=20_000)
    assert str(path) in str(caught.value)
    assert not list(root.rglob("*.parquet"))


def test_content_after_eof_in_a_later_block_is_refused(tmp_path: Path, om_file: OmFile) -> None:
    path, _ = om_file(10)
    body = path.read_bytes()
    tail = b'temporal_cloud_v1_workflow_success_count{temporal_namespace="x"} 1 1740960000\n'
    path.write_bytes(body + b"\n" * 30_000 + tail)
    lines = body.count(b"\n") + 30_000 + 1
    with pytest.raises(ParseError, match=rf"line {lines}: content after # EOF"):
        import_file(Archive.open(str(tmp_path / "a"), durable=False), str(path), block_bytes=20_000)
    assert not list((tmp_path / "a").rglob("*.parquet"))


def test_a_file_that_is_not_openmetrics(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("# TYPE m gauge\nm 1 1740960000\nhello world\n")
    with pytest.raises(ParseError, match=r"notes.txt: line 3: "):
        import_file(Archive.open(str(tmp_path / "a"), durable=False), str(path))


def test_the_gap_audit_covers_imported_minutes(tmp_path: Path, om_file: OmFile) -> None:
    from datetime import UTC, datetime

    from archiver.query import reports

    path, frame = om_file(10)
    # The file lacks minute 5 altogether: the audit of the imported span must find it. (A
    # namespace absent from an imported minute reads as idle: a file cannot tell idle from lost.)
    minute5 = datetime.fromtimestamp(1_740_960_000 + 5 * 60, UTC)
    from archiver.openmetrics import render

    path.write_bytes(render(frame.filter(pl.col("ts") != minute5)))
    import_file(Archive.open(str(tmp_path / "archive"), durable=False), str(path))
    con = connect(str(tmp_path / "archive"))
    gaps = reports.gaps(con, since=datetime(2025, 3, 3, tzinfo=UTC), until=None)
    found = gaps.filter(pl.col("is_gap")).sort("namespace")
    namespaces = sorted(frame.get_column("namespace").unique().to_list())
    assert found.select("namespace", "start", "minutes", "reason").rows() == [
        (ns, minute5, 1, "not_scraped") for ns in namespaces
    ]


def test_a_truncated_gzip_file_is_refused_and_writes_nothing(
    tmp_path: Path, om_file: OmFile
) -> None:
    # Read on the reader thread: its error must still reach the caller, with nothing written.
    path, _ = om_file(10, gz=True)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ParseError, match=r"history.om.gz: cannot decompress"):
        import_file(Archive.open(str(tmp_path / "a"), durable=False), str(path), block_bytes=20_000)
    assert not list((tmp_path / "a").rglob("*.parquet"))
