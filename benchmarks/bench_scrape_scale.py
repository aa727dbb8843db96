"""A cron scrape of a 50,000-point minute (issue #14 item 6): peak RSS under 200 MB, with the
simulator's fault knobs off and on, and on a body our simulator did not make
(:mod:`benchmarks.foreign`). Run with ``python -m benchmarks.bench_scrape_scale``;
``--phases`` prints where one scrape's peak RSS goes, step by step.

Each run starts ``archiver scrape -v`` into a fresh archive and, alternating, a bare httpx
fetch of the same body (the baseline: what any cron job that fetches the body pays); peak RSS
is the child's ``ru_maxrss`` from ``wait4``, taken by the same launcher as ``bench_scrape``.
The server's point cap is lifted so that each minute is one complete response, as a scrape
filtered to fit the cap sees it; with faults on a scrape may take several requests.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import statistics
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from archiver.simulator import Account, AccountSpec, Faults, Simulator, serve
from archiver.simulator.server import SimResponse
from benchmarks import cgroup
from benchmarks.bench_scrape import HTTPX_FETCH, KEY, RSS_TARGET_MB, MemoSimulator, _bin, _timed
from benchmarks.foreign import foreign_body

#: mid() widened to the 50,000-point cap (measured: 47,600-50,000 samples a minute over a day).
SPEC_50K = dataclasses.replace(AccountSpec.mid(), namespaces=100, volume=9000.0)
POINTS_50K = 50_000
#: Fault knobs that change what the scrape holds in memory: retries after errors and cut
#: bodies, a region missing, other spellings and orders. No stalls or slow bodies: those only
#: wait (for real, 10 s and more), and waiting holds no memory.
FAULTS_ON = Faults(
    error_rate=0.2,
    unknown_rate=0.05,
    cut_rate=0.1,
    help_first_rate=0.5,
    space_after_comma_rate=0.5,
    empty_family_rate=0.3,
    odd_labels_rate=0.2,
)

#: The 50,000-point cases' server: the cap lifted (one request a minute, as a filtered
#: production scrape would see at the cap), the budget out of the way.
_SIM: dict[str, Any] = {"api_key": KEY, "point_cap": 10**9, "budget_per_hour": 10**6}


#: ``--phases``: one ``archiver scrape -v`` with a thread sampling /proc/self/statm every half
#: millisecond, printing the peak RSS (anonymous and file-backed: mapped code) of each step.
PHASES_CHILD = """\
import functools, os, sys, threading, time
page = os.sysconf("SC_PAGE_SIZE") / 2**20
label, peaks, done = ["imports"], {}, threading.Event()
def sample():
    with open("/proc/self/statm") as fh:
        while not done.is_set():
            fh.seek(0)
            size, rss, shared = (int(x) for x in fh.read().split()[:3])
            if rss > peaks.get(label[0], (0,))[0]:
                peaks[label[0]] = (rss, rss - shared, shared)
            time.sleep(0.0005)
threading.Thread(target=sample, daemon=True).start()
def step(owner, name, what):
    inner = getattr(owner, name)
    @functools.wraps(inner)
    def outer(*args, **kwargs):
        label[0] = what
        try:
            return inner(*args, **kwargs)
        finally:
            label[0] = "after " + what
    setattr(owner, name, outer)
from archiver.cli import collect, main
load_settings = collect.load_settings
def steps(**flags):
    # Called by the scrape command once it has set the process up and imported the scrape
    # (allocator settings, numpy kept out): patched in earlier, the steps would change that.
    from archiver import openmetrics
    from archiver.collect import client
    from archiver.store import write
    step(client.Client, "_receive", "fetch")
    step(openmetrics, "parse", "parse")
    step(write, "write_samples", "write")
    label[0] = "settings"
    return load_settings(**flags)
collect.load_settings = steps
try:
    main(["scrape", "-v"])
finally:
    done.set()
    time.sleep(0.01)
    for what, (rss, anon, mapped) in peaks.items():
        print(f"{what:>14}: {rss * page:6.1f} MB ({anon * page:.1f} anonymous, "
              f"{mapped * page:.1f} file-backed)", file=sys.stderr)
