-- Usage against each limit per namespace, kind (actions | requests | operations) and time bucket
-- of bucket_seconds (60 = every minute, 3600 = hourly); see capacity.sql. The level compares
-- the bucket's peak minute with the tightest limit in force during the bucket. Buckets of whole
-- hours over a long window add up the hours of capacity_hours (capacity.sql: rollups).
CREATE OR REPLACE MACRO capacity_usage_report(since, until, namespaces, bucket_seconds, warn_pct, page_pct) AS TABLE
WITH m AS (
    SELECT * FROM capacity_minutes(since, until, namespaces)
    WHERE NOT (capacity_rolled(since, until) AND bucket_seconds % 3600 = 0)
),
buckets AS (
    SELECT
        namespace, kind,
        -- bucket by arithmetic: date_trunc on TIMESTAMPTZ goes through ICU, far slower
        floor(epoch(ts) / bucket_seconds) AS bucket,
        count(*) AS minutes,
        avg(used) AS avg_used,
        max(used) AS peak,
        min("limit") AS tightest_limit,
        sum(throttled) AS throttled,
        count(*) FILTER (WHERE throttled > 0) AS throttled_minutes
    FROM m
    GROUP BY namespace, kind, floor(epoch(ts) / bucket_seconds)
    UNION ALL
    SELECT
        namespace, kind,
        floor(epoch(hour) / bucket_seconds) AS bucket,
        CAST(sum(minutes) AS BIGINT) AS minutes,
        sum(used_sum) / sum(minutes) AS avg_used,
        max(peak) AS peak,
        min(tightest_limit) AS tightest_limit,
        sum(throttled_sum) AS throttled,
        CASE WHEN count(*) = count(throttled_minutes) THEN CAST(sum(throttled_minutes) AS BIGINT) END
            AS throttled_minutes
    FROM capacity_hours(since, until, namespaces)
    WHERE bucket_seconds % 3600 = 0
    GROUP BY namespace, kind, floor(epoch(hour) / bucket_seconds)
)
SELECT
    namespace,
    kind,
    to_timestamp(bucket * bucket_seconds) AS ts,
    minutes,
    round(avg_used, 4) AS avg_per_s,
    round(peak, 4) AS peak_per_s,
    tightest_limit AS limit_per_s,
    round(100.0 * peak / nullif(tightest_limit, 0), 2) AS peak_pct,
    CAST(round(throttled * 60) AS BIGINT) AS throttled,
    throttled_minutes,
    capacity_level(peak, tightest_limit, warn_pct, page_pct) AS level
FROM buckets
ORDER BY namespace, kind, ts;

CREATE OR REPLACE VIEW capacity_usage AS
SELECT * FROM capacity_usage_report(
    getvariable('since'),
    getvariable('until'),
    getvariable('namespaces'),
    getvariable('bucket_seconds'),
    getvariable('warn_pct'),
    getvariable('page_pct'));
