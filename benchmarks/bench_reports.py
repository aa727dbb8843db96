"""Reports over a week of ~100 million samples vs hand-written DuckDB SQL for the same answer.

Run with ``python -m benchmarks.bench_reports``. The archive is a simulated account of about
10,000 series a minute for 7 days (``WEEK``), laid out exactly as ``archiver compact`` leaves
it: one file per (date, namespace), rows sorted by series then time, ``SAMPLE_WRITE_OPTIONS``,
named ``compact-<first ms>-<last ms>-<id>.parquet``; plus a scrape log with one run (a
``metrics`` request row and the ``scrape`` summary row) per minute, a few of them failed so
the gap report has real gaps to find. Building it through ``write_samples`` + ``compact`` takes
far longer than the 15-minute budget (measured: ~5 minutes per simulated day on this machine),
so the builder writes the compacted layout directly; before each build :func:`check_builder`
proves on a small day that both ways give the same files. The archive is cached under
``benchmarks/.cache/``.

Ours: ``archiver.connect(archive)`` then ``reports.cardinality/backlog/gaps`` over the week, as
the CLI runs them (a fresh connection each time). Theirs: a fresh ``duckdb.connect()`` and one
hand-written query straight over the same files (the SQL strings below: they are the baseline,
not product code). Both answers are compared column by column before anything is timed.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import shutil
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from archiver.simulator.model import Account, AccountSpec

CACHE = Path(__file__).resolve().parent / ".cache"
START = dt.datetime(2025, 3, 3, tzinfo=dt.UTC)  # a Monday
WEEK = 7
TARGET = 2.0
BUILD_VERSION = 2  # bump when the builder changes, so a stale cache is rebuilt
#: ~10,000 samples a minute (~100 million a week); measured, see the module docstring.
SPEC = AccountSpec(
    seed=1, namespaces=20, max_task_queues=80, max_workflow_types=60, max_regions=2, volume=4000.0
)
#: Minutes of each day whose scrape failed (no samples stored), and how.
FAILED_MINUTES = {
    137: ("server_error", "HTTP 502 after 3 attempts"),
    138: ("server_error", "HTTP 502 after 3 attempts"),
    611: ("rate_limited", "429 past the retry deadline"),
    1203: ("network_error", "connection reset mid-body"),
}
_CHUNK = 240  # minutes generated at once (about 2.4M samples, ~1 GB before trimming)

# -- the archive ------------------------------------------------------------------------------


def build(root: Path, days: int, spec: AccountSpec = SPEC) -> dict[str, Any]:
    """Write ``days`` simulated days from ``START`` into the archive at ``root``."""
    import pyarrow as pa

    from archiver.store import tables as schema
    from archiver.store import write as store
    from archiver.store.archive import Archive

    started = time.perf_counter()
    account = Account(spec)
    potential = account.series().frame
    order = potential.get_column("series").arg_sort()
    # Every potential series, sorted, first occurrence of a name kept: the sort key of a
    # compacted file (series, ts) becomes an integer, which sorts far faster than text.
    lookup = potential[order].unique(subset=["series"], keep="first", maintain_order=True)
    enum = pl.Enum(lookup.get_column("series"))
    stored = store.to_arrow_samples(
        lookup.with_columns(ts=pl.lit(0).cast(pl.Datetime("ms", "UTC")), value=pl.lit(0.0))
    )
    names = sorted(set(lookup.get_column("namespace").to_list()))
    ns_codes = lookup.get_column("namespace").replace_strict(
        {n: i for i, n in enumerate(names)}, return_dtype=pl.UInt32
    )
    archive = Archive.open(str(root), durable=False)
    samples = 0
    runs: list[dict[str, Any]] = []
    generate = getattr(account, "windows", None)
    for day in range(days):
        day_ms = int((START + dt.timedelta(days=day)).timestamp() * 1000)
        pieces = []
        for lo in range(0, 1440, _CHUNK):
            count = min(_CHUNK, 1440 - lo)
            if generate is not None:
                frame = generate(day_ms + lo * 60_000, count)
            else:  # before Account.windows existed: one minute at a time
                frame = pl.concat(
                    [account.window(day_ms + (lo + m) * 60_000) for m in range(count)]
                )
            pieces.append(
                frame.select(
                    idx=pl.col("series").cast(enum).to_physical(),
                    ts=pl.col("ts"),
                    value=pl.col("value"),
                )
            )
            del frame
        minutes = (
            pl.concat(pieces)
            .with_columns(minute=(pl.col("ts").dt.epoch("ms") - day_ms) // 60_000)
            .filter(~pl.col("minute").is_in(list(FAILED_MINUTES)))
        )
        del pieces
        # (series, ts) order; the stable sort keeps the first of two equal samples first.
        day_rows = minutes.sort("idx", "ts", maintain_order=True)
        repeated = (pl.col("idx") == pl.col("idx").shift(1)) & (
            pl.col("ts") == pl.col("ts").shift(1)
        )
        day_rows = day_rows.filter(~repeated.fill_null(False))
        day_rows = day_rows.with_columns(ns=ns_codes.gather(day_rows.get_column("idx")))
        date = (START + dt.timedelta(days=day)).date().isoformat()
        for code, part in day_rows.partition_by("ns", as_dict=True, maintain_order=True).items():
            ts = part.get_column("ts")
            # Rows of the stored schema: series, metric and labels taken from the per-series
            # table, time and value from the generated samples.
            rows = stored.take(part.get_column("idx").to_arrow())
            table = pa.Table.from_arrays(
                [
                    rows.column("series"),
                    rows.column("metric"),
                    rows.column("labels"),
                    ts.to_arrow().cast(schema.TS),
                    part.get_column("value").to_arrow(),
                ],
                schema=schema.SAMPLES,
            ).replace_schema_metadata({schema.SCHEMA_VERSION_KEY: str(schema.SCHEMA_VERSION)})
            _write_compacted(archive.table_dir("samples", date, names[int(code[0])]), table)
            samples += part.height
        seen = (
            day_rows.select("minute", "ns")
            .unique()
            .group_by("minute")
            .agg(pl.col("ns"), count=pl.len())
        )
        per_minute = {
            int(m): sorted(names[int(c)] for c in codes)
            for m, codes in zip(seen.get_column("minute"), seen.get_column("ns"), strict=True)
        }
        counts = day_rows.group_by("minute").agg(n=pl.len()).rows_by_key("minute", unique=True)
        for minute in range(1440):
            runs.extend(_run_rows(day_ms, minute, per_minute.get(minute, []), counts))
        del day_rows, minutes
        gc.collect()
    store.write_rows(archive, "scrapes", runs, date_field="started")
    return {
        "samples": samples,
        "days": days,
        "samples_per_minute": round(samples / (days * 1440 - days * len(FAILED_MINUTES))),
        "build_s": round(time.perf_counter() - started, 1),
        "spec": repr(spec),
        "version": BUILD_VERSION,
    }


def _write_compacted(directory: str, table: Any) -> None:
    """``table`` (sorted, each key once) as compaction writes a partition: its own writer, with
    the options it would choose for these rows (``merge_value_share.sql``, ``MergeStats``)."""
    import tempfile

    import duckdb
    import pyarrow.parquet as pq

    from archiver.sqlfiles import load_sql
    from archiver.store import merge
    from archiver.store import tables as schema

    definition = schema.TABLES["samples"]
    with tempfile.NamedTemporaryFile(suffix=".parquet") as rows:
        pq.write_table(table.select(["value"]), rows.name, compression="none")
        con = duckdb.connect()
        con.execute("SET VARIABLE archiver_merge_files = $files", {"files": [rows.name]})
        ((share,),) = con.sql(load_sql("merge_value_share.sql")).fetchall()
        con.close()
    stats = merge.MergeStats(value_share=float(share))
    Path(directory).mkdir(parents=True, exist_ok=True)
    merge.write_sorted(
        definition,
        table.to_batches(merge.BATCH_ROWS),
        directory,
        durable=False,
        options=lambda: stats.write_options(definition),
    )


def _run_rows(
    day_ms: int, minute: int, seen: list[str], counts: dict[int, tuple[int]]
) -> list[dict[str, Any]]:
    """The scrape log of the run that aimed at ``minute``: one request row, one summary row."""
    window = dt.datetime.fromtimestamp((day_ms + minute * 60_000) / 1000, dt.UTC)
    began = window + dt.timedelta(seconds=140)  # offset 120 s plus the 20 s phase
    ended = began + dt.timedelta(milliseconds=900)
    outcome, error = FAILED_MINUTES.get(minute, ("complete", None))
    ok = outcome == "complete"
    sample_count = counts[minute][0] if ok else None
    common = {
        "scrape_id": f"run-{day_ms + minute * 60_000}",
        "namespaces": [],
        "metrics": [],
        "labels": [],
        "started": began,
        "finished": ended,
        "completeness": "complete" if ok else None,
        "outcome": outcome,
        "target_window": window,
        "served_window": window if ok else None,
        "sample_count": sample_count,
        "new_samples": sample_count,
        "namespaces_seen": seen if ok else None,
        "bytes": sample_count * 190 if sample_count else None,
        "error": error,
    }
    status = 200 if ok else {"server_error": 502, "rate_limited": 429}.get(outcome)
    return [
        common | {"request": "metrics", "shard": None, "attempt": 1, "status": status},
        common | {"request": "scrape", "shard": "1 pieces", "attempt": 1, "status": None},
    ]


def _layout(meta: Any) -> tuple[object, ...]:
    """What a reader meets in a file: each column's encodings and codec, and whether every row
    group is within one merge batch of compaction's row-group size."""
    from archiver.store import merge

    groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
    columns = [
        (c.encodings, c.compression) for c in (groups[0].column(i) for i in range(meta.num_columns))
    ]
    within = all(g.num_rows <= merge.ROW_GROUP_ROWS + merge.BATCH_ROWS for g in groups)
    return tuple(columns), within


