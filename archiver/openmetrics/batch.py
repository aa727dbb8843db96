"""The columnar batch that parse produces and render consumes, and the one rule for writing a
label value (or HELP text) as OpenMetrics text.

>>> escape_label_value('say "hi"\\n')
'say \\\\"hi\\\\"\\\\n'
>>> series_text("m", {"b": "2", "a": "1"})
'm{a="1",b="2"}'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

__all__ = [
    "ESCAPES",
    "LABEL",
    "SAMPLES_SCHEMA",
    "ParsedScrape",
    "escape_label_expr",
    "escape_label_value",
    "from_offsets",
    "series_text",
]

LABEL = pl.Struct({"key": pl.Utf8, "value": pl.Utf8})

#: The columns of ``ParsedScrape.samples``, in order.
SAMPLES_SCHEMA = pl.Schema(
    [
        ("series", pl.Utf8()),
        ("metric", pl.Utf8()),
        ("namespace", pl.Utf8()),
        ("labels", pl.List(LABEL)),
        ("ts", pl.Datetime("ms", "UTC")),
        ("value", pl.Float64()),
    ]
)


@dataclass(frozen=True)
class ParsedScrape:
    """One parsed response body.

    ``samples`` has the columns of :data:`SAMPLES_SCHEMA`; ``families`` lists every family a
    ``# TYPE`` or ``# HELP`` line declared, in order, including families without samples;
    ``eof`` says whether the body ended with ``# EOF`` (a body without it was cut short).
    """

    samples: pl.DataFrame
    families: tuple[str, ...]
    eof: bool


#: The three escapes OpenMetrics defines, in the order they must be applied: backslash first,
#: or the backslashes added for quotes and newlines would be doubled.
ESCAPES: tuple[tuple[str, str], ...] = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"))


def escape_label_value(value: str) -> str:
    """A label value (or HELP text) as it is written between the quotes."""
    for raw, escaped in ESCAPES:
        value = value.replace(raw, escaped)
    return value


def escape_label_expr(expr: pl.Expr) -> pl.Expr:
    """:func:`escape_label_value` as a polars expression over a string column."""
    for raw, escaped in ESCAPES:
        expr = expr.str.replace_all(raw, escaped, literal=True)
    return expr


def series_text(metric: str, labels: Mapping[str, str]) -> str:
    """The canonical series text: ``metric{k="v",...}``, names sorted, values escaped; the
    bare metric name when there are no labels (what :func:`~archiver.openmetrics.parse`
    puts in the ``series`` column)."""
    if not labels:
        return metric
    inner = ",".join(f'{k}="{escape_label_value(labels[k])}"' for k in sorted(labels))
    return f"{metric}{{{inner}}}"


def from_offsets(offsets: pa.Array, values: pl.Series) -> pl.Series:
    """A list column built from Arrow offsets over a flat series, without copying values."""
    # The newest compat level hands polars' string views to Arrow as they are: no copy.
    arrow = values.to_arrow(compat_level=pl.CompatLevel.newest())
    return pl.Series(_Capsule(pa.LargeListArray.from_arrays(offsets, arrow)))


@dataclass(frozen=True)
class _Capsule:
    """An Arrow array seen only through the Arrow PyCapsule interface, which polars imports
    without a copy and without ``pl.from_arrow``'s import of ``pyarrow.compute`` (a tenth of a
    second of every cron scrape)."""

    array: pa.Array

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]:
        return self.array.__arrow_c_array__(requested_schema)  # type: ignore[no-any-return]
