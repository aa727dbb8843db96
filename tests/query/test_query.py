"""The SQL layer over real Parquet written by the test archive factory."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from archiver.errors import EmptyArchiveError, QueryError
from archiver.query.connect import CorruptFileWarning, connect, load_sql, run_file, run_sql, sql_dir
from archiver.store.archive import Archive
from tests.helpers import NAMESPACES, T0, Plan, build_archive, standard_series

Factory = Callable[..., Plan]


def test_views_have_the_contract_types(make_archive: Factory) -> None:
    plan = make_archive(minutes=3)
    con = connect(str(plan.root))
    types = dict(
        run_sql(con, "SELECT column_name, column_type FROM (DESCRIBE samples)").iter_rows()
    )
    assert types == {
        "ts": "TIMESTAMP WITH TIME ZONE",
        "metric": "VARCHAR",
        "namespace": "VARCHAR",
        "labels": "MAP(VARCHAR, VARCHAR)",
        "value": "DOUBLE",
        "series": "VARCHAR",
        "date": "DATE",
    }
    assert run_sql(con, "SELECT count(*) AS n FROM samples").item() == plan.count() * 3
    assert run_sql(con, "SELECT count(DISTINCT series) FROM samples").item() == plan.count()
    assert run_sql(con, "SELECT count(*) FROM scrapes WHERE request = 'scrape'").item() == 3
    for view in ("cardinality", "backlog", "gaps", "descriptors", "gaps_coverage"):
        run_sql(con, f"SELECT * FROM {view}")  # every view binds and runs


def test_every_sql_file_parses(make_archive: Factory) -> None:
    con = connect(str(make_archive(minutes=2).root))
    for path in sorted(sql_dir().glob("*.sql")):
        assert "{" not in path.name
        con.extract_statements(path.read_text())  # parses
    assert run_file(con, "namespaces.sql", {"patterns": ["alpha*"]}).rows() == [
        ("alpha*", "alpha.acct1")
    ]


def test_escaped_namespace_reads_back_decoded(make_archive: Factory) -> None:
    weird = '../odd ns/"x"'
    plan = make_archive(minutes=2, series=standard_series(namespaces=(weird,)))
    assert any("%2E.%2Fodd" in p for p in Archive.open(str(plan.root)).files("samples"))
    con = connect(str(plan.root))
    assert run_sql(con, "SELECT DISTINCT namespace FROM samples").item() == weird


def _scan_lines(plan_text: str) -> list[str]:
    return [line for line in plan_text.splitlines() if re.search(r"File Filters|Scanning", line)]


def test_partition_pruning_shows_in_explain(tmp_path: Path) -> None:
    # three days, two namespaces, two scrapes a day: six sample partitions of two files each
    for day in range(3):
        build_archive(tmp_path, start=T0 + timedelta(days=day), minutes=2)
    con = connect(str(tmp_path))
    day2 = T0 + timedelta(days=1)
    explained = run_sql(
        con,
        "EXPLAIN ANALYZE SELECT count(*) FROM window_samples($since, $until, $ns)",
        {"since": day2, "until": day2 + timedelta(hours=1), "ns": ["alpha.acct1"]},
    ).row(0)[1]
    text = "\n".join(_scan_lines(explained))
    assert "File Filters" in text
    assert "Scanning Files: 2/12" in text
    count = run_sql(
        con,
        "SELECT count(*) FROM window_samples($since, $until, $ns)",
        {"since": day2, "until": day2 + timedelta(hours=1), "ns": ["alpha.acct1"]},
    ).item()
    assert count == 2 * len(standard_series(namespaces=("alpha.acct1",)))


def test_empty_or_missing_archive_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmptyArchiveError, match="run `archiver scrape` first"):
        connect(str(tmp_path / "nothing"))
    (tmp_path / "empty" / "samples").mkdir(parents=True)
    with pytest.raises(EmptyArchiveError, match="no data files"):
        connect(str(tmp_path / "empty"))


def test_corrupt_and_temp_files_are_ignored_with_a_warning(make_archive: Factory) -> None:
    plan = make_archive(minutes=2)
    part = next((plan.root / "samples").rglob("*.parquet"))
    (part.parent / "_tmp-x.parquet.partial").write_bytes(b"half")
    (part.parent / "notes.txt").write_text("hello")
    truncated = part.parent / "part-1-2-deadbeef.parquet"
    truncated.write_bytes(part.read_bytes()[:-20])
    # connect opens no file: the query that reaches the truncated one leaves it out and warns
    with pytest.warns(CorruptFileWarning, match=re.escape(str(truncated))):
        con = connect(str(plan.root))
        assert run_sql(con, "SELECT count(*) FROM samples").item() == plan.count() * 2


def test_bad_sql_is_a_query_error(make_archive: Factory) -> None:
    con = connect(str(make_archive(minutes=1).root))
    with pytest.raises(QueryError, match="nope"):
        run_sql(con, "SELECT nope FROM samples")
    assert run_sql(con, "SET VARIABLE since = now()").is_empty()


def test_dataset_path_used_for_remote_archives(make_archive: Factory) -> None:
    """An S3 archive is read through pyarrow datasets; the same code runs on a local fs."""
    plan = make_archive(minutes=3, runs={1: {"outcome": "rate_limited"}})
    remote_like = Archive(uri="s3://bucket/prefix", fs=pafs.LocalFileSystem(), base=str(plan.root))
    con = connect(remote_like)
    assert run_sql(con, "SELECT count(*) FROM samples").item() == plan.count() * 2
    assert (
        run_sql(
            con,
            "SELECT count(*) FROM samples WHERE namespace = $ns AND date = $d",
            {"ns": NAMESPACES[0], "d": T0.date()},
        ).item()
        == plan.count(NAMESPACES[0]) * 2
    )
    gaps = run_sql(con, "SELECT namespace, minutes, reason FROM gaps ORDER BY namespace")
    assert gaps.rows() == [(ns, 1, "rate_limited") for ns in NAMESPACES]


def test_views_follow_variables(make_archive: Factory) -> None:
    con = connect(str(make_archive(minutes=3, runs={1: {"outcome": "server_error"}}).root))
    assert run_sql(con, "SELECT count(*) FROM gaps").item() == 2
    run_sql(con, "SET VARIABLE namespaces = ['beta.acct1']")
    assert run_sql(con, "SELECT namespace FROM gaps").rows() == [("beta.acct1",)]
    run_sql(con, "SET VARIABLE until = $t", {"t": T0 + timedelta(minutes=1)})
    assert run_sql(con, "SELECT count(*) FROM gaps").item() == 0


def test_sql_files_hold_no_python_formatting() -> None:
    for path in sql_dir().glob("*.sql"):
        text = load_sql(path.name)
        assert "%s" not in text and "{}" not in text, path.name


def test_label_macros_read_what_the_labels_map_holds(make_archive: Factory) -> None:
    con = connect(str(make_archive(minutes=1).root))
    series = 'm{a="x\\\\n",b="say \\"hi\\"",c="two\\nlines"}'
    row = run_sql(
        con,
        "SELECT label_value($s, 'a'), label_value($s, 'b'), label_value($s, 'c'), "
        "label_value($s, 'd'), label_names($s), label_values($s)",
        {"s": series},
    ).row(0)
    assert row == (
        "x\\n",
        'say "hi"',
        "two\nlines",
        None,
        ["a", "b", "c"],
        ["x\\n", 'say "hi"', "two\nlines"],
    )
    # and on stored series, the same as the map
    mismatches = run_sql(
        con,
        "SELECT count(*) FROM samples, unnest(map_keys(labels)) AS k(name) "
        "WHERE label_value(series, name) IS DISTINCT FROM nullif(labels[name], '')",
    ).item()
    assert mismatches == 0


def test_report_functions_read_the_views_an_analyst_queries(make_archive: Factory) -> None:
    from archiver.query import capacity, reports

    plan = make_archive(minutes=3)
    con = connect(str(plan.root))
    until = T0 + timedelta(minutes=2)
    by_function = capacity.summary(con, since=T0, until=until, warn_pct=10.0)
    assert by_function.height > 0
    assert run_sql(con, "SELECT * FROM capacity_summary").equals(by_function)
    gaps = reports.gaps_coverage(con, since=T0, until=until, namespaces=["alpha*"])
    assert gaps.get_column("namespace").to_list() == ["alpha.acct1"]
    assert run_sql(con, "SELECT * FROM gaps_coverage").equals(gaps)


def test_connect_opens_no_data_file_and_each_query_skips_corrupt_ones(
    make_archive: Factory,
) -> None:
    plan = make_archive(minutes=3)
    files = sorted((plan.root / "samples").rglob("*.parquet"))
    whole = files[0]  # the file a view binds its columns from
    for path in files[1:]:
        path.write_bytes(path.read_bytes()[:-20])
    con = connect(str(plan.root))  # no warning: connecting read none of the truncated files
    with pytest.warns(CorruptFileWarning) as caught:
        n = run_sql(con, "SELECT count(*) FROM samples").item()
    assert sorted(str(w.message).split()[1].rstrip(":") for w in caught) == [
        str(p) for p in files[1:]
    ]
    expected = run_sql(con, "SELECT count(*) FROM read_parquet($f)", {"f": str(whole)}).item()
    assert n == expected > 0
    # the connection remembers: the next query does not warn again
    assert run_sql(con, "SELECT count(*) FROM samples").item() == expected


def test_a_new_file_is_seen_by_the_next_query(make_archive: Factory, tmp_path: Path) -> None:
    plan = make_archive(minutes=2)
    con = connect(str(plan.root))
    before = run_sql(con, "SELECT count(*) FROM samples").item()
    build_archive(plan.root, start=T0 + timedelta(days=1), minutes=1)
    assert run_sql(con, "SELECT count(*) FROM samples").item() > before
    assert run_sql(con, "SELECT count(DISTINCT date) FROM archive_partitions").item() == 2


def test_memory_limit_and_spill_folder(make_archive: Factory) -> None:
    plan = make_archive(minutes=1)
    con = connect(str(plan.root), memory_limit="300MB")
    limit, spill = run_sql(
        con, "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    ).row(0)
    assert limit == "286.1 MiB"
    assert spill == str(plan.root / "_archiver" / "tmp" / "duckdb")


def test_a_query_past_the_memory_limit_spills_under_the_state_folder(tmp_path: Path) -> None:
    build_archive(tmp_path, minutes=1)
    spill = tmp_path / "_archiver" / "tmp" / "duckdb"
    con = connect(str(tmp_path), memory_limit="64MB")
    ordered = run_sql(
        con,
        "SELECT count(*) AS n, bool_and(i <= next) AS sorted FROM ("
        "  SELECT i, lead(i) OVER (ORDER BY i) AS next FROM ("
        "    SELECT hash(range) AS i, repeat('x', 40) AS pad FROM range(3000000) ORDER BY i))",
    ).row(0)
    assert ordered == (3_000_000, True)
    assert spill.is_dir()
