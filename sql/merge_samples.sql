-- Compaction's merge of one samples partition (archiver/store/merge.py): every row of the files
-- in getvariable('archiver_merge_files'), sorted by the table's key (series, ts); ties go to
-- the earlier file and the earlier row in it, so that the first stored copy of a key comes
-- first (the merge keeps it and drops the repeats that follow). Every file has the stored
-- schema (older ones are upgraded first); the date and namespace are not columns.
SELECT * EXCLUDE (filename, file_row_number)
FROM read_parquet(
    getvariable('archiver_merge_files'),
    filename = true,
    file_row_number = true,
    hive_partitioning = false
)
ORDER BY series, ts, filename, file_row_number
