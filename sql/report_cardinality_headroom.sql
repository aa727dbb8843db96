-- Datapoints per scrape against the cap, per filter in use; see cardinality.sql.
SELECT * FROM cardinality_headroom_report($since, $until, $namespaces, $point_cap);
