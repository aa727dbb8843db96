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
# # Capacity overview
#
# Per namespace: actions, requests and operations per second against their limits (alerts at
# 50% and 90%), throttling, the Temporal Resource Units needed, what drives billable actions, and
# when the trend reaches each limit. Everything comes from `archiver.query.capacity`; this notebook
# only draws it.

# %% tags=["parameters"]
import os

from archiver.query.notebooks import locate_archive

# $ARCHIVER_ARCHIVE, else demo-archive; a relative path is also looked for in the folders above
# this one, so the repository's demo-archive is found from notebooks/ (where Jupyter starts)
ARCHIVE = locate_archive(os.environ.get("ARCHIVER_ARCHIVE", "demo-archive"))
SINCE = None  # an aware datetime, or None for the whole archive
UNTIL = None
NAMESPACES: list[str] = []  # exact names or * patterns; empty = every namespace

# %%
import polars as pl

import archiver
from archiver import catalog
from archiver.query import capacity
from archiver.query import plots

con = archiver.connect(ARCHIVE)
window = {"since": SINCE, "until": UNTIL, "namespaces": NAMESPACES}
summary = capacity.summary(con, **window)
hourly = capacity.usage(con, **window, bucket=3600)
namespaces = sorted(set(hourly.get_column("namespace").to_list())) if hourly.height else []
print(f"archive {ARCHIVE}: {len(namespaces)} namespace(s): {', '.join(namespaces) or 'none'}")
for kind in capacity.missing_limits(summary):
    print(f"missing: no {catalog.limit(kind).limit} samples, so {kind} cannot be compared "
          "with a limit; usage is still shown")
days = summary.get_column("days").max() if summary.height else 0
if not days or days < 2:
    print(f"only {days or 0} day(s) of data: limit dates need at least 2 days for a trend")

# %% [markdown]
# ## Headroom at a glance
#
# How close did each namespace's busiest minute come to each limit? Bars past the orange line
# would have raised the 50% warning, past the red line the 90% page; the note gives the date
# the daily-peak trend reaches the limit.

# %%
plots.show(plots.headroom_chart(summary))
summary.select(
    "namespace", "kind", "peak_per_s", "limit_per_s", "peak_pct", "level",
    "minutes_over_warn", "minutes_over_page", "throttled", "throttled_minutes",
    "limit_date", "projection",
)

# %% [markdown]
# ## Usage against limits, per namespace
#
# Each panel answers "how busy was the namespace each hour compared with its limit": the peak
# minute and hourly average against the limit and its 50%/90% lines. Red bars (right axis) are
# the throttled counts beside each limit, which can be non-zero even below 100% because minute
# averages hide bursts.

# %%
if not namespaces:
    plots.show(plots.usage_chart(hourly, "every namespace"))
for name in namespaces:
    plots.show(plots.usage_chart(hourly, name))

# %% [markdown]
# ## Temporal Resource Units
#
# How many TRUs would each namespace need to cover its busiest minute of non-background actions
# (500 actions per second each, rounded up)? The p95 bar shows what sizing for all but the
# busiest 5% of minutes would need.

# %%
units = capacity.units(con, **window)
plots.show(plots.units_chart(units))
units

# %% [markdown]
# ## What drives billable actions
#
# Which action types and workflow types the bill is made of, per namespace. The top panel splits
# each namespace by action type; the bottom one ranks the workflow types with the most actions.

# %%
billable = capacity.billable(con, **window)
plots.show(plots.billable_chart(billable))
billable.head(15)
