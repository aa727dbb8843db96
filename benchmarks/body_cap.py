"""Peak memory of one ``archiver scrape`` facing an oversized answer, with and without the
body-size cap (issue 15 case 9: a 50 MB body peaked at 467 MB; 300 MB aborted polars).

A plain ``http.server`` on 127.0.0.1 (not the simulator: a generator of its own) serves one
OpenMetrics body of ``--mb`` megabytes, ~150 bytes a sample. Two fresh ``archiver scrape``
processes, interleaved: the default cap (``ARCHIVER_MAX_BODY_BYTES`` 32 MiB: the body is
refused) and the cap raised above the body (the baseline: it is read, parsed and stored). Peak
RSS is each child's ``ru_maxrss`` from ``wait4``::

    python -m benchmarks.body_cap --mb 50 --repeats 3
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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
