-- Scrape runs that did not end complete; see gaps.sql.
SELECT * FROM gaps_scrapes_report($since, $until);
