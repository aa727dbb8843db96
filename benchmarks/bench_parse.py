"""Parse speed: ``archiver.openmetrics.parse`` against prometheus_client's parsers.

Run with ``python -m benchmarks.bench_parse``. The body is realistic for a mid-size account at
the 30,000-point cap: ~45 families, ~6 labels per sample, one window, values that are mostly
small rates with some zeros, limits and exponents.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Literal

import polars as pl

from archiver.openmetrics import render

SAMPLES = 30_000
TARGET = 20.0
WINDOW = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)

_METRICS = [
    f"temporal_cloud_v1_{name}"
    for name in [
        "service_request_count",
        "service_request_throttled_count",
        "service_error_count",
        "service_pending_requests",
        "resource_exhausted_error_count",
        "service_latency_p50",
        "service_latency_p95",
        "service_latency_p99",
        "workflow_success_count",
        "workflow_failed_count",
        "workflow_timeout_count",
        "workflow_cancel_count",
        "workflow_terminate_count",
        "workflow_continued_as_new_count",
        "workflow_schedule_to_close_latency_p50",
        "workflow_schedule_to_close_latency_p95",
        "workflow_schedule_to_close_latency_p99",
        "activity_success_count",
        "activity_fail_count",
        "activity_timeout_count",
        "activity_task_fail_count",
        "activity_task_timeout_count",
        "activity_cancel_count",
        "activity_start_to_close_latency_p50",
        "activity_start_to_close_latency_p95",
        "activity_start_to_close_latency_p99",
        "approximate_backlog_count",
        "poll_success_count",
        "poll_success_sync_count",
        "poll_timeout_count",
        "no_poller_tasks_count",
        "namespace_open_workflows",
        "total_action_count",
        "billable_action_count",
        "total_action_throttled_count",
        "operations_count",
        "operations_throttled_count",
        "schedule_action_success_count",
        "replication_lag_p50",
        "replication_lag_p95",
        "replication_lag_p99",
        "operations_limit",
        "action_limit",
        "service_request_limit",
        "poller_limit",
    ]
]


def realistic_frame(samples: int = SAMPLES, seed: int = 7) -> pl.DataFrame:
    """A frame of ``samples`` rows shaped like one window of a mid-size account."""
    rng = random.Random(seed)
    account = "a1b2c"
    namespaces = [f"ns-{i:03d}-{rng.choice(['prod', 'stage', 'dev'])}.{account}" for i in range(40)]
    regions = ["aws-us-west-2", "aws-us-east-1", "gcp-europe-west3"]
    queues = [f"queue-{i}" for i in range(120)]
    workflows = [f"Workflow{i}" for i in range(60)]
    operations = [
        "StartWorkflowExecution",
        "SignalWorkflowExecution",
        "PollWorkflowTaskQueue",
        "RespondActivityTaskCompleted",
        "CompletionStats",
    ]
    per_family = samples // len(_METRICS) + 1
    metric: list[str] = []
    labels: list[list[dict[str, str]]] = []
    value: list[float] = []
    for name in _METRICS:
        seen: set[tuple[str, ...]] = set()
        while len(seen) < per_family and len(metric) < samples:
            # Heavy-tailed: a few namespaces hold most series.
            ns = namespaces[min(int(rng.paretovariate(1.2)) - 1, len(namespaces) - 1)]
            row = {
                "temporal_namespace": ns,
                "temporal_account": account,
                "region": rng.choice(regions),
                "temporal_task_queue": rng.choice(queues),
                "temporal_workflow_type": rng.choice(workflows),
                "operation": rng.choice(operations),
            }
            identity = tuple(row.values())
            if identity in seen:  # a series appears once per window
                continue
            seen.add(identity)
            keys = list(row)
            rng.shuffle(keys)  # the service does not promise label order
            metric.append(name)
            labels.append([{"key": k, "value": row[k]} for k in keys])
            roll = rng.random()
            value.append(
                0.0
                if roll < 0.2
                else 1e-05
                if roll < 0.25
                else float(rng.choice([500, 1000, 2000]))
                if name.endswith("_limit")
                else round(rng.expovariate(0.2), 3)
            )
    return pl.DataFrame(
        {"metric": metric, "labels": labels, "ts": [WINDOW] * len(metric), "value": value},
        schema={
            "metric": pl.Utf8,
            "labels": pl.List(pl.Struct({"key": pl.Utf8, "value": pl.Utf8})),
            "ts": pl.Datetime("ms", "UTC"),
            "value": pl.Float64,
        },
    )


def realistic_body(ts_unit: Literal["s", "ms"] = "s", samples: int = SAMPLES) -> bytes:
    """The rendered body of :func:`realistic_frame`, with the service's ``, `` separators."""
    return render(realistic_frame(samples), ts_unit=ts_unit, space_after_comma=True)


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _prometheus_openmetrics(text: str) -> tuple[int, float | None]:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    count, first = 0, None
    for family in text_string_to_metric_families(text):  # type: ignore[no-untyped-call]
        for sample in family.samples:
            if first is None and sample.timestamp is not None:
                first = float(sample.timestamp.sec + sample.timestamp.nsec / 1e9)
            count += 1
    return count, first


