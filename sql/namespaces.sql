-- Which known namespaces match each of the patterns $patterns (`*` and `?` wildcards).
-- `archive_partitions` (partitions.sql) comes from a listing of the directories, so this never
-- opens a Parquet file.
WITH patterns AS (SELECT unnest(CAST($patterns AS VARCHAR[])) AS pattern)
SELECT p.pattern, n.namespace
FROM patterns AS p
LEFT JOIN (SELECT DISTINCT namespace FROM archive_partitions WHERE namespace IS NOT NULL) AS n
    ON n.namespace GLOB p.pattern
ORDER BY p.pattern, n.namespace;
