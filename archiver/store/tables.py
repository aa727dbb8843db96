"""The archive's table schemas, and the version stamped into every file's metadata.

A sample's identity is its ``series`` (metric name plus the full, sorted label set, written the
way the exposition format writes it) and its timestamp. ``labels`` keeps the same label set as a
map for queries; ``namespace`` is not a column in the files: it is the Hive partition.
"""

from __future__ import annotations

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
        pa.field("outcome", pa.string(), nullable=False),
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

#: Outcomes a scrape-log row can carry.
OUTCOMES = (
    "complete",  # 200, X-Completeness: complete, parsed and stored
    "limited",  # 200 but truncated at the data-point cap
    "unknown",  # 200 but the server could not vouch for completeness (or no/odd header)
    "rate_limited",  # 429
    "server_error",  # 5xx or another unexpected status
    "auth_error",  # 401 / 403
    "network_error",  # timeout, reset, cut body
    "parse_error",  # body is not OpenMetrics
    "budget_exhausted",  # not sent: the account budget had no room
    "skipped",  # not sent: another scrape held the archive, or the window was already stored
)