def check_builder(scratch: Path) -> None:
    """Build a small day both ways (``build`` vs ``write_samples`` + ``compact``) and insist
    that every partition holds the same rows, file names, encodings and compression, and row
    groups of the same size class: both go through compaction's writer, which cuts a row group
    at the first batch boundary past ``ROW_GROUP_ROWS``, and DuckDB's merge hands it batches of
    its own sizes (a 579,880-row partition: 311,296 + 268,584 rows, against 262,144 x 2 +
    55,592 from the builder's even batches).
    """
    import pyarrow.parquet as pq

    from archiver.store import compact
    from archiver.store import write as store
    from archiver.store.archive import Archive

    spec = AccountSpec.small(seed=3)
    build(scratch / "direct", 1, spec=spec)
    account, real = Account(spec), Archive.open(str(scratch / "real"), durable=False)
    day_ms = int(START.timestamp() * 1000)
    for lo in range(0, 1440, _CHUNK):
        frame = account.windows(day_ms + lo * 60_000, _CHUNK)
        minute = (pl.col("ts").dt.epoch("ms") - day_ms) // 60_000
        store.write_samples(real, frame.filter(~minute.is_in(list(FAILED_MINUTES))))
    compact.compact(real)
    ours = Archive.open(str(scratch / "direct")).files("samples")
    theirs = real.files("samples")
    problem = None if len(ours) == len(theirs) else f"{len(ours)} files vs {len(theirs)}"
    for a, b in zip(ours, theirs, strict=False):
        ma, mb = pq.ParquetFile(a).metadata, pq.ParquetFile(b).metadata
        if a.rsplit("-", 1)[0].split("/")[-2:] != b.rsplit("-", 1)[0].split("/")[-2:]:
            problem = f"names differ: {a} vs {b}"
        elif not pq.read_table(a).equals(pq.read_table(b)):
            problem = f"rows differ in {a}"
        elif _layout(ma) != _layout(mb):
            problem = f"layout differs in {a}: {_layout(ma)} vs {_layout(mb)}"
        if problem:
            break
    if problem:
        raise AssertionError(f"the direct builder no longer matches write + compact: {problem}")


