"""``archiver import prometheus``: history from a Prometheus-compatible query API.

The import asks ``/api/v1/series`` which series ``--match`` selects, then walks the time range
in windows, and in each window asks ``query_range`` at a 60 s step, one metric at a time, for
``last_over_time(<selector>[1m])`` evaluated one millisecond before each minute ends: each
minute's last sample, which for Temporal Cloud's minute-stamped data is the sample itself,
landed on the minute it belongs to (a plain selector would repeat a sample for the five
minutes of Prometheus' lookback). Windows are sized to the servers' 11,000 points per series
and to :data:`POINTS_PER_REQUEST` points per window (all metrics' answers together).

Labels the scraper added (``job``, ``instance``, and any named in ``drop_labels``) are dropped,
so imported series are the series ``archiver scrape`` stores. Samples go through the scrape's
writer (stored once); each window's minutes are recorded in the scrape log with the source
``prometheus:<url>``; the windows done are kept in ``<archive>/_archiver/`` so that a rerun of
an interrupted import goes on where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from archiver.history import provenance
from archiver.history.promapi import MAX_POINTS_PER_SERIES, PromAPI, metric_selector
from archiver.store import write as store

if TYPE_CHECKING:
    import polars as pl

    from archiver.store.archive import Archive

STEP_S = 60
#: Points one query_range answer may carry (about 60 bytes of JSON each).
POINTS_PER_REQUEST = 250_000
DEFAULT_DROP = ("job", "instance")
_NAMESPACE = "temporal_namespace"


@dataclass
class PromImport:
    """What an import from a Prometheus API did."""

    url: str
    series_matched: int
    samples: int = 0
    new_samples: int = 0
    minutes: int = 0
    windows: int = 0
    windows_resumed: int = 0  # windows a previous, interrupted run had done already
    requests: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    metrics: list[str] = field(default_factory=list)


def import_prometheus(
    archive: Archive,
    api: PromAPI,
    selector: str,
    since: datetime,
    until: datetime,
    *,
    drop_labels: Sequence[str] = (),
    points_per_request: int = POINTS_PER_REQUEST,
    clock: Callable[[], float] = time.time,
    on_window: Callable[[int, int], None] | None = None,
    lock_timeout: float = 60.0,
) -> PromImport:
    """Import the minutes in ``[since, until)`` of the series ``selector`` matches.

    ``on_window(done, total)`` is called after each window. Raises what :class:`PromAPI`
    raises; whatever windows were done before stay done (see the module docstring).
    """
    first_minute = math.ceil(since.timestamp() / STEP_S) * STEP_S
    end_minute = math.ceil(until.timestamp() / STEP_S) * STEP_S  # exclusive
    result = PromImport(url=api.url, series_matched=0)
    if end_minute <= first_minute:
        return result
    matched = api.series(selector, first_minute, end_minute - 0.001)
    result.requests += 1
    result.series_matched = len(matched)
    if not matched:
        return result
    per_metric: dict[str, int] = {}
    for labels in matched:
        name = labels.get("__name__", "")
        per_metric[name] = per_metric.get(name, 0) + 1
    result.metrics = sorted(per_metric)
    # A window holds every metric's answer at once before it is written: size it by all the
    # series, so that memory is bounded by points_per_request whatever the time range.
    steps = max(1, min(MAX_POINTS_PER_SERIES, points_per_request // len(matched)))
    windows = list(range(first_minute, end_minute, steps * STEP_S))
    dropped = frozenset([*DEFAULT_DROP, *drop_labels])

    state_name = _state_name(api.url, selector, first_minute, end_minute, dropped)
    done = _load_done(archive, state_name)
    source = f"prometheus:{api.url}"
    for index, start in enumerate(windows):
        stop = min(start + steps * STEP_S, end_minute)
        if start in done:
            result.windows_resumed += 1
            continue
        started = clock()
        frames = _window_frames(api, selector, start, stop, dropped, result)
        if frames:
            _store_window(archive, frames, source, started, clock, lock_timeout, result)
        done.add(start)
        _save_done(archive, state_name, done)
        result.windows += 1
        if on_window is not None:
            on_window(index + 1, len(windows))
    # Finished: a rerun starts afresh (and stores nothing twice).
    _forget(archive, state_name)
    return result


def _window_frames(
    api: PromAPI,
    selector: str,
    start: int,
    stop: int,
    dropped: frozenset[str],
    result: PromImport,
) -> list[pl.DataFrame]:
    """One window's samples, one query_range per metric (counted in ``result.requests``)."""
    frames = []
    for metric in result.metrics:
        query = f"last_over_time({metric_selector(selector, metric)}[1m])"
        # Evaluated a millisecond before each minute ends: [1m] then covers that minute.
        matrix = api.query_range(query, start + 59.999, stop - 0.001, STEP_S)
        result.requests += 1
        frame = _samples(matrix, metric, dropped)
        if frame is not None:
            frames.append(frame)
    return frames


