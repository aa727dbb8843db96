-- The series of one samples partition being compacted (archiver/store/merge.py), numbered in
-- their sort order: the merge sorts these small integers instead of the series text, and
-- takes metric and labels back from here (a series' text determines both).
CREATE OR REPLACE TEMP TABLE archiver_merge_series AS
SELECT
    CAST(row_number() OVER (ORDER BY series) - 1 AS BIGINT) AS series_index,
    series,
    metric,
    labels
FROM (
    SELECT series, any_value(metric) AS metric, any_value(labels) AS labels
    FROM read_parquet(getvariable('archiver_merge_files'), hive_partitioning = false)
    GROUP BY series
);
