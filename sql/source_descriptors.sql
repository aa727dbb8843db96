-- The descriptor snapshots, read by column name so that older files keep working.
CREATE OR REPLACE VIEW _descriptors_source AS
SELECT *
FROM read_parquet(
    getvariable('archiver_descriptors_files'),
    hive_partitioning = true,
    hive_types = {'date': 'DATE'},
    union_by_name = true
);