def cached_archive(days: int) -> tuple[Path, dict[str, Any]]:
    """The archive of ``days`` days under ``benchmarks/.cache/``, built on first use."""
    root = CACHE / f"reports-{days}d-v{BUILD_VERSION}-{SPEC.seed}-{SPEC.namespaces}"
    manifest = root / "manifest.json"
    if manifest.is_file():
        info = json.loads(manifest.read_text())
        if info.get("version") == BUILD_VERSION and info.get("spec") == repr(SPEC):
            return root / "archive", info | {"cached": True}
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    check_builder(root / "check")
    shutil.rmtree(root / "check")
    info = build(root / "archive", days)
    manifest.write_text(json.dumps(info, indent=2))
    return root / "archive", info | {"cached": False}


# -- the baseline: hand-written SQL straight over the files ----------------------------------

_SOURCE = """read_parquet($files, hive_partitioning = true,
                      hive_types = {'date': 'DATE', 'namespace': 'VARCHAR'})"""
_LABEL = r"""regexp_extract(series, '[{,]\s*%s="((?:[^"\\]|\\.)*)"', 1)"""

CARDINALITY_SQL = f"""
WITH per_series AS (
    SELECT date, namespace, series, count(*) AS samples
    FROM {_SOURCE}
    WHERE ts >= $since AND ts < $until
    GROUP BY ALL
),
per_day AS (
    SELECT
        date, namespace, split_part(series, '{{', 1) AS metric,
        count(*) AS series,
        CAST(sum(samples) AS BIGINT) AS samples,
        count(DISTINCT nullif({_LABEL % "temporal_task_queue"}, '')) AS task_queues,
        count(DISTINCT nullif({_LABEL % "temporal_workflow_type"}, '')) AS workflow_types,
        count(DISTINCT nullif({_LABEL % "temporal_activity_type"}, '')) AS activity_types
    FROM per_series
    GROUP BY ALL
)
SELECT
    *,
    greatest(task_queues, 1) * greatest(workflow_types, 1) AS docs_estimate,
    series - first_value(series) OVER (PARTITION BY namespace, metric ORDER BY date)
        AS series_change,
    round(series * 100.0 / 30000, 2) AS cap_share_pct
FROM per_day
ORDER BY date, namespace, series DESC, metric
"""

