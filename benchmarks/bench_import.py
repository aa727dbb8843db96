"""``archiver import``: a day of ~2,000 series a minute, from a file and from a local Prometheus.

Two data sources: the simulator (its account sized to ~2,000 samples a minute) and a generator
that is not the simulator (:func:`synthetic_day`: 2,000 random-walk series of 20 metrics).
Each is rendered to an OpenMetrics file, an hour of families at a time.

* File rows: ``archiver import openmetrics FILE`` in a fresh process (the real CLI) against
  the baseline of reading the whole file and handing it to ``parse`` + ``write_samples`` at once
  (what the private function of the old ``promtool tsdb dump`` + sed path did). Wall time and
  peak RSS of each child from ``wait4`` (bench_scrape's launcher). Target: 200,000 samples/s
  and under 1 GB.
  Beside wall time, each child's CPU seconds (user + sys, from ``wait4``), which the load of
  other processes distorts less, and the parser alone on the same file (its blocks through
  ``parse``, nothing staged or written): the ceiling of any import through the scrape's parser.
* Prometheus row (synthetic day): the archive is exported (``export openmetrics``), backfilled
  into a TSDB with ``promtool tsdb create-blocks-from openmetrics``, served by a real
  ``prometheus`` on 127.0.0.1, then ``archiver import prometheus`` reads it back into a fresh
  archive. Baseline: ``promtool tsdb dump`` of the same TSDB to /dev/null (the old path's
  first step, which alone does not land anything in an archive).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.bench_scrape import _timed

SERIES = 2_000
METRICS = 20
NAMESPACES = 10
TARGET_RATE = 200_000
TARGET_RSS_MB = 1024
HOUR = 60
SLICE_MINUTES = 360

BASELINE = """\
import sys
from archiver.openmetrics import parse
from archiver.store.archive import Archive
from archiver.store.write import write_samples
body = open(sys.argv[1], "rb").read()
archive = Archive.open(sys.argv[2])
with archive.lock("write"):
    print(write_samples(archive, parse(body).samples))
"""


PARSE_ONLY = """\
import sys
from archiver.history.importfile import BLOCK_BYTES, _blocks
from archiver.openmetrics import parse
print(sum(parse(text).samples.height for _, _, text in _blocks(sys.argv[1], BLOCK_BYTES)))
"""


#: Starts the child from a small process: Linux keeps a process's peak RSS across exec, so a
#: child forked straight from this one (which holds the generated day) would report ours.
LAUNCHER = """\
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as fh:
    json.dump({"wall": time.perf_counter() - started, "maxrss_kb": usage.ru_maxrss,
               "cpu": usage.ru_utime + usage.ru_stime,
               "code": os.waitstatus_to_exitcode(status)}, fh)
