-- Hourly rollups of one (date, namespace) samples partition (archiver/store/rollups.py): one
-- row per (series, hour) of the files in getvariable('archiver_rollup_files'), which hold each
-- sample once (they are compacted). `last` is the value at the hour's last sample (last_ts).
-- The session runs in UTC, so date_trunc('hour', ...) cuts UTC hours.
SELECT
    series,
    any_value(metric) AS metric,
    any_value(labels) AS labels,
    date_trunc('hour', ts) AS hour,
    count(*) AS count,
    min(value) AS min,
    max(value) AS max,
    avg(value) AS avg,
    arg_max(value, ts) AS last,
    max(ts) AS last_ts
FROM read_parquet(getvariable('archiver_rollup_files'), hive_partitioning = false)
GROUP BY series, hour
ORDER BY series, hour
