"""The static shape of a simulated account: namespaces, regions, queues, types, operations.

Everything here is drawn once from the seed. :mod:`archiver.simulator.model` turns it into the
catalog's series and, per minute, into values. Sizes are heavy-tailed on purpose: namespace 0
is the biggest, a few namespaces hold most series, most hold a handful.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Topology", "build_topology"]

REGIONS = (
    "aws-us-east-1",
    "aws-us-west-2",
    "aws-eu-west-1",
    "gcp-us-central1",
    "aws-ap-south-1",
    "azure-eastus",
)
_ENVS = ("prod", "staging", "dev", "qa", "sandbox")
_WORDS = (
    "payments", "orders", "billing", "search", "shipping", "identity", "ledger", "notify",
    "fraud", "inventory", "checkout", "media", "reports", "onboarding", "pricing", "support",
)  # fmt: skip
_QUEUE_WORDS = (
    "main", "critical", "bulk", "email", "sms", "ingest", "export", "render", "sync", "batch",
    "retry", "audit", "cleanup", "webhook", "ml", "etl",
)  # fmt: skip
_TYPE_VERBS = (
    "Process", "Charge", "Refund", "Ship", "Notify", "Sync", "Import", "Export", "Reconcile",
    "Provision", "Validate", "Archive",
)  # fmt: skip
_TYPE_NOUNS = (
    "Order", "Payment", "Invoice", "Customer", "Account", "Report", "Shipment", "Document",
    "Subscription", "Cart",
)  # fmt: skip
_ACTIVITIES = (
    "SendEmail", "ChargeCard", "ReserveStock", "CallWebhook", "WriteLedger", "FetchProfile",
    "RenderPdf", "UploadBlob", "ScoreRisk", "PublishEvent", "QueryDb", "Geocode",
)  # fmt: skip


def _heavy(weights: NDArray[np.float64], top: int) -> NDArray[np.int64]:
    """Sizes 1..top proportional to the weights (the heaviest gets top)."""
    scaled = np.rint(top * weights / weights.max()).astype(np.int64)
    out: NDArray[np.int64] = np.clip(scaled, 1, top)
    return out


def _zipf(n: int, rng: np.random.Generator, exponent: float = 1.1) -> NDArray[np.float64]:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    w = w * rng.uniform(0.6, 1.4, n)
    out: NDArray[np.float64] = w / w.sum()
    return out


@dataclass(frozen=True)
class Topology:
    """Flat numpy tables; every ``*_ns`` array holds the namespace index of its row."""

    account: str
    ns_names: tuple[str, ...]
    ns_volume: NDArray[np.float64]  # workflows per minute at the daily mean
    ns_regions: tuple[tuple[str, ...], ...]
    ns_provisioned: NDArray[np.bool_]  # limits step up and down over days
    ns_action_limit: NDArray[np.float64]  # on-demand envelope, actions per second
    ns_schedules: NDArray[np.bool_]
    ns_tz: NDArray[np.float64]  # minutes: shifts the daily cycle per namespace
    # task queues
    tq_ns: NDArray[np.int64]
    tq_name: NDArray[np.str_]
    tq_weight: NDArray[np.float64]  # share of its namespace's traffic
    tq_deployment: NDArray[np.str_]
    tq_build: NDArray[np.str_]
    tq_prio2: NDArray[np.bool_]  # also has a second priority level
    # workflow types
    wt_ns: NDArray[np.int64]
    wt_name: NDArray[np.str_]
    wt_weight: NDArray[np.float64]
    # (task queue, workflow type) pairs that actually run together
    pair_tq: NDArray[np.int64]
    pair_wt: NDArray[np.int64]
    pair_weight: NDArray[np.float64]
    # activity types per workflow type
    act_wt: NDArray[np.int64]
    act_name: NDArray[np.str_]
    act_weight: NDArray[np.float64]  # share of its workflow type's activities

    @property
    def n_ns(self) -> int:
        """How many namespaces."""
        return len(self.ns_names)


def _namespace_names(n: int, account: str, rng: np.random.Generator) -> list[str]:
    combos = [f"{env}-{word}" for env in _ENVS for word in _WORDS]
    # Production namespaces come first, so the biggest ones match ``prod-*``.
    order = np.concatenate([rng.permutation(len(_WORDS)) + len(_WORDS) * e for e in range(5)])
    names = []
    for i in range(n):
        base = combos[order[i % len(combos)]]
        # Beyond the word list, a suffix keeps names unique and still pattern-friendly.
        names.append(f"{base}{'' if i < len(combos) else f'-{i // len(combos)}'}.{account}")
    return names


def build_topology(
    *,
    seed: int,
    namespaces: int,
    account: str,
    max_task_queues: int,
    max_workflow_types: int,
    max_regions: int,
    volume: float,
) -> Topology:
    """Draw the account's static shape from ``seed``.

    One generator draws everything, in a fixed order: the namespaces, then each one's queues
    and types, then the names, schedules and time zones.
    """
    rng = np.random.default_rng([seed, 0x70F0])
    n = namespaces
    ns_w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** 0.9
    n_tq = _heavy(ns_w * rng.uniform(0.8, 1.2, n), max_task_queues)
    n_wt = _heavy(ns_w * rng.uniform(0.8, 1.2, n), max_workflow_types)
    n_tq[0], n_wt[0] = max_task_queues, max_workflow_types
    ns_regions = _regions(ns_w, max_regions, rng)
    ns_provisioned = rng.random(n) < 0.3
    ns_provisioned[0] = True
    ns_volume = volume * ns_w * rng.uniform(0.7, 1.3, n)
    ns_volume[0] = volume
    # Actions per second are ~8 per workflow; namespace 0 runs close to its limit on purpose
    # so that throttling shows up at daily peaks: its non-background actions (~92% of all)
    # average ~60% of the limit, so weekday peaks reach ~85-95% (more in bursts, which the
    # limit then cuts off).
    actions = ns_volume * 8 / 60
    ns_action_limit = np.maximum(500.0, np.ceil(actions * rng.uniform(3, 8, n) / 100) * 100).astype(
        np.float64
    )
    # An even number, so the provisioned step (x1.5) is a whole number too.
    ns_action_limit[0] = max(2.0, 2.0 * float(np.round(actions[0] * 0.92 / 0.6 / 2.0)))
    tables = _queues_and_types(n_tq, n_wt, rng)
    return Topology(
        account=account,
        ns_names=tuple(_namespace_names(n, account, rng)),
        ns_volume=ns_volume,
        ns_regions=ns_regions,
        ns_provisioned=ns_provisioned,
        ns_action_limit=ns_action_limit,
        ns_schedules=rng.random(n) < 0.5,
        ns_tz=rng.uniform(0, 1440, n),
        **tables,
    )


def _regions(
    ns_w: NDArray[np.float64], max_regions: int, rng: np.random.Generator
) -> tuple[tuple[str, ...], ...]:
    """Each namespace's regions, the first one its active region."""
    region_pool = REGIONS[: max(max_regions, 1) + 2]
    ns_regions: list[tuple[str, ...]] = []
    for i in range(len(ns_w)):
        # Big namespaces are the ones that pay for multi-region replication.
        k = 1 if max_regions <= 1 else int(min(max_regions, 1 + rng.binomial(2, 0.45 * ns_w[i])))
        if i == 0 and max_regions > 1:
            k = 2
        picks = rng.choice(len(region_pool), size=k, replace=False)
        ns_regions.append(tuple(region_pool[j] for j in picks))
    return tuple(ns_regions)


