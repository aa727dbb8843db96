"""The OpenMetrics parser: the reference example, every leniency, exact escapes and values,
and label order."""

from __future__ import annotations

import datetime as dt
import math
import random

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from archiver.openmetrics import (
    SAMPLES_SCHEMA,
    escape_label_value,
    parse,
)
from tests.openmetrics.rows import (
    LABEL_NAMES,
    LABEL_VALUES,
    METRIC_NAMES,
    REFERENCE,
    REFERENCE_BODY,
    T0,
    labels_of,
    one,
)

# --------------------------------------------------------------------------------------------
# the reference example


def test_reference_example_is_verbatim_in_the_api_reference() -> None:
    assert REFERENCE_BODY in REFERENCE.read_text()


def test_reference_example_parses_to_exact_rows() -> None:
    scrape = parse(REFERENCE_BODY.encode())
    assert scrape.eof is False  # the excerpt in the reference stops before "# EOF"
    assert scrape.families == (
        "temporal_cloud_v1_workflow_success_count",
        "temporal_cloud_v1_approximate_backlog_count",
    )
    assert scrape.samples.schema == SAMPLES_SCHEMA
    wsc = "temporal_cloud_v1_workflow_success_count"
    abc = "temporal_cloud_v1_approximate_backlog_count"

    def lab(**kw: str) -> list[dict[str, str]]:
        return [{"key": k, "value": v} for k, v in sorted(kw.items())]

    expected = pl.DataFrame(
        {
            "series": [
                f'{wsc}{{region="aws-us-west-2",temporal_namespace="production",'
                'temporal_workflow_type="payment-processing"}',
                f'{wsc}{{region="aws-us-west-2",temporal_namespace="production",'
                'temporal_workflow_type="order-fulfillment"}',
                f'{abc}{{region="aws-us-west-2",task_type="workflow",'
                'temporal_namespace="production",temporal_task_queue="critical-queue"}',
            ],
            "metric": [wsc, wsc, abc],
            "namespace": ["production"] * 3,
            "labels": [
                lab(
                    temporal_namespace="production",
                    temporal_workflow_type="payment-processing",
                    region="aws-us-west-2",
                ),
                lab(
                    temporal_namespace="production",
                    temporal_workflow_type="order-fulfillment",
                    region="aws-us-west-2",
                ),
                lab(
                    temporal_namespace="production",
                    temporal_task_queue="critical-queue",
                    task_type="workflow",
                    region="aws-us-west-2",
                ),
            ],
            "ts": [T0] * 3,
            "value": [42.0, 128.0, 15.0],
        },
        schema=SAMPLES_SCHEMA,
    )
    assert_frame_equal(scrape.samples, expected)


# --------------------------------------------------------------------------------------------
# leniency


@pytest.mark.parametrize(
    "stamp", ["1609459200", "1609459200.000", "1609459200000", "1609459200000.0"]
)
def test_timestamp_unit_is_decided_by_magnitude(stamp: str) -> None:
    assert one(f"m 1 {stamp}")["ts"] == T0


def test_fractional_seconds_keep_their_milliseconds() -> None:
    assert one("m 1 1609459200.25")["ts"] == T0 + dt.timedelta(milliseconds=250)


def test_whitespace_after_commas_and_around_equals() -> None:
    row = one('m{ a = "1" ,\tb="2",  c ="3" } 1 1609459200')
    assert row["series"] == 'm{a="1",b="2",c="3"}'
    assert labels_of(row) == {"a": "1", "b": "2", "c": "3"}


def test_help_before_or_after_type() -> None:
    body = b"# HELP a A.\n# TYPE a gauge\n# TYPE b gauge\n# HELP b B.\na 1 1\nb 2 1\n# EOF\n"
    scrape = parse(body)
    assert scrape.families == ("a", "b")
    assert scrape.samples.get_column("metric").to_list() == ["a", "b"]


def test_unit_lines_and_other_comments_are_ignored() -> None:
    body = b"# TYPE a gauge\n# UNIT a seconds\n# just a remark\n#no space\na 1 1\n# EOF\n"
    scrape = parse(body)
    assert scrape.families == ("a",)
    assert scrape.samples.height == 1


def test_families_without_samples_are_listed() -> None:
    body = b"# TYPE a gauge\n# HELP a A.\n# TYPE b gauge\n# HELP b B.\nb 1 1\n# HELP c C.\n# EOF\n"
    scrape = parse(body)
    assert scrape.families == ("a", "b", "c")
    assert scrape.samples.get_column("metric").to_list() == ["b"]


