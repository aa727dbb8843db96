"""Growth of a simulated account: which series do not exist yet, and from which minute on.

See the growth knob of :class:`archiver.simulator.spec.AccountSpec`.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numpy.typing import NDArray

from archiver.simulator.series import SeriesTable
from archiver.simulator.spec import AccountSpec
from archiver.simulator.topology import Topology

__all__ = ["ALWAYS", "first_minutes"]

I64 = NDArray[np.int64]

ALWAYS = np.iinfo(np.int64).min


def first_minutes(table: SeriesTable, tp: Topology, spec: AccountSpec) -> I64:
    """Each series' first minute (epoch minutes; the oldest int64 for "always there").

    With growth on, ``grow_share`` of namespace 0's task queues appear one by one over
    ``grow_days`` from ``grow_from_ms``; a workflow type appears with the first queue it runs
    on; a series appears when both its queue and its workflow type (if it has them) exist.
    """
    born = np.full(table.frame.height, ALWAYS, dtype=np.int64)
    queues = [str(q) for q in tp.tq_name[tp.tq_ns == 0]]
    n_grow = min(len(queues) - 1, round(len(queues) * spec.grow_share))
    if spec.grow_days <= 0 or n_grow <= 0:
        return born
    # The queues that appear are of every size, in an order drawn from the seed.
    rng = np.random.default_rng([spec.seed, 0x6B0])
    growing = [queues[i] for i in 1 + rng.permutation(len(queues) - 1)][:n_grow]
    span, first = spec.grow_days * 1440.0, spec.grow_from_ms // 60_000
    tq_start = {q: first + int((k + 0.5) * span / n_grow) for k, q in enumerate(growing)}
    wt_start: dict[str, int] = {}
    for tq, wt in zip(tp.pair_tq, tp.pair_wt, strict=True):
        if tp.tq_ns[tq] == 0:
            at = tq_start.get(str(tp.tq_name[tq]), ALWAYS)
            name = str(tp.wt_name[wt])
            wt_start[name] = min(wt_start.get(name, at), at)
    starts = []
    for label, start in (("temporal_task_queue", tq_start), ("temporal_workflow_type", wt_start)):
        value = table.frame.select(
            pl.col("labels")
            .list.eval(pl.element().filter(pl.element().struct.field("key") == label))
            .list.first()
            .struct.field("value")
        ).to_series()
        first_at = value.replace_strict(start, default=ALWAYS, return_dtype=pl.Int64)
        starts.append(first_at.fill_null(ALWAYS).to_numpy())
    in_ns0 = (table.frame.get_column("namespace") == tp.ns_names[0]).to_numpy()
    born[in_ns0] = np.maximum(starts[0], starts[1])[in_ns0]
    return born
