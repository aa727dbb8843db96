"""Continuity across renames: the lineage table ``archiver/lineage.csv``, in one place.

Each row renames a metric (``kind = metric``: ``old`` -> ``new``) or a label of one metric
(``kind = label``: ``metric`` is the metric's current name); ``effective`` is the first day
the new name was served (empty when unknown). The view renames every sample stored under an
old name, which only occurs before that day, so the date documents the rule.
The archive stores names as scraped; the ``samples`` view reads them through the table
(``sql/lineage.sql``), so reports and capacity queries see one series across a rename, and
``samples_as_scraped`` shows them as stored. The catalog's ``LEGACY_NAMES``/``LEGACY_LABELS``
(what the simulator serves during the preview) are read from this table too.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class Rename:
    kind: str  # metric | label
    metric: str | None  # for a label: the metric's current name
    old: str
    new: str
    effective: date | None
    note: str = ""


@cache
def renames() -> tuple[Rename, ...]:
    """Every row of ``archiver/lineage.csv``."""
    text = (resources.files("archiver") / "lineage.csv").read_text(encoding="utf-8")
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        if row["kind"] not in ("metric", "label"):
            raise ValueError(f"lineage.csv: kind must be metric or label, not {row['kind']!r}")
        rows.append(
            Rename(
                kind=row["kind"],
                metric=row["metric"] or None,
                old=row["old"],
                new=row["new"],
                effective=date.fromisoformat(row["effective"]) if row["effective"] else None,
                note=row.get("note") or "",
            )
        )
    return tuple(rows)


def legacy_names() -> dict[str, str]:
    """Metric renames, current name -> old name."""
    return {r.new: r.old for r in renames() if r.kind == "metric"}


def legacy_labels() -> dict[str, dict[str, str]]:
    """Label renames per metric (current name): current label -> old label."""
    out: dict[str, dict[str, str]] = {}
    for r in renames():
        if r.kind == "label" and r.metric:
            out.setdefault(r.metric, {})[r.new] = r.old
    return out


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Set the variables ``sql/lineage.sql`` reads (see the comment at its top)."""
    metrics = {r.old: r.new for r in renames() if r.kind == "metric"}
    labels: dict[str, dict[str, str]] = {}
    for r in renames():
        if r.kind == "label" and r.metric:
            labels.setdefault(r.metric, {})[r.old] = r.new
    old_of = {new: old for old, new in metrics.items()}
    touched = {*metrics, *labels, *(old_of[m] for m in labels if m in old_of)}
    con.execute(
        "SET VARIABLE lineage_touched = CAST($touched AS VARCHAR[])", {"touched": sorted(touched)}
    )
    con.execute(
        "SET VARIABLE lineage_metric_new = map(CAST($k AS VARCHAR[]), CAST($v AS VARCHAR[]))",
        {"k": list(metrics), "v": list(metrics.values())},
    )
    con.execute(
        # Each {"key": [...], "value": [...]} dict arrives as a DuckDB MAP.
        "SET VARIABLE lineage_label_maps = "
        "map(CAST($k AS VARCHAR[]), CAST($v AS MAP(VARCHAR, VARCHAR)[]))",
        {
            "k": list(labels),
            "v": [{"key": list(m), "value": list(m.values())} for m in labels.values()],
        },
    )


def likely_renames(
    removed: dict[str, tuple[str, ...]], added: dict[str, tuple[str, ...]]
) -> list[tuple[str, str, str]]:
    """(old, new, why) for each disappearing metric that an appearing one looks like renaming.

    Known when the lineage table has the pair; otherwise a guess when the dimensions are the
    same (or differ by one label) and the names are alike (one ends with the other's last
    words, or they share most characters).

    >>> likely_renames({"v1_frontend_rps_limit": ("ns",)}, {"v1_service_rps_limit": ("ns",)})
    [('v1_frontend_rps_limit', 'v1_service_rps_limit', 'same dimensions, similar name')]
    """
    from difflib import SequenceMatcher

    known = {r.old: r.new for r in renames() if r.kind == "metric"}
    out: list[tuple[str, str, str]] = []
    taken: set[str] = set()
    for old in sorted(removed):
        if known.get(old) in added:
            out.append((old, known[old], "in archiver/lineage.csv"))
            taken.add(known[old])
            continue
        best: tuple[float, str] | None = None
        for new in sorted(added):
            if new in taken:
                continue
            before, after = set(removed[old]), set(added[new])
            if before != after and not (len(before - after) == 1 == len(after - before)):
                continue
            common = next(
                (i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b),
                min(len(old), len(new)),
            )
            score = SequenceMatcher(None, old[common:], new[common:]).ratio()
            tail = old.rsplit("_", 2)[-2:] == new.rsplit("_", 2)[-2:]
            if (score >= 0.75 or tail) and (best is None or score > best[0]):
                best = (score, new)
        if best is not None:
            dims = (
                "same dimensions"
                if set(removed[old]) == set(added[best[1]])
                else ("dimensions differ by one label")
            )
            out.append((old, best[1], f"{dims}, similar name"))
            taken.add(best[1])
    return out
