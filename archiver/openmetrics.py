"""The OpenMetrics text format, as Temporal Cloud serves it: parse bytes into a columnar batch,
and render a batch back into bytes (for the simulator and the tests).

Both directions are vectorised: every per-line and per-sample step is a polars expression, so a
60,000-sample body costs a handful of passes in Rust, never a Python object per sample.

>>> body = b'# TYPE m gauge\\nm{b="2",a="1"} 4.5 1609459200000\\n# EOF\\n'
>>> parse(body).samples.select("series", "value").row(0)
('m{a="1",b="2"}', 4.5)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

__all__ = ["SAMPLES_SCHEMA", "ParsedScrape", "parse", "render"]

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


# --------------------------------------------------------------------------------------------
# render


def _escape_label_value(expr: pl.Expr) -> pl.Expr:
    # Backslash first, or the backslashes added for quotes and newlines would be doubled.
    return (
        expr.str.replace_all("\\", "\\\\", literal=True)
        .str.replace_all('"', '\\"', literal=True)
        .str.replace_all("\n", "\\n", literal=True)
    )


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


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
    help_line = f"# HELP {name} {_escape_help(help_text)}"
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
    if ts_unit not in ("s", "ms"):
        raise ValueError(f"ts_unit must be 's' or 'ms', not {ts_unit!r}")
    helps = helps or {}
    needed = ["metric", "labels", "ts", "value"]
    missing = [c for c in needed if c not in samples.columns]
    if missing:
        raise ValueError(f"render needs columns {needed}; missing {missing}")
    frame = samples.select(needed)
    nulls = frame.select(pl.col("metric", "ts", "value").null_count()).row(0)
    if any(nulls):
        raise ValueError("render: metric, ts and value must not be null")

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

    sep = ", " if space_after_comma else ","
    element = pl.element()
    label_text = (
        pl.col("labels")
        .fill_null([])
        .list.eval(
            element.struct.field("key")
            + '="'
            + _escape_label_value(element.struct.field("value"))
            + '"'
        )
        .list.join(sep)
    )
    lines = (
        frame.join(headers, on="metric", how="left", maintain_order="left")
        # A stable sort groups the rows of a family even if the caller interleaved them.
        .sort("family", maintain_order=True)
        .select(
            pl.when(pl.col("family") != pl.col("family").shift(1).fill_null(-1))
            .then(pl.col("header") + "\n")
            .otherwise(pl.lit(""))
            + pl.col("metric")
            + pl.when(pl.col("labels").list.len().fill_null(0) > 0)
            .then("{" + label_text + "}")
            .otherwise(pl.lit(""))
            + " "
            + _value_text(pl.col("value"))
            + " "
            + _ts_text(pl.col("ts"), ts_unit)
        )
        .to_series()
    )
    parts: list[str] = []
    if len(lines):
        parts.append(lines.str.join("\n").item())
    seen = set(families)
    for name in empty_families:
        if name not in seen:
            seen.add(name)
            parts.append(_headers(name, helps.get(name, _default_help(name)), help_first))
    if eof:
        parts.append("# EOF")
    if not parts:
        return b""
    return ("\n".join(parts) + "\n").encode("utf-8")


def _default_help(name: str) -> str:
    return f"Temporal Cloud metric {name}"


# --------------------------------------------------------------------------------------------
# parse


def parse(body: bytes) -> ParsedScrape:
    """Parse an OpenMetrics body into a :class:`ParsedScrape`. Not implemented yet."""
    raise NotImplementedError
