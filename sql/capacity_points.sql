-- Peak datapoints per (namespace, metric) in one minute over the window: the sizes a request
-- plan must fit under the point cap (see archiver.query.capacity.scrape_plan).
SELECT namespace, metric, max(points) AS peak_points
FROM (
    SELECT namespace, metric, ts, count(*) AS points
    FROM window_samples($since, $until, $namespaces)
    GROUP BY namespace, metric, ts
)
GROUP BY namespace, metric
ORDER BY peak_points DESC, namespace, metric;
