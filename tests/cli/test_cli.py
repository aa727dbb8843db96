"""The command line as a user meets it: real sockets, the real entry point, the contract's codes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archiver.cli import cli
from archiver.simulator.faults import Faults
from archiver.simulator.httpd import Server, serve
from archiver.simulator.model import Account, AccountSpec
from archiver.simulator.server import Simulator
from tests.helpers import run_cli as run

KEY = "cli-secret-key-123"


@pytest.fixture
def server() -> Iterator[tuple[Simulator, Server]]:
    sim = Simulator(Account(AccountSpec.small(seed=5)), api_key=KEY)
    with serve(sim) as srv:
        yield sim, srv


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: tuple[Simulator, Server]) -> Path:
    _, srv = server
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEMPORAL_CLOUD_API_KEY", KEY)
    monkeypatch.setenv("ARCHIVER_ENDPOINT", srv.url)
    monkeypatch.setenv("ARCHIVER_CA_FILE", str(srv.ca_file))
    monkeypatch.setenv("ARCHIVER_PHASE", "0")
    monkeypatch.setenv("ARCHIVER_ARCHIVE", str(tmp_path / "archive"))
    return tmp_path / "archive"


def commands() -> list[list[str]]:
    """Every command path, e.g. ['report', 'gaps']."""
    import click

    paths: list[list[str]] = []

    def walk(group: click.Group, prefix: list[str]) -> None:
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                walk(command, [*prefix, name])
            else:
                paths.append([*prefix, name])

    walk(cli, [])
    return paths


@pytest.mark.parametrize("path", commands(), ids=lambda p: " ".join(p))
def test_every_command_has_help_and_is_in_the_readme(
    path: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run([*path, "--help"], capsys)
    assert code == 0 and "Usage:" in out
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"archiver {' '.join(path)}" in readme, f"README does not show `archiver {path}`"


def test_help_texts_start_with_a_capital_and_name_the_archive_alike() -> None:
    """Help nits a newcomer trips over: lower-case summaries, an --archive shown as TEXT."""
    import click

    problems = []
    for path in commands():
        command: click.Command = cli
        for name in path:
            assert isinstance(command, click.Group)
            command = command.commands[name]
        summary = (command.help or "").strip()
        if not summary[:1].isupper():
            problems.append(f"archiver {' '.join(path)}: help starts {summary[:20]!r}")
        for param in command.params:
            if param.name == "archive" and param.metavar != "PATH|s3://BUCKET/PREFIX":
                problems.append(f"archiver {' '.join(path)} --archive shows {param.metavar}")
    assert not problems, "\n".join(problems)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and re.search(r"\d+\.\d+\.\d+", out)


def test_scrape_over_real_https_then_sql(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["scrape", "-v"], capsys)
    assert code == 0, err
    assert "complete" in out
    code, out, err = run(["sql", "SELECT count(*) AS n FROM samples", "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)[0]["n"] > 0
    assert KEY not in out + err


def test_quiet_on_success(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["scrape"], capsys)
    assert (code, out, err) == (0, "", "")


def test_missing_key_exits_2_naming_the_variable(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TEMPORAL_CLOUD_API_KEY")
    code, _, err = run(["scrape"], capsys)
    assert code == 2 and "TEMPORAL_CLOUD_API_KEY" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_plain_http_to_remote_host_exits_2(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["scrape", "--endpoint", "http://metrics.example.com"], capsys)
    assert code == 2 and "https" in err


def test_wrong_key_exits_1_without_the_key(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TEMPORAL_CLOUD_API_KEY", "wrong-key-456")
    code, out, err = run(["scrape"], capsys)
    assert code == 1 and "HTTP 401" in err and "wrong, expired or revoked" in err
    assert "Read-Only" not in err  # a 401 is the key itself; the role is a 403's business
    assert "wrong-key-456" not in out + err
    logged = (env / "scrapes").rglob("*.parquet")
    assert all(b"wrong-key-456" not in p.read_bytes() for p in logged)


def test_incomplete_exits_3(
    env: Path,
    server: tuple[Simulator, Server],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim, _ = server
    sim.faults = Faults(unknown_rate=1.0)
    monkeypatch.setenv("ARCHIVER_DEADLINE", "2")  # real time here: keep the retries short
    code, _, err = run(["scrape"], capsys)
    assert code == 3 and "unknown" in err


def test_budget_exhausted_exits_4(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARCHIVER_BUDGET_PER_HOUR", "1")
    monkeypatch.setenv("ARCHIVER_DESCRIPTORS_EVERY", "999999999999")
    assert run(["scrape"], capsys)[0] == 0
    (env / "_archiver" / "state.json").unlink()  # forget the window: ask again
    code, _, err = run(["scrape"], capsys)
    assert code == 4 and "allows 1 requests per hour, shared by every client" in err


def test_json_logs_every_line_is_json(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["--log-format", "json", "report", "gaps", "--since", "bogus"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert lines and all(json.loads(line)["level"] for line in lines)


def test_descriptors_then_drift(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["descriptors"], capsys)
    assert code == 0, err
    assert "descriptors archived" in out and "first descriptor snapshot" in out
    code, out, _ = run(["descriptors"], capsys)
    assert "no drift" in out


def test_config_show_redacts_the_key(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["config", "show", "--format", "json"], capsys)
    assert code == 0 and KEY not in out
    rows = {r["setting"]: r for r in json.loads(out)}
    assert rows["api_key"]["value"] == "***"
    assert rows["api_key"]["source"] == "env TEMPORAL_CLOUD_API_KEY"
    assert rows["endpoint"]["source"] == "env ARCHIVER_ENDPOINT"


def test_run_loop_with_count(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["run", "--interval", "1", "--count", "2"], capsys)
    assert code == 0, err
    assert len(out.strip().splitlines()) == 2


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["scrape", "--no-such-flag"], capsys)
    assert code == 2 and "--help" in err


def test_memory_limit_the_machine_cannot_give_exits_2(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCHIVER_MEMORY_LIMIT", "900TB")
    code, out, err = run(["sql", "SELECT 1"], capsys)
    assert code == 2
    assert "ARCHIVER_MEMORY_LIMIT" in err and "900TB" in err
    assert out == ""


def _on_a_terminal(args: list[str], cwd: Path, timeout: float = 120) -> tuple[int, str, str]:
    """Run archiver with stderr on a pseudo-terminal (as someone watching it); stdout piped."""
    import os
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "archiver", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        cwd=cwd,
        text=True,
    ) as proc:
        os.close(slave)
        out, _ = proc.communicate(timeout=timeout)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.returncode, out, b"".join(chunks).decode()


def test_compact_says_it_started_on_a_terminal_only(tmp_path: Path) -> None:
    from tests.helpers import build_archive

    root = build_archive(tmp_path / "archive", minutes=5).root
    code, out, err = _on_a_terminal(["compact", "--archive", str(root)], tmp_path)
    assert code == 0 and f"compacting {root} (every partition)" in err
    assert "compacted" in out
    piped = subprocess_run(["compact", "--archive", str(root)], tmp_path)
    assert piped.returncode == 0 and piped.stderr == ""  # under cron: quiet


def test_run_says_when_it_starts_and_stops_on_a_terminal(env: Path, tmp_path: Path) -> None:
    code, out, err = _on_a_terminal(["run", "--interval", "1", "--count", "1"], tmp_path)
    assert code == 0, err
    assert "scraping https://127.0.0.1:" in err and "Ctrl-C stops" in err
    assert "stopped after 1 scrape\r\n" in err or "stopped after 1 scrape\n" in err
    assert len(out.splitlines()) == 1  # the one heartbeat, on stdout


def subprocess_run(args: list[str], cwd: Path) -> Any:
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "archiver", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )
