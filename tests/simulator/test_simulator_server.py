"""The simulated endpoint through its httpx transport: auth, budget, windows, filters, faults."""

from __future__ import annotations

import email.utils
import itertools
from collections.abc import Iterator

import httpx
import polars as pl
import pytest

from archiver.errors import ParseError
from archiver.openmetrics import parse
from archiver.simulator import Account, AccountSpec, Faults, Simulator
from archiver.simulator.clock import SimulatedClock
from archiver.simulator.variants import NEW_METRIC, ODD_VALUES

T0 = 1_700_000_037.0  # 37 s into a minute
KEY = {"Authorization": "Bearer sim-key"}


@pytest.fixture(scope="module")
def account() -> Account:
    return Account(AccountSpec.small())


def client(sim: Simulator) -> httpx.Client:
    return httpx.Client(transport=sim.transport(), base_url="https://sim.test", headers=KEY)


def get(sim: Simulator, path: str = "/v1/metrics", **params: object) -> httpx.Response:
    with client(sim) as c:
        return c.get(path, params=params)  # type: ignore[arg-type]


def test_window_is_minute_aligned_two_minutes_behind(account: Account) -> None:
    clock = SimulatedClock(T0)
    sim = Simulator(account, clock=clock)
    r = get(sim)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.headers["x-completeness"] == "complete"
    parsed = parse(r.content)
    assert parsed.eof
    expected = (int(T0) - 120) // 60 * 60 * 1000
    assert parsed.samples["ts"].dt.epoch("ms").unique().to_list() == [expected]
    assert parsed.samples.sort("series").equals(account.window(expected).sort("series"))
    clock.now += 60
    assert parse(get(sim).content).samples["ts"].dt.epoch("ms")[0] == expected + 60_000


def test_label_sets_come_in_the_services_order_not_sorted(account: Account) -> None:
    # The reference writes namespace first and region last; the archive keeps them sorted.
    lines = [
        ln
        for ln in get(Simulator(account, clock=SimulatedClock(T0))).text.splitlines()
        if "{" in ln
    ]
    names = [
        [p.split("=")[0] for p in ln[ln.index("{") + 1 : ln.index("}")].split(",")] for ln in lines
    ]
    assert all(n[0] == "temporal_namespace" for n in names)
    assert all(n[-1] == "region" for n in names if "region" in n)
    assert any(n != sorted(n) for n in names)


def test_timestamps_in_seconds_or_milliseconds(account: Account) -> None:
    line = get(Simulator(account, clock=SimulatedClock(T0))).text.splitlines()[2]
    assert len(line.rsplit(" ", 1)[1]) == 10
    line = get(Simulator(account, clock=SimulatedClock(T0), ts_unit="ms")).text.splitlines()[2]
    assert len(line.rsplit(" ", 1)[1]) == 13


@pytest.mark.parametrize(
    ("headers", "status", "text"),
    [({}, 401, "Jwt is missing"), ({"Authorization": "Bearer nope"}, 401, "Jwt is missing"),
     ({"Authorization": "Bearer reader"}, 403, "Forbidden")],
)  # fmt: skip
def test_auth(account: Account, headers: dict[str, str], status: int, text: str) -> None:
    sim = Simulator(account, clock=SimulatedClock(T0), forbidden_keys=["reader"])
    with httpx.Client(transport=sim.transport(), base_url="https://sim.test") as c:
        r = c.get("/v1/metrics", headers=headers)
    assert r.status_code == status
    assert text in r.text
    assert "sim-key" not in repr(sim)


def test_namespace_wildcards_and_metric_filters(account: Account) -> None:
    sim = Simulator(account, clock=SimulatedClock(T0))
    first = account.namespaces[0]
    prefix = first.split("-")[0] + "-*"
    got = parse(get(sim, namespaces=prefix).content).samples
    assert set(got["namespace"]) == {ns for ns in account.namespaces if ns.startswith(prefix[:-1])}
    got = parse(get(sim, namespaces=[first, "nothing-*"]).content).samples
    assert set(got["namespace"]) == {first}
    metrics = ["temporal_cloud_v1_action_limit", "temporal_cloud_v1_poll_success_count"]
    got = parse(get(sim, metrics=metrics).content).samples
    assert set(got["metric"]) <= set(metrics)
    assert "temporal_cloud_v1_poll_success_count" in set(got["metric"])


@pytest.mark.parametrize("pattern", ["Prod-*", "prod_x", "prod?", "a b"])
def test_odd_namespace_patterns_are_refused(account: Account, pattern: str) -> None:
    assert get(Simulator(account, clock=SimulatedClock(T0)), namespaces=pattern).status_code == 422


