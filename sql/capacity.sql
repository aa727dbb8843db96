-- Capacity: usage of each namespace against its limits, minute by minute.
-- Loaded at connect (archiver.query.connect), like every macro and view.
--
-- Rates are per-second averages over one minute (docs/capacity-formulas.md). A minute without a usage
-- or throttle sample means "nothing happened", so those sums count it as zero; a limit is a
-- level, never zero: each minute takes the last limit reported at or before it (limits are
-- reported every few minutes, not every minute), and NULL before the first one.
-- The grid of minutes is every minute the namespace has any sample in: a scrape gap is not
-- zero activity, it is no evidence at all, and stays out of averages.
-- Usage metrics summed over regions and modes (how much happened); limits that differ between
-- regions take the largest (the namespace's configured limit, reported once per region).

CREATE OR REPLACE MACRO capacity_minutes(since, until, namespaces) AS TABLE
WITH w AS (
    SELECT namespace, metric, series, ts, value
    FROM window_samples(since, until, namespaces)
),
grid AS (
    SELECT DISTINCT namespace, ts FROM w
),
kinds AS (
    -- (kind, role, metric) from archiver.catalog.LIMITS, loaded at connect
    SELECT kind, role, metric FROM capacity_limits
),
per_minute AS (
    SELECT
        w.namespace, k.kind, w.ts,
        -- background actions (is_background="true") do not count against action_limit
        sum(w.value) FILTER (
            WHERE k.role = 'used'
              AND NOT (k.kind = 'actions' AND contains(w.series, 'is_background="true"'))
        ) AS used,
        sum(w.value) FILTER (WHERE k.role = 'throttled') AS throttled,
        max(w.value) FILTER (WHERE k.role = 'limit') AS reported_limit,
        max(w.value) FILTER (WHERE k.role = 'envelope') AS reported_envelope
    FROM w
    JOIN kinds AS k USING (metric)
    GROUP BY w.namespace, k.kind, w.ts
),
filled AS (
    SELECT g.namespace, k.kind, g.ts,
           coalesce(p.used, 0) AS used,
           coalesce(p.throttled, 0) AS throttled,
           p.reported_limit, p.reported_envelope
    FROM grid AS g
    CROSS JOIN (SELECT DISTINCT kind FROM kinds) AS k
    LEFT JOIN per_minute AS p USING (namespace, kind, ts)
)
SELECT
    namespace, kind, ts, used, throttled,
    last_value(reported_limit IGNORE NULLS) OVER (
        PARTITION BY namespace, kind ORDER BY ts ROWS UNBOUNDED PRECEDING) AS "limit",
    last_value(reported_envelope IGNORE NULLS) OVER (
        PARTITION BY namespace, kind ORDER BY ts ROWS UNBOUNDED PRECEDING) AS envelope
FROM filled;

-- The alert level of a peak against a limit: 'page' at page_pct of it, 'warn' at warn_pct.
CREATE OR REPLACE MACRO capacity_level(peak, lim, warn_pct, page_pct) AS
    CASE
        WHEN lim IS NULL THEN 'no limit reported'
        WHEN peak >= page_pct / 100.0 * lim THEN 'page'
        WHEN peak >= warn_pct / 100.0 * lim THEN 'warn'
        ELSE 'ok'
    END;

-- Long windows (rolled_lo < rolled_hi, macros.sql) are answered per hour: one row per
-- (namespace, kind, hour) of the window, from the samples for the partial hours at its ends and
-- the days not rolled up yet, and from the hourly rollups for the rest. Columns: minutes (of the
-- grid), used_sum (sum of the per-minute rates), peak and peak_at (the busiest minute),
-- throttled_sum, throttled_minutes, limit_min (the lowest limit reported in the hour),
-- limit_last and envelope_last (the last ones reported), then tightest_limit (limit_min, or the
-- last limit of an earlier hour when none was reported in this one).
CREATE OR REPLACE MACRO capacity_rolled(since, until) AS
    rolled_lo(since, until) < rolled_hi(since, until);

CREATE OR REPLACE MACRO capacity_sample_hours(lo, hi, namespaces) AS TABLE
SELECT
    namespace, kind,
    to_timestamp(floor(epoch(ts) / 3600) * 3600) AS hour,
    count(*) AS minutes,
    sum(used) AS used_sum,
    max(used) AS peak,
    peak_time(ts, used) AS peak_at,
    sum(throttled) AS throttled_sum,
    count(*) FILTER (WHERE throttled > 0) AS throttled_minutes,
    min("limit") AS limit_min,
    arg_max("limit", ts) AS limit_last,
    arg_max(envelope, ts) AS envelope_last
FROM capacity_minutes(lo, hi, namespaces)
GROUP BY namespace, kind, floor(epoch(ts) / 3600);

-- The same hours from the rollups of the capacity metrics. Sums are exact (avg x count). A
-- rollup keeps each series' hour, not its minutes, so (docs/capacity-formulas.md, "On
-- rollups"): minutes is the most minutes one capacity series reported in the hour; peak is the
-- sum of the usage series' hourly maxima (the busiest minute when a namespace has one usage
-- series per kind, as Temporal Cloud reports it, or its series peak in the same minute), and
-- peak_at is the start of that hour; throttled_minutes is exact when the hour's throttle series
-- reported only throttled minutes or none (NULL otherwise); limits are the highest series'.
CREATE OR REPLACE MACRO capacity_rollup_hours(lo, hi, namespaces) AS TABLE
WITH rows AS (
    SELECT r.namespace, k.kind, k.role, r.hour, r.count, r.min, r.max, r.avg, r.last, r.last_ts
    FROM window_rollups(lo, hi, namespaces) AS r
    JOIN capacity_limits AS k USING (metric)
    WHERE r.metric IN (
        'temporal_cloud_v1_total_action_count',
        'temporal_cloud_v1_total_action_throttled_count',
        'temporal_cloud_v1_action_limit',
        'temporal_cloud_v1_action_on_demand_envelope_limit',
        'temporal_cloud_v1_service_request_count',
        'temporal_cloud_v1_service_request_throttled_count',
        'temporal_cloud_v1_service_request_limit',
        'temporal_cloud_v1_service_request_on_demand_envelope_limit',
        'temporal_cloud_v1_operations_count',
        'temporal_cloud_v1_operations_throttled_count',
        'temporal_cloud_v1_operations_limit',
        'temporal_cloud_v1_operations_on_demand_envelope_limit')
      -- background actions (is_background="true") do not count against action_limit
      AND NOT (k.kind = 'actions' AND k.role = 'used'
               AND contains(r.series, 'is_background="true"'))
),
grid AS (
    SELECT namespace, hour, max(count) AS minutes FROM rows GROUP BY namespace, hour
),
per_kind AS (
    SELECT
        namespace, kind, hour,
        sum(avg * count) FILTER (WHERE role = 'used') AS used_sum,
        sum(max) FILTER (WHERE role = 'used') AS peak,
        sum(avg * count) FILTER (WHERE role = 'throttled') AS throttled_sum,
        CASE WHEN bool_or(role = 'throttled' AND min <= 0 AND max > 0) THEN NULL
             ELSE coalesce(max(count) FILTER (WHERE role = 'throttled' AND min > 0), 0)
        END AS throttled_minutes,
        max(min) FILTER (WHERE role = 'limit') AS limit_min,
        max(last) FILTER (WHERE role = 'limit') AS limit_last,
        max(last) FILTER (WHERE role = 'envelope') AS envelope_last
    FROM rows
    GROUP BY namespace, kind, hour
)
SELECT
    g.namespace, k.kind, g.hour, g.minutes,
    coalesce(p.used_sum, 0) AS used_sum,
    coalesce(p.peak, 0) AS peak,
    g.hour AS peak_at,
    coalesce(p.throttled_sum, 0) AS throttled_sum,
    CASE WHEN p.kind IS NULL THEN 0 ELSE p.throttled_minutes END AS throttled_minutes,
    p.limit_min, p.limit_last, p.envelope_last
FROM grid AS g
CROSS JOIN (SELECT DISTINCT kind FROM capacity_limits) AS k
LEFT JOIN per_kind AS p USING (namespace, kind, hour);

CREATE OR REPLACE MACRO capacity_hours(since, until, namespaces) AS TABLE
WITH h AS (
    SELECT * FROM capacity_sample_hours(window_lo(since), rolled_lo(since, until), namespaces)
    UNION ALL
    SELECT * FROM capacity_rollup_hours(rolled_lo(since, until), rolled_hi(since, until), namespaces)
    UNION ALL
    SELECT * FROM capacity_sample_hours(rolled_hi(since, until), window_hi(until), namespaces)
)
SELECT
    *,
    coalesce(limit_min, last_value(limit_last IGNORE NULLS) OVER (
        PARTITION BY namespace, kind ORDER BY hour
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) AS tightest_limit
FROM h
WHERE capacity_rolled(since, until);
