"""What the compaction tests share: one small simulated account's minutes written to an
archive, and the archive's rows read back."""

from __future__ import annotations

import functools
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from archiver.simulator.model import Account, AccountSpec
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


def plain_read(root: Path) -> int:
    """What an analyst runs against the archive: every sample file, Hive partitions."""
    glob = str(root / "samples" / "**" / "*.parquet")
    ((count,),) = duckdb.sql(
        "SELECT count(*) FROM read_parquet($g, hive_partitioning = true)", params={"g": glob}
    ).fetchall()
    return int(count)


def days(archive: Archive) -> list[str]:
    return sorted({p for t in ("samples", "scrapes") for p in archive.partitions(t)})


def compact_cli(root: Path, limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
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
