"""The command line meeting faults (issue 15): `archiver run` stops promptly on SIGINT/SIGTERM
mid-request (a real subprocess against a real socket server that never answers), and storage
and configuration faults are one line with their exit code."""

from __future__ import annotations

import json
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


@pytest.mark.parametrize(
    ("sig", "faults"),
    [
        (signal.SIGTERM, Faults(hang_rate=1.0)),
        (signal.SIGINT, Faults(hang_rate=1.0)),
        # a 429 asking for 30 s: the signal lands while the scrape waits to retry
        (signal.SIGTERM, Faults(throttle_rate=1.0, retry_after="30")),
    ],
    ids=["SIGTERM-mid-request", "SIGINT-mid-request", "SIGTERM-in-retry-wait"],
)
def test_run_stops_within_two_seconds_mid_request(
    tmp_path: Path, sig: signal.Signals, faults: Faults
) -> None:
    arrived = threading.Event()

    class Watched(Simulator):
        def handle(self, method: str, target: str, headers: dict[str, str]) -> object:  # type: ignore[override]
            arrived.set()
            return super().handle(method, target, headers)

    sim = Watched(Account(AccountSpec.small(seed=3)), api_key=KEY, faults=faults)
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


# -- issue 15 case 8: one line with its exit code, JSON under --log-format json -----------------


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from archiver.cli import main

    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_an_archive_under_a_file_is_one_json_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv("TEMPORAL_CLOUD_API_KEY", KEY)
    archive = str(tmp_path / "file" / "archive")
    for command in (["scrape"], ["descriptors"]):
        code, err = _cli(["--log-format", "json", *command, "--archive", archive], capsys)
        lines = [json.loads(line) for line in err.splitlines()]
        assert code == 1 and len(lines) == 1, err
        assert lines[0]["exit_code"] == 1 and "must be a writable directory" in lines[0]["message"]


@pytest.mark.parametrize(
    ("key", "complaint"),
    [("abc123\nzzz", "more than one line"), ("clé-123", "non-ASCII")],
    ids=["second-line", "non-ascii"],
)
def test_an_odd_key_is_exit_2_without_a_traceback(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    key: str,
    complaint: str,
) -> None:
    monkeypatch.setenv("TEMPORAL_CLOUD_API_KEY", key)
    code, err = _cli(["scrape", "--archive", str(tmp_path / "a")], capsys)
    assert code == 2 and complaint in err and "Traceback" not in err and key not in err


def test_a_ca_file_that_is_not_pem_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("-----BEGIN NOTHING-----\n")
    monkeypatch.setenv("TEMPORAL_CLOUD_API_KEY", KEY)
    monkeypatch.setenv("ARCHIVER_CA_FILE", str(bad))
    code, err = _cli(["scrape", "--archive", str(tmp_path / "a")], capsys)
    assert code == 2 and "is not a PEM certificate bundle" in err and "Traceback" not in err
