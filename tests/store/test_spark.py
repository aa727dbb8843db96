"""Spark reads the archive as it lies and counts the same series as DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from archiver.simulator.model import Account, AccountSpec
from archiver.store import compact
from archiver.store import write as store
from archiver.store.archive import Archive
from tests.system_tools import require

pytestmark = pytest.mark.spark

T0 = int(datetime(2025, 3, 3, 23, 50, tzinfo=UTC).timestamp() * 1000)  # spans two days


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    require("java", "Spark needs Java")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("archiver-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        # Namespaces stay text even when one looks like a number.
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .getOrCreate()
    )
    try:
        yield session
    finally:
        session.stop()


def test_spark_counts_the_same_series_as_duckdb(spark: object, tmp_path: Path) -> None:
    archive = Archive.open(str(tmp_path))
    account = Account(AccountSpec.small(seed=9))
    for m in range(20):
        store.write_samples(archive, account.window(T0 + m * 60_000))
    compact.compact(archive, dates=["2025-03-03"])  # one day compacted, one as scraped

    root = f"{tmp_path}/samples"
    df = spark.read.option("basePath", root).parquet(root)  # type: ignore[attr-defined]
    df.createOrReplaceTempView("samples")
    exact = {
        (r["metric"], r["namespace"], str(r["date"]), r["n"])
        for r in spark.sql(  # type: ignore[attr-defined]
            "SELECT metric, namespace, date, count(DISTINCT series) AS n FROM samples GROUP BY ALL"
        ).collect()
    }
    duck = set(
        duckdb.sql(
            "SELECT metric, namespace, CAST(date AS VARCHAR), count(DISTINCT series) "
            f"FROM read_parquet('{root}/*/*/*.parquet', hive_partitioning = true, "
            "hive_types = {'date': 'VARCHAR', 'namespace': 'VARCHAR'}) GROUP BY ALL"
        ).fetchall()
    )
    assert exact == duck
    assert len(duck) > 20 and {d for _, _, d, _ in duck} == {"2025-03-03", "2025-03-04"}
    # Timestamps arrive as UTC instants with millisecond precision.
    first = df.orderBy("ts").first()
    assert first["ts"].replace(tzinfo=UTC).timestamp() * 1000 == T0
    assert first["labels"]["temporal_namespace"] == first["namespace"]
