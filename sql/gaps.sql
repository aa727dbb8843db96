-- Completeness audit: which minutes of which namespace hold no sample, and why.
-- The grid is every minute the scrape log covers inside [since, until), times every namespace
-- seen (in samples or in a run's namespaces_seen). A minute with a sample is covered. For one
-- without, every run that aimed at it (target_window) or served it (window) is evidence, and the
-- most benign explanation wins:
--   idle          a complete run served the minute and the namespace was not in it (not a gap)
--   missing       a complete run saw the namespace in that minute, yet no sample is stored
--   truncated     the run serving it ended `limited` (cut at the data-point cap)
--   unknown       the run serving it ended `unknown` (a region timed out)
--   stall         a run aimed at it and was served an older minute again (same timestamp twice)
--   rate_limited  the run aimed at it was refused by 429 or by the local request budget
--   failed        any other failure (network, server, auth, parse)
--   not_scraped   no run aimed at or served the minute (`skipped` runs count as no run)

-- The audited span: the minutes the scrape log covers, clipped to [since, until).
CREATE OR REPLACE MACRO gaps_span(since, until) AS TABLE
WITH runs AS (
    SELECT * FROM window_runs(since, until)
)
SELECT
    greatest(first_minute, date_trunc('minute', window_lo(since))) AS lo,
    least(last_minute + INTERVAL 1 MINUTE, window_hi(until)) AS hi
FROM (
    SELECT
        min(date_trunc('minute', least(target_window, served_window))) AS first_minute,
        max(date_trunc('minute', greatest(target_window, served_window))) AS last_minute
    FROM runs
);

CREATE OR REPLACE MACRO gaps_minutes(since, until, namespaces) AS TABLE
WITH runs AS MATERIALIZED (
    SELECT * FROM window_runs(since, until)
),
span AS (
    SELECT * FROM gaps_span(since, until)
),
grid AS (
    SELECT unnest(generate_series(lo, hi - INTERVAL 1 MINUTE, INTERVAL 1 MINUTE)) AS minute
    FROM span
    WHERE lo < hi
),
present AS (
    -- distinct timestamps first: truncating a TIMESTAMPTZ goes through ICU, which is slow on
    -- every sample and cheap on the few distinct (namespace, ts) pairs
    SELECT DISTINCT namespace, date_trunc('minute', ts) AS minute
    FROM (SELECT DISTINCT namespace, ts FROM window_samples(since, until, namespaces))
),
names AS (
    SELECT DISTINCT namespace FROM present
    UNION
    SELECT DISTINCT unnest(namespaces_seen) FROM runs
),
selected_names AS (
    SELECT namespace FROM names
    WHERE namespace IS NOT NULL AND in_namespaces(namespace, namespaces)
),
evidence AS (
    -- what each run says about the minute it aimed at
    SELECT date_trunc('minute', target_window) AS minute, outcome, served_window,
           namespaces_seen, true AS aimed
    FROM runs
    WHERE target_window IS NOT NULL AND outcome <> 'skipped'
    UNION ALL
    -- and about an older minute it served instead (a stall)
    SELECT date_trunc('minute', served_window), outcome, served_window, namespaces_seen, false
    FROM runs
    WHERE served_window IS NOT NULL AND outcome <> 'skipped'
      AND served_window IS DISTINCT FROM target_window
),
cells AS (
    SELECT n.namespace, g.minute
    FROM selected_names AS n CROSS JOIN grid AS g
    ANTI JOIN present AS p ON p.namespace = n.namespace AND p.minute = g.minute
),
explained AS (
    SELECT
        c.namespace, c.minute,
        min(CASE
            WHEN e.minute IS NULL THEN 7
            WHEN date_trunc('minute', e.served_window) = c.minute AND e.outcome = 'complete'
                THEN CASE WHEN list_contains(e.namespaces_seen, c.namespace) THEN 1 ELSE 0 END
            WHEN date_trunc('minute', e.served_window) = c.minute AND e.outcome = 'limited' THEN 2
            WHEN date_trunc('minute', e.served_window) = c.minute AND e.outcome = 'unknown' THEN 3
            WHEN e.aimed AND e.served_window < c.minute THEN 4
            WHEN e.outcome IN ('rate_limited', 'budget_exhausted') THEN 5
            ELSE 6
        END) AS rank
    FROM cells AS c
    LEFT JOIN evidence AS e ON e.minute = c.minute
    GROUP BY c.namespace, c.minute
)
SELECT
    namespace, minute,
    ['idle', 'missing', 'truncated', 'unknown', 'stall', 'rate_limited', 'failed',
     'not_scraped'][rank + 1] AS reason
FROM explained;

-- Missing minutes collapsed into ranges [start, "end") of one reason per namespace.
CREATE OR REPLACE MACRO gaps_report(since, until, namespaces) AS TABLE
WITH m AS (
    SELECT
        *,
        minute - to_minutes(
            row_number() OVER (PARTITION BY namespace, reason ORDER BY minute)) AS island
    FROM gaps_minutes(since, until, namespaces)
)
SELECT
    namespace,
    min(minute) AS start,
    max(minute) + INTERVAL 1 MINUTE AS "end",
    count(*) AS minutes,
    reason,
    reason <> 'idle' AS is_gap
FROM m
GROUP BY namespace, reason, island
ORDER BY namespace, start;

-- Coverage per namespace: the share of grid minutes that hold data or were idle.
CREATE OR REPLACE MACRO gaps_coverage_report(since, until, namespaces) AS TABLE
WITH runs AS (
    SELECT * FROM window_runs(since, until)
),
span AS (
    SELECT * FROM gaps_span(since, until)
),
missing AS (
    SELECT namespace,
           count(*) FILTER (WHERE reason = 'idle') AS idle_minutes,
           count(*) FILTER (WHERE reason <> 'idle') AS gap_minutes
    FROM gaps_minutes(since, until, namespaces)
    GROUP BY namespace
),
present AS (
    SELECT namespace, count(DISTINCT date_trunc('minute', ts)) AS minutes_with_data
    FROM (SELECT DISTINCT namespace, ts FROM window_samples(since, until, namespaces))
    WHERE ts >= (SELECT lo FROM span) AND ts < (SELECT hi FROM span)
    GROUP BY namespace
),
total AS (
    SELECT CAST(greatest(epoch(hi - lo) / 60, 0) AS BIGINT) AS minutes FROM span
)
SELECT
    namespace,
    total.minutes AS minutes,
    coalesce(p.minutes_with_data, 0) AS minutes_with_data,
    coalesce(m.idle_minutes, 0) AS idle_minutes,
    coalesce(m.gap_minutes, 0) AS gap_minutes,
    round(100.0 * (total.minutes - coalesce(m.gap_minutes, 0)) / nullif(total.minutes, 0), 2)
        AS coverage_pct
FROM missing AS m
FULL JOIN present AS p USING (namespace)
CROSS JOIN total
ORDER BY coverage_pct, namespace;

-- Every scrape run in the window that did not end `complete`. Not listed: `skipped` runs (the
-- minute was archived already, or another scrape held the lock: nothing was lost) and complete
-- runs served an older minute again (a stall: the gap ranges show those minutes as `stall`).
CREATE OR REPLACE MACRO gaps_scrapes_report(since, until) AS TABLE
SELECT
    scrape_id, started, target_window, served_window, outcome, completeness,
    coalesce(served_window < target_window, false) AS stalled,
    error
FROM window_runs(since, until)
WHERE outcome NOT IN ('complete', 'skipped')
ORDER BY started, scrape_id;

CREATE OR REPLACE VIEW gaps AS
SELECT * FROM gaps_report(
    getvariable('since'), getvariable('until'), getvariable('namespaces'));

CREATE OR REPLACE VIEW gaps_coverage AS
SELECT * FROM gaps_coverage_report(
    getvariable('since'), getvariable('until'), getvariable('namespaces'));

CREATE OR REPLACE VIEW gaps_scrapes AS
SELECT * FROM gaps_scrapes_report(getvariable('since'), getvariable('until'));
