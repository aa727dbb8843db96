"""``make crash``: many SIGKILLs at random moments across scrape, compact and retention.

Not part of ``make test`` (it runs for many minutes). The workers are those of
``tests/store/test_crash.py``; to make a thousand kills affordable they are forked from a
"zygote" process that has imported archiver, polars and pyarrow but never used them (no thread
pool started, so a fork is safe), instead of paying ~1 s of imports per kill.

After every kill, with plain DuckDB (``read_parquet('<archive>/samples/**/*.parquet',
hive_partitioning = true)``, nothing of archiver's): is every partition readable, is every
acknowledged sample there, how many duplicates are visible. After each cycle of kills the
archive is repaired (``archiver.store.repair``) and checked again: nothing left behind, no
duplicates, nothing acknowledged lost. The figures go to stdout as JSON::

    python -m tests.store.crash_soak --kills 1000 [--seed 1] [--out benchmarks/crash.json]

With ``--out X.json`` it also writes ``X.md``, the section ``make bench`` carries into
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from tests.store.test_crash import T0

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
#: Kills per archive before it is repaired, checked and replaced by a fresh one.
CYCLE = 50
#: How the kills are shared (retention needs a fresh copy of a 20-day archive per kill).
SHARES = {"scrape": 0.4, "compact": 0.4, "retention": 0.2}
#: Seconds after READY a kill lands, at most (uniform from 0).
MAX_DELAY = {"scrape": 0.8, "compact": 0.8, "retention": 0.3}


# -- the zygote (a child process that forks the workers) ---------------------------------------


def zygote() -> None:
    """Import everything, then fork one worker per request line: ``kind root start ackfile``."""
    import duckdb  # noqa: F401
    import polars  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import archiver.collect.scrape
    import archiver.simulator.model
    import archiver.store.compact
    import archiver.store.retention
    import archiver.store.write  # noqa: F401
    from tests.store import test_crash

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reap themselves
    for line in sys.stdin:
        kind, root, start, ack = line.split()
        pid = os.fork()
        if pid == 0:  # the worker: its stdout is the ack file
            fd = os.open(ack, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(fd, 1)
            sys.stdout = os.fdopen(1, "w", buffering=1)
            try:
                test_crash._worker(kind, root, int(start))
            finally:
                os._exit(0)
        print(pid, flush=True)


class Zygote:
    def __init__(self) -> None:
        env = os.environ | {"PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.store.crash_soak", "--zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )

    def fork(self, kind: str, root: Path, start: int, ack: Path) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{kind} {root} {start} {ack}\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _wait_for(predicate: object, seconds: float) -> bool:
    """Poll ``predicate`` (bounded): the harness waits on another process's file."""
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def kill_one(z: Zygote, kind: str, root: Path, start: int, delay: float) -> tuple[list[int], bool]:
    """Fork a worker, SIGKILL it ``delay`` s after READY: the minutes/keeps it acknowledged,
    and whether the kill landed (a short worker may have finished first)."""
    ack = Path(tempfile.mkstemp(prefix="ack-", dir=root.parent)[1])
    pid = z.fork(kind, root, start, ack)
    ready = _wait_for(lambda: ack.read_text().startswith("READY"), 120)
    if ready:
        time.sleep(delay)  # the random moment of the kill
    try:
        os.kill(pid, signal.SIGKILL)
        killed = True
    except ProcessLookupError:
        killed = False  # it finished (or died) on its own: not a kill
    _wait_for(lambda: _gone(pid), 30)
    lines = ack.read_text().splitlines()
    ack.unlink()
    return [int(line.split()[1]) for line in lines if line.startswith("ACK ")], killed


# -- the checks (plain DuckDB) -------------------------------------------------------------------


@dataclass
class Figures:
    kills: dict[str, int] = field(default_factory=lambda: {k: 0 for k in SHARES})
    not_killed: int = 0  # workers that finished before their kill landed (not counted)
    acknowledged: int = 0  # acknowledged minutes (scrape/compact) and kept days (retention)
    acknowledged_samples: int = 0
    lost_after_kill: int = 0  # acknowledged samples a plain read did not see right after a kill
    lost_after_recovery: int = 0
    duplicates_after_kill: int = 0  # visible to a plain read before the next run repaired
    duplicates_after_recovery: int = 0
    unreadable_after_kill: int = 0  # kills after which the plain ** read failed
    unreadable_after_recovery: int = 0
    leftovers_after_recovery: int = 0
    first_unreadable: str = ""
    seconds: float = 0.0


