"""The shard planner: every split covers its parent exactly, and plans persist."""

from __future__ import annotations

import fnmatch
import json
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.collect.shards import ALPHABET, Plan, Shard, Sizes, split

NAMES = st.text(alphabet=ALPHABET, min_size=1, max_size=12).filter(
    lambda s: s[0] in string.ascii_lowercase
)
METRICS = [f"temporal_cloud_v1_m{i}" for i in range(8)]


def covered(shards: list[Shard], namespace: str, metric: str) -> int:
    """How many shards would return a sample of this namespace and metric."""
    return sum(
        1
        for s in shards
        if (not s.namespaces or any(fnmatch.fnmatchcase(namespace, p) for p in s.namespaces))
        and (not s.metrics or metric in s.metrics)
    )


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.dictionaries(
        st.tuples(NAMES, st.sampled_from(METRICS)), st.integers(1, 40_000), min_size=1, max_size=30
    ),
    probe=st.lists(st.tuples(NAMES, st.sampled_from(METRICS)), max_size=20),
)
def test_split_partitions_the_parent_exactly(
    sizes: dict[tuple[str, str], int], probe: list[tuple[str, str]]
) -> None:
    seen = Sizes()
    seen.add((ns, m, n) for (ns, m), n in sizes.items())
    children = split(Shard(), seen, METRICS, cap=30_000)
    assert len(children) >= 2
    # Every sample, seen or never seen before, lands in exactly one child.
    for namespace, metric in [*sizes, *probe]:
        assert covered(children, namespace, metric) == 1, (namespace, metric, children)


def test_namespace_split_first_then_metric_split() -> None:
    seen = Sizes()
    seen.add([("prod.a1", "m1", 20_000), ("dev.a1", "m1", 15_000), ("qa.a1", "m2", 100)])
    by_namespace = split(Shard(), seen, ["m1", "m2"], cap=30_000)
    assert all(s.metrics == () for s in by_namespace)
    assert {s.namespaces for s in by_namespace if "p*" in s.namespaces or "d*" in s.namespaces}

    one_namespace = Sizes()
    one_namespace.add([("prod.a1", "m1", 20_000), ("prod.a1", "m2", 20_000)])
    by_metric = split(Shard(("prod.a1",)), one_namespace, ["m1", "m2", "m3"], cap=30_000)
    # m3 was never seen (cut off): it is assumed as big as the others, so each gets a piece.
    assert sorted(s.metrics for s in by_metric) == [("m1",), ("m2",), ("m3",)]
    assert all(s.namespaces == ("prod.a1",) for s in by_metric)


def test_unsplittable_piece_returns_nothing() -> None:
    seen = Sizes()
    seen.add([("prod.a1", "m1", 50_000)])
    assert split(Shard(("prod.a1",), ("m1",)), seen, ["m1"], cap=30_000) == []


def test_plan_round_trip_and_key_change_resets() -> None:
    key = Plan.key_for(["prod-*"], [], [])
    plan = Plan(key, [Shard(("a*",), ()), Shard(("b*",), ("m1",))])
    plan.sizes.add([("a.x", "m1", 5)])
    again = Plan.from_json(json.loads(plan.dumps()), key, Shard())
    assert again.shards == plan.shards and again.sizes.by_pair == {("a.x", "m1"): 5}
    fresh = Plan.from_json(json.loads(plan.dumps()), Plan.key_for([], [], []), Shard())
    assert fresh.shards == [Shard()]
    assert Plan.from_json({"key": key, "shards": 5}, key, Shard()).shards == [Shard()]
