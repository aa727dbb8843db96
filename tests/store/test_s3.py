"""An S3 archive against a real local S3 server (moto in server mode) over loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from archiver import config
from archiver.errors import ConfigError
from archiver.simulator.model import Account, AccountSpec
from archiver.store import compact, repair, retention
from archiver.store import write as store
from archiver.store.archive import JOURNAL, Archive

T0 = int(datetime(2025, 3, 3, tzinfo=UTC).timestamp() * 1000)
ACCOUNT = Account(AccountSpec.small(seed=5))
_AWS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 with a bucket; yields its endpoint URL."""
    import boto3
    from moto.server import ThreadedMotoServer

    for name in _AWS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
            Bucket="bucket"
        )
        yield endpoint
    finally:
        server.stop()


def test_write_compact_query_on_s3(s3: str) -> None:
    from archiver.query.connect import connect, run_sql

    archive = Archive.open("s3://bucket/prefix", s3_endpoint=s3)
    written = 0
    for m in range(4):
        with archive.lock("write"):
            written += store.write_samples(archive, ACCOUNT.window(T0 + m * 60_000))
    assert store.write_samples(archive, ACCOUNT.window(T0)) == 0  # stored once, on S3 too
    store.write_rows(
        archive,
        "descriptors",
        [{"fetched": datetime(2025, 3, 3, 1, tzinfo=UTC), "name": "m"}],
        date_field="fetched",
    )
    files = archive.files("samples")
    assert len(files) == 4 * len(ACCOUNT.namespaces)
    assert files[0].startswith("bucket/prefix/samples/date=2025-03-03/namespace=")

    report = compact.compact(archive)
    assert sum(r.rows_out for r in report.compacted if r.table == "samples") == written
    assert len(archive.files("samples")) == len(ACCOUNT.namespaces)
    assert all("/compact-" in p for p in archive.files("samples"))
    assert archive.read_state(f"{JOURNAL}x.json") is None  # journals cleaned up

    # pyarrow reads the layout as it lies ...
    dataset = ds.dataset(
        "bucket/prefix/samples", filesystem=archive.fs, format="parquet", partitioning="hive"
    )
    assert dataset.count_rows() == written
    # ... and so does the query layer (an Arrow dataset registered in DuckDB, no extension).
    con = connect(archive)
    counted = run_sql(con, "SELECT count(*) AS n, count(DISTINCT namespace) AS ns FROM samples")
    assert counted.row(0) == (written, len(ACCOUNT.namespaces))

    gone = retention.retention(archive, 1, today=date(2025, 3, 10), dry_run=False)
    assert {e.table for e in gone} == {"samples", "descriptors", "rollups"}  # with their day
    assert archive.files("samples") == []


def test_s3_crash_between_put_and_delete_is_finished_by_repair(s3: str) -> None:
    archive = Archive.open("s3://bucket/crash", s3_endpoint=s3)
    for m in range(3):
        store.write_samples(archive, ACCOUNT.window(T0 + m * 60_000))
    directory = archive.files("samples")[0].rsplit("/", 1)[0]
    inputs = archive.files_in(directory)
    table = (
        ds.dataset(inputs, filesystem=archive.fs, format="parquet")
        .to_table()
        .sort_by([("series", "ascending"), ("ts", "ascending")])
    )
    # What a process killed after the PUT and its journal, before the deletes, leaves behind.
    archive.write_state(
        f"{JOURNAL}dead.json",
        f'{{"inputs": {list(inputs)!r}, "outputs": ["x"]}}'.replace("'", '"').encode(),
    )
    archive.write_parquet(directory, table, stem="compact-1-2")
    done = repair.repair(archive)
    assert sorted(done) == sorted(inputs)
    assert len(archive.files_in(directory)) == 1


def test_corrupt_file_on_s3_is_quarantined(s3: str) -> None:
    archive = Archive.open("s3://bucket/bad", s3_endpoint=s3)
    store.write_samples(archive, ACCOUNT.window(T0))
    store.write_samples(archive, ACCOUNT.window(T0 + 60_000))
    victim = archive.files("samples")[0]
    with archive.fs.open_output_stream(victim) as fh:
        fh.write(b"PAR1 not really")
    report = compact.compact(archive)
    (moved,) = report.quarantined
    assert moved.startswith("bucket/bad/_archiver/quarantine/samples/date=2025-03-03/")
    assert victim not in archive.files("samples")


def test_missing_credentials_exit_2_naming_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in _AWS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = config.load({"archive": "s3://bucket/prefix"}, dict(os.environ))
    with pytest.raises(ConfigError, match="AWS_ACCESS_KEY_ID"):
        Archive.from_settings(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [sys.executable, "-m", "archiver", "compact", "--archive", "s3://bucket/prefix"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert "AWS_ACCESS_KEY_ID" in done.stderr and "AWS_SECRET_ACCESS_KEY" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"])
def test_the_sdks_endpoint_variables_reach_an_s3_compatible_server(
    s3: str, variable: str, tmp_path: Path
) -> None:
    """What MinIO and LocalStack users set already: the CLI finds the server through it."""
    archive = Archive.open("s3://bucket/sdk", s3_endpoint=s3)
    with archive.lock("write"):
        store.write_samples(archive, ACCOUNT.window(T0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    env[variable] = s3
    query = "SELECT count(DISTINCT namespace) AS n FROM samples"
    done = subprocess.run(
        [sys.executable, "-m", "archiver", "sql", "--archive", "s3://bucket/sdk", query],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == str(ACCOUNT.window(T0)["namespace"].n_unique())
