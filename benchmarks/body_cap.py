"""Peak memory of one ``archiver scrape`` facing an oversized answer, with and without the
body-size cap (issue 15 case 9: a 50 MB body peaked at 467 MB; 300 MB aborted polars).

A plain ``http.server`` on 127.0.0.1 (not the simulator: a generator of its own) serves one
OpenMetrics body of ``--mb`` megabytes, ~150 bytes a sample. Two fresh ``archiver scrape``
processes, interleaved: the default cap (``ARCHIVER_MAX_BODY_BYTES`` 32 MiB: the body is
refused) and the cap raised above the body (the baseline: it is read, parsed and stored). Peak
RSS is each child's ``ru_maxrss`` from ``wait4``::

    python -m benchmarks.body_cap --mb 50 --repeats 3 [--out benchmarks/body_cap.md]

``--out`` writes the section BENCHMARKS.md carries.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

KEY = "bench-key-0123"


def body(megabytes: int, minute_s: int) -> bytes:
    """An OpenMetrics answer of about ``megabytes`` MB: one gauge family, one sample a series."""
    head = (
        b"# TYPE temporal_cloud_v1_approximate_backlog_count gauge\n"
        b"# HELP temporal_cloud_v1_approximate_backlog_count backlog\n"
    )
    line = (
        'temporal_cloud_v1_approximate_backlog_count{{temporal_namespace="ns{ns}.acme1",'
        'temporal_task_queue="queue-{i:07d}",region="aws-us-east-1"}} {v}.0 {ts}\n'
    )
    n = megabytes * 1_000_000 // 150
    rows = "".join(line.format(ns=i % 7, i=i, v=i % 97, ts=minute_s) for i in range(n))
    return head + rows.encode() + b"# EOF\n"


def serve(payload: bytes) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/openmetrics-text; version=1.0.0")
            self.send_header("X-Completeness", "complete")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Quiet(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # the capped scrape hangs up mid-body on purpose

    server = Quiet(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def scrape(url: str, cap: int | None) -> tuple[float, float, int, str]:
    """(peak RSS MB, seconds, exit code, last stderr line) of one fresh scrape process."""
    with tempfile.TemporaryDirectory(prefix="archiver-bodycap-") as tmp:
        env = os.environ | {
            "TEMPORAL_CLOUD_API_KEY": KEY,
            "ARCHIVER_ENDPOINT": url,
            "ARCHIVER_ARCHIVE": f"{tmp}/archive",
            "ARCHIVER_PHASE": "0",
            "ARCHIVER_OFFSET": "1",
            "ARCHIVER_DESCRIPTORS_EVERY": "99999999999",
        }
        if cap is not None:
            env["ARCHIVER_MAX_BODY_BYTES"] = str(cap)
        began = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "archiver", "scrape"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        err = proc.stderr.read().decode(errors="replace")
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        took = time.perf_counter() - began
    last = (err.strip().splitlines() or [""])[-1][:160]
    return usage.ru_maxrss / 1024, took, proc.returncode, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write the BENCHMARKS.md section here")
    args = parser.parse_args()
    minute = int(time.time()) // 60 * 60
    payload = body(args.mb, minute)
    server, url = serve(payload)
    runs: dict[str, list[tuple[float, float, int, str]]] = {"capped": [], "uncapped": []}
    try:
        for _ in range(args.repeats):
            runs["capped"].append(scrape(url, None))
            runs["uncapped"].append(scrape(url, len(payload) + 1))
    finally:
        server.shutdown()
    result = {
        "body_bytes": len(payload),
        "repeats": args.repeats,
        **{
            name: {
                "peak_rss_mb_median": round(statistics.median(r[0] for r in rs), 1),
                "seconds_median": round(statistics.median(r[1] for r in rs), 2),
                "exit_codes": sorted({r[2] for r in rs}),
                "last_line": rs[-1][3],
            }
            for name, rs in runs.items()
        },
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(markdown(result), encoding="utf-8")
    return 0


def markdown(r: dict[str, Any]) -> str:
    """The BENCHMARKS.md section for one run."""
    capped, uncapped = r["capped"], r["uncapped"]
    return "\n".join(
        [
            "## Body-size cap (`python -m benchmarks.body_cap`, not part of `make bench`)",
            "",
            f"One `archiver scrape` process against a plain local HTTP server (not the "
            f"simulator) answering {r['body_bytes'] / 1e6:.0f} MB of OpenMetrics; median of "
            f"{r['repeats']}, interleaved; peak RSS is the child's `ru_maxrss` from `wait4`.",
            "",
            "| run | peak RSS | time | exit |",
            "|---|---|---|---|",
            f"| default cap (32 MiB): refused | {capped['peak_rss_mb_median']} MB | "
            f"{capped['seconds_median']} s | {capped['exit_codes']} |",
            f"| baseline: cap raised above the body, read and stored | "
            f"{uncapped['peak_rss_mb_median']} MB | {uncapped['seconds_median']} s | "
            f"{uncapped['exit_codes']} |",
            "",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
