-- Usage against each limit per namespace, kind (actions | requests | operations) and time bucket
-- of $bucket_seconds (60 = every minute, 3600 = hourly); see capacity.sql. The level compares
-- the bucket's peak minute with the tightest limit in force during the bucket.
WITH m AS (
    SELECT * FROM capacity_minutes($since, $until, $namespaces)
)
SELECT
    namespace,
    kind,
    -- bucket by arithmetic: date_trunc on TIMESTAMPTZ goes through ICU, far slower
    to_timestamp(floor(epoch(ts) / $bucket_seconds) * $bucket_seconds) AS ts,
    count(*) AS minutes,
    round(avg(used), 4) AS avg_per_s,
    round(max(used), 4) AS peak_per_s,
    min("limit") AS limit_per_s,
    round(100.0 * max(used) / nullif(min("limit"), 0), 2) AS peak_pct,
    CAST(round(sum(throttled) * 60) AS BIGINT) AS throttled,
    count(*) FILTER (WHERE throttled > 0) AS throttled_minutes,
    CASE
        WHEN min("limit") IS NULL THEN 'no limit reported'
        WHEN max(used) >= $page_pct / 100.0 * min("limit") THEN 'page'
        WHEN max(used) >= $warn_pct / 100.0 * min("limit") THEN 'warn'
        ELSE 'ok'
    END AS level
FROM m
GROUP BY namespace, kind, floor(epoch(ts) / $bucket_seconds)
ORDER BY namespace, kind, ts;