"""


def _measured(argv: list[str]) -> tuple[float, float, float, int, str, str]:
    """(wall s, CPU s = user + sys, peak RSS MB, exit code, stdout, stderr) of one child, the
    CPU and RSS from ``wait4``."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile(suffix=".json") as measure,
    ):
        launcher = [sys.executable, "-S", "-c", LAUNCHER, measure.name]
        subprocess.run([*launcher, *argv], env={}, stdout=out, stderr=err, check=False)
        facts = json.loads(Path(measure.name).read_text() or "{}")
        out.seek(0)
        err.seek(0)
        return (
            float(facts.get("wall", "nan")),
            float(facts.get("cpu", "nan")),
            facts.get("maxrss_kb", 0) / 1024,  # KiB on Linux
            int(facts.get("code", -1)),
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def _start(minutes: int) -> int:
    """Yesterday's midnight (ms): recent enough for a TSDB's retention, a closed day."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=1)
    return int(start.timestamp() * 1000) if minutes <= 1440 else 0


def synthetic_day(path: Path, minutes: int, start_ms: int) -> int:
    """2,000 random-walk gauges (20 metrics x 10 namespaces x 10 queues), not the simulator."""
    from archiver.openmetrics import render

    rng = np.random.default_rng(7)
    metric = [f"bench_metric_{i % METRICS:02d}" for i in range(SERIES)]
    labels = [
        [
            {"key": "task_queue", "value": f"queue-{(i // METRICS) % 10}"},
            {"key": "temporal_namespace", "value": f"ns-{(i // (METRICS * 10)) % NAMESPACES}.acct"},
        ]
        for i in range(SERIES)
    ]
    level = rng.uniform(0, 100, SERIES)
    total = 0
    with path.open("wb") as out:
        for hour in range(0, minutes, HOUR):
            span = min(HOUR, minutes - hour)
            steps = rng.normal(0, 1, (span, SERIES)).cumsum(axis=0) + level
            level = steps[-1]
            ts = np.repeat(start_ms + (hour + np.arange(span)) * 60_000, SERIES)
            frame = pl.DataFrame(
                {
                    "metric": metric * span,
                    "labels": labels * span,
                    "ts": pl.Series(ts).cast(pl.Datetime("ms", "UTC")),
                    "value": np.round(steps.ravel(), 3),
                }
            )
            out.write(render(frame, eof=False))
            total += frame.height
        out.write(b"# EOF\n")
    return total


def simulator_day(path: Path, minutes: int, start_ms: int) -> int:
    """The simulator's account, sized to about 2,000 samples a minute."""
    from archiver.openmetrics import render
    from archiver.simulator import Account, AccountSpec

    account = Account(dataclasses.replace(AccountSpec.small(), namespaces=15))
    total = 0
    with path.open("wb") as out:
        for hour in range(0, minutes, HOUR):
            frame = account.windows(start_ms + hour * 60_000, min(HOUR, minutes - hour))
            out.write(render(frame, eof=False))
            total += frame.height
        out.write(b"# EOF\n")
    return total


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _file_rows(
    source: str, path: Path, samples: int, sliced: Path, sliced_samples: int, work: Path
) -> list[dict[str, object]]:
    archiver = [_bin("archiver"), "import", "openmetrics"]
    ours = _measured([*archiver, "--archive", str(work / "ours"), str(path)])
    theirs = _measured([sys.executable, "-c", BASELINE, str(sliced), str(work / "theirs")])
    parse_only = _measured([sys.executable, "-c", PARSE_ONLY, str(path)])
    if ours[3] != 0 or theirs[3] != 0 or parse_only[3] != 0:
        return [
            {
                "what": f"import openmetrics, {source}",
                "met": None,
                "skipped": f"exit {ours[3]}/{theirs[3]}/{parse_only[3]}: {ours[5][-300:]} "
                f"{theirs[5][-300:]} {parse_only[5][-300:]}",
            }
        ]
    rate = samples / ours[0]
    theirs_rate = sliced_samples / theirs[0]
    return [
        {
            "what": f"import openmetrics: a day of {source} ({samples:,} samples), wall seconds",
            "ours_s": round(ours[0], 2),
            "cpu_s": round(ours[1], 2),
            "samples_per_cpu_s": round(samples / ours[1]),
            "theirs": f"whole file in one parse + write_samples, on {sliced_samples:,} samples",
            "theirs_s": round(theirs[0], 2),
            "theirs_cpu_s": round(theirs[1], 2),
            # per sample: the baseline holds its whole file parsed, so it runs on a slice
            "ratio": round(theirs_rate / rate, 2),
            "theirs_samples_per_s": round(theirs_rate),
            "samples_per_s": round(rate),
            "peak_rss_mb": round(ours[2]),
            "theirs_peak_rss_mb": round(theirs[2]),
            # the ceiling: the same file's blocks through the parser alone, one process
            "parse_only_s": round(parse_only[0], 2),
            "parse_only_cpu_s": round(parse_only[1], 2),
            "parse_only_samples_per_s": round(samples / parse_only[0]),
            "parse_only_samples_per_cpu_s": round(samples / parse_only[1]),
            "target": f">= {TARGET_RATE:,} samples/s, < {TARGET_RSS_MB} MB",
            "met": rate >= TARGET_RATE and ours[2] < TARGET_RSS_MB,
        }
    ]


@contextlib.contextmanager
def _prometheus(data: Path) -> Iterator[str]:
    """A real Prometheus serving the TSDB at ``data`` on 127.0.0.1 (no scraping)."""
    import httpx

    from tests.history.promtools import free_port

    config = data.parent / "prometheus.yml"
    config.write_text(json.dumps({"global": {}, "scrape_configs": []}))
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("prometheus") or "prometheus", f"--config.file={config}",
         f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}",
         "--storage.tsdb.retention.time=30d"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _prometheus_row(
    archive: Path, samples: int, minutes: int, start_ms: int, work: Path
) -> dict[str, object]:
    what = f"import prometheus: a day of the generator's {SERIES:,} series from a local Prometheus"
    promtool = shutil.which("promtool")
    if promtool is None or shutil.which("prometheus") is None:
        return {"what": what, "met": None, "skipped": "prometheus/promtool not installed"}
    exported = work / "export.om"
    subprocess.run([_bin("archiver"), "export", "openmetrics", "--archive", str(archive),
                    "--output", str(exported)], check=True, capture_output=True)  # fmt: skip
    data = work / "tsdb"
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(exported),
                    str(data)], check=True, capture_output=True)  # fmt: skip
    (data / "wal").mkdir(exist_ok=True)
    with open("/dev/null", "wb") as null:
        started = time.perf_counter()
        subprocess.run([promtool, "tsdb", "dump", str(data)], check=True, stdout=null)
        dump_s = time.perf_counter() - started
    since = datetime.fromtimestamp(start_ms / 1000, UTC).isoformat()
    until = datetime.fromtimestamp(start_ms / 1000 + minutes * 60, UTC).isoformat()
    with _prometheus(data) as url:
        ours = _timed([_bin("archiver"), "import", "prometheus",
                       "--archive", str(work / "fromprom"), "--url", url,
                       "--match", '{__name__=~"bench_metric_.*"}',
                       "--since", since, "--until", until], {})  # fmt: skip
    if ours[2] != 0:
        return {"what": what, "met": None, "skipped": f"exit {ours[2]}: {ours[4][-300:]}"}
    return {
        "what": f"{what} ({samples:,} samples), wall seconds",
        "ours_s": round(ours[0], 2),
        "theirs": "promtool tsdb dump (no archive)",
        "theirs_s": round(dump_s, 2),
        "ratio": round(ours[0] / dump_s, 2),
        "samples_per_s": round(samples / ours[0]),
        "peak_rss_mb": round(ours[1]),
        "target": f"< {TARGET_RSS_MB} MB",
        "met": ours[1] < TARGET_RSS_MB,
        "output": ours[3].strip(),
    }


