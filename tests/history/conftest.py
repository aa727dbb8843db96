"""Fixtures of the history tests: OpenMetrics files rendered from the simulator's account."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from archiver.openmetrics import render
from archiver.simulator import Account

#: 2025-03-03T00:00Z, a whole minute
START_MS = 1_740_960_000_000


@pytest.fixture
def om_file(tmp_path: Path, small: Account) -> Callable[..., tuple[Path, pl.DataFrame]]:
    """Factory: ``om_file(minutes, start_ms=..., gz=False)`` -> (path, the samples in it)."""

    def make(
        minutes: int, start_ms: int = START_MS, gz: bool = False, name: str = "history.om"
    ) -> tuple[Path, pl.DataFrame]:
        frame = small.windows(start_ms, minutes)
        body = render(frame)
        path = tmp_path / (name + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(body) if gz else body)
        return path, frame

    return make
