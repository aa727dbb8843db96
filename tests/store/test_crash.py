"""Crash safety: real processes killed with SIGKILL at random points, many times.

After every kill: every acknowledged sample is still there, no sample is stored twice, every
file a reader lists is whole, and the next run (``repair``) clears what the dead process left.
The workers are this module run as a script, so each kill hits real imports, real locks and
real file I/O. Seeds are fixed: a failure replays.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

T0 = int(datetime(2025, 3, 3, tzinfo=UTC).timestamp())  # seconds, a UTC midnight
HERE = os.path.abspath(__file__)


# -- the workers (run in a child process) ------------------------------------------------------


def _worker(kind: str, root: str, start: int) -> None:
    from archiver.simulator.model import Account, AccountSpec
    from archiver.store import compact, retention
    from archiver.store import write as store
    from archiver.store.archive import Archive

    archive = Archive.open(root)
    account = Account(AccountSpec.small(seed=7))
    if kind == "scrape":
        _scrape_worker(root, start)
        return
    account.window(0)  # builds the series table before the clock of the kill starts
    print("READY", flush=True)
    if kind == "compact":
        for k in range(10_000):
            minute = start + k
            with archive.lock("write"):
                store.write_samples(archive, account.window(minute * 60_000))
            print(f"ACK {minute * 60_000}", flush=True)
            compact.compact(archive)
    elif kind == "retention":
        for keep in range(40, 1, -1):
            retention.retention(archive, keep, today=date(2025, 3, 22), dry_run=False)
            print(f"ACK {keep}", flush=True)


def _scrape_worker(root: str, start: int) -> None:
    from archiver.collect.scrape import scrape_once
    from archiver.config import Secret, Settings
    from archiver.simulator.model import Account, AccountSpec
    from archiver.simulator.server import Simulator

    now = [float(start * 60 + 30)]
    simulator = Simulator(Account(AccountSpec.small(seed=7)), clock=lambda: now[0])
    settings = Settings(
        archive=root, endpoint="http://127.0.0.1:9", api_key=Secret("sim-key"), offset=120
    )
    transport = simulator.transport()
    simulator.account.window(0)  # builds the series table before the clock of the kill starts
    print("READY", flush=True)
    for _ in range(10_000):
        result = scrape_once(
            settings,
            clock=lambda: now[0],
            sleep=lambda s: None,
            transport=transport,
            phase=None,
            lock_wait=10,
        )
        if result.outcome == "complete":
            print(f"ACK {result.target_window}", flush=True)
        now[0] += 60.0


# -- the harness ---------------------------------------------------------------------------------


def run_and_kill(kind: str, root: Path, start: int, delay: float) -> list[int]:
    """Start a worker, SIGKILL it ``delay`` seconds after it is ready; its acknowledgements."""
    proc = subprocess.Popen(
        [sys.executable, HERE, kind, str(root), str(start)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "READY"
        try:
            proc.wait(timeout=delay)  # the bounded sleep a SIGKILL test needs
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        out = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    return [int(line.split()[1]) for line in out.splitlines() if line.startswith("ACK ")]


def check_readable(root: Path) -> list[tuple[int, int, int]]:
    """Every listed file is whole; returns (ts ms, rows, distinct series) per minute."""
    from archiver.store.archive import Archive

    files = Archive.open(str(root)).files("samples")
    for path in files:
        pq.read_table(path)  # raises on a half-written file
    if not files:
        return []
    rows: list[tuple[int, int, int]] = duckdb.sql(
        "SELECT epoch_ms(ts), count(*), count(DISTINCT series) FROM read_parquet($f) "
        "GROUP BY ALL ORDER BY 1",
        params={"f": files},
    ).fetchall()
    return rows


def expected_rows(ts_ms: int) -> int:
    from archiver.simulator.model import Account, AccountSpec

    return _account(Account, AccountSpec).window(ts_ms).height


_ACCOUNTS: dict[str, object] = {}


def _account(account: type, spec: type) -> object:
    if "a" not in _ACCOUNTS:
        _ACCOUNTS["a"] = account(spec.small(seed=7))  # type: ignore[attr-defined]
    return _ACCOUNTS["a"]


def leftovers(root: Path) -> Iterator[Path]:
    for pattern in ("_tmp-*", "_compact-*", "_old-*", "_deleting-*", "*.partial"):
        yield from root.rglob(pattern)
    yield from root.glob("_archiver/deleting/*")


def assert_whole(root: Path, acked: set[int]) -> None:
    per_minute = {ts: (n, distinct) for ts, n, distinct in check_readable(root)}
    for ts, (n, distinct) in per_minute.items():
        assert n == distinct, f"duplicates at {ts}"
        assert n <= expected_rows(ts)
    for ts in acked:
        assert per_minute.get(ts, (0, 0))[0] == expected_rows(ts), f"lost acknowledged {ts}"


def repair_and_check(root: Path, acked: set[int]) -> None:
    from archiver.store import repair
    from archiver.store.archive import Archive

    repair.repair(Archive.open(str(root)), older_than=0)
    assert not list(leftovers(root))
    assert_whole(root, acked)


# -- the tests -----------------------------------------------------------------------------------


def test_scrape_survives_sigkill(tmp_path: Path) -> None:
    rng = random.Random(11)
    acked: set[int] = set()
    for run in range(4):
        start = T0 // 60 + run * 120  # a fresh simulated hour each run: the budget never binds
        acked |= set(run_and_kill("scrape", tmp_path, start, rng.uniform(0.0, 0.8)))
        assert_whole(tmp_path, acked)
    assert acked, "no scrape finished before its kill: raise the delays"
    repair_and_check(tmp_path, acked)
    # The next run is not blocked by a dead holder's lock (OS locks die with their process).
    assert run_and_kill("scrape", tmp_path, T0 // 60 + 5 * 120, 0.8)


def test_compact_survives_sigkill(tmp_path: Path) -> None:
    from archiver.simulator.model import Account, AccountSpec
    from archiver.store import write as store
    from archiver.store.archive import Archive

    archive = Archive.open(str(tmp_path))
    account = Account(AccountSpec.small(seed=7))
    acked: set[int] = set()
    for m in range(6):
        store.write_samples(archive, account.window((T0 // 60 + m) * 60_000))
        acked.add((T0 // 60 + m) * 60_000)
    rng = random.Random(12)
    for run in range(5):
        start = T0 // 60 + 6 + run * 40
        acked |= set(run_and_kill("compact", tmp_path, start, rng.uniform(0.0, 0.6)))
        assert_whole(tmp_path, acked)
    repair_and_check(tmp_path, acked)


def test_retention_survives_sigkill(tmp_path: Path) -> None:
    from archiver.simulator.model import Account, AccountSpec
    from archiver.store import write as store
    from archiver.store.archive import Archive

    template = tmp_path / "template"
    archive = Archive.open(str(template))
    account = Account(AccountSpec.small(seed=7))
    days = [T0 + d * 86_400 for d in range(20)]  # 2025-03-03 .. 2025-03-22
    for day in days:
        store.write_samples(archive, account.window(day * 1000))
    rng = random.Random(13)
    for run in range(5):
        root = tmp_path / f"run{run}"
        shutil.copytree(template, root)
        acks = run_and_kill("retention", root, 0, rng.uniform(0.0, 0.3))
        # The run in progress at the kill had keep-days one below the last acknowledged one:
        # it may have removed days that old, never a newer one.
        in_progress = min(acks, default=41) - 1
        must_stay = {d * 1000 for d in days if (days[-1] - d) // 86_400 < in_progress}
        # Older days are either whole or gone (never half-visible), newer ones all there.
        assert_whole(root, must_stay)
        repair_and_check(root, must_stay)


if __name__ == "__main__":
    if sys.argv[1] not in ("scrape", "compact", "retention"):
        sys.exit(2)
    _worker(sys.argv[1], sys.argv[2], int(sys.argv[3]))
