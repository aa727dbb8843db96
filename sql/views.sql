-- The public views over the archive (CONTRACT.md, "The SQL layer").
-- `_<table>_source` is either a read_parquet view (local archive) or a registered Arrow
-- dataset (S3); these views give both the same names and types.

CREATE OR REPLACE VIEW samples AS
SELECT
    CAST(ts AS TIMESTAMPTZ) AS ts,
    metric,
    namespace,
    labels,
    value,
    -- the canonical series identity: metric{k="v",...} with sorted labels
    series,
    date
-- renamed metrics and labels under their current names (lineage.sql)
FROM _samples_lineage;

CREATE OR REPLACE VIEW scrapes AS
SELECT * REPLACE (
    CAST(started AS TIMESTAMPTZ) AS started,
    CAST(finished AS TIMESTAMPTZ) AS finished,
    CAST(target_window AS TIMESTAMPTZ) AS target_window,
    CAST(served_window AS TIMESTAMPTZ) AS served_window
)
FROM _scrapes_source;

-- One row per (series, hour) of the closed days the compactor rolled up: count, min, max,
-- avg and last (the value at the hour's last sample, taken at last_ts) of the hour's samples.
CREATE OR REPLACE VIEW rollups AS
SELECT
    CAST(hour AS TIMESTAMPTZ) AS hour,
    metric,
    namespace,
    labels,
    series,
    count,
    min,
    max,
    avg,
    last,
    CAST(last_ts AS TIMESTAMPTZ) AS last_ts,
    date
FROM _rollups_source;

CREATE OR REPLACE VIEW descriptors AS
SELECT * REPLACE (CAST(fetched AS TIMESTAMPTZ) AS fetched)
FROM _descriptors_source;

-- Report parameters for the report views. Change them with SET VARIABLE, e.g.
--   SET VARIABLE since = TIMESTAMPTZ '2025-01-01';  SET VARIABLE namespaces = ['prod.acme1'];
-- NULL means unbounded (since, until) or every namespace (namespaces: exact names, no wildcards).
-- The library's report functions set the same variables (archiver.query.connect.read_view).
SET VARIABLE since = NULL::TIMESTAMPTZ;
SET VARIABLE until = NULL::TIMESTAMPTZ;
SET VARIABLE namespaces = NULL::VARCHAR[];
SET VARIABLE point_cap = 30000;          -- datapoints one scrape may carry (cardinality_headroom)
SET VARIABLE top = 20;                   -- rows of cardinality_contributors
SET VARIABLE bucket_seconds = 3600;      -- capacity_usage buckets (60 = every minute)
SET VARIABLE warn_pct = 50.0;            -- capacity levels: warn at this share of a limit
SET VARIABLE page_pct = 90.0;            -- ... and page at this one
SET VARIABLE actions_per_unit = 500;     -- actions per second one resource unit buys
-- `optin` (the labels a request must opt in to) is set by archiver.connect from the catalog.
