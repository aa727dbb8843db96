-- Hourly backlog per queue; see backlog.sql.
SELECT * FROM backlog_report($since, $until, $namespaces);