def plain_read(root: Path) -> dict[int, tuple[int, int]]:
    """epoch ms -> (rows, distinct (series, ts)) through DuckDB's own ** glob and Hive parsing."""
    import duckdb

    if not list((root / "samples").rglob("*.parquet")):
        return {}
    rows = duckdb.sql(
        "SELECT epoch_ms(ts), count(*), count(DISTINCT (series, ts)) FROM read_parquet("
        f"'{root}/samples/**/*.parquet', hive_partitioning = true) GROUP BY ALL"
    ).fetchall()
    return {int(ts): (int(n), int(d)) for ts, n, d in rows}


def check(root: Path, acked: set[int], figures: Figures, *, recovered: bool) -> None:
    from tests.store.test_crash import expected_rows, leftovers

    try:
        seen = plain_read(root)
    except Exception as exc:  # the figure this run is for: any failure of a plain read counts
        if recovered:
            figures.unreadable_after_recovery += 1
        else:
            figures.unreadable_after_kill += 1
        figures.first_unreadable = figures.first_unreadable or " ".join(str(exc).split())[:300]
        return
    dups = sum(n - d for n, d in seen.values())
    lost = sum(max(0, expected_rows(ts) - seen.get(ts, (0, 0))[0]) for ts in acked)
    if recovered:
        figures.duplicates_after_recovery += dups
        figures.lost_after_recovery += lost
        figures.leftovers_after_recovery += len(list(leftovers(root)))
    else:
        figures.duplicates_after_kill += dups
        figures.lost_after_kill += lost


def recover_and_check(root: Path, acked: set[int], figures: Figures) -> None:
    from archiver.store import repair
    from archiver.store.archive import Archive

    repair.repair(Archive.open(str(root)), older_than=0)
    check(root, acked, figures, recovered=True)


# -- the cycles ----------------------------------------------------------------------------------


def _count(figures: Figures, acked: set[int]) -> None:
    from tests.store.test_crash import expected_rows

    figures.acknowledged += len(acked)
    figures.acknowledged_samples += sum(expected_rows(ts) for ts in acked)


