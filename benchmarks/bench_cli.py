"""``archiver --help`` vs ``python -c "import click"``: what a user waits for at the prompt.

Run with ``python -m benchmarks.bench_cli``. Both are fresh processes from the same venv,
interleaved with alternating order, median wall time of ``repeats`` runs. ``python -c pass`` is
timed beside them, so the interpreter's own start-up can be read off the same run.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET = 2.0


def _wall(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def run(repeats: int = 15, quick: bool = False) -> list[dict[str, object]]:
    """Median wall time of ``archiver --help`` against importing click."""
    python = str(Path(sys.executable).with_name("python"))
    archiver = str(Path(sys.executable).with_name("archiver"))
    sides = {
        "ours": [archiver, "--help"],
        "theirs": [python, "-c", "import click"],
        "bare": [python, "-c", "pass"],
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    for argv in sides.values():
        _wall(argv)  # warm the page cache; not timed
    for i in range(repeats):
        order = list(sides.items())
        for name, argv in order if i % 2 else reversed(order):
            times[name].append(_wall(argv))
    ours, theirs, bare = (statistics.median(times[n]) for n in ("ours", "theirs", "bare"))
    ratio = ours / theirs
    return [
        {
            "what": "archiver --help (process start to exit)",
            "theirs": 'python -c "import click"',
            "ours_s": round(ours, 4),
            "theirs_s": round(theirs, 4),
            "ratio": round(ratio, 2),
            "target": f"ours/theirs < {TARGET:g}x",
            "met": ratio < TARGET,
            "python_startup_s": round(bare, 4),
            "runs": repeats,
        }
    ]


if __name__ == "__main__":
    import json

    for result in run():
        print(json.dumps(result))
