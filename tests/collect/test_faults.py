"""Faults that persist and servers that misbehave (issue 15): never burn the account's budget,
never hang, never leak the key. Each test names the issue's case it keeps fixed."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import duckdb
import pytest

from archiver import config
from archiver.collect.outcome import Outcome
from archiver.collect.scrape import ScrapeResult, scrape_once
from archiver.errors import ParseError
from archiver.simulator import serve
from archiver.simulator.clock import SimulatedClock
from archiver.simulator.faults import Faults
from archiver.simulator.model import Account, AccountSpec
from archiver.simulator.server import Simulator
from tests.collect.test_collect import T0, metric_requests

KEY = "sk-test-0123456789abcdef"


def make(
    tmp_path: Path, faults: Faults | None = None, **overrides: object
) -> tuple[Simulator, SimulatedClock, config.Settings]:
    clock = SimulatedClock(T0 + 20)
    sim = Simulator(
        Account(AccountSpec.small(seed=3)), api_key=KEY, clock=clock, faults=faults or Faults()
    )
    settings = config.Settings(
        archive=str(tmp_path / "archive"), api_key=config.Secret(KEY), fsync=False
    )
    return sim, clock, config.with_overrides(settings, **overrides)


def scrape(sim: Simulator, clock: SimulatedClock, settings: config.Settings) -> ScrapeResult:
    return scrape_once(settings, clock=clock, sleep=clock.sleep, transport=sim.transport(), phase=0)


def log_rows(settings: config.Settings) -> list[dict[str, object]]:
    rel = duckdb.sql(
        f"SELECT request, outcome, error, status FROM "
        f"read_parquet('{settings.archive}/scrapes/*/*.parquet') ORDER BY started, request"
    )
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


# -- case 1: persistent faults are the real error (exit 1), tried at most 3 times -------------


@pytest.mark.parametrize(
    "faults", [Faults(error_rate=1.0), Faults(html_rate=1.0)], ids=["http-500", "html-page"]
)
def test_a_repeating_fault_is_tried_three_times_and_exits_1(tmp_path: Path, faults: Faults) -> None:
    sim, clock, settings = make(tmp_path, faults)
    result = scrape(sim, clock, settings)
    assert len(sim.requests) == 3
    assert result.outcome is Outcome.SERVER_ERROR and result.exit_code == 1
    assert result.requests == 3  # the summary counts what was sent, nothing more
    assert "budget" not in result.message
    summary = [r for r in log_rows(settings) if r["request"] == "scrape"]
    assert summary[0]["outcome"] == "server_error"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_connection_is_tried_once(tmp_path: Path) -> None:
    _, clock, settings = make(tmp_path, endpoint=f"http://127.0.0.1:{closed_port()}")
    result = scrape_once(settings, clock=clock, sleep=clock.sleep, phase=0)
    assert result.outcome is Outcome.NETWORK_ERROR and result.exit_code == 1
    assert "ConnectError" in result.message and result.requests == 1
    rows = log_rows(settings)
    assert [r["outcome"] for r in rows] == ["network_error", "network_error"]


def test_a_certificate_that_does_not_verify_is_tried_once(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path)
    with serve(sim, tls=True) as server:  # its CA is not trusted: no ARCHIVER_CA_FILE
        settings = config.with_overrides(settings, endpoint=server.url)
        result = scrape_once(settings, clock=clock, sleep=clock.sleep, phase=0)
    assert result.outcome is Outcome.NETWORK_ERROR and result.exit_code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.message
    assert result.requests == 1


def test_a_404_is_tried_once(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path)
    with serve(sim, tls=False) as server:
        settings = config.with_overrides(settings, endpoint=server.url + "/wrong-prefix")
        result = scrape_once(settings, clock=clock, sleep=clock.sleep, phase=0)
    assert result.outcome is Outcome.SERVER_ERROR and "HTTP 404" in result.message
    assert len(sim.requests) == 1


def test_running_out_of_the_scrapes_share_is_not_rate_limiting(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path, Faults(unknown_rate=1.0), max_requests_per_scrape=2)
    result = scrape(sim, clock, settings)
    assert len(sim.requests) == 2
    rows = log_rows(settings)
    share = [r for r in rows if r["outcome"] == "share_spent"]
    assert len(share) == 1 and "this scrape's share" in str(share[0]["error"])
    assert result.exit_code == 3 and result.requests == 2  # incomplete data, not "rate limited"
    assert not any("account budget" in str(r["error"]) for r in rows)


# -- case 3: one far-future sample poisons nothing ---------------------------------------------


def test_a_far_future_sample_is_dropped_and_does_not_move_the_window(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path, Faults(far_future_rate=1.0))
    first = scrape(sim, clock, settings)
    assert first.outcome is Outcome.COMPLETE
    state = json.loads((Path(settings.archive) / "_archiver" / "state.json").read_text())
    assert state["last_served"] == first.target_window
    newest = duckdb.sql(
        f"SELECT max(ts) FROM read_parquet('{settings.archive}/samples/*/*/*.parquet')"
    ).fetchall()[0][0]
    assert newest.timestamp() * 1000 == first.target_window
    warned = [r for r in log_rows(settings) if r["request"] == "metrics"]
    assert "1 samples more than an hour ahead" in str(warned[0]["error"])
    for _ in range(3):  # later minutes are not stalls: one request each, complete
        clock.now += 60
        assert scrape(sim, clock, settings).outcome is Outcome.COMPLETE
    assert len(metric_requests(sim)) == 4


def test_a_state_poisoned_by_an_older_version_heals(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path)
    state = Path(settings.archive) / "_archiver" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"last_served": int(clock.now * 1000) + 100 * 365 * 86_400_000}))
    assert scrape(sim, clock, settings).outcome is Outcome.COMPLETE
    assert len(metric_requests(sim)) == 1


# -- case 4: Retry-After is believed for an hour at most ---------------------------------------


def test_a_huge_retry_after_blocks_for_an_hour_at_most(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path, Faults(throttle_rate=1.0, retry_after="100000000"))
    result = scrape(sim, clock, settings)
    assert result.outcome is Outcome.RATE_LIMITED and result.exit_code == 4
    ledger = json.loads((Path(settings.archive) / "_archiver" / "ledger.json").read_text())
    assert ledger["blocked_until"] <= clock.now + 3600
    sim.faults = Faults()
    clock.now += 3600
    assert scrape(sim, clock, settings).outcome is Outcome.COMPLETE


# -- case 5: the key never leaks ---------------------------------------------------------------


def test_a_server_echoing_the_key_does_not_leak_it(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path, Faults(echo_auth_rate=1.0))
    with pytest.raises(ParseError) as info:
        scrape(sim, clock, settings)
    assert "request_header" in str(info.value) and KEY not in str(info.value)
    stored = b"".join(p.read_bytes() for p in Path(settings.archive).rglob("*") if p.is_file())
    assert KEY.encode() not in stored
    errors = [str(r["error"]) for r in log_rows(settings) if r["outcome"] == "parse_error"]
    assert errors and all("***" in e and KEY not in e for e in errors)


# -- case 9: a body-size cap -------------------------------------------------------------------


def test_a_body_over_the_cap_is_refused_naming_the_setting(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path, max_body_bytes=10_000)
    result = scrape(sim, clock, settings)
    assert result.outcome is Outcome.SERVER_ERROR and result.exit_code == 1
    assert "ARCHIVER_MAX_BODY_BYTES" in result.message
    assert len(sim.requests) == 1  # the same body comes back as large: not asked again
    assert not list((Path(settings.archive) / "samples").rglob("*.parquet"))


# -- case 2: no request outlives the scrape's deadline (real sockets, real time) ---------------


@pytest.mark.parametrize(
    "faults",
    [Faults(trickle_rate=1.0, trickle_every_s=0.5), Faults(hang_rate=1.0)],
    ids=["trickle", "hang"],
)
def test_a_trickling_or_silent_server_is_cut_off_at_the_deadline(
    tmp_path: Path, faults: Faults
) -> None:
    sim = Simulator(Account(AccountSpec.small(seed=3)), api_key=KEY, faults=faults)
    with serve(sim, tls=False) as server:
        settings = config.Settings(
            archive=str(tmp_path / "archive"),
            api_key=config.Secret(KEY),
            endpoint=server.url,
            deadline=2.0,
            fsync=False,
        )
        began = time.monotonic()
        result = scrape_once(settings, phase=0)
        took = time.monotonic() - began
    assert result.outcome is Outcome.NETWORK_ERROR and result.exit_code == 1
    assert len(sim.requests) == 1
    # Bounded by the 2 s deadline (not httpx's 30 s per read, nor minutes of trickle): the
    # margin is for a loaded machine, the point is that it ends.
    assert took < 8.0, took


# -- persistent faults back off across runs (state in the archive) ------------------------------


def test_a_broken_endpoint_spends_at_most_a_tenth_of_the_hourly_budget(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path, Faults(error_rate=1.0))
    outcomes = []
    for _ in range(3 * 60):  # three hours of cron runs, one a minute
        outcomes.append(scrape(sim, clock, settings).outcome)
        clock.now += 60
    times = sorted(r.time for r in sim.requests)
    worst = max(sum(1 for t in times if s <= t < s + 3600) for s in times)
    assert worst <= 18, worst  # 10% of 180
    assert Outcome.BACKED_OFF in outcomes and outcomes[0] is Outcome.SERVER_ERROR
    # Every run still leaves its reason in the scrape log, with exit 1.
    summaries = [r for r in log_rows(settings) if r["request"] == "scrape"]
    assert len(summaries) == 3 * 60
    backed = [r for r in summaries if r["outcome"] == "backed_off"]
    assert (
        backed and "HTTP 50" in str(backed[0]["error"]) and "next try at" in str(backed[0]["error"])
    )
    assert Outcome.BACKED_OFF.exit_code == 1
    # The first success resets it: the next run after the fault clears and the backoff ends
    # archives, and so does every minute after it.
    sim.faults = Faults()
    clock.now += 3600
    assert scrape(sim, clock, settings).outcome is Outcome.COMPLETE
    clock.now += 60
    assert scrape(sim, clock, settings).outcome is Outcome.COMPLETE


def test_changing_the_key_or_endpoint_tries_again_at_once(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path)
    wrong = config.with_overrides(settings, api_key=config.Secret("wrong-key-123"))
    from archiver.errors import AuthError

    for _ in range(2):  # one failing run is a blip; the second in a row starts the backoff
        with pytest.raises(AuthError):
            scrape(sim, clock, wrong)
        clock.now += 60
    assert scrape(sim, clock, wrong).outcome is Outcome.BACKED_OFF
    assert scrape(sim, clock, settings).outcome is Outcome.COMPLETE  # the fixed key


# -- case 8: a lock held past its holder's deadline is reported, not passed over ---------------


def test_a_scrape_stuck_past_its_deadline_is_reported(tmp_path: Path) -> None:
    from archiver.store.archive import Archive

    sim, clock, settings = make(tmp_path)
    archive = Archive.open(settings.archive)
    held = archive.lock("scrape")
    with held:
        holder = {"pid": 4242, "started": clock.now}
        archive.write_state("scrape-holder.json", json.dumps(holder).encode())
        clock.now += 30  # within the holder's phase + deadline: quietly skipped
        busy = scrape_once(settings, clock=clock, sleep=clock.sleep, lock_wait=0, phase=0)
        assert busy.outcome is Outcome.SKIPPED and busy.exit_code == 0
        clock.now += 120  # now far past it
        stuck = scrape_once(settings, clock=clock, sleep=clock.sleep, lock_wait=0, phase=0)
    assert stuck.outcome is Outcome.STUCK and stuck.exit_code == 1
    assert "previous scrape stuck since" in stuck.message and "4242" in stuck.message
    assert [r["outcome"] for r in log_rows(settings)] == ["stuck"]
    assert sim.requests == []


# -- case 8: a busy write lock spools the minute; case 6: one namespace's error costs only it ---


def test_a_minute_that_waited_too_long_for_the_write_lock_is_spooled(tmp_path: Path) -> None:
    from archiver.store.archive import Archive

    sim, clock, settings = make(tmp_path)
    archive = Archive.open(settings.archive)
    with archive.lock("write"):
        result = scrape_once(
            settings, clock=clock, sleep=clock.sleep, transport=sim.transport(), phase=0,
            write_lock_wait=0.01,
        )  # fmt: skip
    assert "spooled" in result.message
    assert list((Path(settings.archive) / "_archiver" / "spool").glob("*.parquet"))
    assert not list((Path(settings.archive) / "samples").rglob("*.parquet"))
    clock.now += 60
    assert scrape(sim, clock, settings).outcome is Outcome.COMPLETE
    assert not list((Path(settings.archive) / "_archiver" / "spool").glob("*.parquet"))
    minutes = duckdb.sql(
        f"SELECT count(DISTINCT ts), count(*) = count(DISTINCT (series, ts)) FROM "
        f"read_parquet('{settings.archive}/samples/**/*.parquet', hive_partitioning = true)"
    ).fetchall()
    assert minutes == [(2, True)]  # the spooled minute and the next one, each once


def test_a_long_namespace_is_stored_and_reads_back_exactly(tmp_path: Path) -> None:
    from archiver.query.connect import connect
    from archiver.simulator.variants import LONG_NAMESPACE

    sim, clock, settings = make(tmp_path, Faults(long_namespace_rate=1.0))
    assert scrape(sim, clock, settings).outcome is Outcome.COMPLETE
    con = connect(settings.archive)
    names = {row[0] for row in con.sql("SELECT DISTINCT namespace FROM samples").fetchall()}
    assert LONG_NAMESPACE in names and len(names) == 4


def test_one_namespaces_storage_error_costs_only_that_namespace(tmp_path: Path) -> None:
    sim, clock, settings = make(tmp_path)
    first = scrape(sim, clock, settings)
    assert first.outcome is Outcome.COMPLETE
    date_dir = next((Path(settings.archive) / "samples").iterdir())
    victim = sorted(date_dir.iterdir())[0]
    for f in victim.iterdir():
        f.unlink()
    victim.rmdir()
    victim.write_text("a file where the partition directory should be")  # unwritable
    clock.now += 60
    result = scrape(sim, clock, settings)
    assert result.outcome is Outcome.STORAGE_ERROR and result.exit_code == 1
    namespace = victim.name.removeprefix("namespace=")
    assert f"namespace {namespace!r}" in result.message
    assert "the other namespaces were stored" in result.message
    others = [d for d in date_dir.iterdir() if d.is_dir()]
    assert others and all(len(list(d.glob("*.parquet"))) == 2 for d in others)


# -- case 8: corrupt state files are set aside and rebuilt -------------------------------------


@pytest.mark.parametrize("name", ["state.json", "shards.json", "backoff.json"])
def test_a_state_file_holding_a_list_is_set_aside(tmp_path: Path, name: str) -> None:
    sim, clock, settings = make(tmp_path)
    state_dir = Path(settings.archive) / "_archiver"
    state_dir.mkdir(parents=True)
    (state_dir / name).write_text("[]")
    assert scrape(sim, clock, settings).outcome is Outcome.COMPLETE
    assert list(state_dir.glob(f"{name}.corrupt-*"))
