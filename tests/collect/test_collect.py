"""scrape_once end to end against the simulator (in-process transport, simulated clock)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from archiver import config
from archiver.collect.scrape import scrape_once
from archiver.errors import AuthError, ParseError
from archiver.simulator.clock import SimulatedClock
from archiver.simulator.faults import Faults
from archiver.simulator.model import Account, AccountSpec
from archiver.simulator.server import RequestRecord, Simulator

T0 = 1_764_000_000.0  # a minute boundary


def make(
    tmp_path: Path, *, faults: Faults | None = None, point_cap: int = 30_000, key: str = "k"
) -> tuple[Simulator, SimulatedClock, config.Settings]:
    clock = SimulatedClock(T0 + 20)
    sim = Simulator(
        Account(AccountSpec.small(seed=3)),
        api_key="k",
        clock=clock,
        faults=faults or Faults(),
        point_cap=point_cap,
    )
    settings = config.Settings(archive=str(tmp_path / "archive"), api_key=config.Secret(key))
    return sim, clock, settings


def metric_requests(sim: Simulator) -> list[RequestRecord]:
    return [r for r in sim.requests if r.path == "/v1/metrics"]


def scrape(sim: Simulator, clock: SimulatedClock, settings: config.Settings) -> object:
    return scrape_once(settings, clock=clock, sleep=clock.sleep, transport=sim.transport(), phase=0)


def samples(settings: config.Settings) -> tuple[int, int]:
    """(rows, distinct identities) in the archive."""
    rows = duckdb.sql(
        f"SELECT count(*), count(DISTINCT (series, ts)) FROM "
        f"read_parquet('{settings.archive}/samples/*/*/*.parquet')"
    ).fetchall()
    return rows[0]


def log(settings: config.Settings) -> list[tuple[object, ...]]:
    return duckdb.sql(
        f"SELECT request, outcome, attempt, status, completeness, sample_count FROM "
        f"read_parquet('{settings.archive}/scrapes/*/*.parquet') ORDER BY started, request"
    ).fetchall()


def test_complete_scrape_then_same_window_skipped_then_next(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path)
    first = scrape(sim, clock, settings)
    assert first.outcome == "complete" and first.exit_code == 0  # type: ignore[attr-defined]
    served = metric_requests(sim)[-1]
    assert first.target_window == served.window_ms  # type: ignore[attr-defined]
    n, distinct = samples(settings)
    assert n == distinct == served.samples > 0
    clock.now += 25
    again = scrape(sim, clock, settings)
    assert again.outcome == "skipped"  # type: ignore[attr-defined]
    assert len(metric_requests(sim)) == 1  # nothing spent on a window already archived
    clock.now += 40
    assert scrape(sim, clock, settings).outcome == "complete"  # type: ignore[attr-defined]
    n2, distinct2 = samples(settings)
    assert n2 == distinct2 == n + metric_requests(sim)[-1].samples


def test_limited_answer_is_split_until_complete_and_plan_remembered(tmp_path: Path) -> None:
    # A cap of 250 against ~650 points a minute: the first scrapes learn a plan (each within
    # its share of the budget), after which every minute is complete from the first request.
    sim, clock, settings = make(tmp_path, point_cap=250)
    assert metric_requests(sim) == []
    outcomes = []
    for _ in range(4):
        result = scrape(sim, clock, settings)
        outcomes.append(result.outcome)  # type: ignore[attr-defined]
        assert result.requests <= settings.max_requests_per_scrape  # type: ignore[attr-defined]
        clock.now = (clock.now // 60 + 1) * 60 + 20
    assert metric_requests(sim)[0].completeness == "limited"
    assert outcomes[-2:] == ["complete", "complete"], outcomes
    # The last minute's pieces add up to the whole window: nothing lost, nothing twice.
    last = [r for r in metric_requests(sim) if r.window_ms == metric_requests(sim)[-1].window_ms]
    assert all(r.completeness == "complete" for r in last) and len(last) >= 3
    whole = sim.window(last[0].window_ms or 0)
    assert sum(r.samples for r in last) == whole.height
    n, distinct = samples(settings)
    assert n == distinct


def test_unsplittable_truncation_exits_3_and_keeps_what_came(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path, point_cap=5)
    settings = config.with_overrides(settings, max_requests_per_scrape=3)
    result = scrape(sim, clock, settings)
    assert result.exit_code == 3 and result.outcome == "limited"  # type: ignore[attr-defined]
    assert "budget" in result.message or "split" in result.message  # type: ignore[attr-defined]
    assert samples(settings)[0] > 0


def test_unknown_is_retried_within_the_deadline(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path, faults=Faults(unknown_rate=0.5))
    result = scrape(sim, clock, settings)
    rows = log(settings)
    attempts = [r for r in rows if r[0] == "metrics"]
    assert [a[2] for a in attempts] == list(range(1, len(attempts) + 1))
    if any(a[1] == "unknown" for a in attempts):
        assert len(attempts) > 1 or result.outcome == "unknown"  # type: ignore[attr-defined]
    assert clock.now - (T0 + 20) < settings.deadline + 1


def test_auth_error_is_logged_and_raised(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path, key="not-the-key-123")
    with pytest.raises(
        AuthError, match=r"refused the API key .*check TEMPORAL_CLOUD_API_KEY"
    ) as info:
        scrape(sim, clock, settings)
    assert "not-the-key-123" not in str(info.value)
    assert [r[1] for r in log(settings)] == ["auth_error", "auth_error"]


def test_budget_exhausted_sends_nothing_and_exits_4(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path)
    # The first scrape also fetches the descriptors (daily): three requests in all.
    settings = config.with_overrides(settings, budget_per_hour=3)
    for _ in range(2):
        assert scrape(sim, clock, settings).outcome == "complete"  # type: ignore[attr-defined]
        clock.now += 60
    result = scrape(sim, clock, settings)
    assert result.outcome == "budget_exhausted" and result.exit_code == 4  # type: ignore[attr-defined]
    assert len(sim.requests) == 3  # the third scrape sent nothing


def test_malformed_body_stores_nothing_and_logs_the_line(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path, faults=Faults(malformed_rate=1.0))
    with pytest.raises(ParseError, match="line"):
        scrape(sim, clock, settings)
    assert not (Path(settings.archive) / "samples").exists()
    assert [r[1] for r in log(settings)] == ["parse_error", "parse_error"]


def test_cut_bodies_and_5xx_are_retried(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path, faults=Faults(cut_rate=0.4, error_rate=0.3))
    outcomes = []
    for _ in range(10):
        outcomes.append(scrape(sim, clock, settings).outcome)  # type: ignore[attr-defined]
        clock.now = (clock.now // 60 + 1) * 60 + 20
    assert outcomes.count("complete") >= 8
    rows = log(settings)
    assert any(r[1] == "network_error" for r in rows) and any(r[1] == "server_error" for r in rows)
    n, distinct = samples(settings)
    assert n == distinct


def test_a_server_lagging_three_minutes_costs_one_request_a_minute(tmp_path: Path) -> None:
    # The newer docs say 3 minutes: an older-than-expected minute is new data, not a stall.
    sim, clock, settings = make(tmp_path)
    sim.offset_s = 180.0
    for _ in range(5):
        assert scrape(sim, clock, settings).outcome == "complete"  # type: ignore[attr-defined]
        clock.now = (clock.now // 60 + 1) * 60 + 20
    served = [r.window_ms for r in metric_requests(sim)]
    assert len(served) == 5 == len(set(served))


def test_a_stall_is_asked_again_and_recovers_the_minute(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path)
    assert scrape(sim, clock, settings).outcome == "complete"  # type: ignore[attr-defined]
    # The backend stalls: the next minute's first answer repeats the last one.
    stalled_once = {"done": False}
    real = sim.served_minute

    def served_minute(now: float) -> int:
        if not stalled_once["done"]:
            stalled_once["done"] = True
            return real(now - 60)
        return real(now)

    sim.served_minute = served_minute  # type: ignore[method-assign]
    clock.now += 60
    result = scrape(sim, clock, settings)
    windows = [r.window_ms for r in metric_requests(sim)]
    assert windows[1] == windows[0] and windows[2] == windows[0] + 60_000
    assert result.outcome == "complete"  # type: ignore[attr-defined]


def test_scrape_leaves_compaction_to_its_own_job(tmp_path: Path) -> None:
    """A scrape never compacts (``archiver compact`` is its own cron job); compacting after
    the day closed turns its files into compact ones and loses nothing."""
    from datetime import date

    from archiver.store import compact
    from archiver.store.archive import Archive

    sim, clock, settings = make(tmp_path)
    midnight = (T0 // 86_400 + 1) * 86_400
    clock.now = midnight - 4 * 60 + 20 + 120  # targets 23:56
    for _ in range(6):  # 23:56 .. 00:01
        assert scrape(sim, clock, settings).outcome == "complete"  # type: ignore[attr-defined]
        clock.now = (clock.now // 60 + 1) * 60 + 20
    samples_root = Path(settings.archive) / "samples"
    days = sorted(p.name for p in samples_root.iterdir())
    assert len(days) == 2
    assert all(f.name.startswith("part-") for f in samples_root.rglob("*.parquet"))
    before = samples(settings)
    compact.compact_closed_days(Archive.open(settings.archive), date.fromisoformat(days[1][5:]))
    closed, today = (samples_root / d for d in days)
    assert all(
        [f.name for f in ns.glob("*.parquet")]
        and all(f.name.startswith("compact-") for f in ns.glob("*.parquet"))
        for ns in closed.iterdir()
    )
    assert any(f.name.startswith("part-") for f in today.rglob("*.parquet"))
    assert samples(settings) == before and before[0] == before[1]
    n, distinct = samples(settings)
    assert n == distinct


def test_a_body_of_many_blocks_is_stored_sorted_and_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tiny parse blocks give the parsed frame a chunk per few lines, which the store gathers a
    # chunk at a time per partition; a point served twice in one body is stored once.
    import importlib

    import polars as pl

    from archiver import openmetrics
    from archiver.store import write as store
    from archiver.store.archive import Archive

    monkeypatch.setattr(importlib.import_module("archiver.openmetrics.parse"), "_BLOCK_BYTES", 900)
    sim, _, settings = make(tmp_path)
    body = sim.handle("GET", "/v1/metrics", {"Authorization": "Bearer k"}).body

    whole = openmetrics.parse(body).samples
    frame = pl.concat([whole, whole.slice(5, 40)])  # the repeats land in the last chunks
    assert frame.get_column("ts").n_chunks() > 10
    archive = Archive.from_settings(settings)
    with archive.lock("write"):
        assert store.write_samples(archive, frame) == whole.height
    stored = duckdb.sql(
        f"SELECT filename, series, ts FROM read_parquet('{settings.archive}/samples/*/*/*.parquet',"
        " filename = true)"
    ).pl()
    assert stored.height == whole.height
    for _, rows in stored.group_by("filename"):  # each file in (series, ts) order
        assert rows.drop("filename").equals(rows.drop("filename").sort("series", "ts"))