def _queues_and_types(
    n_tq: NDArray[np.int64], n_wt: NDArray[np.int64], rng: np.random.Generator
) -> dict[str, Any]:
    """The task queue, workflow type, pair and activity tables of :class:`Topology` (its
    ``tq_*``, ``wt_*``, ``pair_*`` and ``act_*`` fields), namespace by namespace."""
    # Long: one namespace's queues, types, pairs and activities are drawn together, in the
    # order the generator's draws must keep.
    tq_ns, tq_name, tq_weight, tq_dep, tq_build, tq_prio2 = [], [], [], [], [], []
    wt_ns, wt_name, wt_weight = [], [], []
    pair_tq, pair_wt, pair_w = [], [], []
    act_wt, act_name, act_w = [], [], []
    tq_base = wt_base = 0
    for i in range(len(n_tq)):
        q, t = int(n_tq[i]), int(n_wt[i])
        qw = _zipf(q, rng)
        tq_ns.append(np.full(q, i))
        tq_name.append([f"{_QUEUE_WORDS[j % 16]}-{j // 16}" if j >= 16 else _QUEUE_WORDS[j]
                        for j in range(q)])  # fmt: skip
        tq_weight.append(qw)
        tq_dep.append([f"{_WORDS[i % 16]}-worker" for _ in range(q)])
        builds = rng.integers(100, 999, q)
        versions = np.array([f"v1.{b}" for b in builds], dtype=np.str_)
        tq_build.append(np.where(rng.random(q) < 0.2, "__unversioned__", versions))
        tq_prio2.append(rng.random(q) < 0.1)
        ww = _zipf(t, rng)
        wt_ns.append(np.full(t, i))
        wt_name.append(
            [
                f"{_TYPE_VERBS[j % 12]}{_TYPE_NOUNS[(j // 12) % 10]}{'' if j < 120 else j // 120}"
                for j in range(t)
            ]
        )
        wt_weight.append(ww)
        # Each workflow type runs on one queue, a quarter of them on a second one too.
        first: NDArray[np.int64] = np.arange(t) % q if t <= q else rng.integers(0, q, t)
        second = np.where(rng.random(t) < 0.25, rng.integers(0, q, t), -1)
        # A second queue equal to the first is no second queue: the pair (and every series
        # labelled with it) would otherwise appear twice in one window.
        second = np.where(second == first, -1, second)
        for tqs, share in ((first, 1.0), (second, 0.3)):
            ok = tqs >= 0
            pair_tq.append(tq_base + tqs[ok])
            pair_wt.append(wt_base + np.arange(t)[ok])
            pair_w.append(ww[ok] * share * np.sqrt(qw[tqs[ok]] * q))
        n_act = rng.integers(1, 5, t)
        act_wt.append(np.repeat(wt_base + np.arange(t), n_act))
        act_name.append([_ACTIVITIES[(j * 5 + a) % 12] for j in range(t) for a in range(n_act[j])])
        act_w.append(np.concatenate([_zipf(int(kk), rng) for kk in n_act]))
        tq_base += q
        wt_base += t


    pw = np.concatenate(pair_w)
    p_ns = np.concatenate(wt_ns)[np.concatenate(pair_wt)]
    pw = pw / np.bincount(p_ns, weights=pw, minlength=len(n_tq))[p_ns]
    return {
        "tq_ns": np.concatenate(tq_ns),
        "tq_name": np.array([s for part in tq_name for s in part], dtype=np.str_),
        "tq_weight": np.concatenate(tq_weight),
        "tq_deployment": np.array([s for part in tq_dep for s in part], dtype=np.str_),
        "tq_build": np.concatenate(tq_build).astype(np.str_),
        "tq_prio2": np.concatenate(tq_prio2),
        "wt_ns": np.concatenate(wt_ns),
        "wt_name": np.array([s for part in wt_name for s in part], dtype=np.str_),
        "wt_weight": np.concatenate(wt_weight),
        "pair_tq": np.concatenate(pair_tq),
        "pair_wt": np.concatenate(pair_wt),
        "pair_weight": pw,
        "act_wt": np.concatenate(act_wt),
        "act_name": np.array([s for part in act_name for s in part], dtype=np.str_),
        "act_weight": np.concatenate(act_w),
    }