BACKLOG_SQL = f"""
WITH rows AS (
    SELECT namespace, series, metric, ts, value
    FROM {_SOURCE}
    WHERE metric IN (
        'temporal_cloud_v1_approximate_backlog_count',
        'temporal_cloud_v1_poll_success_count',
        'temporal_cloud_v1_poll_success_sync_count',
        'temporal_cloud_v1_poll_timeout_count')
      AND ts >= $since AND ts < $until
),
queues AS MATERIALIZED (
    SELECT
        namespace, series,
        nullif({_LABEL % "temporal_task_queue"}, '') AS task_queue,
        {_LABEL % "task_type"} AS task_type
    FROM (SELECT DISTINCT namespace, series FROM rows)
),
minutes AS (
    SELECT
        r.namespace, q.task_queue, q.task_type, epoch_ms(r.ts) // 3600000 AS h,
        sum(r.value) FILTER (WHERE r.metric = 'temporal_cloud_v1_approximate_backlog_count')
            AS backlog,
        sum(r.value) FILTER (WHERE r.metric = 'temporal_cloud_v1_poll_success_count')
            AS poll_success,
        sum(r.value) FILTER (WHERE r.metric = 'temporal_cloud_v1_poll_success_sync_count')
            AS poll_sync,
        sum(r.value) FILTER (WHERE r.metric = 'temporal_cloud_v1_poll_timeout_count')
            AS poll_timeout
    FROM rows AS r
    JOIN queues AS q USING (namespace, series)
    WHERE q.task_queue IS NOT NULL
    GROUP BY r.namespace, q.task_queue, q.task_type, r.ts
),
hours AS (
    SELECT
        namespace, task_queue, task_type, to_timestamp(h * 3600) AS hour,
        count(backlog) AS minutes_reported,
        min(backlog) AS backlog_min,
        avg(backlog) AS backlog_avg,
        max(backlog) AS backlog_max,
        quantile_cont(backlog, 0.95) AS backlog_p95,
        sum(poll_success) AS poll_success,
        sum(poll_sync) AS poll_sync,
        sum(poll_timeout) AS poll_timeout
    FROM minutes
    GROUP BY namespace, task_queue, task_type, h
)
SELECT
    namespace, task_queue, task_type, hour, minutes_reported,
    CASE WHEN minutes_reported > 0 THEN 'reported' ELSE 'no backlog reported' END
        AS backlog_status,
    backlog_min,
    round(backlog_avg, 2) AS backlog_avg,
    backlog_max,
    round(backlog_p95, 2) AS backlog_p95,
    round(poll_success / nullif(poll_success + poll_timeout, 0), 4) AS poll_success_rate,
    round(poll_sync / nullif(poll_success, 0), 4) AS sync_match_rate
FROM hours
ORDER BY namespace, task_queue, task_type, hour
"""

