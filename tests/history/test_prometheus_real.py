"""``import prometheus`` against a real Prometheus that scraped the simulator over HTTPS.

The simulator's clock is stepped a minute at a time; after each step the test waits until
Prometheus has scraped the new minute (honor_timestamps), then ``archiver scrape`` scrapes the
same simulator over the same socket. Importing from Prometheus into a second archive must give
the scraped archive back, sample for sample, once ``job`` and ``instance`` are dropped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from archiver.cli import main
from archiver.collect.scrape import scrape_once
from archiver.config import load
from archiver.errors import NetworkError
from archiver.history.promapi import PromAPI
from archiver.history.prometheus import import_prometheus
from archiver.query.connect import connect, run_sql
from archiver.simulator import Account, AccountSpec, Simulator, serve
from archiver.store.archive import Archive
from tests.history import promtools

KEY = "prom-import-key"
MINUTES = 5
SELECTOR = '{__name__=~"temporal_cloud_v1_.*"}'


@dataclass(frozen=True)
class Populated:
    url: str  # the Prometheus
    since: datetime
    until: datetime
    scraped: Path  # what archiver scrape stored from the same simulator


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Populated]:
    promtools.need("prometheus")
    tmp = tmp_path_factory.mktemp("prom")
    # Minutes half an hour back from now: the TSDB takes them in order into its head block.
    base = (int(time.time()) // 60 - 30) * 60
    now = [float(base + 130)]  # the simulator serves the minute 120 s before its clock
    sim = Simulator(
        Account(AccountSpec.small(seed=3)),
        api_key=KEY,
        clock=lambda: now[0],
        budget_per_hour=10**9,  # Prometheus asks many times a simulated minute
    )
    scraped = tmp / "scraped"
    with serve(sim) as server:
        settings = load(
            {
                "archive": str(scraped),
                "endpoint": server.url,
                "ca_file": str(server.ca_file),
                "phase": 0,
                "fsync": False,
            },
            {"TEMPORAL_CLOUD_API_KEY": KEY},
            config_file=tmp / "none.toml",
        )
        job = {
            "job_name": "temporal",
            "scheme": "https",
            "metrics_path": "/v1/metrics",
            "honor_timestamps": True,
            "scrape_interval": "200ms",
            "scrape_timeout": "180ms",
            "authorization": {"credentials": KEY},
            "tls_config": {"ca_file": str(server.ca_file)},
            "static_configs": [{"targets": [f"127.0.0.1:{server.port}"]}],
        }
        with promtools.prometheus(tmp / "prom", [job]) as url:
            for _ in range(MINUTES):
                promtools.wait_for_scrape(url, after=time.time())
                result = scrape_once(settings, clock=lambda: now[0], sleep=lambda s: None)
                assert result.outcome == "complete", result.message
                now[0] += 60
            # Stop the scraping: point the clock past the window, whose minutes stay as they are.
            yield Populated(
                url=url,
                since=datetime.fromtimestamp(base, UTC),
                until=datetime.fromtimestamp(base + MINUTES * 60, UTC),
                scraped=scraped,
            )


def test_import_from_prometheus_equals_what_archiver_scraped(
    populated: Populated, tmp_path: Path
) -> None:
    imported = tmp_path / "imported"
    with PromAPI(populated.url) as api:
        got = import_prometheus(
            Archive.open(str(imported), durable=False),
            api,
            SELECTOR,
            populated.since,
            populated.until,
            points_per_request=300,  # windows of a minute or two, several metrics each
        )
    want = promtools.archived(populated.scraped)
    assert want.height > 0
    assert got.series_matched > 0 and got.windows > 1
    assert got.minutes == MINUTES and got.new_samples == want.height
    assert promtools.archived(imported).equals(want)
    con = connect(str(imported))
    log = run_sql(con, "SELECT DISTINCT request, source FROM scrapes")
    assert log.rows() == [("import", f"prometheus:{populated.url}")]


def test_an_interrupted_import_resumes_where_it_stopped(
    populated: Populated, tmp_path: Path
) -> None:
    archive = Archive.open(str(tmp_path / "imported"), durable=False)

    def run(transport: httpx.BaseTransport | None) -> object:
        with PromAPI(populated.url, transport=transport, sleep=lambda s: None) as api:
            return import_prometheus(
                archive, api, SELECTOR, populated.since, populated.until, points_per_request=300
            )

    with pytest.raises(NetworkError, match="no answer after 3 attempts"):
        run(promtools.CutAfter(60))  # the series list and a window or two, then nothing
    first = promtools.archived(tmp_path / "imported")
    assert 0 < first.height < promtools.archived(populated.scraped).height
    resumed = run(None)
    assert resumed.windows_resumed > 0  # type: ignore[attr-defined]
    assert promtools.archived(tmp_path / "imported").equals(promtools.archived(populated.scraped))


def test_a_selector_that_matches_nothing_exits_0(
    populated: Populated, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _main(
        [
            "import", "prometheus", "--archive", str(tmp_path / "a"), "--url", populated.url,
            "--match", 'nothing_here{job="none"}', "--since", populated.since.isoformat(),
            "--until", populated.until.isoformat(),
        ]
    )  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0 and "0 series matched" in out
    assert not (tmp_path / "a" / "samples").exists()


def test_cli_import_prometheus(
    populated: Populated, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "import", "prometheus", "--archive", str(tmp_path / "a"), "--url", populated.url,
        "--match", "temporal_cloud_v1_workflow_success_count",
        "--since", populated.since.isoformat(), "--until", populated.until.isoformat(),
    ]  # fmt: skip
    assert _main(args) == 0
    out, _ = capsys.readouterr()
    assert "series matched (1 metrics)" in out and f"in {MINUTES} minutes" in out
    assert _main(args) == 0
    out, _ = capsys.readouterr()
    assert " 0 new" in out
    code = _main([*args[:5], populated.url + "/nothing", *args[6:]])
    _, err = capsys.readouterr()
    assert code == 1 and "HTTP 404" in err and len(err.strip().splitlines()) == 1


def _main(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