def _prometheus_classic(text: str) -> tuple[int, float | None]:
    from prometheus_client.parser import text_string_to_metric_families

    count, first = 0, None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if first is None and sample.timestamp is not None:
                first = float(sample.timestamp)  # the classic format counts milliseconds
            count += 1
    return count, first


def run(repeats: int = 5) -> list[dict[str, object]]:
    """Time ``parse`` against prometheus_client on a 30k-sample body in both timestamp units.

    A competitor that fails on a body, counts different samples or reads its timestamps as
    another unit is reported as skipped for that body: it did not do the same job.
    """
    from archiver.openmetrics import parse

    rows: list[dict[str, object]] = []
    for unit in ("s", "ms"):
        body = realistic_body(unit)
        text = body.decode()
        ours_samples = parse(body).samples
        expected = ours_samples.height
        expected_ts = ours_samples.item(0, "ts").timestamp()
        ours_times: list[float] = []
        # The OpenMetrics parser is the yardstick on both bodies (it reads every timestamp as
        # seconds, and a note says so); the classic one is only timed where it reads them right.
        theirs: list[tuple[str, Callable[[str], tuple[int, float | None]], bool]] = [
            ("prometheus_client openmetrics", _prometheus_openmetrics, False),
            ("prometheus_client classic text", _prometheus_classic, True),
        ]
        for label, fn, strict_unit in theirs:
            # The yardstick is the OpenMetrics parser; the classic one is shown beside it.
            yardstick = not strict_unit
            row: dict[str, object] = {
                "what": f"parse {SAMPLES // 1000}k samples ({unit} timestamps)",
                "theirs": label,
                "target": f">= {TARGET:g}x" if yardstick else "informational",
            }
            skipped = note = None
            try:
                count, first_ts = fn(text)
            except Exception as exc:  # their failure is a result to report, not a crash
                skipped = f"{type(exc).__name__}: {exc}"[:120]
            else:
                if count != expected:
                    skipped = f"counted {count} samples, we counted {expected}"
                elif first_ts is None or abs(first_ts - expected_ts) > 1:
                    wrong = f"reads timestamp as {first_ts}, not {expected_ts} (wrong unit)"
                    skipped, note = (wrong, None) if strict_unit else (None, wrong)
            if skipped:
                rows.append(
                    row
                    | {"ours_s": None, "theirs_s": None, "ratio": None, "met": None}
                    | {"skipped": skipped}
                )
                continue
            # Interleaved, so both sides see the same machine load (other jobs come and go).
            times = []
            for _ in range(repeats):
                ours_times.append(_seconds(partial(parse, body)))
                times.append(_seconds(partial(fn, text)))
            ours, seconds = statistics.median(ours_times[-repeats:]), statistics.median(times)
            ratio = seconds / ours
            rows.append(
                row
                | {"ours_s": round(ours, 5), "theirs_s": round(seconds, 5)}
                | {"ratio": round(ratio, 1), "met": ratio >= TARGET if yardstick else None}
                | ({"note": note} if note else {})
            )
    return rows


if __name__ == "__main__":
    for result in run():
        print(result)