# Minutes as epoch milliseconds (integers) throughout: no time-zone-aware truncation at all.
GAPS_SQL = f"""
WITH runs AS MATERIALIZED (
    SELECT
        epoch_ms(target_window) AS tw, epoch_ms(served_window) AS sw, outcome, namespaces_seen
    FROM read_parquet($scrapes, hive_partitioning = true, hive_types = {{'date': 'DATE'}})
    WHERE request = 'scrape'
      AND coalesce(target_window, served_window, started) >= $since
      AND coalesce(target_window, served_window, started) < $until
),
span AS (
    SELECT
        greatest(min(least(tw, sw)) // 60000 * 60000, epoch_ms($since) // 60000 * 60000) AS lo,
        least(max(greatest(tw, sw)) // 60000 * 60000 + 60000, epoch_ms($until)) AS hi
    FROM runs
),
grid AS (
    SELECT unnest(range(lo, hi, 60000)) AS minute FROM span WHERE lo < hi
),
present AS (
    SELECT DISTINCT namespace, epoch_ms(ts) // 60000 * 60000 AS minute
    FROM (
        SELECT DISTINCT namespace, ts
        FROM {_SOURCE}
        WHERE ts >= $since AND ts < $until
    )
),
names AS (
    SELECT DISTINCT namespace FROM present
    UNION
    SELECT DISTINCT unnest(namespaces_seen) FROM runs
),
evidence AS (
    SELECT tw // 60000 * 60000 AS minute, outcome, sw, namespaces_seen, true AS aimed
    FROM runs WHERE tw IS NOT NULL AND outcome <> 'skipped'
    UNION ALL
    SELECT sw // 60000 * 60000, outcome, sw, namespaces_seen, false
    FROM runs WHERE sw IS NOT NULL AND outcome <> 'skipped' AND sw IS DISTINCT FROM tw
),
cells AS (
    SELECT n.namespace, g.minute
    FROM names AS n CROSS JOIN grid AS g
    ANTI JOIN present AS p ON p.namespace = n.namespace AND p.minute = g.minute
    WHERE n.namespace IS NOT NULL
),
explained AS (
    SELECT
        c.namespace, c.minute,
        min(CASE
            WHEN e.minute IS NULL THEN 7
            WHEN e.sw // 60000 * 60000 = c.minute AND e.outcome = 'complete'
                THEN CASE WHEN list_contains(e.namespaces_seen, c.namespace) THEN 1 ELSE 0 END
            WHEN e.sw // 60000 * 60000 = c.minute AND e.outcome = 'limited' THEN 2
            WHEN e.sw // 60000 * 60000 = c.minute AND e.outcome = 'unknown' THEN 3
            WHEN e.aimed AND e.sw < c.minute THEN 4
            WHEN e.outcome IN ('rate_limited', 'budget_exhausted') THEN 5
            ELSE 6
        END) AS rank
    FROM cells AS c
    LEFT JOIN evidence AS e ON e.minute = c.minute
    GROUP BY c.namespace, c.minute
),
islands AS (
    SELECT
        namespace, minute, rank,
        minute - 60000 * row_number() OVER (PARTITION BY namespace, rank ORDER BY minute)
            AS island
    FROM explained
)
SELECT
    namespace,
    make_timestamptz(min(minute) * 1000) AS start,
    make_timestamptz(max(minute) * 1000 + 60000000) AS "end",
    count(*) AS minutes,
    ['idle', 'missing', 'truncated', 'unknown', 'stall', 'rate_limited', 'failed',
     'not_scraped'][rank + 1] AS reason,
    rank <> 0 AS is_gap
FROM islands
GROUP BY namespace, rank, island
ORDER BY namespace, start
"""

