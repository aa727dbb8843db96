"""The metrics catalog the simulator serves: names, labels, kinds, help texts.

The CSV ships as package data (``archiver/simulator/catalog.csv``, a copy of the public metrics
reference), so the simulator grows with the catalog instead of with code.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "BASE_LABELS",
    "LEGACY_LABELS",
    "LEGACY_NAMES",
    "OPTIN_LABELS",
    "MetricDef",
    "descriptors",
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

#: Names served during the public preview, current name -> old name.
LEGACY_NAMES = {
    "temporal_cloud_v1_service_request_count": "temporal_cloud_v1_frontend_service_request_count",
    "temporal_cloud_v1_service_error_count": "temporal_cloud_v1_frontend_service_error_count",
    "temporal_cloud_v1_service_request_limit": "temporal_cloud_v1_frontend_rps_limit",
}

#: Labels renamed since the preview, per metric: current label -> old label.
LEGACY_LABELS = {
    "temporal_cloud_v1_resource_exhausted_error_count": {"operation": "resource_exhausted_cause"},
}


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
