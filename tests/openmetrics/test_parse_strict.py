"""The OpenMetrics parser: every refusal with its line number, agreement with
prometheus_client's own parser, and bodies cut into blocks."""

from __future__ import annotations

import importlib

import pytest
from polars.testing import assert_frame_equal

from archiver.errors import ParseError
from archiver.openmetrics import (
    ParsedScrape,
    escape_label_value,
    parse,
    render,
    series_text,
)
from tests.openmetrics.rows import (
    comparable,
    expected_samples,
    fail,
    frame,
    realistic_rows,
)

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
# agreement with prometheus_client


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


# --------------------------------------------------------------------------------------------
# blocks


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
