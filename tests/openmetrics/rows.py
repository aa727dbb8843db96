"""Sample rows for the OpenMetrics tests: frames to render, the samples a parse must give,
hypothesis strategies, and a realistic body's rows (escapes, shuffled labels, NaN, Inf)."""

from __future__ import annotations

import datetime as dt
import math
import random
from pathlib import Path

import polars as pl
import pytest
from hypothesis import strategies as st

from archiver.errors import ParseError
from archiver.openmetrics import (
    SAMPLES_SCHEMA,
    parse,
    series_text,
)

UTC = dt.UTC

T0 = dt.datetime(2021, 1, 1, tzinfo=UTC)


def frame(rows: list[tuple[str, dict[str, str], dt.datetime, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "metric": [r[0] for r in rows],
            "labels": [[{"key": k, "value": v} for k, v in r[1].items()] for r in rows],
            "ts": [r[2] for r in rows],
            "value": [r[3] for r in rows],
        },
        schema={
            "metric": pl.Utf8,
            "labels": pl.List(pl.Struct({"key": pl.Utf8, "value": pl.Utf8})),
            "ts": pl.Datetime("ms", "UTC"),
            "value": pl.Float64,
        },
    )


METRIC_NAMES = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", fullmatch=True)

LABEL_NAMES = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True) | st.just(
    "temporal_namespace"
)

# NUL is the one character a body may not carry (it is refused), and surrogates are not UTF-8.
LABEL_VALUES = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
    | st.sampled_from('"\\\n}{,= \tn'),
    max_size=12,
)

VALUES = st.floats(allow_nan=True, allow_infinity=True)

# Seconds below 1e11 and milliseconds above it, so the magnitude rule holds in both units.
TIMES = st.datetimes(
    min_value=dt.datetime(1974, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))

ROWS = st.lists(
    st.tuples(METRIC_NAMES, st.dictionaries(LABEL_NAMES, LABEL_VALUES, max_size=5), TIMES, VALUES),
    max_size=25,
)


def expected_samples(rows: list[tuple[str, dict[str, str], dt.datetime, float]]) -> pl.DataFrame:
    order = {name: i for i, name in reversed(list(enumerate(r[0] for r in rows)))}
    grouped = sorted(rows, key=lambda r: order[r[0]])  # stable: families in first appearance
    series = []
    for metric, labels, _, _ in grouped:
        series.append(series_text(metric, labels))
    return pl.DataFrame(
        {
            "series": series,
            "metric": [r[0] for r in grouped],
            "namespace": [r[1].get("temporal_namespace") for r in grouped],
            "labels": [[{"key": k, "value": v} for k, v in sorted(r[1].items())] for r in grouped],
            "ts": [r[2] for r in grouped],
            "value": [r[3] for r in grouped],
        },
        schema=SAMPLES_SCHEMA,
    )


def realistic_rows(n: int, seed: int = 3) -> list[tuple[str, dict[str, str], dt.datetime, float]]:
    rng = random.Random(seed)
    rows: list[tuple[str, dict[str, str], dt.datetime, float]] = []
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    metrics = [f"temporal_cloud_v1_metric_{i}_count" for i in range(30)]
    queues = ["q-1", 'q "quoted"', "q\\back", "q\nnew", "Zürich", "a}b,c=d"]
    while len(rows) < n:
        metric = metrics[len(rows) * len(metrics) // n]  # grouped, like a real body
        labels = {
            "temporal_namespace": f"ns-{rng.randrange(20)}.acct1",
            "temporal_account": "acct1",
            "region": rng.choice(["aws-us-west-2", "gcp-us-central1"]),
            "temporal_task_queue": rng.choice(queues),
            "temporal_workflow_type": f"Wf{rng.randrange(50)}",
            "operation": rng.choice(["StartWorkflowExecution", "CompletionStats"]),
        }
        identity = (metric, tuple(sorted(labels.items())))
        if identity in seen:
            continue
        seen.add(identity)
        keys = list(labels)
        rng.shuffle(keys)
        value = rng.choice([0.0, 1e-05, 42.0, rng.expovariate(0.1), math.inf, math.nan])
        rows.append((metric, {k: labels[k] for k in keys}, T0, value))
    return rows


def comparable(value: float) -> object:
    return "NaN" if math.isnan(value) else value


# A verbatim copy of the Temporal Cloud OpenMetrics API reference, kept beside the tests.
REFERENCE = Path(__file__).resolve().parent / "data" / "temporal-cloud-openmetrics-api.txt"


# The response example of the API reference, verbatim (including its ", region=" space).
REFERENCE_BODY = (
    "# TYPE temporal_cloud_v1_workflow_success_count gauge\n"
    "# HELP temporal_cloud_v1_workflow_success_count "
    "The number of successful workflows per second\n"
    'temporal_cloud_v1_workflow_success_count{temporal_namespace="production",'
    'temporal_workflow_type="payment-processing",region="aws-us-west-2"} 42.0 1609459200000\n'
    'temporal_cloud_v1_workflow_success_count{temporal_namespace="production",'
    'temporal_workflow_type="order-fulfillment",region="aws-us-west-2"} 128.0 1609459200000\n'
    "# TYPE temporal_cloud_v1_approximate_backlog_count gauge\n"
    "# HELP temporal_cloud_v1_approximate_backlog_count "
    "Approximate number of tasks in a task queue\n"
    'temporal_cloud_v1_approximate_backlog_count{temporal_namespace="production",'
    'temporal_task_queue="critical-queue",task_type="workflow", region="aws-us-west-2"} '
    "15.0 1609459200000\n"
)


def one(line: str) -> dict[str, object]:
    """Parse a body holding one sample line and return that sample as a dict."""
    rows = parse(f"{line}\n# EOF\n".encode()).samples.to_dicts()
    assert len(rows) == 1
    return rows[0]


def labels_of(row: dict[str, object]) -> dict[str, str]:
    pairs = row["labels"]
    assert isinstance(pairs, list)
    return {pair["key"]: pair["value"] for pair in pairs}


def fail(body: bytes | str) -> ParseError:
    raw = body.encode() if isinstance(body, str) else body
    with pytest.raises(ParseError) as info:
        parse(raw)
    return info.value