def scrape_or_compact_cycle(
    z: Zygote, kind: str, work: Path, kills: int, rng: random.Random, figures: Figures
) -> None:
    root = work / f"{kind}-{figures.kills[kind]}"
    acked: set[int] = set()
    if kind == "compact":  # something to compact from the start
        from archiver.simulator.model import Account, AccountSpec
        from archiver.store import write as store
        from archiver.store.archive import Archive

        archive, account = Archive.open(str(root), durable=True), Account(AccountSpec.small(seed=7))
        for m in range(6):
            store.write_samples(archive, account.window((T0 // 60 + m) * 60_000))
            acked.add((T0 // 60 + m) * 60_000)
    for k in range(kills):
        # A fresh simulated stretch each kill: the budget never binds, windows never repeat.
        start = T0 // 60 + 6 + k * (120 if kind == "scrape" else 40)
        acks, killed = kill_one(z, kind, root, start, rng.uniform(0.0, MAX_DELAY[kind]))
        acked |= set(acks)
        figures.kills[kind] += killed
        figures.not_killed += not killed
        check(root, acked, figures, recovered=False)
    recover_and_check(root, acked, figures)
    _count(figures, acked)
    shutil.rmtree(root, ignore_errors=True)


def retention_template(work: Path) -> tuple[Path, list[int]]:
    from archiver.simulator.model import Account, AccountSpec
    from archiver.store import write as store
    from archiver.store.archive import Archive

    template = work / "retention-template"
    archive, account = Archive.open(str(template)), Account(AccountSpec.small(seed=7))
    days = [T0 + d * 86_400 for d in range(20)]  # 2025-03-03 .. 2025-03-22
    for day in days:
        store.write_samples(archive, account.window(day * 1000))
    return template, days


def retention_kill(
    z: Zygote, template: Path, days: list[int], work: Path, rng: random.Random, figures: Figures
) -> None:
    root = work / "retention-run"
    delay = rng.uniform(0.0, MAX_DELAY["retention"])
    for _ in range(20):  # bounded: a shorter delay each time the run finished first
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(template, root)
        acks, killed = kill_one(z, "retention", root, 0, delay)
        if killed:
            break
        figures.not_killed += 1
        delay /= 2
    figures.kills["retention"] += killed
    # The run in progress had keep-days one below the last acknowledged: days that old may be
    # gone (whole), newer ones must all be there.
    in_progress = min(acks, default=41) - 1
    must_stay = {d * 1000 for d in days if (days[-1] - d) // 86_400 < in_progress}
    check(root, must_stay, figures, recovered=False)
    recover_and_check(root, must_stay, figures)
    _count(figures, must_stay)


def soak(kills: int, seed: int) -> Figures:
    rng = random.Random(seed)
    figures = Figures()
    began = time.monotonic()
    plan = {kind: round(kills * share) for kind, share in SHARES.items()}
    plan["scrape"] += kills - sum(plan.values())
    work = Path(tempfile.mkdtemp(prefix="archiver-crash-"))
    z = Zygote()
    try:
        template, days = retention_template(work)
        for kind in ("scrape", "compact"):
            left = plan[kind]
            while left > 0:
                n = min(CYCLE, left)
                scrape_or_compact_cycle(z, kind, work, n, rng, figures)
                left -= n
                _progress(figures, began)
        for _ in range(plan["retention"] * 2):  # bounded; a kill that did not land is redone
            if figures.kills["retention"] >= plan["retention"]:
                break
            retention_kill(z, template, days, work, rng, figures)
        _progress(figures, began)
    finally:
        z.close()
        shutil.rmtree(work, ignore_errors=True)
    figures.seconds = round(time.monotonic() - began, 1)
    return figures


def _progress(figures: Figures, began: float) -> None:
    done = sum(figures.kills.values())
    print(f"{done} kills, {time.monotonic() - began:.0f} s: {asdict(figures)}", file=sys.stderr)


def markdown(f: Figures, seed: int) -> str:
    """The BENCHMARKS.md section for one run."""
    import platform

    kills = sum(f.kills.values())
    per_kind = ", ".join(f"{k} {n}" for k, n in f.kills.items())
    return "\n".join(
        [
            "## Crash safety (`make crash`, not part of `make bench`)",
            "",
            f"{kills} SIGKILLs at random moments ({per_kind}; seed {seed}; "
            f"{f.seconds / 60:.0f} min on {platform.machine()}, {os.cpu_count()} cores, "
            f"{date.today()}). Workers: `tests/store/test_crash.py`; checks with plain DuckDB "
            "`read_parquet('<archive>/samples/**/*.parquet', hive_partitioning = true)` after "
            f"every kill, and after `repair` at the end of each cycle of {CYCLE} kills.",
            "",
            "| check | after a kill | after recovery |",
            "|---|---|---|",
            f"| acknowledged samples lost (of {f.acknowledged_samples:,}) | "
            f"{f.lost_after_kill} | {f.lost_after_recovery} |",
            f"| duplicate samples visible | {f.duplicates_after_kill} | "
            f"{f.duplicates_after_recovery} |",
            f"| plain `**` Hive read failed | {f.unreadable_after_kill} of {kills} kills | "
            f"{f.unreadable_after_recovery} |",
            f"| files left behind | — | {f.leftovers_after_recovery} |",
            "",
            f"Workers that finished before their kill landed (redone, not counted): "
            f"{f.not_killed}.",
            "",
            f"First failing plain read: {f.first_unreadable or 'none'}",
            "",
            *(
                [
                    "A failing plain read here is a compaction's work folder "
                    "(`samples/date=D/_compact-<id>-namespace=N/`) that a kill left where the "
                    "`**` glob reaches it (issue 15 item 7, compaction's); `repair` (the next "
                    "compaction) clears it, so the archive reads again after recovery.",
                    "",
                ]
                if "_compact-" in f.first_unreadable
                else []
            ),
        ]
    )


def main(argv: Iterator[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--zygote", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.zygote:
        zygote()
        return 0
    figures = soak(args.kills, args.seed)
    text = json.dumps(asdict(figures) | {"seed": args.seed, "date": str(date.today())}, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
        args.out.with_suffix(".md").write_text(markdown(figures, args.seed), encoding="utf-8")
    bad = (
        figures.lost_after_recovery
        + figures.duplicates_after_recovery
        + figures.unreadable_after_recovery
        + figures.leftovers_after_recovery
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
