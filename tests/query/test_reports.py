"""Known data in, exact numbers out: planted gaps, a stall, a rising backlog, known series."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from archiver.cli.report import report, sql
from archiver.errors import ConfigError, EmptyArchiveError, IncompleteError, QueryError
from archiver.query import reports
from archiver.query.connect import connect
from tests.helpers import BACKLOG, NAMESPACES, SUCCESS, T0, Plan, build_archive, standard_series

ALPHA, BETA = NAMESPACES
WINDOW = {"since": T0, "until": T0 + timedelta(hours=3)}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """Three hours, two namespaces; alpha/queue-0's backlog climbs by one task a minute."""
    return build_archive(
        tmp_path_factory.mktemp("planted"),
        minutes=180,
        series=standard_series(backlog={(ALPHA, "queue-0"): lambda i: 10.0 + i}),
        runs={
            30: {"outcome": "rate_limited"},
            31: {"outcome": "budget_exhausted"},
            50: {"stall": True},
            70: {"missing": True},
            90: {"outcome": "limited", "keep": (ALPHA,)},
            100: {"outcome": "server_error"},
            110: {"outcome": "unknown", "keep": (BETA,)},
        },
        idle={BETA: range(120, 125)},
    )


def test_gaps_find_exactly_the_planted_ranges(planted: Plan) -> None:
    con = connect(str(planted.root))
    got = reports.gaps(con, **WINDOW).select(
        "namespace", pl.col("start").dt.strftime("%H:%M"), "minutes", "reason", "is_gap"
    )
    assert got.rows() == [
        (ALPHA, "00:30", 2, "rate_limited", True),
        (ALPHA, "00:50", 1, "stall", True),
        (ALPHA, "01:10", 1, "not_scraped", True),
        (ALPHA, "01:40", 1, "failed", True),
        (ALPHA, "01:50", 1, "unknown", True),
        (BETA, "00:30", 2, "rate_limited", True),
        (BETA, "00:50", 1, "stall", True),
        (BETA, "01:10", 1, "not_scraped", True),
        (BETA, "01:30", 1, "truncated", True),
        (BETA, "01:40", 1, "failed", True),
        (BETA, "02:00", 5, "idle", False),
    ]
    coverage = reports.gaps_coverage(con, **WINDOW)
    assert coverage.sort("namespace").rows() == [
        (ALPHA, 180, 174, 0, 6, round(100 * 174 / 180, 2)),
        (BETA, 180, 169, 5, 6, round(100 * 174 / 180, 2)),
    ]
    runs = reports.failed_scrapes(con, **WINDOW)
    # the stall at minute 50 ended complete: it is a `stall` range above, not a failed run
    assert runs.get_column("outcome").to_list() == [
        "rate_limited",
        "budget_exhausted",
        "limited",
        "server_error",
        "unknown",
    ]
    assert not any(runs.get_column("stalled").to_list())


def test_failed_scrapes_leave_out_skipped_and_complete_runs(tmp_path: Path) -> None:
    """A run skipped because its minute was archived, or a stalled run that ended complete, is
    not a run that "did not end complete"."""
    plan = build_archive(
        tmp_path / "archive",
        minutes=20,
        series=standard_series(),
        runs={5: {"outcome": "skipped"}, 8: {"stall": True}, 12: {"outcome": "server_error"}},
    )
    con = connect(str(plan.root))
    runs = reports.failed_scrapes(con, since=T0, until=T0 + timedelta(minutes=20))
    assert runs.get_column("outcome").to_list() == ["server_error"]


def test_gaps_window_and_namespace_filter(planted: Plan) -> None:
    con = connect(str(planted.root))
    got = reports.gaps(
        con,
        since=T0 + timedelta(minutes=31),
        until=T0 + timedelta(minutes=60),
        namespaces=["b*"],
    )
    assert got.select("namespace", "minutes", "reason").rows() == [
        (BETA, 1, "rate_limited"),
        (BETA, 1, "stall"),
    ]
    assert reports.gaps(con, **WINDOW, namespaces=["nomatch*"]).is_empty()
    assert reports.resolve_namespaces(con, ["nomatch*", "a*"]) == ([ALPHA], ["nomatch*"])
    # the window keywords are checked as a signature would check them
    with pytest.raises(TypeError, match="missing keyword 'until'"):
        reports.gaps(con, since=T0)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword 'namespace'"):
        reports.gaps(con, **WINDOW, namespace=[ALPHA])  # type: ignore[arg-type, call-arg]


def test_backlog_finds_the_rising_queue(planted: Plan) -> None:
    con = connect(str(planted.root))
    trends = reports.backlog_trends(con, **WINDOW)
    assert trends.filter(pl.col("rising")).select("namespace", "task_queue").rows() == [
        (ALPHA, "queue-0")
    ]
    rising = trends.row(0, named=True)
    # hourly averages of 10+i over the minutes alpha reported (gaps excluded, not zero)
    assert rising["hours_reported"] == 3
    assert rising["minutes_reported"] == 174
    assert rising["backlog_max"] == 10 + 179
    assert rising["poll_success_rate"] == 0.8  # 4 / (4 + 1)
    assert rising["sync_match_rate"] == 0.75  # 3 / 4
    flat = trends.filter(~pl.col("rising"))
    assert flat.height == 3 and set(flat.get_column("slope_per_hour")) == {0.0}

    hourly = reports.backlog(con, **WINDOW, namespaces=[ALPHA]).filter(
        pl.col("task_queue") == "queue-0"
    )
    first = hourly.row(0, named=True)
    # minutes 30 and 31 are missing in hour 0 and 50 stalled: 57 minutes reported, not 60
    reported = [10 + i for i in range(60) if i not in (30, 31, 50)]
    assert first["minutes_reported"] == 57
    assert first["backlog_min"] == 10 and first["backlog_max"] == 69
    assert first["backlog_avg"] == round(sum(reported) / len(reported), 2)


