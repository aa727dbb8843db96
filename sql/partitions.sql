-- archive_partitions(tbl, date, namespace, files): the partitions of a local archive and how
-- many finished files each holds, from a listing of its directories (no file is opened).
-- `archiver.connect` sets `archiver_root` to the archive's directory with a trailing slash.
CREATE OR REPLACE VIEW archive_partitions AS
WITH files AS (
    SELECT file FROM glob(getvariable('archiver_root') || '[!_.]*/date=*/[!_.]*.parquet')
    UNION ALL
    SELECT file FROM glob(
        getvariable('archiver_root') || '[!_.]*/date=*/namespace=*/[!_.]*.parquet')
),
parsed AS (
    SELECT regexp_extract(
        substr(file, length(getvariable('archiver_root')) + 1),
        '^([^/]+)/date=([0-9]{4}-[0-9]{2}-[0-9]{2})/(?:namespace=([^/]+)/)?[^/]+$',
        ['tbl', 'date', 'namespace']) AS p
    FROM files
)
SELECT
    p.tbl AS tbl,
    CAST(p.date AS DATE) AS date,
    -- Hive's name for a null partition; the writer percent-encodes every other value
    CASE WHEN p.namespace IN ('', '__HIVE_DEFAULT_PARTITION__') THEN NULL
         ELSE url_decode(p.namespace) END AS namespace,
    count(*) AS files
FROM parsed
WHERE p.date <> ''
GROUP BY ALL
ORDER BY tbl, date, namespace;
