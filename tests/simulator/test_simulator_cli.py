"""``archiver simulate``: help, option checks, and one real start/stop in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
from click.testing import CliRunner

from archiver.cli.simulate import simulate


def test_help() -> None:
    result = CliRunner().invoke(simulate, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--port" in result.output and "--fault" in result.output


def test_unknown_fault_knob_is_a_usage_error() -> None:
    result = CliRunner().invoke(simulate, ["serve", "--port", "0", "--fault", "nope=1"])
    assert result.exit_code == 2
    assert "KNOB=VALUE" in result.output


def test_serve_prints_the_url_and_stops_on_sigterm() -> None:
    env = {**os.environ, "TEMPORAL_CLOUD_API_KEY": "secret-123"}
    code = "from archiver.cli.simulate import simulate; simulate()"
    args = [sys.executable, "-c", code, "serve", "--port", "0", "--no-tls"]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            url = line.split("ARCHIVER_ENDPOINT=")[1].split()[0]
            assert "secret-123" not in line
            r = httpx.get(url + "/v1/descriptors", headers={"Authorization": "Bearer secret-123"})
            assert r.status_code == 200
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_serve_hint_names_the_default_key() -> None:
    """A newcomer copies the hint as it stands: with the default key it must name it."""
    env = {k: v for k, v in os.environ.items() if k != "TEMPORAL_CLOUD_API_KEY"}
    code = "from archiver.cli.simulate import simulate; simulate()"
    args = [sys.executable, "-c", code, "serve", "--port", "0", "--no-tls"]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            assert "TEMPORAL_CLOUD_API_KEY=sim-key archiver scrape" in line
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
