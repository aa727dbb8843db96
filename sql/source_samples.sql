-- The stored sample files, as DuckDB reads them. `archiver.connect` sets the variable
-- `archiver_samples_files` to the table's glob (archiver.query.sources), or to the listed files
-- minus the ones a query found corrupt.
-- Explicit Hive types: a date partition is a DATE, a namespace is always text, even when a
-- namespace happens to look like a number. union_by_name is off on purpose: the sample schema is
-- pinned (archiver.store.tables.SAMPLES) and reading every footer at bind time would cost more than the
-- query itself on a week of files.
CREATE OR REPLACE VIEW _samples_source AS
SELECT *
FROM read_parquet(
    getvariable('archiver_samples_files'),
    hive_partitioning = true,
    hive_types = {'date': 'DATE', 'namespace': 'VARCHAR'}
);