"""


class ForeignSimulator(MemoSimulator):
    """The simulator's endpoint (auth, budget, headers), with every complete metrics body
    replaced by :func:`benchmarks.foreign.foreign_body`: data our simulator did not make."""

    def __init__(self, points: int, **kwargs: Any) -> None:
        super().__init__(Account(AccountSpec.small()), **kwargs)
        self.points = points
        self._bodies: dict[int, bytes] = {}

    def handle(self, method: str, target: str, headers: Mapping[str, str]) -> SimResponse:
        response = super().handle(method, target, headers)
        if response.status != 200 or not target.startswith("/v1/metrics"):
            return response
        minute = self.served_minute(self.clock())
        if minute not in self._bodies:
            body = foreign_body(self.points, minute_ms=minute * 60_000, seed=minute % 1000)
            self._bodies = {minute: body}
        return dataclasses.replace(response, body=self._bodies[minute])


def _scrape_env(server: Any, archive: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(the environment of ``archiver scrape``, that of the bare fetch) for ``server``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    base |= {"BENCH_CA": str(server.ca_file), "BENCH_KEY": KEY}
    ours = base | {
        "TEMPORAL_CLOUD_API_KEY": KEY,
        "ARCHIVER_ENDPOINT": server.url,
        "ARCHIVER_CA_FILE": str(server.ca_file),
        "ARCHIVER_PHASE": "0",
        "ARCHIVER_DESCRIPTORS_EVERY": str(10**11),
        "ARCHIVER_ARCHIVE": str(archive),
    }
    return ours, base


def _peaks(sim: Simulator, repeats: int, scratch: Path) -> dict[str, Any]:
    """Peak RSS and wall time of ``archiver scrape`` and of a bare fetch, alternating."""
    ours_rss: list[float] = []
    theirs_rss: list[float] = []
    ours_t: list[float] = []
    summaries: list[str] = []
    codes: list[int] = []
    with serve(sim) as server:
        url = f"{server.url}/v1/metrics"
        for i in range(repeats):
            archive = scratch / f"scale-{i}"
            ours_env, base_env = _scrape_env(server, archive)
            sides = [("ours", [_bin("archiver"), "scrape", "-v"], ours_env)]
            sides.append(("theirs", [_bin("python"), "-c", HTTPX_FETCH, url], base_env))
            for side, argv, env in sides if i % 2 else reversed(sides):
                wall, rss, code, out, err = _timed(argv, env)
                if side == "theirs":
                    theirs_rss.append(rss)
                    continue
                ours_rss.append(rss)
                ours_t.append(wall)
                codes.append(code)
                lines = (out + err).strip().splitlines()
                summaries.append(next((ln for ln in reversed(lines) if " samples" in ln), ""))
            shutil.rmtree(archive, ignore_errors=True)
    return {
        "peak": max(ours_rss),
        "theirs_peak": max(theirs_rss),
        "wall": statistics.median(ours_t),
        "codes": codes,
        "scrape": summaries[-1],
    }


def _cases() -> list[tuple[str, Callable[[], Simulator]]]:
    return [
        ("simulator, fault knobs off", lambda: MemoSimulator(Account(SPEC_50K), **_SIM)),
        (
            "simulator, fault knobs on",
            lambda: Simulator(Account(SPEC_50K), faults=FAULTS_ON, **_SIM),
        ),
        ("foreign generator (benchmarks/foreign.py)", lambda: ForeignSimulator(POINTS_50K, **_SIM)),
    ]


def run(repeats: int = 5) -> list[dict[str, object]]:
    """Issue #14 item 6: a 50,000-point scrape under 200 MB, fault knobs off and on, and on a
    body our simulator did not make. Baseline: a bare httpx fetch of the same body."""
    rows: list[dict[str, object]] = []
    scratch = Path(tempfile.mkdtemp(prefix="bench-scrape-50k-"))
    try:
        for name, make in _cases():
            facts = _peaks(make(), repeats, scratch)
            peak = facts["peak"]
            rows.append(
                {
                    "what": f"one cron scrape of a 50,000-point minute, peak RSS ({name})",
                    "ours": f"{peak:.0f} MB",
                    "theirs": f"bare httpx fetch of the same body: {facts['theirs_peak']:.0f} MB",
                    "target": f"< {RSS_TARGET_MB} MB",
                    "met": peak < RSS_TARGET_MB,
                    "peak_rss_mb": round(peak, 1),
                    "ours_s": round(facts["wall"], 3),
                    "exit_codes": facts["codes"],
                    "scrape": facts["scrape"],
                    "runs": repeats,
                }
            )
            rows.append(_budget_row(name, make(), scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return rows


#: Memory limits a cron job might run under, tried from the largest down.
CGROUP_LIMITS_MB = [RSS_TARGET_MB, 160, 140, 120, 100, 80]


def _budget_row(name: str, sim: Simulator, scratch: Path) -> dict[str, object]:
    """The smallest memory cgroup the same scrape completes in (page cache dropped first)."""
    what = f"one cron scrape of a 50,000-point minute, inside a memory cgroup ({name})"
    why_not = cgroup.available()
    if why_not is not None:
        return {"what": what, "target": f"fits {RSS_TARGET_MB} MB", "met": None, "skipped": why_not}
    smallest = None
    with serve(sim) as server:
        for i, limit in enumerate(CGROUP_LIMITS_MB):
            env, _ = _scrape_env(server, scratch / f"cgroup-{i}")
            if not cgroup.fits([_bin("archiver"), "scrape", "-v"], env, limit):
                break
            smallest = limit
    return {
        "what": what,
        "ours": "does not fit" if smallest is None else f"fits {smallest} MB",
        "theirs": f"limits tried: {', '.join(map(str, CGROUP_LIMITS_MB))} MB",
        "target": f"fits {RSS_TARGET_MB} MB (memory + swap, library code charged too)",
        "met": smallest is not None,
        "smallest_fit_mb": smallest,
    }


def phases() -> None:
    """Print where one scrape's peak RSS goes, step by step, for each case's body."""
    for name, make in _cases():
        with serve(make()) as server, tempfile.TemporaryDirectory() as scratch:
            ours_env, _ = _scrape_env(server, Path(scratch) / "archive")
            _, rss, _, _, err = _timed([_bin("python"), "-c", PHASES_CHILD], ours_env)
            lines = [ln for ln in err.splitlines() if " MB (" in ln]
            print(f"{name}: peak {rss:.0f} MB", *lines, sep="\n  ")


if __name__ == "__main__":
    import sys

    if "--phases" in sys.argv:
        phases()
        sys.exit(0)
    for result in run(repeats=2 if "--quick" in sys.argv else 5):
        print(json.dumps(result))
