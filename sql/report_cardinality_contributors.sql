-- The label values behind the most series; see cardinality.sql.
SELECT * FROM cardinality_contributors_report($since, $until, $namespaces, $top);
