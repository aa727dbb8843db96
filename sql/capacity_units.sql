-- Temporal Resource Units needed per namespace: the peak minute of non-background actions per
-- second divided by actions_per_unit (500), rounded up (docs/capacity-formulas.md), beside the p95
-- minute (what a unit count sized for all but the busiest minutes would be) and whether the
-- namespace is provisioned (its action limit differs from the on-demand envelope).
CREATE OR REPLACE MACRO capacity_units_report(since, until, namespaces, actions_per_unit) AS TABLE
-- A long window reads capacity_hours (capacity.sql: rollups), where the p95 is NULL.
WITH m AS (
    SELECT * FROM capacity_minutes(since, until, namespaces)
    WHERE kind = 'actions' AND NOT capacity_rolled(since, until)
),
per_namespace AS (
    SELECT
        namespace,
        count(*) AS minutes,
        max(used) AS peak,
        peak_time(ts, used) AS peak_at,
        quantile_cont(used, 0.95) AS p95,
        arg_max("limit", ts) AS action_limit,
        arg_max(envelope, ts) AS on_demand_limit
    FROM m
    GROUP BY namespace
    UNION ALL
    SELECT
        namespace,
        CAST(sum(minutes) AS BIGINT) AS minutes,
        max(peak) AS peak,
        peak_time(peak_at, peak) AS peak_at,
        CAST(NULL AS DOUBLE) AS p95,
        arg_max(limit_last, hour) FILTER (WHERE limit_last IS NOT NULL) AS action_limit,
        arg_max(envelope_last, hour) FILTER (WHERE envelope_last IS NOT NULL) AS on_demand_limit
    FROM capacity_hours(since, until, namespaces)
    WHERE kind = 'actions'
    GROUP BY namespace
)
SELECT
    namespace,
    minutes,
    round(peak, 4) AS peak_actions_per_s,
    peak_at,
    round(p95, 4) AS p95_actions_per_s,
    CAST(ceil(peak / actions_per_unit) AS BIGINT) AS units_needed,
    CAST(ceil(p95 / actions_per_unit) AS BIGINT) AS units_needed_p95,
    action_limit,
    on_demand_limit,
    action_limit <> on_demand_limit AS provisioned
FROM per_namespace
ORDER BY peak_actions_per_s DESC, namespace;

CREATE OR REPLACE VIEW capacity_units AS
SELECT * FROM capacity_units_report(
    getvariable('since'),
    getvariable('until'),
    getvariable('namespaces'),
    getvariable('actions_per_unit'));
