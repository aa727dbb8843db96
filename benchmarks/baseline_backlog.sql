-- TODAY'S backlog SQL (main at c5418f3: sql/window.sql + sql/backlog.sql), kept verbatim as the
-- baseline of benchmarks/bench_backlog.py. Not product code.
-- Samples and scrape runs inside a report window, shared by every report.
-- since/until: TIMESTAMPTZ bounds of [since, until), NULL = unbounded.
-- namespaces: exact namespace names (wildcards are resolved before, see namespaces.sql),
-- NULL = every namespace. The date and namespace conditions are on the Hive partition columns
-- and fold to constants, so DuckDB skips whole files (EXPLAIN shows "File Filters").

CREATE OR REPLACE MACRO window_samples(since, until, namespaces) AS TABLE
SELECT *
FROM samples
WHERE ts >= coalesce(CAST(since AS TIMESTAMPTZ), CAST('-infinity' AS TIMESTAMPTZ))
  AND ts < coalesce(CAST(until AS TIMESTAMPTZ), CAST('infinity' AS TIMESTAMPTZ))
  AND date >= CAST(coalesce(CAST(since AS TIMESTAMPTZ), CAST('-infinity' AS TIMESTAMPTZ)) AS DATE)
  AND date <= CAST(
      coalesce(CAST(until AS TIMESTAMPTZ), CAST('infinity' AS TIMESTAMPTZ)) - INTERVAL 1 MILLISECOND
      AS DATE)
  AND (CAST(namespaces AS VARCHAR[]) IS NULL
       OR list_contains(CAST(namespaces AS VARCHAR[]), namespace));

-- Scrape runs (the per-run summary rows) that aimed at or served a minute inside the window.
-- A run is filed under the date it started, which can be the day after the minute it aimed at,
-- hence the one-day margin on the partition filter.
CREATE OR REPLACE MACRO window_runs(since, until) AS TABLE
SELECT
    scrape_id, started, finished, outcome, completeness, target_window, served_window,
    namespaces_seen, error
FROM scrapes
WHERE request = 'scrape'
  AND date >= CAST(coalesce(CAST(since AS TIMESTAMPTZ), CAST('-infinity' AS TIMESTAMPTZ)) AS DATE)
      - INTERVAL 1 DAY
  AND date <= CAST(coalesce(CAST(until AS TIMESTAMPTZ), CAST('infinity' AS TIMESTAMPTZ)) AS DATE)
      + INTERVAL 1 DAY
  AND coalesce(target_window, served_window, started)
      >= coalesce(CAST(since AS TIMESTAMPTZ), CAST('-infinity' AS TIMESTAMPTZ))
  AND coalesce(target_window, served_window, started)
      < coalesce(CAST(until AS TIMESTAMPTZ), CAST('infinity' AS TIMESTAMPTZ));

-- Backlog trends per (namespace, task queue, task type).
-- approximate_backlog_count is a level: a minute without a sample means "no backlog reported",
-- never zero, so levels are only aggregated over the minutes that reported one. Backlogs of the
-- same queue at different priorities (or worker builds) in one minute add up to the queue's
-- backlog. Poll rates are per-second averages: their sums over an hour are "how much happened",
-- where a missing minute does count as zero.
-- Only the four metrics below are read (the metric filter comes first), and the queue is taken
-- from each distinct series' text, so the labels map is never decoded.

CREATE OR REPLACE MACRO backlog_minutes(since, until, namespaces) AS TABLE
WITH rows AS (
    SELECT namespace, series, metric, ts, value
    FROM window_samples(since, until, namespaces)
    WHERE metric IN (
        'temporal_cloud_v1_approximate_backlog_count',
        'temporal_cloud_v1_poll_success_count',
        'temporal_cloud_v1_poll_success_sync_count',
        'temporal_cloud_v1_poll_timeout_count'
    )
),
-- the queue of each distinct series, read once per series from the series text rather than
-- once per sample from the labels map (MATERIALIZED: otherwise the optimizer moves the regex
-- above the join, onto every sample)
queues AS MATERIALIZED (
    SELECT
        namespace, series,
        nullif(regexp_extract(series, '[{,]\s*temporal_task_queue="((?:[^"\\]|\\.)*)"', 1), '')
            AS task_queue,
        regexp_extract(series, '[{,]\s*task_type="((?:[^"\\]|\\.)*)"', 1) AS task_type
    FROM (SELECT DISTINCT namespace, series FROM rows)
)
SELECT
    r.namespace, q.task_queue, q.task_type, r.ts,
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
GROUP BY r.namespace, q.task_queue, q.task_type, r.ts;

