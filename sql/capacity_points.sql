-- Peak datapoints per (namespace, metric) in one minute over the window: the sizes a request
-- plan must fit under the point cap (see archiver.query.capacity.scrape_plan).
CREATE OR REPLACE MACRO capacity_points_report(since, until, namespaces) AS TABLE
SELECT namespace, metric, max(points) AS peak_points
FROM (
    SELECT namespace, metric, ts, count(*) AS points
    FROM window_samples(since, until, namespaces)
    GROUP BY namespace, metric, ts
)
GROUP BY namespace, metric
ORDER BY peak_points DESC, namespace, metric;

CREATE OR REPLACE VIEW capacity_points AS
SELECT * FROM capacity_points_report(
    getvariable('since'),
    getvariable('until'),
    getvariable('namespaces'));
