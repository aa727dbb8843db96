-- Series growth per (day, namespace): distinct series that day, and the peak datapoints one
-- scrape of that namespace alone carried (all its samples sharing one timestamp).
CREATE OR REPLACE MACRO capacity_series_report(since, until, namespaces) AS TABLE
WITH per_ts AS (
    SELECT namespace, ts, count(*) AS points
    FROM window_samples(since, until, namespaces)
    GROUP BY namespace, ts
),
points AS (
    SELECT namespace, CAST(ts AS DATE) AS date, max(points) AS peak_points,
           round(avg(points), 1) AS avg_points
    FROM per_ts
    GROUP BY namespace, CAST(ts AS DATE)
),
series AS (
    SELECT namespace, date, count(DISTINCT series) AS series
    FROM window_samples(since, until, namespaces)
    GROUP BY namespace, date
)
SELECT s.date, s.namespace, s.series, p.peak_points, p.avg_points
FROM series AS s
JOIN points AS p USING (namespace, date)
ORDER BY s.date, s.namespace;

CREATE OR REPLACE VIEW capacity_series AS
SELECT * FROM capacity_series_report(
    getvariable('since'),
    getvariable('until'),
    getvariable('namespaces'));