SOURCES = {"generator": synthetic_day, "simulator": simulator_day}


def run(
    repeats: int = 1,
    quick: bool = False,
    sources: tuple[str, ...] = tuple(SOURCES),
    prometheus: bool = True,
) -> list[dict[str, object]]:
    minutes = 120 if quick else 1440
    start_ms = _start(minutes)
    rows: list[dict[str, object]] = []
    load_before = [round(x, 1) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        root = Path(tmp)
        for name in sources:
            make = SOURCES[name]
            source = f"the {name}"
            work = root / name
            work.mkdir()
            path = work / "day.om"
            samples = make(path, minutes, start_ms)
            # The baseline parses its whole file at once (~1.5 GB per million samples): it
            # runs on the first hours only, to stay within the memory one engineer may hold.
            sliced = work / "slice.om"
            sliced_samples = make(sliced, min(minutes, SLICE_MINUTES), start_ms)
            rows.extend(_file_rows(source, path, samples, sliced, sliced_samples, work))
            if make is synthetic_day and prometheus:
                rows.append(_prometheus_row(work / "ours", samples, minutes, start_ms, work))
            path.unlink()
    load = [round(x, 1) for x in os.getloadavg()]
    return [row | {"load_before": load_before, "load_after": load} for row in rows]


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_import", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="2 hours instead of a day")
    parser.add_argument(
        "--source", choices=sorted(SOURCES), action="append", help="only this data (repeatable)"
    )
    parser.add_argument(
        "--files-only", action="store_true", help="skip the Prometheus row (file rows only)"
    )
    args = parser.parse_args(argv)
    sources = tuple(args.source or SOURCES)
    for row in run(quick=args.quick, sources=sources, prometheus=not args.files_only):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
