"""Memory: the DuckDB memory limit a query or compaction runs under, and the machine's RAM."""

from __future__ import annotations

import os
import re

from archiver.errors import ConfigError

#: The default DuckDB memory limit: this much at most (DuckDB holds up to its limit, plus the
#: process around it: 1.5 GB keeps a report under 2 GB peak RSS), and a quarter of the RAM.
DEFAULT_MEMORY_LIMIT = 1500 * 1000**2
_SIZE_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4}
_SIZE_UNITS |= {"kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
#: Below this DuckDB cannot run the reports at all.
_MIN_MEMORY_LIMIT = 64 * 1000**2


def duckdb_memory_limit(setting: str | None, where: str) -> str:
    """DuckDB's ``memory_limit`` for queries and compaction, e.g. ``"2000MB"``.

    ``setting`` is ``ARCHIVER_MEMORY_LIMIT`` (``512MB``, ``2GB``, ``1.5GiB``; ``where`` says where
    it was set), None for min(1.5 GB, a quarter of RAM). A size this machine cannot give (more
    than its RAM, or below 64 MB) is a ConfigError.
    """
    ram = physical_memory()
    if setting is None:
        wanted = min(DEFAULT_MEMORY_LIMIT, ram // 4) if ram else DEFAULT_MEMORY_LIMIT
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", setting)
        unit = _SIZE_UNITS.get(match.group(2).lower()) if match else None
        if match is None or unit is None:
            raise ConfigError(
                f"ARCHIVER_MEMORY_LIMIT ({where}) is {setting!r}: give a size such "
                "as 512MB or 2GB"
            )
        wanted = int(float(match.group(1)) * unit)
        if wanted < _MIN_MEMORY_LIMIT or (ram and wanted > ram):
            raise ConfigError(
                f"ARCHIVER_MEMORY_LIMIT ({where}) is {setting!r}, which this "
                f"machine cannot give: use between 64MB and its {ram // 1000**2}MB of RAM"
            )
    return f"{wanted // 1000**2}MB"


def physical_memory() -> int:
    """The machine's RAM in bytes (0 when the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return 0
