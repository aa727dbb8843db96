"""The archive's tables, each defined once: schema, key, time column, partitions, file names.

A sample's identity is its ``series`` (metric name plus the full, sorted label set, written the
way the exposition format writes it) and its timestamp. ``labels`` keeps the same label set as a
map for queries; ``namespace`` is not a column in the files: it is the Hive partition.

Every module that needs to know what a table is reads its :class:`Table` here (``TABLES`` by
name) instead of branching on the name; file names are made and parsed only by
:func:`make_filename` and :func:`parse_filename` (as dlt's ``layout.make_filename``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

#: Bumped whenever a stored schema changes; readers upgrade older files on the fly.
SCHEMA_VERSION = 1
SCHEMA_VERSION_KEY = b"archiver.schema_version"

TS = pa.timestamp("ms", tz="UTC")
LABELS = pa.map_(pa.string(), pa.string())

SAMPLES = pa.schema(
    [
        pa.field("series", pa.string(), nullable=False),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("labels", LABELS, nullable=False),
        pa.field("ts", TS, nullable=False),
        pa.field("value", pa.float64(), nullable=False),
    ]
)

SCRAPES = pa.schema(
    [
        pa.field("scrape_id", pa.string(), nullable=False),
        # "metrics" or "descriptors" for an HTTP request; "scrape" for the one summary row that
        # closes every scrape run (its outcome and completeness are the run's overall result).
        pa.field("request", pa.string(), nullable=False),
        pa.field("shard", pa.string()),  # human-readable filter set of this request
        pa.field("namespaces", pa.list_(pa.string())),
        pa.field("metrics", pa.list_(pa.string())),
        pa.field("labels", pa.list_(pa.string())),
        pa.field("attempt", pa.int32(), nullable=False),
        pa.field("started", TS, nullable=False),
        pa.field("finished", TS, nullable=False),
        pa.field("status", pa.int32()),  # HTTP status; null when no response arrived
        pa.field("completeness", pa.string()),  # complete | limited | unknown; null if no body
        pa.field("outcome", pa.string(), nullable=False),  # an archiver.collect.outcome.Outcome
        pa.field("target_window", TS),  # the minute this scrape meant to capture
        pa.field("served_window", TS),  # the minute the response actually served (stall: older)
        pa.field("sample_count", pa.int64()),
        pa.field("new_samples", pa.int64()),
        pa.field("namespaces_seen", pa.list_(pa.string())),
        pa.field("bytes", pa.int64()),
        pa.field("error", pa.string()),
        # Where an imported minute came from ("openmetrics:<file>", "prometheus:<url>"); null
        # for scrapes, and absent from files written before it existed (read as null).
        pa.field("source", pa.string()),
    ]
)

DESCRIPTORS = pa.schema(
    [
        pa.field("fetched", TS, nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("help", pa.string()),
        pa.field("dimensions", pa.list_(pa.string())),
    ]
)

#: One row per (series, hour) of a (date, namespace) partition's samples.
ROLLUPS = pa.schema(
    [
        pa.field("series", pa.string(), nullable=False),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("labels", LABELS, nullable=False),
        pa.field("hour", TS, nullable=False),  # start of the hour
        pa.field("count", pa.int64(), nullable=False),
        pa.field("min", pa.float64(), nullable=False),
        pa.field("max", pa.float64(), nullable=False),
        pa.field("avg", pa.float64(), nullable=False),
        pa.field("last", pa.float64(), nullable=False),  # the value at the hour's last sample
        pa.field("last_ts", TS, nullable=False),
    ]
)

#: Parquet options for compacted sample files, measured on a simulated day (bytes per sample,
#: benchmarks/bench_storage.py): values plain 1.55 vs dictionary 1.76 vs byte-stream-split 3.54;
#: delta timestamps 1.88 vs dictionary 2.26; sorted by series then time 1.85 vs time then
#: series 2.87. zstd level vs size and time for ~1M rows: 3: 1.87 B in 0.4 s; 9: 1.74 in 0.7 s;
#: 15: 1.55 in 1.8 s; 19: 1.53 in 5.3 s. Level 15 takes nearly all of 19's gain at a third of its
#: time; compaction pays it once a day, outside the write lock.
COMPACT_WRITE_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 15,
    "use_dictionary": ["series", "metric", "labels.key_value.key", "labels.key_value.value"],
    "column_encoding": {"ts": "DELTA_BINARY_PACKED", "value": "PLAIN"},
    "write_statistics": ["ts", "metric"],
    "row_group_size": 1 << 20,
}
#: Rollup files: small row groups with statistics on ``metric`` and ``hour``. Rows are sorted by
#: series, which starts with the metric, so a report that reads a few metrics (the backlog's
#: four, the capacity's twelve) skips the row groups of every other metric by their min/max.
ROLLUP_WRITE_OPTIONS: dict[str, Any] = COMPACT_WRITE_OPTIONS | {
    "column_encoding": {"hour": "DELTA_BINARY_PACKED", "last_ts": "DELTA_BINARY_PACKED"},
    "write_statistics": ["metric", "hour"],
    "row_group_size": 8192,
}
#: A scrape's own file lives until its day is compacted: write it fast (level 15 costs ~100x
#: level 3 on one unsorted minute of a mid-size account: seconds, inside the cron deadline).
SAMPLE_WRITE_OPTIONS: dict[str, Any] = COMPACT_WRITE_OPTIONS | {"compression_level": 3}
#: The scrape log and descriptors: small files, zstd at its default level.
SMALL_WRITE_OPTIONS: dict[str, Any] = {"compression": "zstd"}
#: The same tables once a day is merged: written once, read for months.
SMALL_COMPACT_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 9}


@dataclass(frozen=True)
class Table:
    """What one table of the archive is; see ``TABLES``."""

    name: str
    schema: pa.Schema
    #: The identity of a row (duplicates of it are dropped) and the order files are sorted in.
    key: tuple[str, ...]
    #: The column whose UTC date is the ``date=`` partition and whose range a file name states.
    time: str
    #: ``("date",)`` or ``("date", "namespace")``: the Hive partitions, outermost first.
    partitions: tuple[str, ...]
    #: The first word of the files a writer appends (compaction writes ``compact-``).
    stem: str
    write_options: dict[str, Any] = field(default_factory=dict)
    compact_options: dict[str, Any] = field(default_factory=dict)
    #: Compaction keeps hourly rollups of this table (``rollups``, by the same partitions).
    rolled_up: bool = False
    #: The columns a row's ``series`` determines (compaction sorts series numbers, not text).
    by_series: tuple[str, ...] = ()

    @property
    def by_namespace(self) -> bool:
        return "namespace" in self.partitions


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "samples",
            SAMPLES,
            key=("series", "ts"),
            time="ts",
            partitions=("date", "namespace"),
            stem="part",
            write_options=SAMPLE_WRITE_OPTIONS,
            compact_options=COMPACT_WRITE_OPTIONS,
            rolled_up=True,
            by_series=("metric", "labels"),
        ),
        Table(
            "scrapes",
            SCRAPES,
            key=("started", "scrape_id", "request", "attempt", "shard"),
            time="started",
            partitions=("date",),
            stem="log",
            write_options=SMALL_WRITE_OPTIONS,
            compact_options=SMALL_COMPACT_OPTIONS,
        ),
        Table(
            "descriptors",
            DESCRIPTORS,
            key=("fetched", "name"),
            time="fetched",
            partitions=("date",),
            stem="desc",
            write_options=SMALL_WRITE_OPTIONS,
            compact_options=SMALL_COMPACT_OPTIONS,
        ),
        Table(
            "rollups",
            ROLLUPS,
            key=("series", "hour"),
            time="hour",
            partitions=("date", "namespace"),
            stem="rollup",
            write_options=ROLLUP_WRITE_OPTIONS,
            compact_options=ROLLUP_WRITE_OPTIONS,
        ),
    )
}

#: The stem of the files compaction writes (one sorted run per partition, or a few).
COMPACTED = "compact"

_NAME = re.compile(
    r"^(?P<stem>[a-z]+)(?:-(?P<lo>-?\d+)-(?P<hi>-?\d+))?-(?P<id>[0-9a-f]+)\.parquet$"
)


@dataclass(frozen=True)
class FileName:
    """What a data file's name says: who wrote it and the time range (ms) it holds, if any."""

    stem: str
    lo: int | None
    hi: int | None
    id: str

    @property
    def compacted(self) -> bool:
        return self.stem == COMPACTED


