# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Cardinality planning
#
# How many series each scrape carries, how fast that grows toward the per-scrape point cap
# (30,000 datapoints, possibly 50,000 soon), and which filters or dropped labels keep every
# scrape complete. Data from `archiver.query.capacity` and `archiver.query.reports`.

# %% tags=["parameters"]
import os

from archiver.config import load_settings
from archiver.query.notebooks import locate_archive

# $ARCHIVER_ARCHIVE, else demo-archive; a relative path is also looked for in the folders above
# this one, so the repository's demo-archive is found from notebooks/ (where Jupyter starts)
ARCHIVE = locate_archive(os.environ.get("ARCHIVER_ARCHIVE", "demo-archive"))
SINCE = None
UNTIL = None
NAMESPACES: list[str] = []
# The setting (ARCHIVER_POINT_CAP, else 30,000); make notebooks sets 2,000 for the demo archive,
# whose simulated account has that cap so that a week of it fits in a minute.
POINT_CAP = load_settings(archive=ARCHIVE).point_cap

# %%
import polars as pl

import archiver
from archiver.query import capacity
from archiver.query import plots
from archiver.query import reports

con = archiver.connect(ARCHIVE)
window = {"since": SINCE, "until": UNTIL, "namespaces": NAMESPACES}
growth = capacity.series_growth(con, **window)
headroom = reports.cardinality_headroom(con, **window, point_cap=POINT_CAP)
days = growth.get_column("date").n_unique() if growth.height else 0
print(f"{days} day(s), {growth.get_column('namespace').n_unique() if days else 0} namespace(s)")
if days < 2:
    print("only one day of data: no growth trend or cap date yet (needs at least 2 days)")

# %% [markdown]
# ## Growth toward the cap
#
# How many datapoints did one unfiltered scrape carry at the busiest minute of each day, and
# which namespaces make them up? The dashed line extends the daily-peak trend to the date it
# would reach the cap, when it is rising.

# %%
overall = headroom.filter(pl.col("source") == "samples")
slope = overall.get_column("slope_per_day").item() if overall.height else None
cap_date = overall.get_column("cap_date").item() if overall.height else None
plots.show(plots.series_chart(growth, POINT_CAP, slope_per_day=slope, cap_date=cap_date))
headroom

# %% [markdown]
# ## Which labels cost the most series
#
# How many series would disappear if a label were dropped (not requested, or aggregated away by
# relabelling)? Green hatched bars are opt-in labels, which a request can simply leave out.

# %%
costs = capacity.label_costs(con, **window)
plots.show(plots.label_costs_chart(costs))
costs

# %% [markdown]
# ## Filters that keep each scrape complete
#
# The requests (namespace patterns and metric groups) that would keep every response under the
# cap with room to grow, sized from the peak minute in the window; one row means a single
# unfiltered request still fits.

# %%
plan = capacity.scrape_plan(con, **window, point_cap=POINT_CAP)
if not plan.get_column("fits").all():
    print("some pieces cannot be split further: drop opt-in labels for them")
plan

# %% [markdown]
# ## Top contributors
#
# The label values (task queues, workflow types, ...) carried by the most series.

# %%
reports.cardinality_contributors(con, **window, top=15)
