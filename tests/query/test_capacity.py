"""Capacity: known data in, exact numbers out; the CLI writes a PNG per key chart."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from archiver.cli.report import report
from archiver.query import capacity, plots
from archiver.query.connect import connect
from tests.helpers import T0, Plan, Series, build_archive

NS = "alpha.acct1"
BASE = {"temporal_namespace": NS, "temporal_account": "acct1"}
ACTIONS = "temporal_cloud_v1_total_action_count"
WINDOW = {"since": T0, "until": T0 + timedelta(hours=2)}


def _actions(value: float, background: float = 0.0) -> list[Series]:
    fg = BASE | {"is_background": "false", "namespace_mode": "active"}
    bg = BASE | {"is_background": "true", "namespace_mode": "active"}
    return [
        Series(NS, ACTIONS, fg, lambda i: value),
        Series(NS, ACTIONS, bg, lambda i: background),
    ]


@pytest.fixture(scope="module")
def sixty_pct(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """Two hours at 300 actions/s (60% of a 500/s limit reported every 3rd minute), a burst
    of 1,234 actions/s in minute 70, throttling in minute 71, background actions that must
    not count, requests at 10/s against 1,000/s."""
    region = BASE | {"region": "aws-us-east-1"}
    series = [
        Series(
            NS,
            ACTIONS,
            BASE | {"is_background": "false", "namespace_mode": "active"},
            lambda i: 1234.0 if i == 70 else 300.0,
        ),
        Series(
            NS,
            ACTIONS,
            BASE | {"is_background": "true", "namespace_mode": "active"},
            lambda i: 400.0,
        ),
        Series(
            NS, "temporal_cloud_v1_action_limit", region, lambda i: 500.0 if i % 3 == 0 else None
        ),
        Series(
            NS,
            "temporal_cloud_v1_total_action_throttled_count",
            region,
            lambda i: 2.0 if i == 71 else None,
        ),
        Series(
            NS,
            "temporal_cloud_v1_service_request_count",
            region | {"operation": "Poll"},
            lambda i: 10.0,
        ),
        Series(NS, "temporal_cloud_v1_service_request_limit", region, lambda i: 1000.0),
    ]
    return build_archive(tmp_path_factory.mktemp("sixty"), minutes=120, series=series)


def test_sixty_percent_for_an_hour_flags_the_warning(sixty_pct: Plan) -> None:
    con = connect(str(sixty_pct.root))
    hourly = capacity.usage(con, **WINDOW, bucket=3600).filter(pl.col("kind") == "actions")
    assert hourly.select("ts", "minutes", "peak_per_s", "limit_per_s", "level").rows() == [
        (T0, 60, 300.0, 500.0, "warn"),
        (T0 + timedelta(hours=1), 60, 1234.0, 500.0, "page"),
    ]
    assert hourly.get_column("throttled").to_list() == [0, 120]  # 2/s for one minute
    assert hourly.get_column("throttled_minutes").to_list() == [0, 1]
    minutes = capacity.usage(con, **WINDOW, bucket=60).filter(pl.col("kind") == "actions")
    assert minutes.height == 120
    assert minutes.get_column("level").value_counts().sort("level").rows() == [
        ("page", 1),
        ("warn", 119),
    ]


def test_summary_counts_minutes_over_each_threshold(sixty_pct: Plan) -> None:
    con = connect(str(sixty_pct.root))
    got = capacity.summary(con, **WINDOW).filter(pl.col("kind") == "actions").row(0, named=True)
    assert got["peak_per_s"] == 1234.0
    assert got["peak_at"] == T0 + timedelta(minutes=70)
    assert got["limit_per_s"] == 500.0
    assert got["peak_pct"] == 246.8
    assert (got["minutes_over_warn"], got["minutes_over_page"]) == (120, 1)
    assert (got["throttled"], got["throttled_minutes"]) == (120, 1)
    assert got["level"] == "page"
    assert (got["days"], got["limit_date"], got["projection"]) == (1, None, "needs 2+ days")
    requests = capacity.summary(con, **WINDOW).filter(pl.col("kind") == "requests").row(0)
    assert requests[capacity.summary(con, **WINDOW).columns.index("level")] == "ok"
    # no operations metric at all: the kind is there, without a limit, and says so
    assert capacity.missing_limits(capacity.summary(con, **WINDOW)) == ["operations"]


def test_units_for_a_known_peak(sixty_pct: Plan) -> None:
    con = connect(str(sixty_pct.root))
    (row,) = capacity.units(con, **WINDOW).to_dicts()
    assert row["peak_actions_per_s"] == 1234.0  # background actions (400/s) left out
    assert row["units_needed"] == math.ceil(1234 / 500) == 3
    assert row["p95_actions_per_s"] == 300.0
    assert row["units_needed_p95"] == 1
    assert row["provisioned"] is None  # no on-demand envelope reported


def test_limit_date_from_a_linear_trend(tmp_path: Path) -> None:
    """Daily peaks 100, 200, 300 against a 500/s limit: 500 is reached two days later."""
    for day in range(3):
        peak = 100.0 * (day + 1)
        series = [
            Series(NS, ACTIONS, BASE | {"is_background": "false"}, lambda i, p=peak: p),
            Series(NS, "temporal_cloud_v1_action_limit", BASE, lambda i: 500.0),
        ]
        # two minutes a day are enough for a daily peak, and keep the archive small
        plan = build_archive(tmp_path, start=T0 + timedelta(days=day), minutes=2, series=series)
    con = connect(str(plan.root))
    row = capacity.summary(con, since=None, until=None).row(0, named=True)
    assert row["slope_per_day"] == 100.0
    assert row["limit_date"] == (T0 + timedelta(days=4)).date()
    assert row["projection"] == "rising"


def test_billable_totals_and_shares(tmp_path: Path) -> None:
    metric = "temporal_cloud_v1_billable_action_count"
    series = [
        Series(
            NS,
            metric,
            BASE | {"action_type": "activity_started", "temporal_workflow_type": "Order"},
            lambda i: 3.0,
        ),
        Series(
            NS,
            metric,
            BASE | {"action_type": "signal", "temporal_workflow_type": "Order"},
            lambda i: 1.0 if i < 5 else None,
        ),
    ]
    plan = build_archive(tmp_path, minutes=10, series=series)
    got = capacity.billable(connect(str(plan.root)), since=None, until=None)
    assert got.select("action_type", "actions", "share_pct").rows() == [
        ("activity_started", 1800, 85.71),  # 3/s x 60 s x 10 minutes
        ("signal", 300, 14.29),  # missing minutes count as no actions
    ]


def test_scrape_plan_splits_above_the_cap(sixty_pct: Plan) -> None:
    con = connect(str(sixty_pct.root))
    whole = capacity.scrape_plan(con, **WINDOW)
    assert whole.select("namespaces", "peak_points", "fits").rows() == [("*", 6, True)]
    split = capacity.scrape_plan(con, **WINDOW, point_cap=4)
    assert split.height >= 2
    assert split.get_column("peak_points").sum() == 6
    assert split.get_column("peak_points").max() <= 4


def test_label_costs(sixty_pct: Plan) -> None:
    costs = capacity.label_costs(connect(str(sixty_pct.root)), **WINDOW)
    row = costs.filter(pl.col("label") == "is_background").row(0, named=True)
    assert (row["series_with_label"], row["series_without_label"], row["series_saved"]) == (2, 1, 1)
    assert not row["optin"]


def test_empty_frames_give_no_data_figures() -> None:
    con_free = pl.DataFrame()
    for fig in (
        plots.headroom_chart(con_free),
        plots.units_chart(con_free),
        plots.billable_chart(con_free),
        plots.series_chart(con_free),
        plots.label_costs_chart(con_free),
        plots.backlog_chart(con_free),
        plots.poll_rates_chart(con_free),
        plots.usage_chart(con_free, NS),
    ):
        assert not plots.has_data(fig)
        assert fig.get_label().startswith("no data: ")


def test_usage_chart_draws_limit_and_alert_lines(sixty_pct: Plan) -> None:
    con = connect(str(sixty_pct.root))
    fig = plots.usage_chart(capacity.usage(con, **WINDOW, bucket=60), NS)
    assert plots.has_data(fig)
    labels = {line.get_label() for ax in fig.axes for line in ax.lines}
    assert {"action_limit", "90% (page)", "50% (warn)", "peak minute"} <= labels
    assert any("actions/s" in ax.get_ylabel() for ax in fig.axes)


def test_cli_capacity_writes_table_and_pngs(sixty_pct: Plan, tmp_path: Path) -> None:
    out = tmp_path / "charts"
    args = [
        "capacity",
        "--archive",
        str(sixty_pct.root),
        "--since",
        "2025-03-03",
        "--until",
        "2025-03-04",
        "--plot",
        str(out),
        "--format",
        "csv",
    ]
    result = CliRunner().invoke(report, args)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("namespace,kind,")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["billable.png", "headroom.png", "units.png", f"usage-{NS}.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in out.iterdir())
    units = CliRunner().invoke(report, [*args[:7], "--part", "units", "--format", "json"])
    assert units.exit_code == 0 and '"units_needed": 3' in units.output
