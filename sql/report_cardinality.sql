-- The cardinality report: one row per (date, namespace, metric); see cardinality.sql.
SELECT * FROM cardinality_report($since, $until, $namespaces);
