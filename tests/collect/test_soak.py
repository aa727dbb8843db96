"""24 simulated hours of cron runs against a faulty simulator: the collector's promises hold.

Every minute cron starts ``archiver scrape``; the simulator injects errors, 429s, cut and
malformed bodies, HTML pages, odd headers, `unknown` answers and backend stalls. Afterwards:
the account budget was never exceeded as the server saw it, no sample is stored twice, every
minute the server offered is either archived or reported as a gap with a reason, and every
run's exit code matches its outcome.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from archiver import config
from archiver.collect.outcome import Outcome
from archiver.collect.scrape import scrape_once
from archiver.errors import ArchiverError, ParseError
from archiver.query import connect as query
from archiver.query import reports
from archiver.simulator.clock import SimulatedClock
from archiver.simulator.faults import Faults
from archiver.simulator.model import Account, AccountSpec
from archiver.simulator.server import Simulator

T0 = 1_764_028_800.0  # 2025-11-25 00:00 UTC
MINUTES = int(__import__("os").environ.get("SOAK_MINUTES", 24 * 60))


def _a_day_of_cron(tmp_path: Path) -> tuple[Simulator, config.Settings, dict[str, set[int]]]:
    """MINUTES cron-started scrapes against a faulty simulator: the simulator, the settings,
    and the exit codes seen for each outcome."""
    clock = SimulatedClock(T0)
    faults = Faults(
        error_rate=0.03,
        throttle_rate=0.01,
        html_rate=0.01,
        unknown_rate=0.02,
        odd_header_rate=0.01,
        cut_rate=0.02,
        malformed_rate=0.005,
        stall_rate=0.01,
        space_after_comma_rate=0.1,
        help_first_rate=0.1,
        empty_family_rate=0.1,
        odd_labels_rate=0.05,
    )
    account = Account(AccountSpec(seed=11, namespaces=2, max_task_queues=3, max_workflow_types=2))
    sim = Simulator(account, api_key="k", clock=clock, faults=faults)
    # fsync off: this test is about logic, not power loss (the crash tests cover durability).
    settings = config.Settings(archive=str(tmp_path / "a"), api_key=config.Secret("k"), fsync=False)
    transport = sim.transport()

    codes: dict[str, set[int]] = {}
    for minute in range(MINUTES):
        clock.now = max(clock.now, T0 + minute * 60 + 20)
        try:
            result = scrape_once(
                settings, clock=clock, sleep=clock.sleep, transport=transport, phase=0, lock_wait=0
            )
            outcome, code = result.outcome, result.exit_code
        except ParseError as exc:
            outcome, code = "parse_error", exc.exit_code
        except ArchiverError as exc:  # pragma: no cover - a failure message worth reading
            raise AssertionError(f"minute {minute}: unexpected {exc!r}") from exc
        codes.setdefault(outcome, set()).add(code)
    return sim, settings, codes


@pytest.mark.slow
def test_a_day_of_cron_runs_keeps_every_promise(tmp_path: Path) -> None:
    sim, settings, codes = _a_day_of_cron(tmp_path)
    account = sim.account

    # Exit codes follow the contract: 0 done, 1 error, 3 incomplete, 4 rate limited.
    for outcome, seen in codes.items():
        assert seen == {Outcome(outcome).exit_code}, (outcome, seen)
    assert "complete" in codes

    # The budget, as the server saw it: never more than 180 requests in any rolling hour.
    times = sorted(r.time for r in sim.requests)
    assert times, "no request reached the server"
    worst = max(bisect.bisect_left(times, t + 3600) - i for i, t in enumerate(times))
    assert worst <= 180, worst
    assert not [r for r in sim.requests if r.status == 429 and r.fault is None]

    # No sample stored twice.
    ((rows, distinct),) = duckdb.sql(
        f"SELECT count(*), count(DISTINCT (series, ts)) FROM "
        f"read_parquet('{settings.archive}/samples/*/*/*.parquet')"
    ).fetchall()
    assert rows == distinct > 0

    # Every minute the server answered completely is archived; every other one is a gap with
    # a reason; none is "missing" (seen complete, yet not stored).
    con = query.connect(settings.archive)
    since = datetime.fromtimestamp(T0, UTC)
    until = datetime.fromtimestamp(T0 + MINUTES * 60, UTC)
    gaps = reports.gaps(con, since=since, until=until)
    assert "missing" not in gaps.get_column("reason").to_list()
    stored = {
        int(ts.timestamp() * 1000)
        for (ts,) in con.sql("SELECT DISTINCT ts FROM samples").fetchall()
    }
    # (answers the server marked complete and delivered whole: no cut, no malformed line)
    served_complete = {
        r.window_ms
        for r in sim.requests
        if r.completeness == "complete" and r.fault is None and r.window_ms
    }
    assert served_complete <= stored
    gap_minutes = int(gaps.filter(gaps["is_gap"]).get_column("minutes").sum())
    namespaces = len(account.namespaces)
    coverage = reports.gaps_coverage(con, since=since, until=until)
    assert len(coverage) == namespaces
    # Stalls and failures cost some minutes, but the collector recovers most of them.
    assert gap_minutes < 0.1 * MINUTES * namespaces, gaps