BASELINES = {"cardinality": CARDINALITY_SQL, "backlog": BACKLOG_SQL, "gaps": GAPS_SQL}


def theirs(archive: Path, name: str, since: dt.datetime, until: dt.datetime) -> pl.DataFrame:
    """The baseline: a fresh DuckDB connection, one query, the answer as a frame."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        params: dict[str, Any] = {"since": since, "until": until}
        params["files"] = f"{archive}/samples/*/*/*.parquet"
        if name == "gaps":
            params["scrapes"] = f"{archive}/scrapes/*/*.parquet"
        frame = pl.from_arrow(con.sql(BASELINES[name], params=params).to_arrow_table())
    finally:
        con.close()
    assert isinstance(frame, pl.DataFrame)
    return frame


def ours(archive: Path, name: str, since: dt.datetime, until: dt.datetime) -> pl.DataFrame:
    """The product: ``archiver.connect`` and the report function, as ``archiver report`` runs."""
    import archiver
    from archiver.query import reports

    con = archiver.connect(str(archive))
    try:
        con.execute("SET enable_progress_bar = false")  # as on the other side: display only
        report: Callable[..., pl.DataFrame] = getattr(reports, name)
        return report(con, since=since, until=until)
    finally:
        con.close()


def _normalise(frame: pl.DataFrame) -> pl.DataFrame:
    casts = {}
    for column, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            casts[column] = pl.Datetime("us", "UTC")
        elif dtype.is_integer():
            casts[column] = pl.Int64
        elif dtype.is_numeric():
            casts[column] = pl.Float64
    return frame.cast(casts)  # type: ignore[arg-type]


def same_answer(a: pl.DataFrame, b: pl.DataFrame) -> str | None:
    """None when the frames hold the same rows in the same order, else what differs.

    Floats may differ by one unit in the last rounded place (1e-4): DuckDB sums in parallel,
    so a sum's last bits depend on thread timing, and rounding can then land either side.
    """
    from polars.testing import assert_frame_equal

    if a.columns != b.columns:
        return f"columns differ: {a.columns} vs {b.columns}"
    try:
        assert_frame_equal(
            _normalise(a), _normalise(b), check_exact=False, rel_tol=1e-9, abs_tol=1.5e-4
        )
    except AssertionError as exc:
        return " ".join(str(exc).split())[:200]
    return None


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(repeats: int = 3, quick: bool = False) -> list[dict[str, object]]:
    """Each report against its baseline over the cached archive (1 day with ``quick``)."""
    days = 1 if quick else WEEK
    archive, info = cached_archive(days)
    since, until = START, START + dt.timedelta(days=days)
    rows: list[dict[str, object]] = []
    for name in BASELINES:
        what = f"report {name} ({info['samples'] / 1e6:.0f}M samples, {days} d)"
        row: dict[str, object] = {"what": what, "theirs": "hand-written DuckDB SQL"}
        row |= {"target": f"<= {TARGET:g}x"}
        answer = ours(archive, name, since, until)
        differs = same_answer(answer, theirs(archive, name, since, until))
        if differs:
            rows.append(row | {"met": None, "skipped": f"answers differ: {differs}"})
            continue
        ours_times, their_times = [], []
        for i in range(repeats):
            # Alternate who goes first, so neither always runs on a warmer page cache.
            pair = [
                (ours_times, partial(ours, archive, name, since, until)),
                (their_times, partial(theirs, archive, name, since, until)),
            ]
            for times, fn in pair if i % 2 else reversed(pair):
                times.append(_seconds(fn))
        mine, base = statistics.median(ours_times), statistics.median(their_times)
        ratio = mine / base
        rows.append(
            row
            | {"ours_s": round(mine, 3), "theirs_s": round(base, 3), "ratio": round(ratio, 2)}
            | {"met": ratio <= TARGET, "rows": answer.height}
            | {"archive": {k: v for k, v in info.items() if k != "spec"}}
        )
    return rows


if __name__ == "__main__":
    import sys

    for result in run(quick="--quick" in sys.argv):
        print(json.dumps(result, default=str))
