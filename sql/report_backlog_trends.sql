-- Backlog trend per queue; see backlog.sql.
SELECT * FROM backlog_trends_report($since, $until, $namespaces);