-- Hourly aggregates per queue, with the raw poll sums the trend needs for window-wide rates.
CREATE OR REPLACE MACRO backlog_hours(since, until, namespaces) AS TABLE
SELECT
    namespace,
    task_queue,
    task_type,
    -- hour buckets by arithmetic: date_trunc on TIMESTAMPTZ goes through ICU, far slower
    to_timestamp(floor(epoch(ts) / 3600) * 3600) AS hour,
    count(backlog) AS minutes_reported,
    min(backlog) AS backlog_min,
    avg(backlog) AS backlog_avg,
    max(backlog) AS backlog_max,
    quantile_cont(backlog, 0.95) AS backlog_p95,
    sum(poll_success) AS poll_success,
    sum(poll_sync) AS poll_sync,
    sum(poll_timeout) AS poll_timeout
FROM backlog_minutes(since, until, namespaces)
GROUP BY namespace, task_queue, task_type, floor(epoch(ts) / 3600);

-- One row per queue and hour in which the queue reported a backlog or poll activity.
CREATE OR REPLACE MACRO backlog_report(since, until, namespaces) AS TABLE
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
FROM backlog_hours(since, until, namespaces)
ORDER BY namespace, task_queue, task_type, hour;

-- One row per queue over the whole window. The slope is fitted to the hourly averages (tasks per
-- hour); a queue is `rising` when it reported in at least 3 hours, the slope is positive and
-- the line explains at least half of the variation (r2 >= 0.5), so one spike is not a trend.
CREATE OR REPLACE MACRO backlog_trends_report(since, until, namespaces) AS TABLE
WITH hourly AS MATERIALIZED (
    SELECT * FROM backlog_hours(since, until, namespaces)
),
fit AS (
    SELECT
        namespace, task_queue, task_type,
        count(*) FILTER (WHERE minutes_reported > 0) AS hours_reported,
        CAST(sum(minutes_reported) AS BIGINT) AS minutes_reported,
        min(hour) FILTER (WHERE minutes_reported > 0) AS first_hour,
        max(hour) FILTER (WHERE minutes_reported > 0) AS last_hour,
        round(arg_min(backlog_avg, hour) FILTER (WHERE minutes_reported > 0), 2) AS first_avg,
        round(arg_max(backlog_avg, hour) FILTER (WHERE minutes_reported > 0), 2) AS last_avg,
        max(backlog_max) AS backlog_max,
        regr_slope(backlog_avg, epoch(hour) / 3600) AS slope,
        regr_r2(backlog_avg, epoch(hour) / 3600) AS r2,
        round(sum(poll_success) / nullif(sum(poll_success) + sum(poll_timeout), 0), 4)
            AS poll_success_rate,
        round(sum(poll_sync) / nullif(sum(poll_success), 0), 4) AS sync_match_rate
    FROM hourly
    GROUP BY namespace, task_queue, task_type
)
SELECT
    namespace, task_queue, task_type,
    CASE WHEN hours_reported > 0 THEN 'reported' ELSE 'no backlog reported' END
        AS backlog_status,
    hours_reported, minutes_reported, first_hour, last_hour,
    first_avg, last_avg, backlog_max,
    round(slope, 3) AS slope_per_hour,
    round(r2, 3) AS r2,
    coalesce(hours_reported >= 3 AND slope > 0 AND r2 >= 0.5, false) AS rising,
    poll_success_rate, sync_match_rate
FROM fit
ORDER BY rising DESC, slope DESC NULLS LAST, namespace, task_queue, task_type;

CREATE OR REPLACE VIEW backlog AS
SELECT * FROM backlog_report(
    getvariable('since'), getvariable('until'), getvariable('namespaces'));

CREATE OR REPLACE VIEW backlog_trends AS
SELECT * FROM backlog_trends_report(
    getvariable('since'), getvariable('until'), getvariable('namespaces'));
