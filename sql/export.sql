-- Samples given back to a TSDB, in the order a backfill wants them: metric by metric (an
-- OpenMetrics family must be contiguous), each series' samples in time order.
-- $since / $until: TIMESTAMPTZ bounds of [since, until), NULL = open.
-- $namespaces: exact namespace names (patterns are resolved before), NULL = every namespace.
-- $metrics: metric name patterns (`*` and `?` wildcards), NULL = every metric.
-- $after_metric / $after_series / $after_ts: resume after this sample (NULL: from the start).
SELECT metric, series, map_entries(labels) AS labels, ts, value
FROM window_samples($since, $until, $namespaces)
WHERE (CAST($metrics AS VARCHAR[]) IS NULL
       OR EXISTS (SELECT 1 FROM unnest(CAST($metrics AS VARCHAR[])) AS p(pattern)
                  WHERE metric GLOB p.pattern))
  AND ($after_metric IS NULL
       OR metric > $after_metric
       OR (metric = $after_metric
           AND (series > $after_series
                OR (series = $after_series AND ts > CAST($after_ts AS TIMESTAMPTZ)))))
ORDER BY metric, series, ts;
