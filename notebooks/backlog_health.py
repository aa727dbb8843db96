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
# # Backlog and worker health
#
# Which task queues are falling behind, and are their workers polling well? Backlog levels come
# from `approximate_backlog_count` (a level: a missing minute is "not reported", never zero); poll
# success and sync-match rates from the poll counters. Data from `archiver.query.reports`.

# %% tags=["parameters"]
import os

from archiver.query.notebooks import locate_archive

# $ARCHIVER_ARCHIVE, else demo-archive; a relative path is also looked for in the folders above
# this one, so the repository's demo-archive is found from notebooks/ (where Jupyter starts)
ARCHIVE = locate_archive(os.environ.get("ARCHIVER_ARCHIVE", "demo-archive"))
SINCE = None
UNTIL = None
NAMESPACES: list[str] = []

# %%
import polars as pl

import archiver
from archiver.query import plots
from archiver.query import reports

con = archiver.connect(ARCHIVE)
window = {"since": SINCE, "until": UNTIL, "namespaces": NAMESPACES}
hourly = reports.backlog(con, **window)
trends = reports.backlog_trends(con, **window)
if trends.is_empty():
    print("missing: no approximate_backlog_count or poll_* samples in the window")
else:
    rising = trends.filter(pl.col("rising"))
    print(f"{trends.height} queue(s); {rising.height} with a rising backlog")

# %% [markdown]
# ## Backlog trends
#
# Which queues hold the largest backlogs, and are they growing hour after hour? A line that keeps
# climbing is a queue whose workers cannot keep up; a drop to zero after an idle spell is the
# queue unloading, not a recovery.

# %%
plots.show(plots.backlog_chart(hourly))
trends.filter(pl.col("backlog_status") == "reported").head(10)

# %% [markdown]
# ## Poll success and sync-match rates
#
# Are workers getting tasks when they poll? A low poll success rate means pollers mostly time out
# (too many workers for the load); a low sync-match rate means tasks wait in the queue instead of
# going straight to a waiting poller (too few workers).

# %%
plots.show(plots.poll_rates_chart(trends))
trends.select(
    "namespace", "task_queue", "task_type", "poll_success_rate", "sync_match_rate", "rising"
).sort("poll_success_rate", nulls_last=True).head(15)
