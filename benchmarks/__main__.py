"""``python -m benchmarks`` (``make bench``): every benchmark, side by side with the alternative.

Each ``bench_*`` module has ``run(repeats) -> list[dict]``; a row holds at least ``what``,
``target`` and ``met`` (True, False, or None when skipped, with ``skipped`` saying why), and
usually ``ours_s``/``theirs_s`` (or ``ours``/``theirs`` in another unit) and ``ratio``. Rows are
printed as they finish; the run then writes ``build/bench/BENCHMARKS.md`` and
``build/bench/results.json`` (untracked: running the benchmarks never dirties the tree).
``--publish`` (``make bench-publish``) copies the last run to the tracked ``BENCHMARKS.md`` and
``benchmarks/results.json``, the published record; it refuses a ``--quick`` or ``--only`` run,
so a partial table never replaces the published one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata
import inspect
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: where a run writes (untracked); ``--publish`` copies from here to the tracked files
OUT = ROOT / "build" / "bench"

#: name -> (module, repeats, quick repeats, how it is measured)
BENCHES: dict[str, tuple[str, int, int, str]] = {
    "parse": (
        "benchmarks.bench_parse",
        5,
        2,
        "In-process, one realistic 30,000-sample body per timestamp unit: "
        "`archiver.openmetrics.parse(bytes)` against prometheus_client's OpenMetrics and classic "
        "text parsers on the decoded text (both must count the same samples and read the same "
        "timestamp, else the row says skipped). Interleaved, median of 5. Ratio = their time / "
        "ours (higher is better).",
    ),
    "scrape": (
        "benchmarks.bench_scrape",
        7,
        2,
        "Two fresh processes per run against the simulator on a real HTTPS socket (one "
        "complete ~30,000-sample response; the body is rendered once per minute and served "
        "from memory, so the server's rendering is on neither side): `archiver scrape -v` "
        "into a fresh archive (fsync on, as in production) vs `python -c` with `httpx.get(...)"
        ".content`. Interleaved, order alternating, median of 7 after a warm-up round. Peak "
        "RSS is the child's `ru_maxrss` from `wait4`, taken by a small launcher process. Each "
        "scrape starts from an empty archive (a scrape refuses a minute it already holds), so "
        "it reads no earlier files. Ratio = ours / theirs (lower is better).",
    ),
    "scrape_50k": (
        "benchmarks.bench_scrape_scale",
        5,
        2,
        "Like `scrape`, at the 50,000-point cap: the simulator widened to ~50,000 samples a "
        "minute with its fault knobs off and on (errors, cut bodies, a missing region, other "
        "spellings), and a body from benchmarks/foreign.py (not the simulator). Each run: "
        "`archiver scrape -v` into a fresh archive and a bare httpx fetch of the same body, "
        "alternating; the row shows the worst peak RSS of 5 runs against the fetch's.",
    ),
    "storage": (
        "benchmarks.bench_storage",
        3,
        1,
        "Bytes on disk per stored sample, see benchmarks/bench_storage.py: a simulated day "
        "written through `store.write_samples` and `compact`, against promtool TSDB blocks of "
        "the same samples and a naive Parquet dump. Ratio = ours / theirs (lower is better).",
    ),
    "reports": (
        "benchmarks.bench_reports",
        3,
        1,
        "A simulated week of ~10,000 series a minute (~100M samples), laid out as `archiver "
        "compact` leaves it (built once, cached in benchmarks/.cache/). Ours: "
        "`archiver.connect(archive)` + `reports.cardinality|backlog|gaps` over the week, a "
        "fresh connection each run, as `archiver report` does. Theirs: a fresh "
        "`duckdb.connect()` and one hand-written query over the same files (in "
        "bench_reports.py). The answers are compared cell by cell first (floats to 1e-4, the "
        "reports' rounding, since parallel sums differ in the last bits); a mismatch makes the "
        "row skipped. The scrape log has 4 failed runs a day, so gaps has gaps to find. "
        "Before a build, a small day is built both ways and the files compared. Interleaved, "
        "median of 3. Ratio = ours / theirs (lower is better).",
    ),
    "import": (
        "benchmarks.bench_import",
        1,
        1,
        "A day of ~2,000 series a minute (2.9M samples; --quick: 2 hours), from the simulator "
        "and from a generator that is not the simulator, rendered to OpenMetrics files. "
        "`archiver import openmetrics FILE` in a fresh process against one parse + "
        "write_samples of a whole file (run on the first 6 hours: it holds its file parsed). "
        "Then the generator's archive is exported, backfilled with promtool into a TSDB that a "
        "real prometheus serves on 127.0.0.1, and `archiver import prometheus` reads it back; "
        "its baseline is `promtool tsdb dump` of the same TSDB. Wall time and peak RSS of each "
        "child from wait4. One run each (minutes per run); ratio = per-sample time ours / "
        "theirs (lower is better).",
    ),
    "cli": (
        "benchmarks.bench_cli",
        15,
        5,
        'Fresh processes from the same venv: `archiver --help` vs `python -c "import '
        'click"`, interleaved, median of 15 (`python -c pass` timed beside them). Ratio = '
        "ours / theirs (lower is better).",
    ),
}
_VERSIONS = ("polars", "duckdb", "pyarrow", "httpx", "click", "prometheus_client", "numpy")


def machine_facts() -> dict[str, Any]:
    """What the numbers were measured on."""
    facts: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    for name in _VERSIONS:
        try:
            facts[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            facts[name] = None
    facts["promtool"] = _promtool_version()
    facts["commit"] = _git("rev-parse", "--short", "HEAD")
    facts["worktree_dirty"] = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _promtool_version() -> str | None:
    promtool = shutil.which("promtool")
    if promtool is None:
        return None
    done = subprocess.run([promtool, "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).splitlines()[0] if done.returncode == 0 else None


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_bench(name: str, quick: bool) -> tuple[list[dict[str, Any]], float]:
    """The rows of one benchmark (one error row if it crashed) and its wall time."""
    module_name, repeats, quick_repeats, _ = BENCHES[name]
    started = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return [{"what": name, "met": None, "skipped": f"{module_name} is not there yet"}], 0.0
    kwargs: dict[str, Any] = {"repeats": quick_repeats if quick else repeats}
    if "quick" in inspect.signature(module.run).parameters:
        kwargs["quick"] = quick
    try:
        rows: list[dict[str, Any]] = module.run(**kwargs)
    except Exception as exc:  # one broken benchmark must not hide the others' results
        traceback.print_exc()
        rows = [{"what": name, "met": None, "skipped": f"crashed: {type(exc).__name__}: {exc}"}]
    return [{"bench": name} | row for row in rows], time.perf_counter() - started


# -- rendering -------------------------------------------------------------------------------


def _unit(row: dict[str, Any]) -> str:
    if row.get("bench") == "storage" and "second" not in str(row.get("what")):
        return " B/sample"
    return " s" if "second" in str(row.get("what")) else ""


def _cells(row: dict[str, Any]) -> tuple[str, str, str, str, str, str]:
    """what, ours, theirs, ratio, target, met: the published table's columns."""
    what = str(row.get("what", ""))
    label = row.get("theirs")
    if "ours_s" in row:
        ours = _num(row.get("ours_s"), " s")
        theirs = f"{label}: {_num(row.get('theirs_s'), ' s')}" if label else ""
    else:
        ours = _num(row.get("ours"), _unit(row))
        theirs_value = row.get("theirs")
        theirs = (
            _num(theirs_value, _unit(row))
            if isinstance(theirs_value, int | float)
            else str(theirs_value or "")
        )
    if row.get("peak_rss_mb") is not None:
        ours += f", peak RSS {row['peak_rss_mb']:.0f} MB"
        if row.get("theirs_peak_rss_mb") is not None:
            theirs += f", peak RSS {row['theirs_peak_rss_mb']:.0f} MB"
    ratio = "" if row.get("ratio") is None else f"{row['ratio']}x"
    met = row.get("met")
    if row.get("skipped"):
        verdict = f"skipped: {row['skipped']}"
    else:
        verdict = {True: "yes", False: "**no**", None: "—"}[met]
    return what, ours, theirs, ratio, str(row.get("target", "")), verdict


