"""The demo's minute at the real cap (issue 17 item 10): a truncated answer split until every
piece is complete, by the collector cron runs, against a simulated account over the cap."""

from __future__ import annotations

from datetime import UTC, datetime

from archiver.simulator.demo_split import REAL_POINT_CAP, split_scrape


def test_a_limited_answer_is_split_until_every_piece_is_complete() -> None:
    split = split_scrape(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    rows = split.requests.rows(named=True)
    assert rows[0] == {
        "request_filter": "namespaces=all metrics=all",
        "completeness": "limited",
        "points": REAL_POINT_CAP,
    }
    pieces = rows[1:]
    assert len(pieces) >= 2
    assert all(p["completeness"] == "complete" and p["points"] < REAL_POINT_CAP for p in pieces)
    # the pieces cover the account once: every sample they carried is stored, none twice
    assert split.outcome == "complete"
    assert split.samples == sum(p["points"] for p in pieces) > REAL_POINT_CAP
