"""Compaction at the 50,000-point cap: peak RSS and samples/s, against today's compaction.

Run with ``make bench-scale`` (``python -m benchmarks.bench_scale [--hours H]``). Two accounts:
``benchmarks.foreign_day`` (not the simulator: noisy 3-decimal rates with idle minutes, integer
random-walk backlogs, constant limits, one namespace holding ~80% of the series) at 50,000
points a minute, and the simulator's mid account. Each minute goes the scrape's way minus the
socket: rendered as the service's OpenMetrics body (ms timestamps), parsed by
``archiver.openmetrics.parse``, stored by ``store.write_samples`` (one file per partition per
minute, as cron scrapes leave them). Then compaction runs in a fresh child process; its peak
RSS is the child's own ``getrusage`` ``ru_maxrss`` as it exits, its rate rows in / wall time.

Baseline: the in-memory compaction of commit ``c5418f3`` (``git archive`` of that commit,
imported by a child process), measured in the same run on a smaller partition (~500k rows),
since at ~2 KB per row it cannot compact the big one on a shared machine; our compaction runs
on the same small archive for the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from archiver.openmetrics import parse
from archiver.openmetrics.render import render
from archiver.store import write as store
from archiver.store.archive import Archive
from benchmarks.foreign_day import Foreign

START_MS = 1_740_960_000_000  # 2025-03-03T00:00Z
BASELINE_COMMIT = "c5418f3"
RSS_TARGET_MB = 1000
RATE_TARGET = 150_000
ROOT = Path(__file__).resolve().parent.parent

COMPACT = """
import resource, sys
from archiver.store import compact
from archiver.store.archive import Archive
report = compact.compact(Archive.open(sys.argv[1], durable=False))
done = [p for p in report.partitions if p.table == "samples"]
me = resource.getrusage(resource.RUSAGE_SELF)
rows = sum(p.rows_in for p in done)
print(rows, max((p.rows_in for p in done), default=0), me.ru_maxrss, me.ru_utime + me.ru_stime)
"""


def foreign_minutes(points: int, minutes: int, seed: int = 5) -> Iterator[pl.DataFrame]:
    gen = Foreign(points=points, seed=seed)
    for m in range(minutes):
        yield gen.minute(START_MS + m * 60_000)


def simulator_minutes(minutes: int) -> Iterator[pl.DataFrame]:
    from archiver.simulator.model import Account, AccountSpec

    account = Account(AccountSpec.mid(seed=5))
    for m in range(minutes):
        yield account.window(START_MS + m * 60_000)


def build(root: Path, minutes: Iterator[pl.DataFrame]) -> tuple[int, float]:
    """Each minute rendered, parsed and stored as a scrape stores it; (samples, seconds)."""
    archive = Archive.open(str(root), durable=False)
    total, started = 0, time.perf_counter()
    for frame in minutes:
        body = render(frame, ts_unit="ms")
        total += store.write_samples(archive, parse(body).samples)
    return total, time.perf_counter() - started


def compact_child(
    root: Path, pythonpath: str | None = None
) -> tuple[float, float, int, int, float]:
    """``compact`` in a fresh process: (seconds, peak RSS MB, rows in, largest partition, CPU
    seconds of the child)."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    started = time.perf_counter()
    # The child reports its own peak (getrusage RUSAGE_SELF, from the kernel) as it exits.
    done = subprocess.run(
        [sys.executable, "-c", COMPACT, str(root)],
        capture_output=True,
        env=env,
        cwd=pythonpath or str(ROOT),
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"compaction failed: {done.stderr.decode()[-500:]}")
    rows, largest, rss_kb, cpu = done.stdout.decode().split()
    return elapsed, int(rss_kb) / 1024, int(rows), int(largest), float(cpu)


def size_per_sample(root: Path, samples: int) -> float:
    files = Archive.open(str(root)).files("samples")
    return sum(Path(f).stat().st_size for f in files) / samples


