-- Coverage per namespace; see gaps.sql.
SELECT * FROM gaps_coverage_report($since, $until, $namespaces);
