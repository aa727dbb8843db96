-- Scalar macros every report shares: each formula written once.

-- The bounds of a window [since, until): NULL leaves that end open.
CREATE OR REPLACE MACRO window_lo(since) AS
    coalesce(CAST(since AS TIMESTAMPTZ), CAST('-infinity' AS TIMESTAMPTZ));
CREATE OR REPLACE MACRO window_hi(until) AS
    coalesce(CAST(until AS TIMESTAMPTZ), CAST('infinity' AS TIMESTAMPTZ));

-- A label value as the `labels` map holds it (OpenMetrics escapes \\, \" and \n undone), read
-- from the canonical `series` text (metric{k="v",...}). Reports read labels from the distinct
-- series of a window, which are few, instead of decoding the map column of every sample.
CREATE OR REPLACE MACRO label_unescape(text) AS
    replace(replace(replace(replace(text, '\\', chr(0)), '\"', '"'), '\n', chr(10)), chr(0), '\');
-- labels[name] of the series, NULL when the series does not carry the label.
CREATE OR REPLACE MACRO label_value(series, name) AS
    label_unescape(nullif(regexp_extract(series, '[{,]\s*' || name || '="((?:[^"\\]|\\.)*)"', 1), ''));
-- map_keys(labels), in the series' order.
CREATE OR REPLACE MACRO label_names(series) AS
    regexp_extract_all(series, '[{,]\s*([A-Za-z_][A-Za-z0-9_]*)="(?:[^"\\]|\\.)*"', 1);
-- map_values(labels), in the same order as label_names.
CREATE OR REPLACE MACRO label_values(series) AS
    list_transform(
        regexp_extract_all(series, '[{,]\s*[A-Za-z_][A-Za-z0-9_]*="((?:[^"\\]|\\.)*)"', 1),
        lambda v: label_unescape(v));
-- The `name="value"` pairs of the series text, in the same order as label_names.
CREATE OR REPLACE MACRO label_pairs(series) AS
    regexp_extract_all(series, '[{,]\s*([A-Za-z_][A-Za-z0-9_]*="(?:[^"\\]|\\.)*")', 1);

-- Trends: a straight line through one value per day (used inside GROUP BY). One day has no
-- slope (regr_slope gives NaN, which compares greater than 0), so fewer than 2 days give NULL.
CREATE OR REPLACE MACRO daily_slope(y, d) AS
    CASE WHEN count(*) >= 2 THEN nullif(regr_slope(y, epoch(d) / 86400), 'NaN') END;
CREATE OR REPLACE MACRO daily_intercept(y, d) AS
    CASE WHEN count(*) >= 2 THEN nullif(regr_intercept(y, epoch(d) / 86400), 'NaN') END;
-- The day a line at `level` on `last_day`, rising `slope` a day, reaches `target`: `last_day`
-- when it is already there, NULL when it never does (flat, falling or no slope).
CREATE OR REPLACE MACRO reaches_on(last_day, level, slope, target) AS
    CASE
        WHEN level >= target THEN last_day
        WHEN slope > 0 THEN CAST(
            last_day + to_days(CAST(ceil((target - level) / slope) AS INTEGER)) AS DATE)
    END;

-- Rollups: a window longer than rollup_after() reads the hourly rollups for the whole hours of
-- the days they cover (`rollups_through`, the last rolled-up date, set at connect), and the
-- samples for the rest. [rolled_lo, rolled_hi) is the span read from rollups (empty when
-- rolled_lo = rolled_hi); the samples cover [since, rolled_lo) and [rolled_hi, until).
CREATE OR REPLACE MACRO rollup_after() AS INTERVAL 3 DAY;
CREATE OR REPLACE MACRO hour_ceil(t) AS
    CASE WHEN date_trunc('hour', t) = t THEN t ELSE date_trunc('hour', t) + INTERVAL 1 HOUR END;
CREATE OR REPLACE MACRO rolled_lo(since, until) AS
    least(hour_ceil(window_lo(since)), window_hi(until));
CREATE OR REPLACE MACRO rolled_hi(since, until) AS
    CASE
        WHEN since IS NULL OR until IS NULL
             OR window_lo(since) + rollup_after() < window_hi(until)
        THEN greatest(
            rolled_lo(since, until),
            least(
                date_trunc('hour', window_hi(until)),
                CAST(coalesce(CAST(getvariable('rollups_through') AS DATE), DATE '0001-01-01')
                     + INTERVAL 1 DAY AS TIMESTAMPTZ)))
        ELSE rolled_lo(since, until)
    END;

-- When `v` peaked (inside GROUP BY): the first of its peak times, so that ties (a flat line, a
-- peak repeated every day) give the same answer from minutes as from hours.
CREATE OR REPLACE MACRO peak_time(ts, v) AS arg_max(ts, [v, -epoch(ts)]);
