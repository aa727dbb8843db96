"""The OpenMetrics parser and renderer: the reference example, every leniency, every refusal,
round trips, and agreement with prometheus_client's own parser."""

from __future__ import annotations

import datetime as dt
import importlib
import math
import random
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from archiver.errors import ParseError
from archiver.openmetrics import (
    SAMPLES_SCHEMA,
    ParsedScrape,
    escape_label_value,
    parse,
    render,
    series_text,
)

UTC = dt.UTC
T0 = dt.datetime(2021, 1, 1, tzinfo=UTC)
# A verbatim copy of the Temporal Cloud OpenMetrics API reference, kept beside the tests.
REFERENCE = Path(__file__).resolve().parent / "data" / "temporal-cloud-openmetrics-api.txt"

# The response example of the API reference, verbatim (including its ", region=" space).
REFERENCE_BODY = (
    "# TYPE temporal_cloud_v1_workflow_success_count gauge\n"
    "# HELP temporal_cloud_v1_workflow_success_count "
    "The number of successful workflows per second\n"
    'temporal_cloud_v1_workflow_success_count{temporal_namespace="production",'
    'temporal_workflow_type="payment-processing",region="aws-us-west-2"} 42.0 1609459200000\n'
    'temporal_cloud_v1_workflow_success_count{temporal_namespace="production",'
    'temporal_workflow_type="order-fulfillment",region="aws-us-west-2"} 128.0 1609459200000\n'
    "# TYPE temporal_cloud_v1_approximate_backlog_count gauge\n"
    "# HELP temporal_cloud_v1_approximate_backlog_count "
    "Approximate number of tasks in a task queue\n"
    'temporal_cloud_v1_approximate_backlog_count{temporal_namespace="production",'
    'temporal_task_queue="critical-queue",task_type="workflow", region="aws-us-west-2"} '
    "15.0 1609459200000\n"
)


def one(line: str) -> dict[str, object]:
    """Parse a body holding one sample line and return that sample as a dict."""
    rows = parse(f"{line}\n# EOF\n".encode()).samples.to_dicts()
    assert len(rows) == 1
    return rows[0]


def labels_of(row: dict[str, object]) -> dict[str, str]:
    pairs = row["labels"]
    assert isinstance(pairs, list)
    return {pair["key"]: pair["value"] for pair in pairs}


def fail(body: bytes | str) -> ParseError:
    raw = body.encode() if isinstance(body, str) else body
    with pytest.raises(ParseError) as info:
        parse(raw)
    return info.value


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
# strict on everything else


def test_malformed_sample_line() -> None:
    err = fail("# TYPE a gauge\na 1 1\nthis is not a sample\n# EOF\n")
    assert err.line == 3
    assert "line 3" in str(err)
    assert "'this is not a sample'" in str(err)


def test_invalid_utf8() -> None:
    err = fail(b'a 1 1\nb{x="\xff\xfe"} 1 1\n')
    assert err.line == 2
    assert "UTF-8" in str(err)


def test_nul_byte() -> None:
    err = fail(b'a 1 1\na 1 1\nb{x="\x00"} 1 1\n')
    assert err.line == 3
    assert "NUL" in str(err)


def test_sample_without_timestamp() -> None:
    err = fail('# TYPE a gauge\na{x="1"} 1\n')
    assert err.line == 2
    assert "no timestamp" in str(err)


def test_duplicate_label_name() -> None:
    err = fail('a{x="1"} 1 1\na{x="1",y="2",x="3"} 1 1\n')
    assert err.line == 2
    assert "duplicate label name 'x'" in str(err)


@pytest.mark.parametrize("value", ["foo", "1.2.3", "0x10", "--1", "1,5", "\u0661"])
def test_bad_value(value: str) -> None:
    err = fail(f"a 1 1\na {value} 1609459200\n")
    assert err.line == 2
    assert "bad value" in str(err)


def test_bad_timestamp() -> None:
    err = fail("a 1 -5\n")
    assert (err.line, "bad timestamp" in str(err)) == (1, True)
    assert "out of range" in str(fail("a 1 99999999999999999999\n"))


