"""`archiver run` stops promptly on SIGINT/SIGTERM, mid-request included (issue 15 case 2):
a real subprocess against a real socket server that never answers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from archiver.simulator import serve
from archiver.simulator.faults import Faults
from archiver.simulator.model import Account, AccountSpec
from archiver.simulator.server import Simulator

KEY = "sk-test-signals-0123"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_stops_within_two_seconds_mid_request(tmp_path: Path, sig: signal.Signals) -> None:
    arrived = threading.Event()

    class Watched(Simulator):
        def handle(self, method: str, target: str, headers: dict[str, str]) -> object:  # type: ignore[override]
            arrived.set()
            return super().handle(method, target, headers)

    sim = Watched(Account(AccountSpec.small(seed=3)), api_key=KEY, faults=Faults(hang_rate=1.0))
    with serve(sim, tls=False) as server:
        env = os.environ | {
            "TEMPORAL_CLOUD_API_KEY": KEY,
            "ARCHIVER_ENDPOINT": server.url,
            "ARCHIVER_ARCHIVE": str(tmp_path / "archive"),
            "ARCHIVER_PHASE": "0",
            "ARCHIVER_FSYNC": "false",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "archiver", "run", "--interval", "1"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            # The request is on the wire, and the server will not answer for 50 s (the deadline).
            assert arrived.wait(timeout=60), "the scrape never reached the server"
            proc.send_signal(sig)
            code = proc.wait(timeout=2.0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        _, err = proc.communicate()
    assert code == 0, err.decode()
    assert b"Traceback" not in err
    log = list((tmp_path / "archive" / "scrapes").rglob("*.parquet"))
    assert log  # the interrupted minute is logged (outcome `interrupted`), nothing half-written
    assert not list((tmp_path / "archive").rglob("*.partial"))