def _num(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}{unit}"
    return f"{value}{unit}"


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def render_markdown(results: dict[str, Any]) -> str:
    facts = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m benchmarks`); the raw numbers are in "
        "[benchmarks/results.json](benchmarks/results.json). Every ratio compares two things "
        "measured side by side in the same run (interleaved, median of several runs), because "
        "this machine is small and shared; the absolute times are beside each ratio.",
        "",
        "## Machine",
        "",
        f"- date: {facts['date']}, commit {facts['commit']}"
        + (" (with uncommitted changes)" if facts["worktree_dirty"] else ""),
        f"- CPU: {facts['cpu']}, {facts['cores']} cores; memory {facts['memory_gb']} GB; "
        f"{facts['os']}",
        f"- load average (1, 5, 15 min): before {results['load_before']}, after "
        f"{results['load_after']}",
        "- Python {python}; polars {polars}, duckdb {duckdb}, pyarrow {pyarrow}, httpx {httpx}, "
        "click {click}, prometheus_client {prometheus_client}, numpy {numpy}".format(**facts),
        f"- promtool: {facts['promtool'] or 'not installed (its comparison is skipped)'}",
        f"- total time: {results['total_s']:.0f} s" + (" (--quick)" if results["quick"] else ""),
    ]
    if results.get("note"):
        lines.append(f"- note: {results['note']}")
    lines += [
        "",
        "## Results",
        "",
        "| what | ours | theirs | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        lines.append("| " + " | ".join(_escape(c) for c in _cells(row)) + " |")
    lines += ["", "## How measured", ""]
    for name, (_, _, _, how) in BENCHES.items():
        mine = [r for r in results["rows"] if r.get("bench") == name]
        if not mine:
            continue
        seconds = results["bench_s"].get(name)
        took = f" ({seconds:.0f} s)" if seconds else ""
        lines.append(f"- **{name}**{took}: {how}")
        for row in mine:
            extra = _extras(row)
            if extra:
                lines.append(f"  - {row.get('what')}: {extra}")
    # Runs that are not part of `make bench` write their own sections, carried over as they
    # stand: `make crash` (half an hour), the body-size cap (one command), `make bench-scale` (a
    # quarter of an hour); the import's and `make bench-backlog`'s (an hour to build its
    # archives) sections are written from their runs, beside the import rows measured here.
    for extra in ("crash.md", "body_cap.md", "import.md", "backlog.md", "scale.md"):
        if (HERE / extra).is_file():
            lines += ["", (HERE / extra).read_text(encoding="utf-8").rstrip()]
    return "\n".join(lines) + "\n"


_SHOWN = {"bench", "what", "theirs", "ours", "ours_s", "theirs_s", "ratio", "target", "met"}


def _extras(row: dict[str, Any]) -> str:
    parts = []
    for key, value in row.items():
        if key in _SHOWN or key.endswith("_all_s") or key == "skipped":
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


def _print_row(row: dict[str, Any]) -> None:
    what, ours, theirs, ratio, target, met = _cells(row)
    print(f"  {what}\n    ours {ours} | theirs {theirs} | {ratio} | {target} | {met}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", choices=sorted(BENCHES), action="append", help="run only this")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--note", help="a remark for the machine facts (e.g. a busy machine)")
    parser.add_argument(
        "--publish",
        action="store_true",
        help=f"copy the last full run from {OUT.relative_to(ROOT)}/ to the tracked files",
    )
    args = parser.parse_args(argv)
    if args.publish:
        return publish()

    names = args.only or list(BENCHES)
    out_dir = OUT
    json_path = OUT / "results.json"
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine_facts(),
        "load_before": _load(),
        "quick": args.quick,
        "only": args.only,
        "note": args.note,
        "rows": [],
        "bench_s": {},
    }
    print(f"benchmarks on {results['machine']['cpu']}, load {results['load_before']}", flush=True)
    for name in names:
        print(f"[{name}]", flush=True)
        rows, seconds = run_bench(name, args.quick)
        results["bench_s"][name] = round(seconds, 1)
        for row in rows:
            _print_row(row)
        results["rows"].extend(rows)
        print(f"  ({seconds:.0f} s)", flush=True)
    results["load_after"] = _load()
    results["total_s"] = round(time.perf_counter() - started, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    md_path = out_dir / "BENCHMARKS.md"
    md_path.write_text(render_markdown(results), encoding="utf-8")
    print(
        f"wrote {md_path.relative_to(ROOT)} and {json_path.relative_to(ROOT)} "
        f"in {results['total_s']:.0f} s",
        flush=True,
    )
    return 0


def publish() -> int:
    """Copy the last run to ``BENCHMARKS.md`` and ``benchmarks/results.json`` (full runs only)."""
    md, raw = OUT / "BENCHMARKS.md", OUT / "results.json"
    if not (md.exists() and raw.exists()):
        print(f"nothing to publish: run `make bench` first (it writes {OUT.relative_to(ROOT)}/)")
        return 2
    results = json.loads(raw.read_text(encoding="utf-8"))
    if results.get("quick") or results.get("only"):
        print("the last run was --quick or --only: publish a full `make bench` run")
        return 2
    shutil.copyfile(md, ROOT / "BENCHMARKS.md")
    shutil.copyfile(raw, HERE / "results.json")
    print("published BENCHMARKS.md and benchmarks/results.json; commit them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
