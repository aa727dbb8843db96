-- Cardinality: how many series, what drives them, and how close a scrape is to the point cap.
-- Label values are read from the distinct series of a window with label_value() and friends
-- (macros.sql): the distinct series of a day are few, the map column of every sample is not.

-- One row per (date, namespace, metric).
CREATE OR REPLACE MACRO cardinality_report(since, until, namespaces, point_cap) AS TABLE
-- Series and sample counts come from the hourly rollups for the whole hours of rolled-up days
-- when the window is longer than rollup_after() (macros.sql), from the samples for the rest:
-- the same answer either way (a rollup row counts its hour's samples).
WITH per_series AS (
    SELECT date, namespace, metric, series, CAST(sum(samples) AS BIGINT) AS samples
    FROM (
        SELECT date, namespace, metric, series, count(*) AS samples
        FROM window_samples(since, rolled_lo(since, until), namespaces)
        GROUP BY date, namespace, metric, series
        UNION ALL
        SELECT date, namespace, metric, series, CAST(sum(count) AS BIGINT)
        FROM window_rollups(rolled_lo(since, until), rolled_hi(since, until), namespaces)
        GROUP BY date, namespace, metric, series
        UNION ALL
        SELECT date, namespace, metric, series, count(*)
        FROM window_samples(rolled_hi(since, until), until, namespaces)
        GROUP BY date, namespace, metric, series
    )
    GROUP BY date, namespace, metric, series
),
labelled AS (
    SELECT
        *,
        label_value(series, 'temporal_task_queue') AS task_queue,
        label_value(series, 'temporal_workflow_type') AS workflow_type,
        label_value(series, 'temporal_activity_type') AS activity_type
    FROM per_series
),
per_day AS (
    SELECT
        date, namespace, metric,
        count(*) AS series,
        CAST(sum(samples) AS BIGINT) AS samples,
        count(DISTINCT task_queue) AS task_queues,
        count(DISTINCT workflow_type) AS workflow_types,
        count(DISTINCT activity_type) AS activity_types
    FROM labelled
    GROUP BY date, namespace, metric
)
SELECT
    date, namespace, metric, series, samples, task_queues, workflow_types, activity_types,
    -- the docs' estimate for one metric in one namespace: task queues x workflow types
    greatest(task_queues, 1) * greatest(workflow_types, 1) AS docs_estimate,
    series - first_value(series) OVER (PARTITION BY namespace, metric ORDER BY date)
        AS series_change,
    -- a minute where every series is active costs this much of one scrape
    round(series * 100.0 / CAST(point_cap AS BIGINT), 2) AS cap_share_pct
FROM per_day
ORDER BY date, namespace, series DESC, metric;

-- Which labels drive the series of each metric in each namespace over the window: one row per
-- (namespace, metric, label) with the label's distinct values. temporal_account and
-- temporal_namespace are left out: they hold one value per namespace.
CREATE OR REPLACE MACRO cardinality_drivers_report(since, until, namespaces) AS TABLE
WITH series AS (
    SELECT DISTINCT namespace, metric, series
    FROM window_samples(since, until, namespaces)
),
pairs AS (
    SELECT
        namespace, metric, series,
        unnest(label_names(series)) AS label,
        unnest(label_values(series)) AS value
    FROM series
),
totals AS (
    SELECT namespace, metric, count(*) AS series FROM series GROUP BY namespace, metric
)
SELECT
    p.namespace, p.metric, p.label,
    count(DISTINCT p.value) AS distinct_values,
    t.series
FROM pairs AS p
JOIN totals AS t USING (namespace, metric)
WHERE p.label NOT IN ('temporal_account', 'temporal_namespace')
GROUP BY p.namespace, p.metric, p.label, t.series
ORDER BY p.namespace, t.series DESC, p.metric, distinct_values DESC, p.label;

-- The label values behind the most series, account-wide: (namespace, label, value) ranked by
-- the distinct series that carry it, the top `top` of them.
CREATE OR REPLACE MACRO cardinality_contributors_report(since, until, namespaces, top) AS TABLE
WITH series AS (
    SELECT DISTINCT namespace, series
    FROM window_samples(since, until, namespaces)
),
pairs AS (
    SELECT
        namespace, series,
        unnest(label_names(series)) AS label,
        unnest(label_values(series)) AS value
    FROM series
),
totals AS (
    SELECT namespace, count(*) AS namespace_series FROM series GROUP BY namespace
),
ranked AS (
    SELECT
        p.namespace, p.label, p.value,
        count(*) AS series,
        round(100.0 * count(*) / any_value(t.namespace_series), 2) AS share_pct
    FROM pairs AS p
    JOIN totals AS t USING (namespace)
    WHERE p.label NOT IN ('temporal_account', 'temporal_namespace', 'region')
    GROUP BY p.namespace, p.label, p.value
)
SELECT *
FROM ranked
QUALIFY row_number() OVER (ORDER BY series DESC, namespace, label, value) <= CAST(top AS BIGINT)
ORDER BY series DESC, namespace, label, value;

-- Datapoints per scrape against the cap. One row per filter in use:
-- * source 'samples': what one unfiltered request for the selected namespaces would carry
--   (all samples sharing one timestamp), with the distinct series and the docs' estimate
--   (metrics x namespaces x task queues x workflow types) beside it;
-- * source 'scrape log': each request filter (shard) the collector actually sent, with the point
--   counts the server returned and how often it answered `limited`.
-- The trend is the slope of each day's peak; cap_date is when that line reaches the cap
-- (the last day already at the cap, or NULL when the peak is flat or falling).
CREATE OR REPLACE MACRO cardinality_headroom_report(since, until, namespaces, point_cap) AS TABLE
WITH w AS (
    SELECT ts, series, metric, namespace
    FROM window_samples(since, until, namespaces)
),
distinct_series AS (
    SELECT DISTINCT namespace, metric, series FROM w
),
selection AS (
    SELECT
        count(*) AS series,
        count(DISTINCT metric) AS metrics,
        count(DISTINCT namespace) AS namespaces,
        count(DISTINCT label_value(series, 'temporal_task_queue')) AS task_queues,
        count(DISTINCT label_value(series, 'temporal_workflow_type')) AS workflow_types
    FROM distinct_series
),
observations AS (
    SELECT 'all selected namespaces' AS filter, 'samples' AS source, ts AS observed_at,
           count(*) AS points, NULL::VARCHAR AS completeness
    FROM w
    GROUP BY ts
    UNION ALL
    SELECT coalesce(shard, 'unfiltered'), 'scrape log', started, sample_count, completeness
    FROM window_scrapes(since, until, 'metrics')
    WHERE sample_count IS NOT NULL
      AND started >= window_lo(since)
      AND started < window_hi(until)
),
daily AS (
    SELECT filter, source, CAST(observed_at AS DATE) AS day, max(points) AS peak
    FROM observations
    GROUP BY filter, source, CAST(observed_at AS DATE)
),
trend AS (
    SELECT
        filter, source,
        count(*) AS days,
        daily_slope(peak, day) AS slope_per_day,
        max(day) AS last_day,
        arg_max(peak, day) AS last_peak
    FROM daily
    GROUP BY filter, source
),
summary AS (
    SELECT
        filter, source,
        count(*) AS observations,
        max(points) AS peak_points,
        round(avg(points), 1) AS avg_points,
        quantile_disc(points, 0.95) AS p95_points,
        count(*) FILTER (WHERE completeness = 'limited') AS limited
    FROM observations
    GROUP BY filter, source
)
SELECT
    s.filter,
    s.source,
    t.days,
    s.observations,
    CASE WHEN s.source = 'samples' THEN sel.series END AS series,
    CASE WHEN s.source = 'samples'
        THEN sel.metrics * sel.namespaces * greatest(sel.task_queues, 1)
             * greatest(sel.workflow_types, 1)
    END AS docs_estimate,
    s.peak_points,
    s.avg_points,
    s.p95_points,
    CAST(point_cap AS BIGINT) AS point_cap,
    CAST(point_cap AS BIGINT) - s.peak_points AS headroom,
    round(100.0 * (CAST(point_cap AS BIGINT) - s.peak_points) / CAST(point_cap AS BIGINT), 1)
        AS headroom_pct,
    s.limited,
    round(t.slope_per_day, 1) AS slope_per_day,
    reaches_on(t.last_day, t.last_peak, t.slope_per_day, CAST(point_cap AS BIGINT)) AS cap_date
FROM summary AS s
JOIN trend AS t USING (filter, source)
CROSS JOIN selection AS sel
ORDER BY s.source DESC, s.peak_points DESC, s.filter;

-- The report views: the same macros, parameters from variables (see views.sql).
CREATE OR REPLACE VIEW cardinality AS
SELECT * FROM cardinality_report(
    getvariable('since'), getvariable('until'), getvariable('namespaces'),
    getvariable('point_cap'));

CREATE OR REPLACE VIEW cardinality_drivers AS
SELECT * FROM cardinality_drivers_report(
    getvariable('since'), getvariable('until'), getvariable('namespaces'));

CREATE OR REPLACE VIEW cardinality_contributors AS
SELECT * FROM cardinality_contributors_report(
    getvariable('since'), getvariable('until'), getvariable('namespaces'), getvariable('top'));

CREATE OR REPLACE VIEW cardinality_headroom AS
SELECT * FROM cardinality_headroom_report(
    getvariable('since'), getvariable('until'), getvariable('namespaces'),
    getvariable('point_cap'));
