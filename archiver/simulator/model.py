"""A deterministic simulated Temporal Cloud account: what ``/v1/metrics`` would hold each minute.

>>> account = Account(AccountSpec.small(seed=1))
>>> frame = account.window(1_700_000_040_000)
>>> frame.columns
['series', 'metric', 'namespace', 'labels', 'ts', 'value']
>>> frame.equals(account.window(1_700_000_040_000))
True

Values come from a counter-based hash of (seed, minute, series), never from a random stream that
must be replayed, so any minute costs the same to compute, the same call returns the same frame,
and a series keeps its value whichever filters or opt-in labels a request used.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from archiver.simulator.catalog import OPTIN_LABELS, descriptors
from archiver.simulator.series import Behaviour, SeriesTable, build_series, mix, salt
from archiver.simulator.topology import Topology, build_topology

__all__ = ["Account", "AccountSpec"]

F64 = NDArray[np.float64]
_ORIGIN_MINUTE = 1_577_836_800 // 60  # 2020-01-01: the stuck queue has been growing since
_ACCOUNT_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


@dataclass(frozen=True)
class AccountSpec:
    """The knobs of a simulated account; everything else is drawn from ``seed``.

    Sizes are maxima: namespace 0 gets ``max_task_queues`` queues and ``max_workflow_types``
    types, the others fall off like a power law. ``volume`` is workflows per minute in the
    biggest namespace at its daily mean. Limits are reported every ``limit_every`` minutes.
    """

    seed: int = 0
    namespaces: int = 5
    account: str = "acme1"
    max_task_queues: int = 20
    max_workflow_types: int = 15
    max_regions: int = 2
    volume: float = 600.0
    limit_every: int = 3

    def __post_init__(self) -> None:
        checks = [
            (self.seed >= 0, "seed must be >= 0"),
            (1 <= self.namespaces <= 200, "namespaces must be 1..200"),
            (1 <= self.max_task_queues <= 300, "max_task_queues must be 1..300"),
            (1 <= self.max_workflow_types <= 200, "max_workflow_types must be 1..200"),
            (1 <= self.max_regions <= 3, "max_regions must be 1..3"),
            (self.volume > 0, "volume must be > 0"),
            (self.limit_every >= 1, "limit_every must be >= 1"),
            (bool(_ACCOUNT_RE.match(self.account)), "account must match [a-z0-9-]"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @classmethod
    def small(cls, seed: int = 0) -> AccountSpec:
        """Three namespaces, a few hundred series a minute: for demos and fast tests."""
        return cls(seed=seed, namespaces=3, max_task_queues=6, max_workflow_types=5, volume=120.0)

    @classmethod
    def mid(cls, seed: int = 0) -> AccountSpec:
        """Tens of thousands of points a minute, so one unfiltered scrape crosses the 30k cap."""
        return cls(
            seed=seed,
            namespaces=40,
            max_task_queues=300,
            max_workflow_types=200,
            max_regions=3,
            volume=8000.0,
        )


def _uniform(key: NDArray[np.uint64], s: NDArray[np.uint64]) -> F64:
    out: F64 = (mix(key ^ s) >> np.uint64(11)).astype(np.float64) * (1.0 / 2.0**53)
    return out


def _normal(u: F64, v: F64) -> F64:
    out: F64 = np.sqrt(-2.0 * np.log1p(-u)) * np.cos(2.0 * np.pi * v)
    return out


def _round3(x: F64) -> F64:
    out: F64 = np.rint(x * 1000.0) / 1000.0
    return out


class _Load:
    """Per-namespace state of one minute: load factor, limit steps, pressure on each limit."""

    def __init__(self, tp: Topology, seed: int, minute: int) -> None:
        n = tp.n_ns
        day = minute // 1440
        diurnal = 1.0 + 0.45 * np.sin(2.0 * np.pi * ((minute + tp.ns_tz) % 1440.0) / 1440.0)
        weekly = 0.75 if (day + 3) % 7 >= 5 else 1.0  # day 0 (1970-01-01) was a Thursday
        keys = np.arange(n, dtype=np.uint64)
        spike = _uniform(keys, salt(seed, minute, 101)) < 0.03
        burst = np.where(spike, 1.0 + 1.5 * _uniform(keys, salt(seed, minute, 102)), 1.0)
        self.factor: F64 = diurnal * weekly * burst
        phase = tp.ns_tz.astype(np.int64)
        # Provisioned namespaces alternate between two capacity levels every three days.
        self.step: F64 = np.where(tp.ns_provisioned & ((day + phase % 3) // 3 % 2 == 1), 2.0, 1.0)
        act = tp.ns_volume * 8.0 / 60.0 * self.factor / (tp.ns_action_limit * self.step)
        # Pressure on the action, operations and request limits (see series.limit for ratios).
        self.pressure: F64 = np.stack([act, act * 0.6, act * 0.75])
        self.phase = phase


def _values(
    table: SeriesTable, tp: Topology, spec: AccountSpec, minute: int
) -> tuple[NDArray[np.bool_], F64]:
    """Whether each potential series is emitted this minute, and its value."""
    load = _Load(tp, spec.seed, minute)
    beh, ns, key, base, aux = table.behaviour, table.ns, table.key, table.base, table.aux
    u = [_uniform(key, salt(spec.seed, minute, i)) for i in range(6)]
    z = _normal(u[2], u[3])

    # Rates: a per-minute count, served as a per-second average (k/60).
    lam = base * load.factor[ns]
    kind = np.clip(aux.astype(np.int64), 0, 2)
    over = np.clip(2.0 * (load.pressure[kind, ns] - 0.85), 0.0, None)
    lam = np.where(beh == Behaviour.THROTTLE, lam * over, lam)
    count = np.maximum(1.0, np.rint(lam * np.exp(0.35 * z - 0.06)))
    count = np.where(u[4] < 0.01, count * (2.0 + np.floor(8.0 * u[5])), count)
    rate_on = u[1] < -np.expm1(-lam)

    # Latencies: p50/p95/p99 rows share a key, hence the same draws; the multipliers keep order.
    p50 = np.maximum(0.001, _round3(base * np.exp(0.3 * z)))
    p95 = _round3(p50 * (2.0 + u[4]))
    p99 = _round3(p95 * (1.5 + u[5]))
    latency = np.select([aux == 0.0, aux == 1.0], [p50, p95], p99)
    latency_on = u[1] < table.p

    # Backlogs drift within epochs; an idle epoch shows one or two zeros, then nothing.
    length = np.maximum(np.abs(aux), 1.0)
    t_abs = minute + (key % np.uint64(997)).astype(np.float64)
    epoch = np.floor(t_abs / length)
    t = t_abs - epoch * length
    ekey = mix(key ^ epoch.astype(np.uint64))
    e = [_uniform(ekey, salt(spec.seed, 7, i)) for i in range(3)]
    idle = e[0] < 0.35
    drift = 2.0 * base * e[1] + base * (e[2] - 0.45) * 4.0 / length * t + 0.05 * base * z
    backlog = np.where(idle, 0.0, np.maximum(0.0, np.rint(drift)))
    backlog_on = ~idle | (t < 2.0)
    stuck = aux < 0.0
    backlog = np.where(stuck, np.floor(base + 0.05 * max(0, minute - _ORIGIN_MINUTE)), backlog)
    backlog_on |= stuck

    level = np.rint(base * np.sqrt(load.factor[ns]) * np.exp(0.1 * z))
    limit = base * np.where(aux == 1.0, load.step[ns], 1.0)
    limit_on = (minute + load.phase[ns]) % spec.limit_every == 0

    rate_like = (beh == Behaviour.RATE) | (beh == Behaviour.THROTTLE)
    conditions = [
        rate_like,
        beh == Behaviour.LATENCY,
        beh == Behaviour.BACKLOG,
        beh == Behaviour.LEVEL,
        beh == Behaviour.LIMIT,
    ]
    value = np.select(conditions, [count / 60.0, latency, backlog, level, limit], 0.0)
    emit = np.select(
        conditions,
        [rate_on & (lam > 0), latency_on, backlog_on, (level > 0) & (u[1] < table.p), limit_on],
        False,
    )
    return emit, value


class Account:
    """A simulated account: its namespaces, descriptors and the samples of any minute."""

    def __init__(self, spec: AccountSpec | None = None) -> None:
        self.spec = spec or AccountSpec()
        s = self.spec
        self.topology = build_topology(
            seed=s.seed,
            namespaces=s.namespaces,
            account=s.account,
            max_task_queues=s.max_task_queues,
            max_workflow_types=s.max_workflow_types,
            max_regions=s.max_regions,
            volume=s.volume,
        )
        self._tables: dict[frozenset[str], SeriesTable] = {}
        self._lock = threading.Lock()

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Namespace names, ``<name>.<account>``, biggest first."""
        return self.topology.ns_names

    def regions(self, namespace: str) -> tuple[str, ...]:
        """The regions a namespace runs in, primary first."""
        return self.topology.ns_regions[self.namespaces.index(namespace)]

    def descriptors(self) -> list[dict[str, Any]]:
        """``/v1/descriptors`` entries (name, help, dimensions) from the catalog."""
        return descriptors()

    def series(self, labels: Sequence[str] = ()) -> SeriesTable:
        """Every potential series for these opt-in labels (built once, then cached)."""
        optin = frozenset(labels) & frozenset(OPTIN_LABELS)
        with self._lock:
            table = self._tables.get(optin)
            if table is None:
                table = self._tables[optin] = build_series(self.topology, optin)
        return table

    def window(self, minute_ms: int, labels: Sequence[str] = ()) -> pl.DataFrame:
        """Every sample of the one-minute window starting at ``minute_ms`` (UTC epoch ms).

        Columns: ``series``, ``metric``, ``namespace``, ``labels``, ``ts``, ``value``, in
        catalog order. Opt-in labels not in ``labels`` are never emitted; unknown ones are
        ignored.
        """
        if minute_ms % 60_000 or minute_ms < 0:
            raise ValueError(f"minute_ms must be a non-negative whole minute, not {minute_ms}")
        table = self.series(labels)
        emit, value = _values(table, self.topology, self.spec, minute_ms // 60_000)
        return table.frame.filter(pl.Series(emit)).with_columns(
            ts=pl.lit(minute_ms, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")),
            value=pl.Series(value[emit], dtype=pl.Float64),
        )