def stamp(data: pa.Table) -> pa.Table:
    """``data`` with the current schema version in its metadata (what every writer stores)."""
    return data.replace_schema_metadata({SCHEMA_VERSION_KEY: str(SCHEMA_VERSION)})


def make_filename(stem: str, lo: int | None = None, hi: int | None = None) -> str:
    """``<stem>[-<first ms>-<last ms>]-<random id>.parquet``: a new file's name.

    >>> make_filename("part", 1000, 2000)[:15]
    'part-1000-2000-'
    """
    token = uuid.uuid4().hex[:12]
    if lo is None or hi is None:
        return f"{stem}-{token}.parquet"
    return f"{stem}-{lo}-{hi}-{token}.parquet"


def parse_filename(path: str) -> FileName | None:
    """The parts of a data file's name (a full path is fine); None if it is not one of ours."""
    match = _NAME.match(path.rsplit("/", 1)[-1])
    if match is None:
        return None
    lo, hi = match.group("lo"), match.group("hi")
    return FileName(
        match.group("stem"),
        int(lo) if lo is not None else None,
        int(hi) if hi is not None else None,
        match.group("id"),
    )


def file_range(path: str) -> tuple[int, int] | None:
    """The (first, last) timestamp in ms a file's name promises, if it names one."""
    name = parse_filename(path)
    if name is None or name.lo is None or name.hi is None:
        return None
    return name.lo, name.hi
