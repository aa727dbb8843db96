"""The request ledger: rolling hour, shared, survives restarts, distrusts corruption."""

from __future__ import annotations

from pathlib import Path

from archiver.collect.budget import Budget, Refusal
from archiver.simulator.clock import SimulatedClock
from archiver.store.archive import Archive


def test_rolling_hour_limit_and_refill(tmp_path: Path) -> None:
    clock = SimulatedClock(1_000_000.0)
    budget = Budget(Archive.open(str(tmp_path)), per_hour=5, clock=clock)
    for _ in range(5):
        assert budget.acquire() is None
        clock.now += 60
    refusal = budget.acquire()
    assert refusal is not None and refusal.kind == "ledger"
    assert abs(refusal.wait - (3600 - 300)) < 1e-6
    clock.now += refusal.wait
    assert budget.acquire() is None


def test_ledger_is_shared_and_survives_restart(tmp_path: Path) -> None:
    clock = SimulatedClock(1_000_000.0)
    archive = Archive.open(str(tmp_path))
    first, second = (Budget(archive, per_hour=4, clock=clock) for _ in range(2))
    assert first.acquire() is None and second.acquire() is None
    assert first.acquire() is None and second.acquire() is None
    assert first.acquire() is not None
    assert Budget(archive, per_hour=4, clock=clock).remaining() == 0


def test_per_run_share(tmp_path: Path) -> None:
    budget = Budget(
        Archive.open(str(tmp_path)), per_hour=180, per_run=2, clock=SimulatedClock(1_000_000.0)
    )
    assert budget.acquire() is None and budget.acquire() is None
    refusal = budget.acquire()
    assert refusal is not None and refusal.kind == "share"
    assert budget.remaining() == 0


def test_corrupt_ledger_means_spent_for_an_hour(tmp_path: Path) -> None:
    clock = SimulatedClock(1_000_000.0)
    archive = Archive.open(str(tmp_path))
    Path(archive.state_path("ledger.json")).write_text("{not json")
    budget = Budget(archive, per_hour=10, clock=clock)
    assert budget.acquire() is not None
    clock.now += 3601
    assert budget.acquire() is None


def test_429_blocks_every_process(tmp_path: Path) -> None:
    clock = SimulatedClock(1_000_000.0)
    archive = Archive.open(str(tmp_path))
    Budget(archive, clock=clock).server_refused(120)
    other = Budget(archive, clock=clock)
    assert other.acquire() == Refusal("blocked", 120)
    clock.now += 121
    assert other.acquire() is None


def test_retry_after_blocks_an_hour_at_most(tmp_path: Path) -> None:
    """Issue 15 case 4: `Retry-After: 100000000` once blocked the archive for three years."""
    clock = SimulatedClock(1_000_000.0)
    archive = Archive.open(str(tmp_path))
    Budget(archive, clock=clock).server_refused(100_000_000)
    refusal = Budget(archive, clock=clock).acquire()
    assert refusal == Refusal("blocked", 3600)
    clock.now += 3601
    assert Budget(archive, clock=clock).acquire() is None


def test_a_years_long_block_left_by_an_older_version_is_capped(tmp_path: Path) -> None:
    clock = SimulatedClock(1_000_000.0)
    archive = Archive.open(str(tmp_path))
    blocked = clock.now + 100_000_000
    Path(archive.state_path("ledger.json")).write_text(
        f'{{"sent": [], "blocked_until": {blocked}}}'
    )
    refusal = Budget(archive, clock=clock).acquire()
    assert refusal is not None and refusal.wait <= 3600
