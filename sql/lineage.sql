-- Continuity across renames: the `samples` view reads the stored samples through the lineage
-- table (archiver/lineage.csv; archiver.history.lineage.register sets these variables at
-- connect), so a metric or label renamed by the service reads as one series under its current
-- name. `samples_as_scraped` shows the names as they were stored.
--   lineage_touched      VARCHAR[]   every stored metric name a rule may change (old names,
--                                    and both names of a metric with renamed labels)
--   lineage_metric_new   MAP old metric -> new metric
--   lineage_label_maps   MAP current metric -> MAP old label -> new label
-- Rows of other metrics pass through untouched: one list lookup per row, no join. The rules
-- apply to every sample under an old name (which only occurs before the rename took effect), so
-- `ts` is not read: on a 52M-sample scan reading it too cost ~1.4x.

CREATE OR REPLACE MACRO lineage_metric(metric) AS
    coalesce(getvariable('lineage_metric_new')[metric], metric);

CREATE OR REPLACE MACRO lineage_labels(current_metric, labels) AS
    CASE WHEN getvariable('lineage_label_maps')[current_metric] IS NOT NULL
        THEN map_from_entries(
            [{'key': coalesce(getvariable('lineage_label_maps')[current_metric][e.key], e.key),
              'value': e.value}
             FOR e IN map_entries(labels)])
        ELSE labels
    END;

-- The series text under the current names, worked out from the stored series text alone: a
-- query that never reads `labels` (a map column, the costliest to scan) does not start to.
-- A label rename re-sorts the pairs, as the canonical text has them sorted by name.
CREATE OR REPLACE MACRO lineage_pair_key(pair) AS regexp_extract(pair, '^([^=]+)=', 1);

CREATE OR REPLACE MACRO lineage_series(current_metric, series) AS
    CASE WHEN getvariable('lineage_label_maps')[current_metric] IS NOT NULL
              AND contains(series, '{')
        THEN current_metric || '{' || array_to_string(
            [x.text FOR x IN list_sort(
                [{'key': coalesce(getvariable('lineage_label_maps')[current_metric][
                                      lineage_pair_key(p)], lineage_pair_key(p)),
                  'text': coalesce(getvariable('lineage_label_maps')[current_metric][
                                       lineage_pair_key(p)], lineage_pair_key(p))
                          || substr(p, strpos(p, '='))}
                 FOR p IN regexp_extract_all(series, '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"')])],
            ',') || '}'
        ELSE current_metric || substr(series, strpos(series || '{', '{'))
    END;

CREATE OR REPLACE VIEW _samples_lineage AS
SELECT * REPLACE (
    CASE WHEN list_contains(getvariable('lineage_touched'), metric)
        THEN lineage_metric(metric) ELSE metric
    END AS metric,
    CASE WHEN list_contains(getvariable('lineage_touched'), metric)
        THEN lineage_labels(lineage_metric(metric), labels) ELSE labels
    END AS labels,
    CASE WHEN list_contains(getvariable('lineage_touched'), metric)
        THEN lineage_series(lineage_metric(metric), series)
        ELSE series
    END AS series
)
FROM _samples_source;

CREATE OR REPLACE VIEW samples_as_scraped AS
SELECT CAST(ts AS TIMESTAMPTZ) AS ts, metric, namespace, labels, value, series, date
FROM _samples_source;
