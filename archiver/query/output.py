"""Writing a report (a polars DataFrame) as an aligned table, CSV, JSON or Parquet.

``json`` is one JSON array of row objects (column name -> value), the same for every report;
``parquet`` needs a file (``--output``), the others go to stdout unless one is given.
"""

from __future__ import annotations

import io
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import polars as pl

from archiver.errors import ConfigError, StorageError

FORMATS = ("table", "csv", "json", "parquet")


def render(frame: pl.DataFrame, fmt: str) -> str:
    """``frame`` as text in ``fmt`` (table, csv or json)."""
    if fmt == "table":
        return _table(frame)
    if fmt == "csv":
        return _flat(frame).write_csv()
    if fmt == "json":
        return json.dumps(frame.to_dicts(), default=_json_value, ensure_ascii=False) + "\n"
    raise ConfigError(f"format {fmt!r} cannot be printed: use one of table, csv, json")


def write(
    frame: pl.DataFrame,
    fmt: str,
    output: str | Path | None = None,
    *,
    stdout: IO[str] | None = None,
) -> None:
    """Write ``frame`` as ``fmt`` to ``output`` (a path) or to ``stdout``.

    Raises :class:`ConfigError` for an unknown format or Parquet without a file, and
    :class:`StorageError` when the file cannot be written.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        if output is None:
            raise ConfigError(
                "--format parquet needs --output FILE (Parquet is not for a terminal)"
            )
        try:
            frame.write_parquet(output)
        except OSError as exc:
            raise StorageError(f"cannot write {output}: {exc}") from exc
        return
    text = render(frame, fmt)
    if output is None:
        (stdout or sys.stdout).write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise StorageError(f"cannot write {output}: {exc.strerror or exc}") from exc


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value) if value % 1 else int(value)
    return str(value)


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested columns (lists, maps, structs) as JSON text, which CSV cannot hold otherwise."""
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    if not nested:
        return frame
    return frame.with_columns(
        pl.Series(name, [_json_text(v) for v in frame.get_column(name).to_list()], pl.String)
        for name in nested
    )


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=_json_value, ensure_ascii=False)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") + ("Z" if value.utcoffset() is not None else "")
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e15 else f"{value:.6e}"
    if isinstance(value, list | dict):
        return json.dumps(value, default=_json_value, ensure_ascii=False)
    return str(value)


def _table(frame: pl.DataFrame) -> str:
    """An aligned plain-text table: numbers right-aligned, everything shown in full."""
    headers = frame.columns
    rows = [[_cell(v) for v in row] for row in frame.iter_rows()]
    numeric = [dtype.is_numeric() for dtype in frame.dtypes]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    out = io.StringIO()

    def line(cells: list[str]) -> None:
        parts = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ]
        out.write("  ".join(parts).rstrip() + "\n")

    line(list(headers))
    line(["-" * w for w in widths])
    for row in rows:
        line(row)
    if not rows:
        out.write("(no rows)\n")
    return out.getvalue()
