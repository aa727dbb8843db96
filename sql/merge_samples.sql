-- Compaction's merge of one samples partition (archiver/store/merge.py): every sample of the
-- files in getvariable('archiver_merge_files') as (series_index, ts, value), sorted by series
-- then time. Ties go to the earlier file (the staged inputs are named by their position) and
-- the earlier row in it, so that the first stored copy of a sample comes first (the merge
-- keeps it and drops the repeats that follow). Only fixed-width columns go through the sort:
-- the series' text, metric and labels come back from archiver_merge_series (merge_series.sql).
SELECT s.series_index, i.ts, i.value
FROM read_parquet(
    getvariable('archiver_merge_files'),
    filename = true,
    file_row_number = true,
    hive_partitioning = false
) AS i
JOIN archiver_merge_series AS s USING (series)
ORDER BY
    s.series_index,
    i.ts,
    CAST(regexp_extract(i.filename, '(\d+)\.parquet$', 1) AS BIGINT),
    i.file_row_number
