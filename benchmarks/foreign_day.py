"""Hours of minutes that are NOT from the simulator: how a big account's values look elsewhere.

The simulator's values are smooth model curves; real accounts are noisier.
:mod:`benchmarks.foreign` writes one minute's OpenMetrics body; this generator keeps
``points`` series whose values evolve from minute to minute (for compaction and storage, which
need many minutes of the same series), as parser-shaped samples (the columns
``store.write_samples`` takes) with:

- noisy rates rounded to 3 decimals, idle (0) in a third of the minutes of a series,
- latency percentiles as noisy 3-decimal seconds,
- integer random-walk backlogs per task queue (never below 0),
- constant limits,
- one dominant namespace holding ~80% of the series, a long tail of small ones,
- ``points`` series per minute (default the 50,000-datapoint cap of one scrape).

>>> gen = Foreign(points=1000, seed=1)
>>> frame = gen.minute(0)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from archiver.openmetrics.batch import series_text

_RATES = (
    "temporal_cloud_v1_service_request_count",
    "temporal_cloud_v1_service_error_count",
    "temporal_cloud_v1_workflow_success_count",
    "temporal_cloud_v1_total_action_count",
)
_LATENCY = "temporal_cloud_v1_service_latency_p99"
_BACKLOG = "temporal_cloud_v1_approximate_backlog_count"
_LIMIT = "temporal_cloud_v1_namespace_action_limit"
_OPERATIONS = (
    "StartWorkflowExecution",
    "SignalWorkflowExecution",
    "PollWorkflowTaskQueue",
    "PollActivityTaskQueue",
    "RespondActivityTaskCompleted",
    "RespondWorkflowTaskCompleted",
    "QueryWorkflow",
    "DescribeNamespace",
)
_REGIONS = ("aws-us-east-1", "aws-us-west-2", "aws-eu-west-1")


@dataclass
class Foreign:
    """``points`` series with their own value processes; :meth:`minute` gives one scrape."""

    points: int = 50_000
    seed: int = 0
    namespaces: int = 20
    _table: pl.DataFrame = field(init=False, repr=False)
    _kind: np.ndarray = field(init=False, repr=False)
    _level: np.ndarray = field(init=False, repr=False)
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self._rng = rng
        names = [f"ns-{i:03d}.acct7" for i in range(self.namespaces)]
        # One dominant namespace (~80%), the rest split a long tail.
        weights = np.array([0.8] + [0.2 / (self.namespaces - 1)] * (self.namespaces - 1))
        rows: list[tuple[str, str, str, list[dict[str, str]]]] = []
        kinds: list[int] = []
        i = 0
        while len(rows) < self.points:
            ns = names[int(rng.choice(self.namespaces, p=weights))]
            metric, kind, labels = _series(i, ns, rng.random())
            key = series_text(metric, labels)
            rows.append((key, metric, ns, [{"key": k, "value": labels[k]} for k in sorted(labels)]))
            kinds.append(kind)
            i += 1
        self._table = pl.DataFrame(
            rows,
            schema={
                "series": pl.String,
                "metric": pl.String,
                "namespace": pl.String,
                "labels": pl.List(pl.Struct({"key": pl.String, "value": pl.String})),
            },
            orient="row",
        ).unique("series", keep="first", maintain_order=True)
        self._kind = np.array(kinds)[: self._table.height]
        n = self._table.height
        self._level = np.where(
            self._kind == 2,
            rng.integers(0, 500, n).astype(np.float64),
            np.where(self._kind == 3, rng.choice([200.0, 400.0, 1000.0, 2000.0], n), 0.0),
        )
        self._scale = rng.lognormal(0.0, 1.5, n)

    @property
    def series(self) -> int:
        return self._table.height

    def values(self) -> np.ndarray:
        """The next minute's values (the processes advance one step)."""
        rng, kind, n = self._rng, self._kind, self._kind.shape[0]
        noise = rng.lognormal(0.0, 0.35, n)
        rate = np.round(self._scale * noise, 3)
        rate[rng.random(n) < 0.33] = 0.0  # idle minutes
        latency = np.round(0.02 + 0.05 * self._scale * noise, 3)
        step = rng.integers(-3, 4, n).astype(np.float64)
        walk = np.maximum(self._level + step * (rng.random(n) < 0.6), 0.0)
        self._level = np.where(kind == 2, walk, self._level)
        return np.select(
            [kind == 0, kind == 1, kind == 2], [rate, latency, self._level], self._level
        )

    def minute(self, minute_ms: int) -> pl.DataFrame:
        """One scrape's samples at ``minute_ms`` (epoch ms, a whole minute)."""
        return self._table.with_columns(
            ts=pl.lit(minute_ms, pl.Int64).cast(pl.Datetime("ms", "UTC")),
            value=pl.Series(self.values()),
        ).select("series", "metric", "namespace", "labels", "ts", "value")


def _series(i: int, ns: str, roll: float) -> tuple[str, int, dict[str, str]]:
    """The ``i``-th series: (metric, value kind, labels); ``roll`` picks the kind."""
    region = _REGIONS[i % len(_REGIONS)]
    if roll < 0.70:
        labels = {
            "temporal_namespace": ns,
            "operation": _OPERATIONS[i % len(_OPERATIONS)],
            "temporal_workflow_type": f"wf-{i % 997}",
            "region": region,
        }
        return _RATES[i % len(_RATES)], 0, labels
    if roll < 0.85:
        labels = {
            "temporal_namespace": ns,
            "operation": _OPERATIONS[i % len(_OPERATIONS)],
            "temporal_task_queue": f"tq-{i % 1499}",
            "region": region,
        }
        return _LATENCY, 1, labels
    if roll < 0.98:
        labels = {
            "temporal_namespace": ns,
            "temporal_task_queue": f"tq-{i}",
            "task_type": "workflow" if i % 2 else "activity",
            "region": region,
        }
        return _BACKLOG, 2, labels
    return _LIMIT, 3, {"temporal_namespace": ns, "limit_id": f"l-{i}", "region": region}
