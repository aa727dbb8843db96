"""Render a columnar batch as an OpenMetrics body (for the simulator and the tests).

Vectorised like the parser: every per-sample step is a polars expression.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import polars as pl

from archiver.openmetrics.batch import escape_label_expr, escape_label_value, from_offsets

__all__ = ["render"]


def _value_text(value: pl.Expr) -> pl.Expr:
    # polars prints infinities as "inf"; OpenMetrics spells them "+Inf"/"-Inf".
    return (
        pl.when(value.is_nan())
        .then(pl.lit("NaN"))
        .when(value == math.inf)
        .then(pl.lit("+Inf"))
        .when(value == -math.inf)
        .then(pl.lit("-Inf"))
        .otherwise(value.cast(pl.Utf8))
    )


def _ts_text(ts: pl.Expr, unit: Literal["s", "ms"]) -> pl.Expr:
    ms = ts.dt.epoch("ms")
    if unit == "ms":
        return ms.cast(pl.Utf8)
    seconds = ms.floordiv(1000)
    millis = ms - seconds * 1000
    # Whole seconds print as integers (what the spec's examples show); a sub-second timestamp
    # keeps its milliseconds so a render -> parse round trip is exact.
    return (
        pl.when(millis == 0)
        .then(seconds.cast(pl.Utf8))
        .otherwise(seconds.cast(pl.Utf8) + "." + millis.cast(pl.Utf8).str.zfill(3))
    )


def _headers(name: str, help_text: str, help_first: bool) -> str:
    type_line = f"# TYPE {name} gauge"
    help_line = f"# HELP {name} {escape_label_value(help_text)}"
    return f"{help_line}\n{type_line}" if help_first else f"{type_line}\n{help_line}"


def render(
    samples: pl.DataFrame,
    *,
    helps: Mapping[str, str] | None = None,
    ts_unit: Literal["s", "ms"] = "s",
    help_first: bool = False,
    space_after_comma: bool = False,
    empty_families: Sequence[str] = (),
    eof: bool = True,
) -> bytes:
    """Render samples as an OpenMetrics body, every family a gauge.

    ``samples`` needs the columns ``metric``, ``labels`` (list of ``{key, value}`` structs, values
    unescaped), ``ts`` (datetime) and ``value``. Families come out in order of first appearance;
    ``empty_families`` adds families declared without samples; ``ts_unit`` chooses seconds (the
    spec) or milliseconds (the Temporal Cloud reference); ``help_first`` and
    ``space_after_comma`` reproduce the variations seen from the real service.

    >>> import datetime as dt
    >>> frame = pl.DataFrame({
    ...     "metric": ["m"], "labels": [[{"key": "a", "value": "x"}]],
    ...     "ts": [dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)], "value": [1.5]})
    >>> print(render(frame, helps={"m": "Help."}).decode(), end="")
    # TYPE m gauge
    # HELP m Help.
    m{a="x"} 1.5 1609459200
    # EOF
    """
    # Long: a third of it is the docstring; the rest is one polars pipeline.
    frame = _checked(samples, ts_unit)
    helps = helps or {}

    families: list[str] = frame.get_column("metric").unique(maintain_order=True).to_list()
    headers = pl.DataFrame(
        {
            "metric": families,
            "family": pl.Series(range(len(families)), dtype=pl.UInt32),
            "header": [
                _headers(name, helps.get(name, _default_help(name)), help_first)
                for name in families
            ],
        },
        schema={"metric": pl.Utf8, "family": pl.UInt32, "header": pl.Utf8},
    )

    label_text = pl.lit(_label_text(frame, ", " if space_after_comma else ","))
    lines = (
        # The nested labels column is dropped first: gathering it in the join and sort is slow.
        frame.select("metric", "ts", "value", label_text=label_text)
        .join(headers, on="metric", how="left", maintain_order="left")
        # A stable sort groups the rows of a family even if the caller interleaved them.
        .sort("family", maintain_order=True)
        .select(
            pl.when(pl.col("family") != pl.col("family").shift(1).fill_null(-1))
            .then(pl.col("header") + "\n")
            .otherwise(pl.lit(""))
            + pl.col("metric")
            + pl.when(pl.col("label_text") != "")
            .then("{" + pl.col("label_text") + "}")
            .otherwise(pl.lit(""))
            + " "
            + _value_text(pl.col("value"))
            + " "
            + _ts_text(pl.col("ts"), ts_unit)
        )
        .to_series()
    )
    seen = set(families)
    tail: list[str] = []
    for name in dict.fromkeys(n for n in empty_families if n not in seen):
        tail.append(_headers(name, helps.get(name, _default_help(name)), help_first))
    if eof:
        tail.append("# EOF")
    everything = pl.concat([lines, pl.Series(tail, dtype=pl.Utf8)])
    if everything.is_empty():
        return b""
    # Joined and encoded inside polars: the body is copied out to Python once, as bytes.
    body: bytes = (everything.str.join("\n") + "\n").cast(pl.Binary).item()
    return body


def _checked(samples: pl.DataFrame, ts_unit: str) -> pl.DataFrame:
    """The columns render needs, or ValueError saying what is wrong."""
    if ts_unit not in ("s", "ms"):
        raise ValueError(f"ts_unit must be 's' or 'ms', not {ts_unit!r}")
    needed = ["metric", "labels", "ts", "value"]
    missing = [c for c in needed if c not in samples.columns]
    if missing:
        raise ValueError(f"render needs columns {needed}; missing {missing}")
    frame = samples.select(needed)
    if any(frame.select(pl.col("metric", "ts", "value").null_count()).row(0)):
        raise ValueError("render: metric, ts and value must not be null")
    return frame


def _label_text(frame: pl.DataFrame, sep: str) -> pl.Series:
    """Each sample's label set as written between the braces (empty without labels)."""
    # Flat string work on the exploded pairs, regrouped by offsets, is several times faster
    # than list.eval over each sample's list.
    sizes = frame.get_column("labels").list.len().fill_null(0)
    offsets = pl.concat([pl.Series([0], dtype=pl.Int64), sizes.cast(pl.Int64).cum_sum()])
    pairs = (
        frame.select("labels")
        .explode("labels")
        .drop_nulls("labels")
        .unnest("labels")
        .select(pl.col("key") + '="' + escape_label_expr(pl.col("value").fill_null("")) + '"')
        .to_series()
    )
    return from_offsets(offsets.to_arrow(), pairs).list.join(sep)


def _default_help(name: str) -> str:
    return f"Temporal Cloud metric {name}"
