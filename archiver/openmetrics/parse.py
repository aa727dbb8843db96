"""Parse an OpenMetrics body, as Temporal Cloud serves it, into a columnar batch.

Every per-line and per-sample step is a polars expression, so a 60,000-sample body costs a
handful of passes in Rust, never a Python object per sample.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import NoReturn

import polars as pl

from archiver.errors import ParseError
from archiver.openmetrics import grammar
from archiver.openmetrics.batch import LABEL, SAMPLES_SCHEMA, ParsedScrape, from_offsets

__all__ = ["parse"]


#: Seconds and milliseconds since 1970 overlap nowhere near the present: 1e11 s is the year
#: 5138 and 1e11 ms is 1973, so the magnitude tells the unit.
_MS_THRESHOLD = 1e11
#: 9999-12-31T23:59:59.999Z; later timestamps are nonsense, and would overflow datetime.
_MAX_MS = 253_402_300_799_999
_SNIPPET = 60
#: Bytes of body per block (cut at a line end), and how many blocks are parsed at once. Each
#: block is cut into lines and parsed on its own, so the lines of the whole body never exist
#: at once: only the parsed samples grow with the body. Blocks stand alone, and polars runs
#: many string kernels on one thread per column, so a second block in flight keeps the other
#: core busy. Measured on a 50,000-sample body (11 MB) parsed cold, as a cron scrape parses
#: it: see the parse and scrape benchmarks (BENCHMARKS.md) for the time and peak RSS.
_BLOCK_BYTES = 1 << 20
_BLOCKS_AT_ONCE = 2
_NAMESPACE = "temporal_namespace"


def parse(body: bytes) -> ParsedScrape:
    """Parse an OpenMetrics body into a :class:`ParsedScrape`.

    Lenient where the real service varies (timestamps in seconds or milliseconds, whitespace
    after commas and around ``=``, TYPE/HELP order, CRLF, blank lines, a trailing comma in the
    label set, a missing ``# EOF``) and strict on everything else: the first offending line
    raises :class:`~archiver.errors.ParseError` carrying its 1-based line number.

    >>> scrape = parse(b'm{b="2", a="1"} 4.5 1609459200\\n# EOF\\n')
    >>> scrape.samples.select("series", "value").row(0), scrape.eof
    (('m{a="1",b="2"}', 4.5), True)
    """
    _check_text(body)
    errors: list[tuple[int, str]] = []
    families: dict[str, None] = {}
    eof_at: int | None = None
    one_block = partial(_samples, escapes=b"\\" in body, no_tabs=b"\t" not in body, errors=errors)
    parsed: list[pl.DataFrame] = []
    with ThreadPoolExecutor(_BLOCKS_AT_ONCE) as pool:
        in_flight: deque[Future[pl.DataFrame]] = deque()
        for frame in _blocks(body):
            is_comment = pl.col("line").str.starts_with("#")
            comments = frame.filter(is_comment)
            if eof_at is None:
                eof_at = _eof_line(comments)
            if eof_at is not None:
                after = (
                    frame.filter(pl.col("lineno") > eof_at)
                    .filter(pl.col("line").str.strip_chars(" \t") != "")
                    .head(1)
                )
                if after.height:
                    errors.append((after.item(0, "lineno"), "content after # EOF"))
            families.update(dict.fromkeys(_families(comments, errors)))
            # Blocks report bad lines into one list (appends are atomic); the first by line
            # number wins. A body without a backslash skips the escape handling.
            in_flight.append(pool.submit(one_block, frame.filter(~is_comment)))
            if len(in_flight) >= _BLOCKS_AT_ONCE:
                parsed.append(in_flight.popleft().result())
        parsed.extend(f.result() for f in in_flight)
    samples = pl.concat(parsed) if parsed else pl.DataFrame(schema=SAMPLES_SCHEMA)
    if errors:
        lineno, what = min(errors)
        _raise(body, lineno, what)
    return ParsedScrape(samples=samples, families=tuple(families), eof=eof_at is not None)


def _blocks(body: bytes) -> Iterator[pl.DataFrame]:
    """The body's non-empty lines (``lineno``, ``line``), about ``_BLOCK_BYTES`` at a time."""
    start, lineno = 0, 1
    while start < len(body):
        end = body.find(b"\n", min(start + _BLOCK_BYTES, len(body)) - 1)
        end = len(body) if end == -1 else end + 1
        # Cut in Python (the body is known UTF-8 by now): polars' CSV reader would do it in
        # parallel, but pulls in 6 MB of its code pages for every cron scrape (measured), and
        # the split is faster on one core anyway. A blank line is an empty string, dropped.
        text = str(memoryview(body)[start:end], "utf-8")
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        cut = text.split("\n")
        if text.endswith("\n"):
            cut.pop()  # the empty string after the block's last line end
        del text
        lines = pl.DataFrame({"line": cut}, schema={"line": pl.Utf8})
        del cut
        yield lines.with_row_index("lineno", offset=lineno).filter(
            pl.col("line").str.len_bytes() > 0
        )
        lineno += lines.height
        start = end


def _check_text(body: bytes) -> None:
    """Refuse a body that is not UTF-8 text, or that carries a NUL byte."""
    nul = body.find(b"\x00")
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            if nul == -1 or exc.start < nul:
                line = body.count(b"\n", 0, exc.start) + 1
                start = body.rfind(b"\n", 0, exc.start) + 1
                snippet = body[start : start + _SNIPPET]
                raise ParseError(
                    f"line {line}: invalid UTF-8 at byte {exc.start}: {snippet!r}; "
                    "the body is not OpenMetrics text",
                    line=line,
                ) from None
    if nul != -1:
        line = body.count(b"\n", 0, nul) + 1
        raise ParseError(
            f"line {line}: NUL byte at byte {nul}; the body is not OpenMetrics text", line=line
        )


def _eof_line(comments: pl.DataFrame) -> int | None:
    eofs = comments.filter(pl.col("line").str.strip_chars_end(" \t") == "# EOF").head(1)
    return int(eofs.item(0, "lineno")) if eofs.height else None


def _families(comments: pl.DataFrame, errors: list[tuple[int, str]]) -> tuple[str, ...]:
    declarations = comments.filter(pl.col("line").str.contains(r"^# (?:TYPE|HELP)(?:[ \t]|$)"))
    names = declarations.select(
        "lineno",
        pl.coalesce(
            pl.col("line").str.extract(grammar.DECLARATION, 1),
            pl.col("line").str.extract(grammar.DECLARATION, 2),
        ).alias("name"),
    )
    bad = names.filter(pl.col("name").is_null()).head(1)
    if bad.height:
        errors.append((bad.item(0, "lineno"), "malformed # TYPE or # HELP line"))
    return tuple(names.get_column("name").drop_nulls().unique(maintain_order=True).to_list())


# Stand-ins for the escapes \\ and \" while a label set is split at its quotes. NUL never
# reaches this far (the body is refused), so these two-character sequences cannot collide.
_BACKSLASH = "\x00b"
_QUOTE = "\x00q"
_TAIL_PARTS = r"[ \t]+(?P<value>[^ \t]+)[ \t]+(?P<ts>[^ \t]+)[ \t]*$"


def _samples(
    lines: pl.DataFrame, escapes: bool, no_tabs: bool, errors: list[tuple[int, str]]
) -> pl.DataFrame:
    # Long: one vectorised pass over a block of lines (validate, split, cut value and time);
    # cut into functions, each would hand the next the same half-dozen scratch columns.
    line = pl.col("line")
    # Cutting a valid line at its quotes (escaped ones stood in for) gives 2k+1 pieces:
    # 'metric{key1=', value1, ', key2=', value2, ..., '} 42.0 1609459200'; a line without labels
    # is one piece. This one split replaces captures, which cost several times a plain match.
    quoted = line
    if escapes:
        quoted = line.str.replace_all("\\\\", _BACKSLASH, literal=True).str.replace_all(
            '\\"', _QUOTE, literal=True
        )
    # Validation and the split are independent, so one select runs them on separate threads.
    checked = lines.select(
        "lineno",
        "line",
        valid=line.str.contains(grammar.SAMPLE),
        pieces=quoted.str.split('"'),
        spaced=line.str.contains("  ", literal=True),
    )
    # Single spaces everywhere let value and timestamp be cut without a regex.
    single_spaced = no_tabs and not checked.get_column("spaced").any()
    if not checked.get_column("valid").all():
        # Whitespace-only lines are blank lines, not broken samples.
        bad = checked.filter(~pl.col("valid") & (line.str.strip_chars(" \t") != "")).head(1)
        if bad.height:
            errors.append((bad.item(0, "lineno"), ""))  # _raise explains it
        checked = checked.filter("valid")

    ts = pl.col("ts").cast(pl.Float64)
    first = pl.col("pieces").list.first()
    last = pl.col("pieces").list.last()
    if single_spaced:
        # The last piece is '} 42.0 1609459200' (or 'metric 42.0 1609459200' without labels).
        tokens = last.str.strip_chars_end(" ").str.split(" ")
        brace = first.str.find("{", literal=True)
        cut = [
            pl.when(brace.is_null()).then(tokens.list.first()).otherwise(first.str.head(brace)),
            tokens.list.get(-2).alias("value"),
            tokens.list.get(-1).alias("ts"),
        ]
    else:
        tail = last.str.extract_groups(_TAIL_PARTS)
        cut = [first.str.extract(f"^{grammar.NAME}", 0), tail.struct.field("value", "ts")]
    parts = (
        checked.select("lineno", "line", "pieces")
        .with_row_index("idx")
        .with_columns(cut[0].alias("metric"), *cut[1:])
        .with_columns(
            value=pl.col("value").cast(pl.Float64, strict=False),
            ts_ms=pl.when(ts >= _MS_THRESHOLD).then(ts).otherwise(ts * 1000).round(0),
        )
    )
    bad_value = parts.filter(pl.col("value").is_null()).head(1)
    if bad_value.height:
        errors.append((bad_value.item(0, "lineno"), "bad value"))
    bad_ts = parts.filter(pl.col("ts_ms") > _MAX_MS).head(1)
    if bad_ts.height:
        errors.append((bad_ts.item(0, "lineno"), "timestamp out of range"))

    labelled = pl.concat([parts, _labels(parts, escapes, errors)], how="horizontal")
    return labelled.select(
        "series",
        "metric",
        "namespace",
        "labels",
        pl.col("ts_ms").clip(0, _MAX_MS).cast(pl.Int64).cast(pl.Datetime("ms", "UTC")).alias("ts"),
        "value",
    ).cast(SAMPLES_SCHEMA)


def _labels(parts: pl.DataFrame, escapes: bool, errors: list[tuple[int, str]]) -> pl.DataFrame:
    """The sorted label set of each sample: ``labels``, ``namespace`` and ``series`` (the
    metric and its label set as the canonical text), one row per row of ``parts``."""
    # Long: the label sets of a whole block in one pass (rank names, sort pairs, rebuild the
    # series text only where the line's own spelling is not canonical); the steps share the
    # ranked pairs and their offsets, which pieces would have to pass around.
    pieces = parts.select("idx", piece=pl.col("pieces")).explode("piece").with_row_index("row")
    idx = pl.col("idx")
    # Every sample yields an odd number of pieces, so the parity of row - idx is the piece's
    # parity within its own sample: keys sit at even places, except the last (the tail).
    is_key = ((pl.col("row") - idx) % 2 == 0) & (idx == idx.shift(-1))
    keyed = pieces.select(
        "idx", text=pl.col("piece"), raw=pl.col("piece").shift(-1), is_key=is_key
    ).filter("is_key")
    # A body holds a few dozen label names among hundreds of thousands of pairs, so each
    # distinct key text (", region=") is cleaned and ranked once, and the pairs are sorted by
    # an integer (sample, rank) instead of by strings.
    if keyed.height == 0:
        return pl.DataFrame(
            [
                pl.Series("labels", [[]], pl.List(LABEL)).new_from_index(0, parts.height),
                pl.Series("namespace", [None], pl.Utf8).new_from_index(0, parts.height),
                parts.get_column("metric").alias("series"),
            ]
        )
    # Each distinct key text is cleaned once and ranked; a join hands the ranks to the pairs.
    distinct = keyed.get_column("text").unique()
    # The first key text also holds the metric name and the brace: 'metric{key1='.
    names = distinct.str.replace(r"^[^{]*\{", "").str.strip_chars(" \t,=")
    sorted_names = names.unique().sort()
    width = max(len(sorted_names), 1)
    ranking = pl.DataFrame({"text": distinct, "rank": names.rank("dense").cast(pl.UInt64) - 1})
    pairs = keyed.join(ranking, on="text", how="left", maintain_order="left").select(
        "idx", "raw", "rank", composite=pl.col("idx").cast(pl.UInt64) * width + pl.col("rank")
    )
    # The common case: every label set already in canonical order (strictly increasing ranks,
    # hence no duplicate names either) and spelled canonically (no whitespace, no trailing
    # comma). Then the line itself holds the series text, and nothing needs sorting.
    in_order = bool((pairs.get_column("composite").diff().drop_nulls() > 0).all())
    canonical_text = in_order and _canonical_spelling(parts, distinct)
    if not in_order:
        pairs = pairs.sort("composite")
        composite = pairs.get_column("composite")
        dup = (composite == composite.shift(1)).arg_true().head(1)
        if len(dup):
            lineno = parts.item(pairs.item(dup[0], "idx"), "lineno")
            errors.append(
                (lineno, f"duplicate label name {sorted_names[pairs.item(dup[0], 'rank')]!r}")
            )
    key = pl.lit(sorted_names).gather(pl.col("rank")).alias("key")
    name_list: list[str] = sorted_names.to_list()

    raw = pl.col("raw")
    canonical = value = raw
    if escapes:
        canonical = raw.str.replace_all(_BACKSLASH, "\\\\", literal=True).str.replace_all(
            _QUOTE, '\\"', literal=True
        )
        # With \\ and \" stood in for, every backslash left starts a \n escape.
        value = (
            raw.str.replace_all("\\n", "\n", literal=True)
            .str.replace_all(_BACKSLASH, "\\", literal=True)
            .str.replace_all(_QUOTE, '"', literal=True)
        )
    flat = pairs.select(idx, "rank", labels=pl.struct(key, value.alias("value")))
    # The pairs are sorted by sample, so each sample's run starts where a binary search puts it;
    # Arrow builds the list columns from those offsets without touching the values.
    starts = pl.int_range(parts.height + 1, dtype=pl.UInt32, eager=True)
    offsets = flat.get_column("idx").search_sorted(starts, side="left").cast(pl.Int64).to_arrow()
    labels = from_offsets(offsets, flat.get_column("labels")).alias("labels")

    namespace = pl.Series("namespace", [None], pl.Utf8).new_from_index(0, parts.height)
    if _NAMESPACE in name_list:
        # At most one per sample (a second is a duplicate name): put each where it belongs.
        own = pairs.filter(pl.col("rank") == name_list.index(_NAMESPACE))
        namespace = namespace.scatter(own.get_column("idx"), own.select(value).to_series())

    if canonical_text:
        # Up to and including the closing brace: the line without its tail piece.
        line, tail = pl.col("line"), pl.col("pieces").list.last()
        prefix = line.str.head(line.str.len_chars() - tail.str.len_chars() + 1)
        series = pl.when(pl.col("pieces").list.len() == 1).then(pl.col("metric")).otherwise(prefix)
        return pl.DataFrame([labels, namespace]).with_columns(parts.select(series=series))
    # Canonical escaping is the input's own: the validating pattern admits only \\ \" \n.
    text = pl.concat_str(pl.lit(sorted_names + '="').gather(pl.col("rank")), canonical, pl.lit('"'))
    pair_text = from_offsets(offsets, pairs.select(text).to_series())
    joined = (
        parts.select("metric", pairs=pair_text)
        .select(
            pl.when(pl.col("pairs").list.len() == 0)
            .then(pl.col("metric"))
            .otherwise(pl.col("metric") + "{" + pl.col("pairs").list.join(",") + "}")
            .alias("series")
        )
        .to_series()
    )
    return pl.DataFrame([labels, namespace, joined])


#: A key text as the canonical series spells it: 'metric{key=' (the first) or ',key='.
_CANONICAL_KEY = rf"^(?:{grammar.NAME}\{{|,){grammar.LABEL_NAME}=$"


def _canonical_spelling(parts: pl.DataFrame, key_texts: pl.Series) -> bool:
    """Whether every label set is written as the series writes it: no whitespace around names
    and separators, and no trailing comma (a labelled line's tail piece starts with '}')."""
    if not key_texts.str.contains(_CANONICAL_KEY).all():
        return False
    tails = parts.select(
        (pl.col("pieces").list.len() == 1) | pl.col("pieces").list.last().str.starts_with("}")
    )
    return bool(tails.to_series().all())


def _raise(body: bytes, lineno: int, what: str) -> NoReturn:
    # Only on the way out: find the line again in the body (numbered as _blocks numbers them).
    start = 0
    for _ in range(lineno - 1):
        start = body.index(b"\n", start) + 1
    end = body.find(b"\n", start)
    line = body[start : len(body) if end == -1 else end].decode().removesuffix("\r")
    if not what:
        what = grammar.explain(line)
    snippet = repr(line[:_SNIPPET]) + ("..." if len(line) > _SNIPPET else "")
    raise ParseError(f"line {lineno}: {what}: {snippet}", line=lineno)