def _store_window(
    archive: Archive,
    frames: list[pl.DataFrame],
    source: str,
    started: float,
    clock: Callable[[], float],
    lock_timeout: float,
    result: PromImport,
) -> None:
    """Write one window's samples, record its minutes in the scrape log, count it in ``result``."""
    import polars as pl

    window = pl.concat(frames)
    with archive.lock("write", timeout=lock_timeout):
        result.new_samples += store.write_samples(archive, window)
    counts = provenance.merge_counts([provenance.minute_counts(window)])
    provenance.record_imported_minutes(
        archive,
        counts,
        import_id=uuid.uuid4().hex,
        source=source,
        started=started,
        finished=clock(),
    )
    result.samples += window.height
    result.minutes += counts.height
    epoch = window.get_column("ts").dt.epoch("ms")
    lo, hi = int(epoch.min()), int(epoch.max())  # type: ignore[arg-type]
    result.first_ms = lo if result.first_ms is None else min(result.first_ms, lo)
    result.last_ms = hi if result.last_ms is None else max(result.last_ms, hi)


def _samples(
    matrix: list[dict[str, Any]], metric: str, dropped: frozenset[str]
) -> pl.DataFrame | None:
    """A query_range matrix as a parser-shaped frame (series, metric, namespace, labels, ts,
    value), each timestamp moved back to the start of its minute."""
    import polars as pl

    from archiver.openmetrics import SAMPLES_SCHEMA, series_text

    index: list[int] = []
    stamps: list[float] = []
    values: list[float] = []
    series: list[str] = []
    namespaces: list[str | None] = []
    label_lists: list[list[dict[str, str]]] = []
    for item in matrix:
        labels = {
            k: v for k, v in item.get("metric", {}).items() if k != "__name__" and k not in dropped
        }
        points = item.get("values") or []
        if not points:
            continue
        number = len(series)
        series.append(series_text(metric, labels))
        namespaces.append(labels.get(_NAMESPACE))
        label_lists.append([{"key": k, "value": labels[k]} for k in sorted(labels)])
        for ts, value in points:
            index.append(number)
            stamps.append(ts)
            values.append(float(value))
    if not index:
        return None
    per_series = pl.DataFrame(
        {"series": series, "namespace": namespaces, "labels": label_lists},
        schema={
            "series": pl.Utf8,
            "namespace": pl.Utf8,
            "labels": SAMPLES_SCHEMA["labels"],
        },
    ).with_row_index("i")
    points_frame = pl.DataFrame(
        {"i": index, "t": stamps, "value": values},
        schema={"i": pl.UInt32, "t": pl.Float64, "value": pl.Float64},
    )
    minute_ms = ((pl.col("t") * 1000).round(0).cast(pl.Int64) // 60_000) * 60_000
    return (
        points_frame.join(per_series, on="i", how="left")
        .select(
            "series",
            pl.lit(metric).alias("metric"),
            "namespace",
            "labels",
            minute_ms.cast(pl.Datetime("ms", "UTC")).alias("ts"),
            "value",
        )
        .cast(SAMPLES_SCHEMA)
    )


def _state_name(url: str, selector: str, start: int, end: int, dropped: frozenset[str]) -> str:
    key = json.dumps([url, selector, start, end, sorted(dropped)])
    return f"import-prometheus-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def _load_done(archive: Archive, name: str) -> set[int]:
    data = archive.read_state(name)
    if not data:
        return set()
    try:
        return {int(x) for x in json.loads(data)["done"]}
    except (ValueError, KeyError, TypeError):
        return set()  # an unreadable progress file only costs asking again


def _save_done(archive: Archive, name: str, done: set[int]) -> None:
    archive.write_state(name, json.dumps({"done": sorted(done)}).encode())


def _forget(archive: Archive, name: str) -> None:
    import contextlib

    with contextlib.suppress(FileNotFoundError, OSError):
        archive.fs.delete_file(archive.state_path(name))
