-- Temporal Resource Units needed per namespace: the peak minute of non-background actions per
-- second divided by $actions_per_unit (500), rounded up (capacity-formulas.md), beside the p95
-- minute (what a unit count sized for all but the busiest minutes would be) and whether the
-- namespace is provisioned (its action limit differs from the on-demand envelope).
WITH m AS (
    SELECT * FROM capacity_minutes($since, $until, $namespaces) WHERE kind = 'actions'
)
SELECT
    namespace,
    count(*) AS minutes,
    round(max(used), 4) AS peak_actions_per_s,
    arg_max(ts, used) AS peak_at,
    round(quantile_cont(used, 0.95), 4) AS p95_actions_per_s,
    CAST(ceil(max(used) / $actions_per_unit) AS BIGINT) AS units_needed,
    CAST(ceil(quantile_cont(used, 0.95) / $actions_per_unit) AS BIGINT) AS units_needed_p95,
    arg_max("limit", ts) AS action_limit,
    arg_max(envelope, ts) AS on_demand_limit,
    arg_max("limit", ts) <> arg_max(envelope, ts) AS provisioned
FROM m
GROUP BY namespace
ORDER BY peak_actions_per_s DESC, namespace;
