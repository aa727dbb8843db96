"""Imported minutes in the scrape log: one row per minute, ``request = 'import'``, with the
``source`` the minute came from (``openmetrics:<file name>``, ``prometheus:<url>``), so that the
gap audit can tell imported, scraped and missing minutes apart."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from archiver.store.archive import Archive

REQUEST = "import"


def minute_counts(samples: pl.DataFrame) -> pl.DataFrame:
    """Samples per minute and the namespaces seen in it, for a parser-shaped frame."""
    import polars as pl

    minute = pl.col("ts").dt.truncate("1m").alias("minute")
    counts = samples.group_by(minute).agg(samples=pl.len())
    # Distinct pairs first, then lists: cheaper than a unique inside each group.
    seen = (
        samples.select(minute, "namespace")
        .drop_nulls()
        .unique()
        .group_by("minute")
        .agg(namespaces=pl.col("namespace"))
    )
    return counts.join(seen, on="minute", how="left").with_columns(
        pl.col("namespaces").fill_null(pl.lit([], dtype=pl.List(pl.Utf8)))
    )


def merge_counts(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Several :func:`minute_counts` frames as one (a minute can span two blocks)."""
    import polars as pl

    if not parts:
        return pl.DataFrame(
            schema={
                "minute": pl.Datetime("ms", "UTC"),
                "samples": pl.UInt32,
                "namespaces": pl.List(pl.Utf8),
            }
        )
    both = pl.concat(parts)
    counts = both.group_by("minute").agg(pl.col("samples").sum())
    seen = (
        both.select("minute", "namespaces")
        .explode("namespaces")
        .drop_nulls()
        .unique()
        .sort("minute", "namespaces")
        .group_by("minute", maintain_order=True)
        .agg("namespaces")
    )
    return (
        counts.join(seen, on="minute", how="left")
        .with_columns(pl.col("namespaces").fill_null(pl.lit([], dtype=pl.List(pl.Utf8))))
        .sort("minute")
    )


def record_imported_minutes(
    archive: Archive,
    counts: pl.DataFrame,
    *,
    import_id: str,
    source: str,
    started: float,
    finished: float,
) -> int:
    """Append one scrape-log row per imported minute; returns how many were written.

    ``counts`` is what :func:`merge_counts` returns. Each row is filed under its minute's date,
    where the gap audit looks for the runs of that minute.
    """
    from archiver.collect.scrapelog import record_imports

    return record_imports(
        archive,
        counts.select("minute", "samples", "namespaces").iter_rows(),
        scrape_id=import_id,
        source=source,
        started=started,
        finished=finished,
    )
