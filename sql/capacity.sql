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