def test_cap_truncates_and_a_metric_split_adds_up(account: Account) -> None:
    whole = parse(get(Simulator(account, clock=SimulatedClock(T0))).content).samples
    sim = Simulator(account, clock=SimulatedClock(T0), point_cap=200)
    r = get(sim)
    assert r.headers["x-completeness"] == "limited"
    truncated = parse(r.content)
    assert truncated.samples.height == 200 and truncated.eof
    pieces = []
    for metric in whole["metric"].unique(maintain_order=True):
        r = get(sim, metrics=metric)
        assert r.headers["x-completeness"] == "complete", metric
        pieces.append(parse(r.content).samples)
    assert pl.concat(pieces).sort("series").equals(whole.sort("series"))


def test_mid_account_full_scrape_is_limited_at_30k() -> None:
    sim = Simulator(Account(AccountSpec.mid()), clock=SimulatedClock(T0))
    r = get(sim)
    assert r.headers["x-completeness"] == "limited"
    assert parse(r.content).samples.height == 30_000
    assert sim.requests[-1].samples == 30_000


def test_budget_180_per_rolling_hour_then_429(account: Account) -> None:
    clock = SimulatedClock(T0)
    sim = Simulator(account, clock=clock)
    with client(sim) as c:
        for i in range(180):
            clock.now = T0 + i * 10
            path = "/v1/descriptors" if i % 2 else "/v1/metrics"
            assert c.get(path).status_code == 200
        clock.now = T0 + 1800
        r = c.get("/v1/metrics")
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) == 1800  # when the oldest request leaves the hour
        clock.now = T0 + 3600
        assert c.get("/v1/metrics").status_code == 200
    statuses = [rec.status for rec in sim.requests]
    assert statuses.count(429) == 1 and len(statuses) == 182
    admitted = [rec.time for rec in sim.requests if rec.status != 429]
    assert max(sum(1 for t in admitted if s <= t < s + 3600) for s in admitted) <= 180


def test_descriptors_pagination_covers_the_catalog(account: Account) -> None:
    sim = Simulator(account, clock=SimulatedClock(T0))
    names: list[str] = []
    with client(sim) as c:
        first = c.get("/v1/descriptors").json()
        assert first["meta"]["pagination"] == {"total": 55, "limit": 100, "offset": 0}
        for offset in range(0, 100, 10):
            page = c.get("/v1/descriptors", params={"limit": 10, "offset": offset}).json()
            names += [d["name"] for d in page["descriptors"]]
        assert c.get("/v1/descriptors", params={"limit": 0}).status_code == 400
        assert c.get("/v1/descriptors", params={"limit": 101}).status_code == 400
    assert names == [d["name"] for d in first["descriptors"]]
    assert len(set(names)) == 55
    assert all(
        {"name", "help", "dimensions"} <= set(d) and "temporal_namespace" in d["dimensions"]
        for d in first["descriptors"]
    )


# -- faults -------------------------------------------------------------------------------


def faulty(account: Account, clock: SimulatedClock | None = None, **knobs: object) -> Simulator:
    return Simulator(account, clock=clock or SimulatedClock(T0), faults=Faults(**knobs))  # type: ignore[arg-type]


def test_faults_default_off_and_rates_validated() -> None:
    assert Faults() == Faults(error_rate=0.0)
    with pytest.raises(ValueError, match="error_rate"):
        Faults(error_rate=1.5)


def test_error_statuses(account: Account) -> None:
    sim = faulty(account, error_rate=1.0)
    assert {get(sim).status_code for _ in range(6)} == {500, 502, 503}


def test_spurious_429_with_every_retry_after_style(account: Account) -> None:
    sim = faulty(account, throttle_rate=1.0)
    answers = [get(sim) for _ in range(4)]
    assert {r.status_code for r in answers} == {429}
    retry = [r.headers.get("retry-after") for r in answers]
    assert retry[0] is not None and retry[0].isdigit()
    assert retry[1] is not None and email.utils.parsedate_to_datetime(retry[1]) is not None
    assert retry[2] is None
    assert retry[3] == "soon-ish"


def test_html_error_page_with_200(account: Account) -> None:
    r = get(faulty(account, html_rate=1.0))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "x-completeness" not in r.headers
    with pytest.raises(ParseError):
        parse(r.content)