def test_content_after_eof() -> None:
    err = fail("a 1 1\n# EOF\na 2 1\n")
    assert err.line == 3
    assert "after # EOF" in str(err)
    assert fail("a 1 1\n# EOF\n# EOF\n").line == 3


def test_escape_label_value_writes_the_three_escapes_backslash_first() -> None:
    assert escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert escape_label_value("\\n") == "\\\\n"  # a backslash and an n, not a newline
    assert series_text("m", {"b": 'x"', "a": "1"}) == 'm{a="1",b="x\\""}'
    assert series_text("m", {}) == "m"


def test_unknown_escape_is_refused() -> None:
    err = fail('a{x="\\t"} 1 1\n')
    assert err.line == 1
    assert "label set" in str(err)


def test_unterminated_label_set() -> None:
    assert fail('a 1 1\na{x="1" 1 1\n').line == 2
    assert fail('a{x="1} 1 1\n').line == 1


def test_malformed_type_line() -> None:
    assert fail("# TYPE\na 1 1\n").line == 1
    assert fail("# HELP 9bad text\n").line == 1


def test_first_bad_line_wins() -> None:
    body = 'a 1 1\na{x="1",x="2"} 1 1\nb 1\n# EOF\nc 1 1\n'
    assert fail(body).line == 2


def test_snippet_is_short_and_safely_quoted() -> None:
    line = 'bad{x="' + "\u202e" * 10 + "y" * 200
    err = fail(line + "\n")
    message = str(err)
    assert len(message) < 200
    assert "\\u202e" not in message or "'" in message
    assert "y" * 61 not in message


# --------------------------------------------------------------------------------------------
# render


