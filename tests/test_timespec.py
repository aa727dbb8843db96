from datetime import UTC, datetime, timedelta, timezone

import pytest

from archiver.errors import ConfigError
from archiver.timespec import parse, window

NOW = datetime(2025, 3, 10, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("90m", NOW - timedelta(minutes=90)),
        ("36h", NOW - timedelta(hours=36)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(weeks=2)),
        ("2025-03-01", datetime(2025, 3, 1, tzinfo=UTC)),
        ("2025-03-01T12:00", datetime(2025, 3, 1, 12, tzinfo=UTC)),
        ("2025-03-01 12:00:00", datetime(2025, 3, 1, 12, tzinfo=UTC)),
        ("2025-03-01T12:00:00Z", datetime(2025, 3, 1, 12, tzinfo=UTC)),
        ("2025-03-01T14:00:00+02:00", datetime(2025, 3, 1, 12, tzinfo=UTC)),
    ],
)
def test_accepted_forms(text: str, expected: datetime) -> None:
    got = parse(text, now=NOW)
    assert got == expected
    assert got.tzinfo == UTC


def test_now_in_another_zone_is_converted() -> None:
    local = NOW.astimezone(timezone(timedelta(hours=5)))
    assert parse("1h", now=local) == NOW - timedelta(hours=1)


@pytest.mark.parametrize("text", ["yesterday", "7x", "", "2025-13-01", "-3d"])
def test_bad_values_name_the_accepted_forms(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--until .* use one of 2025-03-01.*7d"):
        parse(text, now=NOW, option="--until")


def test_window_defaults_and_order() -> None:
    assert window(None, None, now=NOW) == (NOW - timedelta(days=7), NOW)
    with pytest.raises(ConfigError, match="must be before"):
        window("now", "1d", now=NOW)
