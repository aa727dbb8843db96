-- Samples and scrape runs inside a report window, shared by every report.
-- since/until: TIMESTAMPTZ bounds of [since, until), NULL = unbounded.
-- namespaces: exact namespace names (wildcards are resolved before, see namespaces.sql),
-- NULL = every namespace. The date and namespace conditions are on the Hive partition columns
-- and fold to constants, so DuckDB skips whole files (EXPLAIN shows "File Filters").

CREATE OR REPLACE MACRO window_samples(since, until, namespaces) AS TABLE
SELECT *
FROM samples
WHERE ts >= coalesce(CAST(since AS TIMESTAMPTZ), CAST('-infinity' AS TIMESTAMPTZ))
  AND ts < coalesce(CAST(until AS TIMESTAMPTZ), CAST('infinity' AS TIMESTAMPTZ))
  AND date >= CAST(coalesce(CAST(since AS TIMESTAMPTZ), CAST('-infinity' AS TIMESTAMPTZ)) AS DATE)
  AND date <= CAST(
      coalesce(CAST(until AS TIMESTAMPTZ), CAST('infinity' AS TIMESTAMPTZ)) - INTERVAL 1 MILLISECOND
      AS DATE)
  AND (CAST(namespaces AS VARCHAR[]) IS NULL
       OR list_contains(CAST(namespaces AS VARCHAR[]), namespace));

-- Scrape runs (the per-run summary rows) that aimed at or served a minute inside the window.
-- A run is filed under the date it started, which can be the day after the minute it aimed at,
-- hence the one-day margin on the partition filter.
CREATE OR REPLACE MACRO window_runs(since, until) AS TABLE
SELECT
    scrape_id, started, finished, outcome, completeness, target_window, served_window,
    namespaces_seen, error
FROM scrapes
WHERE request = 'scrape'
  AND date >= CAST(coalesce(CAST(since AS TIMESTAMPTZ), CAST('-infinity' AS TIMESTAMPTZ)) AS DATE)
      - INTERVAL 1 DAY
  AND date <= CAST(coalesce(CAST(until AS TIMESTAMPTZ), CAST('infinity' AS TIMESTAMPTZ)) AS DATE)
      + INTERVAL 1 DAY
  AND coalesce(target_window, served_window, started)
      >= coalesce(CAST(since AS TIMESTAMPTZ), CAST('-infinity' AS TIMESTAMPTZ))
  AND coalesce(target_window, served_window, started)
      < coalesce(CAST(until AS TIMESTAMPTZ), CAST('infinity' AS TIMESTAMPTZ));