def frame(rows: list[tuple[str, dict[str, str], dt.datetime, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "metric": [r[0] for r in rows],
            "labels": [[{"key": k, "value": v} for k, v in r[1].items()] for r in rows],
            "ts": [r[2] for r in rows],
            "value": [r[3] for r in rows],
        },
        schema={
            "metric": pl.Utf8,
            "labels": pl.List(pl.Struct({"key": pl.Utf8, "value": pl.Utf8})),
            "ts": pl.Datetime("ms", "UTC"),
            "value": pl.Float64,
        },
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

METRIC_NAMES = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", fullmatch=True)
LABEL_NAMES = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True) | st.just(
    "temporal_namespace"
)
# NUL is the one character a body may not carry (it is refused), and surrogates are not UTF-8.
LABEL_VALUES = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
    | st.sampled_from('"\\\n}{,= \tn'),
    max_size=12,
)
VALUES = st.floats(allow_nan=True, allow_infinity=True)
# Seconds below 1e11 and milliseconds above it, so the magnitude rule holds in both units.
TIMES = st.datetimes(
    min_value=dt.datetime(1974, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
ROWS = st.lists(
    st.tuples(METRIC_NAMES, st.dictionaries(LABEL_NAMES, LABEL_VALUES, max_size=5), TIMES, VALUES),
    max_size=25,
)


def expected_samples(rows: list[tuple[str, dict[str, str], dt.datetime, float]]) -> pl.DataFrame:
    order = {name: i for i, name in reversed(list(enumerate(r[0] for r in rows)))}
    grouped = sorted(rows, key=lambda r: order[r[0]])  # stable: families in first appearance
    series = []
    for metric, labels, _, _ in grouped:
        series.append(series_text(metric, labels))
    return pl.DataFrame(
        {
            "series": series,
            "metric": [r[0] for r in grouped],
            "namespace": [r[1].get("temporal_namespace") for r in grouped],
            "labels": [[{"key": k, "value": v} for k, v in sorted(r[1].items())] for r in grouped],
            "ts": [r[2] for r in grouped],
            "value": [r[3] for r in grouped],
        },
        schema=SAMPLES_SCHEMA,
    )


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


# --------------------------------------------------------------------------------------------
# agreement with prometheus_client


def realistic_rows(n: int, seed: int = 3) -> list[tuple[str, dict[str, str], dt.datetime, float]]:
    rng = random.Random(seed)
    rows: list[tuple[str, dict[str, str], dt.datetime, float]] = []
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    metrics = [f"temporal_cloud_v1_metric_{i}_count" for i in range(30)]
    queues = ["q-1", 'q "quoted"', "q\\back", "q\nnew", "Zürich", "a}b,c=d"]
    while len(rows) < n:
        metric = metrics[len(rows) * len(metrics) // n]  # grouped, like a real body
        labels = {
            "temporal_namespace": f"ns-{rng.randrange(20)}.acct1",
            "temporal_account": "acct1",
            "region": rng.choice(["aws-us-west-2", "gcp-us-central1"]),
            "temporal_task_queue": rng.choice(queues),
            "temporal_workflow_type": f"Wf{rng.randrange(50)}",
            "operation": rng.choice(["StartWorkflowExecution", "CompletionStats"]),
        }
        identity = (metric, tuple(sorted(labels.items())))
        if identity in seen:
            continue
        seen.add(identity)
        keys = list(labels)
        rng.shuffle(keys)
        value = rng.choice([0.0, 1e-05, 42.0, rng.expovariate(0.1), math.inf, math.nan])
        rows.append((metric, {k: labels[k] for k in keys}, T0, value))
    return rows


def comparable(value: float) -> object:
    return "NaN" if math.isnan(value) else value


def test_agrees_with_prometheus_client_openmetrics_parser() -> None:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    body = render(frame(realistic_rows(2000)), ts_unit="s")
    ours = parse(body).samples
    theirs = [
        (sample.name, tuple(sorted(sample.labels.items())), comparable(sample.value))
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    ]
    mine = [
        (
            row["metric"],
            tuple((pair["key"], pair["value"]) for pair in row["labels"]),
            comparable(row["value"]),
        )
        for row in ours.iter_rows(named=True)
    ]
    assert len(mine) == len(theirs) == 2000
    assert sorted(mine, key=repr) == sorted(theirs, key=repr)


def test_realistic_body_with_escapes_matches_expectation() -> None:
    rows = realistic_rows(3000)
    for unit in ("s", "ms"):
        body = render(frame(rows), ts_unit=unit, space_after_comma=True)
        assert_frame_equal(parse(body).samples, expected_samples(rows))


def test_a_body_of_many_blocks_parses_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = realistic_rows(300)
    body = render(frame(rows), space_after_comma=True)
    monkeypatch.setattr(importlib.import_module("archiver.openmetrics.parse"), "_BLOCK_BYTES", 700)
    assert_frame_equal(parse(body).samples, expected_samples(rows))
    # A bad line deep in a later block still names its own line number.
    lines = body.split(b"\n")
    lines.insert(250, b'temporal_cloud_v1_x{a="1"} oops 1')
    with pytest.raises(ParseError, match=r"^line 251: bad value 'oops'"):
        parse(b"\n".join(lines))


@pytest.mark.parametrize("block_bytes", [1, 7, 30])
def test_blocks_keep_line_numbers_families_and_eof_across_their_edges(
    monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    monkeypatch.setattr(
        importlib.import_module("archiver.openmetrics.parse"), "_BLOCK_BYTES", block_bytes
    )
    body = b"# TYPE a gauge\r\n\r\na 1 1\r\n\n# HELP b x\nb 2 1\n\n# EOF\n"
    scrape = parse(body)
    assert scrape.families == ("a", "b") and scrape.eof
    assert scrape.samples.get_column("value").to_list() == [1.0, 2.0]
    with pytest.raises(ParseError, match=r"^line 10: content after # EOF: 'c 3 1'"):
        parse(body + b"\nc 3 1\n")
    with pytest.raises(ParseError, match=r"^line 6: bad value 'x'"):
        parse(body.replace(b"b 2 1", b"b x 1"))


def test_parsed_scrape_is_frozen() -> None:
    scrape = parse(b"a 1 1\n")
    assert isinstance(scrape, ParsedScrape)
    with pytest.raises(AttributeError):
        scrape.eof = True  # type: ignore[misc]
