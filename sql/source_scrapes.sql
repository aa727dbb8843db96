-- The scrape log files. The log gains columns over time, so files are read by column name.
CREATE OR REPLACE VIEW _scrapes_source AS
SELECT *
FROM read_parquet(
    getvariable('archiver_scrapes_files'),
    hive_partitioning = true,
    hive_types = {'date': 'DATE'},
    union_by_name = true
);
