-- Backlog trends per (namespace, task queue, task type).
-- approximate_backlog_count is a level: a minute without a sample means "no backlog reported",
-- never zero, so levels are only aggregated over the minutes that reported one. Backlogs of the
-- same queue at different priorities (or worker builds) in one minute add up to the queue's
-- backlog. Poll rates are per-second averages: their sums over an hour are "how much happened",
-- where a missing minute does count as zero.
-- Only the four metrics of is_backlog_metric are read, and the queue is taken from each distinct
-- series' text (label_value), so the labels map is never decoded. Long windows read the hourly
-- rollups (see backlog_hours).

-- The four metrics the backlog reports read.
CREATE OR REPLACE MACRO is_backlog_metric(metric) AS metric IN (
    'temporal_cloud_v1_approximate_backlog_count',
    'temporal_cloud_v1_poll_success_count',
    'temporal_cloud_v1_poll_success_sync_count',
    'temporal_cloud_v1_poll_timeout_count'
);

-- The queue of a series of those metrics, read from the series text (once per distinct
-- series, never per sample). '' (not NULL) without a task_type: a queue's rows group under one.
CREATE OR REPLACE MACRO queue_of(series) AS label_value(series, 'temporal_task_queue');
CREATE OR REPLACE MACRO task_type_of(series) AS coalesce(label_value(series, 'task_type'), '');

-- Per queue and minute, from the samples in [since, until): the backlog and poll rates summed
-- over the queue's series. The samples stream from the files through the join and the
-- aggregation (NOT MATERIALIZED: holding every sample of the four metrics, as this query did
-- before, took 20 GB over a month); DuckDB spills the aggregation past memory_limit.
CREATE OR REPLACE MACRO backlog_minutes(since, until, namespaces) AS TABLE
WITH rows AS NOT MATERIALIZED (
    SELECT namespace, series, metric, ts, value
    FROM window_samples(since, until, namespaces)
    WHERE is_backlog_metric(metric)
),
-- the queue of each distinct series (MATERIALIZED: otherwise the optimizer moves the regex
-- above the join, onto every sample)
queues AS MATERIALIZED (
    SELECT namespace, series, queue_of(series) AS task_queue, task_type_of(series) AS task_type
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

-- Hourly aggregates per queue from the samples, with the raw poll sums the trend needs.
CREATE OR REPLACE MACRO backlog_sample_hours(since, until, namespaces) AS TABLE
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

-- The same hours from the hourly rollups. Per queue and hour, the queue's series add up:
-- minutes_reported is the most minutes one of its backlog series reported; backlog_avg, _min
-- and _max are the sums of its series' averages, minimums and maximums, and the poll sums are
-- exact (avg x count). With one backlog series per queue and task type, or series that report
-- the same minutes, every column equals the samples' answer except backlog_p95, which needs
-- the minutes themselves: NULL for a rolled-up hour.
CREATE OR REPLACE MACRO backlog_rollup_hours(lo, hi, namespaces) AS TABLE
WITH rows AS NOT MATERIALIZED (
    SELECT namespace, series, metric, hour, count, min, max, avg
    FROM window_rollups(lo, hi, namespaces)
    WHERE is_backlog_metric(metric)
),
-- the distinct series, then their queues: the regex runs once per series, not per row (a
-- filter on it would be pushed into the scan, onto every row)
distinct_series AS MATERIALIZED (
    SELECT DISTINCT namespace, series FROM rows
),
named AS MATERIALIZED (
    SELECT namespace, series, queue_of(series) AS task_queue, task_type_of(series) AS task_type
    FROM distinct_series
),
-- each queue a small number, so that the rows group by (number, hour), not by strings
queues AS MATERIALIZED (
    SELECT namespace, task_queue, task_type, row_number() OVER () AS queue_id
    FROM (SELECT DISTINCT namespace, task_queue, task_type FROM named
          WHERE task_queue IS NOT NULL)
),
series_queue AS MATERIALIZED (
    SELECT n.namespace, n.series, q.queue_id
    FROM named AS n
    JOIN queues AS q USING (namespace, task_queue, task_type)
),
per_queue AS (
    SELECT
        s.queue_id, r.hour,
        coalesce(max(r.count) FILTER (
            WHERE r.metric = 'temporal_cloud_v1_approximate_backlog_count'), 0)
            AS minutes_reported,
        sum(r.min) FILTER (WHERE r.metric = 'temporal_cloud_v1_approximate_backlog_count')
            AS backlog_min,
        sum(r.avg) FILTER (WHERE r.metric = 'temporal_cloud_v1_approximate_backlog_count')
            AS backlog_avg,
        sum(r.max) FILTER (WHERE r.metric = 'temporal_cloud_v1_approximate_backlog_count')
            AS backlog_max,
        sum(r.avg * r.count) FILTER (WHERE r.metric = 'temporal_cloud_v1_poll_success_count')
            AS poll_success,
        sum(r.avg * r.count) FILTER (
            WHERE r.metric = 'temporal_cloud_v1_poll_success_sync_count') AS poll_sync,
        sum(r.avg * r.count) FILTER (WHERE r.metric = 'temporal_cloud_v1_poll_timeout_count')
            AS poll_timeout
    FROM rows AS r
    JOIN series_queue AS s USING (namespace, series)
    GROUP BY s.queue_id, r.hour
)
SELECT
    q.namespace, q.task_queue, q.task_type, p.hour, p.minutes_reported,
    p.backlog_min, p.backlog_avg, p.backlog_max, CAST(NULL AS DOUBLE) AS backlog_p95,
    p.poll_success, p.poll_sync, p.poll_timeout
FROM per_queue AS p
JOIN queues AS q USING (queue_id);

-- Hourly aggregates per queue over [since, until): from the rollups for the whole hours of
-- rolled-up days when the window is longer than rollup_after() (rolled_lo/rolled_hi in
-- macros.sql), from the samples for the rest (partial hours at the ends, days not rolled up
-- yet, short windows). Every bound is a constant, so each part skips the files outside it.
CREATE OR REPLACE MACRO backlog_hours(since, until, namespaces) AS TABLE
SELECT * FROM backlog_sample_hours(window_lo(since), rolled_lo(since, until), namespaces)
UNION ALL
SELECT * FROM backlog_rollup_hours(rolled_lo(since, until), rolled_hi(since, until), namespaces)
UNION ALL
SELECT * FROM backlog_sample_hours(rolled_hi(since, until), window_hi(until), namespaces);

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
        regr_slope(backlog_avg, epoch(hour) / 3600) AS slope,  -- per hour, not daily_slope
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
