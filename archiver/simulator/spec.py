"""The knobs of a simulated account (:class:`AccountSpec`) and the accounts the tests, the demo
and the benchmarks use."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ACCOUNT_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


@dataclass(frozen=True)
class AccountSpec:
    """The knobs of a simulated account; everything else is drawn from ``seed``.

    Sizes are maxima: namespace 0 gets ``max_task_queues`` queues and ``max_workflow_types``
    types, the others fall off like a power law. ``volume`` is workflows per minute in the
    biggest namespace at its daily mean. Limits are reported every ``limit_every`` minutes.

    Growth (new teams onboarding onto one namespace): ``grow_share`` of namespace 0's task
    queues appear one by one over ``grow_days`` from ``grow_from_ms`` (:mod:`.growth`).
    """

    seed: int = 0
    namespaces: int = 5
    account: str = "acme1"
    max_task_queues: int = 20
    max_workflow_types: int = 15
    max_regions: int = 2
    volume: float = 600.0
    limit_every: int = 3
    grow_from_ms: int = 0
    grow_days: float = 0.0
    grow_share: float = 0.0

    def __post_init__(self) -> None:
        checks = [
            (self.seed >= 0, "seed must be >= 0"),
            (1 <= self.namespaces <= 200, "namespaces must be 1..200"),
            (1 <= self.max_task_queues <= 300, "max_task_queues must be 1..300"),
            (1 <= self.max_workflow_types <= 200, "max_workflow_types must be 1..200"),
            (1 <= self.max_regions <= 3, "max_regions must be 1..3"),
            (self.volume > 0, "volume must be > 0"),
            (self.limit_every >= 1, "limit_every must be >= 1"),
            (bool(_ACCOUNT_RE.match(self.account)), "account must match [a-z0-9-]"),
            (self.grow_days >= 0, "grow_days must be >= 0"),
            (0.0 <= self.grow_share < 1.0, "grow_share must be in [0, 1)"),
            (self.grow_from_ms % 60_000 == 0, "grow_from_ms must be a whole minute"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @classmethod
    def small(cls, seed: int = 0) -> AccountSpec:
        """Three namespaces, a few hundred series a minute: for demos and fast tests."""
        return cls(seed=seed, namespaces=3, max_task_queues=6, max_workflow_types=5, volume=120.0)

    @classmethod
    def mid(cls, seed: int = 0) -> AccountSpec:
        """Tens of thousands of points a minute, so one unfiltered scrape crosses the 30k cap."""
        return cls(
            seed=seed,
            namespaces=40,
            max_task_queues=300,
            max_workflow_types=200,
            max_regions=3,
            volume=8000.0,
        )

    @classmethod
    def demo(cls, grow_from_ms: int, days: float = 7.0, seed: int = 0) -> AccountSpec:
        """The demo's account: namespace 0 gains 11 of its 12 task queues over ``days``."""
        return cls(seed=seed, namespaces=3, max_task_queues=12, max_workflow_types=30,
                   max_regions=1, volume=120.0, grow_from_ms=grow_from_ms, grow_days=days,
                   grow_share=0.9)  # fmt: skip
