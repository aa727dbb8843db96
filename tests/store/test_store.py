"""The store: samples stored once, partitions escaped, writes atomic, files readable as they lie."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.errors import StorageError
from archiver.openmetrics import parse
from archiver.store import write as store
from archiver.store.archive import Archive, escape_partition, unescape_partition

T0 = 1_764_000_000  # seconds, minute-aligned


def body(rows: list[tuple[str, float, int]], metric: str = "temporal_cloud_v1_x") -> bytes:
    lines = [f"# TYPE {metric} gauge"]
    lines += [f'{metric}{{temporal_namespace="{ns}",region="r"}} {v} {ts}' for ns, v, ts in rows]
    return ("\n".join([*lines, "# EOF"]) + "\n").encode()


def read_all(root: Path) -> list[tuple[object, ...]]:
    return duckdb.sql(
        f"SELECT namespace, series, ts, value FROM read_parquet('{root}/samples/*/*/*.parquet', "
        "hive_partitioning=true) ORDER BY ALL"
    ).fetchall()


def test_same_samples_twice_are_stored_once(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    frame = parse(body([("prod.a", 1.0, T0), ("dev.a", 2.0, T0)])).samples
    assert store.write_samples(archive, frame) == 2
    assert store.write_samples(archive, frame) == 0
    mixed = parse(body([("prod.a", 1.0, T0), ("prod.a", 3.0, T0 + 60)])).samples
    assert store.write_samples(archive, mixed) == 1
    assert len(read_all(tmp_path)) == 3


def test_duplicates_within_one_batch_dropped(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    frame = parse(body([("prod.a", 1.0, T0), ("prod.a", 1.0, T0)])).samples
    assert store.write_samples(archive, frame) == 1


def test_timestamps_are_utc_milliseconds_and_labels_a_map(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    store.write_samples(archive, parse(body([("prod.a", 1.5, T0 * 1000)])).samples)
    (row,) = duckdb.sql(
        f"SELECT ts, labels['region'], typeof(ts), typeof(labels) FROM "
        f"read_parquet('{tmp_path}/samples/*/*/*.parquet')"
    ).fetchall()
    assert row[0].timestamp() == T0 and row[1] == "r"
    assert row[2] == "TIMESTAMP WITH TIME ZONE" and row[3] == "MAP(VARCHAR, VARCHAR)"


@pytest.mark.parametrize(
    "evil", ["../../etc", "a/b", "..", ".", "x%2Fy", "é ü", "__HIVE_DEFAULT_PARTITION__"]
)
def test_namespace_cannot_leave_its_partition(tmp_path: Path, evil: str) -> None:
    archive = Archive.open(str(tmp_path / "root"))
    frame = parse(body([(evil.replace("\\", "\\\\"), 1.0, T0)])).samples
    store.write_samples(archive, frame)
    files = [p for p in (tmp_path).rglob("*.parquet")]
    assert len(files) == 1
    partition = files[0].parent
    assert partition.parent.parent == tmp_path / "root" / "samples"
    assert unescape_partition(partition.name.removeprefix("namespace=")) == evil
    assert read_all(tmp_path / "root")[0][0] == evil


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_escape_is_one_safe_segment_and_round_trips(value: str) -> None:
    escaped = escape_partition(value)
    assert "/" not in escaped and escaped not in (".", "..") and not escaped.startswith(".")
    assert unescape_partition(escaped) == value


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.text(min_size=1, max_size=400)
    | st.text(
        st.characters(min_codepoint=0x80, categories=["L", "N", "S", "P"]), min_size=1, max_size=61
    )
)
def test_escape_is_bounded_and_round_trips_whatever_fits(value: str) -> None:
    """Issue 15 case 6: 60 Cyrillic letters made "name too long". Every name now gets a
    segment a filesystem takes; every printable name of up to 61 characters, in any script,
    reads back exactly."""
    escaped = escape_partition(value)
    assert len(f"namespace={escaped}".encode()) <= 255
    assert "/" not in escaped and not escaped.startswith(".")
    if len(value) <= 61 and value.isprintable():
        assert unescape_partition(escaped) == value


def test_sixty_cyrillic_letters_fit_and_read_back() -> None:
    name = "пространство" * 5 + ".acct1"
    escaped = escape_partition(name)
    assert len(f"namespace={escaped}".encode()) <= 255 and unescape_partition(escaped) == name


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(
        st.lists(
            st.tuples(st.sampled_from(["a.x", "b.x"]), st.integers(0, 3), st.integers(0, 2)),
            min_size=1,
            max_size=6,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_dedup_property_any_overlap_stores_each_identity_once(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[tuple[str, int, int]]]
) -> None:
    root = tmp_path_factory.mktemp("dedup")
    archive = Archive.open(str(root))
    expected: set[tuple[str, int, int]] = set()
    for batch in batches:
        rows = [(ns, float(v), T0 + 60 * minute) for ns, v, minute in batch]
        # the value is part of the series here only through its label-free identity: keep one
        frame = parse(body([(ns, 1.0, ts) for ns, _, ts in rows])).samples
        store.write_samples(archive, frame)
        expected |= {(ns, 1, ts) for ns, _, ts in rows}
    stored = read_all(root)
    assert len(stored) == len(expected)


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    store.write_samples(archive, parse(body([("prod.a", 1.0, T0)])).samples)
    leftovers = [p for p in tmp_path.rglob("*") if p.name.startswith("_tmp-")]
    assert leftovers == []
    assert list(archive.stale_temp_files()) == []


def test_unwritable_archive_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="file"):
        store.write_samples(Archive.open(str(blocker)), parse(body([("p.a", 1.0, T0)])).samples)


def test_polars_reads_the_archive_as_it_lies(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    store.write_samples(archive, parse(body([("prod.a", 1.0, T0), ("dev.a", 2.0, T0)])).samples)
    frame = pl.scan_parquet(f"{tmp_path}/samples/**/*.parquet", hive_partitioning=True).collect()
    assert sorted(frame.get_column("namespace").to_list()) == ["dev.a", "prod.a"]
