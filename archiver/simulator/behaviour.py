"""The behaviour codes a series carries: what :mod:`archiver.simulator.families` assigns and
:mod:`archiver.simulator.model` turns into values."""

from __future__ import annotations

import numpy as np


class Behaviour:
    """How a series' value evolves; see :func:`archiver.simulator.model.values`."""

    RATE = 0  # per-minute count k ~ base * load, served as k/60; absent when k == 0
    THROTTLE = 1  # what a limit (aux: LIMIT_KINDS index) turned away; p == 1: never 0 then
    LATENCY = 2  # quantile of a shared per-entity draw, so p50 < p95 < p99
    BACKLOG = 3  # drifts within epochs, resets to 0 (and goes quiet); aux < 0: a stuck queue
    LEVEL = 4  # an instantaneous count (open workflows, pollers)
    LIMIT = 5  # a step function of the day, reported only every few minutes
    USAGE = 6  # a RATE that a limit (aux: LIMIT_KINDS index) caps; p == 1: counts against it
    SUBSET = 7  # a thinned copy (fraction ~aux) of the RATE series whose key it shares


#: The namespace limits usage is capped by, in the order of ``SeriesTable.load`` rows, and each
#: one's on-demand size as a multiple of the action limit.
LIMIT_KINDS = ("actions", "operations", "requests")
LIMIT_SCALE = np.array([1.0, 2.0, 2.0])
