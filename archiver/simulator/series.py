"""Every series an account can emit, built once per opt-in label set from the topology.

A series table holds the output columns (``series``, ``metric``, ``namespace``, ``labels``) and,
in numpy, what :mod:`archiver.simulator.model` needs to give it a value each minute: its
namespace, a stable hash key, a behaviour code and parameters. Keys depend only on what the
series *is* (metric, namespace, region, queue, ...), so a series keeps its values whatever else
the account or the request contains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray

from archiver.catalog import load_catalog
from archiver.openmetrics import escape_label_expr
from archiver.simulator.behaviour import LIMIT_KINDS as LIMIT_KINDS
from archiver.simulator.behaviour import LIMIT_SCALE as LIMIT_SCALE
from archiver.simulator.behaviour import Behaviour as Behaviour
from archiver.simulator.families import Block, Builder
from archiver.simulator.topology import Topology

__all__ = ["LIMIT_KINDS", "LIMIT_SCALE", "Behaviour", "SeriesTable", "build_series", "label_frame"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
U64 = NDArray[np.uint64]
STR = NDArray[np.str_]


@dataclass(frozen=True)
class SeriesTable:
    """The potential series of an account for one opt-in label set."""

    frame: pl.DataFrame  # series, metric, namespace, labels
    ns: I64
    key: U64
    behaviour: NDArray[np.int8]
    base: F64
    aux: F64
    p: F64
    #: (len(LIMIT_KINDS), namespaces): per-minute count, at the mean load, of the USAGE series
    #: that count against each limit (what the limit is compared with).
    load: F64


def label_frame(metric: str, namespace: STR, labels: dict[str, STR]) -> pl.DataFrame:
    """Output columns for rows of one metric; ``labels`` must include the base labels."""
    keys = sorted(labels)
    df = pl.DataFrame({k: pl.Series(k, labels[k], dtype=pl.Utf8) for k in keys})
    return df.select(
        series=pl.concat_str(
            [
                pl.lit(metric + "{"),
                pl.concat_str(
                    [pl.lit(f'{k}="') + escape_label_expr(pl.col(k)) + pl.lit('"') for k in keys],
                    separator=",",
                ),
                pl.lit("}"),
            ]
        ),
        metric=pl.lit(metric, dtype=pl.Utf8),
        namespace=pl.Series(namespace, dtype=pl.Utf8),
        labels=pl.concat_list(
            [pl.struct(key=pl.lit(k, dtype=pl.Utf8), value=pl.col(k)) for k in keys]
        ),
    )


def build_series(tp: Topology, optin: frozenset[str]) -> SeriesTable:
    """Every potential series of the account, in catalog order."""
    builder = Builder(tp, optin)
    ns_names = np.array(tp.ns_names, dtype=np.str_)
    frames: list[pl.DataFrame] = []
    blocks: list[Block] = []
    for m in load_catalog():
        blk = builder.route(m)(m)
        names = ns_names[blk.ns]
        labels = {
            "temporal_namespace": names,
            "temporal_account": np.full(len(blk.ns), tp.account),
            **blk.labels,
        }
        frames.append(label_frame(m.name, names, labels))
        blocks.append(blk)
    ns = np.concatenate([b.ns for b in blocks]).astype(np.int64)
    behaviour = np.concatenate([np.full(len(b.ns), b.behaviour, np.int8) for b in blocks])
    base = np.concatenate([b.base for b in blocks]).astype(np.float64)
    aux = np.concatenate([b.aux for b in blocks]).astype(np.float64)
    p = np.concatenate([b.p for b in blocks]).astype(np.float64)
    usage = behaviour == Behaviour.USAGE
    cell = aux[usage].astype(np.int64) * tp.n_ns + ns[usage]
    counted = base[usage] * p[usage]
    load = np.bincount(cell, counted, len(LIMIT_KINDS) * tp.n_ns).astype(np.float64)
    return SeriesTable(
        frame=pl.concat(frames, how="vertical", rechunk=True),  # one chunk: gathers are fast
        ns=ns,
        key=np.concatenate([b.key for b in blocks]),
        behaviour=behaviour,
        base=base,
        aux=aux,
        p=p,
        load=load.reshape(len(LIMIT_KINDS), tp.n_ns),
    )
