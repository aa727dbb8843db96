"""Bytes per sample: the compacted archive vs a naive Parquet dump vs Prometheus TSDB blocks.

Data: a simulated day of one-minute scrapes of a realistic account (``AccountSpec.small``),
written through the real path (``store.write_samples``, then ``compact.compact``). The
encoding rows rewrite the same compacted partitions with other Parquet options, which is how
``store.COMPACT_WRITE_OPTIONS`` was chosen: measured, not guessed.

Prometheus: ``promtool tsdb create-blocks-from openmetrics`` (Debian package ``prometheus``)
over an OpenMetrics file of the same samples, with 24h blocks (what a Prometheus server
compacts a day into). Without promtool that row says "skipped".
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from archiver.simulator.model import Account, AccountSpec
from archiver.store import compact
from archiver.store import write as store
from archiver.store.archive import Archive

START_MS = 1_740_960_000_000  # 2025-03-03T00:00Z
MINUTES = 1440
TARGET = "< 1 B/sample and < promtool"

_DICT = ["series", "metric", "labels.key_value.key", "labels.key_value.value"]
#: Encoding variants measured against each other (each a full set of write options).
VARIANTS: dict[str, dict[str, Any]] = {
    "pyarrow defaults (snappy, dictionary everywhere)": {},
    "zstd 3, dictionary everywhere": {"compression": "zstd"},
    "zstd 9, dict strings+value, delta ts": {
        "compression": "zstd",
        "compression_level": 9,
        "use_dictionary": [*_DICT, "value"],
        "column_encoding": {"ts": "DELTA_BINARY_PACKED"},
    },
    "zstd 9, dict strings, delta ts, byte-stream-split value": {
        "compression": "zstd",
        "compression_level": 9,
        "use_dictionary": _DICT,
        "column_encoding": {"ts": "DELTA_BINARY_PACKED", "value": "BYTE_STREAM_SPLIT"},
    },
    "zstd 9, dict strings, delta ts, plain value": {
        "compression": "zstd",
        "compression_level": 9,
        "use_dictionary": _DICT,
        "column_encoding": {"ts": "DELTA_BINARY_PACKED", "value": "PLAIN"},
    },
    "zstd 15, dict strings, delta ts, plain value (chosen)": {
        "compression": "zstd",
        "compression_level": 15,
        "use_dictionary": _DICT,
        "column_encoding": {"ts": "DELTA_BINARY_PACKED", "value": "PLAIN"},
    },
    "zstd 19, dict strings, delta ts, plain value": {
        "compression": "zstd",
        "compression_level": 19,
        "use_dictionary": _DICT,
        "column_encoding": {"ts": "DELTA_BINARY_PACKED", "value": "PLAIN"},
    },
    "brotli 11 (its maximum), dict strings, delta ts, plain value": {
        "compression": "brotli",
        "compression_level": 11,
        "use_dictionary": _DICT,
        "column_encoding": {"ts": "DELTA_BINARY_PACKED", "value": "PLAIN"},
    },
    "zstd 9, dict strings+value, dict ts": {
        "compression": "zstd",
        "compression_level": 9,
        "use_dictionary": [*_DICT, "value", "ts"],
    },
    "zstd 19, dict strings+value, delta ts": {
        "compression": "zstd",
        "compression_level": 19,
        "use_dictionary": [*_DICT, "value"],
        "column_encoding": {"ts": "DELTA_BINARY_PACKED"},
    },
    "zstd 9, no dictionary on labels": {
        "compression": "zstd",
        "compression_level": 9,
        "use_dictionary": ["series", "metric", "value"],
        "column_encoding": {"ts": "DELTA_BINARY_PACKED"},
    },
}


def simulated_day(minutes: int = MINUTES) -> list[pl.DataFrame]:
    account = Account(AccountSpec.small(seed=1))
    # Unique per (series, ts): the archive stores a sample once, and Prometheus refuses a
    # duplicate, so every format gets the same set (the simulator repeats ~1% of series).
    return [
        account.window(START_MS + m * 60_000).unique(["series", "ts"], maintain_order=True)
        for m in range(minutes)
    ]


def _size(paths: list[str] | list[Path]) -> int:
    return sum(Path(p).stat().st_size for p in paths)


def naive_bytes(frames: list[pl.DataFrame], root: Path) -> int:
    """One file per scrape with pyarrow's defaults: what a quick script would do."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(frames):
        path = root / f"scrape-{i}.parquet"
        pq.write_table(frame.to_arrow(), path)
        paths.append(path)
    return _size(paths)


def archive_bytes(frames: list[pl.DataFrame], root: Path) -> tuple[int, Archive]:
    """The real path: write_samples per hour of scrapes, then compact."""
    archive = Archive.open(str(root))
    for hour in range(0, len(frames), 60):
        store.write_samples(archive, pl.concat(frames[hour : hour + 60]))
    compact.compact(archive)
    return _size(archive.files("samples")), archive