def test_missing_eof_still_returns_the_samples() -> None:
    scrape = parse(b'# TYPE a gauge\na 1 1\na{x="y"} 2 1\n')
    assert scrape.eof is False
    assert scrape.samples.height == 2
    assert parse(b"a 1 1\n# EOF").eof is True  # no newline after # EOF is fine too


def test_crlf_line_endings() -> None:
    body = b'# TYPE a gauge\r\n# HELP a A.\r\na{x="1"} 1 1609459200\r\n# EOF\r\n'
    scrape = parse(body)
    assert scrape.eof is True
    assert scrape.samples.row(0, named=True)["series"] == 'a{x="1"}'


def test_blank_lines_are_ignored() -> None:
    scrape = parse(b"\n# TYPE a gauge\n\n  \na 1 1\n\t\n# EOF\n\n")
    assert scrape.eof is True
    assert scrape.samples.height == 1


def test_label_order_is_canonicalised() -> None:
    assert one('m{b="2",c="3",a="1"} 1 1')["series"] == one('m{a="1",b="2",c="3"} 1 1')["series"]


def test_trailing_comma_and_empty_label_set() -> None:
    assert one('m{a="1",} 1 1')["series"] == 'm{a="1"}'
    row = one("m{} 1 1")
    assert (row["series"], row["labels"], row["namespace"]) == ("m", [], None)


def test_namespace_column() -> None:
    assert one('m{region="r",temporal_namespace="prod.acct"} 1 1')["namespace"] == "prod.acct"
    assert one('m{region="r"} 1 1')["namespace"] is None


def test_empty_body() -> None:
    scrape = parse(b"")
    assert (scrape.samples.height, scrape.families, scrape.eof) == (0, (), False)
    assert scrape.samples.schema == SAMPLES_SCHEMA


# --------------------------------------------------------------------------------------------
# exact on escapes and values


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        (r"a\"b", 'a"b'),
        (r"a\\b", "a\\b"),
        (r"a\nb", "a\nb"),
        (r"a\\nb", "a\\nb"),  # an escaped backslash, then a plain n
        (r"a\\\"b", 'a\\"b'),
        (r"\\", "\\"),
        ("}, =", "}, ="),
        (r"x} 1 2 m{y=\"", 'x} 1 2 m{y="'),  # looks like the end of a sample, but is quoted
        ("Zürich ✓ 東京", "Zürich ✓ 東京"),
        ("", ""),
    ],
)
def test_label_value_escapes(written: str, meant: str) -> None:
    row = one(f'm{{k="{written}",z="after"}} 1 1609459200')
    assert labels_of(row) == {"k": meant, "z": "after"}
    assert row["series"] == f'm{{k="{written}",z="after"}}'


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("42", 42.0),
        ("42.0", 42.0),
        ("0.017", 0.017),
        ("1e-05", 1e-05),
        ("-3.5E+2", -350.0),
        ("+Inf", math.inf),
        ("Inf", math.inf),
        ("-Inf", -math.inf),
    ],
)
def test_values(written: str, meant: float) -> None:
    assert one(f"m {written} 1")["value"] == meant


def test_nan_value() -> None:
    value = one("m NaN 1")["value"]
    assert isinstance(value, float)
    assert math.isnan(value)


# --------------------------------------------------------------------------------------------
# properties


@settings(max_examples=100, deadline=None)
@given(
    metric=METRIC_NAMES,
    labels=st.dictionaries(LABEL_NAMES, LABEL_VALUES, min_size=1, max_size=6),
    seed=st.integers(0, 2**32),
)
def test_parse_is_invariant_to_label_order(metric: str, labels: dict[str, str], seed: int) -> None:
    # Sorted and tightly spelled, the line holds the series text as it is (the parser's fast
    # path); any other order or spelling is rebuilt from the parsed pairs: same answer.
    pairs = [f'{k}="{escape_label_value(v)}"' for k, v in sorted(labels.items())]
    shuffled = pairs[:]
    random.Random(seed).shuffle(shuffled)
    canonical = parse(f"{metric}{{{','.join(pairs)}}} 1 1609459200\n".encode()).samples
    assert canonical.item(0, "series") == f"{metric}{{{','.join(pairs)}}}"
    for variant in (",".join(shuffled), ", ".join(shuffled), ",".join(pairs) + ","):
        other = parse(f"{metric}{{{variant}}} 1 1609459200\n".encode()).samples
        assert_frame_equal(other, canonical)
