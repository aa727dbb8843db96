-- Continuity across renames: the `samples` view reads the stored samples through the lineage
-- table (archiver/lineage.csv, loaded at connect into lineage_metrics and lineage_labels), so
-- a metric or label renamed by the service reads as one series under its current name.
-- `samples_as_scraped` shows the names as they were stored.

CREATE OR REPLACE MACRO lineage_escape(v) AS
    replace(replace(replace(v, '\', '\\'), '"', '\"'), chr(10), '\n');

-- The canonical series text (metric{k="v",...}, names sorted) of a relabelled sample.
CREATE OR REPLACE MACRO lineage_series(metric, labels) AS
    CASE WHEN cardinality(labels) = 0 THEN metric
    ELSE metric || '{' || array_to_string(
        [e.key || '="' || lineage_escape(e.value) || '"' FOR e IN list_sort(map_entries(labels))],
        ',') || '}'
    END;

CREATE OR REPLACE VIEW _samples_lineage AS
WITH label_maps AS (
    -- one map of label renames per metric; it applies before the latest effective date (never
    -- stops applying when any rule has no date)
    SELECT metric, map(list(old ORDER BY old), list(new ORDER BY old)) AS renames,
           CASE WHEN count(*) = count(effective) THEN max(effective) END AS effective
    FROM lineage_labels
    GROUP BY metric
),
named AS (
    SELECT s.*, coalesce(m.new, s.metric) AS current_metric, m.new IS NOT NULL AS renamed
    FROM _samples_source AS s
    LEFT JOIN lineage_metrics AS m
        ON m.old = s.metric AND (m.effective IS NULL OR s.ts < m.effective)
),
relabelled AS (
    SELECT
        n.*,
        CASE WHEN l.renames IS NOT NULL
                  AND (l.effective IS NULL OR n.ts < l.effective)
                  AND list_has_any(map_keys(n.labels), map_keys(l.renames))
            THEN map_from_entries(
                [{'key': coalesce(l.renames[e.key], e.key), 'value': e.value}
                 FOR e IN map_entries(n.labels)])
        END AS new_labels
    FROM named AS n
    LEFT JOIN label_maps AS l ON l.metric = n.current_metric
)
SELECT * EXCLUDE (current_metric, renamed, new_labels) REPLACE (
    current_metric AS metric,
    coalesce(new_labels, labels) AS labels,
    CASE
        WHEN new_labels IS NOT NULL THEN lineage_series(current_metric, new_labels)
        WHEN renamed THEN current_metric || substr(series, length(metric) + 1)
        ELSE series
    END AS series
)
FROM relabelled;

CREATE OR REPLACE VIEW samples_as_scraped AS
SELECT CAST(ts AS TIMESTAMPTZ) AS ts, metric, namespace, labels, value, series, date
FROM _samples_source;
