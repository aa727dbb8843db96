"""The OpenMetrics renderer: its layout, and render -> parse round trips."""

from __future__ import annotations

import datetime as dt
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from archiver.openmetrics import (
    parse,
    render,
)
from tests.openmetrics.rows import (
    METRIC_NAMES,
    ROWS,
    T0,
    expected_samples,
    frame,
)


def test_render_layout() -> None:
    rows = frame(
        [
            ("a", {"k": 'q"b\\n\n'}, T0, 1.5),
            ("b", {}, T0, math.inf),
            ("a", {"k": "2", "j": "3"}, T0 + dt.timedelta(milliseconds=5), math.nan),
        ]
    )
    body = render(rows, helps={"a": "Help\nme"}, space_after_comma=True, empty_families=["e"])
    assert body.decode().splitlines() == [
        "# TYPE a gauge",
        "# HELP a Help\\nme",
        'a{k="q\\"b\\\\n\\n"} 1.5 1609459200',
        'a{k="2", j="3"} NaN 1609459200.005',
        "# TYPE b gauge",
        "# HELP b Temporal Cloud metric b",
        "b +Inf 1609459200",
        "# TYPE e gauge",
        "# HELP e Temporal Cloud metric e",
        "# EOF",
    ]
    ms = render(rows.head(1), ts_unit="ms", help_first=True, eof=False).decode().splitlines()
    assert ms == [
        "# HELP a Temporal Cloud metric a",
        "# TYPE a gauge",
        'a{k="q\\"b\\\\n\\n"} 1.5 1609459200000',
    ]


def test_render_empty() -> None:
    assert render(frame([])) == b"# EOF\n"
    assert parse(render(frame([]), empty_families=["x"])).families == ("x",)


# --------------------------------------------------------------------------------------------
# properties


@settings(max_examples=150, deadline=None)
@given(
    rows=ROWS,
    ts_unit=st.sampled_from(["s", "ms"]),
    help_first=st.booleans(),
    space_after_comma=st.booleans(),
    empties=st.lists(METRIC_NAMES, max_size=3),
    helps=st.dictionaries(METRIC_NAMES, st.text(max_size=20), max_size=3),
)
def test_render_parse_round_trip(
    rows: list[tuple[str, dict[str, str], dt.datetime, float]],
    ts_unit: str,
    help_first: bool,
    space_after_comma: bool,
    empties: list[str],
    helps: dict[str, str],
) -> None:
    body = render(
        frame(rows),
        helps=helps,
        ts_unit="s" if ts_unit == "s" else "ms",
        help_first=help_first,
        space_after_comma=space_after_comma,
        empty_families=empties,
    )
    scrape = parse(body)
    assert scrape.eof
    assert_frame_equal(scrape.samples, expected_samples(rows))
    # A tab anywhere sends the parser down its regex path for value and timestamp: same answer.
    assert_frame_equal(parse(b"# note:\t \n" + body).samples, scrape.samples)
    names = list(dict.fromkeys([r[0] for r in rows] + empties))
    assert scrape.families == tuple(names)