def variant_bytes(archive: Archive, options: dict[str, Any], sort: tuple[str, ...]) -> int:
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(archive.files("samples")):
            table = pq.read_table(path)
            if sort != ("series", "ts"):
                table = table.sort_by([(c, "ascending") for c in sort])
            out = f"{tmp}/{i}.parquet"
            pq.write_table(table, out, **options)
            total += Path(out).stat().st_size
    return total


def value_entropy(archive: Archive) -> float:
    """Bytes per sample that the values alone carry, estimated from below.

    The order-0 entropy of each series' values (how often each value occurs in that series,
    ``-sum(p * log2 p)``), summed over every sample; a plug-in estimate from at most 1,440
    values per series, so it errs low. A coder that treats a series' values as independent
    draws, even one told each series' distribution in advance, needs this many bytes on
    average; Parquet's value encodings (plain, dictionary, byte-stream split, each under a
    general-purpose codec) do not get near it. Only a coder that predicts a value from the
    ones before could go lower, and no Parquet reader decodes such a thing.
    """
    frame = pl.scan_parquet([str(p) for p in archive.files("samples")]).select("series", "value")
    counts = frame.group_by("series", "value").agg(n=pl.len())
    share = pl.col("n") / pl.col("n").sum().over("series")
    bits = counts.select(bits=-(pl.col("n") * share.log(2)).sum(), samples=pl.col("n").sum())
    totals = bits.collect()
    return float(totals.item(0, "bits")) / 8 / float(totals.item(0, "samples"))


def openmetrics_text(frames: list[pl.DataFrame]) -> str:
    """All samples as one OpenMetrics exposition, grouped by series, seconds timestamps."""
    allrows = pl.concat(frames).sort("series", "ts")
    lines = allrows.select(
        pl.format(
            "{} {} {}",
            pl.col("series"),
            pl.col("value"),
            (pl.col("ts").dt.epoch("ms") / 1000).cast(pl.Int64),
        )
    ).to_series()
    return "\n".join(lines.to_list()) + "\n# EOF\n"


def promtool_bytes(frames: list[pl.DataFrame], root: Path) -> int | None:
    promtool = shutil.which("promtool")
    if promtool is None:
        return None
    source = root / "samples.om"
    source.write_text(openmetrics_text(frames), encoding="utf-8")
    blocks = root / "tsdb"
    subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=24h",
            str(source),
            str(blocks),
        ],
        check=True,
        capture_output=True,
    )
    return _size([p for p in blocks.rglob("*") if p.is_file()])


def run(repeats: int = 3) -> list[dict[str, object]]:
    """Rows of {what, ours, theirs, ratio, target, met} in bytes per sample."""
    frames = simulated_day()
    samples = sum(f.height for f in frames)
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        started = time.perf_counter()
        ours_bytes, archive = archive_bytes(frames, base / "archive")
        ours = ours_bytes / samples
        seconds = time.perf_counter() - started
        naive = naive_bytes(frames, base / "naive") / samples
        prom = promtool_bytes(frames, base)
        rows.append(
            _row(
                f"compacted archive vs Prometheus TSDB blocks ({samples} samples, a day)",
                ours,
                None if prom is None else prom / samples,
            )
        )
        rows.append(
            _row(
                "compacted archive vs naive Parquet (pyarrow defaults, a file per scrape)",
                ours,
                naive,
            )
        )
        rows.append({"what": "write + compact a day (seconds)", "ours": round(seconds, 2)})
        rows.append(
            {
                "what": "values alone: per-series order-0 entropy (floor of order-0 coders)",
                "ours": round(value_entropy(archive), 3),
                "target": "informational: what no order-0 coder of the values goes under",
                "met": None,
            }
        )
        for name, options in VARIANTS.items():
            size = min(variant_bytes(archive, options, ("series", "ts")) for _ in range(repeats))
            rows.append(_variant(f"encoding: {name}", size / samples, ours))
        for sort in (("ts", "series"), ("metric", "ts", "series")):
            size = variant_bytes(archive, store.COMPACT_WRITE_OPTIONS, sort)
            rows.append(
                _variant(f"sort order {', '.join(sort)} (chosen options)", size / samples, ours)
            )
    return rows


def _variant(what: str, size: float, chosen: float) -> dict[str, object]:
    """An encoding experiment: its bytes/sample against the archive as written."""
    return {
        "what": what,
        "ours": round(size, 3),
        "theirs": round(chosen, 3),
        "ratio": round(size / chosen, 3),
        "target": "informational: smaller is better (theirs = the archive as written)",
        "met": None,
    }


def _row(what: str, ours: float, theirs: float | None) -> dict[str, object]:
    if theirs is None:
        return {
            "what": what,
            "ours": round(ours, 3),
            "theirs": "skipped (no promtool)",
            "target": TARGET,
            "met": None,
        }
    return {
        "what": what,
        "ours": round(ours, 3),
        "theirs": round(theirs, 3),
        "ratio": round(ours / theirs, 3),
        "target": TARGET,
        "met": ours < 1.0 and ours < theirs,
    }


if __name__ == "__main__":
    import json

    for row in run(repeats=1):
        print(json.dumps(row))
