-- Backlog trends per (namespace, task queue, task type).
-- approximate_backlog_count is a level: a minute without a sample means "no backlog reported",
-- never zero, so levels are only aggregated over the minutes that reported one. Backlogs of the
-- same queue at different priorities (or worker builds) in one minute add up to the queue's
-- backlog. Poll rates are per-second averages: their sums over an hour are "how much happened",
-- where a missing minute does count as zero.
-- Only the four metrics below are read, and the metric filter comes first, so the labels map is
-- decoded for those rows alone.

CREATE OR REPLACE MACRO backlog_minutes(since, until, namespaces) AS TABLE
SELECT
    namespace,
    labels['temporal_task_queue'] AS task_queue,
    coalesce(labels['task_type'], '') AS task_type,
    ts,
    sum(value) FILTER (WHERE metric = 'temporal_cloud_v1_approximate_backlog_count') AS backlog,
    sum(value) FILTER (WHERE metric = 'temporal_cloud_v1_poll_success_count') AS poll_success,
    sum(value) FILTER (WHERE metric = 'temporal_cloud_v1_poll_success_sync_count') AS poll_sync,
    sum(value) FILTER (WHERE metric = 'temporal_cloud_v1_poll_timeout_count') AS poll_timeout
FROM window_samples(since, until, namespaces)
WHERE metric IN (
    'temporal_cloud_v1_approximate_backlog_count',
    'temporal_cloud_v1_poll_success_count',
    'temporal_cloud_v1_poll_success_sync_count',
    'temporal_cloud_v1_poll_timeout_count'
)
GROUP BY ALL;

-- One row per queue and hour in which the queue reported a backlog or poll activity.
CREATE OR REPLACE MACRO backlog_report(since, until, namespaces) AS TABLE
SELECT
    namespace,
    task_queue,
    task_type,
    date_trunc('hour', ts) AS hour,
    count(backlog) AS minutes_reported,
    CASE WHEN count(backlog) > 0 THEN 'reported' ELSE 'no backlog reported' END AS backlog_status,
    min(backlog) AS backlog_min,
    round(avg(backlog), 2) AS backlog_avg,
    max(backlog) AS backlog_max,
    round(quantile_cont(backlog, 0.95), 2) AS backlog_p95,
    round(sum(poll_success) / nullif(sum(poll_success) + sum(poll_timeout), 0), 4)
        AS poll_success_rate,
    round(sum(poll_sync) / nullif(sum(poll_success), 0), 4) AS sync_match_rate
FROM backlog_minutes(since, until, namespaces)
WHERE task_queue IS NOT NULL
GROUP BY namespace, task_queue, task_type, date_trunc('hour', ts)
ORDER BY namespace, task_queue, task_type, hour;

-- One row per queue over the whole window. The slope is fitted to the hourly averages (tasks per
-- hour); a queue is `rising` when it reported in at least 3 hours, the slope is positive and
-- the line explains at least half of the variation (r2 >= 0.5), so one spike is not a trend.
CREATE OR REPLACE MACRO backlog_trends_report(since, until, namespaces) AS TABLE
WITH hourly AS (
    SELECT * FROM backlog_report(since, until, namespaces)
),
fit AS (
    SELECT
        namespace, task_queue, task_type,
        count(*) FILTER (WHERE minutes_reported > 0) AS hours_reported,
        CAST(sum(minutes_reported) AS BIGINT) AS minutes_reported,
        min(hour) FILTER (WHERE minutes_reported > 0) AS first_hour,
        max(hour) FILTER (WHERE minutes_reported > 0) AS last_hour,
        arg_min(backlog_avg, hour) FILTER (WHERE minutes_reported > 0) AS first_avg,
        arg_max(backlog_avg, hour) FILTER (WHERE minutes_reported > 0) AS last_avg,
        max(backlog_max) AS backlog_max,
        regr_slope(backlog_avg, epoch(hour) / 3600) AS slope,
        regr_r2(backlog_avg, epoch(hour) / 3600) AS r2
    FROM hourly
    GROUP BY namespace, task_queue, task_type
),
rates AS (
    SELECT
        namespace, task_queue, task_type,
        round(sum(poll_success) / nullif(sum(poll_success) + sum(poll_timeout), 0), 4)
            AS poll_success_rate,
        round(sum(poll_sync) / nullif(sum(poll_success), 0), 4) AS sync_match_rate
    FROM backlog_minutes(since, until, namespaces)
    WHERE task_queue IS NOT NULL
    GROUP BY namespace, task_queue, task_type
)
SELECT
    f.namespace, f.task_queue, f.task_type,
    CASE WHEN f.hours_reported > 0 THEN 'reported' ELSE 'no backlog reported' END
        AS backlog_status,
    f.hours_reported, f.minutes_reported, f.first_hour, f.last_hour,
    f.first_avg, f.last_avg, f.backlog_max,
    round(f.slope, 3) AS slope_per_hour,
    round(f.r2, 3) AS r2,
    coalesce(f.hours_reported >= 3 AND f.slope > 0 AND f.r2 >= 0.5, false) AS rising,
    r.poll_success_rate, r.sync_match_rate
FROM fit AS f
JOIN rates AS r USING (namespace, task_queue, task_type)
ORDER BY rising DESC, f.slope DESC NULLS LAST, f.namespace, f.task_queue, f.task_type;

CREATE OR REPLACE VIEW backlog AS
SELECT * FROM backlog_report(
    getvariable('since'), getvariable('until'), getvariable('namespaces'));

CREATE OR REPLACE VIEW backlog_trends AS
SELECT * FROM backlog_trends_report(
    getvariable('since'), getvariable('until'), getvariable('namespaces'));
