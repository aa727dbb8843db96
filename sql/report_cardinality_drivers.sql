-- Which labels drive each metric's series; see cardinality.sql.
SELECT * FROM cardinality_drivers_report($since, $until, $namespaces);
