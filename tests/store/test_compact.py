"""Compaction, retention and repair on real files: same rows, fewer files, nothing half-seen."""

from __future__ import annotations

import errno
import functools
import itertools
import json
import logging
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from archiver.cli import storage
from archiver.errors import ConfigError, StorageError
from archiver.simulator.model import Account, AccountSpec
from archiver.store import compact, merge, repair, retention, swap
from archiver.store import tables as schema
from archiver.store import write as store
from archiver.store.archive import Archive

DAY = datetime(2025, 3, 3, tzinfo=UTC)
T0 = int(DAY.timestamp() * 1000)
MINUTE = 60_000
ACCOUNT = Account(AccountSpec.small(seed=3))


@functools.cache
def window(i: int) -> pl.DataFrame:
    return ACCOUNT.window(T0 + i * MINUTE)


def fill(archive: Archive, minutes: range) -> int:
    return sum(store.write_samples(archive, window(i)) for i in minutes)


def rows(root: Path | str) -> list[tuple[object, ...]]:
    files = Archive.open(str(root)).files("samples")
    return duckdb.sql(
        "SELECT namespace, series, ts, value, labels FROM read_parquet($f, hive_partitioning=true)"
        " ORDER BY namespace, series, ts",
        params={"f": files},
    ).fetchall()


def sample_files(root: Path) -> list[str]:
    return Archive.open(str(root)).files("samples")


