-- The hourly rollups the compactor writes (one row per series and hour), read like the samples:
-- a pinned schema (archiver.store.tables), explicit Hive types, no footer read per file.
CREATE OR REPLACE VIEW _rollups_source AS
SELECT *
FROM read_parquet(
    getvariable('archiver_rollups_files'),
    hive_partitioning = true,
    hive_types = {'date': 'DATE', 'namespace': 'VARCHAR'}
);