def test_sparse_backlog_is_not_zero(tmp_path: Path) -> None:
    series = standard_series(namespaces=(ALPHA,), task_queues=1, workflow_types=1)
    series = [s for s in series if s.metric != BACKLOG]  # poll activity, no backlog at all
    build_archive(tmp_path, minutes=5, series=series)
    con = connect(str(tmp_path))
    trends = reports.backlog_trends(con, since=None, until=None)
    assert trends.select("backlog_status", "backlog_max", "rising").rows() == [
        ("no backlog reported", None, False)
    ]
    hourly = reports.backlog(con, since=None, until=None)
    assert hourly.select("minutes_reported", "backlog_avg").rows() == [(0, None)]


def test_cardinality_counts_known_series_and_growth(tmp_path: Path) -> None:
    build_archive(tmp_path, start=T0, minutes=2, series=standard_series())
    build_archive(
        tmp_path, start=T0 + timedelta(days=1), minutes=2, series=standard_series(task_queues=4)
    )
    con = connect(str(tmp_path))
    card = reports.cardinality(con, since=None, until=None, point_cap=100)
    success = card.filter((pl.col("metric") == SUCCESS) & (pl.col("namespace") == ALPHA))
    assert success.select(
        "date",
        "series",
        "samples",
        "task_queues",
        "workflow_types",
        "docs_estimate",
        "series_change",
        "cap_share_pct",
    ).rows() == [
        (date(2025, 3, 3), 6, 12, 2, 3, 6, 0, 6.0),
        (date(2025, 3, 4), 12, 24, 4, 3, 12, 6, 12.0),
    ]
    assert card.filter(pl.col("date") == date(2025, 3, 4)).get_column("series").sum() == 58

    drivers = reports.cardinality_drivers(con, since=None, until=None, namespaces=[ALPHA])
    top = drivers.filter(pl.col("metric") == SUCCESS).row(0, named=True)
    assert (top["label"], top["distinct_values"], top["series"]) == ("temporal_task_queue", 4, 12)

    contributors = reports.cardinality_contributors(con, since=None, until=None, top=2)
    assert contributors.select("namespace", "label", "value", "series").rows() == [
        (ALPHA, "task_type", "workflow", 16),
        (BETA, "task_type", "workflow", 16),
    ]

    headroom = reports.cardinality_headroom(con, since=None, until=None, point_cap=100)
    samples = headroom.filter(pl.col("source") == "samples").row(0, named=True)
    # day 1: 2 x 15 points a minute; day 2: 2 x 29. 28 more a day reaches 100 in 2 more days.
    assert samples["peak_points"] == 58
    assert samples["series"] == 2 * 15 + 2 * 14  # the day-2 queues add 14 series per namespace
    assert samples["docs_estimate"] == 6 * 2 * 4 * 3
    assert samples["headroom"] == 42 and samples["headroom_pct"] == 42.0
    assert samples["slope_per_day"] == 28.0
    assert samples["cap_date"] == date(2025, 3, 6)
    log = headroom.filter(pl.col("source") == "scrape log").row(0, named=True)
    assert (log["filter"], log["peak_points"], log["observations"]) == ("unfiltered", 58, 4)


def test_cli_reports_and_exit_codes(planted: Plan, tmp_path: Path) -> None:
    runner = CliRunner()
    common = ["--archive", str(planted.root), "--since", "2025-03-03", "--until", "2025-03-04"]
    result = runner.invoke(report, ["gaps", *common, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)) == 11

    # the root group (archiver.cli.main) maps ArchiverError.exit_code to the process exit code
    result = runner.invoke(report, ["gaps", *common, "--fail-on-gap", "--part", "coverage"])
    assert isinstance(result.exception, IncompleteError) and result.exception.exit_code == 3
    result = runner.invoke(report, ["gaps", *common, "--fail-on-gap", "--namespace", "zz*"])
    assert result.exit_code == 0

    out = tmp_path / "b.parquet"
    result = runner.invoke(
        report, ["backlog", *common, "--format", "parquet", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out).filter(pl.col("rising")).height == 1

    result = runner.invoke(
        report, ["cardinality", *common, "--part", "headroom", "--format", "csv"]
    )
    assert result.exit_code == 0 and result.output.startswith("filter,source,")

    result = runner.invoke(report, ["backlog", *common, "--since", "yesterday"])
    assert isinstance(result.exception, ConfigError) and "7d" in str(result.exception)
    result = runner.invoke(report, ["gaps", "--archive", str(tmp_path / "none")])
    assert isinstance(result.exception, EmptyArchiveError)
    assert result.exception.exit_code == 2 and "archiver scrape" in str(result.exception)

    result = runner.invoke(
        sql,
        [
            "SELECT count(DISTINCT series) AS n FROM samples",
            "--archive",
            str(planted.root),
            "--format",
            "json",
        ],
    )
    assert json.loads(result.output) == [{"n": planted.count()}]
    result = runner.invoke(sql, ["SELECT nope", "--archive", str(planted.root)])
    assert isinstance(result.exception, QueryError) and "nope" in str(result.exception)
