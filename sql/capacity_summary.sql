-- One row per (namespace, kind) over the window: peak and p95 usage against the latest limit,
-- minutes over the warn/page thresholds, throttling, and when the trend reaches the limit.
-- The trend is a straight line through each day's peak minute; the projection starts from the
-- line's value on the last day (not that day's raw peak, so one spike does not move it).
-- A long window adds up the hours of capacity_hours (capacity.sql: rollups); p95_per_s and
-- minutes_over_warn/_page need every minute, and are NULL there.
CREATE OR REPLACE MACRO capacity_summary_report(since, until, namespaces, warn_pct, page_pct) AS TABLE
WITH m AS MATERIALIZED (
    SELECT * FROM capacity_minutes(since, until, namespaces)
    WHERE NOT capacity_rolled(since, until)
),
h AS MATERIALIZED (
    SELECT * FROM capacity_hours(since, until, namespaces)
),
daily AS (
    SELECT namespace, kind, CAST(ts AS DATE) AS day, max(used) AS peak
    FROM m
    GROUP BY namespace, kind, CAST(ts AS DATE)
    UNION ALL
    SELECT namespace, kind, CAST(hour AS DATE) AS day, max(peak) AS peak
    FROM h
    GROUP BY namespace, kind, CAST(hour AS DATE)
),
trend AS (
    SELECT
        namespace, kind,
        count(*) AS days,
        max(day) AS last_day,
        daily_slope(peak, day) AS slope,
        daily_intercept(peak, day) AS intercept
    FROM daily
    GROUP BY namespace, kind
),
totals AS (
    SELECT
        namespace, kind,
        count(*) AS minutes,
        avg(used) AS avg_per_s,
        max(used) AS peak_per_s,
        peak_time(ts, used) AS peak_at,
        quantile_cont(used, 0.95) AS p95_per_s,
        arg_max("limit", ts) AS limit_per_s,
        arg_max(envelope, ts) AS envelope_per_s,
        count(*) FILTER (WHERE used >= warn_pct / 100.0 * "limit") AS minutes_over_warn,
        count(*) FILTER (WHERE used >= page_pct / 100.0 * "limit") AS minutes_over_page,
        CAST(round(sum(throttled) * 60) AS BIGINT) AS throttled,
        count(*) FILTER (WHERE throttled > 0) AS throttled_minutes
    FROM m
    GROUP BY namespace, kind
    UNION ALL
    SELECT
        namespace, kind,
        CAST(sum(minutes) AS BIGINT) AS minutes,
        sum(used_sum) / sum(minutes) AS avg_per_s,
        max(peak) AS peak_per_s,
        peak_time(peak_at, peak) AS peak_at,
        CAST(NULL AS DOUBLE) AS p95_per_s,
        arg_max(limit_last, hour) FILTER (WHERE limit_last IS NOT NULL) AS limit_per_s,
        arg_max(envelope_last, hour) FILTER (WHERE envelope_last IS NOT NULL) AS envelope_per_s,
        CAST(NULL AS BIGINT) AS minutes_over_warn,
        CAST(NULL AS BIGINT) AS minutes_over_page,
        CAST(round(sum(throttled_sum) * 60) AS BIGINT) AS throttled,
        CASE WHEN count(*) = count(throttled_minutes) THEN CAST(sum(throttled_minutes) AS BIGINT) END
            AS throttled_minutes
    FROM h
    GROUP BY namespace, kind
),
joined AS (
    SELECT
        t.*, r.days, r.last_day, r.slope,
        r.intercept + r.slope * epoch(r.last_day) / 86400 AS fitted_last
    FROM totals AS t
    JOIN trend AS r USING (namespace, kind)
)
SELECT
    namespace, kind, minutes, days,
    round(avg_per_s, 4) AS avg_per_s,
    round(p95_per_s, 4) AS p95_per_s,
    round(peak_per_s, 4) AS peak_per_s,
    peak_at,
    limit_per_s,
    envelope_per_s,
    round(100.0 * peak_per_s / nullif(limit_per_s, 0), 2) AS peak_pct,
    round(limit_per_s - peak_per_s, 4) AS headroom_per_s,
    minutes_over_warn, minutes_over_page, throttled, throttled_minutes,
    capacity_level(peak_per_s, limit_per_s, warn_pct, page_pct) AS level,
    round(slope, 4) AS slope_per_day,
    reaches_on(last_day, fitted_last, slope, limit_per_s) AS limit_date,
    CASE
        WHEN limit_per_s IS NULL THEN 'no limit reported'
        WHEN days < 2 THEN 'needs 2+ days'
        WHEN slope IS NULL THEN 'no trend'
        WHEN fitted_last >= limit_per_s THEN 'at limit'
        WHEN slope > 0 THEN 'rising'
        ELSE 'flat or falling'
    END AS projection
FROM joined
ORDER BY namespace, kind;

CREATE OR REPLACE VIEW capacity_summary AS
SELECT * FROM capacity_summary_report(
    getvariable('since'),
    getvariable('until'),
    getvariable('namespaces'),
    getvariable('warn_pct'),
    getvariable('page_pct'));
