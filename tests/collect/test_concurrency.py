"""Real processes sharing one archive: no double-spent budget, no sample written twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from archiver.simulator.httpd import Server, serve
from archiver.simulator.model import Account, AccountSpec
from archiver.simulator.server import Simulator

KEY = "concurrency-key"


@pytest.fixture
def server() -> Iterator[tuple[Simulator, Server]]:
    sim = Simulator(Account(AccountSpec.small(seed=9)), api_key=KEY)
    with serve(sim) as srv:
        yield sim, srv


def environment(srv: Server, archive: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TEMPORAL_CLOUD_API_KEY=KEY,
        ARCHIVER_ENDPOINT=srv.url,
        ARCHIVER_CA_FILE=str(srv.ca_file),
        ARCHIVER_ARCHIVE=str(archive),
        ARCHIVER_PHASE="0",
    )
    return env


def archiver(*args: str) -> list[str]:
    return [sys.executable, "-m", "archiver", *args]


def test_simultaneous_scrapes_spend_once_and_store_once(
    server: tuple[Simulator, Server], tmp_path: Path
) -> None:
    sim, srv = server
    env = environment(srv, tmp_path / "archive")
    procs = [
        subprocess.Popen(
            archiver("scrape", "-v"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes == [0, 0, 0, 0], results
    outs = " ".join(out for out, _ in results)
    # One of them archived the minute; the others found it running or already archived.
    assert "complete" in outs
    metric_requests = [r for r in sim.requests if r.path == "/v1/metrics"]
    windows = {r.window_ms for r in metric_requests}
    assert len(metric_requests) == len(windows), "the same minute was fetched twice"
    ledger = json.loads((tmp_path / "archive" / "_archiver" / "ledger.json").read_text())
    assert len(ledger["sent"]) == len(sim.requests)
    ((rows, distinct),) = duckdb.sql(
        f"SELECT count(*), count(DISTINCT (series, ts)) FROM "
        f"read_parquet('{tmp_path}/archive/samples/*/*/*.parquet')"
    ).fetchall()
    assert rows == distinct > 0


def test_run_stops_cleanly_on_sigterm(server: tuple[Simulator, Server], tmp_path: Path) -> None:
    _, srv = server
    env = environment(srv, tmp_path / "archive")
    proc = subprocess.Popen(
        archiver("run", "--interval", "1"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # blocks until the first heartbeat
    assert "samples" in first, first
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    leftovers = [p for p in (tmp_path / "archive").rglob("_tmp-*")]
    assert leftovers == []
