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

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from archiver.catalog import OPTIN_LABELS, descriptors
from archiver.simulator.behaviour import LIMIT_SCALE, Behaviour
from archiver.simulator.growth import first_minutes
from archiver.simulator.hashing import mix, salt
from archiver.simulator.series import SeriesTable, build_series
from archiver.simulator.spec import AccountSpec
from archiver.simulator.topology import Topology, build_topology

__all__ = ["Account", "AccountSpec"]  # AccountSpec lives in archiver.simulator.spec

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
U64 = NDArray[np.uint64]
_CHUNK_MINUTES = 240  # minutes computed at once by Account.windows...
_CHUNK_CELLS = 1_000_000  # ...unless minutes x series would exceed this (a few arrays of it)
_CAP_LOW = 0.94  # past its limit, a minute's average usage sits at 94-100% of it
_THROTTLE_AT = 0.83  # from here on, bursts within the minute are throttled
_USAGE_NOISE = (0.92, 1.06)  # per-series wobble of capped usage: sums stay <= 1.06 x the limit
# The stuck queue is drained every three weeks (by a Monday 10:00 UTC deploy) and grows again.
_STUCK_PERIOD = 3 * 7 * 1440
# Minute 0 (1970-01-01) was a Thursday; the drains fall on Mondays three weeks apart, one of
# them on 2023-11-13.
_STUCK_RESET = (18 * 1440 + 10 * 60) % _STUCK_PERIOD
_STUCK_GROWTH = 0.12  # tasks a minute: ~170 a day, ~1,200 a week


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
    """Per-namespace state of a column of minutes: load factor, limit steps, what limits let by.

    ``minutes`` has shape (M, 1); every array here has one row per minute, one column per
    namespace; ``demand``, ``served`` and ``throttled`` have a middle axis for the limits of
    :data:`LIMIT_KINDS`.

    Demand is the namespace's usage against a limit as a fraction of it, before the limit acts.
    Past the limit the minute's average sits at ``_CAP_LOW``..1 of it (bursts within the minute
    are turned away before the average reaches it): ``served`` is the fraction of demand let
    through. From ``_THROTTLE_AT`` of the limit on, bursts within the minute hit it, so some
    requests are throttled (``throttled``, a fraction of demand) even while the average reads
    below the limit.
    """

    def __init__(self, tp: Topology, table: SeriesTable, seed: int, minutes: I64) -> None:
        n = tp.n_ns
        day = minutes // 1440
        diurnal = 1.0 + 0.45 * np.sin(2.0 * np.pi * ((minutes + tp.ns_tz) % 1440.0) / 1440.0)
        weekly = np.where((day + 3) % 7 >= 5, 0.75, 1.0)  # day 0 (1970-01-01) was a Thursday
        keys = np.arange(n, dtype=np.uint64)
        spike = _uniform(keys, salt(seed, minutes, 101)) < 0.03
        burst = np.where(spike, 1.0 + 1.5 * _uniform(keys, salt(seed, minutes, 102)), 1.0)
        wobble = np.exp(0.05 * _normal(_uniform(keys, salt(seed, minutes, 103)),
                                       _uniform(keys, salt(seed, minutes, 104))))  # fmt: skip
        self.factor: F64 = diurnal * weekly * burst * wobble
        phase = tp.ns_tz.astype(np.int64)
        # Provisioned namespaces alternate between two capacity levels every three days.
        self.step: F64 = np.where(tp.ns_provisioned & ((day + phase % 3) // 3 % 2 == 1), 1.5, 1.0)
        # (M, kinds, n): usage / limit per second; table.load is per minute at factor 1.
        limit = LIMIT_SCALE[:, None] * tp.ns_action_limit[None, :]
        demand = table.load[None] * self.factor[:, None] / (60.0 * limit[None] * self.step[:, None])
        self.demand: F64 = demand
        cap = _CAP_LOW + (1.0 - _CAP_LOW) * _uniform(keys, salt(seed, minutes, 105))
        self.served: F64 = np.minimum(1.0, cap[:, None] / np.maximum(demand, 1e-12))
        near = np.clip((demand - _THROTTLE_AT) / (1.0 - _THROTTLE_AT), 0.0, 1.0)
        self.throttled: F64 = (1.0 - self.served) + 0.02 * near
        self.throttling = demand > _THROTTLE_AT
        self.phase = phase


class _Cells:
    """The (minute, series) grid one call of :func:`_values` fills: ``emit`` and ``value``, and
    the draws and load every behaviour shares."""

    def __init__(self, table: SeriesTable, tp: Topology, spec: AccountSpec, minutes: I64) -> None:
        self.table, self.spec = table, spec
        self.mins = minutes.astype(np.int64).reshape(-1, 1)
        self.load = _Load(tp, table, spec.seed, self.mins)
        self.salts = [salt(spec.seed, self.mins, i)[:, 0] for i in range(6)]  # draw i a minute
        self.beh = table.behaviour
        self.emit = np.zeros((len(self.mins), len(self.beh)), dtype=np.bool_)
        self.value = np.zeros((len(self.mins), len(self.beh)), dtype=np.float64)

    def part(self, *codes: int) -> tuple[I64, I64, U64, F64, F64, F64]:
        """The columns of these behaviours: (columns, namespace, key, base, aux, p)."""
        cols = np.flatnonzero(np.isin(self.beh, codes))
        return (
            cols,
            self.table.ns[cols],
            self.table.key[cols],
            self.table.base[cols],
            self.table.aux[cols],
            self.table.p[cols],
        )

    def grid(self, key: U64, i: int) -> F64:  # draw i for every (minute, column)
        return _uniform(key, self.salts[i][:, None])

    def cells(self, key: U64, at: I64, i: int) -> F64:  # draw i for cells of minute rows ``at``
        return _uniform(key, self.salts[i][at])

    def put(self, at: I64, cols: I64, v: F64) -> None:
        flat = at * len(self.beh) + cols
        self.emit.ravel()[flat] = True
        self.value.ravel()[flat] = v

    def counts(
        self, cols: I64, lam: F64, *, capped: bool = False, forced: NDArray[np.bool_] | None = None
    ) -> tuple[I64, I64, F64]:
        """Per-minute counts around ``lam`` (minutes x ``cols``): (rows, columns, counts).

        A cell shows with probability 1 - exp(-lam) (always where ``forced``). Counts have a
        lognormal spread and a rare 2-9x outlier, or, when ``capped`` by a limit, only a small
        bounded wobble (so the limit holds for the namespace's sum too).
        """
        key = self.table.key[cols]
        hit = (self.grid(key, 1) < -np.expm1(-lam)) & (lam > 0)
        at, j = np.nonzero(hit if forced is None else hit | forced)
        k = key[j]
        z = _normal(self.cells(k, at, 2), self.cells(k, at, 3))
        if capped:
            wobble = np.clip(np.exp(0.04 * z), *_USAGE_NOISE)
            return at, j, np.maximum(1.0, np.rint(lam[at, j] * wobble))
        count = np.maximum(1.0, np.rint(lam[at, j] * np.exp(0.35 * z - 0.06)))
        rare = self.cells(k, at, 4) < 0.01
        count[rare] *= 2.0 + np.floor(8.0 * self.cells(k[rare], at[rare], 5))
        return at, j, count

    def rates(self) -> None:
        """A per-minute count, served as a per-second average (k/60). A SUBSET series shares
        its parent's key and base, hence its count, and keeps a fraction of it."""
        cols, ns, key, base, aux, _ = self.part(Behaviour.RATE, Behaviour.SUBSET)
        at, j, count = self.counts(cols, base * self.load.factor[:, ns])
        sub = self.beh[cols[j]] == Behaviour.SUBSET
        frac = np.clip(aux[j[sub]] + 0.2 * (self.cells(key[j[sub]], at[sub], 0) - 0.5), 0.0, 1.0)
        count[sub] = np.rint(count[sub] * frac)
        keep = count > 0
        self.put(at[keep], cols[j[keep]], count[keep] / 60.0)

    def usage(self) -> None:
        """Usage against a limit: what the limit let through of the namespace's demand."""
        cols, ns, _, base, aux, _ = self.part(Behaviour.USAGE)
        kind, load = aux.astype(np.int64), self.load
        at, j, count = self.counts(cols, base * load.factor[:, ns] * load.served[:, kind, ns],
                                   capped=True)  # fmt: skip
        self.put(at, cols[j], count / 60.0)

    def throttled(self) -> None:
        """What a limit turned away; the lead series of each shows whenever bursts hit it."""
        cols, ns, _, base, aux, p = self.part(Behaviour.THROTTLE)
        kind, load = aux.astype(np.int64), self.load
        lam = base * load.factor[:, ns] * load.throttled[:, kind, ns]
        at, j, count = self.counts(cols, lam, forced=load.throttling[:, kind, ns] & (p == 1.0))
        self.put(at, cols[j], count / 60.0)

    def latencies(self) -> None:
        """p50/p95/p99 rows share a key, hence the same draws; the multipliers keep order."""
        cols, _, key, base, aux, p = self.part(Behaviour.LATENCY)
        at, j = np.nonzero(self.grid(key, 1) < p)
        k = key[j]
        z = _normal(self.cells(k, at, 2), self.cells(k, at, 3))
        p50 = np.maximum(0.001, _round3(base[j] * np.exp(0.3 * z)))
        p95 = _round3(p50 * (2.0 + self.cells(k, at, 4)))
        p99 = _round3(p95 * (1.5 + self.cells(k, at, 5)))
        self.put(at, cols[j], np.select([aux[j] == 0.0, aux[j] == 1.0], [p50, p95], p99))

    def backlogs(self) -> None:
        """Backlogs drift within epochs; an idle epoch shows one or two zeros, then nothing."""
        cols, _, key, base, aux, _ = self.part(Behaviour.BACKLOG)
        mins, seed = self.mins, self.spec.seed
        length = np.maximum(np.abs(aux), 1.0)
        t_abs = mins + (key % np.uint64(997)).astype(np.float64)
        epoch = np.floor(t_abs / length)
        t = t_abs - epoch * length
        ekey = mix(key ^ epoch.astype(np.uint64))
        idle = _uniform(ekey, salt(seed, 7, 0)) < 0.35
        stuck = aux < 0.0
        at, j = np.nonzero(~idle | (t < 2.0) | stuck)
        ek, b, length, t = ekey[at, j], base[j], length[j], t[at, j]
        e1, e2 = (_uniform(ek, salt(seed, 7, i)) for i in (1, 2))
        z = _normal(self.cells(key[j], at, 2), self.cells(key[j], at, 3))
        drift = 2.0 * b * e1 + b * (e2 - 0.45) * 4.0 / length * t + 0.05 * b * z
        backlog = np.where(idle[at, j], 0.0, np.maximum(0.0, np.rint(drift)))
        grown = np.floor(b + _STUCK_GROWTH * ((mins[at, 0] - _STUCK_RESET) % _STUCK_PERIOD))
        self.put(at, cols[j], np.where(stuck[j], grown, backlog))

    def levels(self) -> None:
        """An instantaneous count around its base, following the square root of the load."""
        cols, ns, key, base, _, p = self.part(Behaviour.LEVEL)
        z = _normal(self.grid(key, 2), self.grid(key, 3))
        level = np.rint(base * np.sqrt(self.load.factor[:, ns]) * np.exp(0.1 * z))
        at, j = np.nonzero((level > 0) & (self.grid(key, 1) < p))
        self.put(at, cols[j], level[at, j])

    def limits(self) -> None:
        """Reported every few minutes, and at midnight UTC, when a step may change the value."""
        cols, ns, _, base, aux, _ = self.part(Behaviour.LIMIT)
        mins = self.mins
        limit = base * np.where(aux == 1.0, self.load.step[:, ns], 1.0)
        at, j = np.nonzero(((mins + self.load.phase[ns]) % self.spec.limit_every == 0)
                           | (mins % 1440 == 0))  # fmt: skip
        self.put(at, cols[j], limit[at, j])


def _values(
    table: SeriesTable, tp: Topology, spec: AccountSpec, minutes: I64, born: I64
) -> tuple[NDArray[np.bool_], F64]:
    """Whether each potential series is emitted in each of ``minutes``, and its value there.

    Both arrays are (len(minutes), series); ``value`` is only set where ``emit`` is true. Each
    behaviour works on its own columns, first on the (minute, series) grid for what decides
    emission, then only on the emitted cells for the rest. Every formula is elementwise, so a
    cell's value does not depend on which other cells are computed with it.
    """
    grid = _Cells(table, tp, spec, minutes)
    for behaviour in (grid.rates, grid.usage, grid.throttled, grid.latencies, grid.backlogs,
                      grid.levels, grid.limits):  # fmt: skip
        behaviour()
    # The series of a queue that does not exist yet are silent.
    grid.emit &= grid.mins >= born[None, :]
    return grid.emit, grid.value


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
        self._born: dict[frozenset[str], I64] = {}
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

    def born(self, labels: Sequence[str] = ()) -> I64:
        """Each series' first minute (epoch minutes) for :meth:`series` (growth)."""
        optin = frozenset(labels) & frozenset(OPTIN_LABELS)
        table = self.series(labels)
        with self._lock:
            born = self._born.get(optin)
            if born is None:
                born = self._born[optin] = first_minutes(table, self.topology, self.spec)
        return born

    def window(self, minute_ms: int, labels: Sequence[str] = ()) -> pl.DataFrame:
        """Every sample of the one-minute window starting at ``minute_ms`` (UTC epoch ms).

        Columns: ``series``, ``metric``, ``namespace``, ``labels``, ``ts``, ``value``, in
        catalog order. Opt-in labels not in ``labels`` are never emitted; unknown ones are
        ignored.
        """
        return self.windows(minute_ms, 1, labels)

    def windows(self, start_ms: int, count: int, labels: Sequence[str] = ()) -> pl.DataFrame:
        """``count`` consecutive windows from ``start_ms``, as one frame: minute by minute, each
        exactly what :meth:`window` returns for it, computed many minutes at a time.
        """
        if start_ms % 60_000 or start_ms < 0:
            raise ValueError(f"minute_ms must be a non-negative whole minute, not {start_ms}")
        if count < 0:
            raise ValueError(f"count must be >= 0, not {count}")
        table = self.series(labels)
        born = self.born(labels)
        width = table.frame.height
        step = max(1, min(_CHUNK_MINUTES, _CHUNK_CELLS // max(width, 1)))
        first = start_ms // 60_000
        frames = []
        for lo in range(0, count, step):
            minutes = np.arange(first + lo, first + min(count, lo + step), dtype=np.int64)
            emit, value = _values(table, self.topology, self.spec, minutes, born)
            cells = np.flatnonzero(emit)
            frames.append(_samples(table, cells % width, minutes[cells // width], value, cells))
        if not frames:
            empty = np.zeros(0, dtype=np.int64)
            return _samples(table, empty, empty, np.zeros(0), empty)
        return frames[0] if len(frames) == 1 else pl.concat(frames)


def _samples(table: SeriesTable, rows: I64, minutes: I64, value: F64, cells: I64) -> pl.DataFrame:
    """Series ``rows`` of the table, stamped with ``minutes``, valued ``value.flat[cells]``."""
    return table.frame[rows].with_columns(
        ts=pl.Series(minutes * 60_000, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")),
        value=pl.Series(value.ravel()[cells], dtype=pl.Float64),
    )
