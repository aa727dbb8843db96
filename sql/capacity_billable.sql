-- What drives billable actions: totals per (namespace, action_type, workflow type) over the
-- window. A rate is per second over its minute, so a minute holds value x 60 actions; a missing
-- minute holds none. Labels come from the series text (few distinct series, many samples).
-- Long windows sum the hourly rollups (avg x count: the same sum) for their rolled-up hours.
CREATE OR REPLACE MACRO capacity_billable_report(since, until, namespaces) AS TABLE
WITH per_series AS (
    SELECT namespace, series, sum(total) * 60 AS actions
    FROM (
        SELECT namespace, series, value AS total
        FROM window_samples(since, rolled_lo(since, until), namespaces)
        WHERE metric = 'temporal_cloud_v1_billable_action_count'
        UNION ALL
        SELECT namespace, series, avg * count
        FROM window_rollups(rolled_lo(since, until), rolled_hi(since, until), namespaces)
        WHERE metric = 'temporal_cloud_v1_billable_action_count'
        UNION ALL
        SELECT namespace, series, value
        FROM window_samples(rolled_hi(since, until), until, namespaces)
        WHERE metric = 'temporal_cloud_v1_billable_action_count'
    )
    GROUP BY namespace, series
),
labelled AS (
    SELECT
        namespace, actions,
        coalesce(label_value(series, 'action_type'), '(none)') AS action_type,
        coalesce(label_value(series, 'temporal_workflow_type'), '(none)') AS workflow_type
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

CREATE OR REPLACE VIEW capacity_billable AS
SELECT * FROM capacity_billable_report(
    getvariable('since'),
    getvariable('until'),
    getvariable('namespaces'));
