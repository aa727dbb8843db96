"""Splitting a request whose answer was truncated (`limited`) into pieces that provably cover it.

A shard is a set of namespace patterns and a set of metric names; empty means "all". Two ways
to split keep coverage provable, which matters because a truncated answer may omit a namespace
entirely (its order is undocumented):

* **by namespace prefix**: a pattern ``pre*`` is exactly the union of ``pre`` itself and
  ``pre<c>*`` for every character ``c`` a namespace may contain; ``*`` is ``pre=""``.
* **by metric**: every sample has exactly one metric name, so groups of the known metric names
  (descriptors, catalog and everything seen) partition the answer.

Pieces are packed by their estimated size (datapoints seen per namespace and metric) into as few
requests as fit under the cap with headroom. The plan that worked is kept, so the next scrape
starts from it instead of paying for the same truncation again.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archiver.store.archive import Archive

#: The learned plan's state file under ``<archive>/_archiver/``.
PLAN = "shards.json"

# Characters Temporal namespace names ("<name>.<account>") may contain.
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-."
#: Fill each piece only this far, so that growth does not truncate it next minute.
HEADROOM = 0.6
MAX_EXPANSIONS = 3


@dataclass(frozen=True)
class Shard:
    """One request's filters: namespace patterns (``*`` wildcards) and exact metric names."""

    namespaces: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()

    def params(self, labels: Sequence[str] = ()) -> list[tuple[str, str]]:
        """The query parameters of this shard."""
        return (
            [("namespaces", n) for n in self.namespaces]
            + [("metrics", m) for m in self.metrics]
            + [("labels", x) for x in labels]
        )

    def describe(self) -> str:
        """A short human-readable name for logs and the scrape log."""

        def show(items: tuple[str, ...]) -> str:
            if not items:
                return "all"
            return ",".join(items[:3]) + (f",+{len(items) - 3}" if len(items) > 3 else "")

        return f"namespaces={show(self.namespaces)} metrics={show(self.metrics)}"

    def covers_namespace(self, namespace: str) -> bool:
        return not self.namespaces or any(
            fnmatch.fnmatchcase(namespace, p) for p in self.namespaces
        )


@dataclass
class Sizes:
    """Datapoints per namespace and per (namespace, metric), as last seen."""

    by_pair: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, counts: Iterable[tuple[str, str, int]]) -> None:
        for namespace, metric, n in counts:
            key = (namespace, metric)
            self.by_pair[key] = max(self.by_pair.get(key, 0), n)

    def namespaces_under(self, pattern: str) -> int:
        """How many namespaces seen so far match ``pattern``."""
        return len({ns for ns, _ in self.by_pair if fnmatch.fnmatchcase(ns, pattern)})

    def weight(self, namespace_patterns: Sequence[str], metrics: Sequence[str]) -> int:
        chosen = set(metrics)
        return sum(
            n
            for (ns, m), n in self.by_pair.items()
            if (not chosen or m in chosen)
            and (
                not namespace_patterns
                or any(fnmatch.fnmatchcase(ns, p) for p in namespace_patterns)
            )
        )


def _expand(pattern: str) -> list[str] | None:
    """The child patterns of a trailing-``*`` pattern, or None if it cannot be split."""
    if not pattern.endswith("*") or "*" in pattern[:-1] or "?" in pattern or "[" in pattern:
        return None
    prefix = pattern[:-1]
    children = [f"{prefix}{c}*" for c in ALPHABET]
    return ([prefix] if prefix else []) + children


def _pack(
    weighted: list[tuple[int, str]], bins: int, *, spread_unseen: bool
) -> list[tuple[str, ...]]:
    """Group names into at most ``bins`` groups of balanced weight (longest-processing-time).

    Names with no weight seen yet are dealt out evenly with ``spread_unseen`` (metrics cut off
    by the truncation: nothing says which are big), else they ride along with the lightest
    group (namespace prefixes nobody uses: most of them are empty, and cost no request).
    """
    heavy = sorted(((w, n) for w, n in weighted if w > 0), key=lambda x: (-x[0], x[1]))
    empty = sorted(n for w, n in weighted if w <= 0)
    count = max(1, min(bins, len(heavy) + len(empty)))
    loads = [0] * count
    groups: list[list[str]] = [[] for _ in range(count)]
    for weight, name in heavy:
        i = min(range(count), key=lambda j: (loads[j], len(groups[j])))
        loads[i] += weight
        groups[i].append(name)
    lightest_first = sorted(range(count), key=lambda j: (loads[j], len(groups[j])))
    # Without spreading, the unseen go together: into the lightest group, or into a group of
    # their own where a single heavy name would otherwise leave nothing to split off.
    targets = lightest_first if spread_unseen else lightest_first[:1]
    for k, name in enumerate(empty):
        groups[targets[k % len(targets)]].append(name)
    return [tuple(sorted(g)) for g in groups if g]


