"""Which series each metric family has: its labels, behaviour and base rate per row, drawn from
the topology. :func:`archiver.simulator.series.build_series` turns the blocks into one table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from numpy.typing import NDArray

from archiver.catalog import MetricDef
from archiver.simulator.behaviour import LIMIT_KINDS, LIMIT_SCALE, Behaviour
from archiver.simulator.hashing import mix, row_key, salt
from archiver.simulator.topology import Topology

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
U64 = NDArray[np.uint64]
STR = NDArray[np.str_]


@dataclass
class Block:
    """The rows of one catalog metric, with what the model needs to give each a value."""

    metric: MetricDef
    ns: I64
    labels: dict[str, STR]
    key: U64
    behaviour: int
    base: F64
    aux: F64 = field(default_factory=lambda: np.zeros(0))
    p: F64 = field(default_factory=lambda: np.zeros(0))


_FRONTEND_OPS = (
    "PollWorkflowTaskQueue", "PollActivityTaskQueue", "RespondWorkflowTaskCompleted",
    "RespondActivityTaskCompleted", "StartWorkflowExecution", "SignalWorkflowExecution",
    "RecordActivityTaskHeartbeat", "QueryWorkflow", "DescribeWorkflowExecution",
    "SignalWithStartWorkflowExecution", "GetWorkflowExecutionHistory", "ListWorkflowExecutions",
    "UpdateWorkflowExecution", "TerminateWorkflowExecution", "DescribeNamespace",
    "CompletionStats",
)  # fmt: skip
_OPERATIONS = (
    ("StartWorkflowExecution", "false"), ("SignalWorkflowExecution", "false"),
    ("RespondWorkflowTaskCompleted", "false"), ("RespondActivityTaskCompleted", "false"),
    ("RecordActivityTaskHeartbeat", "false"), ("QueryWorkflow", "false"),
    ("UpdateWorkflowExecution", "false"), ("CompletionStats", "true"),
    ("DeleteWorkflowExecution", "true"),
)  # fmt: skip
_TIMEOUT_TYPES = ("start_to_close", "schedule_to_start", "schedule_to_close", "heartbeat")
_TIMEOUT_SHARE = np.array([0.5, 0.25, 0.15, 0.1])
_ACTION_TYPES = (
    "workflow_started", "activity_started", "signal", "timer", "child_workflow_started",
    "query", "update", "heartbeat",
)  # fmt: skip
_ACTION_SHARE = np.array([1.0, 3.0, 0.4, 0.8, 0.2, 0.1, 0.05, 1.0])
_TASK_TYPES = ("workflow", "activity")
_POLL_OPS = np.array(["PollWorkflowTaskQueue", "PollActivityTaskQueue"])
_RATE_FACTOR = {
    "workflow_success": 0.9, "workflow_failed": 0.03, "workflow_timeout": 0.004,
    "workflow_cancel": 0.01, "workflow_terminate": 0.004, "workflow_continued_as_new": 0.05,
    "activity_success": 2.8, "activity_fail": 0.02, "activity_timeout": 0.02,
    "activity_task_fail": 0.08, "activity_task_timeout": 0.05, "activity_cancel": 0.01,
    "activity_terminate": 0.002, "schedule_action_success": 1.0,
    "schedule_buffer_overruns": 0.01, "schedule_missed_catchup_window": 0.004,
    "schedule_rate_limited": 0.02,
}  # fmt: skip
_REGION_SHARE = 0.15  # a replica region sees a fraction of the active region's traffic


def _expand(counts: I64) -> tuple[I64, I64]:
    """Row indices repeated ``counts`` times, and each copy's position 0..count-1."""
    rows = np.repeat(np.arange(len(counts)), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return rows, np.arange(len(rows)) - starts


def _short(name: str) -> str:
    return name.removeprefix("temporal_cloud_v1_").removesuffix("_count")


class Builder:
    """Turns the topology into blocks of rows, one block per catalog metric."""

    def __init__(self, tp: Topology, optin: frozenset[str]) -> None:
        self.tp = tp
        self.optin = optin
        n = tp.n_ns
        self.n_regions = np.array([len(r) for r in tp.ns_regions], dtype=np.int64)
        width = int(self.n_regions.max())
        self.region_table = np.array(
            [list(r) + [""] * (width - len(r)) for r in tp.ns_regions], dtype=np.str_
        )
        ns_w = tp.ns_volume / tp.ns_volume.max()
        self.actions_min = tp.ns_volume * 8.0  # actions per minute at the daily mean
        self.n_ops = np.minimum(6 + np.rint(10 * ns_w).astype(np.int64), len(_FRONTEND_OPS))
        self.ns_idx = np.arange(n, dtype=np.int64)
        self.tq_idx = np.arange(len(tp.tq_ns), dtype=np.int64)
        self.wt_idx = np.arange(len(tp.wt_ns), dtype=np.int64)
        self.pair_idx = np.arange(len(tp.pair_tq), dtype=np.int64)
        self.act_count = np.bincount(tp.act_wt, minlength=len(tp.wt_ns)).astype(np.int64)
        self.act_start = np.cumsum(self.act_count) - self.act_count

    # -- helpers ----------------------------------------------------------------------------

    def block(
        self, m: MetricDef, ns: I64, labels: dict[str, STR], key: U64, behaviour: int,
        base: F64, aux: F64 | None = None, p: F64 | None = None, key_name: str | None = None,
    ) -> Block:  # fmt: skip
        """One block, expanded over the namespace's regions when the metric has ``region``.

        ``key_name`` hashes the keys as if the metric were that one (a SUBSET shares the keys,
        hence the draws, of the series it is a subset of).
        """
        aux = np.zeros(len(ns)) if aux is None else aux
        p = np.ones(len(ns)) if p is None else p
        # The quantiles of one latency share a key, so they share draws and stay ordered.
        metric_key = salt(*re.sub(r"_p(50|95|99)$", "", key_name or m.name).encode())
        if not m.has_region:
            return Block(m, ns, labels, mix(key ^ metric_key), behaviour, base, aux, p)
        rows, pos = _expand(self.n_regions[ns])
        ns_r = ns[rows]
        share = np.where(pos == 0, 1.0, _REGION_SHARE)
        if behaviour in (Behaviour.LATENCY, Behaviour.LIMIT):
            share = np.ones(len(rows))
        out_labels = {k: v[rows] for k, v in labels.items()}
        out_labels["region"] = self.region_table[ns_r, pos]
        p_r = p[rows]
        if behaviour == Behaviour.THROTTLE:
            p_r = np.where(pos == 0, p_r, 0.0)  # the lead series is in the primary region
        return Block(
            m, ns_r, out_labels, mix(row_key(key[rows], pos) ^ metric_key), behaviour,
            base[rows] * share, aux[rows], p_r,
        )  # fmt: skip

    def volume(self, ns: I64) -> F64:
        out: F64 = self.tp.ns_volume[ns]
        return out

    # -- families ---------------------------------------------------------------------------

    def frontend(self, m: MetricDef) -> Block:
        rows, op = _expand(self.n_ops)
        ns = self.ns_idx[rows]
        share = 1.0 / (op + 1.0) ** 0.8
        share = share / np.bincount(ns, weights=share)[ns]
        req_min = self.actions_min[ns] * 1.5 * share
        is_poll = op < 2
        name = _short(m.name)
        key = row_key(np.full(len(ns), 1), ns, op)
        labels = {"operation": np.array(_FRONTEND_OPS, dtype=np.str_)[op]}
        if name == "service_pending_requests":
            pollers = 4.0 + 60.0 * self.tp.ns_volume[ns] / self.tp.ns_volume.max()
            return self.block(m, ns[is_poll], {"operation": labels["operation"][is_poll]},
                              key[is_poll], Behaviour.LEVEL, pollers[is_poll])  # fmt: skip
        if m.kind == "latency":
            lat = np.where(is_poll, 4.0, 0.015 * (1 + op % 3))
            q = {"p50": 0.0, "p95": 1.0, "p99": 2.0}[m.name[-3:]]
            aux, p = np.full(len(ns), q), 1.0 - np.exp(-req_min)
            return self.block(m, ns, labels, key, Behaviour.LATENCY, lat, aux, p)
        kind = np.full(len(ns), float(LIMIT_KINDS.index("requests")))
        if name == "service_request_throttled":
            lead = (labels["operation"] == "StartWorkflowExecution").astype(np.float64)
            return self.block(m, ns, labels, key, Behaviour.THROTTLE, req_min, kind, lead)
        if name == "service_request":
            return self.block(m, ns, labels, key, Behaviour.USAGE, req_min, kind)
        factor = {"service_error": 0.002}.get(name, 0.0005)
        return self.block(m, ns, labels, key, Behaviour.RATE, req_min * factor)

    def pairs(self, m: MetricDef) -> Block:
        tp, name = self.tp, _short(m.name)
        pair = self.pair_idx
        wt = tp.pair_wt
        ns = tp.wt_ns[wt]
        base = self.volume(ns) * tp.pair_weight * _RATE_FACTOR.get(name, 0.01)
        key = row_key(np.full(len(pair), 2), pair)
        labels = {"temporal_task_queue": tp.tq_name[tp.pair_tq], "temporal_workflow_type":
                  tp.wt_name[wt]}  # fmt: skip
        if m.group == "activity" and "temporal_activity_type" in self.optin:
            rows, pos = _expand(self.act_count[wt])
            act = self.act_start[wt[rows]] + pos
            labels = {k: v[rows] for k, v in labels.items()}
            labels["temporal_activity_type"] = tp.act_name[act]
            ns, base, key = ns[rows], base[rows] * tp.act_weight[act], row_key(key[rows], act)
        if "timeout_type" in m.labels:
            rows, pos = _expand(np.full(len(ns), len(_TIMEOUT_TYPES), dtype=np.int64))
            labels = {k: v[rows] for k, v in labels.items()}
            labels["timeout_type"] = np.array(_TIMEOUT_TYPES, dtype=np.str_)[pos]
            ns, base, key = ns[rows], base[rows] * _TIMEOUT_SHARE[pos], row_key(key[rows], pos)
        return self.block(m, ns, labels, key, Behaviour.RATE, base)

    def workflow_latency(self, m: MetricDef) -> Block:
        tp = self.tp
        ns = tp.wt_ns
        base = 2.0 + 600.0 * mix(row_key(self.wt_idx)).astype(np.float64) / 2.0**64
        act = 1.0 - np.exp(-self.volume(ns) * tp.wt_weight)
        q = np.full(len(ns), {"p50": 0.0, "p95": 1.0, "p99": 2.0}[m.name[-3:]])
        labels = {"temporal_workflow_type": tp.wt_name}
        return self.block(m, ns, labels, row_key(np.full(len(ns), 3), self.wt_idx),
                          Behaviour.LATENCY, base, q, act)  # fmt: skip

    def activity_latency(self, m: MetricDef) -> Block:
        tp = self.tp
        q = {"p50": 0.0, "p95": 1.0, "p99": 2.0}[m.name[-3:]]
        if "temporal_activity_type" not in self.optin:
            ns = self.ns_idx
            labels: dict[str, STR] = {}
            key = row_key(np.full(len(ns), 4), ns)
        else:
            act_ns = tp.wt_ns[tp.act_wt]
            pairs = pl.DataFrame({"ns": act_ns, "act": tp.act_name}).unique(maintain_order=True)
            ns = pairs["ns"].to_numpy().astype(np.int64)
            names = pairs["act"].to_numpy().astype(np.str_)
            labels = {"temporal_activity_type": names}
            code = np.array([sum(s.encode()) * 131 + len(s) for s in names], dtype=np.int64)
            key = row_key(np.full(len(ns), 5), ns, code)
        base = 0.05 + 30.0 * (mix(key).astype(np.float64) / 2.0**64) ** 3
        if "schedule_to_close" in m.name:
            base = base * 1.8
        return self.block(m, ns, labels, key, Behaviour.LATENCY, base, np.full(len(ns), q))

    def queues(self, m: MetricDef) -> Block:
        tp, name = self.tp, _short(m.name)
        rows, tt = _expand(np.full(len(tp.tq_ns), 2, dtype=np.int64))
        tq = self.tq_idx[rows]
        ns = tp.tq_ns[tq]
        labels: dict[str, STR] = {
            "temporal_task_queue": tp.tq_name[tq],
            "task_type": np.array(_TASK_TYPES, dtype=np.str_)[tt],
        }
        key = row_key(np.full(len(tq), 6), tq, tt)
        traffic = self.volume(ns) * tp.tq_weight[tq] * np.where(tt == 0, 4.0, 3.0)
        if "operation" in m.labels:
            labels["operation"] = _POLL_OPS[tt]
        if name == "approximate_backlog":
            prio_rows, prio = _expand(np.where(tp.tq_prio2[tq], 2, 1).astype(np.int64))
            labels = {k: v[prio_rows] for k, v in labels.items()}
            labels["task_priority"] = np.array(["3", "1"], dtype=np.str_)[prio]
            tq, ns, key = tq[prio_rows], ns[prio_rows], row_key(key[prio_rows], prio)
            if "temporal_worker_deployment_name" in self.optin:
                labels["temporal_worker_deployment_name"] = tp.tq_deployment[tq]
            if "temporal_worker_build_id" in self.optin:
                labels["temporal_worker_build_id"] = tp.tq_build[tq]
            level = 3.0 + 400.0 * tp.tq_weight[tq] * np.sqrt(self.volume(ns))
            epoch = 20.0 + (mix(key) % np.uint64(220)).astype(np.float64)
            # One stuck queue per account: the third queue of the biggest namespace.
            stuck = (ns == 0) & (tq == min(2, int(np.sum(tp.tq_ns == 0)) - 1))
            stuck &= (labels["task_type"] == "activity") & (labels["task_priority"] == "3")
            blk = self.block(m, ns, labels, key, Behaviour.BACKLOG, level, epoch)
            # The stuck queue keeps rising in its primary region (aux < 0 marks it).
            first = np.flatnonzero(stuck)
            if len(first):
                region_rows, _ = _expand(self.n_regions[ns])
                hit = np.flatnonzero(region_rows == first[0])[:1]
                blk.aux[hit] = -1.0
            return blk
        if name == "poll_success_sync":
            # Sync matches are poll successes that found a waiting poller: a thinned copy of
            # poll_success (same keys, same draws), so sync <= success in every minute.
            parent = m.name.replace("_sync", "")
            return self.block(m, ns, labels, key, Behaviour.SUBSET, traffic,
                              np.full(len(tq), 0.85), key_name=parent)  # fmt: skip
        rates = {
            "poll_success": traffic,
            "poll_timeout": 1.0 + 3.0 * tp.tq_weight[tq],
            "no_poller_tasks": traffic * 0.001,
        }
        return self.block(m, ns, labels, key, Behaviour.RATE, rates.get(name, traffic * 0.01))

    def namespace(self, m: MetricDef) -> Block:
        tp, name, ns = self.tp, _short(m.name), self.ns_idx
        key = row_key(np.full(len(ns), 7), ns)
        if name == "namespace_open_workflows":
            return self.block(m, ns, {}, key, Behaviour.LEVEL, self.volume(ns) * 30.0)
        if name == "total_action_throttled":
            kind = np.full(len(ns), float(LIMIT_KINDS.index("actions")))
            return self.block(m, ns, {}, key, Behaviour.THROTTLE, self.actions_min[ns], kind)
        if name == "total_action":
            multi = self.n_regions > 1
            counts = np.where(multi, 4, 2).astype(np.int64)
            rows, pos = _expand(counts)
            bg = np.array(["false", "true"], dtype=np.str_)[pos % 2]
            mode = np.array(["active", "standby"], dtype=np.str_)[pos // 2]
            share = np.where(pos % 2 == 0, 0.9, 0.1) * np.where(pos // 2 == 0, 1.0, 0.02)
            labels = {"is_background": bg, "namespace_mode": mode}
            kind = np.full(len(rows), float(LIMIT_KINDS.index("actions")))
            counted = (bg == "false").astype(np.float64)  # background actions are not limited
            return self.block(m, ns[rows], labels, row_key(key[rows], pos), Behaviour.USAGE,
                              self.actions_min[rows] * share, kind, counted)  # fmt: skip
        if name == "billable_action":
            wt = self.wt_idx
            rows, at = _expand(np.full(len(wt), len(_ACTION_TYPES), dtype=np.int64))
            base = self.volume(tp.wt_ns[rows]) * tp.wt_weight[rows] * _ACTION_SHARE[at]
            labels = {"action_type": np.array(_ACTION_TYPES, dtype=np.str_)[at],
                      "temporal_workflow_type": tp.wt_name[rows]}  # fmt: skip
            return self.block(m, tp.wt_ns[rows], labels, row_key(np.full(len(rows), 8), rows, at),
                              Behaviour.RATE, base)  # fmt: skip
        # operations_count / operations_throttled_count
        rows, op = _expand(np.full(len(ns), len(_OPERATIONS), dtype=np.int64))
        share = 1.0 / (op + 1.0)
        share = share / share[: len(_OPERATIONS)].sum()
        labels = {
            "operation": np.array([o for o, _ in _OPERATIONS], dtype=np.str_)[op],
            "is_background": np.array([b for _, b in _OPERATIONS], dtype=np.str_)[op],
            "namespace_mode": np.full(len(rows), "active"),
        }
        base = self.actions_min[rows] * 1.2 * share
        kind = np.full(len(rows), float(LIMIT_KINDS.index("operations")))
        if name == "operations_throttled":
            beh, p = Behaviour.THROTTLE, (op == 0).astype(np.float64)
        else:
            beh, p = Behaviour.USAGE, np.ones(len(rows))
        return self.block(m, rows, labels, row_key(np.full(len(rows), 9), rows, op), beh, base,
                          kind, p)  # fmt: skip

    def schedule(self, m: MetricDef) -> Block:
        ns = self.ns_idx[self.tp.ns_schedules]
        base = (2.0 + 20.0 * self.volume(ns) / self.tp.ns_volume.max()) * _RATE_FACTOR.get(
            _short(m.name), 0.01
        )
        return self.block(m, ns, {}, row_key(np.full(len(ns), 10), ns), Behaviour.RATE, base)

    def replication(self, m: MetricDef) -> Block:
        ns = self.ns_idx[self.n_regions > 1]
        q = np.full(len(ns), {"p50": 0.0, "p95": 1.0, "p99": 2.0}[m.name[-3:]])
        return self.block(m, ns, {}, row_key(np.full(len(ns), 11), ns), Behaviour.LATENCY,
                          np.full(len(ns), 0.25), q)  # fmt: skip

    def limit(self, m: MetricDef) -> Block:
        ns, name = self.ns_idx, _short(m.name)
        env = self.tp.ns_action_limit
        act, ops, req = (env * LIMIT_SCALE[LIMIT_KINDS.index(k)] for k in LIMIT_KINDS)
        base, steps = {
            "temporal_cloud_v1_action_limit": (act, 1.0),
            "temporal_cloud_v1_operations_limit": (ops, 1.0),
            "temporal_cloud_v1_service_request_limit": (req, 1.0),
            "temporal_cloud_v1_poller_limit": (np.where(env > 1000, 10000.0, 2000.0), 0.0),
            "temporal_cloud_v1_action_on_demand_envelope_limit": (env, 0.0),
            "temporal_cloud_v1_operations_on_demand_envelope_limit": (env * 2, 0.0),
            "temporal_cloud_v1_service_request_on_demand_envelope_limit": (env * 2, 0.0),
        }.get(m.name, (env, 0.0))
        del name
        return self.block(m, ns, {}, row_key(np.full(len(ns), 12), ns), Behaviour.LIMIT,
                          base.astype(np.float64), np.full(len(ns), steps))  # fmt: skip

    def fallback(self, m: MetricDef) -> Block:
        """A metric added to the catalog that this module does not know: plausible rows."""
        ns = self.ns_idx
        labels = {k: np.full(len(ns), "default") for k in m.labels}
        beh = {"rate": Behaviour.RATE, "value": Behaviour.LEVEL, "limit": Behaviour.LIMIT,
               "latency": Behaviour.LATENCY}.get(m.kind, Behaviour.RATE)  # fmt: skip
        return self.block(m, ns, labels, row_key(np.full(len(ns), 13), ns), beh, np.ones(len(ns)))

    def route(self, m: MetricDef) -> Callable[[MetricDef], Block]:
        """The builder for a catalog row."""
        if m.group == "frontend":
            return self.frontend
        if m.group in ("workflow", "activity") and m.kind == "rate":
            return self.pairs
        if m.group == "workflow":
            return self.workflow_latency
        if m.group == "activity":
            return self.activity_latency
        table: dict[str, Callable[[MetricDef], Block]] = {
            "task_queue": self.queues, "namespace": self.namespace, "schedule": self.schedule,
            "replication": self.replication, "limit": self.limit,
        }  # fmt: skip
        return table.get(m.group, self.fallback)
