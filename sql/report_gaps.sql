-- Missing minute ranges per namespace; see gaps.sql.
SELECT * FROM gaps_report($since, $until, $namespaces);