def split(
    shard: Shard,
    sizes: Sizes,
    known_metrics: Sequence[str],
    cap: int,
) -> list[Shard]:
    """Pieces that together cover ``shard`` exactly, each expected to fit under ``cap``.

    Returns ``[]`` when the shard cannot be split any further (one metric of one namespace).
    """
    target = max(1, int(cap * HEADROOM))
    # The shard was truncated, so it holds more than the cap whatever we saw of it.
    total = max(sizes.weight(shard.namespaces, shard.metrics), cap + 1)
    bins = max(2, math.ceil(total / target))

    by_namespace = _split_namespaces(shard, sizes, bins, target)
    if by_namespace:
        return by_namespace
    metrics = list(shard.metrics) or sorted(set(known_metrics) | {m for _, m in sizes.by_pair})
    weighted = [(sizes.weight(shard.namespaces, [m]), m) for m in metrics]
    seen = [w for w, _ in weighted if w > 0]
    if seen:
        # Metrics past the truncation point were never seen: assume they are as big as the
        # ones that were, rather than free.
        estimate = total * len(weighted) / len(seen)
        bins = max(bins, math.ceil(estimate / target))
    groups = _pack(weighted, bins, spread_unseen=True)
    if len(groups) < 2:
        return []
    return [Shard(namespaces=shard.namespaces, metrics=g) for g in groups]


def _split_namespaces(shard: Shard, sizes: Sizes, bins: int, target: int) -> list[Shard]:
    patterns = list(shard.namespaces or ("*",))
    weighted = [(sizes.weight([p], shard.metrics), p) for p in patterns]
    # Expand the heaviest prefix while it alone would overflow a piece, or holds all the weight
    # seen, and still holds more than one namespace; a few times at most, since every expansion
    # adds ~38 patterns to some request's URL.
    for _ in range(MAX_EXPANSIONS):
        heavy = [(w, p) for w, p in weighted if w > 0]
        candidates = [
            (w, p)
            for w, p in heavy
            if (w > target or len(heavy) == 1) and _expand(p) and sizes.namespaces_under(p) > 1
        ]
        if not candidates:
            break
        w, p = max(candidates)
        weighted.remove((w, p))
        weighted += [(sizes.weight([c], shard.metrics), c) for c in _expand(p) or []]
    heavy = [(w, p) for w, p in weighted if w > 0]
    if len(heavy) < 2 and not (heavy and sizes.namespaces_under(heavy[0][1]) > 1):
        return []  # one namespace holds it all: only a metric split can help
    return [
        Shard(namespaces=g, metrics=shard.metrics)
        for g in _pack(weighted, bins, spread_unseen=False)
    ]


@dataclass
class Plan:
    """The shards that last worked for one set of user filters, and the sizes seen."""

    key: str
    shards: list[Shard]
    sizes: Sizes = field(default_factory=Sizes)

    @staticmethod
    def key_for(namespaces: Sequence[str], metrics: Sequence[str], labels: Sequence[str]) -> str:
        return json.dumps([sorted(namespaces), sorted(metrics), sorted(labels)])

    def dumps(self) -> bytes:
        return json.dumps(
            {
                "version": 1,
                "key": self.key,
                "shards": [[list(s.namespaces), list(s.metrics)] for s in self.shards],
                "sizes": [[ns, m, n] for (ns, m), n in sorted(self.sizes.by_pair.items())],
            }
        ).encode()

    @classmethod
    def load(
        cls,
        archive: Archive,
        namespaces: Sequence[str],
        metrics: Sequence[str],
        labels: Sequence[str],
    ) -> Plan:
        """The plan stored for these filters (``_archiver/shards.json``), or a fresh one."""
        from archiver.collect.state import load_json

        key = cls.key_for(namespaces, metrics, labels)
        return cls.from_json(
            load_json(archive, PLAN), key, Shard(tuple(namespaces), tuple(metrics))
        )

    def save(self, archive: Archive) -> None:
        archive.write_state(PLAN, self.dumps())

    @classmethod
    def from_json(cls, data: Mapping[str, object], key: str, root: Shard) -> Plan:
        """The stored plan for ``key``, or a fresh one-shard plan if none fits."""
        try:
            if data.get("key") == key:
                shards = [Shard(tuple(n), tuple(m)) for n, m in data["shards"]]  # type: ignore[attr-defined]
                sizes = Sizes({(ns, m): int(n) for ns, m, n in data["sizes"]})  # type: ignore[attr-defined]
                return cls(key, shards or [root], sizes)
        except (ValueError, TypeError, KeyError, AttributeError):
            pass  # an unreadable plan costs one truncated request to relearn, nothing more
        return cls(key, [root])
