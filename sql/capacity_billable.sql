-- What drives billable actions: totals per (namespace, action_type, workflow type) over the
-- window. A rate is per second over its minute, so a minute holds value x 60 actions; a missing
-- minute holds none. Labels come from the series text (few distinct series, many samples).
WITH per_series AS (
    SELECT namespace, series, sum(value) * 60 AS actions
    FROM window_samples($since, $until, $namespaces)
    WHERE metric = 'temporal_cloud_v1_billable_action_count'
    GROUP BY namespace, series
),
labelled AS (
    SELECT
        namespace, actions,
        coalesce(nullif(regexp_extract(series, '[{,]\s*action_type="((?:[^"\\]|\\.)*)"', 1), ''),
                 '(none)') AS action_type,
        coalesce(nullif(regexp_extract(
            series, '[{,]\s*temporal_workflow_type="((?:[^"\\]|\\.)*)"', 1), ''), '(none)')
            AS workflow_type
    FROM per_series
),
grouped AS (
    SELECT namespace, action_type, workflow_type, sum(actions) AS actions
    FROM labelled
    GROUP BY namespace, action_type, workflow_type
)
SELECT
    namespace, action_type, workflow_type,
    CAST(round(actions) AS BIGINT) AS actions,
    round(100.0 * actions / nullif(sum(actions) OVER (PARTITION BY namespace), 0), 2)
        AS share_pct
FROM grouped
ORDER BY namespace, actions DESC, action_type, workflow_type;
