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


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _prometheus_openmetrics(text: str) -> int:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    return sum(len(family.samples) for family in text_string_to_metric_families(text))


def _prometheus_classic(text: str) -> int:
    from prometheus_client.parser import text_string_to_metric_families

    return sum(len(family.samples) for family in text_string_to_metric_families(text))


def run(repeats: int = 5) -> list[dict[str, object]]:
    """Time ``parse`` against prometheus_client on a 30k-sample body in both timestamp units."""
    from archiver.openmetrics import parse

    rows: list[dict[str, object]] = []
    for unit in ("s", "ms"):
        body = realistic_body(unit)
        text = body.decode()
        expected = parse(body).samples.height
        ours = _median_seconds(lambda body=body: parse(body), repeats)
        theirs: list[tuple[str, Callable[[str], int]]] = [
            ("prometheus_client openmetrics", _prometheus_openmetrics),
            ("prometheus_client classic text", _prometheus_classic),
        ]
        for label, fn in theirs:
            row: dict[str, object] = {
                "what": f"parse {SAMPLES // 1000}k samples ({unit} timestamps)",
                "ours_s": round(ours, 5),
                "theirs": label,
                "target": f">= {TARGET:g}x",
            }
            try:
                count = fn(text)
            except Exception as exc:  # their parser's failure is a result to report, not a crash
                rows.append(
                    row
                    | {
                        "theirs_s": None,
                        "ratio": None,
                        "met": None,
                        "skipped": f"{type(exc).__name__}: {exc}"[:120],
                    }
                )
                continue
            if count != expected:
                rows.append(
                    row
                    | {
                        "theirs_s": None,
                        "ratio": None,
                        "met": None,
                        "skipped": f"counted {count} samples, we counted {expected}",
                    }
                )
                continue
            seconds = _median_seconds(lambda fn=fn, text=text: fn(text), repeats)
            ratio = seconds / ours
            rows.append(
                row
                | {"theirs_s": round(seconds, 5), "ratio": round(ratio, 1), "met": ratio >= TARGET}
            )
    return rows


if __name__ == "__main__":
    for result in run():
        print(result)
