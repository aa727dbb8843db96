-- Samples and scrape runs inside a report window, shared by every report.
-- since/until: TIMESTAMPTZ bounds of [since, until), NULL = unbounded (window_lo/window_hi).
-- namespaces: exact namespace names (wildcards are resolved before, see namespaces.sql),
-- NULL = every namespace. The date and namespace conditions are on the Hive partition columns
-- and fold to constants, so DuckDB skips whole files (EXPLAIN shows "File Filters").

CREATE OR REPLACE MACRO in_namespaces(namespace, namespaces) AS
    CAST(namespaces AS VARCHAR[]) IS NULL
    OR list_contains(CAST(namespaces AS VARCHAR[]), namespace);

CREATE OR REPLACE MACRO window_samples(since, until, namespaces) AS TABLE
SELECT *
FROM samples
WHERE ts >= window_lo(since)
  AND ts < window_hi(until)
  AND date >= CAST(window_lo(since) AS DATE)
  AND date <= CAST(window_hi(until) - INTERVAL 1 MILLISECOND AS DATE)
  AND in_namespaces(namespace, namespaces);

-- Scrape-log rows of one request kind whose partition can hold the window. A row is filed
-- under the date its run started, which can be the day after the minute it aimed at, hence
-- the one-day margin.
CREATE OR REPLACE MACRO window_scrapes(since, until, kind) AS TABLE
SELECT *
FROM scrapes
WHERE request = kind
  AND date >= CAST(window_lo(since) AS DATE) - INTERVAL 1 DAY
  AND date <= CAST(window_hi(until) AS DATE) + INTERVAL 1 DAY;

-- Scrape runs (the per-run summary rows) that aimed at or served a minute inside the window,
-- and imported minutes (one 'import' row each, filed under its own date: see
-- archiver/history/provenance.py), which vouch for their minute as a complete run does.
CREATE OR REPLACE MACRO window_runs(since, until) AS TABLE
SELECT
    scrape_id, started, finished, outcome, completeness, target_window, served_window,
    namespaces_seen, error
FROM (
    SELECT * FROM window_scrapes(since, until, 'scrape')
    UNION ALL BY NAME
    SELECT * FROM window_scrapes(since, until, 'import')
)
WHERE coalesce(target_window, served_window, started) >= window_lo(since)
  AND coalesce(target_window, served_window, started) < window_hi(until);

-- Rollup rows (one per series and hour, views.sql) of the hours in [lo, hi): the Hive date and
-- namespace conditions fold to constants, as in window_samples, so other files are skipped;
-- a caller's `metric IN (...)` is pushed into the scan, where row-group statistics skip the
-- other metrics. [lo, hi) is rolled_lo/rolled_hi of the window (macros.sql).
CREATE OR REPLACE MACRO window_rollups(lo, hi, namespaces) AS TABLE
SELECT *
FROM rollups
WHERE hour >= lo AND hour < hi
  AND date >= CAST(lo AS DATE) AND date <= CAST(hi - INTERVAL 1 MILLISECOND AS DATE)
  AND in_namespaces(namespace, namespaces);
