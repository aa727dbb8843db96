-- The share of distinct values among the samples of a partition being compacted
-- (archiver/store/merge.py): few distinct values (idle zeros, integer backlogs, 3-decimal
-- rates, constant limits) compress better as a dictionary, smooth ones as plain doubles.
SELECT approx_count_distinct(value) / greatest(count(*), 1) AS share
FROM read_parquet(getvariable('archiver_merge_files'), hive_partitioning = false)
