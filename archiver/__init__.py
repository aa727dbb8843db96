"""archiver: a complete, queryable Parquet history of Temporal Cloud OpenMetrics.

The library behind the ``archiver`` command; everything the CLI does is a call here::

    from datetime import UTC, datetime, timedelta

    import archiver

    settings = archiver.load_settings(archive="./archive")   # flag > env > archiver.toml
    result = archiver.scrape_once(settings)                   # what cron runs
    con = archiver.connect("./archive")                       # DuckDB with the views
    week = datetime.now(UTC) - timedelta(days=7)              # reports take datetimes
    archiver.reports.gaps(con, since=week, until=None)        # a polars DataFrame

Names are imported lazily so that ``archiver --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Archive": ("archiver.store.archive", "Archive"),
    "ArchiverError": ("archiver.errors", "ArchiverError"),
    "ScrapeResult": ("archiver.collect.scrape", "ScrapeResult"),
    "Settings": ("archiver.config", "Settings"),
    "connect": ("archiver.query.connect", "connect"),
    "load_settings": ("archiver.config", "load_settings"),
    "refresh_descriptors": ("archiver.collect.descriptors", "refresh_descriptors"),
    "reports": ("archiver.query.reports", None),
    "run_demo": ("archiver.simulator.demo", "run_demo"),
    "scrape_once": ("archiver.collect.scrape", "scrape_once"),
}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'archiver' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    return module if attr is None else getattr(module, attr)


def __dir__() -> list[str]:
    return __all__
