-- What each label costs: distinct series over the window now, and how many would remain if the
-- label were dropped (not requested, or aggregated away by relabelling). Labels are read from
-- the series text; the namespace and account labels are left out (one value per namespace).
CREATE OR REPLACE MACRO capacity_labels_report(since, until, namespaces, optin) AS TABLE
-- Long windows take the series of their rolled-up hours from the rollups (the same series).
WITH series AS (
    SELECT DISTINCT metric, series
    FROM window_samples(since, rolled_lo(since, until), namespaces)
    UNION
    SELECT DISTINCT metric, series
    FROM window_rollups(rolled_lo(since, until), rolled_hi(since, until), namespaces)
    UNION
    SELECT DISTINCT metric, series
    FROM window_samples(rolled_hi(since, until), until, namespaces)
),
pairs AS (
    SELECT
        metric, series,
        label_names(series) AS keys,
        label_pairs(series) AS kvs
    FROM series
),
per_label AS (
    SELECT metric, series, keys, kvs, unnest(keys) AS label FROM pairs
),
reduced AS (
    SELECT
        label, metric, series,
        -- the series' identity without this label
        metric || array_to_string(
            list_filter(kvs, lambda kv, i: keys[i] <> label), ',') AS without
    FROM per_label
    WHERE label NOT IN ('temporal_account', 'temporal_namespace')
),
counted AS (
    SELECT
        label,
        count(DISTINCT metric) AS metrics,
        count(DISTINCT series) AS series_with_label,
        count(DISTINCT without) AS series_without_label,
        count(DISTINCT series) - count(DISTINCT without) AS series_saved
    FROM reduced
    GROUP BY label
)
SELECT *, list_contains(CAST(optin AS VARCHAR[]), label) AS optin
FROM counted
ORDER BY series_saved DESC, label;

CREATE OR REPLACE VIEW capacity_labels AS
SELECT * FROM capacity_labels_report(
    getvariable('since'),
    getvariable('until'),
    getvariable('namespaces'),
    getvariable('optin'));