def baseline_tree(where: Path) -> str:
    """Today's (``BASELINE_COMMIT``) package, extracted from git into ``where``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", BASELINE_COMMIT, "archiver"],
        capture_output=True,
        check=True,
    ).stdout
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return str(where)


def _rows_for(
    label: str, build_minutes: Callable[[], Iterator[pl.DataFrame]], tmp: Path
) -> list[dict[str, object]]:
    root = tmp / label.split()[0]
    samples, write_s = build(root, build_minutes())
    elapsed, rss, rows, largest, cpu = compact_child(root)
    rate = rows / elapsed
    where = f"{label}: {rows:,} samples, largest partition {largest:,} rows"
    return [
        {
            "what": f"compact, peak RSS ({where})",
            "ours": round(rss),
            "unit": "MB",
            "target": f"< {RSS_TARGET_MB} MB",
            "met": rss < RSS_TARGET_MB,
        },
        {
            "what": f"compact, samples/s ({where}; writing the minutes took {write_s:.0f} s)",
            "ours": round(rate),
            "unit": "samples/s",
            "target": f">= {RATE_TARGET:,} samples/s",
            "met": rate >= RATE_TARGET,
        },
        {
            "what": f"compact, samples per CPU second of the process ({where}; "
            f"{cpu:.0f} CPU s in {elapsed:.0f} s wall)",
            "ours": round(rows / cpu),
            "unit": "samples/CPU s",
            "target": "informational: less sensitive to a loaded machine than wall time",
            "met": None,
        },
        {
            "what": f"compacted size ({label})",
            "ours": round(size_per_sample(root, samples), 3),
            "unit": "B/sample",
            "target": "<= 2.0 B/sample on foreign data",
            "met": size_per_sample(root, samples) <= 2.0 if "foreign" in label else None,
        },
    ]


def run(repeats: int = 1, quick: bool = False, hours: float = 2.0) -> list[dict[str, object]]:
    del repeats
    minutes = max(int((0.1 if quick else hours) * 60), 2)
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as name:
        tmp = Path(name)
        rows += _rows_for(
            f"foreign 50,000-point account, {minutes} min",
            lambda: foreign_minutes(50_000, minutes),
            tmp,
        )
        shutil.rmtree(tmp / "foreign")
        rows += _rows_for(
            f"simulator mid account, {minutes} min", lambda: simulator_minutes(minutes), tmp
        )
        shutil.rmtree(tmp / "simulator")
        # Today's compaction against ours on one ~500k-row partition (10,000 points, 63 min).
        small = tmp / "small"
        build(small, foreign_minutes(10_000, 8 if quick else 63))
        copy = tmp / "small-baseline"
        shutil.copytree(small, copy)
        ours_s, ours_mb, n, largest, _ = compact_child(small)
        theirs_s, theirs_mb, _, _, _ = compact_child(copy, baseline_tree(tmp / "baseline"))
        per_row = theirs_mb * 1024 / largest
        rows.append(
            {
                "what": f"compact {n:,} samples (largest partition {largest:,}), peak RSS",
                "ours": round(ours_mb),
                "theirs": f"{BASELINE_COMMIT} (in-memory merge): {theirs_mb:.0f} MB, "
                f"{per_row:.2f} KB per row of the largest partition",
                "ratio": round(ours_mb / theirs_mb, 3),
                "unit": "MB",
                "target": "informational: the baseline on a partition it can hold",
                "met": None,
            }
        )
        rows.append(
            {
                "what": f"compact {n:,} samples (largest partition {largest:,}), wall time",
                "ours": round(ours_s, 2),
                "theirs": f"{BASELINE_COMMIT}: {theirs_s:.2f} s",
                "ratio": round(ours_s / theirs_s, 3),
                "unit": "s",
                "target": "informational",
                "met": None,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--quick", action="store_true", help="a smoke run; writes nothing")
    args = parser.parse_args()
    load_before = os.getloadavg()
    started = time.perf_counter()
    lines = ["| what | ours | theirs | ratio | target | met |", "|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for row in run(quick=args.quick, hours=args.hours):
        met = {True: "yes", False: "**no**", None: "—"}[row["met"]]  # type: ignore[index]
        line = (
            f"| {row['what']} | {row['ours']} {row['unit']} | {row.get('theirs', '')} "
            f"| {row.get('ratio', '')} | {row['target']} | {met} |"
        )
        print(line, flush=True)
        lines.append(line)
    if args.quick:
        return
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    load = [round(x, 2) for x in (*load_before, *os.getloadavg())]
    how = " ".join(line.strip() for line in (__doc__ or "").split("\n\n", 1)[1].splitlines())
    section = [
        "## Scale: compaction at the 50,000-point cap (`make bench-scale`)",
        "",
        f"- date: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, commit {commit}, "
        f"{args.hours:g} h of minutes per account, {time.perf_counter() - started:.0f} s in all",
        f"- load average (1, 5, 15 min) before {load[:3]}, after {load[3:]} (a shared machine: "
        "samples/s is lower than on an idle one; peak RSS is not affected)",
        "",
        *lines,
        "",
        f"How measured: {how}",
    ]
    (Path(__file__).resolve().parent / "scale.md").write_text("\n".join(section) + "\n")


if __name__ == "__main__":
    main()