def test_compaction_keeps_rows_drops_duplicates_and_names_ranges(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    written = fill(archive, range(8))
    before = rows(tmp_path)
    assert len(before) == written
    # A duplicate file (as a crashed S3 swap could leave): same rows under another name.
    first = sample_files(tmp_path)[0]
    dup = first.rsplit("-", 1)[0] + "-abcdef012345.parquet"
    Path(dup).write_bytes(Path(first).read_bytes())
    duplicated = pq.read_metadata(first).num_rows
    report = compact.compact(archive)
    assert [r.rows_in - r.rows_out for r in report.compacted if r.rows_in != r.rows_out] == [
        duplicated
    ]
    assert rows(tmp_path) == before
    files = sample_files(tmp_path)
    assert len(files) == len(ACCOUNT.namespaces)
    for path in files:
        assert store.file_range(path) is not None
        assert os.path.basename(path).startswith("compact-")
        table = pq.read_table(path)
        assert table.schema.metadata[schema.SCHEMA_VERSION_KEY] == b"1"
        # Sorted by series then time: what makes the dictionary runs and delta timestamps pay.
        keys = pl.from_arrow(table.select(["series", "ts"]))
        assert isinstance(keys, pl.DataFrame)
        assert keys.equals(keys.sort("series", "ts"))
    # The range check in store.py still finds stored samples inside compacted files.
    assert store.write_samples(archive, window(5)) == 0
    # Nothing to do the second time.
    assert all(r.skipped for r in compact.compact(archive).partitions)


def test_checksum_ignores_order_but_not_content() -> None:
    frame = window(0).head(50)
    table = store.to_arrow_samples(frame)
    assert merge.checksum(table) == merge.checksum(table.take(pa.array(range(49, -1, -1))))
    changed = store.to_arrow_samples(frame.with_columns(value=pl.col("value") + 1))
    assert merge.checksum(changed) != merge.checksum(table)


def test_new_files_after_compaction_are_merged_in(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(5))
    compact.compact(archive)
    fill(archive, range(5, 8))
    compact.compact(archive)
    assert len(rows(tmp_path)) == sum(window(i).height for i in range(8))
    assert len(sample_files(tmp_path)) == len(ACCOUNT.namespaces)


def test_readers_see_old_set_or_new_set_never_both(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(4))
    # Row counts a reader may legitimately see: whole minutes, or a minute being written
    # namespace by namespace (any subset: a listing is no snapshot). A doubled partition (old
    # and new set at once) is none of these.
    allowed = set()
    for k in range(4, 8):
        base = sum(window(j).height for j in range(k))
        sizes = [p.height for p in window(k).partition_by("namespace")]
        for n in range(len(sizes) + 1):
            allowed |= {base + sum(c) for c in itertools.combinations(sizes, n)}
    seen: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(sum(pq.read_metadata(f).num_rows for f in archive.files("samples")))
            except FileNotFoundError:
                continue  # listed before a swap, opened after: such a reader lists again

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(4, 8):
            fill(archive, range(i, i + 1))
            compact.compact(archive)
    finally:
        stop.set()
        thread.join()
    assert len(seen) > 10
    assert set(seen) <= allowed


def test_fallback_without_exchange_still_swaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_exchange(a: str, b: str) -> None:
        raise OSError(errno.EINVAL, "not supported here")

    monkeypatch.setattr(swap, "exchange", no_exchange)
    archive = Archive.open(str(tmp_path))
    fill(archive, range(4))
    before = rows(tmp_path)
    compact.compact(archive)
    assert rows(tmp_path) == before
    assert len(sample_files(tmp_path)) == len(ACCOUNT.namespaces)
    assert not list(tmp_path.rglob("_*-*"))


def test_corrupt_file_is_quarantined_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(3))
    victim = sample_files(tmp_path)[0]
    data = Path(victim).read_bytes()
    Path(victim).write_bytes(data[: len(data) // 2])
    lost = pq.read_metadata(pa.BufferReader(data)).num_rows
    with caplog.at_level(logging.WARNING, logger="archiver.store.compact"):
        report = compact.compact(archive)
    (moved,) = report.quarantined
    assert moved.startswith(str(tmp_path / "_archiver" / "quarantine" / "samples" / "date="))
    assert Path(moved).read_bytes() == data[: len(data) // 2]
    assert victim in caplog.text and "quarantine" in caplog.text
    assert len(rows(tmp_path)) == sum(window(i).height for i in range(3)) - lost


def test_old_schema_version_is_upgraded(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    frame = window(0).filter(pl.col("namespace") == ACCOUNT.namespaces[0])
    directory = archive.table_dir("samples", DAY.date().isoformat(), ACCOUNT.namespaces[0])
    # "Version 0": no version stamp, labels as list<struct>, naive second timestamps.
    old = frame.select(
        "series",
        "metric",
        "labels",
        pl.col("ts").dt.replace_time_zone(None).dt.cast_time_unit("us"),
    ).with_columns(value=frame.get_column("value"))
    os.makedirs(directory)
    pq.write_table(old.to_arrow(), f"{directory}/part-{T0}-{T0}-000000000000.parquet")
    store.write_samples(archive, window(1))
    compact.compact(archive)
    (path,) = archive.files_in(directory)
    table = pq.read_table(path)
    assert table.schema.remove_metadata().equals(schema.SAMPLES)
    assert (
        table.num_rows
        == frame.height + window(1).filter(pl.col("namespace") == ACCOUNT.namespaces[0]).height
    )


def test_newer_schema_version_asks_for_an_upgrade(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(1))
    path = sample_files(tmp_path)[0]
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({schema.SCHEMA_VERSION_KEY: b"99"}), path)
    with pytest.raises(StorageError, match=r"newer archiver.*upgrade archiver"):
        compact.compact(archive)


def test_scrapes_and_descriptors_are_compacted(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    when = DAY.replace(hour=1)
    for i in range(4):
        store.write_rows(
            archive,
            "descriptors",
            [{"fetched": when, "name": f"m{i}", "help": "h", "dimensions": ["a"]}],
            date_field="fetched",
        )
    compact.compact(archive)
    (path,) = archive.files("descriptors")
    assert os.path.basename(path).startswith("compact-")
    assert pq.read_table(path).column("name").to_pylist() == ["m0", "m1", "m2", "m3"]


def test_compact_closed_days_is_cheap_and_leaves_today(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(1440 - 2, 1440 + 2))  # two minutes each side of midnight
    report = compact.compact_closed_days(archive, date(2025, 3, 4))
    assert {r.directory.split("/")[-2] for r in report.compacted} == {"date=2025-03-03"}
    today = archive.files("samples", "date=2025-03-04")
    assert all(os.path.basename(p).startswith("part-") for p in today)
    assert not compact.compact_closed_days(archive, date(2025, 3, 4)).partitions
    nxt = compact.compact_closed_days(archive, date(2025, 3, 5))
    assert {r.directory.split("/")[-2] for r in nxt.compacted} == {"date=2025-03-04"}


def _days(archive: Archive) -> list[str]:
    return sorted({p for t in ("samples", "scrapes") for p in archive.partitions(t)})


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
    assert _days(archive) == ["2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06", "2025-03-07"]
    retention.retention(archive, 2, today=date(2025, 3, 7), dry_run=False)
    assert _days(archive) == ["2025-03-06", "2025-03-07"]
    assert archive.partitions("descriptors") == ["2025-03-06", "2025-03-07"]
    assert (tmp_path / "_archiver" / "keep.json").exists()
    assert not list(tmp_path.rglob("_deleting-*"))


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
    assert fresh_tmp.exists() and other.is_dir() and not moved.exists()
    assert len(done) == 4
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


def plain_read(root: Path) -> int:
    """What an analyst runs against the archive: every sample file, Hive partitions."""
    glob = str(root / "samples" / "**" / "*.parquet")
    ((count,),) = duckdb.sql(
        "SELECT count(*) FROM read_parquet($g, hive_partitioning = true)", params={"g": glob}
    ).fetchall()
    return int(count)


def test_running_or_killed_compaction_leaves_plain_reads_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = Archive.open(str(tmp_path))
    written = fill(archive, range(4))
    seen: list[int] = []
    real_swap = compact.swap_local

    def swap_after_reading(*args: object, **kwargs: object) -> list[str]:
        # The merged files and staged inputs are on disk now (what a kill here leaves behind).
        work = args[2]
        assert isinstance(work, swap.Work)
        assert os.listdir(work.out) and os.listdir(work.inputs)
        assert work.root.startswith(str(tmp_path / "_archiver" / "work"))
        seen.append(plain_read(tmp_path))
        return real_swap(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(compact, "swap_local", swap_after_reading)
    compact.compact(archive)
    assert seen and all(n == written for n in seen)

    # Killed before the swap: the work folder stays until the next run; reads still work.
    fill(archive, range(4, 6))

    def killed(*args: object, **kwargs: object) -> list[str]:
        raise KeyboardInterrupt  # as far as the files are concerned, SIGKILL stops here

    monkeypatch.setattr(compact, "swap_local", killed)
    monkeypatch.setattr(swap.Work, "remove", lambda self: None)
    with pytest.raises(KeyboardInterrupt):
        compact.compact(archive)
    monkeypatch.undo()
    assert list((tmp_path / "_archiver" / "work").iterdir())
    total = written + sum(window(i).height for i in range(4, 6))
    assert plain_read(tmp_path) == total
    report = compact.compact(archive)
    assert any("work" in item for item in report.repaired)
    assert not list((tmp_path / "_archiver" / "work").iterdir())
    assert plain_read(tmp_path) == total


def test_interrupted_fallback_swap_is_finished_by_repair(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(3))
    before = rows(tmp_path)
    directory = archive.files("samples")[0].rsplit("/", 1)[0]
    # What the two-rename fallback leaves when killed between its renames: the live directory
    # moved to <work>/old, the verified merged set still in <work>/out, the manifest naming it.
    work = swap.Work.create(archive)
    for path in archive.files_in(directory):
        os.link(path, f"{work.out}/{os.path.basename(path)}")
    live = directory[len(archive.base) + 1 :]
    Path(work.manifest).write_text(json.dumps({"live": live}), encoding="utf-8")
    os.rename(directory, work.old)
    assert not os.path.exists(directory)
    done = repair.repair(archive)
    assert f"{work.out} -> {directory}" in done
    assert rows(tmp_path) == before
    assert not os.path.exists(work.root) and not os.path.exists(work.manifest)


def _compact_cli(root: Path, limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    import resource
    import signal

    def limit() -> None:
        if limit_bytes is not None:
            # Writes past this size fail with EFBIG, as on a full disk (no signal: ignored).
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [sys.executable, "-m", "archiver", "compact", "--archive", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
        check=False,
    )


def test_compact_that_cannot_write_exits_1_naming_the_path_partition_as_it_was(
    tmp_path: Path,
) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(30))
    before, files = rows(tmp_path), sample_files(tmp_path)
    largest = max(os.path.getsize(f) for f in files)
    done = _compact_cli(tmp_path, limit_bytes=largest)  # the merged file cannot fit
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot compact" in lines[0] and str(tmp_path) in lines[0]
    assert "Traceback" not in done.stderr
    assert rows(tmp_path) == before and sample_files(tmp_path) == files
    assert plain_read(tmp_path) == len(before)
    done = _compact_cli(tmp_path)  # space again: the next run finishes the job
    assert done.returncode == 0, done.stderr
    assert rows(tmp_path) == before


def test_second_compaction_does_not_wait_for_the_first(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(2))
    with archive.lock("compact"):
        started = time.monotonic()
        done = _compact_cli(tmp_path)
        assert time.monotonic() - started < 30
    assert done.returncode == 0
    assert "another `archiver compact` is running" in done.stderr
    assert len(sample_files(tmp_path)) == 2 * len(ACCOUNT.namespaces)  # nothing merged


def test_compaction_writes_hourly_rollups_and_rewrites_them_with_late_data(
    tmp_path: Path,
) -> None:
    archive = Archive.open(str(tmp_path))
    fill(archive, range(0, 150, 10))  # minutes 0..140, every tenth: three hours
    compact.compact(archive)
    glob = str(tmp_path / "rollups" / "*" / "*" / "*.parquet")
    query = """
        SELECT namespace, series, hour, count, min, max, avg, last, last_ts, labels, metric
        FROM read_parquet($g, hive_partitioning = true) ORDER BY ALL
    """
    expected = """
        SELECT namespace, series, time_bucket(INTERVAL 1 hour, ts) AS hour, count(*), min(value),
               max(value), avg(value), arg_max(value, ts), max(ts), any_value(labels),
               any_value(metric)
        FROM read_parquet($s, hive_partitioning = true)
        GROUP BY ALL ORDER BY ALL
    """
    samples = str(tmp_path / "samples" / "*" / "*" / "*.parquet")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    got = con.execute(query, {"g": glob}).fetchall()
    assert got == con.execute(expected, {"s": samples}).fetchall()
    assert {row[2].hour for row in got} == {0, 1, 2}
    # Late data for the same day: compaction rewrites the day's samples and its rollups.
    fill(archive, range(5, 150, 10))
    compact.compact(archive)
    again = con.execute(query, {"g": glob}).fetchall()
    assert again == con.execute(expected, {"s": samples}).fetchall()
    assert sum(r[3] for r in got) < sum(r[3] for r in again) == plain_read(tmp_path)
    assert len(list((tmp_path / "rollups").rglob("*.parquet"))) == len(ACCOUNT.namespaces)
    # Read as it lies by polars too, with the agreed types.
    frame = pl.read_parquet(glob.replace("*/*/*", "**/*"), hive_partitioning=True)
    assert frame.schema["hour"] == pl.Datetime("ms", "UTC") and frame.height == len(again)
    # Retention takes them with their day.
    retention.retention(archive, 1, today=date(2025, 3, 10), dry_run=False)
    assert not list((tmp_path / "rollups").rglob("*.parquet"))


def test_rollups_of_a_compacted_partition_without_them_are_written(tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    store.write_samples(archive, pl.concat([window(i) for i in range(3)]), bulk=True)
    assert not (tmp_path / "rollups").exists()
    report = compact.compact(archive)
    assert all(r.skipped for r in report.partitions if r.table == "samples")
    assert len(list((tmp_path / "rollups").rglob("*.parquet"))) == len(ACCOUNT.namespaces)


def _value_encodings(root: Path) -> set[str]:
    found: set[str] = set()
    for path in sample_files(root):
        meta = pq.ParquetFile(path).metadata
        for group in range(meta.num_row_groups):
            chunks = meta.row_group(group)
            for i in range(chunks.num_columns):
                if chunks.column(i).path_in_schema == "value":
                    found |= set(chunks.column(i).encodings)
    return found


def test_value_is_a_dictionary_only_where_few_values_repeat(tmp_path: Path) -> None:
    smooth, coarse = tmp_path / "smooth", tmp_path / "coarse"
    for root, frames in (
        # every value distinct (as measurements with many decimals are) vs few whole numbers
        (
            smooth,
            [
                window(i).with_columns(pl.col("value") + pl.int_range(pl.len()) / 7e6)
                for i in range(20)
            ],
        ),
        (coarse, [window(i).with_columns((pl.col("value") % 10).round(0)) for i in range(20)]),
    ):
        archive = Archive.open(str(root))
        for frame in frames:
            store.write_samples(archive, frame)
        before = rows(root)
        compact.compact(archive)
        assert rows(root) == before
    assert "RLE_DICTIONARY" not in _value_encodings(smooth)
    assert "RLE_DICTIONARY" in _value_encodings(coarse)