def test_unknown_drops_one_region(account: Account) -> None:
    whole = parse(get(Simulator(account, clock=SimulatedClock(T0))).content).samples
    r = get(faulty(account, unknown_rate=1.0))
    assert r.headers["x-completeness"] == "unknown"
    part = parse(r.content).samples
    regions = whole["series"].str.extract(r'region="([^"]*)"').drop_nulls().unique()
    left = part["series"].str.extract(r'region="([^"]*)"').drop_nulls().unique()
    assert left.len() == regions.len() - 1
    assert 0 < part.height < whole.height


def test_odd_completeness_header(account: Account) -> None:
    sim = faulty(account, odd_header_rate=1.0)
    assert {get(sim).headers.get("x-completeness") for _ in range(2)} == {None, "partial"}


def test_slow_body_times_out_only_past_the_read_timeout(account: Account) -> None:
    sim = faulty(account, slow_rate=1.0, slow_stall_s=20.0)
    with client(sim) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.get("/v1/metrics", timeout=10.0)
        assert parse(c.get("/v1/metrics", timeout=30.0).content).eof


def test_cut_body_raises_and_loses_eof(account: Account) -> None:
    sim = faulty(account, cut_rate=1.0)
    with client(sim) as c, pytest.raises(httpx.RemoteProtocolError):
        c.get("/v1/metrics")
    raw = sim.handle("GET", "/v1/metrics", KEY)
    assert raw.cut_at is not None and not raw.body[: raw.cut_at].endswith(b"# EOF\n")


def test_malformed_line_fails_parsing(account: Account) -> None:
    with pytest.raises(ParseError):
        parse(get(faulty(account, malformed_rate=1.0)).content)


def test_legal_variations_still_parse(account: Account) -> None:
    plain = parse(get(Simulator(account, clock=SimulatedClock(T0))).content).samples
    r = get(faulty(account, help_first_rate=1.0, space_after_comma_rate=1.0, empty_family_rate=1))
    assert r.text.startswith("# HELP ")
    assert '", region=' in r.text
    parsed = parse(r.content)
    assert NEW_METRIC in parsed.families
    assert parsed.samples.sort("series").equals(plain.sort("series"))


def test_odd_label_values_round_trip(account: Account) -> None:
    samples = parse(get(faulty(account, odd_labels_rate=1.0)).content).samples
    values = samples.select(pl.col("labels").list.eval(pl.element().struct.field("value")))
    flat = set(values.to_series().explode())
    assert set(ODD_VALUES) <= flat


def test_new_metric_is_served_but_not_described(account: Account) -> None:
    sim = faulty(account, new_metric_rate=1.0)
    assert NEW_METRIC in set(parse(get(sim).content).samples["metric"])
    names = {d["name"] for d in get(sim, "/v1/descriptors").json()["descriptors"]}
    assert NEW_METRIC not in names


def test_legacy_names_before_the_rename(account: Account) -> None:
    sim = faulty(account, legacy_names_until_ms=int(T0 * 1000))
    samples = parse(get(sim).content).samples
    metrics = set(samples["metric"])
    assert "temporal_cloud_v1_frontend_service_request_count" in metrics
    assert "temporal_cloud_v1_service_request_count" not in metrics
    exhausted = samples.filter(pl.col("metric").str.contains("resource_exhausted"))
    assert exhausted["series"].str.contains("resource_exhausted_cause=").all()
    sim_after = faulty(account, legacy_names_until_ms=0)
    assert "temporal_cloud_v1_service_request_count" in set(
        parse(get(sim_after).content).samples["metric"]
    )


def served_windows(sim: Simulator, clock: SimulatedClock, minutes: int) -> Iterator[int]:
    for i in range(minutes):
        clock.now = T0 + 60 * i
        yield int(parse(get(sim).content).samples["ts"].dt.epoch("s")[0]) // 60


def test_stall_repeats_a_window_then_skips_ahead(account: Account) -> None:
    clock = SimulatedClock(T0)
    sim = faulty(account, clock, stall_rate=1.0, stall_minutes=3)
    windows = list(served_windows(sim, clock, 12))
    assert any(a == b for a, b in itertools.pairwise(windows))  # repeated
    assert any(b - a > 1 for a, b in itertools.pairwise(windows))  # a gap
    assert windows == sorted(windows)


def test_faults_are_reproducible(account: Account) -> None:
    knobs = {"error_rate": 0.3, "throttle_rate": 0.2, "cut_rate": 0.2}
    runs = []
    for _ in range(2):
        sim = faulty(account, **knobs)
        for _ in range(30):
            sim.handle("GET", "/v1/metrics", KEY)
        runs.append([(r.status, r.fault) for r in sim.requests])
    assert runs[0] == runs[1]
    assert len({status for status, _ in runs[0]}) > 2
