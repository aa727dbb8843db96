"""The Temporal Cloud metrics catalog: names, labels, kinds, help texts, and which metrics
measure each capacity limit.

Domain knowledge that the collector, the capacity reports and the simulator all read. The CSV
ships as package data (``archiver/catalog.csv``, a copy of the public metrics reference), so the
simulator grows with the catalog instead of with code.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from archiver.history import lineage

__all__ = [
    "BASE_LABELS",
    "LEGACY_LABELS",
    "LEGACY_NAMES",
    "LIMITS",
    "OPTIN_LABELS",
    "Limit",
    "MetricDef",
    "descriptors",
    "limit",
    "limit_roles",
    "load_catalog",
]

#: Labels every sample carries (``region`` only where ``has_region``).
BASE_LABELS = ("temporal_account", "temporal_namespace")

#: Labels a request must opt in to with ``labels=...``.
OPTIN_LABELS = (
    "temporal_activity_type",
    "temporal_worker_build_id",
    "temporal_worker_deployment_name",
)

#: Names served during the public preview, current name -> old name; and labels renamed since
#: the preview, per metric: current label -> old label (both from archiver/lineage.csv).
LEGACY_NAMES = lineage.legacy_names()
LEGACY_LABELS = lineage.legacy_labels()


@dataclass(frozen=True)
class Limit:
    """One capacity limit and the metrics that measure it (``docs/capacity-formulas.md``)."""

    kind: str  # actions | requests | operations
    used: str  # what counted against the limit
    throttled: str  # what the limit turned away
    limit: str  # the configured limit
    envelope: str  # the on-demand envelope (differs from ``limit`` when provisioned)

    @property
    def roles(self) -> dict[str, str]:
        """role -> metric, for the four roles."""
        return {
            "used": self.used,
            "throttled": self.throttled,
            "limit": self.limit,
            "envelope": self.envelope,
        }


_V1 = "temporal_cloud_v1_"
#: The limits capacity is planned against, in the order reports and notebooks show them.
LIMITS: tuple[Limit, ...] = (
    Limit(
        "actions",
        _V1 + "total_action_count",
        _V1 + "total_action_throttled_count",
        _V1 + "action_limit",
        _V1 + "action_on_demand_envelope_limit",
    ),
    Limit(
        "requests",
        _V1 + "service_request_count",
        _V1 + "service_request_throttled_count",
        _V1 + "service_request_limit",
        _V1 + "service_request_on_demand_envelope_limit",
    ),
    Limit(
        "operations",
        _V1 + "operations_count",
        _V1 + "operations_throttled_count",
        _V1 + "operations_limit",
        _V1 + "operations_on_demand_envelope_limit",
    ),
)


def limit(kind: str) -> Limit:
    """The :class:`Limit` of ``kind`` (``actions``, ``requests`` or ``operations``).

    >>> limit("actions").limit
    'temporal_cloud_v1_action_limit'
    """
    for one in LIMITS:
        if one.kind == kind:
            return one
    raise KeyError(kind)


def limit_roles() -> list[tuple[str, str, str]]:
    """``(kind, role, metric)`` for every limit and role: the table the capacity SQL joins."""
    return [(one.kind, role, metric) for one in LIMITS for role, metric in one.roles.items()]


@dataclass(frozen=True)
class MetricDef:
    """One row of the catalog."""

    name: str
    kind: str  # rate | value | latency | limit
    labels: tuple[str, ...]  # metric-specific labels, besides the base ones
    optin_labels: tuple[str, ...]
    has_region: bool
    group: str
    description: str

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Every label the metric can carry, as ``/v1/descriptors`` lists them."""
        region = ("region",) if self.has_region else ()
        return ("temporal_namespace", "temporal_account", *self.labels, *region, *self.optin_labels)


def _split(cell: str) -> tuple[str, ...]:
    return tuple(part for part in cell.split("|") if part)


@cache
def load_catalog() -> tuple[MetricDef, ...]:
    """The catalog rows in file order (cached; the file is package data)."""
    text = resources.files("archiver").joinpath("catalog.csv").read_text("utf-8")
    return tuple(
        MetricDef(
            name=row["name"],
            kind=row["kind"],
            labels=_split(row["labels"]),
            optin_labels=_split(row["optin_labels"]),
            has_region=row["has_region"].strip().lower() == "yes",
            group=row["group"],
            description=row["description"],
        )
        for row in csv.DictReader(io.StringIO(text))
    )


def descriptors() -> list[dict[str, Any]]:
    """The catalog as ``/v1/descriptors`` entries: ``name``, ``help``, ``dimensions``."""
    return [
        {"name": m.name, "help": m.description, "dimensions": list(m.dimensions)}
        for m in load_catalog()
    ]
