"""The real Prometheus binaries for the history tests: where they are, and their output read
back as (series, ts ms, value) rows comparable with the archive."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

from archiver.openmetrics import series_text

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (apt-get install prometheus; CI installs it)"
)
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="prometheus not installed (apt-get install prometheus; CI installs it)",
)

_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def dump(tsdb: Path) -> pl.DataFrame:
    """``promtool tsdb dump`` of a TSDB directory as series, ts (ms), value."""
    (tsdb / "wal").mkdir(exist_ok=True)  # dump wants a WAL even for blocks made offline
    assert PROMTOOL is not None
    out = subprocess.run(
        [PROMTOOL, "tsdb", "dump", str(tsdb)], capture_output=True, check=True, timeout=60
    ).stdout.decode()
    rows: list[tuple[str, int, float]] = []
    for line in out.splitlines():
        labels_text, value, ts = line.rsplit(" ", 2)
        labels = {k: v.encode().decode("unicode_escape") for k, v in _PAIR.findall(labels_text)}
        name = labels.pop("__name__")
        rows.append((series_text(name, labels), int(ts), float(value)))
    return pl.DataFrame(rows, schema=["series", "ts", "value"], orient="row").sort("series", "ts")
